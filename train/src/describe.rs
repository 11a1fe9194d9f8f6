//! The plain-text summaries that commands print and the report repeats: what a run kept, where a
//! pack's thresholds lie and how good it measured.

use veil_core::PackMetadata;
use veil_core::operating_points::Strictness;
use veil_core::pack::TrainingSummary;
use veil_core::quality::{Quality, REPORTED_FPR};

/// "best epoch 7 of 30: validation accuracy 95.1%, loss 0.1234"; `epochs_run` counts the
/// epochs the run went through (early stopping ends some before the recipe's last).
pub fn training(summary: &TrainingSummary, epochs_run: usize) -> String {
    match (summary.validation_accuracy, summary.validation_loss) {
        (Some(accuracy), Some(loss)) => format!(
            "best epoch {} of {epochs_run}: validation accuracy {:.1}%, loss {loss:.4}",
            summary.epochs,
            100.0 * accuracy
        ),
        _ => "nothing was trained".to_string(),
    }
}

/// A new pack's operating points and its measured quality, as `train` and `concept` print them.
pub fn thresholds(metadata: &PackMetadata) -> String {
    let points = &metadata.operating_points;
    let listed: Vec<String> = Strictness::ALL
        .iter()
        .map(|&strictness| format!("{strictness} {:.3}", points.threshold(strictness)))
        .collect();
    let mut text = format!(
        "operating points (flagged probability): {}\n",
        listed.join(", ")
    );
    if let Some(quality) = &metadata.quality {
        text.push_str(&quality_summary(quality));
    }
    text
}

/// The quality summary that `train`, `concept` and `eval` print.
pub fn quality_summary(quality: &Quality) -> String {
    let percent = |x: f64| 100.0 * x;
    let mut text = format!(
        "{} split: {} images, {} to flag; ROC AUC {:.3}; recall {:.1}% at a false-positive rate of at most {:.0}%\n",
        quality.split,
        quality.images,
        quality.flagged_images,
        quality.auc,
        percent(quality.recall_at_reported_fpr),
        percent(REPORTED_FPR)
    );
    for strictness in Strictness::ALL {
        let point = quality.at(strictness);
        text.push_str(&format!(
            "  {strictness:<8} (threshold {:.3}): recall {:.1}%, false positives {:.1}%, precision {:.1}%\n",
            point.threshold,
            percent(point.recall),
            percent(point.false_positive_rate),
            percent(point.precision)
        ));
    }
    for (by, groups) in [("source", &quality.sources), ("medium", &quality.media)] {
        if !groups.is_empty() {
            text.push_str(&format!("  by {by}, at the balanced point:\n"));
        }
        for group in groups {
            text.push_str(&format!("    {}\n", group.summary()));
        }
    }
    text
}
