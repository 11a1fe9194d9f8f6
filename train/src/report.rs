//! `report.html` in the run folder: what a person reads to decide whether the filter is good
//! enough. Learning curves, the ROC curve and the threshold sweep as PNG plots (plotters, with
//! an embedded DejaVu font so no system font is needed), the confusion matrix and per-class
//! precision / recall / F1 on the test split, the three operating points and every skipped file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::Context;
use burn::prelude::*;
use plotters::prelude::*;
use plotters::style::FontStyle;
use veil_core::classify::read_rows;
use veil_core::quality::{REPORTED_FPR, RocPoint, roc};
use veil_core::{Cnn, Output, PackMetadata, preprocess};

use crate::data::Example;
use crate::training::argmax;

pub const REPORT_FILE: &str = "report.html";
const PLOT_SIZE: (u32, u32) = (640, 400);

/// One row of the run's `log.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub validation_accuracy: f64,
}

/// Reads the rows of `log.csv` as the training loop writes it.
pub fn parse_log(log: &str) -> anyhow::Result<Vec<EpochRow>> {
    log.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let [
                epoch,
                learning_rate,
                train_loss,
                validation_loss,
                validation_accuracy,
            ] = fields[..]
            else {
                anyhow::bail!("log line {line:?} does not have 5 fields");
            };
            Ok(EpochRow {
                epoch: epoch.parse()?,
                learning_rate: learning_rate.parse()?,
                train_loss: train_loss.parse()?,
                validation_loss: validation_loss.parse()?,
                validation_accuracy: validation_accuracy.parse()?,
            })
        })
        .collect()
}

/// What the report is made from; everything is already computed by the run.
pub struct RunReport<'a> {
    pub metadata: &'a PackMetadata,
    /// The first conv layer's kernels, `[filters, 3, k, k]`, flattened, and their shape.
    pub first_layer: (&'a [f32], [usize; 4]),
    pub epochs: &'a [EpochRow],
    /// Test-split label probabilities and the images they are of.
    pub test_rows: &'a [Vec<f32>],
    pub test_examples: &'a [Example],
    /// Test-split flagged probability and whether the image should be flagged.
    pub test_scored: &'a [(f32, bool)],
    pub skipped: &'a [(PathBuf, String)],
    /// Where the network saw the flagged class in a few test images (pretrained backbone only).
    pub activation_maps: &'a [ActivationMap],
}

/// One test image and its class activation map for the flagged class.
pub struct ActivationMap {
    pub path: PathBuf,
    /// The network's input, `[3, side, side]` in [0, 1].
    pub input: Vec<f32>,
    pub side: usize,
    /// `map_side × map_side` contributions to the flagged class's logit.
    pub map: Vec<f32>,
    pub map_side: usize,
    pub flagged_probability: f32,
    pub should_flag: bool,
}

/// Class activation maps of up to four test images that should be flagged and four that
/// should not (in the split's order), for the pack's first flagged output. Empty for a network
/// without the pretrained backbone: its dense layers leave no map to read.
pub fn activation_maps(
    model: &Cnn,
    examples: &[Example],
    scored: &[(f32, bool)],
    flagged: usize,
    size: usize,
    device: &Device,
) -> anyhow::Result<Vec<ActivationMap>> {
    let Some(backbone) = model.backbone() else {
        return Ok(Vec::new());
    };
    let pick = |wanted: bool| {
        examples
            .iter()
            .zip(scored)
            .filter(move |(_, (_, should))| *should == wanted)
            .take(4)
    };
    let chosen: Vec<(&Example, &(f32, bool))> = pick(true).chain(pick(false)).collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let inputs: Vec<Vec<f32>> = chosen.iter().map(|(e, _)| e.input.clone()).collect();
    let maps = backbone.class_activation_maps(preprocess::batch(&inputs, size, device), flagged);
    let [count, height, width] = maps.dims();
    let rows = pollster::block_on(read_rows(maps.reshape([count, height * width])))?;
    Ok(chosen
        .into_iter()
        .zip(rows)
        .map(
            |((example, &(flagged_probability, should_flag)), map)| ActivationMap {
                path: example.path.clone(),
                input: example.input.clone(),
                side: size,
                map,
                map_side: height,
                flagged_probability,
                should_flag,
            },
        )
        .collect())
}

/// `matrix[truth][predicted]` over the pack's labels, by the most probable label.
pub fn confusion_matrix(rows: &[Vec<f32>], labels: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut matrix = vec![vec![0; classes]; classes];
    for (row, &truth) in rows.iter().zip(labels) {
        matrix[truth][argmax(row)] += 1;
    }
    matrix
}

/// Precision, recall and F1 of each class from a confusion matrix (0 where undefined).
pub fn per_class(matrix: &[Vec<usize>]) -> Vec<(f64, f64, f64)> {
    (0..matrix.len())
        .map(|class| {
            let hits = matrix[class][class] as f64;
            let predicted: usize = matrix.iter().map(|row| row[class]).sum();
            let actual: usize = matrix[class].iter().sum();
            let ratio = |n: f64, d: usize| if d == 0 { 0.0 } else { n / d as f64 };
            let (precision, recall) = (ratio(hits, predicted), ratio(hits, actual));
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            (precision, recall, f1)
        })
        .collect()
}

/// Writes `report.html` and its plots into `dir`; returns the report's path.
pub fn write(dir: &Path, report: &RunReport) -> anyhow::Result<PathBuf> {
    register_font();
    let metadata = report.metadata;
    let mut html = String::new();
    let name = escape(&metadata.name);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{name}: training report</title>\
         <style>body{{font:15px system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}img{{max-width:100%}}</style>\
         <h1>{name}</h1><p>{}</p>",
        escape(&metadata.description)
    );
    let summary = &metadata.training;
    let _ = write!(
        html,
        "<p>Classes: {}; flagged: {}. Best epoch {} of {}: validation accuracy {:.1}%, loss {:.4} \
         ({} training and {} validation images). Made by {}.</p>",
        escape(&metadata.labels.join(", ")),
        escape(&metadata.flagged_labels.join(", ")),
        summary.epochs,
        report.epochs.len(),
        100.0 * summary.validation_accuracy,
        summary.validation_loss,
        summary.train_images,
        summary.validation_images,
        escape(&metadata.created_by),
    );

    html.push_str("<h2>Held-out test split</h2>");
    match &metadata.quality {
        Some(quality) => {
            let _ = write!(
                html,
                "<p>{} images, {} to flag. ROC AUC <b>{:.3}</b>; recall <b>{:.1}%</b> at a false-positive rate of at most {:.0}%.</p>\
                 <table><tr><th>operating point</th><th>threshold</th><th>recall</th><th>false positives</th><th>precision</th><th>F1</th></tr>",
                quality.images,
                quality.flagged_images,
                quality.auc,
                100.0 * quality.recall_at_reported_fpr,
                100.0 * REPORTED_FPR
            );
            for (label, point) in [
                ("strict", &quality.strict),
                ("balanced", &quality.balanced),
                ("relaxed", &quality.relaxed),
            ] {
                let _ = write!(
                    html,
                    "<tr><td>{label}</td><td>{:.4}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.3}</td></tr>",
                    point.threshold,
                    100.0 * point.recall,
                    100.0 * point.false_positive_rate,
                    100.0 * point.precision,
                    point.f1()
                );
            }
            html.push_str("</table>");
            if !quality.sources.is_empty() {
                html.push_str(
                    "<h3>By source, at the balanced point</h3>\
                     <table><tr><th>source</th><th>images</th><th>to flag</th><th>caught</th><th>wrongly flagged</th></tr>",
                );
                for source in &quality.sources {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&source.source),
                        source.images,
                        source.targets,
                        source.caught,
                        source.false_alarms
                    );
                }
                html.push_str("</table>");
            }
        }
        None => html.push_str(
            "<p>No quality figures: the test split is missing or holds only one kind of image.</p>",
        ),
    }

    if !report.test_examples.is_empty() && metadata.output == Output::MultiLabel {
        multi_label_tables(
            &mut html,
            &metadata.labels,
            report.test_rows,
            report.test_examples,
        );
    } else if !report.test_examples.is_empty() {
        let test_labels: Vec<usize> = report.test_examples.iter().map(Example::class).collect();
        let matrix = confusion_matrix(report.test_rows, &test_labels, metadata.labels.len());
        html.push_str(
            "<h3>Confusion matrix (rows: true class, columns: most probable class)</h3><table><tr><th></th>",
        );
        for label in &metadata.labels {
            let _ = write!(html, "<th>{}</th>", escape(label));
        }
        html.push_str("</tr>");
        for (label, row) in metadata.labels.iter().zip(&matrix) {
            let _ = write!(html, "<tr><th>{}</th>", escape(label));
            for count in row {
                let _ = write!(html, "<td>{count}</td>");
            }
            html.push_str("</tr>");
        }
        html.push_str("</table><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>");
        for ((label, (precision, recall, f1)), row) in
            metadata.labels.iter().zip(per_class(&matrix)).zip(&matrix)
        {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{f1:.3}</td><td>{}</td></tr>",
                escape(label),
                100.0 * precision,
                100.0 * recall,
                row.iter().sum::<usize>()
            );
        }
        html.push_str("</table>");
    }

    html.push_str("<h2>Plots</h2>");
    let mut plots = vec![
        (
            "loss.png",
            "Loss per epoch".to_string(),
            plot_loss(report.epochs),
        ),
        (
            "accuracy.png",
            "Validation accuracy per epoch".to_string(),
            plot_accuracy(report.epochs),
        ),
    ];
    let curve = roc(report.test_scored);
    if !curve.is_empty() {
        let quality = metadata.quality.as_ref();
        plots.push((
            "roc.png",
            "ROC curve on the test split (dots: the operating points)".to_string(),
            plot_roc(&curve, quality.map(|q| [q.strict, q.balanced, q.relaxed])),
        ));
        plots.push((
            "thresholds.png",
            "Threshold sweep on the test split".to_string(),
            plot_sweep(&curve),
        ));
    }
    plots.push((
        "filters.png",
        "First-layer filters (each scaled to its own range; what the network looks for in pixels)"
            .to_string(),
        filter_grid(report.first_layer),
    ));
    if !report.activation_maps.is_empty() {
        let listed: Vec<String> = report
            .activation_maps
            .iter()
            .map(|map| {
                format!(
                    "{} ({:.3}{})",
                    escape(&map.path.file_name().unwrap_or_default().to_string_lossy()),
                    map.flagged_probability,
                    if map.should_flag {
                        ", should be flagged"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        plots.push((
            "activation-maps.png",
            format!(
                "Class activation maps for {:?} on test images (yellow: what made it say so; left to right, top to bottom: {})",
                metadata.flagged_labels.first().cloned().unwrap_or_default(),
                listed.join(", ")
            ),
            activation_grid(report.activation_maps),
        ));
    }
    for (file, caption, image) in plots {
        let image = image?;
        image
            .save(dir.join(file))
            .with_context(|| format!("cannot write {}", dir.join(file).display()))?;
        let _ = write!(
            html,
            "<figure><img src=\"{file}\" alt=\"{caption}\"><figcaption>{caption}</figcaption></figure>"
        );
    }

    if !report.skipped.is_empty() {
        let _ = write!(
            html,
            "<h2>Skipped files ({})</h2><ul>",
            report.skipped.len()
        );
        for (path, reason) in report.skipped {
            let _ = write!(
                html,
                "<li>{}: {}</li>",
                escape(&path.display().to_string()),
                escape(reason)
            );
        }
        html.push_str("</ul>");
    }
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Seed S1's measures and each label's precision, recall and F1, a label counting as predicted
/// at probability 0.5 or more.
fn multi_label_tables(
    html: &mut String,
    labels: &[String],
    rows: &[Vec<f32>],
    examples: &[Example],
) {
    let (precision, recall) = crate::metrics::sample_precision_recall(rows, examples);
    let _ = write!(
        html,
        "<h3>Multi-label measures (a label is predicted at probability ≥ 0.5)</h3>\
         <p>Hamming loss <b>{:.4}</b> (wrong decisions among images × labels); top-class hit rate \
         <b>{:.1}%</b> (the most probable label is one of the image's); sample-averaged precision \
         {:.1}%, recall {:.1}%.</p>\
         <table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>images</th><th>predicted</th></tr>",
        crate::metrics::hamming_loss(rows, examples),
        100.0 * crate::metrics::top_class_hit_rate(rows, examples),
        100.0 * precision,
        100.0 * recall
    );
    for (index, label) in labels.iter().enumerate() {
        let has = |example: &Example| example.labels.contains(&index);
        let predicted: Vec<bool> = rows.iter().map(|row| row[index] >= 0.5).collect();
        let hits = examples
            .iter()
            .zip(&predicted)
            .filter(|(e, p)| has(e) && **p)
            .count();
        let actual = examples.iter().filter(|e| has(e)).count();
        let called = predicted.iter().filter(|p| **p).count();
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let (p, r) = (ratio(hits, called), ratio(hits, actual));
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{f1:.3}</td><td>{actual}</td><td>{called}</td></tr>",
            escape(label),
            100.0 * p,
            100.0 * r
        );
    }
    html.push_str("</table>");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// plotters draws text with ab_glyph from a registered font, never from the system's.
fn register_font() {
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

type Plot = anyhow::Result<image::RgbImage>;

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
fn filter_grid((weights, [filters, channels, height, width]): (&[f32], [usize; 4])) -> Plot {
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
fn activation_grid(maps: &[ActivationMap]) -> Plot {
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

fn plot_loss(epochs: &[EpochRow]) -> Plot {
    let top = epochs
        .iter()
        .flat_map(|row| [row.train_loss, row.validation_loss])
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let per_epoch = |value: fn(&EpochRow) -> f64| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .map(|row| (row.epoch as f64, value(row)))
            .collect()
    };
    line_plot(
        (epoch_range(epochs), "epoch"),
        (0.0..top, "cross-entropy"),
        vec![
            curve("train", BLUE, per_epoch(|row| row.train_loss)),
            curve("validation", RED, per_epoch(|row| row.validation_loss)),
        ],
        &[],
    )
}

fn plot_accuracy(epochs: &[EpochRow]) -> Plot {
    let points = epochs
        .iter()
        .map(|row| (row.epoch as f64, 100.0 * row.validation_accuracy))
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

fn epoch_range(epochs: &[EpochRow]) -> std::ops::Range<f64> {
    let last = epochs.last().map_or(1, |row| row.epoch).max(2);
    1.0..last as f64
}

fn plot_roc(roc_curve: &[RocPoint], operating_points: Option<[RocPoint; 3]>) -> Plot {
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

fn plot_sweep(roc_curve: &[RocPoint]) -> Plot {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_reads_back_as_rows() {
        let log = "epoch,learning_rate,train_loss,validation_loss,validation_accuracy\n\
                   1,0.001,0.69,0.65,0.6\n2,0.0005,0.5,0.45,0.8\n";
        let rows = parse_log(log).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].epoch, 2);
        assert_eq!(rows[1].validation_accuracy, 0.8);
        assert!(parse_log("header\n1,2,3\n").is_err());
    }

    #[test]
    fn confusion_matrix_and_per_class_scores_count_by_the_most_probable_class() {
        // Truth 0 predicted 0, 0 → 1, 1 → 1, 1 → 1.
        let rows = vec![
            vec![0.9, 0.1],
            vec![0.3, 0.7],
            vec![0.2, 0.8],
            vec![0.4, 0.6],
        ];
        let matrix = confusion_matrix(&rows, &[0, 0, 1, 1], 2);
        assert_eq!(matrix, vec![vec![1, 1], vec![0, 2]]);
        let scores = per_class(&matrix);
        assert_eq!((scores[0].0, scores[0].1), (1.0, 0.5));
        assert!((scores[0].2 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores[1].0, 2.0 / 3.0);
        assert_eq!(scores[1].1, 1.0);
    }
}
