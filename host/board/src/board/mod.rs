//! The board workflow: `deploy`, `bench`, `image build|inspect`, `flash`, `board status`.
//!
//! Boards are reached with the system `ssh` (see `ssh.rs`); what runs on the board is a
//! handful of POSIX `sh` scripts (`remote.rs`); the host side of each step is in
//! `session.rs`, and each subcommand has its own module, which takes a plain config
//! (`DeployConfig`, ...; the settings they share are in `config.rs`). The command line
//! that fills those configs is `crate::cli`.
pub mod bench;
pub mod board_state;
pub mod config;
pub mod deploy;
pub mod error;
pub mod flash;
pub mod image;
pub mod progress;
pub mod remote;
pub mod session;
pub mod ssh;
pub mod status;
pub mod target;

use error::{BoardError, Result};
use progress::Progress;
use std::path::{Path, PathBuf};

pub use config::{PrintConfig, SshConfig, TargetConfig, TransferConfig};

/// Reads a local file, mapping failure to exit code 3.
pub fn read_local(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| BoardError::bad_input(path, format!("cannot read the {what}: {e}")))
}

/// Checks a model file and returns its name on the board (the file stem).
pub fn check_model(path: &Path, bytes: &[u8]) -> Result<String> {
    deepiot_format::parse(bytes)
        .map_err(|e| BoardError::bad_input(path, format!("not a usable deepiot model: {e}")))?;
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = file.strip_suffix(".safetensors").unwrap_or(file);
    check_name(stem).map_err(|m| BoardError::bad_input(path, m))?;
    Ok(stem.to_string())
}

/// Names used on the board: letters, digits, `.`, `_`, `-`; not starting with `.`.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name.starts_with('.')
        || name.len() > 100
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(format!(
            "the model name {name:?} (from the file name) must be 1-100 letters, digits, '.', '_' or '-' and not start with '.'; rename the file"
        ));
    }
    Ok(())
}

/// Reads the runtime binary given with `--runtime` (or `$DEEPIOT_RUNTIME`), or builds
/// it for the target ([`crate::runtime_build::locate_runtime`]).
pub fn runtime_binary(
    given: Option<&Path>,
    target: &target::Target,
    progress: &Progress,
) -> Result<(PathBuf, Vec<u8>)> {
    if given.is_none() {
        // cargo draws its own progress bar on a terminal.
        progress.step(format!("getting the runtime for {} ...", target.triple));
    }
    use crate::runtime_build::RuntimeError;
    let path =
        crate::runtime_build::locate_runtime(given, target.build_target()).map_err(
            |e| match e {
                RuntimeError::Given { ref path, .. } => {
                    BoardError::bad_input(path, "the runtime binary does not exist")
                }
                RuntimeError::NoRustup { .. } | RuntimeError::NoRuntime { .. } => {
                    BoardError::RuntimeUnavailable(e.to_string())
                }
                _ => BoardError::Build(e.to_string()),
            },
        )?;
    let bytes = read_local(&path, "runtime binary")?;
    if let (Some(want), Some((_, found))) = (target.elf_machine(), target::elf_header(&bytes)) {
        if want != found {
            return Err(BoardError::bad_input(
                &path,
                format!(
                    "this runtime is built for another machine (ELF machine {found}); target {} needs {} (ELF machine {want})",
                    target.name, target.triple
                ),
            ));
        }
    } else if target::elf_header(&bytes).is_none() {
        return Err(BoardError::bad_input(&path, "not an ELF executable"));
    }
    Ok((path, bytes))
}

/// Formats bytes for people.
pub fn human_bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 10 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}
