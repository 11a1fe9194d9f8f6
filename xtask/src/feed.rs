//! The demo feed in `www/feed/`: a social-media-like page of real images from the default
//! dataset's held-out splits (never seen in training), with the ways real feeds show images
//! (lazy loading, srcset, `<picture>`, CSS backgrounds, video posters, shadow DOM, a second
//! origin, same-origin iframes) and the broken files real feeds also serve. The extension tests and the page
//! benchmark run on it. Generated, not committed: `www/feed/posts.json` and `www/feed/images/`.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, bail};
use image::codecs::gif::GifEncoder;
use image::{Delay, Frame, Rgba, RgbaImage};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dataset::{self, OTHER_CLASS, TARGET_CLASS};
use crate::root;

/// A feed long enough to need infinite scroll and to measure; the issue asks for at least 100.
const MIN_FEED_IMAGES: usize = 100;

/// How each image post shows its picture, in turn.
const KINDS: [&str; 9] = [
    "img",
    "lazy",
    "srcset",
    "picture",
    "background",
    "shadow",
    "poster",
    "cross-origin",
    "iframe",
];

const CAPTIONS: [&str; 8] = [
    "Saturday, finally.",
    "Found this while scrolling, had to share",
    "New wallpaper?",
    "Can't stop looking at this one",
    "Throwback",
    "Who else is watching tonight?",
    "Art dump, part 3",
    "The view from here",
];

/// Text posts, some mentioning what the default keywords hide. "Winterfell" is not a default
/// keyword: the popup test adds it. "gotten" must not match the keyword "got".
const TEXT_POSTS: [(&str, bool); 6] = [
    ("No spoilers please, but that Game of Thrones finale…", true),
    ("I have gotten so much done today.", false),
    ("Winterfell in winter is exactly how I imagined it.", false),
    ("GAME OF THRONES rewatch starts now!", true),
    ("Coffee first. Everything else later.", false),
    ("Anyone else think the bread recipe needs more salt?", false),
];

pub fn feed_dir() -> PathBuf {
    root().join("www").join("feed")
}

/// Writes the feed's images and `posts.json`; returns the real images' paths in post order.
pub fn build() -> anyhow::Result<Vec<PathBuf>> {
    let data = dataset::dataset_dir();
    let mut sources = Vec::new();
    for split in ["test", "valid"] {
        for class in [TARGET_CLASS, OTHER_CLASS] {
            for file in dataset::image_files(&data.join(split).join(class))? {
                sources.push((file, class));
            }
        }
        if sources.len() >= MIN_FEED_IMAGES {
            break;
        }
    }
    if sources.len() < MIN_FEED_IMAGES {
        bail!(
            "the default dataset has only {} held-out images; the feed needs {MIN_FEED_IMAGES}",
            sources.len()
        );
    }
    // Interleave the classes deterministically so flagged images appear all the way down.
    sources.sort_by_key(|(file, _)| {
        dataset::hex(&Sha256::digest(
            file.file_name().unwrap().as_encoded_bytes(),
        ))
    });

    let dir = feed_dir();
    let images = dir.join("images");
    if images.exists() {
        fs::remove_dir_all(&images)?;
    }
    fs::create_dir_all(&images)?;
    let mut posts = Vec::new();
    let mut real = Vec::new();
    for (index, (source, class)) in sources.iter().enumerate() {
        let name = format!("p{index:03}.{}", dataset::extension(source));
        fs::copy(source, images.join(&name))
            .with_context(|| format!("cannot copy {}", source.display()))?;
        real.push(images.join(&name));
        posts.push(json!({
            "id": format!("p{index:03}"),
            "kind": KINDS[index % KINDS.len()],
            "image": format!("images/{name}"),
            "class": class,
            "caption": CAPTIONS[index % CAPTIONS.len()],
        }));
        if index % 12 == 5 {
            let (text, keyword) = TEXT_POSTS[(index / 12) % TEXT_POSTS.len()];
            posts.push(json!({ "id": format!("t{index:03}"), "kind": "text", "caption": text, "mentionsDefaultKeyword": keyword }));
        }
    }
    for (file, bytes, expectation) in broken_images()? {
        fs::write(images.join(&file), bytes)?;
        posts.push(json!({
            "id": format!("bad-{}", file.replace('.', "-")),
            "kind": "img",
            "image": format!("images/{file}"),
            "class": "broken",
            "expect": expectation,
            "caption": "This one is broken on purpose.",
        }));
    }
    posts.push(json!({ "id": "bad-missing", "kind": "img", "image": "images/missing.jpg", "class": "broken", "expect": "covered", "caption": "This image is gone (404)." }));
    let feed = json!({ "posts": Value::Array(posts) });
    fs::write(dir.join("posts.json"), serde_json::to_vec_pretty(&feed)?)?;
    Ok(real)
}

/// Files a feed serves that no filter can judge, and what the extension must do with each:
/// `covered` (fail closed), `shown` (vector art is not judged).
fn broken_images() -> anyhow::Result<Vec<(String, Vec<u8>, &'static str)>> {
    let real = dataset::parity_images(&crate::default_run_dir())?
        .into_iter()
        .next()
        .context("no held-out image")?;
    let real_bytes = fs::read(&real)?;
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        for shade in [40u8, 200] {
            let frame = RgbaImage::from_pixel(96, 96, Rgba([shade, 90, 160, 255]));
            encoder.encode_frame(Frame::from_parts(
                frame,
                0,
                0,
                Delay::from_numer_denom_ms(200, 1),
            ))?;
        }
    }
    // A PNG header that promises 100 000 × 100 000 pixels: decoding it would need 40 GB.
    let mut huge = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    huge.extend_from_slice(&100_000u32.to_be_bytes());
    huge.extend_from_slice(&100_000u32.to_be_bytes());
    huge.extend_from_slice(&[8, 6, 0, 0, 0]);
    huge.extend_from_slice(&crc32fast::hash(&huge[12..]).to_be_bytes());
    let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"><rect width="240" height="160" fill="#3a6"/><circle cx="120" cy="80" r="50" fill="#fc3"/></svg>"##;
    Ok(vec![
        ("empty.jpg".into(), Vec::new(), "covered"),
        (
            format!("truncated.{}", dataset::extension(&real)),
            real_bytes[..real_bytes.len().min(700)].to_vec(),
            "covered",
        ),
        ("huge.png".into(), huge, "covered"),
        ("animated.gif".into(), gif, "judged"),
        ("drawing.svg".into(), svg.to_vec(), "shown"),
    ])
}
