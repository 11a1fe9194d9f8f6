//! `veil-train train` as a library function: a recipe and a dataset in, a run folder out (the
//! calibrated pack, `log.csv`, the recipe as run, the test-split predictions and `report.html`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::prelude::Device;
use serde::Serialize;
use veil_core::pack::TrainingSummary;
use veil_core::{FilterPack, OperatingPoints, Output, PackMetadata};

use crate::calibrate::{self, Calibrated, HeldOut};
use crate::checkpoint::Checkpoints;
use crate::config::{RunConfig, SplitBy};
use crate::data::{self, Example, Split};
use crate::files::write_file;
use crate::inference::argmax;
use crate::{epoch_log, metrics, report, run_folder, training};

/// File names inside a run folder.
pub const PACK_FILE: &str = "filter.veilpack";
pub const LOG_FILE: &str = "log.csv";
pub const TEST_PREDICTIONS_FILE: &str = "test-predictions.json";
pub const CONFIG_FILE: &str = "config.toml";

/// One line of `test-predictions.json`: what the pack's weights as stored (f16 rounds them) said
/// in the trainer; its thresholds and quality were measured on these scores.
#[derive(Serialize)]
struct Prediction {
    file: PathBuf,
    scores: BTreeMap<String, f32>,
}

/// What a finished run wrote, for the command to print.
pub struct Finished {
    pub pack: FilterPack,
    pub pack_path: PathBuf,
    pub pack_bytes: usize,
    pub report_path: PathBuf,
    /// Epochs the run went through (early stopping may end it before the recipe's last).
    pub epochs_run: usize,
    /// One line on the test split beyond the pack's quality (accuracy, or S1's multi-label
    /// measures); none without a test split.
    pub test_summary: Option<String>,
}

/// Trains `config` on its dataset and writes the run folder `out`, replacing an existing one only
/// once the new one is complete. `restart` drops an interrupted run's checkpoint instead of
/// resuming from it.
pub fn train_pack(
    config: &RunConfig,
    out: &Path,
    restart: bool,
    device: &Device,
) -> anyhow::Result<Finished> {
    let data_dir = config
        .data
        .clone()
        .expect("validated: a run config names its data");
    let dataset = data::load(
        &data_dir,
        &config.dataset,
        config.seed,
        config.model.input_size(),
    )?;
    if let Some(unknown) = config
        .flag
        .iter()
        .find(|label| !dataset.classes.contains(label))
    {
        bail!(
            "--flag {unknown:?} is not a class of {}; the classes are {:?}",
            data_dir.display(),
            dataset.classes
        );
    }
    let architecture = config.model.architecture(dataset.classes.len());
    architecture
        .validate()
        .map_err(|problem| anyhow::anyhow!("bad architecture: {problem}"))?;
    describe_dataset(config, &data_dir, &dataset);
    let classes = dataset.classes;
    let [train, validation, test] = dataset.splits;
    let train_counts = data::class_counts(&train.examples, classes.len());
    if let Some(empty) = classes.iter().zip(&train_counts).find(|(_, n)| **n == 0) {
        bail!(
            "train/{} has no readable images; every class needs training examples",
            empty.0
        );
    }
    if validation.examples.is_empty() {
        bail!(
            "{}/valid/ has no readable images; add a valid/<class>/ folder per class",
            data_dir.display()
        );
    }

    let checkpoints = Checkpoints::for_run(out);
    if restart {
        checkpoints.clear()?;
    }
    let trained = training::train(
        config,
        &architecture,
        device,
        &train.examples,
        &validation.examples,
        &checkpoints,
    )?;
    let metadata = PackMetadata {
        name: config.name.clone(),
        description: config.description.clone(),
        architecture,
        labels: classes.clone(),
        output: config.output(),
        flagged_labels: config.flag.clone(),
        keywords: config.keywords.clone(),
        // Set by the calibration below.
        operating_points: OperatingPoints::default(),
        quality: None,
        training: TrainingSummary {
            epochs: trained.best.epoch,
            train_images: train.examples.len(),
            validation_images: validation.examples.len(),
            validation_accuracy: Some(trained.best.validation_accuracy),
            validation_loss: Some(trained.best.validation_loss),
        },
        created_by: format!("veil-train {}", env!("CARGO_PKG_VERSION")),
    };
    let flagged = metadata.flagged_indices();
    let Calibrated {
        pack,
        judging,
        test_rows,
        test_scored,
    } = calibrate::calibrate(
        FilterPack::from_model(metadata, &trained.model, config.precision)?,
        &HeldOut {
            validation: &validation.examples,
            test: &test.examples,
            data_dir: &data_dir,
            targets: &flagged,
        },
        config.training.batch_size,
        device,
    )?;
    let predictions: Vec<Prediction> = test
        .examples
        .iter()
        .zip(&test_rows)
        .map(|(example, row)| Prediction {
            file: example
                .path
                .strip_prefix(&data_dir)
                .unwrap_or(&example.path)
                .to_path_buf(),
            scores: classes.iter().cloned().zip(row.iter().copied()).collect(),
        })
        .collect();
    let skipped: Vec<(PathBuf, String)> = [&train, &validation, &test]
        .into_iter()
        .flat_map(|split| split.skipped.iter().cloned())
        .collect();
    let filters = trained.model.first_layer_filters();
    let filter_shape = filters.dims();
    let filter_values: Vec<f32> = filters
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|error| anyhow::anyhow!("cannot read the first-layer filters: {error:?}"))?;
    let activation_maps = report::activation_maps(
        &judging,
        &test.examples,
        &test_scored,
        flagged[0],
        config.model.input_size(),
        device,
    )?;
    let test_provenance = data::provenance(&data_dir, &test.examples);
    let pack_bytes = pack.to_bytes();
    run_folder::replace_with(out, |dir| {
        write_file(&dir.join(PACK_FILE), &pack_bytes)?;
        write_file(&dir.join(LOG_FILE), &epoch_log::to_csv(&trained.log)?)?;
        write_file(&dir.join(CONFIG_FILE), config.to_toml().as_bytes())?;
        write_file(
            &dir.join(TEST_PREDICTIONS_FILE),
            &serde_json::to_vec_pretty(&predictions)?,
        )?;
        report::write(
            dir,
            &report::RunReport {
                metadata: &pack.metadata,
                first_layer: (&filter_values, filter_shape),
                epochs: &trained.log,
                test_rows: &test_rows,
                test_examples: &test.examples,
                test_scored: &test_scored,
                test_provenance: test_provenance.as_deref(),
                skipped: &skipped,
                activation_maps: &activation_maps,
            },
        )
    })?;
    // The run is complete: its checkpoints have nothing left to resume.
    checkpoints.clear()?;
    Ok(Finished {
        test_summary: test_summary(&test, &test_rows, pack.metadata.output),
        pack,
        pack_path: out.join(PACK_FILE),
        pack_bytes: pack_bytes.len(),
        report_path: out.join(report::REPORT_FILE),
        epochs_run: trained.log.len(),
    })
}

/// What the dataset holds, split by split, as the run starts.
fn describe_dataset(config: &RunConfig, data_dir: &Path, dataset: &data::Dataset) {
    if config.dataset.split_by == SplitBy::Source {
        eprintln!(
            "split by source ({}): validation and test hold only sources training never sees",
            data_dir.join(data::MANIFEST).display()
        );
    } else if let Some(labels) = &config.dataset.labels {
        eprintln!(
            "multi-label: {} lists the images; split them {:?} (train, valid, test) by seed {}",
            data_dir.join(labels).display(),
            config.dataset.split,
            config.seed
        );
    } else if dataset.split_here {
        eprintln!(
            "{} has no train/ folder: split each class {:?} (train, valid, test) by seed {}",
            data_dir.display(),
            config.dataset.split,
            config.seed
        );
    }
    if !dataset.duplicates.is_empty() {
        eprintln!(
            "dropped {} near-duplicate image(s) (perceptual hash within {} bits):",
            dataset.duplicates.len(),
            config.dataset.dedup_distance.unwrap_or_default()
        );
        for (dropped, kept) in &dataset.duplicates {
            eprintln!("  {} (like {})", dropped.display(), kept.display());
        }
    }
    for (name, split) in data::SPLITS.into_iter().zip(&dataset.splits) {
        let counts = data::class_counts(&split.examples, dataset.classes.len());
        let per_class: Vec<String> = dataset
            .classes
            .iter()
            .zip(&counts)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        eprintln!(
            "{name}: {} images ({})",
            split.examples.len(),
            per_class.join(", ")
        );
        if config.dataset.split_by == SplitBy::Source && name != "train" {
            let sources: std::collections::BTreeSet<String> =
                data::provenance(data_dir, &split.examples)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|row| row.source)
                    .collect();
            eprintln!(
                "  sources: {}",
                sources.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        for (path, reason) in &split.skipped {
            eprintln!("  skipped {}: {reason}", path.display());
        }
    }
}

/// Accuracy on the test split, or S1's multi-label measures.
fn test_summary(test: &Split, rows: &[Vec<f32>], output: Output) -> Option<String> {
    let examples: &[Example] = &test.examples;
    if examples.is_empty() {
        return None;
    }
    Some(match output {
        Output::MultiLabel => {
            let (precision, recall) = metrics::sample_precision_recall(rows, examples);
            format!(
                "test split ({} images): Hamming loss {:.4}, top-class hit rate {:.1}%, sample-averaged precision {:.1}%, recall {:.1}%",
                examples.len(),
                metrics::hamming_loss(rows, examples),
                100.0 * metrics::top_class_hit_rate(rows, examples),
                100.0 * precision,
                100.0 * recall
            )
        }
        Output::SingleLabel => {
            let correct = rows
                .iter()
                .zip(examples)
                .filter(|(row, example)| argmax(row) == example.class())
                .count();
            format!(
                "test accuracy {:.1}% ({correct}/{} held-out images)",
                100.0 * correct as f32 / examples.len() as f32,
                examples.len()
            )
        }
    })
}
