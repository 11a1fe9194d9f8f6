//! The "teach" page in `www/feed/`: a few held-out pictures of the default dataset, each shown
//! three ways (as it is, cropped, halved and re-encoded as JPEG), for the test of the user's
//! labels: "hide images like this" on one must hide its other versions and nothing else.
//! Generated, not committed: `www/feed/teach.json` and `www/feed/teach/`.

use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use image::imageops::FilterType;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::dataset::{self, OTHER_CLASS, TARGET_CLASS};
use crate::feed::feed_dir;

/// Pictures per class: the test labels one of each and needs others that must not change.
const PER_CLASS: [(&str, usize); 2] = [(OTHER_CLASS, 4), (TARGET_CLASS, 3)];

/// Writes the page's images and `teach.json`; returns the images' paths.
pub fn build() -> anyhow::Result<Vec<PathBuf>> {
    let data = dataset::dataset_dir();
    let dir = feed_dir().join("teach");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let mut groups = Vec::new();
    let mut written = Vec::new();
    for (class, count) in PER_CLASS {
        let mut files = dataset::image_files(&data.join("test").join(class))?;
        // One crop per original: the dataset cuts some wallpapers into several.
        files.sort_by_key(|file| {
            dataset::hex(&Sha256::digest(
                file.file_name().unwrap().as_encoded_bytes(),
            ))
        });
        let mut originals = std::collections::HashSet::new();
        files.retain(|file| originals.insert(original_of(file)));
        for file in files.into_iter().take(count) {
            let id = format!("g{}", groups.len());
            let picture =
                image::open(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (width, height) = (picture.width(), picture.height());
            let cropped =
                picture.crop_imm(width / 20, height / 20, width * 9 / 10, height * 9 / 10);
            let halved = picture
                .resize(width / 2, height / 2, FilterType::Lanczos3)
                .to_rgb8();
            let names = [
                format!("{id}-as-is.{}", dataset::extension(&file)),
                format!("{id}-cropped.png"),
                format!("{id}-halved.jpg"),
            ];
            fs::copy(&file, dir.join(&names[0]))?;
            cropped.save(dir.join(&names[1]))?;
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 75)
                .encode_image(&halved)?;
            fs::write(dir.join(&names[2]), jpeg)?;
            written.extend(names.iter().map(|name| dir.join(name)));
            groups.push(json!({
                "id": id,
                "class": class,
                "images": names.iter().map(|name| format!("teach/{name}")).collect::<Vec<_>>(),
            }));
        }
    }
    fs::write(
        feed_dir().join("teach.json"),
        serde_json::to_vec_pretty(&json!({ "groups": groups }))?,
    )?;
    Ok(written)
}

/// `ukui-wallpapers--city--2.jpg` → `ukui-wallpapers--city`: the dataset's crops of one
/// picture share the name before their number.
fn original_of(file: &std::path::Path) -> String {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    match stem.rsplit_once("--") {
        Some((base, number)) if number.chars().all(|c| c.is_ascii_digit()) => base.to_string(),
        _ => stem.into_owned(),
    }
}
