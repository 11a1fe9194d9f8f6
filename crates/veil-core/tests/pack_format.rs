//! The pack format end to end: a trained model survives export and reload exactly, and damaged
//! or foreign bytes are refused with a message instead of a panic.

use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use image::RgbaImage;
use veil_core::model::ConvStackConfig;
use veil_core::operating_points::Strictness;
use veil_core::pack::{FORMAT_VERSION, Precision, TrainingSummary};
use veil_core::preprocess;
use veil_core::{
    Architecture, Classifier, Cnn, FilterPack, OperatingPoints, Output, PackError, PackMetadata,
};

const SIZE: usize = 24;

fn metadata() -> PackMetadata {
    PackMetadata {
        name: "stripes".into(),
        description: "horizontal vs vertical stripes".into(),
        architecture: Architecture::ConvStack(ConvStackConfig {
            input_size: SIZE,
            channels: vec![4, 8],
            dense: 8,
            dropout: 0.0,
            num_classes: 2,
        }),
        labels: vec!["horizontal".into(), "vertical".into()],
        output: Output::SingleLabel,
        flagged_labels: vec!["vertical".into()],
        keywords: vec!["stripes".into()],
        operating_points: OperatingPoints::default(),
        quality: None,
        training: TrainingSummary::default(),
        created_by: "pack_format test".into(),
    }
}

fn stripes(vertical: bool, phase: u32) -> RgbaImage {
    RgbaImage::from_fn(40, 30, |x, y| {
        let along = if vertical { x } else { y };
        let on = ((along + phase) / 3).is_multiple_of(2);
        image::Rgba(if on {
            [230, 40, 40, 255]
        } else {
            [20, 20, 90, 255]
        })
    })
}

/// A few real optimizer steps, so the batch-norm statistics and weights are no longer their
/// initial values (a round trip of a fresh model would hide a lost running mean).
fn trained_model(device: &Device) -> Cnn {
    let device = device.clone().autodiff();
    device.seed(7);
    let images: Vec<RgbaImage> = (0..8).map(|i| stripes(i % 2 == 1, i)).collect();
    let inputs: Vec<Vec<f32>> = images
        .iter()
        .map(|im| preprocess::to_input(im, SIZE))
        .collect();
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..8).map(|i| (i % 2) as i64).collect::<Vec<_>>(), [8]),
        &device,
    );
    let mut model = metadata().architecture.init(&device);
    let mut optimizer = AdamConfig::new().init();
    for _ in 0..5 {
        let logits = model.forward(preprocess::batch(&inputs, SIZE, &device));
        let loss = CrossEntropyLoss::new(None, &device).forward(logits, targets.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-2, model, grads);
    }
    model.valid()
}

fn pack_bytes() -> (Vec<u8>, Cnn) {
    let device = Device::flex();
    let model = trained_model(&device);
    let pack = FilterPack::from_model(metadata(), &model, Precision::F32).unwrap();
    (pack.to_bytes(), model)
}

#[test]
fn exported_pack_predicts_exactly_like_the_in_memory_model() {
    let (bytes, model) = pack_bytes();
    let device = Device::flex();
    let images: Vec<RgbaImage> = (0..6).map(|i| stripes(i % 3 == 0, i * 5)).collect();
    let inputs: Vec<Vec<f32>> = images
        .iter()
        .map(|im| preprocess::to_input(im, SIZE))
        .collect();
    // Judging folds the batch norms (`Cnn::fold_batch_norms`): so does the expectation, so that
    // any difference is the pack's.
    let expected = model
        .clone()
        .fold_batch_norms()
        .probabilities(
            preprocess::batch(&inputs, SIZE, &device),
            Output::SingleLabel,
        )
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();

    let pack = FilterPack::from_bytes(&bytes).unwrap();
    assert_eq!(pack.metadata, metadata());
    let classifier = Classifier::new(&pack, &device).unwrap();
    let verdicts = pollster::block_on(classifier.classify(&images, Strictness::Balanced)).unwrap();
    let actual: Vec<f32> = verdicts
        .iter()
        .flat_map(|v| [v.scores["horizontal"], v.scores["vertical"]])
        .collect();
    assert_eq!(
        actual, expected,
        "reloaded weights must give bit-identical probabilities"
    );
    for verdict in &verdicts {
        assert_eq!(verdict.flagged_probability, verdict.scores["vertical"]);
        assert_eq!(verdict.flagged, verdict.flagged_probability >= 0.5);
    }
}

#[test]
fn an_f16_pack_saves_two_bytes_a_weight_and_predicts_within_rounding_of_the_f32_model() {
    let (f32_bytes, model) = pack_bytes();
    let f32_pack = FilterPack::from_bytes(&f32_bytes).unwrap();
    let f16_pack = FilterPack::from_bytes(
        &FilterPack::from_model(metadata(), &model, Precision::F16)
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    // Two bytes saved per number; names and alignment stay.
    let saved = f32_pack.weights_len() - f16_pack.weights_len();
    let numbers = model.num_params();
    assert!(
        saved as f64 >= 0.95 * (2 * numbers) as f64,
        "{saved} bytes saved for {numbers} numbers"
    );
    let device = Device::flex();
    let inputs: Vec<Vec<f32>> = (0..6)
        .map(|i| preprocess::to_input(&stripes(i % 3 == 0, i * 5), SIZE))
        .collect();
    let probabilities = |model: &Cnn| {
        model
            .probabilities(
                preprocess::batch(&inputs, SIZE, &device),
                Output::SingleLabel,
            )
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let reloaded = f16_pack.model(&device).unwrap();
    let expected = probabilities(&model);
    let actual = probabilities(&reloaded);
    let worst = expected
        .iter()
        .zip(&actual)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst > 0.0, "f16 storage rounds the weights");
    assert!(worst < 1e-2, "f16 probabilities differ by {worst}");
}

#[test]
fn a_packs_bytes_depend_on_its_weights_alone() {
    // burn gives every parameter a random id when a network is built, so a network loaded from a
    // pack holds the pack's weights under other ids (as do two trainings with one seed): the
    // ids must not reach the file.
    let device = Device::flex();
    let model = trained_model(&device);
    for precision in [Precision::F32, Precision::F16] {
        let pack = FilterPack::from_model(metadata(), &model, precision).unwrap();
        let reloaded = pack.model(&device).unwrap();
        let again = FilterPack::from_model(metadata(), &reloaded, precision).unwrap();
        assert!(
            pack.to_bytes() == again.to_bytes(),
            "{precision:?}: the same weights made other bytes"
        );
    }
}

#[test]
fn every_single_flipped_byte_is_refused() {
    let (bytes, _) = pack_bytes();
    // Every byte of the header and metadata, and a spread of weight and checksum bytes.
    let positions = (0..bytes.len()).filter(|&i| i < 600 || i % 97 == 0 || i + 40 > bytes.len());
    for position in positions {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x10;
        let result = FilterPack::from_bytes(&damaged);
        assert!(result.is_err(), "flipping byte {position} went unnoticed");
    }
}

#[test]
fn a_flipped_weight_byte_says_corrupt() {
    let (mut bytes, _) = pack_bytes();
    let middle = bytes.len() - 100;
    bytes[middle] ^= 1;
    let error = FilterPack::from_bytes(&bytes).unwrap_err();
    assert_eq!(error, PackError::ChecksumMismatch);
    assert!(error.to_string().contains("corrupt"), "{error}");
}

#[test]
fn every_truncation_is_refused() {
    let (bytes, _) = pack_bytes();
    for length in (0..bytes.len()).step_by(13).chain([bytes.len() - 1]) {
        let error = FilterPack::from_bytes(&bytes[..length]).unwrap_err();
        assert!(
            matches!(error, PackError::Truncated(_) | PackError::NotAPack),
            "cut at {length}: {error}"
        );
    }
    let error = FilterPack::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(error.to_string().contains("truncated"), "{error}");
}

#[test]
fn a_future_format_version_asks_for_an_update() {
    let (mut bytes, _) = pack_bytes();
    // What a genuine future pack looks like: another version number, an intact checksum.
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let body_len = bytes.len() - 32;
    let checksum = <sha2::Sha256 as sha2::Digest>::digest(&bytes[..body_len]);
    bytes[body_len..].copy_from_slice(&checksum);
    let error = FilterPack::from_bytes(&bytes).unwrap_err();
    assert_eq!(
        error,
        PackError::UnsupportedVersion {
            found: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        }
    );
    assert!(error.to_string().contains("update Veil"), "{error}");
}

#[test]
fn a_damaged_version_field_is_corruption_not_the_future() {
    let (mut bytes, _) = pack_bytes();
    bytes[9] ^= 0x40;
    assert_eq!(
        FilterPack::from_bytes(&bytes).unwrap_err(),
        PackError::ChecksumMismatch
    );
}

#[test]
fn foreign_files_are_not_packs() {
    assert_eq!(
        FilterPack::from_bytes(b"").unwrap_err(),
        PackError::NotAPack
    );
    assert_eq!(
        FilterPack::from_bytes(b"\x89PNG\r\n\x1a\n and so on").unwrap_err(),
        PackError::NotAPack
    );
}

#[test]
fn metadata_that_contradicts_the_network_is_refused_at_export() {
    let device = Device::flex();
    let model = metadata().architecture.init(&device);
    let mut bad = metadata();
    bad.flagged_labels = vec!["diagonal".into()];
    let error = FilterPack::from_model(bad, &model, Precision::F32).unwrap_err();
    assert!(error.to_string().contains("diagonal"), "{error}");
}

#[test]
fn weights_for_another_architecture_are_refused_on_load() {
    let (bytes, _) = pack_bytes();
    let mut other = metadata();
    other.architecture = Architecture::ConvStack(ConvStackConfig {
        input_size: SIZE,
        channels: vec![4, 16],
        dense: 8,
        dropout: 0.0,
        num_classes: 2,
    });
    // A well-formed pack whose metadata promises a 4-16 net but whose weights are a 4-8 net's.
    let pack = FilterPack::from_bytes(&with_metadata(&bytes, &other)).unwrap();
    let error = Classifier::new(&pack, &Device::flex())
        .err()
        .expect("weights of a 4-8 net must not load into a 4-16 net");
    assert!(matches!(error, PackError::BadWeights(_)), "{error}");
}

/// Re-encodes `bytes` with other metadata but the same weights, with a valid checksum.
fn with_metadata(bytes: &[u8], metadata: &PackMetadata) -> Vec<u8> {
    let metadata_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let weights = &bytes[24 + metadata_len..bytes.len() - 32];
    let json = serde_json::to_vec(metadata).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(b"VEILPACK");
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(weights);
    let checksum = <sha2::Sha256 as sha2::Digest>::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

#[test]
fn a_pack_with_more_weights_than_the_browser_takes_is_refused_with_its_size() {
    let (bytes, _) = pack_bytes();
    let pack = FilterPack::from_bytes(&bytes).unwrap();
    assert_eq!(
        pack.check_weights_within(veil_core::pack::BROWSER_WEIGHTS_LIMIT),
        Ok(())
    );
    assert_eq!(pack.check_weights_within(pack.weights_len()), Ok(()));
    let refused = pack
        .check_weights_within(pack.weights_len() - 1)
        .unwrap_err();
    assert!(matches!(refused, PackError::TooLargeForBrowser { .. }));
    assert!(
        refused.to_string().contains("too large for the browser"),
        "{refused}"
    );
}
