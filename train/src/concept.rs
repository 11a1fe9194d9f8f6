//! `veil-train concept`: a filter defined by ImageNet classes instead of training (zero-shot).
//! The pack is the pretrained backbone with its own ImageNet head; the probabilities of the
//! named classes (throne, castle, chain mail, ...) add up to the flagged probability, by the
//! same rule every pack uses. Labelled images only choose the three thresholds and measure the
//! quality; nothing is trained.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use veil_core::pack::TrainingSummary;
use veil_core::{
    Architecture, EfficientNetLite0Config, FilterPack, OperatingPoints, Output, PackMetadata,
    Precision,
};

use crate::config::DatasetConfig;
use crate::pretrained::{EFFICIENTNET_LITE0_WEIGHTS, IMAGENET_CLASSES, IMAGENET_NAMES};
use crate::{data, describe_thresholds, device, refuse_to_replace, training, write_file};

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
    #[arg(long, value_enum, default_value_t = crate::BackendArg::Cpu)]
    backend: crate::BackendArg,
}

/// ImageNet's class names in output order, made unique (two classes are both "crane": the
/// second becomes "crane (#517)") so that each names one output of the pack.
pub fn imagenet_labels(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the ImageNet class names {}: `cargo xtask setup` fetches them (npm @tensorflow-models/mobilenet 2.1.1)",
            path.display()
        )
    })?;
    let names: Vec<String> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON list of names", path.display()))?;
    if names.len() != IMAGENET_CLASSES {
        bail!(
            "{} holds {} class names, not ImageNet's {IMAGENET_CLASSES}",
            path.display(),
            names.len()
        );
    }
    Ok(names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            if names[..index].contains(name) {
                format!("{name} (#{index})")
            } else {
                name.clone()
            }
        })
        .collect())
}

/// The comma-separated names of a class's label ("chain mail", "ring mail", ...), without the
/// "(#517)" that tells apart two classes of the same name.
pub fn synonyms(label: &str) -> impl Iterator<Item = &str> {
    label.split(" (#").next().unwrap_or_default().split(", ")
}

/// The labels of the classes `wanted` names: a label matches when one of its comma-separated
/// synonyms equals the name, ignoring case. A name that matches nothing is an error listing
/// labels that contain it.
pub fn resolve(labels: &[String], wanted: &[String]) -> anyhow::Result<Vec<String>> {
    let mut chosen: Vec<String> = Vec::new();
    for name in wanted {
        let name = name.trim().to_lowercase();
        let matches: Vec<&String> = labels
            .iter()
            .filter(|label| synonyms(label).any(|synonym| synonym.to_lowercase() == name))
            .collect();
        if matches.is_empty() {
            let near: Vec<&String> = labels
                .iter()
                .filter(|label| label.to_lowercase().contains(&name))
                .take(8)
                .collect();
            bail!(
                "no ImageNet class is called {name:?}{}",
                if near.is_empty() {
                    String::new()
                } else {
                    format!("; classes containing it: {near:?}")
                }
            );
        }
        for label in matches {
            if !chosen.contains(label) {
                chosen.push(label.clone());
            }
        }
    }
    Ok(chosen)
}

pub fn run(args: ConceptArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    refuse_to_replace(&args.out, args.overwrite)?;
    let labels = imagenet_labels(&args.imagenet_names)?;
    let concepts = resolve(&labels, &args.classes)?;
    let device = device(args.backend)?;
    let architecture = EfficientNetLite0Config::new(IMAGENET_CLASSES);
    let size = architecture.input_size;
    // Only the valid and test splits are used: the train split is never decoded.
    let dataset = data::load_splits(
        &args.data,
        &DatasetConfig::default(),
        42,
        size,
        [false, true, true],
    )?;
    let Some(target) = dataset.classes.iter().position(|class| *class == args.flag) else {
        bail!(
            "--flag {:?} is not a class of {}; the classes are {:?}",
            args.flag,
            args.data.display(),
            dataset.classes
        );
    };
    let [_, validation, test] = dataset.splits;
    for (path, reason) in validation.skipped.iter().chain(&test.skipped) {
        eprintln!("skipped {}: {reason}", path.display());
    }
    let model = crate::pretrained::efficientnet_lite0(&args.pretrained, &architecture, &device)?;
    let metadata = PackMetadata {
        name: args.name.clone(),
        description: args.description.clone().unwrap_or_else(|| {
            format!(
                "Zero-shot: EfficientNet-Lite0's ImageNet classes {}; no training.",
                concepts.join("; ")
            )
        }),
        architecture: Architecture::EfficientNetLite0(architecture),
        labels,
        // ImageNet's classes exclude each other: the concepts' probabilities add up.
        output: Output::SingleLabel,
        flagged_labels: concepts,
        keywords: args.keywords.clone(),
        operating_points: OperatingPoints::default(),
        quality: None,
        training: TrainingSummary {
            epochs: 0,
            train_images: 0,
            validation_images: validation.examples.len(),
            validation_accuracy: 0.0,
            validation_loss: 0.0,
        },
        created_by: format!("veil-train {} concept", env!("CARGO_PKG_VERSION")),
    };
    let flagged = metadata.flagged_indices();
    // f16: the backbone and its 1000-class head in 9.4 MB instead of 18.8.
    let mut pack = FilterPack::from_model(metadata, &model, Precision::F16)?;
    let shipped = pack.judging_model(&device)?;
    let targets = [target];
    let scored_split = |split: &data::Split| -> anyhow::Result<Vec<(f32, bool)>> {
        let output = Output::SingleLabel;
        let rows = training::probabilities(&shipped, &split.examples, size, output, 16, &device)?;
        Ok(crate::scored(
            &rows,
            &split.examples,
            output,
            &flagged,
            &targets,
        ))
    };
    let validation_scored = scored_split(&validation)?;
    if !(validation_scored.iter().any(|(_, is)| *is) && validation_scored.iter().any(|(_, is)| !is))
    {
        bail!(
            "{} needs images of {:?} and of other classes in its valid split to choose thresholds",
            args.data.display(),
            args.flag
        );
    }
    let points = OperatingPoints::from_scores(&validation_scored);
    let balanced = points.balanced;
    let summary = &mut pack.metadata.training;
    summary.validation_accuracy = validation_scored
        .iter()
        .filter(|(probability, is)| (*probability >= balanced) == *is)
        .count() as f32
        / validation_scored.len() as f32;
    // Binary cross-entropy of the flagged probability: the loss a trained pack reports.
    summary.validation_loss = validation_scored
        .iter()
        .map(|(probability, is)| {
            let p = if *is { *probability } else { 1.0 - probability };
            -p.clamp(1e-7, 1.0).ln()
        })
        .sum::<f32>()
        / validation_scored.len() as f32;
    pack.metadata.operating_points = points;
    pack.metadata.quality = crate::measure_quality(
        "test",
        &scored_split(&test)?,
        &points,
        &args.data,
        &test.examples,
    );
    write_file(&args.out, &pack.to_bytes())?;
    eprintln!("concepts: {}", pack.metadata.flagged_labels.join("; "));
    eprint!("{}", describe_thresholds(&pack.metadata));
    eprintln!(
        "wrote {} ({} bytes) in {:.1}s",
        args.out.display(),
        fs::metadata(&args.out)?.len(),
        started.elapsed().as_secs_f32()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        [
            "crane",
            "throne",
            "chain mail, ring mail, mail",
            "crane",
            "mailbag, postbag",
        ]
        .iter()
        .map(|name| name.to_string())
        .collect()
    }

    #[test]
    fn a_name_matches_whole_synonyms_of_every_class_it_names() {
        let dir = std::env::temp_dir().join(format!("veil-concept-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut names = labels();
        names.resize(IMAGENET_CLASSES, "other".into());
        let path = dir.join("names.json");
        fs::write(&path, serde_json::to_string(&names).unwrap()).unwrap();
        let labels = imagenet_labels(&path).unwrap();
        assert_eq!(labels[3], "crane (#3)", "made unique");
        let chosen = resolve(&labels, &["Mail".into(), "crane".into(), " throne".into()]).unwrap();
        assert_eq!(
            chosen,
            [
                "chain mail, ring mail, mail",
                "crane",
                "crane (#3)",
                "throne"
            ]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unknown_name_lists_the_classes_that_contain_it() {
        let message = resolve(&labels(), &["mai".into()]).unwrap_err().to_string();
        assert!(
            message.contains("\"mai\"") && message.contains("mailbag"),
            "{message}"
        );
    }
}
