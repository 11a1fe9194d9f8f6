//! Builds `crates/veil-wasm` for browsers into `www/pkg` and reports its size at each stage.

use std::fmt;
use std::fs;
use std::io::Write;

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;

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
    run(
        &root
            .join("node_modules/.bin/wasm-opt")
            .display()
            .to_string(),
        &[
            "-O3",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
            "--enable-simd",
            &module_arg,
            "-o",
            &module_arg,
        ],
        &root,
    )?;
    let optimized_bytes = fs::read(&module)?;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&optimized_bytes)?;
    let sizes = Sizes {
        raw,
        optimized: optimized_bytes.len() as u64,
        gzipped: gzip.finish()?.len() as u64,
    };
    eprintln!("veil_wasm_bg.wasm: {sizes}");
    let record = serde_json::json!({ "raw": sizes.raw, "optimized": sizes.optimized, "gzipped": sizes.gzipped });
    fs::create_dir_all(work_dir())?;
    fs::write(work_dir().join("wasm-sizes.json"), record.to_string())
        .context("cannot record wasm sizes")?;
    Ok(sizes)
}
