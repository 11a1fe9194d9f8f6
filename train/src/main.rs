//! `veil-train`: folders of images in, a filter pack out. This binary only parses the command
//! line and dispatches; each subcommand is a small module of `cmd/` over the `veil_train`
//! library.

mod cmd;

use clap::{Parser, Subcommand};

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
    Train(cmd::train::TrainArgs),
    /// Judge images with a pack, as the browser would.
    Predict(cmd::predict::PredictArgs),
    /// Measure a pack on a labelled folder (DATA/<split>/<class>/, class names as in the pack):
    /// ROC AUC, recall at 5% false positives, and what each operating point does.
    Eval(cmd::eval::EvalArgs),
    /// Write a pack's weights as safetensors (tensor names as in `veil_core::Cnn`, the pack's
    /// metadata as JSON under the `veil.metadata` key) for other tools.
    Export(cmd::export::ExportArgs),
    /// Time training steps of a recipe's network on random images and print images per second
    /// (compare backends, machines, or PyTorch with train/bench/throughput.py).
    Bench(cmd::bench::BenchArgs),
    /// Build a pack from ImageNet classes instead of training (zero-shot: "throne, castle,
    /// chain mail"); labelled images choose its thresholds and measure it.
    Concept(cmd::concept::ConceptArgs),
    /// Measure what the user's labels do with a pack on a dataset with a manifest: how similar
    /// a picture stays cropped, halved, re-encoded or mirrored against two different pictures,
    /// and how much of one source's pictures a few "hide images like this" labels catch.
    LabelBench(cmd::label_bench::LabelBenchArgs),
    /// Suggest ImageNet classes for a keyword, for `concept` (nearest in meaning, by the MiniLM
    /// sentence model that `cargo xtask setup` fetches).
    Suggest(cmd::suggest::SuggestArgs),
}

fn main() {
    let result = match Cli::parse().command {
        Command::Train(args) => cmd::train::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Concept(args) => cmd::concept::run(args),
        Command::Suggest(args) => cmd::suggest::run(args),
        Command::LabelBench(args) => cmd::label_bench::run(args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
