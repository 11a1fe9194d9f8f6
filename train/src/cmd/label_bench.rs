//! `veil-train label-bench`: what the user's labels do with a pack, on a dataset of class
//! folders with a manifest (as `cargo xtask data` makes the default one).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, bail};
use veil_core::user_labels::NEAR;
use veil_core::{Classifier, preprocess};
use veil_train::data;
use veil_train::device::{Backend, device};
use veil_train::files::read_pack;
use veil_train::label_bench::{self, Picture, VARIANTS};

#[derive(clap::Args)]
pub struct LabelBenchArgs {
    #[arg(long)]
    pack: PathBuf,
    /// Dataset folder holding <class>/ (or <split>/<class>/) sub-folders and manifest.tsv.
    #[arg(long)]
    data: PathBuf,
    /// The source (manifest) whose pictures the user labels "hide images like this".
    #[arg(long)]
    kind: String,
    /// How many pictures the variants are made of.
    #[arg(long, default_value_t = 60)]
    variants_of: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

pub fn run(args: LabelBenchArgs) -> anyhow::Result<()> {
    let pack = read_pack(&args.pack)?;
    let classifier = Classifier::new(&pack, &device(args.backend)?)?;
    // Class folders, or class folders in split folders: every picture counts here.
    let split_dirs: Vec<PathBuf> = data::SPLITS
        .iter()
        .map(|split| args.data.join(split))
        .filter(|dir| dir.is_dir())
        .collect();
    let class_roots = if split_dirs.is_empty() {
        vec![args.data.clone()]
    } else {
        split_dirs
    };
    let mut paths = Vec::new();
    for root in class_roots {
        for class in data::classes(root.clone())? {
            paths.extend(data::image_files(&root.join(class))?);
        }
    }
    let refs: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    let Some(provenance) = data::provenance_of_files(&args.data, &refs) else {
        bail!(
            "{} has no {}: the bench needs each picture's source",
            args.data.display(),
            data::MANIFEST
        );
    };
    let images = paths
        .iter()
        .map(|path| {
            let bytes =
                fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            preprocess::decode(&bytes).with_context(|| format!("cannot decode {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let judged = label_bench::judge(&classifier, &images)?;
    let pictures: Vec<Picture> = paths
        .into_iter()
        .zip(provenance)
        .zip(judged)
        .map(|((path, provenance), (features, flagged))| Picture {
            original: provenance
                .original
                .unwrap_or_else(|| path.display().to_string()),
            path,
            source: provenance.source,
            features,
            flagged,
        })
        .collect();
    if !pictures.iter().any(|p| p.source == args.kind) {
        bail!(
            "no picture of {} comes from source {:?}",
            args.data.display(),
            args.kind
        );
    }

    // Every k-th picture, so the variants span the sources.
    let step = (pictures.len() / args.variants_of.max(1)).max(1);
    let originals: Vec<_> = images
        .into_iter()
        .zip(&pictures)
        .step_by(step)
        .map(|(image, picture)| (image, picture.features.clone()))
        .collect();
    println!(
        "Similarity to the original picture ({} pictures), against the bound {NEAR}:",
        originals.len()
    );
    println!("| change | lowest | 5th percentile | median | below the bound |");
    println!("|---|---:|---:|---:|---:|");
    for (variant, mut similarities) in VARIANTS
        .iter()
        .zip(label_bench::variant_similarities(&classifier, &originals)?)
    {
        similarities.sort_by(f32::total_cmp);
        println!(
            "| {variant} | {:.4} | {:.4} | {:.4} | {} |",
            similarities[0],
            percentile(&similarities, 0.05),
            percentile(&similarities, 0.5),
            similarities.iter().filter(|&&s| s < NEAR).count()
        );
    }
    let nearest = label_bench::nearest_others(&pictures);
    let mut nearest_similarities: Vec<f32> = nearest.iter().map(|(_, s)| *s).collect();
    nearest_similarities.sort_by(f32::total_cmp);
    println!(
        "\nEach of the {} pictures against the most similar picture cut from another original: median {:.4}, 95th percentile {:.4}, highest {:.4}; {} at or above the bound:",
        pictures.len(),
        percentile(&nearest_similarities, 0.5),
        percentile(&nearest_similarities, 0.95),
        nearest_similarities.last().copied().unwrap_or(0.0),
        nearest_similarities.iter().filter(|&&s| s >= NEAR).count()
    );
    for (i, (j, similarity)) in nearest.iter().enumerate() {
        if *similarity >= NEAR && i < *j {
            println!(
                "  {similarity:.4}: {} and {}",
                pictures[i].path.display(),
                pictures[*j].path.display()
            );
        }
    }

    println!(
        "\n\"Hide images like this\" on pictures of {}, similarity alone:",
        args.kind
    );
    println!("| labels | held-out pictures of the kind caught | other pictures newly flagged |");
    println!("|---:|---:|---:|");
    for row in label_bench::labels_curve(&pictures, &args.kind, &[0, 1, 5, 10, 20, 50], args.seed) {
        println!(
            "| {} | {}/{} | {}/{} |",
            row.labels, row.caught.0, row.caught.1, row.false_positives.0, row.false_positives.1
        );
    }
    Ok(())
}

/// The value at `share` of the way through sorted `values`.
fn percentile(values: &[f32], share: f64) -> f32 {
    values[((values.len() - 1) as f64 * share).round() as usize]
}
