//! What can go wrong in `deepiot data fetch`, and the exit code of each case.
//!
//! Scripts rely on these numbers; they are listed in `deepiot data fetch --help` and in
//! the README. They do not overlap the board commands' codes (10-19), so one number
//! means one thing across the tool. Do not renumber.
use super::verify::Invalid;
use std::path::PathBuf;

/// Exit codes of `deepiot data fetch`.
pub mod code {
    /// Something not covered below (a bug).
    pub const OTHER: u8 = 1;
    /// Bad command line: unknown data set or task, malformed `--mirror` URL.
    pub const USAGE: u8 = 2;
    /// The destination cannot be written or read, or its `SHA256SUMS` is malformed.
    pub const LOCAL: u8 = 3;
    /// The source cannot be reached: name does not resolve, connection refused, timed out.
    pub const UNREACHABLE: u8 = 20;
    /// The source answered, but not with the file (HTTP 404, 5xx, a malformed answer).
    pub const HTTP: u8 = 21;
    /// The connection kept dropping mid-file; the partial download is kept and the next
    /// run resumes it.
    pub const CONNECTION_LOST: u8 = 22;
    /// A downloaded file does not match its pinned size and sha256 (or is not gzip); it
    /// was deleted.
    pub const CORRUPT: u8 = 23;
    /// A data set's original source is packaged differently from what deepiot reads;
    /// it needs `--mirror URL` (or `DEEPIOT_DATA_MIRROR`).
    pub const NEEDS_MIRROR: u8 = 24;
}

/// The table printed in `deepiot data fetch --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success (every file requested is present and verified)
   1  other error
   2  usage error (unknown data set or task, bad --mirror URL)
   3  the destination cannot be written, or its SHA256SUMS is malformed
  20  the source is unreachable (DNS, refused, timed out)
  21  the source answered with an HTTP error (404, 5xx) or a malformed answer
  22  the connection kept dropping; run again to resume the partial download
  23  a download does not match its pinned sha256 (deleted, nothing kept)
  24  the data set's original source is packaged differently: use --mirror URL";

/// A data set that cannot be downloaded from its original source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsMirror {
    /// Folder name of the data set.
    pub set: String,
    /// Its tasks, for the suggested command.
    pub tasks: Vec<String>,
    /// The original URL.
    pub url: String,
    /// Why that URL cannot be used as is.
    pub packaging: String,
}

/// A failure of `deepiot data fetch`. Every message names the file or URL concerned and
/// says what to do; no file that failed verification is left under its final name.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Usage(String),

    #[error("{}: {what}", path.display())]
    Local { path: PathBuf, what: String },

    #[error(
        "cannot reach {url}: {detail}\n  check the address (--mirror or DEEPIOT_DATA_MIRROR) \
         and the network; nothing was changed for this file"
    )]
    Unreachable { url: String, detail: String },

    #[error("{url}: the server answered {status}{}\n  check that the mirror holds {path} (it should be laid out like a deepiot data root)",
        if reason.is_empty() { String::new() } else { format!(" ({reason})") })]
    Http {
        url: String,
        path: String,
        status: String,
        reason: String,
    },

    #[error(
        "{url}: the connection dropped {attempts} times ({detail}); {received} bytes are kept \
         in {}, run the command again to resume",
        part.display()
    )]
    ConnectionLost {
        url: String,
        part: PathBuf,
        received: u64,
        attempts: u32,
        detail: String,
    },

    #[error(
        "{path} downloaded from {url} does not verify: {problem}\n  the download was deleted, \
         nothing was kept; the source may hold another version or the transfer was damaged: \
         run again, or try another mirror"
    )]
    Corrupt {
        /// The file's path in the data root (`mnist/train-images-idx3-ubyte.gz`).
        path: String,
        url: String,
        /// Boxed: it carries two digests and would make every `Result` large.
        problem: Box<Invalid>,
    },

    #[error("{}", needs_mirror_message(sets))]
    NeedsMirror { sets: Vec<NeedsMirror> },
}

impl FetchError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            FetchError::Usage(_) => code::USAGE,
            FetchError::Local { .. } => code::LOCAL,
            FetchError::Unreachable { .. } => code::UNREACHABLE,
            FetchError::Http { .. } => code::HTTP,
            FetchError::ConnectionLost { .. } => code::CONNECTION_LOST,
            FetchError::Corrupt { .. } => code::CORRUPT,
            FetchError::NeedsMirror { .. } => code::NEEDS_MIRROR,
        }
    }

    pub(super) fn local(path: impl Into<PathBuf>, what: impl std::fmt::Display) -> Self {
        FetchError::Local {
            path: path.into(),
            what: what.to_string(),
        }
    }
}

fn needs_mirror_message(sets: &[NeedsMirror]) -> String {
    let mut out = String::new();
    for s in sets {
        out.push_str(&format!(
            "{} cannot be downloaded from its original source {}: {}.\n",
            s.set, s.url, s.packaging
        ));
    }
    let names: Vec<&str> = sets
        .iter()
        .map(|s| s.tasks.first().map_or(s.set.as_str(), String::as_str))
        .collect();
    out.push_str(&format!(
        "  fetch {} from a mirror that serves the deepiot layout (URL/{}/..., the paths \
         `deepiot data fetch --list` shows): `deepiot data fetch {} --mirror URL`, or set \
         DEEPIOT_DATA_MIRROR=URL",
        if sets.len() == 1 { "it" } else { "them" },
        sets.first().map_or("SET", |s| s.set.as_str()),
        names.join(" ")
    ));
    out
}
