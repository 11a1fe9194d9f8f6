//! Builds `crates/veil-wasm` for browsers into `www/pkg` and reports its size at each stage.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::fresh::{self, Inputs};
use crate::setup::WASM_BINDGEN_VERSION;
use crate::shell::{cargo, run};
use crate::{root, target_dir, work_dir};

pub struct Sizes {
    /// As rustc and wasm-bindgen leave it.
    pub raw: u64,
    /// After `wasm-opt`.
    pub optimized: u64,
    /// The optimized module gzipped at level 9, roughly what a download costs.
    pub gzipped: u64,
}

impl fmt::Display for Sizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |bytes: u64| bytes as f64 / 1e6;
        write!(
            f,
            "{:.2} MB raw, {:.2} MB after wasm-opt, {:.2} MB gzipped",
            mb(self.raw),
            mb(self.optimized),
            mb(self.gzipped)
        )
    }
}

/// wasm-opt's flags: -O3 and the features every browser with WebGPU has.
const WASM_OPT_FLAGS: [&str; 8] = [
    "-O3",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
    "--enable-simd",
];

/// Compiles the module (cargo skips that when nothing changed), then runs wasm-bindgen and
/// wasm-opt unless the compiled module and both tools are what they were last time.
pub fn build() -> anyhow::Result<Sizes> {
    let root = root();
    cargo(&[
        "build",
        "--package",
        "veil-wasm",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
    ])?;
    let built = target_dir().join("wasm32-unknown-unknown/release/veil_wasm.wasm");
    let pkg = root.join("www/pkg");
    let module = pkg.join("veil_wasm_bg.wasm");
    let record = work_dir().join("wasm-sizes.json");
    let inputs = Inputs::new()
        .file(&built)?
        .text(WASM_BINDGEN_VERSION)
        .file(&root.join("node_modules/binaryen/package.json"))?
        .text(&WASM_OPT_FLAGS.join(" "));
    fresh::step(
        "wasm",
        inputs,
        &[&module, &pkg.join("veil_wasm.js"), &record],
        || {
            let sizes = bind_and_optimize(&built, &pkg)?;
            let json = serde_json::json!({ "raw": sizes.raw, "optimized": sizes.optimized, "gzipped": sizes.gzipped });
            fs::create_dir_all(work_dir())?;
            fs::write(&record, json.to_string()).context("cannot record wasm sizes")
        },
    )?;
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&record)?)
        .with_context(|| format!("{} is not JSON", record.display()))?;
    let size = |key: &str| json[key].as_u64().context("wasm-sizes.json lacks a size");
    let sizes = Sizes {
        raw: size("raw")?,
        optimized: size("optimized")?,
        gzipped: size("gzipped")?,
    };
    eprintln!("veil_wasm_bg.wasm: {sizes}");
    Ok(sizes)
}

/// wasm-bindgen's JavaScript glue and module into `pkg`, the module then through wasm-opt.
fn bind_and_optimize(built: &Path, pkg: &Path) -> anyhow::Result<Sizes> {
    let root = root();
    run(
        "wasm-bindgen",
        &[
            &built.display().to_string(),
            "--target",
            "web",
            "--no-typescript",
            "--out-dir",
            &pkg.display().to_string(),
        ],
        &root,
    )?;
    let module = pkg.join("veil_wasm_bg.wasm");
    let raw = fs::metadata(&module)?.len();
    let module_arg = module.display().to_string();
    let mut args = WASM_OPT_FLAGS.to_vec();
    args.extend([module_arg.as_str(), "-o", module_arg.as_str()]);
    run(
        &root
            .join("node_modules/.bin/wasm-opt")
            .display()
            .to_string(),
        &args,
        &root,
    )?;
    let optimized_bytes = fs::read(&module)?;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&optimized_bytes)?;
    Ok(Sizes {
        raw,
        optimized: optimized_bytes.len() as u64,
        gzipped: gzip.finish()?.len() as u64,
    })
}
