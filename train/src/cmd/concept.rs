//! `veil-train concept`: a pack from named ImageNet classes, no training.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use veil_train::concept::{ConceptRequest, concept_pack};
use veil_train::describe;
use veil_train::device::{Backend, device};
use veil_train::files::{refuse_to_replace, write_file};
use veil_train::pretrained::{EFFICIENTNET_LITE0_WEIGHTS, IMAGENET_NAMES};

#[derive(clap::Args)]
pub struct ConceptArgs {
    /// The pack's name, shown in the extension.
    #[arg(long)]
    name: String,
    /// ImageNet classes to flag, by any of their names ("chain mail", "cuirass"), comma
    /// separated or repeated.
    #[arg(long = "classes", value_delimiter = ',', required = true)]
    classes: Vec<String>,
    /// Labelled images that choose the thresholds (valid split) and measure the quality (test
    /// split): DIR/<split>/<class>/ or DIR/<class>/, as for `train`.
    #[arg(long)]
    data: PathBuf,
    /// The class of DATA the concepts should catch.
    #[arg(long = "flag")]
    flag: String,
    #[arg(long = "keyword")]
    keywords: Vec<String>,
    #[arg(long)]
    description: Option<String>,
    /// The .veilpack file to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    overwrite: bool,
    #[arg(long, default_value = EFFICIENTNET_LITE0_WEIGHTS)]
    pretrained: PathBuf,
    #[arg(long, default_value = IMAGENET_NAMES)]
    imagenet_names: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

pub fn run(args: ConceptArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    refuse_to_replace(&args.out, args.overwrite)?;
    let pack = concept_pack(
        &ConceptRequest {
            name: &args.name,
            description: args.description.as_deref(),
            classes: &args.classes,
            keywords: &args.keywords,
            data: &args.data,
            flag: &args.flag,
            pretrained: &args.pretrained,
            imagenet_names: &args.imagenet_names,
        },
        &device(args.backend)?,
    )?;
    write_file(&args.out, &pack.to_bytes())?;
    eprintln!("concepts: {}", pack.metadata.flagged_labels.join("; "));
    eprint!("{}", describe::thresholds(&pack.metadata));
    eprintln!(
        "wrote {} ({} bytes) in {:.1}s",
        args.out.display(),
        fs::metadata(&args.out)?.len(),
        started.elapsed().as_secs_f32()
    );
    Ok(())
}
