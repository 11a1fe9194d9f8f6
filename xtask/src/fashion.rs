//! Fashion-MNIST as an image-folder dataset (`cargo xtask data fashion-mnist`): a check that
//! veil-train is as good as the standard tools on data nobody here made. The images come from
//! Debian's `dataset-fashion-mnist` (the IDX files of the public release, checked against the
//! SHA-256 sums below) and are written as PNGs in `train/` (the first 55,000 training images),
//! `valid/` (the last 5,000) and `test/` (the official 10,000), one folder per class.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flate2::read::GzDecoder;
use image::GrayImage;
use sha2::{Digest, Sha256};

use crate::dataset::hex;
use crate::{setup, work_dir};

const PACKAGE: &str = "dataset-fashion-mnist";
const SOURCE_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// The four files of the release, with the SHA-256 of the gzip files Debian ships.
const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
];
/// Label index → folder name (the release's class names, made path-safe).
const CLASSES: [&str; 10] = [
    "t-shirt-top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];
const VALIDATION_IMAGES: usize = 5_000;
const DATASET_VERSION: &str = "fashion-mnist-v1";

pub fn dataset_dir() -> PathBuf {
    work_dir().join("data").join("fashion-mnist")
}

/// Writes the dataset unless it is already there; returns its folder.
pub fn assemble() -> anyhow::Result<PathBuf> {
    let dir = dataset_dir();
    let marker = dir.join("VERSION");
    if fs::read_to_string(&marker).is_ok_and(|v| v.trim() == DATASET_VERSION) {
        return Ok(dir);
    }
    setup::apt_install(&[PACKAGE])?;
    let [train_images, train_labels, test_images, test_labels] =
        FILES.map(|(name, sha256)| read_verified(&Path::new(SOURCE_DIR).join(name), sha256));
    let (train_images, train_labels) = (idx_images(&train_images?)?, idx_labels(&train_labels?)?);
    let (test_images, test_labels) = (idx_images(&test_images?)?, idx_labels(&test_labels?)?);
    if train_images.len() != train_labels.len() || test_images.len() != test_labels.len() {
        bail!("{PACKAGE}: the image and label files disagree on the number of images");
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let validation_start = train_images.len() - VALIDATION_IMAGES;
    let splits = train_images
        .iter()
        .zip(&train_labels)
        .enumerate()
        .map(|(i, pair)| {
            (
                if i < validation_start {
                    "train"
                } else {
                    "valid"
                },
                i,
                pair,
            )
        })
        .chain(
            test_images
                .iter()
                .zip(&test_labels)
                .enumerate()
                .map(|(i, pair)| ("test", i, pair)),
        );
    for (split, index, (image, &label)) in splits {
        let class = CLASSES
            .get(usize::from(label))
            .with_context(|| format!("{PACKAGE}: label {label} is not a Fashion-MNIST class"))?;
        let folder = dir.join(split).join(class);
        fs::create_dir_all(&folder)?;
        image.save(folder.join(format!("{index:05}.png")))?;
    }
    fs::write(&marker, DATASET_VERSION)?;
    eprintln!(
        "assembled {} ({} train, {VALIDATION_IMAGES} valid, {} test images; from Debian's {PACKAGE}, MIT licence)",
        dir.display(),
        validation_start,
        test_images.len()
    );
    Ok(dir)
}

/// The file's bytes after gunzip, once its SHA-256 matches the pinned one.
fn read_verified(path: &Path, sha256: &str) -> anyhow::Result<Vec<u8>> {
    let packed = fs::read(path)
        .with_context(|| format!("cannot read {} (is {PACKAGE} installed?)", path.display()))?;
    let found = hex(&Sha256::digest(&packed));
    if found != sha256 {
        bail!(
            "{} from {PACKAGE} has SHA-256 {found}, not the pinned {sha256}: the package changed; check it and update the pin in xtask/src/fashion.rs",
            path.display()
        );
    }
    let mut bytes = Vec::new();
    GzDecoder::new(packed.as_slice()).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn be_u32(bytes: &[u8], at: usize) -> anyhow::Result<usize> {
    let word = bytes
        .get(at..at + 4)
        .context("an IDX file ends inside its header")?;
    Ok(u32::from_be_bytes(word.try_into()?) as usize)
}

/// IDX3: magic 2051, count, rows, columns, then one byte per pixel.
fn idx_images(bytes: &[u8]) -> anyhow::Result<Vec<GrayImage>> {
    if be_u32(bytes, 0)? != 2051 {
        bail!("not an IDX image file");
    }
    let (count, rows, columns) = (be_u32(bytes, 4)?, be_u32(bytes, 8)?, be_u32(bytes, 12)?);
    let pixels = &bytes[16..];
    if pixels.len() != count * rows * columns {
        bail!(
            "IDX image file: {count} images of {rows}×{columns} need {} bytes, found {}",
            count * rows * columns,
            pixels.len()
        );
    }
    Ok(pixels
        .chunks(rows * columns)
        .map(|image| {
            GrayImage::from_raw(columns as u32, rows as u32, image.to_vec())
                .expect("chunk has rows × columns bytes")
        })
        .collect())
}

/// IDX1: magic 2049, count, then one byte per label.
fn idx_labels(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    if be_u32(bytes, 0)? != 2049 {
        bail!("not an IDX label file");
    }
    let labels = &bytes[8..];
    if labels.len() != be_u32(bytes, 4)? {
        bail!("IDX label file: the count disagrees with the file's length");
    }
    Ok(labels.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_files_read_back_as_images_and_labels() {
        let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        images.extend(0..12);
        let read = idx_images(&images).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].dimensions(), (3, 2));
        assert_eq!(read[1].get_pixel(0, 1).0, [9]);
        assert!(
            idx_images(&images[..20]).is_err(),
            "a truncated file is refused"
        );
        assert_eq!(
            idx_labels(&[0, 0, 8, 1, 0, 0, 0, 2, 7, 9]).unwrap(),
            vec![7, 9]
        );
        assert!(
            idx_labels(&[0, 0, 8, 3, 0, 0, 0, 2, 7, 9]).is_err(),
            "wrong magic"
        );
    }
}
