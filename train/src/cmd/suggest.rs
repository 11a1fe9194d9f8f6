//! `veil-train suggest`: ImageNet classes nearest a keyword in meaning, for `concept`.

use std::path::PathBuf;

use veil_train::concept::imagenet_labels;
use veil_train::device::{Backend, device};
use veil_train::pretrained::IMAGENET_NAMES;
use veil_train::suggest::{MINILM_DIR, SentenceModel, suggest};

#[derive(clap::Args)]
pub struct SuggestArgs {
    /// What to avoid, in words ("game of thrones").
    keyword: String,
    /// How many classes to suggest.
    #[arg(long, default_value_t = 12)]
    top: usize,
    #[arg(long, default_value = MINILM_DIR)]
    minilm: PathBuf,
    #[arg(long, default_value = IMAGENET_NAMES)]
    imagenet_names: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

pub fn run(args: SuggestArgs) -> anyhow::Result<()> {
    let labels = imagenet_labels(&args.imagenet_names)?;
    let device = device(args.backend)?;
    let model = SentenceModel::load(&args.minilm, &device)?;
    let suggestions = suggest(&model, &args.keyword, &labels, args.top)?;
    println!(
        "ImageNet classes nearest {:?} (cosine similarity of all-MiniLM-L6-v2 embeddings):",
        args.keyword
    );
    for suggestion in &suggestions {
        println!(
            "  {:.3}  {}  ({})",
            suggestion.similarity, suggestion.synonym, suggestion.label
        );
    }
    let classes: Vec<&str> = suggestions.iter().map(|s| s.synonym.as_str()).collect();
    println!(
        "keep the ones that fit, then: veil-train concept --name {:?} --keyword {:?} --classes {:?} --data DATA --flag CLASS --out PACK.veilpack",
        args.keyword,
        args.keyword,
        classes.join(",")
    );
    Ok(())
}
