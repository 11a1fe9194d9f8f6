//! Pixels → network input. The trainer and the browser both call [`to_input`], so an image is
//! seen identically wherever it is judged.

use std::io::Cursor;

use burn::prelude::*;
use image::imageops::FilterType;
use image::{ImageReader, Limits, RgbImage, RgbaImage};

/// Largest width or height accepted. Decoding bombs (a few bytes claiming 100k×100k pixels) are
/// refused before any pixel memory is allocated.
pub const MAX_SIDE: u32 = 16_384;
/// Largest decoder allocation, in bytes.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PreprocessError {
    #[error("could not decode the image: {0}")]
    Decode(String),
    #[error(
        "the image is {width}×{height} pixels; images must be between 1 and {MAX_SIDE} pixels on each side"
    )]
    BadSize { width: u32, height: u32 },
    #[error("{width}×{height} RGBA pixels need {expected} bytes, got {actual}")]
    WrongLength {
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
}

/// Decodes PNG, JPEG, WebP or GIF (first frame) from memory, with size limits.
pub fn decode(bytes: &[u8]) -> Result<RgbaImage, PreprocessError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| PreprocessError::Decode(error.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|error| PreprocessError::Decode(error.to_string()))?;
    check_size(image.width(), image.height())?;
    Ok(image.into_rgba8())
}

/// Wraps raw RGBA bytes (as a canvas `ImageData` holds them), checking the length.
pub fn from_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Result<RgbaImage, PreprocessError> {
    check_size(width, height)?;
    let expected = width as usize * height as usize * 4;
    let actual = rgba.len();
    RgbaImage::from_raw(width, height, rgba).ok_or(PreprocessError::WrongLength {
        width,
        height,
        expected,
        actual,
    })
}

fn check_size(width: u32, height: u32) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PreprocessError::BadSize { width, height });
    }
    Ok(())
}

/// The network's input for one image: composited over white (as a page shows a transparent
/// image), squashed to `size`×`size` with a triangle filter (the whole picture is kept, as the
/// seeds' Keras loaders did), scaled to [0, 1], channel-major (`[3, size, size]`, flattened).
pub fn to_input(image: &RgbaImage, size: usize) -> Vec<f32> {
    channel_major(&input_pixels(image, size))
}

/// The pixels the network sees: `image` over white, squashed to `size`×`size`.
pub fn input_pixels(image: &RgbaImage, size: usize) -> RgbImage {
    let opaque = over_white(image);
    let side = size as u32;
    if opaque.dimensions() == (side, side) {
        opaque
    } else {
        image::imageops::resize(&opaque, side, side, FilterType::Triangle)
    }
}

/// `pixels` scaled to [0, 1], channel-major: what [`batch`] stacks.
pub fn channel_major(pixels: &RgbImage) -> Vec<f32> {
    let plane = pixels.width() as usize * pixels.height() as usize;
    let mut input = vec![0.0f32; 3 * plane];
    for (index, pixel) in pixels.pixels().enumerate() {
        for channel in 0..3 {
            input[channel * plane + index] = f32::from(pixel[channel]) / 255.0;
        }
    }
    input
}

/// The identity of a picture as the network sees it: the SHA-256 of its input pixels (and
/// size), in hex. The same picture under another URL, host or query string, or with its
/// metadata stripped, has the same key and so the same verdict.
pub fn content_key(pixels: &RgbImage) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(pixels.width().to_le_bytes());
    hash.update(pixels.height().to_le_bytes());
    hash.update(pixels.as_raw());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Stacks prepared inputs into a `[batch, 3, size, size]` tensor.
pub fn batch<I: AsRef<[f32]>>(inputs: &[I], size: usize, device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = inputs
        .iter()
        .flat_map(|input| input.as_ref())
        .copied()
        .collect();
    Tensor::from_data(TensorData::new(flat, [inputs.len(), 3, size, size]), device)
}

fn over_white(image: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let [r, g, b, a] = image.get_pixel(x, y).0;
        let blend = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

#[cfg(test)]
mod tests {
    use image::ImageEncoder;

    use super::*;

    fn encode_png(image: &RgbaImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn transparent_pixels_become_white_and_opaque_ones_keep_their_colour() {
        let mut image = RgbaImage::new(2, 1);
        image.put_pixel(0, 0, image::Rgba([10, 20, 30, 0]));
        image.put_pixel(1, 0, image::Rgba([10, 20, 30, 255]));
        let opaque = over_white(&image);
        assert_eq!(opaque.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(opaque.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn input_is_channel_major_and_scaled() {
        let image = RgbaImage::from_pixel(4, 4, image::Rgba([255, 0, 51, 255]));
        let input = to_input(&image, 4);
        assert_eq!(input.len(), 3 * 16);
        assert!(input[..16].iter().all(|&v| v == 1.0));
        assert!(input[16..32].iter().all(|&v| v == 0.0));
        assert!(input[32..].iter().all(|&v| (v - 0.2).abs() < 1e-6));
    }

    #[test]
    fn decoded_png_and_raw_rgba_give_the_same_input() {
        let image = RgbaImage::from_fn(37, 23, |x, y| {
            image::Rgba([(x * 7) as u8, (y * 11) as u8, (x * y) as u8, 200])
        });
        let decoded = decode(&encode_png(&image)).unwrap();
        let raw = from_rgba(37, 23, image.clone().into_raw()).unwrap();
        assert_eq!(to_input(&decoded, 16), to_input(&raw, 16));
    }

    #[test]
    fn the_content_key_follows_the_pixels_the_network_sees_not_the_file() {
        let image = RgbaImage::from_fn(64, 48, |x, y| {
            image::Rgba([(x * 4) as u8, (y * 5) as u8, (x ^ y) as u8, 255])
        });
        let key = |bytes: &[u8]| content_key(&input_pixels(&decode(bytes).unwrap(), 32));
        let png = encode_png(&image);
        // The same pixels in another file: a PNG compressed otherwise (a CDN's re-encode).
        let mut recompressed = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut recompressed,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::Paeth,
        )
        .write_image(image.as_raw(), 64, 48, image::ExtendedColorType::Rgba8)
        .unwrap();
        assert_ne!(png, recompressed);
        assert_eq!(key(&png), key(&recompressed));
        let mut touched = image.clone();
        touched.put_pixel(10, 10, image::Rgba([255, 255, 255, 255]));
        assert_ne!(key(&png), key(&encode_png(&touched)));
        // The input size is part of what the network sees.
        let decoded = decode(&png).unwrap();
        assert_ne!(
            content_key(&input_pixels(&decoded, 32)),
            content_key(&input_pixels(&decoded, 33))
        );
        assert_eq!(
            channel_major(&input_pixels(&decoded, 32)),
            to_input(&decoded, 32)
        );
    }

    #[test]
    fn garbage_and_wrong_lengths_are_clear_errors() {
        assert!(matches!(
            decode(b"definitely not an image"),
            Err(PreprocessError::Decode(_))
        ));
        assert!(matches!(decode(&[]), Err(PreprocessError::Decode(_))));
        assert_eq!(
            from_rgba(2, 2, vec![0; 15]),
            Err(PreprocessError::WrongLength {
                width: 2,
                height: 2,
                expected: 16,
                actual: 15
            })
        );
        assert_eq!(
            from_rgba(0, 5, vec![]),
            Err(PreprocessError::BadSize {
                width: 0,
                height: 5
            })
        );
    }

    #[test]
    fn a_png_claiming_huge_dimensions_is_refused_before_allocation() {
        let mut bytes = encode_png(&RgbaImage::new(1, 1));
        // IHDR width lives at bytes 16..20; claim 100,000 pixels (its CRC no longer matches,
        // which must also be a clean error, never a panic).
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        let error = decode(&bytes).unwrap_err();
        assert!(matches!(error, PreprocessError::Decode(_)), "{error}");
    }
}
