//! Every classification measure the trainer reports, on label probabilities (one row per image)
//! and each image's true labels: the confusion matrix and per-class precision / recall / F1 of
//! single-label packs, and seed S1's multi-label measures, where a label counts as predicted when
//! its probability is at least 0.5. One convention for an empty denominator throughout:
//! `veil_core::quality::share`'s 0 (the pack's own quality figures use it too).

use veil_core::quality::{f1, share};

use crate::data::Example;
use crate::inference::argmax;

const PREDICTED: f32 = 0.5;

/// The share of (image, label) decisions that are wrong.
pub fn hamming_loss(rows: &[Vec<f32>], examples: &[Example]) -> f64 {
    let decisions: usize = rows.iter().map(Vec::len).sum();
    let wrong = rows
        .iter()
        .zip(examples)
        .flat_map(|(row, example)| {
            row.iter()
                .enumerate()
                .filter(|&(label, &p)| (p >= PREDICTED) != example.labels.contains(&label))
        })
        .count();
    wrong as f64 / decisions.max(1) as f64
}

/// The share of images whose most probable label is one of theirs (S1's "top class").
pub fn top_class_hit_rate(rows: &[Vec<f32>], examples: &[Example]) -> f64 {
    let hits = rows
        .iter()
        .zip(examples)
        .filter(|(row, example)| example.labels.contains(&argmax(row)))
        .count();
    hits as f64 / rows.len().max(1) as f64
}

/// Precision and recall per image, averaged over the images (sample-averaged, as S1 reported
/// them); an image with nothing predicted or nothing to find counts 0 for that measure.
pub fn sample_precision_recall(rows: &[Vec<f32>], examples: &[Example]) -> (f64, f64) {
    let (mut precision, mut recall) = (0.0, 0.0);
    for (row, example) in rows.iter().zip(examples) {
        let predicted: Vec<usize> = (0..row.len()).filter(|&l| row[l] >= PREDICTED).collect();
        let hits = predicted
            .iter()
            .filter(|l| example.labels.contains(l))
            .count() as f64;
        precision += share(hits, predicted.len() as f64);
        recall += share(hits, example.labels.len() as f64);
    }
    let n = rows.len().max(1) as f64;
    (precision / n, recall / n)
}

/// Precision, recall and F1 from the counts of one class or label: `hits` of the `predicted`
/// ones were right, out of `actual` that should have been found.
pub fn precision_recall_f1(hits: usize, predicted: usize, actual: usize) -> (f64, f64, f64) {
    let precision = share(hits as f64, predicted as f64);
    let recall = share(hits as f64, actual as f64);
    (precision, recall, f1(precision, recall))
}

/// `matrix[truth][predicted]` over the pack's labels, by the most probable label.
pub fn confusion_matrix(rows: &[Vec<f32>], labels: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut matrix = vec![vec![0; classes]; classes];
    for (row, &truth) in rows.iter().zip(labels) {
        matrix[truth][argmax(row)] += 1;
    }
    matrix
}

/// Precision, recall and F1 of each class from a confusion matrix (by [`share`]'s convention).
pub fn per_class(matrix: &[Vec<usize>]) -> Vec<(f64, f64, f64)> {
    (0..matrix.len())
        .map(|class| {
            let hits = matrix[class][class];
            let predicted: usize = matrix.iter().map(|row| row[class]).sum();
            let actual: usize = matrix[class].iter().sum();
            precision_recall_f1(hits, predicted, actual)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(labels: &[usize]) -> Example {
        Example {
            path: "x.png".into(),
            input: Vec::new(),
            labels: labels.to_vec(),
        }
    }

    #[test]
    fn the_measures_count_decisions_images_and_labels_as_s1_did() {
        let examples = [example(&[0, 2]), example(&[1])];
        let rows = vec![vec![0.9, 0.6, 0.2], vec![0.1, 0.4, 0.3]];
        // Wrong: image 0 labels 1 and 2, image 1 label 1: 3 of 6 decisions.
        assert_eq!(hamming_loss(&rows, &examples), 0.5);
        // Top: label 0 (one of image 0's), label 1 (image 1's).
        assert_eq!(top_class_hit_rate(&rows, &examples), 1.0);
        // Image 0 predicts {0, 1}: precision 1/2, recall 1/2; image 1 predicts nothing: 0, 0.
        assert_eq!(sample_precision_recall(&rows, &examples), (0.25, 0.25));
    }

    #[test]
    fn an_empty_denominator_scores_zero() {
        // Nothing predicted, three to find: no precision to speak of, nothing found.
        assert_eq!(precision_recall_f1(0, 0, 3), (0.0, 0.0, 0.0));
        assert_eq!(precision_recall_f1(0, 2, 0), (0.0, 0.0, 0.0));
        let (precision, recall, f1) = precision_recall_f1(2, 4, 2);
        assert_eq!((precision, recall), (0.5, 1.0));
        assert!((f1 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn confusion_matrix_and_per_class_scores_count_by_the_most_probable_class() {
        // Truth 0 predicted 0, 0 → 1, 1 → 1, 1 → 1.
        let rows = vec![
            vec![0.9, 0.1],
            vec![0.3, 0.7],
            vec![0.2, 0.8],
            vec![0.4, 0.6],
        ];
        let matrix = confusion_matrix(&rows, &[0, 0, 1, 1], 2);
        assert_eq!(matrix, vec![vec![1, 1], vec![0, 2]]);
        let scores = per_class(&matrix);
        assert_eq!((scores[0].0, scores[0].1), (1.0, 0.5));
        assert!((scores[0].2 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores[1].0, 2.0 / 3.0);
        assert_eq!(scores[1].1, 1.0);
    }
}
