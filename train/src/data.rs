//! Image datasets, in either of the two layouts people keep them in: folder-per-class already
//! split (`DIR/train/<class>/*`, `DIR/valid/<class>/*`, optional `DIR/test/<class>/*`, as Keras'
//! `flow_from_directory` and torchvision's `ImageFolder` read them), or one folder per class
//! (`DIR/<class>/*`) that is split here by a seeded hash of each file name. Every image is
//! decoded once, in parallel, into a network input before training; near-duplicates can be
//! dropped across all splits by perceptual hash.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use image_hasher::{HasherConfig, ImageHash};
use indicatif::ParallelProgressIterator;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use veil_core::preprocess;

use crate::config::DatasetConfig;

/// Image file endings the loader reads; anything else in a class folder is ignored.
const IMAGE_ENDINGS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "gif", "bmp"];
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

pub struct Example {
    pub path: PathBuf,
    /// `[3, size, size]`, flattened, as `veil_core::preprocess::to_input` makes it.
    pub input: Vec<f32>,
    pub label: usize,
}

#[derive(Default)]
pub struct Split {
    pub examples: Vec<Example>,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

pub struct Dataset {
    pub classes: Vec<String>,
    /// Train, valid and test, in [`SPLITS`] order.
    pub splits: [Split; 3],
    /// Whether the splits were made here from one folder per class.
    pub split_here: bool,
    /// `(dropped, kept)`: each near-duplicate removed and the image it duplicates.
    pub duplicates: Vec<(PathBuf, PathBuf)>,
}

/// Lists, decodes and (if asked) de-duplicates the dataset at `data` for `size`-pixel inputs.
pub fn load(
    data: &Path,
    options: &DatasetConfig,
    seed: u64,
    size: usize,
) -> anyhow::Result<Dataset> {
    let split_here = !data.join("train").is_dir();
    let classes = classes(if split_here {
        data.to_path_buf()
    } else {
        data.join("train")
    })?;
    let mut files: [Vec<(PathBuf, usize)>; 3] = Default::default();
    for (label, class) in classes.iter().enumerate() {
        if split_here {
            let shares = split_by_hash(image_files(&data.join(class))?, options.split, seed);
            for (split, chosen) in files.iter_mut().zip(shares) {
                split.extend(chosen.into_iter().map(|path| (path, label)));
            }
        } else {
            for (split, name) in files.iter_mut().zip(SPLITS) {
                let folder = data.join(name).join(class);
                if folder.is_dir() {
                    split.extend(image_files(&folder)?.into_iter().map(|path| (path, label)));
                }
            }
        }
    }
    let dedup = options.dedup_distance;
    let decoded = files.map(|files| decode(files, size, dedup.is_some()));
    let mut dataset = Dataset {
        classes,
        splits: Default::default(),
        split_here,
        duplicates: Vec::new(),
    };
    let mut kept_hashes: Vec<(ImageHash, PathBuf)> = Vec::new();
    for (split, decoded) in dataset.splits.iter_mut().zip(decoded) {
        for result in decoded {
            match result {
                Ok((example, hash)) => {
                    if let (Some(distance), Some(hash)) = (dedup, hash) {
                        if let Some((_, kept)) = kept_hashes
                            .iter()
                            .find(|(seen, _)| seen.dist(&hash) <= distance)
                        {
                            dataset.duplicates.push((example.path, kept.clone()));
                            continue;
                        }
                        kept_hashes.push((hash, example.path.clone()));
                    }
                    split.examples.push(example);
                }
                Err(skip) => split.skipped.push(skip),
            }
        }
    }
    Ok(dataset)
}

/// Loads one already-split folder (`DIR/<split>/<class>/*`) for the given class order, as
/// `veil-train eval` measures a pack on it.
pub fn load_split(
    data: &Path,
    split: &str,
    classes: &[String],
    size: usize,
) -> anyhow::Result<Split> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let folder = data.join(split).join(class);
        if folder.is_dir() {
            files.extend(image_files(&folder)?.into_iter().map(|path| (path, label)));
        }
    }
    let mut loaded = Split::default();
    for result in decode(files, size, false) {
        match result {
            Ok((example, _)) => loaded.examples.push(example),
            Err(skip) => loaded.skipped.push(skip),
        }
    }
    Ok(loaded)
}

/// The class names: the sub-folders of `folder`, sorted so the label order is stable.
pub fn classes(folder: PathBuf) -> anyhow::Result<Vec<String>> {
    let entries = fs::read_dir(&folder).with_context(|| {
        format!(
            "cannot read {}: a dataset is a folder of class folders (DIR/<class>/), or one already split (DIR/train/<class>/, DIR/valid/<class>/)",
            folder.display()
        )
    })?;
    let mut classes = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // valid/ and test/ without train/ are a mistake, not two classes.
        if entry.file_type()?.is_dir() && !SPLITS.contains(&name.as_str()) {
            classes.push(name);
        }
    }
    classes.sort();
    if classes.len() < 2 {
        bail!(
            "{} has {} class folder(s) ({:?}); a filter needs at least two: DIR/show/ and DIR/other/ (split here), or DIR/train/<class>/ and DIR/valid/<class>/ (already split)",
            folder.display(),
            classes.len(),
            classes
        );
    }
    Ok(classes)
}

/// The image files directly inside `folder`, sorted.
fn image_files(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| is_image(path))
        .collect();
    files.sort();
    Ok(files)
}

/// Orders one class's files by a hash of the seed and each file name, then cuts that order at
/// the shares: the same files and seed always give the same split, whatever the listing order.
fn split_by_hash(files: Vec<PathBuf>, shares: [f64; 3], seed: u64) -> [Vec<PathBuf>; 3] {
    let mut keyed: Vec<([u8; 32], PathBuf)> = files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap_or_default().as_encoded_bytes();
            let key = Sha256::new()
                .chain_update(seed.to_le_bytes())
                .chain_update(name)
                .finalize()
                .into();
            (key, path)
        })
        .collect();
    keyed.sort();
    let count = keyed.len();
    let train = (shares[0] * count as f64).round() as usize;
    let valid = ((shares[0] + shares[1]) * count as f64).round() as usize;
    let mut paths = keyed.into_iter().map(|(_, path)| path);
    let first: Vec<PathBuf> = paths.by_ref().take(train).collect();
    let second: Vec<PathBuf> = paths.by_ref().take(valid.saturating_sub(train)).collect();
    [first, second, paths.collect()]
}

type Decoded = Result<(Example, Option<ImageHash>), (PathBuf, String)>;

/// Decodes every file in parallel; an unreadable one becomes its reason, never an error.
fn decode(files: Vec<(PathBuf, usize)>, size: usize, hash: bool) -> Vec<Decoded> {
    let hasher = HasherConfig::new().to_hasher();
    let progress = crate::progress::bar(files.len(), "decoding".into());
    let decoded = files
        .into_par_iter()
        .progress_with(progress.clone())
        .map(|(path, label)| {
            let image = fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| preprocess::decode(&bytes).map_err(|error| error.to_string()));
            match image {
                Ok(image) => {
                    let hash = hash.then(|| hasher.hash_image(&image));
                    let input = preprocess::to_input(&image, size);
                    Ok((Example { input, path, label }, hash))
                }
                Err(reason) => Err((path, reason)),
            }
        })
        .collect();
    progress.finish_and_clear();
    decoded
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|ending| ending.to_str())
        .is_some_and(|ending| IMAGE_ENDINGS.contains(&ending.to_ascii_lowercase().as_str()))
}

/// Images per class, for the balance report and for refusing empty classes.
pub fn class_counts(examples: &[Example], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for example in examples {
        counts[example.label] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<PathBuf> {
        (0..count)
            .map(|i| PathBuf::from(format!("class/{i}.png")))
            .collect()
    }

    #[test]
    fn a_hash_split_keeps_the_shares_and_depends_only_on_names_and_seed() {
        let [train, valid, test] = split_by_hash(names(100), [0.7, 0.15, 0.15], 7);
        assert_eq!((train.len(), valid.len(), test.len()), (70, 15, 15));
        let mut shuffled = names(100);
        shuffled.reverse();
        assert_eq!(
            split_by_hash(shuffled, [0.7, 0.15, 0.15], 7),
            [train.clone(), valid, test]
        );
        let [other_train, ..] = split_by_hash(names(100), [0.7, 0.15, 0.15], 8);
        assert_ne!(train, other_train, "another seed draws another split");
    }
}
