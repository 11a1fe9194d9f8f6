//! How good a filter is on images it never trained on: the ROC curve of its flagged
//! probability, the area under it, the recall it keeps at a 5% false-positive rate, and what
//! each operating point does. The trainer writes it into the pack, `veil-train eval` measures
//! it on any folder, and the extension's options page shows it.

use serde::{Deserialize, Serialize};

use crate::operating_points::{OperatingPoints, Strictness};

/// The false-positive rate at which a pack's recall is reported (issue: the default pack must
/// keep 95% recall there).
pub const REPORTED_FPR: f64 = 0.05;

/// The outcome of one threshold: an image is flagged when its probability is at least it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocPoint {
    pub threshold: f32,
    pub recall: f64,
    pub false_positive_rate: f64,
    pub precision: f64,
}

impl RocPoint {
    pub fn f1(&self) -> f64 {
        f1(self.precision, self.recall)
    }
}

/// `part / whole`, and 0 where `whole` is 0: the one convention for every precision, recall,
/// rate and F1 Veil reports (scikit-learn's `zero_division=0`), so that a threshold that flags
/// nothing has precision 0, and a class nobody predicted scores 0.
pub fn share(part: f64, whole: f64) -> f64 {
    if whole == 0.0 { 0.0 } else { part / whole }
}

/// The harmonic mean of precision and recall (0 where both are 0).
pub fn f1(precision: f64, recall: f64) -> f64 {
    share(2.0 * precision * recall, precision + recall)
}

/// One point per distinct score, highest first (so recall and false-positive rate only grow
/// along the curve), with a threshold that flags that score and every higher one. Empty unless
/// both classes are present.
pub fn roc(scored: &[(f32, bool)]) -> Vec<RocPoint> {
    let positives = scored.iter().filter(|(_, target)| *target).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return Vec::new();
    }
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut true_positives, mut false_positives) = (0usize, 0usize);
    let mut points = Vec::new();
    for (index, &(score, target)) in sorted.iter().enumerate() {
        if target {
            true_positives += 1;
        } else {
            false_positives += 1;
        }
        // Tied scores fall on the same side of any threshold: one point for all of them.
        let next_lower = sorted.get(index + 1).map_or(0.0, |next| next.0);
        if next_lower == score {
            continue;
        }
        points.push(RocPoint {
            // Halfway to the next lower score, not on this one: an image scored exactly here
            // (a validation image, or the same picture re-encoded) must not flip with the last
            // bits of float rounding that differ between backends.
            threshold: score / 2.0 + next_lower / 2.0,
            recall: share(true_positives as f64, positives as f64),
            false_positive_rate: share(false_positives as f64, negatives as f64),
            precision: share(
                true_positives as f64,
                (true_positives + false_positives) as f64,
            ),
        });
    }
    points
}

/// Area under the ROC curve (trapezoids from (0, 0)): the chance that a random flagged image
/// scores above a random safe one.
pub fn auc(curve: &[RocPoint]) -> f64 {
    let mut area = 0.0;
    let (mut fpr, mut recall) = (0.0, 0.0);
    for point in curve {
        area += (point.false_positive_rate - fpr) * (point.recall + recall) / 2.0;
        (fpr, recall) = (point.false_positive_rate, point.recall);
    }
    area
}

/// A pack's quality on one labelled split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quality {
    /// Which images: `test` (held out from training and threshold choice) for the trainer.
    pub split: String,
    pub images: usize,
    pub flagged_images: usize,
    pub auc: f64,
    /// The best recall with a false-positive rate of at most [`REPORTED_FPR`].
    pub recall_at_reported_fpr: f64,
    pub strict: RocPoint,
    pub balanced: RocPoint,
    pub relaxed: RocPoint,
    /// The balanced point, source by source, where the dataset says where its images came
    /// from (a game's art, a wallpaper package): which sources the filter misses or misjudges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<GroupQuality>,
    /// The balanced point, medium by medium (photo, painting, screenshot…), where the dataset
    /// says how its images were made: a filter that judges the medium instead of the content
    /// shows here as a medium of safe pictures wrongly flagged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<GroupQuality>,
}

/// What the balanced operating point does to the held-out images of one group: a source or a
/// medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupQuality {
    /// Packs made before media were measured call it `source`.
    #[serde(alias = "source")]
    pub name: String,
    pub images: usize,
    /// Images that should be flagged, and how many of those the point flags.
    pub targets: usize,
    pub caught: usize,
    /// Images flagged that should not be.
    pub false_alarms: usize,
}

impl GroupQuality {
    /// "wesnoth-1.16-data: caught 30 of 34", "photo: wrongly flagged 2 of 40 (5.0%)".
    pub fn summary(&self) -> String {
        let others = self.images - self.targets;
        let mut parts = Vec::new();
        if self.targets > 0 {
            parts.push(format!("caught {} of {}", self.caught, self.targets));
        }
        if others > 0 {
            parts.push(format!(
                "wrongly flagged {} of {others} ({:.1}%)",
                self.false_alarms,
                100.0 * self.false_positive_rate()
            ));
        }
        format!("{}: {}", self.name, parts.join(", "))
    }

    /// The share of this group's safe images that the balanced point flags (0 without any).
    pub fn false_positive_rate(&self) -> f64 {
        share(
            self.false_alarms as f64,
            (self.images - self.targets) as f64,
        )
    }
}

impl Quality {
    /// What the operating point of `strictness` did on these images.
    pub fn at(&self, strictness: Strictness) -> &RocPoint {
        match strictness {
            Strictness::Strict => &self.strict,
            Strictness::Balanced => &self.balanced,
            Strictness::Relaxed => &self.relaxed,
        }
    }

    /// `scored` holds each image's flagged probability and whether it should be flagged. None
    /// unless both kinds of image are present.
    pub fn measure(split: &str, scored: &[(f32, bool)], points: &OperatingPoints) -> Option<Self> {
        let curve = roc(scored);
        if curve.is_empty() {
            return None;
        }
        let recall_at_reported_fpr = curve
            .iter()
            .filter(|point| point.false_positive_rate <= REPORTED_FPR)
            .map(|point| point.recall)
            .fold(0.0, f64::max);
        let at = |strictness| at_threshold(scored, points.threshold(strictness));
        Some(Self {
            split: split.to_string(),
            images: scored.len(),
            flagged_images: scored.iter().filter(|(_, target)| *target).count(),
            auc: auc(&curve),
            recall_at_reported_fpr,
            strict: at(Strictness::Strict),
            balanced: at(Strictness::Balanced),
            relaxed: at(Strictness::Relaxed),
            sources: Vec::new(),
            media: Vec::new(),
        })
    }

    /// Adds the per-source breakdown at the balanced threshold: `sources[i]` names where
    /// `scored[i]` came from.
    pub fn with_sources(mut self, scored: &[(f32, bool)], sources: &[String]) -> Self {
        self.sources = self.by_group(scored, sources);
        self
    }

    /// Adds the per-medium breakdown at the balanced threshold: `media[i]` names how
    /// `scored[i]` was made.
    pub fn with_media(mut self, scored: &[(f32, bool)], media: &[String]) -> Self {
        self.media = self.by_group(scored, media);
        self
    }

    /// The balanced point's catches and false alarms per group, groups by name.
    fn by_group(&self, scored: &[(f32, bool)], groups: &[String]) -> Vec<GroupQuality> {
        let threshold = self.balanced.threshold;
        let mut by_name = std::collections::BTreeMap::<&str, GroupQuality>::new();
        for (&(score, target), name) in scored.iter().zip(groups) {
            let entry = by_name.entry(name).or_insert_with(|| GroupQuality {
                name: name.clone(),
                images: 0,
                targets: 0,
                caught: 0,
                false_alarms: 0,
            });
            let flagged = score >= threshold;
            entry.images += 1;
            entry.targets += usize::from(target);
            entry.caught += usize::from(target && flagged);
            entry.false_alarms += usize::from(!target && flagged);
        }
        by_name.into_values().collect()
    }
}

/// What one fixed threshold (an operating point chosen elsewhere) does on these scores.
fn at_threshold(scored: &[(f32, bool)], threshold: f32) -> RocPoint {
    let count = |target: bool, hit: bool| {
        scored
            .iter()
            .filter(|(score, t)| *t == target && (*score >= threshold) == hit)
            .count() as f64
    };
    let (hits, false_alarms) = (count(true, true), count(false, true));
    RocPoint {
        threshold,
        recall: share(hits, hits + count(true, false)),
        false_positive_rate: share(false_alarms, false_alarms + count(false, false)),
        precision: share(hits, hits + false_alarms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_has_area_one_and_full_recall_at_zero_false_positives() {
        let scored = [(0.9, true), (0.8, true), (0.3, false), (0.1, false)];
        let curve = roc(&scored);
        assert_eq!(auc(&curve), 1.0);
        let quality =
            Quality::measure("test", &scored, &OperatingPoints::from_scores(&scored)).unwrap();
        assert_eq!(quality.recall_at_reported_fpr, 1.0);
        assert_eq!((quality.images, quality.flagged_images), (4, 2));
        assert_eq!(quality.balanced.recall, 1.0);
        assert_eq!(quality.balanced.false_positive_rate, 0.0);
    }

    #[test]
    fn a_reversed_ranking_has_area_zero_and_ties_count_half() {
        assert_eq!(auc(&roc(&[(0.1, true), (0.9, false)])), 0.0);
        assert_eq!(auc(&roc(&[(0.5, true), (0.5, false)])), 0.5);
    }

    #[test]
    fn area_matches_the_pairwise_definition() {
        // 3 targets, 3 others: pairs (target above other) = 7 of 9, one tie counts half.
        let scored = [
            (0.9, true),
            (0.6, true),
            (0.4, true),
            (0.7, false),
            (0.4, false),
            (0.2, false),
        ];
        let pairs = 9.0;
        let above = 3.0 + 2.0 + 1.0 + 0.5; // 0.9 > all; 0.6 > 0.4, 0.2; 0.4 > 0.2, ties 0.4
        assert!((auc(&roc(&scored)) - above / pairs).abs() < 1e-12);
    }

    #[test]
    fn recall_at_five_percent_false_positives_reads_the_curve() {
        // 20 others, one of them scoring high: one false positive is exactly 5%.
        let mut scored: Vec<(f32, bool)> = (0..19).map(|i| (i as f32 / 100.0, false)).collect();
        scored.push((0.95, false));
        scored.extend((0..10).map(|i| (0.5 + i as f32 / 100.0, true)));
        scored.push((0.99, true));
        let quality = Quality::measure("test", &scored, &OperatingPoints::default()).unwrap();
        // At FPR 5% (one other above): all 11 targets are above 0.19, so recall is 1.
        assert_eq!(quality.recall_at_reported_fpr, 1.0);
        // At the default threshold 0.5 every target is flagged and one other of 20 is.
        assert_eq!(quality.balanced.recall, 1.0);
        assert!((quality.balanced.false_positive_rate - 0.05).abs() < 1e-12);
    }

    #[test]
    fn sources_and_media_count_what_the_balanced_point_catches_and_wrongly_flags() {
        let scored = [
            (0.9, true),
            (0.2, true),
            (0.7, false),
            (0.1, false),
            (0.8, true),
        ];
        let sources = ["game", "game", "photos", "photos", "maps"].map(String::from);
        let points = OperatingPoints {
            strict: 0.1,
            balanced: 0.5,
            relaxed: 0.95,
        };
        let media = ["painting", "photo", "photo", "painting", "painting"].map(String::from);
        let quality = Quality::measure("test", &scored, &points)
            .unwrap()
            .with_sources(&scored, &sources)
            .with_media(&scored, &media);
        let row = |name: &str, images, targets, caught, false_alarms| GroupQuality {
            name: name.into(),
            images,
            targets,
            caught,
            false_alarms,
        };
        assert_eq!(
            quality.sources,
            [
                row("game", 2, 2, 1, 0),
                row("maps", 1, 1, 1, 0),
                row("photos", 2, 0, 0, 1)
            ]
        );
        assert_eq!(
            quality.media,
            [row("painting", 3, 2, 2, 0), row("photo", 2, 1, 0, 1)]
        );
        assert_eq!(quality.media[1].false_positive_rate(), 1.0);
        assert_eq!(quality.media[0].false_positive_rate(), 0.0);
        assert_eq!(quality.sources[0].summary(), "game: caught 1 of 2");
        assert_eq!(
            quality.sources[2].summary(),
            "photos: wrongly flagged 1 of 2 (50.0%)"
        );
        // Packs without a breakdown read back with an empty one, and write none.
        let json = serde_json::to_string(&Quality::measure("test", &scored, &points).unwrap());
        assert!(!json.as_ref().unwrap().contains("sources"));
        assert!(!json.as_ref().unwrap().contains("media"));
        let read: Quality = serde_json::from_str(&json.unwrap()).unwrap();
        assert!(read.sources.is_empty() && read.media.is_empty());
        // Packs made before media were measured named each source's row `source`.
        let old =
            r#"{"source": "game", "images": 2, "targets": 2, "caught": 1, "false_alarms": 0}"#;
        assert_eq!(
            serde_json::from_str::<GroupQuality>(old).unwrap(),
            quality.sources[0]
        );
    }

    #[test]
    fn one_class_has_no_quality() {
        assert!(Quality::measure("test", &[(0.3, true)], &OperatingPoints::default()).is_none());
    }
}
