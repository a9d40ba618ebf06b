//! Building the board runtime (`deepiot-run`) for a target from this workspace.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target of Edison-class boards.
pub const EDISON_TRIPLE: &str = "i686-unknown-linux-musl";

/// The workspace this binary was built from (the runtime's sources live there).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Builds `deepiot-run` in release mode for `triple` and returns the binary's path.
pub fn build_runtime(triple: &str) -> Result<PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            triple,
            "-p",
            "deepiot-runtime",
            "--bin",
            "deepiot-run",
        ])
        .status()
        .with_context(|| format!("could not start `{cargo}` to build the runtime"))?;
    if !status.success() {
        bail!(
            "building the runtime for {triple} failed; is the target installed? \
             (`rustup target add {triple}`)"
        );
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target_dir.join(triple).join("release").join("deepiot-run");
    if !bin.exists() {
        bail!("the build finished but {} is missing", bin.display());
    }
    Ok(bin)
}
