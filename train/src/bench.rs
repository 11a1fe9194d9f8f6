//! `veil-train bench`: training throughput of a recipe's network on one backend, on random
//! images, so backends and machines (and PyTorch, through `train/bench/throughput.py`, which
//! builds the same layers from the architecture this prints) compare on the network alone,
//! without image decoding.

use std::time::Instant;

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use veil_core::{Architecture, Cnn, LayersConfig, Output, preprocess};

use crate::config::{OptimizerConfig, RunConfig};
use crate::schedule::optimizer;
use crate::training::{Objective, Targets, labels, step};

/// What one benchmark run measured.
#[derive(Debug, Serialize)]
pub struct Throughput {
    pub backend: String,
    pub batch_size: usize,
    pub input_size: usize,
    pub steps: usize,
    pub seconds: f64,
    pub images_per_second: f64,
    /// The layers and optimizer timed, for the PyTorch peer to rebuild (`None` for
    /// EfficientNet, which it does not rebuild).
    pub architecture: Option<LayersConfig>,
    pub optimizer: OptimizerConfig,
}

/// Times `steps` training steps after `warmup` untimed ones (kernel compilation and autotuning
/// happen there on GPUs). Each step uploads its batch from host memory through the same
/// functions training uses.
pub fn measure(
    config: &RunConfig,
    backend: &str,
    device: &Device,
    steps: usize,
    warmup: usize,
) -> anyhow::Result<Throughput> {
    // The seeds' benchmark nets are binary classifiers.
    let architecture = config.model.architecture(2);
    architecture
        .validate()
        .map_err(|problem| anyhow::anyhow!("bad architecture: {problem}"))?;
    let batch_size = config.training.batch_size.max(2);
    let size = architecture.input_size();
    let batches = random_batches(&architecture, batch_size, config.seed);
    let device = device.clone().autodiff();
    device.seed(config.seed);
    let mut model = architecture.init(&device);
    let mut optimizer = optimizer(&config.optimizer);
    let loss_fn = Objective::new(Output::SingleLabel, None, &device);
    let mut run = |model: Cnn, index: usize| {
        let (images, classes) = &batches[index % batches.len()];
        let images = preprocess::batch(images, size, &device);
        step(
            model,
            &mut optimizer,
            &loss_fn,
            |model| model.forward(images),
            Targets::Classes(labels(classes.iter().copied(), &device)),
            config.optimizer.learning_rate,
        )
        .0
    };
    for index in 0..warmup {
        model = run(model, index);
    }
    let started = Instant::now();
    for index in 0..steps {
        model = run(model, index);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Throughput {
        backend: backend.to_string(),
        batch_size,
        input_size: size,
        steps,
        seconds,
        images_per_second: (steps * batch_size) as f64 / seconds,
        architecture: architecture.layers(),
        optimizer: config.optimizer.clone(),
    })
}

/// A few distinct batches of images of uniform noise in [0, 1) with random classes: enough
/// that no backend can cache a result, few enough to stay small in memory at 224 px.
fn random_batches(
    architecture: &Architecture,
    batch_size: usize,
    seed: u64,
) -> Vec<(Vec<Vec<f32>>, Vec<usize>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let side = architecture.input_size();
    let classes = architecture.num_classes();
    (0..4)
        .map(|_| {
            let images = (0..batch_size)
                .map(|_| (0..3 * side * side).map(|_| rng.random::<f32>()).collect())
                .collect();
            let labels = (0..batch_size)
                .map(|_| rng.random_range(0..classes))
                .collect();
            (images, labels)
        })
        .collect()
}
