//! What can go wrong between the host and a board, and the exit code of each case.
//!
//! Scripts rely on these numbers; they are listed in `deepiot deploy --help`, in
//! `docs/image-format.md` and in the README. Do not renumber.
use std::path::PathBuf;

pub use crate::exit_code as code;

/// A failure of a board command. The message says what happened and what to do; the
/// board is left as described by the variant (never half-installed).
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {message}")]
    BadInput { path: PathBuf, message: String },
    #[error("{0}")]
    Build(String),
    #[error("{0}")]
    RuntimeUnavailable(String),
    #[error("cannot reach the board {board}: {detail}\n  check that it is powered, on the network and that the address and port are right")]
    Unreachable { board: String, detail: String },
    #[error("the board {board} refused the login: {detail}\n  check the user name and the key (--identity KEY, or ssh-add); try `ssh {board}` by hand")]
    Auth { board: String, detail: String },
    #[error("ssh refused the board {board}'s host key: {detail}\n  if the board was reinstalled, remove its old key with `ssh-keygen -R HOST` and connect once by hand to accept the new one")]
    HostKey { board: String, detail: String },
    #[error("wrong architecture: the board {board} reports `uname -m` = {found}, but target {target} needs one of {expected}; nothing was changed")]
    WrongArch {
        board: String,
        found: String,
        target: String,
        expected: String,
    },
    #[error("disk full on the board {board}: {detail}")]
    DiskFull { board: String, detail: String },
    #[error("the connection to {board} was lost {during}: {detail}")]
    ConnectionLost {
        board: String,
        during: String,
        detail: String,
    },
    #[error("{what} arrived corrupted on {board}: {detail}")]
    CorruptTransfer {
        board: String,
        what: String,
        detail: String,
    },
    #[error("self-test failed on {board}: {detail}")]
    SelfTest { board: String, detail: String },
    #[error("a command failed on {board}: {detail}")]
    BoardCommand { board: String, detail: String },
    #[error("{failed} of {total} boards failed")]
    SomeBoardsFailed { failed: usize, total: usize },
    #[error("{0}")]
    Other(String),
}

impl BoardError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            BoardError::Usage(_) => code::USAGE,
            BoardError::BadInput { .. } => code::BAD_INPUT,
            BoardError::Build(_) => code::BUILD,
            BoardError::RuntimeUnavailable(_) => code::RUNTIME_UNAVAILABLE,
            BoardError::Unreachable { .. } => code::UNREACHABLE,
            BoardError::Auth { .. } => code::AUTH,
            BoardError::HostKey { .. } => code::HOST_KEY,
            BoardError::WrongArch { .. } => code::WRONG_ARCH,
            BoardError::DiskFull { .. } => code::DISK_FULL,
            BoardError::ConnectionLost { .. } => code::CONNECTION_LOST,
            BoardError::CorruptTransfer { .. } => code::CORRUPT_TRANSFER,
            BoardError::SelfTest { .. } => code::SELF_TEST,
            BoardError::BoardCommand { .. } => code::BOARD_COMMAND,
            BoardError::SomeBoardsFailed { .. } => code::SOME_BOARDS_FAILED,
            BoardError::Other(_) => code::OTHER,
        }
    }

    /// A short machine-readable name of the failure (used in JSON and the board's status).
    pub fn kind(&self) -> &'static str {
        match self {
            BoardError::Usage(_) => "usage",
            BoardError::BadInput { .. } => "bad-input",
            BoardError::Build(_) => "build",
            BoardError::RuntimeUnavailable(_) => "runtime-unavailable",
            BoardError::Unreachable { .. } => "unreachable",
            BoardError::Auth { .. } => "auth",
            BoardError::HostKey { .. } => "host-key",
            BoardError::WrongArch { .. } => "wrong-arch",
            BoardError::DiskFull { .. } => "disk-full",
            BoardError::ConnectionLost { .. } => "connection-lost",
            BoardError::CorruptTransfer { .. } => "corrupt-transfer",
            BoardError::SelfTest { .. } => "self-test",
            BoardError::BoardCommand { .. } => "board-command",
            BoardError::SomeBoardsFailed { .. } => "some-boards-failed",
            BoardError::Other(_) => "other",
        }
    }

    pub fn bad_input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        BoardError::BadInput {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether the board can have been touched at all (false: failed before connecting
    /// or while connecting).
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            BoardError::Unreachable { .. } | BoardError::Auth { .. } | BoardError::HostKey { .. }
        )
    }
}

pub type Result<T> = std::result::Result<T, BoardError>;

/// The table printed in `--help` texts.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success
   1  other error
   2  usage error
   3  a local file (model, image, runtime, target) is missing or corrupt
   4  building the board runtime failed
   5  no board runtime: target missing and no rustup, or no sources and no cached build
  10  board unreachable          11  login refused (key)       12  host key unknown/changed
  13  wrong architecture         14  disk full on the board    15  connection lost
  16  corrupted in transit       17  self-test failed (rolled back)
  18  a command on the board failed                          19  some boards failed (--boards)";
