//! `veil-train bench`: training steps of a recipe's network timed on random images.

use std::path::PathBuf;

use veil_train::bench;
use veil_train::config::RunConfig;
use veil_train::device::{Backend, device};

#[derive(clap::Args)]
pub struct BenchArgs {
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
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => RunConfig::from_file(path)?,
        None => RunConfig::default(),
    };
    if let Some(batch_size) = args.batch_size {
        config.training.batch_size = batch_size;
    }
    let backend = args.backend.name();
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
