//! `veil-train predict`: judge image files with a pack, as the browser would.

use std::fs;
use std::path::PathBuf;

use anyhow::bail;
use veil_core::operating_points::Strictness;
use veil_core::{Classifier, preprocess};
use veil_train::device::{Backend, device};
use veil_train::files::read_pack;

#[derive(clap::Args)]
pub struct PredictArgs {
    #[arg(long)]
    pack: PathBuf,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = Strictness::Balanced)]
    strictness: Strictness,
    /// Show only the K most probable labels per image (all of them by default), most probable
    /// first.
    #[arg(long, value_name = "K")]
    top: Option<usize>,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let strictness = args.strictness;
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
