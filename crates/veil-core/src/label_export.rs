//! The user's labelled pictures as a dataset `veil-train train --data` reads: a zip of one
//! folder per class, with a manifest saying which site each picture came from (so that
//! `--split-by source` can hold whole sites out) and a note on how to train from it.

use std::io::{Cursor, Write};

use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use crate::user_labels::Mark;

/// The class folder of pictures marked "hide images like this": the class to flag.
pub const SPOILER: &str = "spoiler";
/// The class folder of pictures marked "not a spoiler".
pub const NOT_A_SPOILER: &str = "not-a-spoiler";

/// One labelled picture as the extension keeps it.
pub struct LabelledPicture<'a> {
    pub mark: Mark,
    pub url: &'a str,
    /// The picture's file as it was fetched when it was labelled.
    pub bytes: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("there are no labelled images to export")]
    Empty,
    #[error("the label on {url} holds no picture Veil can read: export it again after labelling it anew")]
    NotAnImage { url: String },
    #[error("could not write the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("could not write the zip: {0}")]
    Io(#[from] std::io::Error),
}

/// The zip's bytes: `spoiler/` and `not-a-spoiler/` holding each picture as it was fetched,
/// `manifest.tsv` and `README.txt`.
pub fn labels_dataset(pictures: &[LabelledPicture]) -> Result<Vec<u8>, ExportError> {
    if pictures.is_empty() {
        return Err(ExportError::Empty);
    }
    // Stored, not deflated: the pictures are compressed already.
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut manifest = String::from("class\tfile\tsource\turl\n");
    for (index, picture) in pictures.iter().enumerate() {
        let format = image::guess_format(picture.bytes).map_err(|_| ExportError::NotAnImage {
            url: picture.url.to_string(),
        })?;
        let extension = format.extensions_str().first().copied().unwrap_or("img");
        let class = match picture.mark {
            Mark::Hide => SPOILER,
            Mark::Show => NOT_A_SPOILER,
        };
        let file = format!("{:04}-{}.{extension}", index + 1, file_stem(picture.url));
        zip.start_file(format!("{class}/{file}"), options)?;
        zip.write_all(picture.bytes)?;
        // A data: URL is the picture itself: its header says enough.
        let url = match picture.url.split_once(',') {
            Some((header, _)) if picture.url.starts_with("data:") => header,
            _ => picture.url,
        }
        .replace(['\t', '\n', '\r'], " ");
        manifest.push_str(&format!("{class}\t{file}\t{}\t{url}\n", site(picture.url)));
    }
    zip.start_file("manifest.tsv", options)?;
    zip.write_all(manifest.as_bytes())?;
    zip.start_file("README.txt", options)?;
    zip.write_all(readme(pictures).as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

fn readme(pictures: &[LabelledPicture]) -> String {
    let hidden = pictures.iter().filter(|p| p.mark == Mark::Hide).count();
    format!(
        "Veil's labelled images: {hidden} you marked \"hide images like this\" (in {SPOILER}/) and {} \
         \"not a spoiler\" (in {NOT_A_SPOILER}/), each as it was fetched when you labelled it.\n\
         manifest.tsv says which site each came from.\n\n\
         Make a filter from them (add more pictures to both folders for a better one):\n\n\
         \x20   unzip veil-labels.zip -d veil-labels\n\
         \x20   veil-train train --data veil-labels --flag {SPOILER} --out my-filter\n\n\
         Add --split-by source to test the filter on sites it was not trained on.\n",
        pictures.len() - hidden
    )
}

/// The host a URL names (`data:` and other URLs without one: their scheme), so that pictures
/// from one site form one source.
fn site(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None => url.split(':').next().unwrap_or("unknown"),
    }
}

/// A file name from the URL's last path segment: letters, digits, `-` and `_` only, at most
/// 40 of them, without its extension (the picture's format gives that).
fn file_stem(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let last = path.rsplit('/').find(|segment| !segment.is_empty()).unwrap_or("image");
    let stem = last.rsplit_once('.').map_or(last, |(stem, _)| stem);
    let clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(40)
        .collect();
    if clean.is_empty() { "image".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A small picture of one colour, encoded as `format`.
    fn encoded(format: image::ImageFormat, side: u32, colour: [u8; 3]) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(side, side, image::Rgb(colour))
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    #[test]
    fn each_picture_lands_in_its_class_folder_with_its_own_bytes_format_and_site() {
        let png = encoded(image::ImageFormat::Png, 4, [200, 10, 10]);
        let jpeg = encoded(image::ImageFormat::Jpeg, 8, [10, 10, 200]);
        let pictures = [
            LabelledPicture { mark: Mark::Hide, url: "https://cdn.example.org/stills/dragon%20fire.webp?w=800#x", bytes: &png },
            LabelledPicture { mark: Mark::Show, url: "http://127.0.0.1:8080/feed/", bytes: &jpeg },
            LabelledPicture { mark: Mark::Hide, url: "data:image/png;base64,AAAA", bytes: &png },
        ];
        let zip_bytes = labels_dataset(&pictures).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes)).unwrap();
        let mut names: Vec<String> = archive.file_names().map(str::to_string).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "README.txt",
                "manifest.tsv",
                "not-a-spoiler/0002-feed.jpg",
                "spoiler/0001-dragon-20fire.png",
                "spoiler/0003-png-base64-AAAA.png",
            ]
        );
        let mut read = |name: &str| {
            let mut bytes = Vec::new();
            archive.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
            bytes
        };
        assert_eq!(read("not-a-spoiler/0002-feed.jpg"), jpeg);
        assert_eq!(read("spoiler/0001-dragon-20fire.png"), png);
        let manifest = String::from_utf8(read("manifest.tsv")).unwrap();
        let rows: Vec<Vec<&str>> = manifest.lines().map(|line| line.split('\t').collect()).collect();
        assert_eq!(rows[0], ["class", "file", "source", "url"]);
        assert_eq!(rows[1][..3], ["spoiler", "0001-dragon-20fire.png", "cdn.example.org"]);
        assert_eq!(rows[2][..3], ["not-a-spoiler", "0002-feed.jpg", "127.0.0.1:8080"]);
        assert_eq!(rows[3][2..], ["data", "data:image/png;base64"]);
        let readme = String::from_utf8(read("README.txt")).unwrap();
        assert!(readme.contains("2 you marked \"hide images like this\""), "{readme}");
        assert!(readme.contains("--flag spoiler"), "{readme}");
    }

    #[test]
    fn nothing_to_export_or_a_label_without_a_picture_is_refused_with_the_reason() {
        assert_eq!(labels_dataset(&[]).unwrap_err().to_string(), "there are no labelled images to export");
        let html = b"<!doctype html><p>not found</p>";
        let error = labels_dataset(&[LabelledPicture { mark: Mark::Show, url: "https://a.example/x.jpg", bytes: html }]).unwrap_err();
        assert!(error.to_string().contains("https://a.example/x.jpg"), "{error}");
    }
}
