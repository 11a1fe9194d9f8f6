//! `veil-train eval`: a pack's quality on a labelled folder.

use std::path::PathBuf;

use anyhow::{Context, bail};
use veil_train::calibrate::measure_quality;
use veil_train::data;
use veil_train::describe;
use veil_train::device::{Backend, device};
use veil_train::files::read_pack;
use veil_train::inference::{probabilities, scored};

#[derive(clap::Args)]
pub struct EvalArgs {
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
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
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
    let rows = probabilities(
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
        print!("{}", describe::quality_summary(&quality));
    }
    Ok(())
}
