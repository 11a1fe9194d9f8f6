//! Builds `crates/veil-wasm` for browsers into `www/pkg`, as a CPU module and a WebGPU module
//! beside the loader that picks between them, and reports each one's size at each stage.

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

/// One of the two modules built from `crates/veil-wasm`.
#[derive(Clone, Copy)]
pub enum Module {
    /// Flex only: what every browser loads.
    Cpu,
    /// WebGPU and Flex: fetched only where a hardware adapter exists.
    Gpu,
}

impl Module {
    /// The cargo feature and profile (`wasm-<name>`) that build it, and its file names' stem.
    fn name(self) -> &'static str {
        match self {
            Module::Cpu => "cpu",
            Module::Gpu => "gpu",
        }
    }

    /// `veil_wasm_cpu` or `veil_wasm_gpu`: the JavaScript glue is `<stem>.js`, the module
    /// `<stem>_bg.wasm`.
    pub fn stem(self) -> String {
        format!("veil_wasm_{}", self.name())
    }
}

/// The loader pages import: it instantiates the CPU module and fetches the WebGPU one only where
/// the CPU module's `webgpuAdvice()` says it can run.
const LOADER: &str = "veil.js";

/// Both modules' sizes.
pub struct Modules {
    pub cpu: Sizes,
    pub gpu: Sizes,
}

impl fmt::Display for Modules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPU module {}; WebGPU module {}", self.cpu, self.gpu)
    }
}

/// Builds both modules into `www/pkg` beside the loader, printing each one's size.
pub fn build() -> anyhow::Result<Modules> {
    let pkg = root().join("www/pkg");
    let modules = Modules {
        cpu: build_module(Module::Cpu, &pkg)?,
        gpu: build_module(Module::Gpu, &pkg)?,
    };
    fs::copy(
        root().join("crates/veil-wasm/js").join(LOADER),
        pkg.join(LOADER),
    )
    .with_context(|| format!("cannot copy {LOADER} into {}", pkg.display()))?;
    Ok(modules)
}

/// The files of `www/pkg` that pages load: the loader and both modules with their glue.
pub fn shipped_files() -> Vec<String> {
    let mut files = vec![LOADER.to_string()];
    for module in [Module::Cpu, Module::Gpu] {
        files.extend([
            format!("{}.js", module.stem()),
            format!("{}_bg.wasm", module.stem()),
        ]);
    }
    files
}

/// Compiles one module (cargo skips that when nothing changed), then runs wasm-bindgen and
/// wasm-opt unless the compiled module and both tools are what they were last time.
fn build_module(module: Module, pkg: &Path) -> anyhow::Result<Sizes> {
    let profile = format!("wasm-{}", module.name());
    cargo(&[
        "build",
        "--package",
        "veil-wasm",
        "--profile",
        &profile,
        "--no-default-features",
        "--features",
        module.name(),
        "--target",
        "wasm32-unknown-unknown",
    ])?;
    let built = target_dir()
        .join("wasm32-unknown-unknown")
        .join(&profile)
        .join("veil_wasm.wasm");
    let stem = module.stem();
    let wasm = pkg.join(format!("{stem}_bg.wasm"));
    let record = work_dir().join(format!("{stem}-sizes.json"));
    let inputs = Inputs::new()
        .file(&built)?
        .text(WASM_BINDGEN_VERSION)
        .file(&root().join("node_modules/binaryen/package.json"))?
        .text(&WASM_OPT_FLAGS.join(" "));
    fresh::step(
        &stem,
        inputs,
        &[&wasm, &pkg.join(format!("{stem}.js")), &record],
        || {
            let sizes = bind_and_optimize(&built, pkg, &stem)?;
            let json = serde_json::json!({ "raw": sizes.raw, "optimized": sizes.optimized, "gzipped": sizes.gzipped });
            fs::create_dir_all(work_dir())?;
            fs::write(&record, json.to_string()).context("cannot record wasm sizes")
        },
    )?;
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&record)?)
        .with_context(|| format!("{} is not JSON", record.display()))?;
    let size = |key: &str| {
        json[key]
            .as_u64()
            .with_context(|| format!("{} lacks a size", record.display()))
    };
    let sizes = Sizes {
        raw: size("raw")?,
        optimized: size("optimized")?,
        gzipped: size("gzipped")?,
    };
    eprintln!("{stem}_bg.wasm: {sizes}");
    Ok(sizes)
}

/// wasm-bindgen's JavaScript glue and module into `pkg` as `stem`, the module then through
/// wasm-opt.
fn bind_and_optimize(built: &Path, pkg: &Path, stem: &str) -> anyhow::Result<Sizes> {
    let root = root();
    run(
        "wasm-bindgen",
        &[
            &built.display().to_string(),
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            stem,
            "--out-dir",
            &pkg.display().to_string(),
        ],
        &root,
    )?;
    let module = pkg.join(format!("{stem}_bg.wasm"));
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
