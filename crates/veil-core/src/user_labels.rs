//! The user's own labels ("hide images like this", "not a spoiler") and the one rule that
//! combines them with a pack's verdict. A label is kept as the feature vector the pack's output
//! layer reads ([`crate::Cnn::features_and_logits`]) and compared by the part of it that says
//! what the picture shows (`Architecture::likeness`), so it covers the same picture cropped,
//! resized, re-encoded or shot again from nearly the same place, not only its URL.

use serde::{Deserialize, Serialize};

/// Cosine similarity from which a picture counts as "like" a labelled one, measured with
/// `veil-train label-bench` on the default dataset (BENCHMARKS.md, "What counts as the same
/// picture"): of its pictures cropped to 80% or 90%, halved or mirrored, every one stays above
/// it, re-encoded as JPEG 95–97%. A picture's nearest picture from another original reaches
/// it for a third of the dataset, nearly always the same character or scene drawn again.
pub const NEAR: f32 = 0.75;

/// What the user said about a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    /// "Hide images like this".
    Hide,
    /// "Not a spoiler".
    Show,
}

impl std::str::FromStr for Mark {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "hide" => Ok(Mark::Hide),
            "show" => Ok(Mark::Show),
            other => Err(format!(
                "unknown label {other:?}: expected \"hide\" or \"show\""
            )),
        }
    }
}

/// The labelled picture nearest to a judged one, where it is near enough to decide.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelMatch {
    pub mark: Mark,
    /// Cosine similarity of the two feature vectors, at least [`NEAR`].
    pub similarity: f32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LabelError {
    #[error("{labels} labels need {labels} feature vectors of one length, not {numbers} numbers")]
    Shape { labels: usize, numbers: usize },
    #[error("a label's features are all zero: it cannot be compared")]
    Zero,
    #[error(
        "the labels hold {labels} features per picture, this pack's network {network}: they were made by another pack"
    )]
    OtherPack { labels: usize, network: usize },
}

/// The user's labels for one pack, each a unit-length feature vector.
#[derive(Debug, Clone, Default)]
pub struct UserLabels {
    marks: Vec<Mark>,
    /// Row-major, `marks.len()` rows of `width` numbers.
    directions: Vec<f32>,
    width: usize,
}

impl UserLabels {
    /// Labels from their marks and their feature vectors laid end to end.
    pub fn new(marks: Vec<Mark>, features: &[f32]) -> Result<Self, LabelError> {
        Self::from_rows(marks, features, |row| row)
    }

    /// Labels from their marks and their pictures' whole feature vectors laid end to end, each
    /// compared by the part `likeness` takes of it.
    pub fn from_rows(
        marks: Vec<Mark>,
        features: &[f32],
        likeness: impl Fn(&[f32]) -> &[f32],
    ) -> Result<Self, LabelError> {
        if marks.is_empty() {
            return Ok(Self::default());
        }
        if features.is_empty() || features.len() % marks.len() != 0 {
            return Err(LabelError::Shape {
                labels: marks.len(),
                numbers: features.len(),
            });
        }
        let mut directions = Vec::new();
        let mut width = 0;
        for row in features.chunks(features.len() / marks.len()) {
            let compared = likeness(row);
            width = compared.len();
            directions.extend(unit(compared).ok_or(LabelError::Zero)?);
        }
        Ok(Self {
            marks,
            directions,
            width,
        })
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// The most similar labelled picture to one with these `features`, if it is [`NEAR`].
    pub fn nearest(&self, features: &[f32]) -> Result<Option<LabelMatch>, LabelError> {
        if self.is_empty() {
            return Ok(None);
        }
        if features.len() != self.width {
            return Err(LabelError::OtherPack {
                labels: self.width,
                network: features.len(),
            });
        }
        let Some(direction) = unit(features) else {
            return Ok(None);
        };
        Ok(self
            .directions
            .chunks(self.width)
            .zip(&self.marks)
            .map(|(label, &mark)| LabelMatch {
                mark,
                similarity: dot(label, &direction),
            })
            .filter(|found| found.similarity >= NEAR)
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity)))
    }
}

/// The one rule: the nearest labelled picture decides, whichever way the user said; with none
/// near, the pack does.
pub fn flagged(pack_flags_it: bool, nearest: Option<LabelMatch>) -> bool {
    match nearest {
        Some(LabelMatch { mark, .. }) => mark == Mark::Hide,
        None => pack_flags_it,
    }
}

/// Cosine similarity of two feature vectors (0 where one is all zero).
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    match (unit(a), unit(b)) {
        (Some(a), Some(b)) => dot(&a, &b),
        _ => 0.0,
    }
}

fn unit(vector: &[f32]) -> Option<Vec<f32>> {
    let norm = vector
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt();
    (norm > 0.0 && norm.is_finite()).then(|| {
        vector
            .iter()
            .map(|x| (f64::from(*x) / norm) as f32)
            .collect()
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum::<f64>() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(rows: &[(Mark, [f32; 3])]) -> UserLabels {
        let marks = rows.iter().map(|(mark, _)| *mark).collect();
        let features: Vec<f32> = rows.iter().flat_map(|(_, row)| *row).collect();
        UserLabels::new(marks, &features).unwrap()
    }

    #[test]
    fn the_nearest_label_decides_and_a_far_one_leaves_the_pack_to_decide() {
        let set = labels(&[(Mark::Hide, [1.0, 0.0, 0.0]), (Mark::Show, [0.0, 1.0, 0.0])]);
        // Scaled copies are the same direction: similarity 1.
        let near_hidden = set.nearest(&[3.0, 0.1, 0.0]).unwrap();
        assert_eq!(near_hidden.map(|m| m.mark), Some(Mark::Hide));
        assert!(flagged(false, near_hidden));
        let near_shown = set.nearest(&[0.1, 2.0, 0.0]).unwrap();
        assert!(!flagged(true, near_shown));
        // Halfway between them, both are far: the pack's verdict stands, either way.
        let far = set.nearest(&[1.0, 1.0, 0.0]).unwrap();
        assert_eq!(far, None);
        assert!(flagged(true, far));
        assert!(!flagged(false, far));
    }

    #[test]
    fn of_two_near_labels_the_more_similar_wins() {
        let set = labels(&[(Mark::Hide, [1.0, 0.2, 0.0]), (Mark::Show, [1.0, 0.0, 0.0])]);
        let found = set.nearest(&[1.0, 0.01, 0.0]).unwrap().unwrap();
        assert_eq!(found.mark, Mark::Show);
        assert!(found.similarity > 0.999);
        let found = set.nearest(&[1.0, 0.19, 0.0]).unwrap().unwrap();
        assert_eq!(found.mark, Mark::Hide);
    }

    #[test]
    fn malformed_labels_are_refused_with_what_is_wrong() {
        assert_eq!(
            UserLabels::new(vec![Mark::Hide, Mark::Show], &[1.0, 2.0, 3.0]).unwrap_err(),
            LabelError::Shape {
                labels: 2,
                numbers: 3
            }
        );
        assert_eq!(
            UserLabels::new(vec![Mark::Hide], &[0.0, 0.0]).unwrap_err(),
            LabelError::Zero
        );
        let set = labels(&[(Mark::Hide, [1.0, 0.0, 0.0])]);
        assert_eq!(
            set.nearest(&[1.0, 0.0]).unwrap_err(),
            LabelError::OtherPack {
                labels: 3,
                network: 2
            }
        );
        assert_eq!(
            "revealed".parse::<Mark>().unwrap_err(),
            "unknown label \"revealed\": expected \"hide\" or \"show\""
        );
    }

    #[test]
    fn no_labels_change_nothing() {
        let set = UserLabels::new(Vec::new(), &[]).unwrap();
        assert_eq!(set.nearest(&[1.0, 2.0]).unwrap(), None);
    }
}
