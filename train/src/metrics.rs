//! Seed S1's multi-label measures, on label probabilities (one row per image) and each image's
//! true labels; a label counts as predicted when its probability is at least 0.5.

use crate::data::Example;
use crate::training::argmax;

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
        if !predicted.is_empty() {
            precision += hits / predicted.len() as f64;
        }
        if !example.labels.is_empty() {
            recall += hits / example.labels.len() as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    (precision / n, recall / n)
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
}
