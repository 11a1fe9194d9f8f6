//! Installs what building and testing need, each piece only when it is missing, so every task
//! can call this first and a fresh machine needs nothing done by hand.

use std::process::Command;

use anyhow::bail;

use crate::root;
use crate::shell::{output, run, succeeds};

/// Must equal the `wasm-bindgen` version pinned in `crates/veil-wasm/Cargo.toml`: the CLI and
/// the library have to match exactly.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Debian's browsers for the tests (the default dataset's packages come on top).
const BROWSERS: [&str; 2] = ["chromium", "firefox-esr"];

pub fn all() -> anyhow::Result<()> {
    wasm_target()?;
    wasm_bindgen_cli()?;
    apt_packages()?;
    npm_tools()?;
    crate::backbone::fetch()
}

fn wasm_target() -> anyhow::Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"], &root())?;
    if !String::from_utf8_lossy(&installed)
        .lines()
        .any(|line| line.trim() == WASM_TARGET)
    {
        run("rustup", &["target", "add", WASM_TARGET], &root())?;
    }
    Ok(())
}

fn wasm_bindgen_cli() -> anyhow::Result<()> {
    // No --locked: the CLI's own lock file pins crates that no longer build on this toolchain.
    cargo_tool(
        &["wasm-bindgen", "--version"],
        "wasm-bindgen-cli",
        WASM_BINDGEN_VERSION,
        &[],
    )
}

/// `cargo install`s `krate` at `version` (with `extra` flags) unless the `probe` command already
/// prints its name and that version.
pub fn cargo_tool(
    probe: &[&str],
    krate: &str,
    version: &str,
    extra: &[&str],
) -> anyhow::Result<()> {
    let found = output(probe[0], &probe[1..], &root())
        .map(|stdout| String::from_utf8_lossy(&stdout).trim().to_string())
        .unwrap_or_default();
    if !found.ends_with(&format!(" {version}")) {
        run(
            "cargo",
            &[&["install", krate, "--version", version], extra].concat(),
            &root(),
        )?;
    }
    Ok(())
}

fn apt_packages() -> anyhow::Result<()> {
    let dataset = crate::dataset::packages();
    let packages: Vec<&str> = BROWSERS
        .into_iter()
        .chain(dataset.iter().map(String::as_str))
        .collect();
    apt_install(&packages)
}

/// Installs whichever of `packages` are missing (Debian's apt, as root or through sudo).
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !apt_installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt(&["update", "-qq"])?;
    apt(&[
        &["install", "-y", "-qq", "--no-install-recommends"],
        missing.as_slice(),
    ]
    .concat())
}

/// Runs `apt-get ARGS`, as root or through sudo, or says what to run.
pub fn apt(args: &[&str]) -> anyhow::Result<()> {
    let sudo = if is_root() {
        None
    } else if succeeds("sudo", &["-n", "true"]) {
        Some("sudo")
    } else {
        bail!(
            "`apt-get {}` needs root\n  run: sudo apt-get {}",
            args.join(" "),
            args.join(" ")
        );
    };
    let (program, args) = match sudo {
        Some(sudo) => (sudo, [&["apt-get"], args].concat()),
        None => ("apt-get", args.to_vec()),
    };
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn apt_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout) == "install ok installed")
}

fn is_root() -> bool {
    output("id", &["-u"], &root()).is_ok_and(|uid| String::from_utf8_lossy(&uid).trim() == "0")
}

fn npm_tools() -> anyhow::Result<()> {
    let root = root();
    let installed = root.join("node_modules").join(".package-lock.json");
    let stale = match (
        installed.metadata(),
        root.join("package-lock.json").metadata(),
    ) {
        (Ok(installed), Ok(lock)) => installed.modified()? < lock.modified()?,
        _ => true,
    };
    if stale {
        run("npm", &["ci", "--no-audit", "--no-fund"], &root)?;
    }
    Ok(())
}
