//! Running a network on labelled examples: label probabilities in batches, the most probable
//! label, and the flagged probability that every threshold and quality figure is measured on.

use burn::prelude::*;
use veil_core::classify::read_rows;
use veil_core::{Cnn, Output, preprocess};

use crate::data::Example;

/// Label probabilities for `examples`, in batches, on `model`'s device.
pub fn probabilities(
    model: &Cnn,
    examples: &[Example],
    size: usize,
    output: Output,
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Vec<Vec<f32>>> {
    rows_in_batches(examples, batch_size, |chunk| {
        model.probabilities(images_of(chunk, size, device), output)
    })
}

/// `compute` on `items` a batch at a time, each batch's `[batch, columns]` result read back as
/// one row per item.
pub fn rows_in_batches<T>(
    items: &[T],
    batch_size: usize,
    mut compute: impl FnMut(&[T]) -> Tensor<2>,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut rows = Vec::with_capacity(items.len());
    for chunk in items.chunks(batch_size) {
        rows.extend(pollster::block_on(read_rows(compute(chunk)))?);
    }
    Ok(rows)
}

/// The network input for a batch of examples.
pub fn images_of(examples: &[Example], size: usize, device: &Device) -> Tensor<4> {
    let inputs: Vec<Vec<f32>> = examples.iter().map(|e| e.input.clone()).collect();
    preprocess::batch(&inputs, size, device)
}

/// The index of the largest value (the first of equal ones); 0 for an empty row.
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(index, _)| index)
}

/// Each example's flagged probability (the sum over the pack's `flagged` outputs) and whether
/// it should be flagged (its label is one of `targets`: the same indices for a trained pack,
/// the data's own classes for a concept pack).
pub fn scored(
    rows: &[Vec<f32>],
    examples: &[Example],
    output: Output,
    flagged: &[usize],
    targets: &[usize],
) -> Vec<(f32, bool)> {
    rows.iter()
        .zip(examples)
        .map(|(row, example)| {
            (
                output.flagged_probability(row, flagged),
                example.labels.iter().any(|label| targets.contains(label)),
            )
        })
        .collect()
}
