//! Image datasets, in either of the two layouts people keep them in: folder-per-class already
//! split (`DIR/train/<class>/*`, `DIR/valid/<class>/*`, optional `DIR/test/<class>/*`, as Keras'
//! `flow_from_directory` and torchvision's `ImageFolder` read them), or one folder per class
//! (`DIR/<class>/*`) that is split here by a seeded hash of each file name. Every image is
//! decoded once, in parallel, into a network input before training; near-duplicates can be
//! dropped across all splits by perceptual hash. A CSV of labels instead of class folders makes
//! a multi-label dataset (seed S1): any number of labels per image.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use image_hasher::{HasherConfig, ImageHash};
use indicatif::ParallelProgressIterator;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use veil_core::preprocess;

use crate::config::{DatasetConfig, SplitBy};

/// Image file endings the loader reads; anything else in a class folder is ignored.
const IMAGE_ENDINGS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "gif", "bmp"];
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

pub struct Example {
    pub path: PathBuf,
    /// `[3, size, size]`, flattened, as `veil_core::preprocess::to_input` makes it.
    pub input: Vec<f32>,
    /// Its labels: exactly one in a folder-per-class dataset, any number with a CSV.
    pub labels: Vec<usize>,
}

impl Example {
    /// The one label of a single-label example.
    pub fn class(&self) -> usize {
        self.labels[0]
    }
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

/// An image file and its labels.
type Labelled = (PathBuf, Vec<usize>);
/// Each split's files and their labels.
type SplitFiles = [Vec<Labelled>; 3];

/// The class folders' files, split here (one folder per class) or as the folders split them;
/// returns the classes, the files and whether the split was made here.
fn folder_files(
    data: &Path,
    options: &DatasetConfig,
    seed: u64,
) -> anyhow::Result<(Vec<String>, SplitFiles, bool)> {
    let split_here = !data.join("train").is_dir();
    let classes = classes(if split_here {
        data.to_path_buf()
    } else {
        data.join("train")
    })?;
    let mut files: SplitFiles = Default::default();
    for (label, class) in classes.iter().enumerate() {
        if split_here {
            let shares = split_by_hash(image_files(&data.join(class))?, options.split, seed);
            for (split, chosen) in files.iter_mut().zip(shares) {
                split.extend(chosen.into_iter().map(|path| (path, vec![label])));
            }
        } else {
            for (split, name) in files.iter_mut().zip(SPLITS) {
                let folder = data.join(name).join(class);
                if folder.is_dir() {
                    split.extend(
                        image_files(&folder)?
                            .into_iter()
                            .map(|path| (path, vec![label])),
                    );
                }
            }
        }
    }
    Ok((classes, files, split_here))
}

/// A multi-label CSV (seed S1): a header `file,<label>,<label>,…`, then one row per image with
/// its path relative to `data` and 0 or 1 per label. Every file must exist: a row naming a
/// missing one is a mistake in the CSV, not an unreadable image.
fn read_label_csv(csv_path: &Path, data: &Path) -> anyhow::Result<(Vec<String>, Vec<Labelled>)> {
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("cannot read the label CSV {}", csv_path.display()))?;
    let classes: Vec<String> = reader
        .headers()
        .with_context(|| format!("{} has no header row", csv_path.display()))?
        .iter()
        .skip(1)
        .map(|name| name.trim().to_string())
        .collect();
    if classes.len() < 2 {
        bail!(
            "{} names {} label(s) in its header; a multi-label CSV is `file,<label>,<label>,…` with at least two labels",
            csv_path.display(),
            classes.len()
        );
    }
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record =
            record.with_context(|| format!("{} line {line} is not CSV", csv_path.display()))?;
        if record.len() != classes.len() + 1 {
            bail!(
                "{} line {line} has {} fields; the header has {}",
                csv_path.display(),
                record.len(),
                classes.len() + 1
            );
        }
        let mut labels = Vec::new();
        for (label, value) in record.iter().skip(1).enumerate() {
            match value.trim() {
                "1" => labels.push(label),
                "0" => {}
                other => bail!(
                    "{} line {line}, column {:?}: {other:?} is not 0 or 1",
                    csv_path.display(),
                    classes[label]
                ),
            }
        }
        let path = data.join(record[0].trim());
        if path.is_file() {
            rows.push((path, labels));
        } else {
            missing.push(record[0].trim().to_string());
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} names {} file(s) that are not under {}: {}{}; fix their paths (relative to the data folder) or remove those rows",
            csv_path.display(),
            missing.len(),
            data.display(),
            missing[..missing.len().min(5)].join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        );
    }
    Ok((classes, rows))
}

/// Lists, decodes and (if asked) de-duplicates the dataset at `data` for `size`-pixel inputs.
pub fn load(
    data: &Path,
    options: &DatasetConfig,
    seed: u64,
    size: usize,
) -> anyhow::Result<Dataset> {
    load_splits(data, options, seed, size, [true; 3])
}

/// [`load`], decoding only the splits `wanted` (in [`SPLITS`] order); the others stay empty.
/// The split itself is the same, since it is drawn before anything is decoded.
pub fn load_splits(
    data: &Path,
    options: &DatasetConfig,
    seed: u64,
    size: usize,
    wanted: [bool; 3],
) -> anyhow::Result<Dataset> {
    let (classes, mut files, split_here) = match &options.labels {
        Some(csv) => {
            let (classes, rows) = read_label_csv(&data.join(csv), data)?;
            let labels: std::collections::HashMap<PathBuf, Vec<usize>> =
                rows.iter().cloned().collect();
            let paths = rows.into_iter().map(|(path, _)| path).collect();
            let files = split_by_hash(paths, options.split, seed).map(|chosen| {
                chosen
                    .into_iter()
                    .map(|path| {
                        let labels = labels[&path].clone();
                        (path, labels)
                    })
                    .collect()
            });
            (classes, files, true)
        }
        None => {
            let (classes, files, split_here) = folder_files(data, options, seed)?;
            match options.split_by {
                SplitBy::File => (classes, files, split_here),
                SplitBy::Source => {
                    let files = split_by_source(
                        data,
                        files.into_iter().flatten().collect(),
                        &classes,
                        options.split,
                        seed,
                    )?;
                    (classes, files, true)
                }
            }
        }
    };
    for (files, wanted) in files.iter_mut().zip(wanted) {
        if !wanted {
            files.clear();
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
            files.extend(
                image_files(&folder)?
                    .into_iter()
                    .map(|path| (path, vec![label])),
            );
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
/// The image files of one folder, sorted.
pub fn image_files(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
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
fn decode(files: Vec<Labelled>, size: usize, hash: bool) -> Vec<Decoded> {
    let hasher = HasherConfig::new().to_hasher();
    let progress = crate::progress::bar(files.len(), "decoding".into());
    let decoded = files
        .into_par_iter()
        .progress_with(progress.clone())
        .map(|(path, labels)| {
            let image = fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| preprocess::decode(&bytes).map_err(|error| error.to_string()));
            match image {
                Ok(image) => {
                    let hash = hash.then(|| hasher.hash_image(&image));
                    let input = preprocess::to_input(&image, size);
                    Ok((
                        Example {
                            input,
                            path,
                            labels,
                        },
                        hash,
                    ))
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

/// Images per class (that carry each label, with a CSV), for the balance report and for
/// refusing empty classes.
pub fn class_counts(examples: &[Example], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for example in examples {
        for &label in &example.labels {
            counts[label] += 1;
        }
    }
    counts
}

/// A dataset's record of where its images came from: `manifest.tsv` in its folder (as `cargo
/// xtask data` writes it), tab-separated with a header naming a `file` column (a path relative
/// to the folder, or a bare file name), a `source` or `package` column and, optionally, a
/// `medium` column (how the picture was made: photo, painting, screenshot…).
pub const MANIFEST: &str = "manifest.tsv";

/// Where one image came from and how it was made, as the dataset's manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub source: String,
    /// None where the manifest has no `medium` column or leaves it empty.
    pub medium: Option<String>,
    /// The file it was cut from (an `original` column), where the dataset holds several crops
    /// of one picture.
    pub original: Option<String>,
}

/// Each example's provenance, for the per-source and per-medium breakdowns of a pack's quality:
/// None when `data_dir` has no usable manifest (a malformed one is reported and ignored, never
/// fatal). Examples the manifest does not list come from "(not in the manifest)".
pub fn provenance(data_dir: &Path, examples: &[Example]) -> Option<Vec<Provenance>> {
    let paths: Vec<&Path> = examples
        .iter()
        .map(|example| example.path.as_path())
        .collect();
    provenance_of_files(data_dir, &paths)
}

/// [`provenance`] of image files below `data_dir`.
pub fn provenance_of_files(data_dir: &Path, paths: &[&Path]) -> Option<Vec<Provenance>> {
    let path = data_dir.join(MANIFEST);
    if !path.is_file() {
        return None;
    }
    match read_manifest(&path) {
        Ok(by_file) => Some(
            paths
                .iter()
                .map(|path| {
                    provenance_of(&by_file, data_dir, path)
                        .cloned()
                        .unwrap_or_else(|| Provenance {
                            source: "(not in the manifest)".into(),
                            medium: None,
                            original: None,
                        })
                })
                .collect(),
        ),
        Err(error) => {
            eprintln!("ignoring {}: {error:#}", path.display());
            None
        }
    }
}

/// A file's provenance in the manifest, by its path below `data_dir` or else by its name.
fn provenance_of<'a>(
    by_file: &'a std::collections::HashMap<String, Provenance>,
    data_dir: &Path,
    path: &Path,
) -> Option<&'a Provenance> {
    let relative = path.strip_prefix(data_dir).unwrap_or(path);
    let name = path.file_name().unwrap_or_default();
    [relative.as_os_str(), name]
        .iter()
        .find_map(|key| by_file.get(&*key.to_string_lossy()))
}

/// `files` divided so that each source lies in one split (see [`SplitBy::Source`]).
fn split_by_source(
    data: &Path,
    files: Vec<Labelled>,
    classes: &[String],
    shares: [f64; 3],
    seed: u64,
) -> anyhow::Result<SplitFiles> {
    let manifest = data.join(MANIFEST);
    if !manifest.is_file() {
        bail!(
            "dataset.split_by = \"source\" needs {}, saying where each image came from (a `file` and a `source` column, tab-separated); without one, split picture by picture with --split-by file (or split_by = \"file\" in the recipe's [dataset])",
            manifest.display()
        );
    }
    let by_file = read_manifest(&manifest).with_context(|| {
        format!(
            "dataset.split_by = \"source\" reads each file's source from {}",
            manifest.display()
        )
    })?;
    // Per class, each source's files, sources in name order.
    let mut by_class: Vec<std::collections::BTreeMap<String, Vec<Labelled>>> =
        vec![Default::default(); classes.len()];
    let mut unknown = Vec::new();
    for (path, labels) in files {
        match provenance_of(&by_file, data, &path) {
            Some(provenance) => by_class[labels[0]]
                .entry(provenance.source.clone())
                .or_default()
                .push((path, labels)),
            None => unknown.push(path),
        }
    }
    if let Some(first) = unknown.first() {
        bail!(
            "{} of the dataset's files are not in {} (the first: {}); split_by = \"source\" needs every file's source",
            unknown.len(),
            manifest.display(),
            first.display()
        );
    }
    let mut split: SplitFiles = Default::default();
    for (class, sources) in classes.iter().zip(by_class) {
        let needed = 1 + usize::from(shares[1] > 0.0) + usize::from(shares[2] > 0.0);
        if sources.len() < needed {
            bail!(
                "class {class:?} has {} source(s) in {}; split_by = \"source\" needs at least {needed} (one for each split), or use split_by = \"file\"",
                sources.len(),
                manifest.display()
            );
        }
        let total: usize = sources.values().map(Vec::len).sum();
        let mut order: Vec<([u8; 32], Vec<Labelled>)> = sources
            .into_iter()
            .map(|(source, files)| {
                let key = Sha256::new()
                    .chain_update(seed.to_le_bytes())
                    .chain_update(source.as_bytes())
                    .finalize()
                    .into();
                (key, files)
            })
            .collect();
        order.sort_by(|a, b| a.0.cmp(&b.0));
        // Test first, then valid: in the seeded order, each source that still fits in the split's
        // share of the class's images, or the smallest one left if none does; always leaving a
        // source for every split still to fill.
        for (index, left_for_others) in [(2, 1 + usize::from(shares[1] > 0.0)), (1, 1)] {
            if shares[index] == 0.0 {
                continue;
            }
            let target = (shares[index] * total as f64).round() as usize;
            let mut taken = 0;
            let mut position = 0;
            while position < order.len() && order.len() > left_for_others {
                if taken + order[position].1.len() <= target {
                    let (_, files) = order.remove(position);
                    taken += files.len();
                    split[index].extend(files);
                } else {
                    position += 1;
                }
            }
            if taken == 0 && order.len() > left_for_others {
                let smallest = (0..order.len())
                    .min_by_key(|&i| order[i].1.len())
                    .expect("sources are left");
                split[index].extend(order.remove(smallest).1);
            }
        }
        split[0].extend(order.into_iter().flat_map(|(_, files)| files));
    }
    Ok(split)
}

fn read_manifest(path: &Path) -> anyhow::Result<std::collections::HashMap<String, Provenance>> {
    let mut reader = csv::ReaderBuilder::new().delimiter(b'\t').from_path(path)?;
    let header = reader.headers()?.clone();
    let column = |names: &[&str]| header.iter().position(|name| names.contains(&name));
    let (Some(file), Some(source)) = (column(&["file"]), column(&["source", "package"])) else {
        bail!("its header needs a `file` and a `source` (or `package`) column");
    };
    let medium = column(&["medium"]);
    let original = column(&["original"]);
    let mut by_file = std::collections::HashMap::new();
    for record in reader.records() {
        let record = record?;
        if let (Some(file), Some(source)) = (record.get(file), record.get(source)) {
            let optional = |column: Option<usize>| {
                column
                    .and_then(|column| record.get(column))
                    .filter(|value| !value.is_empty())
                    .map(str::to_string)
            };
            by_file.insert(
                file.to_string(),
                Provenance {
                    source: source.to_string(),
                    medium: optional(medium),
                    original: optional(original),
                },
            );
        }
    }
    Ok(by_file)
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

    #[test]
    fn a_source_split_keeps_each_source_in_one_split_and_every_class_in_every_split() {
        let dir = std::env::temp_dir().join(format!("veil-source-split-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // Class 0 from five sources of 10 files each, class 1 from three of 20.
        let mut manifest = String::from("file\tpackage\n");
        let mut files = Vec::new();
        for (class, sources, per_source) in [(0, 5, 10), (1, 3, 20)] {
            for source in 0..sources {
                for file in 0..per_source {
                    let name = format!("c{class}-s{source}-{file}.png");
                    manifest.push_str(&format!("{name}\tpackage-{class}-{source}\n"));
                    files.push((dir.join(&name), vec![class]));
                }
            }
        }
        fs::write(dir.join(MANIFEST), manifest).unwrap();
        let classes = ["a".to_string(), "b".to_string()];
        let split = split_by_source(&dir, files.clone(), &classes, [0.7, 0.15, 0.15], 42).unwrap();
        let source_of_file = |path: &Path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name[..name.rfind('-').unwrap()].to_string()
        };
        let mut seen = std::collections::HashMap::new();
        for (index, files) in split.iter().enumerate() {
            for class in [0, 1] {
                assert!(
                    files.iter().any(|(_, labels)| labels[0] == class),
                    "split {index} has class {class}"
                );
            }
            for (path, _) in files {
                let earlier = seen.insert(source_of_file(path), index);
                assert!(
                    earlier.is_none_or(|e| e == index),
                    "{} is in two splits",
                    path.display()
                );
            }
        }
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), files.len());
        let mut reversed = files.clone();
        reversed.reverse();
        let again = split_by_source(&dir, reversed, &classes, [0.7, 0.15, 0.15], 42).unwrap();
        let sorted = |split: &SplitFiles| {
            split.clone().map(|mut files| {
                files.sort();
                files
            })
        };
        assert_eq!(
            sorted(&again),
            sorted(&split),
            "the order of the files does not matter"
        );

        let two_sources: Vec<Labelled> = files
            .into_iter()
            .filter(|(path, _)| source_of_file(path) != "c1-s2")
            .collect();
        let message = split_by_source(&dir, two_sources, &classes, [0.7, 0.15, 0.15], 42)
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"b\" has 2 source(s)"), "{message}");
        // A folder without a manifest is told how to split without one.
        fs::remove_file(dir.join(MANIFEST)).unwrap();
        let message = split_by_source(&dir, Vec::new(), &classes, [0.7, 0.15, 0.15], 42)
            .unwrap_err()
            .to_string();
        assert!(message.contains("--split-by file"), "{message}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_manifest_names_each_examples_source_and_medium_by_path_or_file_name() {
        let dir = std::env::temp_dir().join(format!("veil-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let example = |path: &str| Example {
            path: dir.join(path),
            input: Vec::new(),
            labels: vec![0],
        };
        let examples = [
            example("test/show/a.png"),
            example("test/other/b.jpg"),
            example("test/other/c.jpg"),
        ];
        assert!(
            provenance(&dir, &examples).is_none(),
            "no manifest, no provenance"
        );
        let read = |manifest: &str| {
            fs::write(dir.join(MANIFEST), manifest).unwrap();
            provenance(&dir, &examples).map(|rows| {
                rows.into_iter()
                    .map(|row| (row.source, row.medium))
                    .collect::<Vec<_>>()
            })
        };
        let of =
            |source: &str, medium: Option<&str>| (source.to_string(), medium.map(String::from));
        assert_eq!(
            read(
                "split\tfile\tpackage\ntest\ta.png\tgame-art\ntest\ttest/other/b.jpg\twallpapers\n"
            )
            .unwrap(),
            [
                of("game-art", None),
                of("wallpapers", None),
                of("(not in the manifest)", None)
            ]
        );
        assert_eq!(
            read("file\tmedium\tsource\na.png\tpainting\tgame-art\nb.jpg\t\twallpapers\n").unwrap(),
            [
                of("game-art", Some("painting")),
                of("wallpapers", None),
                of("(not in the manifest)", None)
            ]
        );
        // A manifest of another kind is ignored, not fatal.
        assert!(read("name\tsize\na.png\t3\n").is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loading_some_splits_decodes_only_those_and_splits_the_same() {
        let dir = std::env::temp_dir().join(format!("veil-some-splits-{}", std::process::id()));
        for (class, shade) in [("show", 40u8), ("other", 200)] {
            fs::create_dir_all(dir.join(class)).unwrap();
            for index in 0..12u8 {
                image::RgbImage::from_pixel(8, 8, image::Rgb([shade, index * 20, 0]))
                    .save(dir.join(class).join(format!("{index}.png")))
                    .unwrap();
            }
        }
        let options = DatasetConfig::default();
        let paths = |split: &Split| -> Vec<PathBuf> {
            split.examples.iter().map(|e| e.path.clone()).collect()
        };
        let all = load(&dir, &options, 7, 16).unwrap();
        let held_out = load_splits(&dir, &options, 7, 16, [false, true, true]).unwrap();
        assert!(!all.splits[0].examples.is_empty());
        assert!(
            held_out.splits[0].examples.is_empty(),
            "train is not decoded"
        );
        assert_eq!(paths(&held_out.splits[1]), paths(&all.splits[1]));
        assert_eq!(paths(&held_out.splits[2]), paths(&all.splits[2]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
