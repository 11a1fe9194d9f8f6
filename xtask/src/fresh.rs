//! Work that is up to date is not redone: each expensive step names its inputs (file contents,
//! tool versions, arguments), which hash to a key; a step whose key matches the one it recorded
//! when it last succeeded, and whose outputs are all still there, is skipped with one line that
//! says so. `--force` redoes every step. A step that fails, or is interrupted, records nothing,
//! so it runs again next time.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::work_dir;

static FORCE: AtomicBool = AtomicBool::new(false);

/// From now on, every step runs whatever its stamp says (`cargo xtask … --force`).
pub fn force() {
    FORCE.store(true, Ordering::Relaxed);
}

/// What a step's result depends on, hashed as it is named.
pub struct Inputs(Sha256);

impl Inputs {
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// A file's path and contents.
    pub fn file(mut self, path: &Path) -> anyhow::Result<Self> {
        self.0.update(path.as_os_str().as_encoded_bytes());
        self.0.update([0]);
        let mut file =
            fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut buffer = vec![0; 1 << 20];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            self.0.update(&buffer[..read]);
        }
        self.0.update([0]);
        Ok(self)
    }

    pub fn files(self, paths: &[PathBuf]) -> anyhow::Result<Self> {
        paths
            .iter()
            .try_fold(self, |inputs, path| inputs.file(path))
    }

    /// A version, an argument or any other setting.
    pub fn text(mut self, text: &str) -> Self {
        self.0.update(text.as_bytes());
        self.0.update([0]);
        self
    }

    fn key(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// Runs `work` unless step `name` last succeeded on the same `inputs` and left every one of
/// `outputs` in place. Returns whether it ran.
pub fn step(
    name: &str,
    inputs: Inputs,
    outputs: &[&Path],
    work: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<bool> {
    let stamp = work_dir().join("stamps").join(name);
    let key = inputs.key();
    let recorded = fs::read_to_string(&stamp).unwrap_or_default();
    if !FORCE.load(Ordering::Relaxed)
        && recorded.trim() == key
        && outputs.iter().all(|output| output.exists())
    {
        eprintln!("{name}: up to date (its inputs are unchanged; --force redoes it)");
        return Ok(false);
    }
    // Whatever happens below, the old stamp no longer describes the outputs.
    if stamp.exists() {
        fs::remove_file(&stamp).with_context(|| format!("cannot remove {}", stamp.display()))?;
    }
    work()?;
    fs::create_dir_all(stamp.parent().expect("stamps live in a folder"))?;
    fs::write(&stamp, key).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(true)
}
