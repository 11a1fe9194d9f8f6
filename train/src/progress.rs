//! Progress on a terminal: a bar with the step count, elapsed time, ETA and a live metric.
//! indicatif draws nothing when standard error is not a terminal, so logs and CI get only the
//! plain per-epoch lines.

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(length: usize, prefix: String) -> ProgressBar {
    let bar = ProgressBar::new(length as u64).with_prefix(prefix);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>14} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}
