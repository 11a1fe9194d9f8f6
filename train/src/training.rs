//! The training loop: the configured optimizer and schedule on cross-entropy, the configured
//! augmentation, early stopping, the weights of the epoch with the best validation loss kept,
//! and a checkpoint after every epoch to resume from. Each epoch draws its shuffling and
//! dropout from its own seed, so a resumed run repeats exactly what the killed one would have
//! done.

use burn::nn::loss::{
    BinaryCrossEntropyLoss, BinaryCrossEntropyLossConfig, CrossEntropyLoss, CrossEntropyLossConfig,
};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use veil_core::efficientnet::EfficientNetLite0;
use veil_core::{Architecture, Cnn, Output, preprocess};

use crate::augment::{AugmentConfig, Transform};
use crate::checkpoint::{Checkpoints, State, data_fingerprint};
use crate::config::{Balance, RunConfig};
use crate::data::Example;
use crate::epoch_log::EpochMetrics;
use crate::inference::{argmax, images_of, probabilities, rows_in_batches};
use crate::schedule::{Improvement, Schedule, optimizer};

pub struct Trained {
    /// The model of the epoch with the lowest validation loss, in inference mode.
    pub model: Cnn,
    pub best: EpochMetrics,
    /// `log.csv`: one row per epoch, resumed epochs included.
    pub log: Vec<EpochMetrics>,
}

pub fn train(
    config: &RunConfig,
    architecture: &Architecture,
    device: &Device,
    train: &[Example],
    validation: &[Example],
    checkpoints: &Checkpoints,
) -> anyhow::Result<Trained> {
    let size = architecture.input_size();
    // A batch of one has no batch statistics for BatchNorm to learn from.
    let batch_size = config.training.batch_size.max(2);
    let epochs = config.training.epochs;
    let patience = config.early_stopping.patience;
    let inference_device = device;
    let device = device.clone().autodiff();
    let classes = architecture.num_classes();
    let epoch_examples = epoch_examples(train, classes, config.training.balance);
    let steps_per_epoch =
        epoch_examples.len() / batch_size + usize::from(epoch_examples.len() % batch_size > 1);
    let mut schedule = Schedule::new(
        &config.schedule,
        config.optimizer.learning_rate,
        steps_per_epoch * epochs,
    )?;
    let config_text = config.to_toml();
    let data = data_fingerprint(train, validation);
    let (mut model, mut optimizer, mut improvement, mut best, mut log, first_epoch, stopped) =
        match checkpoints.resume(
            &config_text,
            &data,
            architecture,
            &device,
            optimizer(&config.optimizer),
        )? {
            Some(resumed) => {
                let state = resumed.state;
                eprintln!(
                    "resuming after epoch {} from {}",
                    state.epoch,
                    checkpoints.dir().display()
                );
                schedule.restore(state.schedule);
                // Which parameters learn is the recipe's, not the checkpoint's.
                let model = resumed.model.freeze_backbone(config.model.train_blocks());
                let best = resumed
                    .best_model
                    .map(|model| model.valid())
                    .zip(state.best);
                (
                    model,
                    resumed.optimizer,
                    state.improvement,
                    best,
                    state.log,
                    state.epoch + 1,
                    state.stopped,
                )
            }
            None => {
                device.seed(config.seed);
                (
                    initial_model(config, architecture, &device)?
                        .freeze_backbone(config.model.train_blocks()),
                    optimizer(&config.optimizer),
                    Improvement::default(),
                    None,
                    Vec::new(),
                    1,
                    false,
                )
            }
        };
    let output = config.output();
    let loss_fn = Objective::new(
        output,
        (config.training.balance == Balance::Weights).then(|| class_weights(train, classes)),
        &device,
    );
    let cache = match model.valid().backbone() {
        Some(backbone) if config.model.train_blocks() == 0 => Some(FeatureCache::compute(
            backbone,
            train,
            validation,
            size,
            batch_size,
            inference_device,
        )?),
        _ => None,
    };
    if cache.is_some() && config.augment != AugmentConfig::default() {
        eprintln!(
            "[augment] is not applied: with a frozen backbone each image's features are computed once (set model.train_blocks to fine-tune with augmentation)"
        );
    }

    for epoch in (first_epoch..=epochs).take_while(|_| !stopped) {
        let epoch_seed = config.seed.wrapping_add(epoch as u64);
        device.seed(epoch_seed);
        let mut rng = StdRng::seed_from_u64(epoch_seed);
        let mut order = epoch_examples.clone();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut learning_rate = 0.0;
        let progress = crate::progress::bar(steps_per_epoch, format!("epoch {epoch}/{epochs}"));
        // A batch of one has no batch statistics for BatchNorm to learn from: drop it.
        for chunk in order.chunks(batch_size).filter(|chunk| chunk.len() > 1) {
            let targets = loss_fn.targets(chunk.iter().map(|&i| &train[i]), classes, &device);
            learning_rate = schedule.step();
            let loss;
            (model, loss) = match &cache {
                Some(cache) => {
                    let features = rows_to_tensor(chunk.iter().map(|&i| &cache.train[i]), &device);
                    step(
                        model,
                        &mut optimizer,
                        &loss_fn,
                        |model| classifier_of(model).classify(features),
                        targets,
                        learning_rate,
                    )
                }
                None => {
                    // Drawn in order from the epoch's generator, warped in parallel: the same
                    // images whatever the thread count, and the GPU is not left waiting on one
                    // CPU core.
                    let transforms: Vec<Transform> = chunk
                        .iter()
                        .map(|_| Transform::sample(&config.augment, &mut rng))
                        .collect();
                    let inputs: Vec<Vec<f32>> = chunk
                        .par_iter()
                        .zip(&transforms)
                        .map(|(&i, transform)| transform.apply(&train[i].input, size))
                        .collect();
                    let images = preprocess::batch(&inputs, size, &device);
                    step(
                        model,
                        &mut optimizer,
                        &loss_fn,
                        |model| model.forward(images),
                        targets,
                        learning_rate,
                    )
                }
            };
            loss_sum += f64::from(loss) * chunk.len() as f64;
            seen += chunk.len();
            progress.inc(1);
            progress.set_message(format!("train loss {:.4}", loss_sum / seen as f64));
        }
        progress.finish_and_clear();

        let candidate = model.valid();
        let rows = match &cache {
            Some(cache) => feature_probabilities(
                &candidate,
                &cache.validation,
                output,
                batch_size,
                inference_device,
            )?,
            None => probabilities(
                &candidate,
                validation,
                size,
                output,
                batch_size,
                inference_device,
            )?,
        };
        let (validation_loss, validation_accuracy) = loss_and_accuracy(&rows, validation, output);
        let metrics = EpochMetrics {
            epoch,
            learning_rate,
            train_loss: (loss_sum / seen.max(1) as f64) as f32,
            validation_loss,
            validation_accuracy,
        };
        log.push(metrics.clone());
        eprintln!(
            "epoch {epoch}/{epochs}: learning rate {learning_rate:.2e}, train loss {:.4}, validation loss {:.4}, validation accuracy {:.1}%",
            metrics.train_loss,
            metrics.validation_loss,
            100.0 * metrics.validation_accuracy
        );
        schedule.end_epoch(metrics.validation_loss);
        if improvement.observe(metrics.validation_loss) {
            best = Some((candidate, metrics));
        }
        let stop = patience > 0 && improvement.epochs_without >= patience;
        checkpoints.save(
            &State {
                config: config_text.clone(),
                data: data.clone(),
                epoch,
                stopped: stop,
                schedule: schedule.state(),
                improvement: improvement.clone(),
                best: best.as_ref().map(|(_, metrics)| metrics.clone()),
                log: log.clone(),
            },
            &model,
            &optimizer,
            best.as_ref().map(|(model, _)| model),
        )?;
        if stop {
            eprintln!(
                "early stop after epoch {epoch}: validation loss has not improved for {patience} epochs"
            );
            break;
        }
    }
    let (model, best) = best.ok_or_else(|| anyhow::anyhow!("epochs must be at least 1"))?;
    Ok(Trained { model, best, log })
}

/// A fresh network: the pretrained weights where the architecture has a backbone, else burn's
/// (seeded) initialisation.
fn initial_model(
    config: &RunConfig,
    architecture: &Architecture,
    device: &Device,
) -> anyhow::Result<Cnn> {
    match (architecture, config.model.backbone()) {
        (Architecture::EfficientNetLite0(net), Some(backbone)) => {
            crate::pretrained::efficientnet_lite0(&backbone.pretrained, net, device)
        }
        _ => Ok(architecture.init(device)),
    }
}

/// A frozen backbone's pooled features of every training and validation image, computed once
/// (seed S3's "bottlenecks"): each epoch then runs only the classifier.
struct FeatureCache {
    train: Vec<Vec<f32>>,
    validation: Vec<Vec<f32>>,
}

impl FeatureCache {
    fn compute(
        backbone: &EfficientNetLite0,
        train: &[Example],
        validation: &[Example],
        size: usize,
        batch_size: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let progress = crate::progress::bar(
            (train.len() + validation.len()).div_ceil(batch_size),
            "backbone features".to_string(),
        );
        let features = |examples: &[Example]| {
            rows_in_batches(examples, batch_size, |chunk| {
                progress.inc(1);
                backbone.features(images_of(chunk, size, device))
            })
        };
        let cache = Self {
            train: features(train)?,
            validation: features(validation)?,
        };
        progress.finish_and_clear();
        Ok(cache)
    }
}

/// The network whose features were cached: only a pretrained backbone has a cache.
fn classifier_of(model: &Cnn) -> &EfficientNetLite0 {
    model
        .backbone()
        .expect("features are cached only for a pretrained backbone")
}

/// Stacks feature rows into a `[rows, width]` tensor.
fn rows_to_tensor<'a>(rows: impl Iterator<Item = &'a Vec<f32>>, device: &Device) -> Tensor<2> {
    let rows: Vec<&Vec<f32>> = rows.collect();
    let width = rows.first().map_or(0, |row| row.len());
    let flat: Vec<f32> = rows.iter().flat_map(|row| row.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), width]), device)
}

/// Class probabilities from cached backbone features, in batches.
fn feature_probabilities(
    model: &Cnn,
    features: &[Vec<f32>],
    output: Output,
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Vec<Vec<f32>>> {
    rows_in_batches(features, batch_size, |chunk| {
        output.probabilities(classifier_of(model).classify(rows_to_tensor(chunk.iter(), device)))
    })
}

/// One optimisation step: `forward` (the logits of the batch), cross-entropy, backward,
/// optimizer update. Returns the updated model and the batch's mean loss; reading the loss back
/// waits for the device, so a step is finished when this returns (what the benchmark times).
pub fn step(
    model: Cnn,
    optimizer: &mut ModuleOptimizer,
    objective: &Objective,
    forward: impl FnOnce(&Cnn) -> Tensor<2>,
    targets: Targets,
    learning_rate: f64,
) -> (Cnn, f32) {
    let loss = objective.loss(forward(&model), targets);
    let value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optimizer.step(learning_rate, model, grads), value)
}

/// The training examples (indices) one epoch goes through, before shuffling.
fn epoch_examples(train: &[Example], classes: usize, balance: Balance) -> Vec<usize> {
    if balance != Balance::Upsample {
        return (0..train.len()).collect();
    }
    let by_class: Vec<Vec<usize>> = (0..classes)
        .map(|class| {
            (0..train.len())
                .filter(|&i| train[i].class() == class)
                .collect()
        })
        .collect();
    let largest = by_class.iter().map(Vec::len).max().unwrap_or(0);
    by_class
        .iter()
        .filter(|members| !members.is_empty())
        .flat_map(|members| members.iter().copied().cycle().take(largest))
        .collect()
}

/// Per-class loss weights `total / (classes × class size)`: 1 for every class when balanced.
fn class_weights(train: &[Example], classes: usize) -> Vec<f32> {
    let counts = crate::data::class_counts(train, classes);
    counts
        .iter()
        .map(|&count| train.len() as f32 / (classes * count.max(1)) as f32)
        .collect()
}

/// Validation loss and accuracy: cross-entropy and the share of images whose most probable
/// label is right, or for multi-label data binary cross-entropy and the share of (image,
/// label) decisions at 0.5 that are right (seed S1's "accuracy", 1 − Hamming loss).
fn loss_and_accuracy(rows: &[Vec<f32>], examples: &[Example], output: Output) -> (f32, f32) {
    let n = rows.len().max(1) as f32;
    match output {
        Output::SingleLabel => {
            let loss: f32 = rows
                .iter()
                .zip(examples)
                .map(|(row, example)| -row[example.class()].max(1e-7).ln())
                .sum();
            let correct = rows
                .iter()
                .zip(examples)
                .filter(|(row, example)| argmax(row) == example.class())
                .count();
            (loss / n, correct as f32 / n)
        }
        Output::MultiLabel => {
            let decisions = rows.iter().map(Vec::len).sum::<usize>().max(1) as f32;
            let loss: f32 = rows
                .iter()
                .zip(examples)
                .flat_map(|(row, example)| {
                    row.iter().enumerate().map(move |(label, &p)| {
                        let p = if example.labels.contains(&label) {
                            p
                        } else {
                            1.0 - p
                        };
                        -p.max(1e-7).ln()
                    })
                })
                .sum();
            (
                loss / decisions,
                1.0 - crate::metrics::hamming_loss(rows, examples) as f32,
            )
        }
    }
}

/// What training minimises: cross-entropy over one label per image, or binary cross-entropy
/// per label when an image may have any number (seed S1).
pub enum Objective {
    SingleLabel(CrossEntropyLoss),
    MultiLabel(BinaryCrossEntropyLoss),
}

/// A batch's labels in the form its [`Objective`] takes.
pub enum Targets {
    Classes(Tensor<1, Int>),
    MultiHot(Tensor<2, Int>),
}

impl Objective {
    /// `weights`: each class's weight in the loss (see `class_weights`).
    pub fn new(output: Output, weights: Option<Vec<f32>>, device: &Device) -> Self {
        match output {
            Output::SingleLabel => Self::SingleLabel(
                CrossEntropyLossConfig::new()
                    .with_weights(weights)
                    .init(device),
            ),
            Output::MultiLabel => Self::MultiLabel(
                BinaryCrossEntropyLossConfig::new()
                    .with_logits(true)
                    .with_weights(weights)
                    .init(device),
            ),
        }
    }

    pub fn targets<'a>(
        &self,
        examples: impl Iterator<Item = &'a Example>,
        classes: usize,
        device: &Device,
    ) -> Targets {
        match self {
            Self::SingleLabel(_) => Targets::Classes(labels(examples.map(Example::class), device)),
            Self::MultiLabel(_) => {
                let hot: Vec<i64> = examples
                    .flat_map(|example| {
                        (0..classes).map(|label| i64::from(example.labels.contains(&label)))
                    })
                    .collect();
                let rows = hot.len() / classes;
                Targets::MultiHot(Tensor::from_data(
                    TensorData::new(hot, [rows, classes]),
                    device,
                ))
            }
        }
    }

    /// The batch's mean loss.
    fn loss(&self, logits: Tensor<2>, targets: Targets) -> Tensor<1> {
        match (self, targets) {
            (Self::SingleLabel(loss), Targets::Classes(targets)) => loss.forward(logits, targets),
            (Self::MultiLabel(loss), Targets::MultiHot(targets)) => loss.forward(logits, targets),
            _ => unreachable!("targets are made by the same objective"),
        }
    }
}

pub fn labels(classes: impl Iterator<Item = usize>, device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = classes.map(|class| class as i64).collect();
    let count = labels.len();
    Tensor::from_data(TensorData::new(labels, [count]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(labels: &[usize]) -> Vec<Example> {
        labels
            .iter()
            .map(|&label| Example {
                path: "x.png".into(),
                input: Vec::new(),
                labels: vec![label],
            })
            .collect()
    }

    #[test]
    fn upsampling_repeats_the_smaller_classes_up_to_the_largest() {
        let train = examples(&[0, 0, 0, 0, 0, 1, 1, 2]);
        let order = epoch_examples(&train, 3, Balance::Upsample);
        let count = |class| order.iter().filter(|&&i| train[i].class() == class).count();
        assert_eq!((count(0), count(1), count(2)), (5, 5, 5));
        // Every image of a small class is used before any is repeated.
        assert!(order.contains(&5) && order.contains(&6) && order.contains(&7));
        assert_eq!(
            epoch_examples(&train, 3, Balance::None),
            (0..8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn class_weights_make_each_class_weigh_the_same_in_total() {
        let train = examples(&[0, 0, 0, 1]);
        let weights = class_weights(&train, 2);
        assert_eq!(weights, vec![4.0 / 6.0, 2.0]);
        // 3 images × 2/3 = 1 × 2.
        assert!((3.0 * weights[0] - weights[1]).abs() < 1e-6);
    }
}
