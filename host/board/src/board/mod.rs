//! The board workflow: `deploy`, `bench`, `image build|inspect`, `flash`, `board status`.
//!
//! Boards are reached with the system `ssh` (see `ssh.rs`); what runs on the board is a
//! handful of POSIX `sh` scripts (`remote.rs`); the host side of each step is in
//! `session.rs`, and each subcommand has its own module.
pub mod bench;
pub mod board_state;
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

use clap::{Args, Subcommand};
use error::{BoardError, Result};
use progress::Progress;
use session::{Session, Transfer};
use ssh::{Address, Ssh, SshOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach the board (all optional; see `ssh.rs` for the environment variables).
#[derive(Args, Debug, Clone, Default)]
pub struct SshArgs {
    /// The board, USER@HOST[:PORT] (default: $DEEPIOT_BOARD, else the target's `ssh`).
    #[arg(short = 'b', long, value_name = "USER@HOST[:PORT]")]
    pub board: Option<String>,
    /// Private key for the board (ssh -i; also $DEEPIOT_SSH_IDENTITY).
    #[arg(short = 'i', long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// An ssh config file to use instead of ~/.ssh/config (ssh -F; also $DEEPIOT_SSH_CONFIG).
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// An ssh option, NAME=VALUE, passed as `ssh -o` (repeatable; also $DEEPIOT_SSH_OPTIONS).
    #[arg(short = 'o', long = "ssh-option", value_name = "NAME=VALUE")]
    pub ssh_options: Vec<String>,
    /// The program to run instead of `ssh` (also $DEEPIOT_SSH).
    #[arg(long, value_name = "CMD")]
    pub ssh_command: Option<String>,
    /// Seconds to wait for the board to answer.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub connect_timeout: u32,
    /// Install directory on the board (default: the target's `install_dir`; also
    /// $DEEPIOT_BOARD_DIR).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<String>,
}

/// Which kind of board.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Board kind: a name from targets/ (`edison`) or a path to a .toml description.
    #[arg(short = 't', long, default_value = "edison")]
    pub target: String,
    /// Folder of target descriptions (also $DEEPIOT_TARGETS_DIR).
    #[arg(long, value_name = "DIR")]
    pub targets_dir: Option<PathBuf>,
}

/// How files travel.
#[derive(Args, Debug, Clone)]
pub struct TransferArgs {
    /// Files above this size travel in pieces of this size; each piece is verified on
    /// arrival and kept, so a cut transfer resumes where it stopped.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub chunk_size: usize,
    /// How often a piece is sent again after it arrived damaged or the connection dropped.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,
}

impl TransferArgs {
    pub fn transfer(&self) -> Result<Transfer> {
        if self.chunk_size < 4096 {
            return Err(BoardError::Usage(
                "--chunk-size must be at least 4096 bytes".into(),
            ));
        }
        Ok(Transfer {
            chunk_size: self.chunk_size,
            retries: self.retries.min(10),
            retry_pause: Duration::from_millis(500),
        })
    }
}

impl SshArgs {
    pub fn options(&self) -> SshOptions {
        SshOptions {
            identity: self.identity.clone(),
            config: self.ssh_config.clone(),
            options: self.ssh_options.clone(),
            command: self
                .ssh_command
                .as_deref()
                .map(|c| c.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            connect_timeout: self.connect_timeout,
        }
    }

    /// The board's address: the flag, $DEEPIOT_BOARD, or the target's default.
    pub fn address(&self, target: &target::Target) -> Result<Address> {
        let text = self
            .board
            .clone()
            .or_else(|| {
                std::env::var("DEEPIOT_BOARD")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| target.ssh.clone());
        Address::parse(&text)
    }

    /// The install directory: the flag, $DEEPIOT_BOARD_DIR, or the target's.
    pub fn install_dir(&self, target: &target::Target) -> Result<String> {
        let dir = self
            .dir
            .clone()
            .or_else(|| {
                std::env::var("DEEPIOT_BOARD_DIR")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| target.install_dir.clone());
        let dir = dir.trim_end_matches('/').to_string();
        if !dir.starts_with('/') || dir.len() < 2 || dir.contains("/../") || dir.ends_with("/..") {
            return Err(BoardError::Usage(format!(
                "the install directory must be an absolute path other than /, got {dir:?}"
            )));
        }
        Ok(dir)
    }

    /// Everything needed to talk to one board.
    pub fn session(
        &self,
        target: target::Target,
        transfer: Transfer,
        progress: Progress,
    ) -> Result<Session> {
        let address = self.address(&target)?;
        let dir = self.install_dir(&target)?;
        Ok(Session {
            ssh: Ssh::new(address, self.options()),
            dir,
            target,
            progress,
            transfer,
        })
    }
}

/// The board subcommands, flattened into the `deepiot` command line.
#[derive(Subcommand, Debug)]
pub enum Commands {
    /// Puts models and the runtime on a board over ssh: verified, atomic, the previous
    /// version kept.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Deploy(deploy::DeployArgs),
    /// Times models on a board (or on every board of an inventory) with `deepiot-run bench`.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Bench(bench::BenchArgs),
    /// Builds or inspects a firmware image (runtime + models + config + self-test data).
    #[command(after_help = error::EXIT_CODES_HELP)]
    Image(image::ImageArgs),
    /// Installs an image into a board's inactive slot, self-tests it, switches to it, and
    /// rolls back if any step fails.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Flash(flash::FlashArgs),
    /// Looks at a board: the active slot, versions, the last operation's result.
    #[command(after_help = error::EXIT_CODES_HELP)]
    Board(status::BoardArgs),
}

/// Runs a board subcommand. On failure prints the error and exits with its code.
pub fn run_cli(cmd: Commands) -> anyhow::Result<()> {
    let r = match cmd {
        Commands::Deploy(a) => deploy::run(&a),
        Commands::Bench(a) => bench::run(&a),
        Commands::Image(a) => image::run(&a),
        Commands::Flash(a) => flash::run(&a),
        Commands::Board(a) => status::run(&a),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(i32::from(e.exit_code()));
        }
    }
}

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
