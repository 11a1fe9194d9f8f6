//! The filter pack: one file holding everything a browser needs to run a filter, checked before
//! anything in it is trusted.
//!
//! Layout (all integers little-endian):
//!
//! | offset        | size | what                                            |
//! |---------------|------|-------------------------------------------------|
//! | 0             | 8    | magic `VEILPACK`                                |
//! | 8             | 4    | format version ([`FORMAT_VERSION`])             |
//! | 12            | 4    | metadata length `m`                             |
//! | 16            | 8    | weights length `w`                              |
//! | 24            | m    | metadata, JSON ([`PackMetadata`])               |
//! | 24 + m        | w    | weights, burnpack (burn's own record format)    |
//! | 24 + m + w    | 32   | SHA-256 of every byte before it                 |
//!
//! The weights are f32 or f16 ([`Precision`]: each tensor records its own dtype); a loaded
//! network always computes in f32. They carry no parameter ids, so the same weights always make
//! the same bytes.
//!
//! The header and the trailing checksum keep this layout in every format version, so a pack of
//! any version is verified before anything version-specific is read.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, FloatDType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Architecture, Cnn, Output};
use crate::operating_points::{OperatingPoints, Strictness};
use crate::quality::Quality;

pub const MAGIC: &[u8; 8] = b"VEILPACK";
/// The format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Conventional file extension.
pub const EXTENSION: &str = "veilpack";

const HEADER_LEN: usize = 24;
const CHECKSUM_LEN: usize = 32;
/// Metadata is a few kilobytes; anything near this is not a pack.
const MAX_METADATA_LEN: usize = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PackError {
    #[error(
        "not a Veil filter pack (it does not start with VEILPACK); was this file made by `veil-train`?"
    )]
    NotAPack,
    #[error("the filter pack is truncated: {0}; download or copy it again")]
    Truncated(String),
    #[error(
        "the filter pack was made by a newer Veil (pack format {found}; this build reads up to {supported}): update Veil to use it"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error(
        "the filter pack is corrupt (checksum mismatch): it was damaged after it was written; copy it again or re-export it with `veil-train`"
    )]
    ChecksumMismatch,
    #[error("the filter pack's metadata is invalid: {0}")]
    BadMetadata(String),
    #[error("the filter pack's weights do not fit its architecture: {0}")]
    BadWeights(String),
    #[error(
        "the filter pack's network is too large for the browser: {weights_mb:.1} MB of weights, and Veil holds a copy in each of its judging workers, so it takes packs of at most {limit_mb:.0} MB"
    )]
    TooLargeForBrowser { weights_mb: f64, limit_mb: f64 },
}

/// The most weights a pack may carry into the browser, in bytes: each judging worker (up to
/// four) builds its own copy of the network, in f32, so a 48 MB pack (96 MB in memory if it
/// is f16) already costs a few hundred megabytes.
pub const BROWSER_WEIGHTS_LIMIT: usize = 48 << 20;

/// Measured quality of the filter, written by the trainer so users can judge a pack before
/// installing it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSummary {
    pub epochs: usize,
    pub train_images: usize,
    pub validation_images: usize,
    /// Share of validation images whose most probable label is right, for the epoch kept; none
    /// for a pack nothing was trained for (a concept pack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f32>,
    /// Mean cross-entropy of the validation images' labels (binary, per label, for multi-label
    /// packs), for the epoch kept; none where
    /// nothing was trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackMetadata {
    pub name: String,
    pub description: String,
    pub architecture: Architecture,
    /// Class names, in the order of the network's outputs.
    pub labels: Vec<String>,
    /// One label per image, or any number (packs from before this field are single-label).
    #[serde(default)]
    pub output: Output,
    /// The labels that mean "hide this": `output` turns their probabilities into the flagged
    /// probability.
    pub flagged_labels: Vec<String>,
    /// Words that turn this filter on when the user types them in the popup.
    pub keywords: Vec<String>,
    pub operating_points: OperatingPoints,
    pub training: TrainingSummary,
    /// Measured on the held-out test split, when the dataset had one (packs from before this
    /// field have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// The program and version that wrote the pack.
    pub created_by: String,
}

impl PackMetadata {
    fn validate(&self) -> Result<(), String> {
        self.architecture.validate()?;
        if self.labels.len() != self.architecture.num_classes() {
            return Err(format!(
                "{} labels for a network with {} outputs",
                self.labels.len(),
                self.architecture.num_classes()
            ));
        }
        if self.flagged_labels.is_empty() {
            return Err("flagged_labels is empty: the filter would never hide anything".into());
        }
        if let Some(unknown) = self
            .flagged_labels
            .iter()
            .find(|label| !self.labels.contains(label))
        {
            return Err(format!(
                "flagged label {unknown:?} is not one of the labels {:?}",
                self.labels
            ));
        }
        let points = self.operating_points;
        for name in Strictness::ALL {
            let value = points.threshold(name);
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "operating point {name} = {value} is not a probability"
                ));
            }
        }
        Ok(())
    }

    /// Output indices whose probabilities make up the flagged probability.
    pub fn flagged_indices(&self) -> Vec<usize> {
        self.labels
            .iter()
            .enumerate()
            .filter(|(_, label)| self.flagged_labels.contains(label))
            .map(|(index, _)| index)
            .collect()
    }
}

/// How a pack stores its weights: f16 halves the file (a pretrained backbone's 18 MB become 9)
/// at the cost of rounding each weight to 11 significant bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F16,
}

/// Casts every float tensor of a module (parameters and BatchNorm statistics).
struct CastFloats(FloatDType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// Rewrites burnpack bytes without their parameter ids. burn draws each id at random when a
/// module is built, so two trainings with one seed would make packs that differ in 8 bytes a
/// tensor; an id only ties a parameter to its optimizer state within one training, and a loaded
/// pack gets fresh ones. The reader lists tensors by name, so their order is fixed too.
fn without_param_ids(bytes: Bytes) -> Result<Bytes, burn_pack::Error> {
    let tensors = burn_pack::Reader::from_bytes(bytes)?
        .into_tensors()?
        .into_iter()
        .map(|tensor| {
            let (name, dtype, shape, _param_id, bytes) = tensor.into_parts()?;
            Ok(burn_pack::Tensor::new(name, dtype, shape, None, bytes))
        })
        .collect::<Result<Vec<_>, burn_pack::Error>>()?;
    burn_pack::Writer::new(tensors).into_bytes()
}

/// A parsed, checksum-verified pack. Weights stay as bytes until a model is built on a device.
#[derive(Debug, Clone)]
pub struct FilterPack {
    pub metadata: PackMetadata,
    weights: Vec<u8>,
}

impl FilterPack {
    /// Packs a trained model. Reads the weights back synchronously, so call it natively (the
    /// trainer), not on a browser's WebGPU device.
    pub fn from_model(
        metadata: PackMetadata,
        model: &Cnn,
        precision: Precision,
    ) -> Result<Self, PackError> {
        metadata.validate().map_err(PackError::BadMetadata)?;
        let model = match precision {
            Precision::F32 => model.clone(),
            // Cast a copy made through a record: a clone shares BatchNorm's running statistics,
            // which the cast would change in the caller's model too.
            Precision::F16 => {
                let device = model.devices().into_iter().next().unwrap_or_default();
                metadata
                    .architecture
                    .init(&device)
                    .load_record(model.clone().into_record())
                    .map(&mut CastFloats(FloatDType::F16))
            }
        };
        let weights = model
            .into_record()
            .into_bytes()
            .map_err(|error| PackError::BadWeights(error.to_string()))?;
        let weights =
            without_param_ids(weights).map_err(|error| PackError::BadWeights(error.to_string()))?;
        Ok(Self {
            metadata,
            weights: weights.to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let metadata =
            serde_json::to_vec(&self.metadata).expect("pack metadata is plain data and serializes");
        let mut bytes = Vec::with_capacity(HEADER_LEN + metadata.len() + self.weights.len() + 32);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(self.weights.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&metadata);
        bytes.extend_from_slice(&self.weights);
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum);
        bytes
    }

    /// Parses and verifies a pack. Never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(PackError::NotAPack);
        }
        if bytes.len() < HEADER_LEN {
            return Err(PackError::Truncated(format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let version = u32_at(8);
        let metadata_len = u32_at(12) as usize;
        let weights_len = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
        let expected = (HEADER_LEN as u64)
            .saturating_add(metadata_len as u64)
            .saturating_add(weights_len)
            .saturating_add(CHECKSUM_LEN as u64);
        if (bytes.len() as u64) < expected {
            return Err(PackError::Truncated(format!(
                "the header promises {expected} bytes but the file has {}",
                bytes.len()
            )));
        }
        if bytes.len() as u64 > expected {
            return Err(PackError::ChecksumMismatch);
        }
        let body_len = bytes.len() - CHECKSUM_LEN;
        if Sha256::digest(&bytes[..body_len]).as_slice() != &bytes[body_len..] {
            return Err(PackError::ChecksumMismatch);
        }
        // Only an intact file can be trusted to name its version: a damaged version field is
        // corruption, not a pack from the future.
        if version > FORMAT_VERSION || version == 0 {
            return Err(PackError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if metadata_len > MAX_METADATA_LEN {
            return Err(PackError::BadMetadata(format!(
                "{metadata_len} bytes of metadata is more than a pack ever holds"
            )));
        }
        let metadata_end = HEADER_LEN + metadata_len;
        let metadata: PackMetadata = serde_json::from_slice(&bytes[HEADER_LEN..metadata_end])
            .map_err(|error| PackError::BadMetadata(error.to_string()))?;
        metadata.validate().map_err(PackError::BadMetadata)?;
        Ok(Self {
            metadata,
            weights: bytes[metadata_end..body_len].to_vec(),
        })
    }

    /// Builds the network on `device` and loads the pack's weights into it. Only writes to the
    /// device, so it is safe on WebGPU in a browser (where synchronous reads are not).
    pub fn model(&self, device: &Device) -> Result<Cnn, PackError> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.weights.clone()))
            .map_err(|error| PackError::BadWeights(error.to_string()))?
            // f16 weights become the f32 the network computes in.
            .cast_to_module_dtype();
        self.metadata
            .architecture
            .init(device)
            .try_load_record(record)
            .map_err(|error| PackError::BadWeights(error.to_string()))
    }

    /// [`Self::model`] as judging runs it, with its batch norms folded into the layers before
    /// them ([`Cnn::fold_batch_norms`]): what the browser and `veil-train predict` compute, and
    /// so what the trainer measures a pack's thresholds and quality on.
    pub fn judging_model(&self, device: &Device) -> Result<Cnn, PackError> {
        Ok(self.model(device)?.fold_batch_norms())
    }

    /// Size of the weights section, in bytes.
    pub fn weights_len(&self) -> usize {
        self.weights.len()
    }

    /// Refuses a pack with more than `limit` bytes of weights ([`BROWSER_WEIGHTS_LIMIT`] in the
    /// browser), before any network is built from it.
    pub fn check_weights_within(&self, limit: usize) -> Result<(), PackError> {
        if self.weights.len() <= limit {
            return Ok(());
        }
        let mb = |bytes: usize| bytes as f64 / 1e6;
        Err(PackError::TooLargeForBrowser {
            weights_mb: mb(self.weights.len()),
            limit_mb: mb(limit),
        })
    }
}
