//! `veil-train train`: a recipe and a dataset in, a run folder out.

use std::path::PathBuf;
use std::time::Instant;

use veil_train::config::{RunConfig, SplitBy};
use veil_train::describe;
use veil_train::device::{Backend, device};
use veil_train::files::refuse_to_replace;
use veil_train::run::train_pack;

#[derive(clap::Args)]
pub struct TrainArgs {
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
    /// Divide the dataset by file or by whole source (the dataset's manifest.tsv), overriding
    /// the recipe's `dataset.split_by`.
    #[arg(long, value_enum)]
    split_by: Option<SplitBy>,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
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
        config
            .model
            .override_with(self.input_size, self.dense, self.dropout)?;
        config.seed = self.seed.unwrap_or(config.seed);
        config.dataset.split_by = self.split_by.unwrap_or(config.dataset.split_by);
        config.validate()?;
        Ok(config)
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = args.run_config()?;
    refuse_to_replace(&args.out, args.overwrite)?;
    let finished = train_pack(&config, &args.out, args.restart, &device(args.backend)?)?;
    let metadata = &finished.pack.metadata;
    eprintln!(
        "{}",
        describe::training(&metadata.training, finished.epochs_run)
    );
    if let Some(summary) = &finished.test_summary {
        eprintln!("{summary}");
    }
    eprint!("{}", describe::thresholds(metadata));
    eprintln!(
        "wrote {} ({} bytes) in {:.1}s; open {} to read how good it is",
        finished.pack_path.display(),
        finished.pack_bytes,
        started.elapsed().as_secs_f32(),
        finished.report_path.display()
    );
    Ok(())
}
