//! The default dataset, assembled from Debian packages (no download at run time): fantasy art
//! from Battle for Wesnoth against wallpaper photos and abstract art. Deterministic: the same
//! packages give the same files, split and manifest.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use sha2::{Digest, Sha256};

use crate::work_dir;

/// The class the default filter hides.
pub const TARGET_CLASS: &str = "fantasy";
pub const OTHER_CLASS: &str = "other";
/// Bump when the assembly rules change, so an old dataset is rebuilt.
const DATASET_VERSION: &str = "default-v1";
/// How many held-out images the browser parity test judges.
pub const PARITY_IMAGES: usize = 20;
/// Longest side of a stored negative crop; portraits are stored as shipped (≤ 500 px).
const MAX_SIDE: u32 = 512;
const JPEG_QUALITY: u8 = 90;
/// Crops taken from each wallpaper, as (x, y, width, height) fractions of the picture: the
/// whole picture and three views of parts of it. A wallpaper's crops always share a split.
const CROPS: [(f32, f32, f32, f32); 4] = [
    (0.0, 0.0, 1.0, 1.0),
    (0.0, 0.0, 0.6, 0.6),
    (0.4, 0.4, 0.6, 0.6),
    (0.2, 0.1, 0.6, 0.8),
];

struct Source {
    package: &'static str,
    license: &'static str,
    class: &'static str,
    root: &'static str,
    /// Wallpapers come in several resolutions of one picture: one is kept per group, cropped.
    wallpaper: bool,
}

const SOURCES: [Source; 5] = [
    Source {
        package: "wesnoth-1.16-data",
        license: "GPL-2+",
        class: TARGET_CLASS,
        root: "/usr/share/games/wesnoth/1.16/data/core/images/portraits",
        wallpaper: false,
    },
    Source {
        package: "wesnoth-1.16-data",
        license: "GPL-2+",
        class: TARGET_CLASS,
        root: "/usr/share/games/wesnoth/1.16/data/core/images/story",
        wallpaper: false,
    },
    Source {
        package: "plasma-workspace-wallpapers",
        license: "GPL-2+ / LGPL-3 (see /usr/share/doc/plasma-workspace-wallpapers/copyright)",
        class: OTHER_CLASS,
        root: "/usr/share/wallpapers",
        wallpaper: true,
    },
    Source {
        package: "mate-backgrounds",
        license: "GPL-2+ / CC-BY-SA (see /usr/share/doc/mate-backgrounds/copyright)",
        class: OTHER_CLASS,
        root: "/usr/share/backgrounds/mate",
        wallpaper: true,
    },
    Source {
        package: "gnome-backgrounds",
        license: "CC-BY-SA-3.0 (see /usr/share/doc/gnome-backgrounds/copyright)",
        class: OTHER_CLASS,
        root: "/usr/share/backgrounds/gnome",
        wallpaper: true,
    },
];

pub fn dataset_dir() -> PathBuf {
    work_dir().join("data").join("default")
}

/// Builds the dataset unless an identical one is already there; returns its folder.
pub fn assemble() -> anyhow::Result<PathBuf> {
    let dir = dataset_dir();
    let marker = dir.join("VERSION");
    if fs::read_to_string(&marker).is_ok_and(|v| v.trim() == DATASET_VERSION) {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let mut manifest = String::from("split\tclass\tfile\tsha256\tpackage\tlicense\toriginal\n");
    let mut counts: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for source in &SOURCES {
        let files = image_files(Path::new(source.root)).with_context(|| {
            format!(
                "the {} package seems missing (run `cargo xtask setup`)",
                source.package
            )
        })?;
        if files.is_empty() {
            bail!(
                "no images under {}: is the {} package installed?",
                source.root,
                source.package
            );
        }
        for (group, path) in groups(source, &files) {
            let split = split_of(&format!("{}/{group}", source.package));
            let folder = dir.join(split).join(source.class);
            fs::create_dir_all(&folder)?;
            let stem = format!("{}--{}", source.package, group.replace('/', "-"));
            let written = if source.wallpaper {
                write_crops(&path, &folder, &stem)?
            } else {
                let name = format!("{stem}.{}", extension(&path));
                fs::copy(&path, folder.join(&name))?;
                vec![name]
            };
            for name in written {
                let digest = hex(&Sha256::digest(fs::read(folder.join(&name))?));
                manifest.push_str(&format!(
                    "{split}\t{}\t{name}\t{digest}\t{}\t{}\t{}\n",
                    source.class,
                    source.package,
                    source.license,
                    path.display()
                ));
                *counts.entry((split.to_string(), source.class)).or_default() += 1;
            }
        }
    }
    fs::write(dir.join("manifest.tsv"), manifest)?;
    fs::write(&marker, DATASET_VERSION)?;
    let summary: Vec<String> = counts
        .iter()
        .map(|((split, class), n)| format!("{split}/{class} {n}"))
        .collect();
    eprintln!("assembled {} ({})", dir.display(), summary.join(", "));
    Ok(dir)
}

/// The first [`PARITY_IMAGES`] held-out images, alternating classes, in a stable order.
pub fn parity_images() -> anyhow::Result<Vec<PathBuf>> {
    let test = dataset_dir().join("test");
    let mut per_class = Vec::new();
    for class in [TARGET_CLASS, OTHER_CLASS] {
        let mut files = image_files(&test.join(class))?;
        files.sort();
        per_class.push(files);
    }
    let mut chosen = Vec::new();
    for index in 0.. {
        if chosen.len() >= PARITY_IMAGES || per_class.iter().all(|files| index >= files.len()) {
            break;
        }
        chosen.extend(
            per_class
                .iter()
                .filter_map(|files| files.get(index).cloned()),
        );
    }
    chosen.truncate(PARITY_IMAGES);
    Ok(chosen)
}

/// 70 / 15 / 15 by a hash of the group name, so the split never depends on file order.
fn split_of(group: &str) -> &'static str {
    let digest = Sha256::digest(group.as_bytes());
    match u16::from_le_bytes([digest[0], digest[1]]) % 100 {
        0..70 => "train",
        70..85 => "valid",
        _ => "test",
    }
}

/// One file per picture: each file for art, the largest resolution for wallpapers (grouped by
/// their folder, or by the name without its resolution or light/dark suffix).
fn groups(source: &Source, files: &[PathBuf]) -> BTreeMap<String, PathBuf> {
    let root = Path::new(source.root);
    let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(path);
        let group = if source.wallpaper {
            wallpaper_group(relative)
        } else {
            relative.with_extension("").display().to_string()
        };
        let size = |p: &Path| p.metadata().map(|m| m.len()).unwrap_or(0);
        match chosen.get(&group) {
            Some(existing) if size(existing) >= size(path) => {}
            _ => {
                chosen.insert(group, path.clone());
            }
        }
    }
    chosen
}

fn wallpaper_group(relative: &Path) -> String {
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let first = parts.next().unwrap_or_default();
    if relative.components().count() > 2 {
        // plasma: <Name>/contents/images/<W>x<H>.jpg
        return first;
    }
    let stem = relative
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let stem = stem.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'x' || c == '_');
    let stem = stem
        .strip_suffix("-d")
        .or_else(|| stem.strip_suffix("-l"))
        .unwrap_or(stem);
    match relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => format!("{}/{stem}", parent.display()),
        None => stem.to_string(),
    }
}

fn write_crops(path: &Path, folder: &Path, stem: &str) -> anyhow::Result<Vec<String>> {
    let picture = image::open(path)
        .with_context(|| format!("cannot decode {}", path.display()))?
        .into_rgb8();
    let (width, height) = picture.dimensions();
    let mut names = Vec::new();
    for (index, (x, y, w, h)) in CROPS.iter().enumerate() {
        let crop = image::imageops::crop_imm(
            &picture,
            (x * width as f32) as u32,
            (y * height as f32) as u32,
            ((w * width as f32) as u32).max(1),
            ((h * height as f32) as u32).max(1),
        )
        .to_image();
        let scale = (MAX_SIDE as f32 / crop.width().max(crop.height()) as f32).min(1.0);
        let resized = image::imageops::resize(
            &crop,
            ((crop.width() as f32 * scale) as u32).max(1),
            ((crop.height() as f32 * scale) as u32).max(1),
            FilterType::Triangle,
        );
        let name = format!("{stem}--{index}.jpg");
        let file = fs::File::create(folder.join(&name))?;
        JpegEncoder::new_with_quality(std::io::BufWriter::new(file), JPEG_QUALITY)
            .encode_image(&resized)?;
        names.push(name);
    }
    Ok(names)
}

/// Decodable image files below `dir` (SVG is left out: the image crate does not rasterise it).
pub fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("cannot read {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(extension(&path).as_str(), "png" | "jpg" | "jpeg" | "webp") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub fn extension(path: &Path) -> String {
    path.extension()
        .unwrap_or_default()
        .to_string_lossy()
        .to_ascii_lowercase()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
