//! The three named thresholds a pack carries, so that the extension's strictness setting means
//! the same measured thing for every pack.

use serde::{Deserialize, Serialize};

use crate::quality::roc;

/// Recall the strict point must keep: a spoiler filter would rather hide a safe image than show
/// the show.
pub const STRICT_RECALL: f64 = 0.99;
/// False-positive rate the relaxed point may not exceed.
pub const RELAXED_FPR: f64 = 0.01;

/// Thresholds on the flagged probability (an image is flagged when its probability is at least
/// the threshold). Always ordered `strict <= balanced <= relaxed`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatingPoints {
    /// Highest threshold that still catches [`STRICT_RECALL`] of the validation targets (all of
    /// them, where the balanced point already catches that many).
    pub strict: f32,
    /// Threshold with the best F1 on the validation split.
    pub balanced: f32,
    /// Lowest threshold whose false-positive rate is at most [`RELAXED_FPR`] (zero, where the
    /// balanced point already keeps that rate).
    pub relaxed: f32,
}

/// The extension's strictness setting: which of a pack's three thresholds it judges by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Strictness {
    Strict,
    #[default]
    Balanced,
    Relaxed,
}

impl Strictness {
    /// Every setting, strictest first: the order tables and summaries list them in.
    pub const ALL: [Self; 3] = [Self::Strict, Self::Balanced, Self::Relaxed];

    /// The name settings, flags and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Balanced => "balanced",
            Self::Relaxed => "relaxed",
        }
    }
}

impl std::fmt::Display for Strictness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl std::str::FromStr for Strictness {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|strictness| strictness.name() == name)
            .ok_or_else(|| {
                format!("unknown strictness {name:?}: use \"strict\", \"balanced\" or \"relaxed\"")
            })
    }
}

impl Default for OperatingPoints {
    fn default() -> Self {
        Self {
            strict: 0.5,
            balanced: 0.5,
            relaxed: 0.5,
        }
    }
}

impl OperatingPoints {
    pub fn threshold(&self, strictness: Strictness) -> f32 {
        match strictness {
            Strictness::Strict => self.strict,
            Strictness::Balanced => self.balanced,
            Strictness::Relaxed => self.relaxed,
        }
    }

    /// Chooses the three points from scored examples (`(flagged probability, is target)`).
    /// Without both targets and non-targets there is nothing to trade off: every point is 0.5.
    ///
    /// Where the balanced point already keeps the strict (or relaxed) promise, that point goes
    /// as far as the validation split allows, to catching every target (or flagging no
    /// non-target): a strictness setting that changes nothing would mean nothing.
    pub fn from_scores(scored: &[(f32, bool)]) -> Self {
        let curve = roc(scored);
        let (Some(first), Some(last)) = (curve.first(), curve.last()) else {
            return Self::default();
        };
        let balanced = curve
            .iter()
            .fold(
                first,
                |best, point| if point.f1() > best.f1() { point } else { best },
            )
            .threshold;
        // The curve runs from the highest threshold down: recall and false positives only grow.
        let highest_with_recall = |recall: f64| {
            curve
                .iter()
                .find(|point| point.recall >= recall)
                .unwrap_or(last)
                .threshold
        };
        let lowest_with_fpr = |fpr: f64| {
            curve
                .iter()
                .take_while(|point| point.false_positive_rate <= fpr)
                .last()
                .unwrap_or(first)
                .threshold
        };
        let strict = match highest_with_recall(STRICT_RECALL) {
            promise if promise < balanced => promise,
            _ => highest_with_recall(1.0),
        };
        let relaxed = match lowest_with_fpr(RELAXED_FPR) {
            promise if promise > balanced => promise,
            _ => lowest_with_fpr(0.0),
        };
        Self {
            strict: strict.min(balanced),
            balanced,
            relaxed: relaxed.max(balanced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores_put_every_point_between_the_classes() {
        let scored = [(0.9, true), (0.8, true), (0.3, false), (0.1, false)];
        let points = OperatingPoints::from_scores(&scored);
        // Halfway between the lowest target (0.8) and the highest other (0.3).
        assert_eq!(points.balanced, 0.55);
        assert_eq!(points.strict, 0.55);
        assert_eq!(points.relaxed, 0.55);
    }

    #[test]
    fn a_score_a_hair_off_a_validation_score_keeps_its_verdict() {
        let scored: Vec<(f32, bool)> = (0..50)
            .map(|i| (0.5 + i as f32 * 0.01, true))
            .chain((0..50).map(|i| (0.2 + i as f32 * 0.01, false)))
            .collect();
        let points = OperatingPoints::from_scores(&scored);
        for strictness in [
            Strictness::Strict,
            Strictness::Balanced,
            Strictness::Relaxed,
        ] {
            let threshold = points.threshold(strictness);
            for (score, _) in &scored {
                // Backends agree to ~1e-6; a verdict that flips within that is a coin toss.
                assert_eq!(
                    *score - 1e-5 >= threshold,
                    *score + 1e-5 >= threshold,
                    "{score} sits on the {strictness:?} threshold {threshold}"
                );
            }
        }
    }

    fn f1_at(scored: &[(f32, bool)], threshold: f32) -> f64 {
        let count = |target: bool, hit: bool| {
            scored
                .iter()
                .filter(|(s, t)| *t == target && (*s >= threshold) == hit)
                .count() as f64
        };
        let (tp, fp, missed) = (count(true, true), count(false, true), count(true, false));
        2.0 * tp / (2.0 * tp + fp + missed)
    }

    #[test]
    fn overlapping_scores_meet_each_points_promise() {
        // 100 targets spread over [0.3, 0.99], 100 non-targets over [0.0, 0.69].
        let scored: Vec<(f32, bool)> = (0..100)
            .map(|i| (0.3 + i as f32 * 0.0069, true))
            .chain((0..100).map(|i| (i as f32 * 0.0069, false)))
            .collect();
        let points = OperatingPoints::from_scores(&scored);
        assert!(points.strict <= points.balanced, "{points:?}");
        assert!(points.balanced < points.relaxed, "{points:?}");
        // Strict keeps 99% of targets: at most one target below it.
        let missed = scored
            .iter()
            .filter(|(s, t)| *t && *s < points.strict)
            .count();
        assert!(missed <= 1, "{missed}");
        // Relaxed lets at most 1% of non-targets through, and is the lowest such threshold.
        let false_alarms = |threshold: f32| {
            scored
                .iter()
                .filter(|(s, t)| !*t && *s >= threshold)
                .count()
        };
        assert!(false_alarms(points.relaxed) <= 1);
        assert!(
            scored
                .iter()
                .filter(|(s, _)| *s < points.relaxed)
                .all(|(s, _)| false_alarms(*s) > 1)
        );
        // Balanced has the best F1 of every possible threshold.
        let best = f1_at(&scored, points.balanced);
        for (score, _) in &scored {
            assert!(f1_at(&scored, *score) <= best, "{score} beats {points:?}");
        }
    }

    #[test]
    fn where_balanced_keeps_both_promises_strict_and_relaxed_still_differ() {
        // 100 targets over [0.5, 0.99] and one at 0.25; 150 non-targets over [0, 0.3) and one
        // at 0.6. Best F1 lies below 0.5: it misses one target (99.0% recall) and flags one
        // non-target (0.7%), so it keeps the strict and the relaxed promise already.
        let scored: Vec<(f32, bool)> = (0..100)
            .map(|i| (0.5 + i as f32 * 0.0049, true))
            .chain([(0.25, true), (0.6, false)])
            .chain((0..150).map(|i| (i as f32 * 0.002, false)))
            .collect();
        let points = OperatingPoints::from_scores(&scored);
        assert!(points.balanced > 0.3 && points.balanced < 0.5, "{points:?}");
        assert!(
            points.strict < 0.25,
            "strict catches every target: {points:?}"
        );
        assert!(
            points.strict > 0.248,
            "and is the highest threshold that does: {points:?}"
        );
        assert!(
            points.relaxed > 0.6,
            "relaxed flags no non-target: {points:?}"
        );
        // The lowest: halfway between that non-target and the next higher score.
        let next_above = scored
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s > 0.6)
            .fold(1.0, f32::min);
        assert_eq!(
            points.relaxed,
            0.6 / 2.0 + next_above / 2.0,
            "the lowest threshold that does"
        );
    }

    #[test]
    fn one_class_only_falls_back_to_one_half() {
        assert_eq!(
            OperatingPoints::from_scores(&[(0.2, true), (0.7, true)]),
            OperatingPoints::default()
        );
    }
}
