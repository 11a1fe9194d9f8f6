//! `veil-train concept`: a filter defined by ImageNet classes instead of training (zero-shot).
//! The pack is the pretrained backbone with its own ImageNet head; the probabilities of the
//! named classes (throne, castle, chain mail, ...) add up to the flagged probability, by the
//! same rule every pack uses. Labelled images only choose the three thresholds and measure the
//! quality; nothing is trained.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use burn::prelude::Device;
use veil_core::pack::TrainingSummary;
use veil_core::{
    Architecture, EfficientNetLite0Config, FilterPack, OperatingPoints, Output, PackMetadata,
    Precision,
};

use crate::calibrate::{HeldOut, calibrate};
use crate::config::DatasetConfig;
use crate::data;
use crate::pretrained::IMAGENET_CLASSES;

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

/// What a concept pack is made of, as `veil-train concept` takes it.
pub struct ConceptRequest<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// ImageNet classes to flag, by any of their names.
    pub classes: &'a [String],
    pub keywords: &'a [String],
    /// Labelled images: the valid split chooses the thresholds, the test split measures.
    pub data: &'a Path,
    /// The class of `data` the concepts should catch.
    pub flag: &'a str,
    /// EfficientNet-Lite0's ImageNet weights and class names.
    pub pretrained: &'a Path,
    pub imagenet_names: &'a Path,
}

/// The backbone with its own ImageNet head as a pack flagging `request.classes`, calibrated on
/// `request.data` like a trained pack.
pub fn concept_pack(request: &ConceptRequest, device: &Device) -> anyhow::Result<FilterPack> {
    let labels = imagenet_labels(request.imagenet_names)?;
    let concepts = resolve(&labels, request.classes)?;
    let architecture = EfficientNetLite0Config::new(IMAGENET_CLASSES);
    // Only the valid and test splits are used: the train split is never decoded.
    let dataset = data::load_splits(
        request.data,
        &DatasetConfig::default(),
        42,
        architecture.input_size,
        [false, true, true],
    )?;
    let Some(target) = dataset
        .classes
        .iter()
        .position(|class| class == request.flag)
    else {
        bail!(
            "--flag {:?} is not a class of {}; the classes are {:?}",
            request.flag,
            request.data.display(),
            dataset.classes
        );
    };
    let [_, validation, test] = dataset.splits;
    for (path, reason) in validation.skipped.iter().chain(&test.skipped) {
        eprintln!("skipped {}: {reason}", path.display());
    }
    let model = crate::pretrained::efficientnet_lite0(request.pretrained, &architecture, device)?;
    let metadata = PackMetadata {
        name: request.name.to_string(),
        description: request.description.map_or_else(
            || {
                format!(
                    "Zero-shot: EfficientNet-Lite0's ImageNet classes {}; no training.",
                    concepts.join("; ")
                )
            },
            str::to_string,
        ),
        architecture: Architecture::EfficientNetLite0(architecture),
        labels,
        // ImageNet's classes exclude each other: the concepts' probabilities add up.
        output: Output::SingleLabel,
        flagged_labels: concepts,
        keywords: request.keywords.to_vec(),
        // Set by the calibration below.
        operating_points: OperatingPoints::default(),
        quality: None,
        // Nothing is trained: no validation accuracy or loss to report.
        training: TrainingSummary {
            validation_images: validation.examples.len(),
            ..TrainingSummary::default()
        },
        created_by: format!("veil-train {} concept", env!("CARGO_PKG_VERSION")),
    };
    // f16: the backbone and its 1000-class head in 9.4 MB instead of 18.8.
    let pack = FilterPack::from_model(metadata, &model, Precision::F16)?;
    Ok(calibrate(
        pack,
        &HeldOut {
            validation: &validation.examples,
            test: &test.examples,
            data_dir: request.data,
            targets: &[target],
        },
        16,
        device,
    )?
    .pack)
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
