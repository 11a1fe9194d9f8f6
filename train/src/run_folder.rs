//! A run folder is replaced whole or not at all: the new run is written into a staging folder
//! beside it (`<out>.partial/`), and only once every file of it is written does it take the old
//! one's place. A run that fails at any step, the report included, leaves the old run as it was.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Writes a run into `out` through `write`, which gets the staging folder to fill. `out` is
/// replaced only if `write` succeeds; otherwise the staging folder is removed and `out` is left
/// untouched.
pub fn replace_with<T>(
    out: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let staging = sibling(out, "partial")?;
    // Left by a run that was killed while writing: nothing in it is worth keeping.
    remove_if_present(&staging)?;
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let written = match write(&staging) {
        Ok(written) => written,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    let replaced = sibling(out, "replaced")?;
    remove_if_present(&replaced)?;
    if out.exists() {
        fs::rename(out, &replaced)
            .with_context(|| format!("cannot move {} aside", out.display()))?;
    }
    fs::rename(&staging, out).with_context(|| format!("cannot create {}", out.display()))?;
    remove_if_present(&replaced)?;
    Ok(written)
}

/// `<out>.<suffix>` beside `out`.
fn sibling(out: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = out
        .file_name()
        .with_context(|| format!("{} does not name a folder to write", out.display()))?;
    let mut name = name.to_os_string();
    name.push(format!(".{suffix}"));
    Ok(out.with_file_name(name))
}

fn remove_if_present(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("veil-run-folder-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_failing_step_leaves_the_previous_run_as_it_was() {
        let dir = scratch("fails");
        let out = dir.join("run");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("filter.veilpack"), b"old pack").unwrap();
        let failed = replace_with(&out, |staging| -> anyhow::Result<()> {
            fs::write(staging.join("filter.veilpack"), b"new pack")?;
            // As the report does when it cannot be written.
            Err(anyhow::anyhow!("cannot write report.html"))
        });
        assert!(failed.unwrap_err().to_string().contains("report.html"));
        assert_eq!(fs::read(out.join("filter.veilpack")).unwrap(), b"old pack");
        assert!(
            !dir.join("run.partial").exists(),
            "the staging folder is cleaned up"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_complete_run_replaces_the_previous_one_whole() {
        let dir = scratch("completes");
        let out = dir.join("run");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("stale.png"), b"from the old run").unwrap();
        // A staging folder left by a killed run is discarded, not merged.
        fs::create_dir_all(dir.join("run.partial")).unwrap();
        fs::write(dir.join("run.partial").join("leftover"), b"x").unwrap();
        replace_with(&out, |staging| {
            fs::write(staging.join("filter.veilpack"), b"new").map_err(Into::into)
        })
        .unwrap();
        assert_eq!(fs::read(out.join("filter.veilpack")).unwrap(), b"new");
        assert!(!out.join("stale.png").exists() && !out.join("leftover").exists());
        assert!(!dir.join("run.partial").exists() && !dir.join("run.replaced").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
