//! The flag groups several board commands share, each converting into its plain config
//! (`crate::board::config`) and taking its defaults from that config's `Default`.
use crate::board::{PrintConfig, SshConfig, TargetConfig, TransferConfig};
use clap::Args;
use std::path::PathBuf;

/// How to reach the board (all optional; see `ssh.rs` for the environment variables).
#[derive(Args, Debug, Clone)]
pub struct SshFlags {
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
    #[arg(long, default_value_t = SshConfig::default().connect_timeout, value_name = "SECONDS")]
    pub connect_timeout: u32,
    /// Install directory on the board (default: the target's `install_dir`; also
    /// $DEEPIOT_BOARD_DIR).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<String>,
}

impl From<SshFlags> for SshConfig {
    fn from(a: SshFlags) -> Self {
        SshConfig {
            board: a.board,
            identity: a.identity,
            ssh_config: a.ssh_config,
            ssh_options: a.ssh_options,
            ssh_command: a.ssh_command,
            connect_timeout: a.connect_timeout,
            dir: a.dir,
        }
    }
}

/// Which kind of board.
#[derive(Args, Debug, Clone)]
pub struct TargetFlags {
    /// Board kind: a name from targets/ (`edison`) or a path to a .toml description.
    #[arg(short = 't', long, default_value_t = TargetConfig::default().target)]
    pub target: String,
    /// Folder of target descriptions (also $DEEPIOT_TARGETS_DIR).
    #[arg(long, value_name = "DIR")]
    pub targets_dir: Option<PathBuf>,
}

impl From<TargetFlags> for TargetConfig {
    fn from(a: TargetFlags) -> Self {
        TargetConfig {
            target: a.target,
            targets_dir: a.targets_dir,
        }
    }
}

/// How files travel.
#[derive(Args, Debug, Clone)]
pub struct TransferFlags {
    /// Files above this size travel in pieces of this size; each piece is verified on
    /// arrival and kept, so a cut transfer resumes where it stopped.
    #[arg(long, default_value_t = TransferConfig::default().chunk_size, value_name = "BYTES")]
    pub chunk_size: usize,
    /// How often a piece is sent again after it arrived damaged or the connection dropped.
    #[arg(long, default_value_t = TransferConfig::default().retries, value_name = "N")]
    pub retries: u32,
}

impl From<TransferFlags> for TransferConfig {
    fn from(a: TransferFlags) -> Self {
        TransferConfig {
            chunk_size: a.chunk_size,
            retries: a.retries,
        }
    }
}

/// What the command prints.
#[derive(Args, Debug, Clone)]
pub struct PrintFlags {
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

impl From<PrintFlags> for PrintConfig {
    fn from(a: PrintFlags) -> Self {
        PrintConfig {
            json: a.json,
            quiet: a.quiet,
        }
    }
}

/// The flags that close `deploy`, `bench` and `flash`: how files travel, and what the
/// command prints. One group, so the three commands cannot drift apart.
#[derive(Args, Debug, Clone)]
pub struct SendFlags {
    #[command(flatten)]
    pub transfer: TransferFlags,
    #[command(flatten)]
    pub print: PrintFlags,
}
