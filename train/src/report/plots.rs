//! The report's PNG plots, drawn by plotters with an embedded DejaVu font so that no system font
//! is needed: learning curves, the ROC curve and threshold sweep, the first layer's filters and
//! the class activation maps.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;
use veil_core::quality::RocPoint;

use super::activation::ActivationMap;
use crate::epoch_log::EpochMetrics;

const PLOT_SIZE: (u32, u32) = (640, 400);

/// plotters draws text with ab_glyph from a registered font, never from the system's.
pub(super) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TrueType file shipped inside the dejavu crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

pub(super) type Plot = anyhow::Result<image::RgbImage>;

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a plot: {error}")
}

/// One curve of a line plot; unlabelled curves stay out of the legend.
struct Curve {
    label: Option<&'static str>,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn curve(label: &'static str, color: RGBColor, points: Vec<(f64, f64)>) -> Curve {
    Curve {
        label: Some(label),
        color,
        points,
    }
}

/// The one chart every plot is: axes with descriptions, curves, optional dots and a legend.
fn line_plot(
    x: (std::ops::Range<f64>, &str),
    y: (std::ops::Range<f64>, &str),
    curves: Vec<Curve>,
    dots: &[(f64, f64)],
) -> Plot {
    let (width, height) = PLOT_SIZE;
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, PLOT_SIZE).into_drawing_area();
        area.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(x.0, y.0)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x.1)
            .y_desc(y.1)
            .draw()
            .map_err(plot_error)?;
        let legend = curves.iter().any(|c| c.label.is_some());
        for Curve {
            label,
            color,
            points,
        } in curves
        {
            let series = chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(plot_error)?;
            if let Some(label) = label {
                series
                    .label(label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
            }
        }
        chart
            .draw_series(dots.iter().map(|&dot| Circle::new(dot, 5, RED.filled())))
            .map_err(plot_error)?;
        if legend {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_error)?;
        }
        area.present().map_err(plot_error)?;
    }
    image::RgbImage::from_raw(width, height, buffer)
        .ok_or_else(|| anyhow::anyhow!("plot buffer has the wrong size"))
}

/// The first layer's kernels as RGB tiles, 8 to a row, each stretched to its own value range
/// and enlarged so a 3×3 kernel is visible.
pub(super) fn filter_grid(
    (weights, [filters, channels, height, width]): (&[f32], [usize; 4]),
) -> Plot {
    const COLUMNS: usize = 8;
    const GAP: usize = 2;
    let scale = (48 / height.max(width)).max(1);
    let (tile_w, tile_h) = (width * scale, height * scale);
    let rows = filters.div_ceil(COLUMNS);
    let mut image = image::RgbImage::from_pixel(
        (COLUMNS * (tile_w + GAP) + GAP) as u32,
        (rows * (tile_h + GAP) + GAP) as u32,
        image::Rgb([255, 255, 255]),
    );
    for (filter, kernel) in weights.chunks(channels * height * width).enumerate() {
        let (low, high) = kernel
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let span = (high - low).max(f32::EPSILON);
        let (left, top) = (
            GAP + filter % COLUMNS * (tile_w + GAP),
            GAP + filter / COLUMNS * (tile_h + GAP),
        );
        for y in 0..tile_h {
            for x in 0..tile_w {
                let at = |channel: usize| {
                    let value = kernel
                        [(channel.min(channels - 1) * height + y / scale) * width + x / scale];
                    (255.0 * (value - low) / span) as u8
                };
                image.put_pixel(
                    (left + x) as u32,
                    (top + y) as u32,
                    image::Rgb([at(0), at(1), at(2)]),
                );
            }
        }
    }
    Ok(image)
}

/// Each image with its map laid over it: the map, stretched to the image, scaled to its own
/// largest value and shown as a red-to-yellow glow where it is positive.
pub(super) fn activation_grid(maps: &[ActivationMap]) -> Plot {
    const COLUMNS: usize = 4;
    const GAP: usize = 4;
    let side = maps.first().map_or(0, |map| map.side);
    let rows = maps.len().div_ceil(COLUMNS);
    let mut grid = image::RgbImage::from_pixel(
        (COLUMNS * (side + GAP) + GAP) as u32,
        (rows * (side + GAP) + GAP) as u32,
        image::Rgb([255, 255, 255]),
    );
    for (index, map) in maps.iter().enumerate() {
        let peak = map.map.iter().copied().fold(f32::EPSILON, f32::max);
        let small = image::ImageBuffer::<image::Luma<f32>, Vec<f32>>::from_fn(
            map.map_side as u32,
            map.map_side as u32,
            |x, y| image::Luma([(map.map[y as usize * map.map_side + x as usize] / peak).max(0.0)]),
        );
        let heat = image::imageops::resize(
            &small,
            side as u32,
            side as u32,
            image::imageops::FilterType::Triangle,
        );
        let (left, top) = (
            GAP + index % COLUMNS * (side + GAP),
            GAP + index / COLUMNS * (side + GAP),
        );
        let plane = side * side;
        for y in 0..side {
            for x in 0..side {
                let glow = heat.get_pixel(x as u32, y as u32)[0].clamp(0.0, 1.0);
                let alpha = 0.65 * glow;
                let color = [1.0, glow, 0.0];
                let pixel: [u8; 3] = std::array::from_fn(|channel| {
                    let base = map.input[channel * plane + y * side + x];
                    (255.0 * (base * (1.0 - alpha) + color[channel] * alpha)) as u8
                });
                grid.put_pixel((left + x) as u32, (top + y) as u32, image::Rgb(pixel));
            }
        }
    }
    Ok(grid)
}

pub(super) fn plot_loss(epochs: &[EpochMetrics]) -> Plot {
    let top = epochs
        .iter()
        .flat_map(|row| [row.train_loss, row.validation_loss])
        .map(f64::from)
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let per_epoch = |value: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .map(|row| (row.epoch as f64, value(row)))
            .collect()
    };
    line_plot(
        (epoch_range(epochs), "epoch"),
        (0.0..top, "cross-entropy"),
        vec![
            curve("train", BLUE, per_epoch(|row| row.train_loss.into())),
            curve(
                "validation",
                RED,
                per_epoch(|row| row.validation_loss.into()),
            ),
        ],
        &[],
    )
}

pub(super) fn plot_accuracy(epochs: &[EpochMetrics]) -> Plot {
    let points = epochs
        .iter()
        .map(|row| (row.epoch as f64, 100.0 * f64::from(row.validation_accuracy)))
        .collect();
    line_plot(
        (epoch_range(epochs), "epoch"),
        (0.0..100.0, "validation accuracy (%)"),
        vec![Curve {
            label: None,
            color: RED,
            points,
        }],
        &[],
    )
}

fn epoch_range(epochs: &[EpochMetrics]) -> std::ops::Range<f64> {
    let last = epochs.last().map_or(1, |row| row.epoch).max(2);
    1.0..last as f64
}

pub(super) fn plot_roc(roc_curve: &[RocPoint], operating_points: Option<[RocPoint; 3]>) -> Plot {
    let mut points = vec![(0.0, 0.0)];
    points.extend(roc_curve.iter().map(|p| (p.false_positive_rate, p.recall)));
    let dots: Vec<(f64, f64)> = operating_points
        .into_iter()
        .flatten()
        .map(|p| (p.false_positive_rate, p.recall))
        .collect();
    line_plot(
        (0.0..1.0, "false-positive rate"),
        (0.0..1.0, "recall"),
        vec![
            Curve {
                label: None,
                color: RGBColor(190, 190, 190),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
            },
            Curve {
                label: None,
                color: BLUE,
                points,
            },
        ],
        &dots,
    )
}

pub(super) fn plot_sweep(roc_curve: &[RocPoint]) -> Plot {
    let along = |value: fn(&RocPoint) -> f64| -> Vec<(f64, f64)> {
        roc_curve
            .iter()
            .map(|p| (f64::from(p.threshold), value(p)))
            .collect()
    };
    line_plot(
        (0.0..1.0, "threshold on the flagged probability"),
        (0.0..1.0, "rate"),
        vec![
            curve("recall", BLUE, along(|p| p.recall)),
            curve("false-positive rate", RED, along(|p| p.false_positive_rate)),
            curve("precision", GREEN, along(|p| p.precision)),
        ],
        &[],
    )
}
