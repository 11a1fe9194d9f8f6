//! Folder-per-class datasets (`DIR/train/<class>/*`, `DIR/valid/<class>/*`, optional
//! `DIR/test/<class>/*`), decoded in parallel into network inputs once, before training.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::ParallelProgressIterator;
use rayon::prelude::*;
use veil_core::preprocess;

/// Image file endings the loader reads; anything else in a class folder is ignored.
const IMAGE_ENDINGS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "gif", "bmp"];

pub struct Example {
    pub path: PathBuf,
    /// `[3, size, size]`, flattened, as `veil_core::preprocess::to_input` makes it.
    pub input: Vec<f32>,
    pub label: usize,
}

pub struct Split {
    pub examples: Vec<Example>,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The class names: the sub-folders of `DIR/train`, sorted so the label order is stable.
pub fn classes(data: &Path) -> anyhow::Result<Vec<String>> {
    let train = data.join("train");
    let entries = fs::read_dir(&train).with_context(|| {
        format!(
            "cannot read {}: a dataset folder needs train/<class>/ sub-folders (and valid/<class>/)",
            train.display()
        )
    })?;
    let mut classes = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    if classes.len() < 2 {
        bail!(
            "{} has {} class folder(s) ({:?}); a filter needs at least two, e.g. train/show/ and train/other/",
            train.display(),
            classes.len(),
            classes
        );
    }
    Ok(classes)
}

/// Loads `DIR/<split>/<class>/*` for every class. A missing class folder is an empty class.
pub fn load_split(
    data: &Path,
    split: &str,
    classes: &[String],
    size: usize,
) -> anyhow::Result<Split> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let folder = data.join(split).join(class);
        if !folder.is_dir() {
            continue;
        }
        let mut class_files: Vec<PathBuf> = fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| is_image(path))
            .collect();
        class_files.sort();
        files.extend(class_files.into_iter().map(|path| (path, label)));
    }
    let progress = crate::progress::bar(files.len(), format!("decoding {split}"));
    let decoded: Vec<Result<Example, (PathBuf, String)>> = files
        .into_par_iter()
        .progress_with(progress.clone())
        .map(|(path, label)| {
            let image = fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| preprocess::decode(&bytes).map_err(|error| error.to_string()));
            match image {
                Ok(image) => Ok(Example {
                    input: preprocess::to_input(&image, size),
                    path,
                    label,
                }),
                Err(reason) => Err((path, reason)),
            }
        })
        .collect();
    progress.finish_and_clear();
    let (mut examples, mut skipped) = (Vec::new(), Vec::new());
    for result in decoded {
        match result {
            Ok(example) => examples.push(example),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok(Split { examples, skipped })
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
