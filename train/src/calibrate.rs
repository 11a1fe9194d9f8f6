//! The one path from a network to a calibrated pack, shared by `train`, `concept` and anything
//! later: the weights as the pack stores them (f16 rounds them) and batch norms folded, as the
//! browser will judge; their validation scores choose the three thresholds, their test scores
//! measure the quality stored in the pack.

use std::path::Path;

use anyhow::bail;
use burn::prelude::Device;
use veil_core::quality::Quality;
use veil_core::{Cnn, FilterPack, OperatingPoints};

use crate::data::{self, Example};
use crate::inference::{probabilities, scored};

/// The held-out images a pack is calibrated on.
pub struct HeldOut<'a> {
    /// Chooses the thresholds.
    pub validation: &'a [Example],
    /// Measures the quality (may be empty: then the pack has none).
    pub test: &'a [Example],
    /// The dataset's folder, for the per-source and per-medium breakdowns its `manifest.tsv`
    /// allows.
    pub data_dir: &'a Path,
    /// Which of the examples' labels should be flagged: the pack's flagged outputs for a trained
    /// pack, the data's own classes for a concept pack.
    pub targets: &'a [usize],
}

/// A pack with its thresholds and quality set, and what they were computed from.
pub struct Calibrated {
    pub pack: FilterPack,
    /// The network that judges: the pack's weights as stored, batch norms folded.
    pub judging: Cnn,
    /// The test split's label probabilities and flagged scores, in its order.
    pub test_rows: Vec<Vec<f32>>,
    pub test_scored: Vec<(f32, bool)>,
}

/// Sets `pack`'s operating points from `held_out.validation` and its quality from
/// `held_out.test`, both judged by the network the pack will judge with, `batch_size` images at
/// a time on `device`.
pub fn calibrate(
    mut pack: FilterPack,
    held_out: &HeldOut,
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Calibrated> {
    let judging = pack.judging_model(device)?;
    let metadata = &pack.metadata;
    let (output, flagged) = (metadata.output, metadata.flagged_indices());
    let size = metadata.architecture.input_size();
    let judge = |examples: &[Example]| -> anyhow::Result<(Vec<Vec<f32>>, Vec<(f32, bool)>)> {
        let rows = probabilities(&judging, examples, size, output, batch_size, device)?;
        let scores = scored(&rows, examples, output, &flagged, held_out.targets);
        Ok((rows, scores))
    };
    let (_, validation_scored) = judge(held_out.validation)?;
    if !(validation_scored.iter().any(|(_, target)| *target)
        && validation_scored.iter().any(|(_, target)| !target))
    {
        bail!(
            "{}'s valid split needs images that should be flagged and images that should not, to choose the thresholds",
            held_out.data_dir.display()
        );
    }
    let points = OperatingPoints::from_scores(&validation_scored);
    let (test_rows, test_scored) = judge(held_out.test)?;
    pack.metadata.operating_points = points;
    pack.metadata.quality = measure_quality(
        "test",
        &test_scored,
        &points,
        held_out.data_dir,
        held_out.test,
    );
    Ok(Calibrated {
        pack,
        judging,
        test_rows,
        test_scored,
    })
}

/// A pack's quality on `examples` (scored in that order), broken down by source where
/// `data_dir` has a manifest, and by medium where the manifest says.
pub fn measure_quality(
    split: &str,
    scored: &[(f32, bool)],
    points: &OperatingPoints,
    data_dir: &Path,
    examples: &[Example],
) -> Option<Quality> {
    let quality = Quality::measure(split, scored, points)?;
    let Some(provenance) = data::provenance(data_dir, examples) else {
        return Some(quality);
    };
    let sources: Vec<String> = provenance.iter().map(|row| row.source.clone()).collect();
    let quality = quality.with_sources(scored, &sources);
    if provenance.iter().all(|row| row.medium.is_none()) {
        return Some(quality);
    }
    let media: Vec<String> = provenance
        .into_iter()
        .map(|row| row.medium.unwrap_or_else(|| "(no medium given)".into()))
        .collect();
    Some(quality.with_media(scored, &media))
}
