//! `veil-train`: folders of images in, a filter pack out.

mod augment;
mod bench;
mod checkpoint;
mod concept;
mod config;
mod data;
mod metrics;
mod pretrained;
mod progress;
mod report;
mod schedule;
mod suggest;
mod training;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::prelude::Device;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use veil_core::operating_points::Strictness;
use veil_core::pack::{self, TrainingSummary};
use veil_core::quality::{Quality, REPORTED_FPR};
use veil_core::{Classifier, FilterPack, OperatingPoints, Output, PackMetadata, preprocess};

use crate::checkpoint::Checkpoints;
use crate::config::RunConfig;

/// File names inside a run folder.
const PACK_FILE: &str = "filter.veilpack";
const LOG_FILE: &str = "log.csv";
const TEST_PREDICTIONS_FILE: &str = "test-predictions.json";
const CONFIG_FILE: &str = "config.toml";

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
// Parsed once per process: the size of the training flags does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Train a filter on DATA/train/<class>/ and DATA/valid/<class>/ (DATA/test/ is optional)
    /// and write a run folder holding the pack, a CSV log and the test-split predictions.
    Train(TrainArgs),
    /// Judge images with a pack, as the browser would.
    Predict(PredictArgs),
    /// Measure a pack on a labelled folder (DATA/<split>/<class>/, class names as in the pack):
    /// ROC AUC, recall at 5% false positives, and what each operating point does.
    Eval(EvalArgs),
    /// Write a pack's weights as safetensors (tensor names as in `veil_core::Cnn`, the pack's
    /// metadata as JSON under the `veil.metadata` key) for other tools.
    Export(ExportArgs),
    /// Time training steps of a recipe's network on random images and print images per second
    /// (compare backends, machines, or PyTorch with train/bench/throughput.py).
    Bench(BenchArgs),
    /// Build a pack from ImageNet classes instead of training (zero-shot: "throne, castle,
    /// chain mail"); labelled images choose its thresholds and measure it.
    Concept(concept::ConceptArgs),
    /// Suggest ImageNet classes for a keyword, for `concept` (nearest in meaning, by the MiniLM
    /// sentence model that `cargo xtask setup` fetches).
    Suggest(suggest::SuggestArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// TOML recipe holding every knob (see recipes/); flags given here override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Dataset folder with train/<class>/ and valid/<class>/ sub-folders.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run folder to create.
    #[arg(long)]
    out: PathBuf,
    /// Replace the run folder if it already exists.
    #[arg(long)]
    overwrite: bool,
    /// Start from epoch 1 even if an interrupted run of this config left a checkpoint
    /// (OUT.checkpoint/); without it, training resumes from there.
    #[arg(long)]
    restart: bool,
    /// Class whose images the filter hides (repeat for several).
    #[arg(long = "flag")]
    flagged: Vec<String>,
    /// Word that turns the filter on in the extension's popup (repeat for several).
    #[arg(long = "keyword")]
    keywords: Vec<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Side of the square input, in pixels.
    #[arg(long)]
    input_size: Option<usize>,
    /// Width of the hidden dense layer (seed S0 used 1000 at 224 px).
    #[arg(long)]
    dense: Option<usize>,
    #[arg(long)]
    dropout: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
}

impl TrainArgs {
    /// The recipe (or the defaults), with every flag given on the command line on top.
    fn run_config(&self) -> anyhow::Result<RunConfig> {
        let mut config = match &self.config {
            Some(path) => RunConfig::from_file(path)?,
            None => RunConfig::default(),
        };
        if let Some(data) = &self.data {
            config.data = Some(data.clone());
        }
        if !self.flagged.is_empty() {
            config.flag = self.flagged.clone();
        }
        if !self.keywords.is_empty() {
            config.keywords = self.keywords.clone();
        }
        let overrides = [
            (self.name.clone(), &mut config.name),
            (self.description.clone(), &mut config.description),
        ];
        for (flag, field) in overrides {
            if let Some(value) = flag {
                *field = value;
            }
        }
        config.training.epochs = self.epochs.unwrap_or(config.training.epochs);
        config.training.batch_size = self.batch_size.unwrap_or(config.training.batch_size);
        config.optimizer.learning_rate =
            self.learning_rate.unwrap_or(config.optimizer.learning_rate);
        config.model.input_size = self.input_size.unwrap_or(config.model.input_size);
        config.model.dense = self.dense.unwrap_or(config.model.dense);
        config.model.dropout = self.dropout.unwrap_or(config.model.dropout);
        config.seed = self.seed.unwrap_or(config.seed);
        config.validate()?;
        Ok(config)
    }
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
    /// Show only the K most probable labels per image (all of them by default), most probable
    /// first.
    #[arg(long, value_name = "K")]
    top: Option<usize>,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct EvalArgs {
    #[arg(long)]
    pack: PathBuf,
    /// Dataset folder holding <split>/<class>/ sub-folders.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "test")]
    split: String,
    /// DATA's class that should be flagged, when DATA's classes are not the pack's labels (a
    /// concept pack's ImageNet classes); repeat for several.
    #[arg(long = "flag")]
    flagged: Vec<String>,
    /// Print the measurements as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
}

#[derive(clap::Args)]
struct ExportArgs {
    #[arg(long)]
    pack: PathBuf,
    /// The .safetensors file to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace OUT if it already exists.
    #[arg(long)]
    overwrite: bool,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Recipe whose network, batch size and optimizer are timed (the defaults without one).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Timed training steps.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Untimed steps first, for kernel compilation and autotuning.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Print the measurement (and the layers timed) as JSON.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
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
    let device = Device::wgpu_options().init().map_err(|error| {
        anyhow::anyhow!(
            "no usable GPU through wgpu ({error}); use --backend cpu to train on the CPU"
        )
    })?;
    runs_kernels(&device).map_err(|reason| {
        anyhow::anyhow!(
            "the GPU wgpu found cannot run Veil's kernels ({reason}); use --backend cpu to train on the CPU"
        )
    })?;
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> anyhow::Result<Device> {
    bail!(
        "this veil-train was built without the `wgpu` feature; rebuild with it or use --backend cpu"
    )
}

#[cfg(feature = "cuda")]
fn cuda_device() -> anyhow::Result<Device> {
    let device = Device::cuda(0);
    runs_kernels(&device).map_err(|reason| {
        anyhow::anyhow!(
            "no usable NVIDIA GPU through CUDA ({reason}); use --backend wgpu or --backend cpu"
        )
    })?;
    Ok(device)
}

/// Runs one tiny operation on `device`. GPU runtimes report a missing driver or an unusable
/// card by panicking at the first operation: this turns that panic into its message, so the
/// user gets a sentence instead of a backtrace.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn runs_kernels(device: &Device) -> Result<(), String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        burn::tensor::Tensor::<1>::ones([1], device).into_scalar::<f32>()
    });
    std::panic::set_hook(hook);
    probe.map(drop).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .unwrap_or_else(|| "the GPU runtime failed to start".into())
    })
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
        Command::Eval(args) => run_eval(args),
        Command::Export(args) => run_export(args),
        Command::Bench(args) => run_bench(args),
        Command::Concept(args) => concept::run(args),
        Command::Suggest(args) => suggest::run(args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => RunConfig::from_file(path)?,
        None => RunConfig::default(),
    };
    if let Some(batch_size) = args.batch_size {
        config.training.batch_size = batch_size;
    }
    let backend = args
        .backend
        .to_possible_value()
        .expect("no variant is skipped")
        .get_name()
        .to_string();
    let measured = bench::measure(
        &config,
        &backend,
        &device(args.backend)?,
        args.steps.max(1),
        args.warmup,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&measured)?);
    } else {
        println!(
            "{backend}: {:.1} images/s ({} steps of {} images at {} px in {:.2} s)",
            measured.images_per_second,
            measured.steps,
            measured.batch_size,
            measured.input_size,
            measured.seconds
        );
    }
    Ok(())
}

/// Each example's flagged probability (the sum over the pack's `flagged` outputs) and whether
/// it should be flagged (its label is one of `targets`: the same indices for a trained pack,
/// the data's own classes for a concept pack).
fn scored(
    rows: &[Vec<f32>],
    examples: &[data::Example],
    output: Output,
    flagged: &[usize],
    targets: &[usize],
) -> Vec<(f32, bool)> {
    rows.iter()
        .zip(examples)
        .map(|(row, example)| {
            (
                output.flagged_probability(row, flagged),
                example.labels.iter().any(|label| targets.contains(label)),
            )
        })
        .collect()
}

/// One line of `test-predictions.json`: what the pack's weights as stored (f16 rounds them) said
/// in the trainer; its thresholds and quality were measured on these scores.
#[derive(Serialize)]
struct Prediction {
    file: PathBuf,
    scores: BTreeMap<String, f32>,
}

fn run_train(args: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = args.run_config()?;
    let data_dir = config
        .data
        .clone()
        .expect("validated: a run config names its data");
    refuse_to_replace(&args.out, args.overwrite)?;
    let device = device(args.backend)?;
    let dataset = data::load(
        &data_dir,
        &config.dataset,
        config.seed,
        config.model.input_size,
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

    let size = config.model.input_size;
    if let Some(labels) = &config.dataset.labels {
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
    let classes = dataset.classes;
    let [train, validation, test] = dataset.splits;
    for (name, split) in data::SPLITS.into_iter().zip([&train, &validation, &test]) {
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
            data_dir.display()
        );
    }

    let checkpoints = Checkpoints::for_run(&args.out);
    if args.restart {
        checkpoints.clear()?;
    }
    let trained = training::train(
        &config,
        &architecture,
        &device,
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
        // Chosen below from the validation scores, once the metadata can say which outputs flag;
        // the quality likewise, from the test split.
        operating_points: OperatingPoints::default(),
        quality: None,
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
    let output = metadata.output;
    let mut pack = FilterPack::from_model(metadata, &trained.model, config.precision)?;
    // Thresholds and quality from the weights as shipped (f16 rounds them): what the browser
    // will compute, not what the trainer held in memory.
    let shipped = pack.judging_model(&device)?;
    let rows_of = |examples: &[data::Example]| {
        training::probabilities(
            &shipped,
            examples,
            size,
            output,
            config.training.batch_size,
            &device,
        )
    };
    pack.metadata.operating_points = OperatingPoints::from_scores(&scored(
        &rows_of(&validation.examples)?,
        &validation.examples,
        output,
        &flagged_indices,
        &flagged_indices,
    ));
    let test_rows = rows_of(&test.examples)?;
    let test_scored = scored(
        &test_rows,
        &test.examples,
        output,
        &flagged_indices,
        &flagged_indices,
    );
    pack.metadata.quality = measure_quality(
        "test",
        &test_scored,
        &pack.metadata.operating_points,
        &data_dir,
        &test.examples,
    );
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

    // Everything is computed: only now touch the run folder, so a failed run loses nothing.
    if args.out.exists() {
        fs::remove_dir_all(&args.out)
            .with_context(|| format!("cannot replace {}", args.out.display()))?;
    }
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let pack_path = args.out.join(PACK_FILE);
    write_file(&pack_path, &pack.to_bytes())?;
    write_file(&args.out.join(LOG_FILE), trained.log.as_bytes())?;
    write_file(&args.out.join(CONFIG_FILE), config.to_toml().as_bytes())?;
    write_file(
        &args.out.join(TEST_PREDICTIONS_FILE),
        &serde_json::to_vec_pretty(&predictions)?,
    )?;
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
    let report_path = report::write(
        &args.out,
        &report::RunReport {
            metadata: &pack.metadata,
            first_layer: (&filter_values, filter_shape),
            epochs: &report::parse_log(&trained.log)?,
            test_rows: &test_rows,
            test_examples: &test.examples,
            test_scored: &test_scored,
            skipped: &skipped,
            activation_maps: &report::activation_maps(
                &shipped,
                &test.examples,
                &test_scored,
                flagged_indices[0],
                size,
                &device,
            )?,
        },
    )?;
    // The run is complete: its checkpoints have nothing left to resume.
    checkpoints.clear()?;

    let summary = &pack.metadata.training;
    eprintln!(
        "best epoch {} of {}: validation accuracy {:.1}%, loss {:.4}",
        summary.epochs,
        config.training.epochs,
        100.0 * summary.validation_accuracy,
        summary.validation_loss
    );
    if !test.examples.is_empty() && output == Output::MultiLabel {
        let (precision, recall) = metrics::sample_precision_recall(&test_rows, &test.examples);
        eprintln!(
            "test split ({} images): Hamming loss {:.4}, top-class hit rate {:.1}%, sample-averaged precision {:.1}%, recall {:.1}%",
            test.examples.len(),
            metrics::hamming_loss(&test_rows, &test.examples),
            100.0 * metrics::top_class_hit_rate(&test_rows, &test.examples),
            100.0 * precision,
            100.0 * recall
        );
    } else if !test.examples.is_empty() {
        let correct = test_rows
            .iter()
            .zip(&test.examples)
            .filter(|(row, example)| training::argmax(row) == example.class())
            .count();
        eprintln!(
            "test accuracy {:.1}% ({correct}/{} held-out images)",
            100.0 * correct as f32 / test.examples.len() as f32,
            test.examples.len()
        );
    }
    eprint!("{}", describe_thresholds(&pack.metadata));
    eprintln!(
        "wrote {} ({} bytes) in {:.1}s; open {} to read how good it is",
        pack_path.display(),
        fs::metadata(&pack_path)?.len(),
        started.elapsed().as_secs_f32(),
        report_path.display()
    );
    Ok(())
}

fn run_eval(args: EvalArgs) -> anyhow::Result<()> {
    let pack = read_pack(&args.pack)?;
    let metadata = &pack.metadata;
    let device = device(args.backend)?;
    let size = metadata.architecture.input_size();
    let flagged = metadata.flagged_indices();
    // DATA's classes are the pack's labels, unless --flag says which of its own to catch.
    let (classes, targets) = if args.flagged.is_empty() {
        (metadata.labels.clone(), flagged.clone())
    } else {
        let classes = data::classes(args.data.join(&args.split))?;
        let targets = args
            .flagged
            .iter()
            .map(|class| {
                classes.iter().position(|c| c == class).with_context(|| {
                    format!(
                        "--flag {class:?} is not a class of {}; its classes are {classes:?}",
                        args.data.join(&args.split).display()
                    )
                })
            })
            .collect::<anyhow::Result<Vec<usize>>>()?;
        (classes, targets)
    };
    let split = data::load_split(&args.data, &args.split, &classes, size)?;
    for (path, reason) in &split.skipped {
        eprintln!("skipped {}: {reason}", path.display());
    }
    let output = metadata.output;
    let rows = training::probabilities(
        &pack.judging_model(&device)?,
        &split.examples,
        size,
        output,
        16,
        &device,
    )?;
    let scored = scored(&rows, &split.examples, output, &flagged, &targets);
    let Some(quality) = measure_quality(
        &args.split,
        &scored,
        &metadata.operating_points,
        &args.data,
        &split.examples,
    ) else {
        bail!(
            "{} needs images of both kinds under {}/<class>/ (flagged: {:?}; classes: {:?})",
            args.data.join(&args.split).display(),
            args.split,
            metadata.flagged_labels,
            metadata.labels
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&quality)?);
    } else {
        print!("{}", describe_quality(&quality));
    }
    Ok(())
}

fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    refuse_to_replace(&args.out, args.overwrite)?;
    let pack = read_pack(&args.pack)?;
    let model = pack.model(&Device::flex())?;
    let mut store = SafetensorsStore::from_file(&args.out)
        .metadata("veil.metadata", serde_json::to_string(&pack.metadata)?)
        // Names as the network's layers (`blocks.0.conv.weight`), without `Cnn`'s variant.
        .skip_enum_variants(true)
        .overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// A pack's quality on `examples` (scored in that order), broken down by source where
/// `data_dir` has a manifest.
fn measure_quality(
    split: &str,
    scored: &[(f32, bool)],
    points: &OperatingPoints,
    data_dir: &Path,
    examples: &[data::Example],
) -> Option<Quality> {
    let quality = Quality::measure(split, scored, points)?;
    Some(match data::sources(data_dir, examples) {
        Some(sources) => quality.with_sources(scored, &sources),
        None => quality,
    })
}

/// A new pack's operating points and its measured quality, as `train` and `concept` print them.
fn describe_thresholds(metadata: &PackMetadata) -> String {
    let points = &metadata.operating_points;
    let mut text = format!(
        "operating points (flagged probability): strict {:.3}, balanced {:.3}, relaxed {:.3}\n",
        points.strict, points.balanced, points.relaxed
    );
    if let Some(quality) = &metadata.quality {
        text.push_str(&describe_quality(quality));
    }
    text
}

/// The quality summary that `train` and `eval` print.
fn describe_quality(quality: &Quality) -> String {
    let percent = |x: f64| 100.0 * x;
    let mut text = format!(
        "{} split: {} images, {} to flag; ROC AUC {:.3}; recall {:.1}% at a false-positive rate of at most {:.0}%\n",
        quality.split,
        quality.images,
        quality.flagged_images,
        quality.auc,
        percent(quality.recall_at_reported_fpr),
        percent(REPORTED_FPR)
    );
    for (name, point) in [
        ("strict", &quality.strict),
        ("balanced", &quality.balanced),
        ("relaxed", &quality.relaxed),
    ] {
        text.push_str(&format!(
            "  {name:<8} (threshold {:.3}): recall {:.1}%, false positives {:.1}%, precision {:.1}%\n",
            point.threshold,
            percent(point.recall),
            percent(point.false_positive_rate),
            percent(point.precision)
        ));
    }
    if !quality.sources.is_empty() {
        text.push_str("  by source, at the balanced point:\n");
    }
    for source in &quality.sources {
        text.push_str(&format!("    {}\n", source.summary()));
    }
    text
}

fn run_predict(args: PredictArgs) -> anyhow::Result<()> {
    let strictness: Strictness = args
        .strictness
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let pack = read_pack(&args.pack)?;
    let classifier = Classifier::new(&pack, &device(args.backend)?)?;
    let threshold = pack.metadata.operating_points.threshold(strictness);
    let mut failed = 0;
    for path in &args.images {
        // One unreadable image is reported and skipped; the others are still judged.
        let image = match fs::read(path)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(preprocess::decode(&bytes)?))
        {
            Ok(image) => image,
            Err(error) => {
                eprintln!("{}: cannot read it: {error:#}", path.display());
                failed += 1;
                continue;
            }
        };
        let verdict =
            pollster::block_on(classifier.classify(std::slice::from_ref(&image), strictness))?
                .pop()
                .expect("one verdict per image");
        if args.json {
            let line =
                serde_json::json!({ "file": path, "verdict": verdict, "threshold": threshold });
            println!("{line}");
        } else {
            let mut ranked: Vec<(&String, &f32)> = verdict.scores.iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(a.1));
            let scores: Vec<String> = ranked
                .iter()
                .take(args.top.unwrap_or(usize::MAX))
                .map(|(label, score)| format!("{label} {score:.4}"))
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
    if failed > 0 {
        bail!("{failed} of {} images could not be read", args.images.len());
    }
    Ok(())
}

/// A previous run or export is only replaced when the user asked for it.
fn refuse_to_replace(out: &Path, overwrite: bool) -> anyhow::Result<()> {
    if out.exists() && !overwrite {
        bail!(
            "{} already exists; choose another --out or pass --overwrite to replace it",
            out.display()
        );
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
