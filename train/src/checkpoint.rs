//! Checkpoints that survive a kill. After every epoch the whole training state (model,
//! optimizer moments, schedule position, the best model so far, the log) goes into a new
//! folder under `<run>.checkpoint/`, which is renamed into place only once complete, and the
//! `latest` file is then switched to it by another rename: a SIGKILL at any moment leaves the
//! last complete epoch. `veil-train train` with the same config on the same images resumes
//! from it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::Device;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use veil_core::{Architecture, Cnn};

use crate::data::Example;
use crate::epoch_log::EpochMetrics;
use crate::schedule::{Improvement, ScheduleState};

const LATEST: &str = "latest";
const STATE: &str = "state.json";
const MODEL: &str = "model.bin";
const OPTIMIZER: &str = "optimizer.bin";
const BEST: &str = "best.bin";

/// Everything but the tensors.
#[derive(Serialize, Deserialize)]
pub struct State {
    /// The effective config: a checkpoint only resumes the run it came from.
    pub config: String,
    /// [`data_fingerprint`] of the images it learnt from (empty in a checkpoint older than the
    /// fingerprint, which so never resumes).
    #[serde(default)]
    pub data: String,
    /// The last completed epoch.
    pub epoch: usize,
    /// Early stopping ended the run at `epoch`.
    pub stopped: bool,
    pub schedule: ScheduleState,
    pub improvement: Improvement,
    pub best: Option<EpochMetrics>,
    /// `log.csv` so far.
    pub log: Vec<EpochMetrics>,
}

/// SHA-256 of the training and validation examples as the network sees them (labels and
/// pixels, in order): the same recipe over a folder whose pictures changed must not resume.
pub fn data_fingerprint(train: &[Example], validation: &[Example]) -> String {
    let mut hash = Sha256::new();
    for (split, examples) in [("train", train), ("validation", validation)] {
        hash.update(split.as_bytes());
        hash.update((examples.len() as u64).to_le_bytes());
        for example in examples {
            hash.update((example.labels.len() as u64).to_le_bytes());
            for label in &example.labels {
                hash.update((*label as u64).to_le_bytes());
            }
            for value in &example.input {
                hash.update(value.to_le_bytes());
            }
        }
    }
    format!("{:x}", hash.finalize())
}

/// A checkpoint read back, on the training device.
pub struct Resumed {
    pub state: State,
    pub model: Cnn,
    pub optimizer: ModuleOptimizer,
    pub best_model: Option<Cnn>,
}

pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// The checkpoints of the run that writes `out`.
    pub fn for_run(out: &Path) -> Self {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".checkpoint");
        Self {
            dir: out.with_file_name(name),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forgets every checkpoint (a finished run, or `--restart`).
    pub fn clear(&self) -> anyhow::Result<()> {
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        }
        Ok(())
    }

    /// The last complete checkpoint of this very config on these very images (`data`, their
    /// [`data_fingerprint`]), if any; a checkpoint of another run is an error rather than
    /// silently discarded work.
    pub fn resume(
        &self,
        config: &str,
        data: &str,
        architecture: &Architecture,
        device: &Device,
        optimizer: ModuleOptimizer,
    ) -> anyhow::Result<Option<Resumed>> {
        let Ok(latest) = fs::read_to_string(self.dir.join(LATEST)) else {
            return Ok(None);
        };
        let folder = self.dir.join(latest.trim());
        let state: State =
            serde_json::from_slice(&fs::read(folder.join(STATE))?).with_context(|| {
                format!(
                    "{} is damaged; delete it or pass --restart",
                    self.dir.display()
                )
            })?;
        if state.config != config {
            bail!(
                "{} holds a checkpoint of a run with a different config; pass --restart to discard it, or train with its config ({})",
                self.dir.display(),
                folder.join(STATE).display()
            );
        }
        if state.data != data {
            bail!(
                "{} holds a checkpoint of a run on other images: the training or validation pictures have changed since; pass --restart to discard it, or restore the pictures it learnt from",
                self.dir.display()
            );
        }
        let load = |file: &str| -> anyhow::Result<Cnn> {
            let bytes = fs::read(folder.join(file))?;
            let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
                .map_err(|error| anyhow::anyhow!("{file}: {error}"))?;
            architecture
                .init(device)
                .try_load_record(record)
                .map_err(|error| anyhow::anyhow!("{file}: {error}"))
        };
        let model = load(MODEL)?;
        let best_model = folder.join(BEST).exists().then(|| load(BEST)).transpose()?;
        let optimizer = optimizer
            .from_bytes(Bytes::from_bytes_vec(fs::read(folder.join(OPTIMIZER))?))
            .map_err(|error| anyhow::anyhow!("{OPTIMIZER}: {error}"))?;
        Ok(Some(Resumed {
            state,
            model,
            optimizer,
            best_model,
        }))
    }

    pub fn save(
        &self,
        state: &State,
        model: &Cnn,
        optimizer: &ModuleOptimizer,
        best_model: Option<&Cnn>,
    ) -> anyhow::Result<()> {
        let name = format!("epoch-{:05}", state.epoch);
        let partial = self.dir.join(format!("{name}.partial"));
        if partial.exists() {
            fs::remove_dir_all(&partial)?;
        }
        fs::create_dir_all(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let record = |model: &Cnn| -> anyhow::Result<Vec<u8>> {
            Ok(model
                .clone()
                .into_record()
                .into_bytes()
                .map_err(|error| anyhow::anyhow!("cannot serialize the model: {error}"))?
                .to_vec())
        };
        fs::write(partial.join(MODEL), record(model)?)?;
        if let Some(best) = best_model {
            fs::write(partial.join(BEST), record(best)?)?;
        }
        let optimizer = optimizer
            .into_bytes()
            .map_err(|error| anyhow::anyhow!("cannot serialize the optimizer: {error}"))?;
        fs::write(partial.join(OPTIMIZER), optimizer.to_vec())?;
        fs::write(partial.join(STATE), serde_json::to_vec(state)?)?;
        let complete = self.dir.join(&name);
        if complete.exists() {
            fs::remove_dir_all(&complete)?;
        }
        fs::rename(&partial, &complete)?;
        let previous = fs::read_to_string(self.dir.join(LATEST)).ok();
        let pointer = self.dir.join(format!("{LATEST}.partial"));
        fs::write(&pointer, &name)?;
        fs::rename(&pointer, self.dir.join(LATEST))?;
        if let Some(previous) = previous.filter(|previous| previous.trim() != name) {
            // An older epoch left behind (say, by a kill right here) only costs disk space.
            let _ = fs::remove_dir_all(self.dir.join(previous.trim()));
        }
        Ok(())
    }
}
