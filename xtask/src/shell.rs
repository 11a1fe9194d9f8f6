//! Running other programs, with the command echoed and a failure that says which one failed.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::root;

pub fn run(program: &str, args: &[&str], dir: &Path) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot start `{program}`: is it installed?"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs a program and returns its standard output; standard error passes through.
pub fn output(program: &str, args: &[&str], dir: &Path) -> anyhow::Result<Vec<u8>> {
    let result = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{program}`: is it installed?"))?;
    if !result.status.success() {
        bail!("`{program} {}` failed ({})", args.join(" "), result.status);
    }
    Ok(result.stdout)
}

/// True when the program runs and exits 0 (used to probe for installed tools).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    run(&cargo_program(), args, &root())
}

/// The cargo that runs xtask, so nested builds use the same toolchain.
fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
