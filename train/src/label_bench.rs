//! What the user's labels do (`veil_core::user_labels`), measured on a dataset: how similar a
//! picture's features stay when it is cropped, halved, re-encoded or mirrored, against how
//! similar two different pictures get (the evidence for `user_labels::NEAR`); and, for a kind
//! of picture the pack does not flag, how much of it a few "hide images like this" labels catch
//! and what else they catch.

use std::io::Cursor;
use std::path::PathBuf;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, RgbaImage};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use veil_core::operating_points::Strictness;
use veil_core::user_labels::{self, Mark, UserLabels};
use veil_core::{Classifier, ClassifyError, Prepared};

/// Images per forward pass.
const BATCH: usize = 16;

/// A dataset picture as the pack sees it.
pub struct Picture {
    pub path: PathBuf,
    pub source: String,
    /// The picture it was cut from (its own path where the manifest does not say).
    pub original: String,
    /// What labels compare it by (`Classifier::likeness`).
    pub features: Vec<f32>,
    /// The pack's own verdict at the balanced point.
    pub flagged: bool,
}

/// The same picture made different in the ways a feed makes it different.
#[derive(Debug, Clone, Copy)]
pub enum Variant {
    /// The centre, keeping this share of each side.
    Crop(f32),
    Half,
    Jpeg(u8),
    Mirror,
}

pub const VARIANTS: [Variant; 6] = [
    Variant::Crop(0.9),
    Variant::Crop(0.8),
    Variant::Half,
    Variant::Jpeg(75),
    Variant::Jpeg(50),
    Variant::Mirror,
];

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Variant::Crop(share) => write!(f, "centre crop, {:.0}% of each side", share * 100.0),
            Variant::Half => write!(f, "half the width and height"),
            Variant::Jpeg(quality) => write!(f, "JPEG at quality {quality}"),
            Variant::Mirror => write!(f, "mirrored"),
        }
    }
}

impl Variant {
    pub fn apply(self, image: &RgbaImage) -> RgbaImage {
        let (width, height) = image.dimensions();
        match self {
            Variant::Crop(share) => {
                let (w, h) = (
                    (width as f32 * share) as u32,
                    (height as f32 * share) as u32,
                );
                image::imageops::crop_imm(
                    image,
                    (width - w) / 2,
                    (height - h) / 2,
                    w.max(1),
                    h.max(1),
                )
                .to_image()
            }
            Variant::Half => image::imageops::resize(
                image,
                (width / 2).max(1),
                (height / 2).max(1),
                FilterType::Triangle,
            ),
            Variant::Jpeg(quality) => {
                let rgb = DynamicImage::ImageRgba8(image.clone()).to_rgb8();
                let mut bytes = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(
                    &mut Cursor::new(&mut bytes),
                    quality,
                )
                .encode_image(&rgb)
                .expect("an in-memory JPEG encode cannot fail");
                image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
                    .expect("a JPEG just encoded decodes")
                    .to_rgba8()
            }
            Variant::Mirror => image::imageops::flip_horizontal(image),
        }
    }
}

/// Each image's features, the part labels compare (`Classifier::likeness`), and the pack's
/// verdict, in batches.
pub fn judge(
    classifier: &Classifier,
    images: &[RgbaImage],
) -> Result<Vec<(Vec<f32>, bool)>, ClassifyError> {
    let mut judged = Vec::with_capacity(images.len());
    for chunk in images.chunks(BATCH) {
        let prepared: Vec<Prepared> = chunk
            .iter()
            .map(|image| classifier.prepare(image))
            .collect();
        let refs: Vec<&Prepared> = prepared.iter().collect();
        let features = pollster::block_on(classifier.features(&refs))?;
        let verdicts = pollster::block_on(classifier.classify_prepared(
            &refs,
            Strictness::Balanced,
            &UserLabels::default(),
        ))?;
        judged.extend(
            features
                .iter()
                .map(|row| classifier.likeness(row).to_vec())
                .zip(verdicts.into_iter().map(|v| v.flagged)),
        );
    }
    Ok(judged)
}

/// Similarities of each variant to its original, per variant, in [`VARIANTS`] order.
pub fn variant_similarities(
    classifier: &Classifier,
    originals: &[(RgbaImage, Vec<f32>)],
) -> Result<Vec<Vec<f32>>, ClassifyError> {
    VARIANTS
        .iter()
        .map(|variant| {
            let changed: Vec<RgbaImage> = originals
                .iter()
                .map(|(image, _)| variant.apply(image))
                .collect();
            Ok(judge(classifier, &changed)?
                .iter()
                .zip(originals)
                .map(|((features, _), (_, original))| user_labels::similarity(features, original))
                .collect())
        })
        .collect()
}

/// For each picture, the most similar picture cut from another original: its index and the
/// similarity.
pub fn nearest_others(pictures: &[Picture]) -> Vec<(usize, f32)> {
    pictures
        .iter()
        .enumerate()
        .map(|(i, picture)| {
            pictures
                .iter()
                .enumerate()
                .filter(|(_, other)| other.original != picture.original)
                .map(|(j, other)| {
                    (
                        j,
                        user_labels::similarity(&picture.features, &other.features),
                    )
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((i, 0.0))
        })
        .collect()
}

/// What `labels` "hide images like this" labels on pictures of one source do.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelsRow {
    pub labels: usize,
    /// The source's other pictures flagged, and how many there are.
    pub caught: (usize, usize),
    /// Pictures of other sources the pack left alone that the labels now flag, and how many
    /// the pack left alone.
    pub false_positives: (usize, usize),
}

/// For each label count, `kind`'s pictures in a seeded order: the first `labels` are labelled
/// "hide"; those of the rest cut from other originals must be caught (crops of a labelled
/// picture would flatter the figure); every other picture must keep its verdict. Counts that
/// leave nothing to catch are skipped.
pub fn labels_curve(
    pictures: &[Picture],
    kind: &str,
    counts: &[usize],
    seed: u64,
) -> Vec<LabelsRow> {
    let mut of_kind: Vec<&Picture> = pictures.iter().filter(|p| p.source == kind).collect();
    of_kind.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let others: Vec<&Picture> = pictures
        .iter()
        .filter(|p| p.source != kind && !p.flagged)
        .collect();
    counts
        .iter()
        .filter(|&&count| count < of_kind.len())
        .map(|&count| {
            let (labelled, rest) = of_kind.split_at(count);
            let seen: std::collections::HashSet<&str> =
                labelled.iter().map(|p| p.original.as_str()).collect();
            let held_out: Vec<&&Picture> = rest
                .iter()
                .filter(|p| !seen.contains(p.original.as_str()))
                .collect();
            let features: Vec<f32> = labelled
                .iter()
                .flat_map(|p| p.features.iter().copied())
                .collect();
            let labels = UserLabels::new(vec![Mark::Hide; count], &features)
                .expect("features of one pack have one length and are not all zero");
            let flags = |picture: &Picture| {
                let nearest = labels
                    .nearest(&picture.features)
                    .expect("one pack's features");
                user_labels::flagged(picture.flagged, nearest)
            };
            LabelsRow {
                labels: count,
                caught: (held_out.iter().filter(|p| flags(p)).count(), held_out.len()),
                false_positives: (others.iter().filter(|p| flags(p)).count(), others.len()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use burn::prelude::Device;
    use veil_core::efficientnet::FEATURES;
    use veil_core::pack::TrainingSummary;
    use veil_core::user_labels::NEAR;
    use veil_core::{
        Architecture, EfficientNetLite0Config, FilterPack, OperatingPoints, Output, PackMetadata,
        Precision,
    };

    use super::*;
    use crate::pretrained::{
        EFFICIENTNET_LITE0_WEIGHTS, IMAGENET_CLASSES, efficientnet_lite0, fetched,
    };

    /// The ImageNet backbone as a pack that flags every picture, or none (only a certain
    /// tench), so that only the labels can change a verdict.
    fn classifier(flags_everything: bool) -> Classifier {
        let device = Device::flex();
        let config = EfficientNetLite0Config::new(IMAGENET_CLASSES);
        let model =
            efficientnet_lite0(&fetched(EFFICIENTNET_LITE0_WEIGHTS), &config, &device).unwrap();
        let labels: Vec<String> = (0..IMAGENET_CLASSES)
            .map(|i| format!("class {i}"))
            .collect();
        let metadata = PackMetadata {
            name: "ImageNet".into(),
            description: String::new(),
            architecture: Architecture::EfficientNetLite0(config),
            flagged_labels: if flags_everything {
                labels.clone()
            } else {
                vec![labels[0].clone()]
            },
            labels,
            output: Output::SingleLabel,
            keywords: Vec::new(),
            operating_points: {
                let threshold = if flags_everything { 0.0 } else { 1.0 };
                OperatingPoints {
                    strict: threshold,
                    balanced: threshold,
                    relaxed: threshold,
                }
            },
            quality: None,
            training: TrainingSummary::default(),
            created_by: "test".into(),
        };
        let pack = FilterPack::from_model(metadata, &model, Precision::F32).unwrap();
        Classifier::new(&pack, &device).unwrap()
    }

    /// Debian's darknet sample photos (`cargo xtask setup` fetches them).
    fn photos() -> Vec<(String, RgbaImage)> {
        let dir = fetched("target/veil/backbones/samples");
        let mut photos: Vec<(String, RgbaImage)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .map(|path| {
                let image = veil_core::preprocess::decode(&std::fs::read(&path).unwrap()).unwrap();
                (
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    image,
                )
            })
            .collect();
        photos.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(photos.len() >= 5, "the sample photos are missing");
        photos
    }

    fn flagged(classifier: &Classifier, images: &[RgbaImage], labels: &UserLabels) -> Vec<bool> {
        let prepared: Vec<Prepared> = images
            .iter()
            .map(|image| classifier.prepare(image))
            .collect();
        let refs: Vec<&Prepared> = prepared.iter().collect();
        pollster::block_on(classifier.classify_prepared(&refs, Strictness::Balanced, labels))
            .unwrap()
            .into_iter()
            .map(|verdict| verdict.flagged)
            .collect()
    }

    #[test]
    fn a_label_decides_for_its_photo_cropped_halved_mirrored_or_re_encoded_and_for_no_other_photo()
    {
        let shows_nothing = classifier(false);
        let photos = photos();
        let images: Vec<RgbaImage> = photos.iter().map(|(_, image)| image.clone()).collect();
        let originals: Vec<Vec<f32>> = judge(&shows_nothing, &images)
            .unwrap()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert!(
            originals.iter().all(|f| f.len() == FEATURES),
            "labels compare the last map's averages"
        );
        for (i, a) in originals.iter().enumerate() {
            for (j, b) in originals.iter().enumerate().skip(i + 1) {
                let similarity = user_labels::similarity(a, b);
                assert!(
                    similarity < NEAR,
                    "{} and {} are {similarity} alike",
                    photos[i].0,
                    photos[j].0
                );
            }
        }

        // "Hide images like this" on the first photo, as it is: every version of it is hidden,
        // every other photo still shown.
        let whole =
            pollster::block_on(shows_nothing.features(&[&shows_nothing.prepare(&images[0])]))
                .unwrap()
                .remove(0);
        let hide = shows_nothing.labels(vec![Mark::Hide], &whole).unwrap();
        let versions: Vec<RgbaImage> = VARIANTS
            .iter()
            .map(|variant| variant.apply(&images[0]))
            .collect();
        assert_eq!(
            flagged(&shows_nothing, &versions, &hide),
            vec![true; VARIANTS.len()]
        );
        let mut others = vec![false; images.len()];
        others[0] = true;
        assert_eq!(flagged(&shows_nothing, &images, &hide), others);

        // "Not a spoiler" on it, with a pack that flags everything: the reverse.
        let flags_everything = classifier(true);
        let show = flags_everything.labels(vec![Mark::Show], &whole).unwrap();
        assert_eq!(
            flagged(&flags_everything, &versions, &show),
            vec![false; VARIANTS.len()]
        );
        let others: Vec<bool> = others.iter().map(|hidden| !hidden).collect();
        assert_eq!(flagged(&flags_everything, &images, &show), others);
    }
}
