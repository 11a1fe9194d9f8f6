//! `report.html` in the run folder: what a person reads to decide whether the filter is good
//! enough. Learning curves, the ROC curve and the threshold sweep as PNG plots (plotters, with
//! an embedded DejaVu font so no system font is needed), the confusion matrix and per-class
//! precision / recall / F1 on the test split, the three operating points, the most confident
//! mistakes as thumbnails and every skipped file.

mod activation;
mod mistakes;
mod plots;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use veil_core::operating_points::Strictness;
use veil_core::quality::{REPORTED_FPR, roc};
use veil_core::{Output, PackMetadata};

pub use self::activation::{ActivationMap, activation_maps};
use self::plots::{
    activation_grid, filter_grid, plot_accuracy, plot_loss, plot_roc, plot_sweep, register_font,
};
use crate::data::{Example, Provenance};
use crate::describe;
use crate::epoch_log::EpochMetrics;
use crate::metrics::{self, confusion_matrix, per_class};

pub const REPORT_FILE: &str = "report.html";

/// What the report is made from; everything is already computed by the run.
pub struct RunReport<'a> {
    pub metadata: &'a PackMetadata,
    /// The first conv layer's kernels, `[filters, 3, k, k]`, flattened, and their shape.
    pub first_layer: (&'a [f32], [usize; 4]),
    pub epochs: &'a [EpochMetrics],
    /// Test-split label probabilities and the images they are of.
    pub test_rows: &'a [Vec<f32>],
    pub test_examples: &'a [Example],
    /// Test-split flagged probability and whether the image should be flagged.
    pub test_scored: &'a [(f32, bool)],
    /// Each test image's source and medium, where the dataset's manifest says.
    pub test_provenance: Option<&'a [Provenance]>,
    pub skipped: &'a [(PathBuf, String)],
    /// Where the network saw the flagged class in a few test images (pretrained backbone only).
    pub activation_maps: &'a [ActivationMap],
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
         th:first-child,td:first-child{{text-align:left}}img{{max-width:100%}}\
         .mistakes{{display:flex;flex-wrap:wrap;gap:.5em}}.mistakes figure{{margin:0;width:160px;font-size:12px;overflow-wrap:anywhere}}</style>\
         <h1>{name}</h1><p>{}</p>",
        escape(&metadata.description)
    );
    let summary = &metadata.training;
    let _ = write!(
        html,
        "<p>Classes: {}; flagged: {}. {} ({} training and {} validation images). Made by {}.</p>",
        escape(&metadata.labels.join(", ")),
        escape(&metadata.flagged_labels.join(", ")),
        describe::training(summary, report.epochs.len()),
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
            for label in Strictness::ALL {
                let point = quality.at(label);
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
            for (by, groups) in [("source", &quality.sources), ("medium", &quality.media)] {
                if groups.is_empty() {
                    continue;
                }
                let _ = write!(
                    html,
                    "<h3>By {by}, at the balanced point</h3>\
                     <table><tr><th>{by}</th><th>images</th><th>to flag</th><th>caught</th><th>wrongly flagged</th></tr>"
                );
                for group in groups {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&group.name),
                        group.images,
                        group.targets,
                        group.caught,
                        group.false_alarms
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

    if metadata.quality.is_some() {
        let threshold = metadata.operating_points.threshold(Strictness::Balanced);
        let worst = mistakes::worst(
            report.test_examples,
            report.test_scored,
            report.test_provenance,
            threshold,
        );
        mistakes::write_section(&mut html, dir, &worst, threshold)?;
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
    let (precision, recall) = metrics::sample_precision_recall(rows, examples);
    let _ = write!(
        html,
        "<h3>Multi-label measures (a label is predicted at probability ≥ 0.5)</h3>\
         <p>Hamming loss <b>{:.4}</b> (wrong decisions among images × labels); top-class hit rate \
         <b>{:.1}%</b> (the most probable label is one of the image's); sample-averaged precision \
         {:.1}%, recall {:.1}%.</p>\
         <table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>images</th><th>predicted</th></tr>",
        metrics::hamming_loss(rows, examples),
        100.0 * metrics::top_class_hit_rate(rows, examples),
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
        let (p, r, f1) = metrics::precision_recall_f1(hits, called, actual);
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
