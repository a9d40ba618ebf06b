//! The settings several board commands share: how to reach the board (`SshConfig`),
//! which kind of board it is (`TargetConfig`), how files travel (`TransferConfig`) and
//! what the command prints (`PrintConfig`).
//! Plain structs with `Default`, so a library caller sets only what differs; the command
//! line (`crate::cli::flags`) converts into them and takes its defaults from them.
use super::error::{BoardError, Result};
use super::progress::Progress;
use super::session::{Session, Transfer};
use super::ssh::{Address, Ssh, SshOptions};
use super::target;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the board. Every field is optional; what is left out comes from the
/// environment (see `ssh.rs`) or the target description.
#[derive(Debug, Clone, PartialEq)]
pub struct SshConfig {
    /// The board, `USER@HOST[:PORT]` (else $DEEPIOT_BOARD, else the target's `ssh`).
    pub board: Option<String>,
    /// Private key for the board (`ssh -i`).
    pub identity: Option<PathBuf>,
    /// An ssh config file to use instead of ~/.ssh/config (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// ssh options, `NAME=VALUE`, each passed as `ssh -o`.
    pub ssh_options: Vec<String>,
    /// The program to run instead of `ssh`, split at white space.
    pub ssh_command: Option<String>,
    /// Seconds to wait for the board to answer.
    pub connect_timeout: u32,
    /// Install directory on the board (else $DEEPIOT_BOARD_DIR, else the target's).
    pub dir: Option<String>,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            board: None,
            identity: None,
            ssh_config: None,
            ssh_options: Vec::new(),
            ssh_command: None,
            connect_timeout: 10,
            dir: None,
        }
    }
}

/// Which kind of board: a description in `targets/`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetConfig {
    /// A name from `targets/` (`edison`) or a path to a .toml description.
    pub target: String,
    /// Folder of target descriptions (else $DEEPIOT_TARGETS_DIR, else the shipped ones).
    pub targets_dir: Option<PathBuf>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            target: "edison".into(),
            targets_dir: None,
        }
    }
}

impl TargetConfig {
    /// Reads the description this names.
    pub fn load(&self) -> Result<target::Target> {
        target::load(&self.target, self.targets_dir.as_deref())
    }
}

/// How files travel to the board.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransferConfig {
    /// Files above this size travel in pieces of this size; each piece is verified on
    /// arrival and kept, so a cut transfer resumes where it stopped (at least 4096).
    pub chunk_size: usize,
    /// How often a piece is sent again after it arrived damaged or the connection
    /// dropped (at most 10 are used).
    pub retries: u32,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            chunk_size: 1 << 20,
            retries: 2,
        }
    }
}

/// What a command prints: lines for people or one JSON result on stdout, with or without
/// progress on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrintConfig {
    /// Print the result as JSON on stdout.
    pub json: bool,
    /// No progress output on stderr.
    pub quiet: bool,
}

impl TransferConfig {
    /// The checked transfer settings of a session.
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

impl SshConfig {
    /// The `ssh` options these settings give.
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

    /// The board's address: the setting, $DEEPIOT_BOARD, or the target's default.
    pub fn address(&self, target: &target::Target) -> Result<Address> {
        Address::parse(&given_or_env(&self.board, "DEEPIOT_BOARD", &target.ssh))
    }

    /// The install directory: the setting, $DEEPIOT_BOARD_DIR, or the target's.
    pub fn install_dir(&self, target: &target::Target) -> Result<String> {
        let dir = given_or_env(&self.dir, "DEEPIOT_BOARD_DIR", &target.install_dir);
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

/// A setting given, else the environment variable `env` when set and not empty, else
/// `fallback` (the target description's).
fn given_or_env(given: &Option<String>, env: &str, fallback: &str) -> String {
    given
        .clone()
        .or_else(|| std::env::var(env).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| fallback.to_string())
}
