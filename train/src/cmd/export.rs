//! `veil-train export`: a pack's weights as safetensors, for other tools.

use std::path::PathBuf;

use burn::prelude::Device;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use veil_train::files::{read_pack, refuse_to_replace};

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long)]
    pack: PathBuf,
    /// The .safetensors file to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace OUT if it already exists.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    refuse_to_replace(&args.out, args.overwrite)?;
    let pack = read_pack(&args.pack)?;
    let model = pack.model(&Device::flex())?;
    let mut store = SafetensorsStore::from_file(&args.out)
        .metadata("veil.metadata", serde_json::to_string(&pack.metadata)?)
        // Names as the network's layers (`blocks.0.conv.weight`), without `Cnn`'s variant.
        .skip_enum_variants(true)
        .overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
