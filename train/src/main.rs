//! `veil-train`: folders of images in, a filter pack out.

mod data;
mod training;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::prelude::Device;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use veil_core::classify::flagged_probability;
use veil_core::model::ConvStackConfig;
use veil_core::operating_points::Strictness;
use veil_core::pack::{self, TrainingSummary};
use veil_core::{Architecture, Classifier, FilterPack, OperatingPoints, PackMetadata, preprocess};

use crate::training::TrainingConfig;

/// File names inside a run folder.
const PACK_FILE: &str = "filter.veilpack";
const LOG_FILE: &str = "log.csv";
const TEST_PREDICTIONS_FILE: &str = "test-predictions.json";

#[derive(Parser)]
#[command(
    name = "veil-train",
    version,
    about = "Train and run Veil filter packs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a filter on DATA/train/<class>/ and DATA/valid/<class>/ (DATA/test/ is optional)
    /// and write a run folder holding the pack, a CSV log and the test-split predictions.
    Train(TrainArgs),
    /// Judge images with a pack, as the browser would.
    Predict(PredictArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Dataset folder with train/<class>/ and valid/<class>/ sub-folders.
    #[arg(long)]
    data: PathBuf,
    /// Run folder to create.
    #[arg(long)]
    out: PathBuf,
    /// Replace the run folder if it already exists.
    #[arg(long)]
    overwrite: bool,
    /// Class whose images the filter hides (repeat for several).
    #[arg(long = "flag", required = true)]
    flagged: Vec<String>,
    /// Word that turns the filter on in the extension's popup (repeat for several).
    #[arg(long = "keyword")]
    keywords: Vec<String>,
    #[arg(long, default_value = "Veil filter")]
    name: String,
    #[arg(long, default_value = "")]
    description: String,
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// Side of the square input, in pixels.
    #[arg(long, default_value_t = 64)]
    input_size: usize,
    /// Width of the hidden dense layer (seed S0 used 1000 at 224 px).
    #[arg(long, default_value_t = 128)]
    dense: usize,
    #[arg(long, default_value_t = 0.5)]
    dropout: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
}

#[derive(clap::Args)]
struct PredictArgs {
    #[arg(long)]
    pack: PathBuf,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "balanced")]
    strictness: String,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    /// Pure-Rust CPU backend (Flex): runs anywhere, deterministic with a seed.
    Cpu,
    /// The first GPU wgpu finds (Vulkan, Metal, DX12).
    Wgpu,
    /// The first NVIDIA GPU (needs a build with `--features cuda`).
    Cuda,
}

fn device(backend: BackendArg) -> anyhow::Result<Device> {
    match backend {
        BackendArg::Cpu => Ok(Device::flex()),
        BackendArg::Wgpu => wgpu_device(),
        BackendArg::Cuda => cuda_device(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> anyhow::Result<Device> {
    Device::wgpu_options().init().map_err(|error| {
        anyhow::anyhow!(
            "no usable GPU through wgpu ({error}); use --backend cpu to train on the CPU"
        )
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> anyhow::Result<Device> {
    bail!(
        "this veil-train was built without the `wgpu` feature; rebuild with it or use --backend cpu"
    )
}

#[cfg(feature = "cuda")]
fn cuda_device() -> anyhow::Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> anyhow::Result<Device> {
    bail!(
        "this veil-train was built without the `cuda` feature; rebuild with `--features cuda` or use --backend cpu"
    )
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Predict(args) => run_predict(args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// One line of `test-predictions.json`: what the in-memory model said, before export.
#[derive(Serialize)]
struct Prediction {
    file: PathBuf,
    scores: BTreeMap<String, f32>,
}

fn run_train(args: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let classes = data::classes(&args.data)?;
    if let Some(unknown) = args.flagged.iter().find(|label| !classes.contains(label)) {
        bail!(
            "--flag {unknown:?} is not a class of {}; the classes are {classes:?}",
            args.data.display()
        );
    }
    let architecture = Architecture::ConvStack(ConvStackConfig {
        input_size: args.input_size,
        dense: args.dense,
        dropout: args.dropout,
        num_classes: classes.len(),
        ..ConvStackConfig::s0_benchmark(args.input_size, classes.len())
    });
    architecture
        .validate()
        .map_err(|problem| anyhow::anyhow!("bad architecture: {problem}"))?;
    if args.out.exists() && !args.overwrite {
        bail!(
            "{} already exists; choose another --out or pass --overwrite to replace it",
            args.out.display()
        );
    }
    let device = device(args.backend)?;

    let size = args.input_size;
    let train = data::load_split(&args.data, "train", &classes, size)?;
    let validation = data::load_split(&args.data, "valid", &classes, size)?;
    let test = data::load_split(&args.data, "test", &classes, size)?;
    for (name, split) in [("train", &train), ("valid", &validation), ("test", &test)] {
        let counts = data::class_counts(&split.examples, classes.len());
        let per_class: Vec<String> = classes
            .iter()
            .zip(&counts)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        eprintln!(
            "{name}: {} images ({})",
            split.examples.len(),
            per_class.join(", ")
        );
        for (path, reason) in &split.skipped {
            eprintln!("  skipped {}: {reason}", path.display());
        }
    }
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
            args.data.display()
        );
    }

    let config = TrainingConfig {
        architecture: architecture.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size.max(2),
        learning_rate: args.learning_rate,
        seed: args.seed,
    };
    let mut log = Vec::new();
    let trained = training::train(
        &config,
        &device,
        &train.examples,
        &validation.examples,
        &mut log,
    )?;

    let mut metadata = PackMetadata {
        name: args.name,
        description: args.description,
        architecture,
        labels: classes.clone(),
        flagged_labels: args.flagged,
        keywords: args.keywords,
        // Chosen below from the validation scores, once the metadata can say which outputs flag.
        operating_points: OperatingPoints::default(),
        training: TrainingSummary {
            epochs: trained.best.epoch,
            train_images: train.examples.len(),
            validation_images: validation.examples.len(),
            validation_accuracy: trained.best.validation_accuracy,
            validation_loss: trained.best.validation_loss,
        },
        created_by: format!("veil-train {}", env!("CARGO_PKG_VERSION")),
    };
    let flagged_indices = metadata.flagged_indices();
    let scored: Vec<(f32, bool)> = trained
        .validation_rows
        .iter()
        .zip(&validation.examples)
        .map(|(row, example)| {
            (
                flagged_probability(row, &flagged_indices),
                flagged_indices.contains(&example.label),
            )
        })
        .collect();
    metadata.operating_points = OperatingPoints::from_scores(&scored);
    let pack = FilterPack::from_model(metadata, &trained.model)?;
    let test_rows = training::probabilities(
        &trained.model,
        &test.examples,
        size,
        config.batch_size,
        &device,
    )?;
    let predictions: Vec<Prediction> = test
        .examples
        .iter()
        .zip(&test_rows)
        .map(|(example, row)| Prediction {
            file: example
                .path
                .strip_prefix(&args.data)
                .unwrap_or(&example.path)
                .to_path_buf(),
            scores: classes.iter().cloned().zip(row.iter().copied()).collect(),
        })
        .collect();

    // Everything is computed: only now touch the run folder, so a failed run loses nothing.
    if args.out.exists() {
        fs::remove_dir_all(&args.out)
            .with_context(|| format!("cannot replace {}", args.out.display()))?;
    }
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let pack_path = args.out.join(PACK_FILE);
    write_file(&pack_path, &pack.to_bytes())?;
    write_file(&args.out.join(LOG_FILE), &log)?;
    write_file(
        &args.out.join(TEST_PREDICTIONS_FILE),
        &serde_json::to_vec_pretty(&predictions)?,
    )?;

    let summary = &pack.metadata.training;
    let points = &pack.metadata.operating_points;
    eprintln!(
        "best epoch {} of {}: validation accuracy {:.1}%, loss {:.4}",
        summary.epochs,
        args.epochs,
        100.0 * summary.validation_accuracy,
        summary.validation_loss
    );
    if !test.examples.is_empty() {
        let correct = test_rows
            .iter()
            .zip(&test.examples)
            .filter(|(row, example)| training::argmax(row) == example.label)
            .count();
        eprintln!(
            "test accuracy {:.1}% ({correct}/{} held-out images)",
            100.0 * correct as f32 / test.examples.len() as f32,
            test.examples.len()
        );
    }
    eprintln!(
        "operating points (flagged probability): strict {:.3}, balanced {:.3}, relaxed {:.3}",
        points.strict, points.balanced, points.relaxed
    );
    eprintln!(
        "wrote {} ({} bytes) in {:.1}s",
        pack_path.display(),
        fs::metadata(&pack_path)?.len(),
        started.elapsed().as_secs_f32()
    );
    Ok(())
}

fn run_predict(args: PredictArgs) -> anyhow::Result<()> {
    let strictness: Strictness = args
        .strictness
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let pack = read_pack(&args.pack)?;
    let classifier = Classifier::new(&pack, &device(args.backend)?)?;
    let labels = &pack.metadata.labels;
    for path in &args.images {
        let image = fs::read(path)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(preprocess::decode(&bytes)?))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let verdict =
            pollster::block_on(classifier.classify(std::slice::from_ref(&image), strictness))?
                .pop()
                .expect("one verdict per image");
        if args.json {
            let line = serde_json::json!({ "file": path, "verdict": verdict });
            println!("{line}");
        } else {
            let scores: Vec<String> = labels
                .iter()
                .map(|l| format!("{l} {:.4}", verdict.scores[l]))
                .collect();
            println!(
                "{}: {}{} ({})",
                path.display(),
                verdict.label,
                if verdict.flagged { ", flagged" } else { "" },
                scores.join(", ")
            );
        }
    }
    Ok(())
}

fn read_pack(path: &Path) -> anyhow::Result<FilterPack> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    FilterPack::from_bytes(&bytes).with_context(|| {
        format!(
            "{} is not a usable .{} file",
            path.display(),
            pack::EXTENSION
        )
    })
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).with_context(|| format!("cannot write {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
