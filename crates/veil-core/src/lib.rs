//! The part of Veil that the native trainer and the browser share, so that they can never
//! disagree: the CNN architecture family ([`model`], with the pretrained backbone in
//! [`efficientnet`], and [`fold`] for judging), how pixels become the network's input
//! ([`preprocess`]), the filter pack file ([`pack`]), how a loaded pack judges images
//! ([`classify`]), which posts and packs the user's keywords select ([`keywords`]) and how
//! thresholds are chosen from scored examples ([`operating_points`]) and how good a pack is on
//! held-out images ([`quality`]), how the user's own labels overrule a pack
//! ([`user_labels`]) and become a dataset ([`label_export`]).
//!
//! Model code is backend-agnostic through burn's runtime [`burn::tensor::Device`]: the same
//! `Cnn` runs on Flex (pure-Rust CPU, native and wasm), wgpu (Vulkan/Metal/DX12/WebGPU) or CUDA.

pub mod classify;
pub mod efficientnet;
pub mod fold;
pub mod keywords;
pub mod label_export;
pub mod model;
pub mod operating_points;
pub mod pack;
pub mod preprocess;
pub mod quality;
pub mod user_labels;

pub use classify::{Classifier, ClassifyError, Prepared, Verdict};
pub use efficientnet::EfficientNetLite0Config;
pub use keywords::KeywordSet;
pub use model::{Architecture, Cnn, ConvLayer, ConvStackConfig, LayersConfig, Output};
pub use operating_points::OperatingPoints;
pub use pack::{FilterPack, PackError, PackMetadata, Precision};
pub use user_labels::{LabelMatch, Mark, UserLabels};
