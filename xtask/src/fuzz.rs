//! `cargo xtask fuzz [TARGET] [--seconds N]`: runs the libFuzzer targets of `crates/fuzz` through
//! cargo-fuzz (installed here at a pinned version), each from a seed corpus of real files: the
//! default pack, sample photos and dataset images, keyword texts, the shipped recipes. The
//! corpus each run grows is kept under `target/veil/fuzz/corpus/` for the next run; libFuzzer
//! writes anything that crashes to `crates/fuzz/artifacts/<target>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{backbone, dataset, root, setup, work_dir};

const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The targets in `crates/fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 4] = ["pack", "decode", "keywords", "recipe"];

const DEFAULT_SECONDS: u64 = 60;

/// Seed images larger than this slow every execution down more than they add.
const MAX_SEED_IMAGE: u64 = 48 * 1024;

/// The command line after `fuzz`: an optional target, `--seconds N`.
pub fn parse(args: &[String]) -> anyhow::Result<(Vec<&'static str>, u64)> {
    let mut targets = Vec::new();
    let mut seconds = DEFAULT_SECONDS;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let value = args.next().context("--seconds needs a number")?;
            seconds = value
                .parse()
                .with_context(|| format!("--seconds {value:?} is not a whole number"))?;
        } else if let Some(target) = TARGETS.iter().find(|target| **target == arg) {
            targets.push(*target);
        } else {
            bail!("unknown fuzz target {arg:?}: one of {TARGETS:?}, or none for all");
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    Ok((targets, seconds))
}

/// Fuzzes each of `targets` for `seconds`, seeded from `pack` and the default dataset.
pub fn run_targets(targets: &[&str], seconds: u64, pack: &Path) -> anyhow::Result<()> {
    setup::cargo_tool(
        &["cargo", "fuzz", "--version"],
        "cargo-fuzz",
        CARGO_FUZZ_VERSION,
        &["--locked"],
    )?;
    for target in targets {
        let seeds = work_dir().join("fuzz").join("seeds").join(target);
        let corpus = work_dir().join("fuzz").join("corpus").join(target);
        write_seeds(target, &seeds, pack)?;
        fs::create_dir_all(&corpus)?;
        let status = Command::new("cargo")
            .args(["fuzz", "run", "--fuzz-dir", "crates/fuzz", target])
            .arg(&corpus)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=3072",
                "-print_final_stats=1",
            ])
            // cargo-fuzz passes rustc the sanitizer-coverage flags only nightly accepts; the
            // machine's one toolchain is stable.
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root())
            .status()
            .context("cannot start `cargo fuzz`")?;
        if !status.success() {
            bail!(
                "fuzz target {target} failed ({status}): the input that broke it is in crates/fuzz/artifacts/{target}/; make it a regression test"
            );
        }
    }
    Ok(())
}

/// Real inputs for `target`, written afresh into `dir`.
fn write_seeds(target: &str, dir: &Path, pack: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    let seeds: Vec<(String, Vec<u8>)> = match target {
        "pack" => pack_seeds(pack)?,
        "decode" => image_seeds()?,
        "keywords" => [
            "Game of Thrones\nGoT\0Did you see what happened in Game of Thrones last night?",
            "House of the Dragon\nWesteros\0WESTEROS, spoilers ahead",
            "Daenerys\0Daenerys Targaryen rides again",
            "Émile\nSão Paulo\0emile flew to sao paulo",
            "got\0I got it",
        ]
        .iter()
        .enumerate()
        .map(|(index, text)| (format!("keywords-{index}"), text.as_bytes().to_vec()))
        .collect(),
        "recipe" => fs::read_dir(root().join("recipes"))?
            .map(|entry| {
                let path = entry?.path();
                Ok((file_name(&path), fs::read(&path)?))
            })
            .collect::<anyhow::Result<_>>()?,
        other => bail!("no seeds for {other}"),
    };
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

/// The default pack as the pack target reads it: its first bytes as they are, and its metadata
/// with the start of its weights in the target's sealed layout (two bytes of metadata length,
/// the metadata, the weights).
fn pack_seeds(pack: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let bytes = fs::read(pack).with_context(|| format!("cannot read {}", pack.display()))?;
    let header = |at: usize| -> anyhow::Result<usize> {
        let field: [u8; 4] = bytes
            .get(at..at + 4)
            .context("the default pack is shorter than its header")?
            .try_into()?;
        Ok(u32::from_le_bytes(field) as usize)
    };
    let metadata_length = header(12)?;
    let metadata = bytes
        .get(24..24 + metadata_length)
        .context("the default pack is shorter than its metadata")?;
    let weights = &bytes[24 + metadata_length..];
    let mut sealed = u16::try_from(metadata_length)
        .context("the default pack's metadata is longer than the fuzz target's seeds allow")?
        .to_le_bytes()
        .to_vec();
    sealed.extend_from_slice(metadata);
    sealed.extend_from_slice(&weights[..weights.len().min(4096)]);
    Ok(vec![
        ("sealed-default".into(), sealed),
        (
            "raw-default-start".into(),
            bytes[..bytes.len().min(8192)].to_vec(),
        ),
    ])
}

/// The backbone's sample photos and the default dataset's small held-out images (PNG, JPEG,
/// GIF, WebP as they come).
fn image_seeds() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files: Vec<PathBuf> = dataset::image_files(&backbone::samples_dir())?;
    for class in [dataset::TARGET_CLASS, dataset::OTHER_CLASS] {
        files.extend(dataset::image_files(
            &dataset::dataset_dir().join("test").join(class),
        )?);
    }
    files.retain(|file| fs::metadata(file).is_ok_and(|meta| meta.len() <= MAX_SEED_IMAGE));
    files
        .iter()
        .map(|path| Ok((file_name(path), fs::read(path)?)))
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
