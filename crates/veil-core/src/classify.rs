//! A loaded pack judging images: the one code path behind `veil-train predict`, the playground
//! page and the extension.

use std::collections::BTreeMap;

use burn::prelude::*;
use image::RgbaImage;
use serde::Serialize;

use crate::model::Cnn;
use crate::operating_points::Strictness;
use crate::pack::{FilterPack, PackError, PackMetadata};
use crate::preprocess::{self, PreprocessError};
use crate::user_labels::{self, LabelError, LabelMatch, Mark, UserLabels};

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Image(#[from] PreprocessError),
    #[error("the {backend} backend failed to return results: {message}")]
    Backend { backend: String, message: String },
    #[error(transparent)]
    Labels(#[from] LabelError),
}

/// What a filter says about one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The most probable label.
    pub label: String,
    /// Its probability.
    pub probability: f32,
    /// The probability that it shows a flagged label (`Output::flagged_probability`).
    pub flagged_probability: f32,
    /// Whether the image should be hidden: the pack's verdict at the requested strictness,
    /// unless a labelled picture is near ([`user_labels::flagged`]).
    pub flagged: bool,
    /// The user's label that decided, if one did.
    pub label_match: Option<LabelMatch>,
    /// Probability of every label.
    pub scores: BTreeMap<String, f32>,
}

/// An image made into a pack's network input ([`Classifier::prepare`]).
pub struct Prepared {
    /// [`preprocess::content_key`] of the input pixels.
    pub key: String,
    input: Vec<f32>,
}

pub struct Classifier {
    model: Cnn,
    metadata: PackMetadata,
    flagged_indices: Vec<usize>,
    device: Device,
}

impl Classifier {
    pub fn new(pack: &FilterPack, device: &Device) -> Result<Self, PackError> {
        Ok(Self {
            model: pack.judging_model(device)?,
            metadata: pack.metadata.clone(),
            flagged_indices: pack.metadata.flagged_indices(),
            device: device.clone(),
        })
    }

    pub fn metadata(&self) -> &PackMetadata {
        &self.metadata
    }

    /// Judges a batch of images in one forward pass.
    pub async fn classify(
        &self,
        images: &[RgbaImage],
        strictness: Strictness,
    ) -> Result<Vec<Verdict>, ClassifyError> {
        let prepared: Vec<Prepared> = images.iter().map(|image| self.prepare(image)).collect();
        let no_labels = UserLabels::default();
        self.classify_prepared(&prepared.iter().collect::<Vec<_>>(), strictness, &no_labels)
            .await
    }

    /// `image` as this pack's network takes it, with its content key: a caller that has
    /// judged that key before can skip the network.
    pub fn prepare(&self, image: &RgbaImage) -> Prepared {
        let pixels = preprocess::input_pixels(image, self.metadata.architecture.input_size());
        Prepared {
            key: preprocess::content_key(&pixels),
            input: preprocess::channel_major(&pixels),
        }
    }

    /// Judges prepared images in one forward pass, the user's `labels` (of [`Self::likeness`]
    /// vectors from this pack) overruling the pack where a labelled picture is near.
    pub async fn classify_prepared(
        &self,
        prepared: &[&Prepared],
        strictness: Strictness,
        labels: &UserLabels,
    ) -> Result<Vec<Verdict>, ClassifyError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let (features, logits) = self.model.features_and_logits(self.batch(prepared));
        let rows = read_rows(self.metadata.output.probabilities(logits)).await?;
        let features = if labels.is_empty() {
            vec![Vec::new(); rows.len()]
        } else {
            read_rows(features).await?
        };
        let threshold = self.metadata.operating_points.threshold(strictness);
        rows.into_iter()
            .zip(features)
            .map(|(row, features)| {
                let nearest = if labels.is_empty() {
                    None
                } else {
                    labels.nearest(self.likeness(&features))?
                };
                Ok(self.verdict(row, threshold, nearest))
            })
            .collect()
    }

    /// The feature vectors the pack's output layer reads, one per image: what a user's label
    /// on that image keeps ([`UserLabels`]).
    pub async fn features(&self, prepared: &[&Prepared]) -> Result<Vec<Vec<f32>>, ClassifyError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let (features, _) = self.model.features_and_logits(self.batch(prepared));
        read_rows(features).await
    }

    /// The part of [`Self::features`] that [`UserLabels`] compare pictures by
    /// (`Architecture::likeness`).
    pub fn likeness<'a>(&self, features: &'a [f32]) -> &'a [f32] {
        self.metadata.architecture.likeness(features)
    }

    /// The user's labels for this pack: their marks, and their pictures' [`Self::features`]
    /// laid end to end.
    pub fn labels(&self, marks: Vec<Mark>, features: &[f32]) -> Result<UserLabels, LabelError> {
        UserLabels::from_rows(marks, features, |row| self.likeness(row))
    }

    fn batch(&self, prepared: &[&Prepared]) -> Tensor<4> {
        let size = self.metadata.architecture.input_size();
        let inputs: Vec<&[f32]> = prepared.iter().map(|p| p.input.as_slice()).collect();
        preprocess::batch(&inputs, size, &self.device)
    }

    fn verdict(&self, scores: Vec<f32>, threshold: f32, nearest: Option<LabelMatch>) -> Verdict {
        let (best, probability) = scores
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a pack has at least two labels");
        let flagged_probability = self
            .metadata
            .output
            .flagged_probability(&scores, &self.flagged_indices);
        Verdict {
            label: self.metadata.labels[best].clone(),
            probability,
            flagged_probability,
            flagged: user_labels::flagged(flagged_probability >= threshold, nearest),
            label_match: nearest,
            scores: self.metadata.labels.iter().cloned().zip(scores).collect(),
        }
    }
}

/// Reads a `[rows, columns]` tensor back to the host. Asynchronous because WebGPU in a browser
/// can only read buffers asynchronously; native callers block on it.
pub async fn read_rows(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>, ClassifyError> {
    let [_, columns] = tensor.dims();
    let device = tensor.device();
    let backend_error = |message: String| ClassifyError::Backend {
        backend: format!("{device:?}"),
        message,
    };
    let values = tensor
        .into_data_async()
        .await
        .map_err(|error| backend_error(format!("{error:?}")))?
        .try_to_vec::<f32>()
        .map_err(|error| backend_error(format!("{error:?}")))?;
    Ok(values.chunks(columns).map(<[f32]>::to_vec).collect())
}
