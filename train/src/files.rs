//! Reading packs and writing files the way every command does: a pack is checked before use, a
//! file is written through a temporary name, and nothing the user made is replaced unasked.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use veil_core::FilterPack;
use veil_core::pack;

/// A previous run or export is only replaced when the user asked for it.
pub fn refuse_to_replace(out: &Path, overwrite: bool) -> anyhow::Result<()> {
    if out.exists() && !overwrite {
        bail!(
            "{} already exists; choose another --out or pass --overwrite to replace it",
            out.display()
        );
    }
    Ok(())
}

pub fn read_pack(path: &Path) -> anyhow::Result<FilterPack> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    FilterPack::from_bytes(&bytes).with_context(|| {
        format!(
            "{} is not a usable .{} file",
            path.display(),
            pack::EXTENSION
        )
    })
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).with_context(|| format!("cannot write {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
