//! On-the-fly augmentation of training inputs, seeded: horizontal flip, shear, zoom, rotation
//! and shift (the seeds' Keras `ImageDataGenerator` knobs) and random crop. One affine map per
//! image, applied
//! with imageproc's bilinear warp; what the map pulls in from outside the picture is white,
//! the same background `preprocess` composites transparent images over.

use imageproc::geometric_transformations::{Interpolation, Projection, warp};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Mirror left-right half of the time.
    pub flip: bool,
    /// Largest shear factor (x += shear · y), drawn from [-shear, shear].
    pub shear: f32,
    /// Largest relative zoom, drawn from [1 - zoom, 1 + zoom].
    pub zoom: f32,
    /// Largest rotation, in degrees, drawn from [-rotation, rotation].
    pub rotation: f32,
    /// Largest shift, as a fraction of the side, drawn per axis from [-shift, shift].
    pub shift: f32,
    /// Random crop: a square window whose side is drawn from [1 - crop, 1] of the image's,
    /// placed anywhere inside the picture and scaled back to the full size.
    pub crop: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            flip: true,
            shear: 0.0,
            zoom: 0.0,
            rotation: 0.0,
            shift: 0.0,
            crop: 0.0,
        }
    }
}

/// One image's draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub flip: bool,
    pub shear: f32,
    pub zoom: f32,
    pub rotation_degrees: f32,
    pub shift: (f32, f32),
    /// Side of the crop window as a fraction of the image's (1: no crop).
    pub crop_side: f32,
    /// Centre of the crop window relative to the image's centre, as a fraction of the distance
    /// between the outermost pixel centres (the span bilinear sampling stays inside).
    pub crop_centre: (f32, f32),
}

impl Transform {
    const IDENTITY: Transform = Transform {
        flip: false,
        shear: 0.0,
        zoom: 1.0,
        rotation_degrees: 0.0,
        shift: (0.0, 0.0),
        crop_side: 1.0,
        crop_centre: (0.0, 0.0),
    };

    pub fn sample(config: &AugmentConfig, rng: &mut StdRng) -> Self {
        let mut symmetric = |limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let shear = symmetric(config.shear);
        let zoom = 1.0 + symmetric(config.zoom);
        let rotation_degrees = symmetric(config.rotation);
        let shift = (symmetric(config.shift), symmetric(config.shift));
        let crop_side = 1.0 - symmetric(config.crop).abs();
        // The window stays inside the picture: its centre moves at most half the slack.
        let slack = (1.0 - crop_side) / 2.0;
        let crop_centre = (symmetric(slack), symmetric(slack));
        Transform {
            flip: config.flip && rng.random_bool(0.5),
            shear,
            zoom,
            rotation_degrees,
            shift,
            crop_side,
            crop_centre,
        }
    }

    /// Applies the transform to a CHW input of side `size` (values in [0, 1]).
    pub fn apply(&self, input: &[f32], size: usize) -> Vec<f32> {
        if *self == Self::IDENTITY {
            return input.to_vec();
        }
        let side = size as f32;
        let center = (side - 1.0) / 2.0;
        let plane = size * size;
        let image = image::Rgb32FImage::from_fn(size as u32, size as u32, |x, y| {
            let at = y as usize * size + x as usize;
            image::Rgb([input[at], input[plane + at], input[2 * plane + at]])
        });
        let shear = Projection::from_matrix([1.0, self.shear, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
            .expect("a shear is invertible");
        let mirror = if self.flip { -1.0 } else { 1.0 };
        let projection =
            Projection::translate(center + self.shift.0 * side, center + self.shift.1 * side)
                * Projection::rotate(self.rotation_degrees.to_radians())
                * shear
                * Projection::scale(mirror * self.zoom, self.zoom)
                * Projection::scale(1.0 / self.crop_side, 1.0 / self.crop_side)
                * Projection::translate(
                    -(center + self.crop_centre.0 * (side - 1.0)),
                    -(center + self.crop_centre.1 * (side - 1.0)),
                );
        let warped = warp(
            &image,
            &projection,
            Interpolation::Bilinear,
            image::Rgb([1.0, 1.0, 1.0]),
        );
        let mut output = vec![0.0; 3 * plane];
        for (x, y, pixel) in warped.enumerate_pixels() {
            let at = y as usize * size + x as usize;
            for channel in 0..3 {
                output[channel * plane + at] = pixel.0[channel];
            }
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SIZE: usize = 9;

    /// A white image with one black pixel at (x, y), in all three channels.
    fn dot(x: usize, y: usize) -> Vec<f32> {
        let mut input = vec![1.0; 3 * SIZE * SIZE];
        for channel in 0..3 {
            input[channel * SIZE * SIZE + y * SIZE + x] = 0.0;
        }
        input
    }

    /// Where the darkest pixel of the red channel is.
    fn darkest(input: &[f32]) -> (usize, usize) {
        let at = (0..SIZE * SIZE)
            .min_by(|a, b| input[*a].total_cmp(&input[*b]))
            .unwrap();
        (at % SIZE, at / SIZE)
    }

    fn only(change: impl FnOnce(&mut Transform)) -> Transform {
        let mut transform = Transform::IDENTITY;
        change(&mut transform);
        transform
    }

    #[test]
    fn each_transform_moves_a_dot_where_it_should() {
        // Centre is (4, 4).
        let flipped = only(|t| t.flip = true).apply(&dot(1, 2), SIZE);
        assert_eq!(darkest(&flipped), (7, 2));
        let shifted =
            only(|t| t.shift = (2.0 / SIZE as f32, -1.0 / SIZE as f32)).apply(&dot(4, 4), SIZE);
        assert_eq!(darkest(&shifted), (6, 3));
        let zoomed = only(|t| t.zoom = 2.0).apply(&dot(5, 4), SIZE);
        assert_eq!(darkest(&zoomed), (6, 4));
        let rotated = only(|t| t.rotation_degrees = 90.0).apply(&dot(6, 4), SIZE);
        assert_eq!(
            darkest(&rotated),
            (4, 6),
            "clockwise on screen, as y points down"
        );
        let sheared = only(|t| t.shear = 1.0).apply(&dot(4, 6), SIZE);
        assert_eq!(darkest(&sheared), (6, 6));
        // A window of side 3 centred on (6, 2) fills the output: its centre lands in the middle.
        let cropped = only(|t| {
            t.crop_side = 3.0 / SIZE as f32;
            t.crop_centre = (2.0 / (SIZE - 1) as f32, -2.0 / (SIZE - 1) as f32);
        })
        .apply(&dot(6, 2), SIZE);
        assert_eq!(darkest(&cropped), (4, 4));
    }

    #[test]
    fn a_crop_never_reaches_outside_the_picture() {
        let config = AugmentConfig {
            flip: false,
            crop: 0.5,
            ..AugmentConfig::default()
        };
        let black = vec![0.0; 3 * SIZE * SIZE];
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..100 {
            let transform = Transform::sample(&config, &mut rng);
            assert!((0.5..=1.0).contains(&transform.crop_side));
            let cropped = transform.apply(&black, SIZE);
            assert!(
                cropped.iter().all(|&value| value < 1e-4),
                "{transform:?} pulled in the white outside"
            );
        }
    }

    #[test]
    fn the_identity_keeps_the_input_and_the_outside_is_white() {
        let input = dot(3, 3);
        assert_eq!(Transform::IDENTITY.apply(&input, SIZE), input);
        let shifted = only(|t| t.shift = (0.5, 0.0)).apply(&input, SIZE);
        assert_eq!(
            shifted[0], 1.0,
            "the left edge came from outside the picture"
        );
    }

    #[test]
    fn draws_stay_in_their_ranges_and_repeat_with_the_seed() {
        let config = AugmentConfig {
            flip: true,
            shear: 0.2,
            zoom: 0.2,
            rotation: 10.0,
            shift: 0.1,
            crop: 0.0,
        };
        let draws = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| Transform::sample(&config, &mut rng))
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        assert!(first.iter().all(|t| t.shear.abs() <= 0.2
            && (0.8..=1.2).contains(&t.zoom)
            && t.rotation_degrees.abs() <= 10.0
            && t.shift.0.abs() <= 0.1));
        assert!(first.iter().any(|t| t.flip) && first.iter().any(|t| !t.flip));
        let plain = AugmentConfig {
            flip: false,
            ..AugmentConfig::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(Transform::sample(&plain, &mut rng), Transform::IDENTITY);
    }
}
