//! `deepiot data fetch`: downloads the data sets into a data root, verified.
//!
//! The data sets and their files are a [`catalog::DataSet`] list ([`catalog::builtin`]
//! for the real ones; tests pass their own). For each file:
//!
//! 1. if the final file is there and matches its pin, it is kept ("already there");
//!    if it is there and does not match, it is removed first, so a loader never reads it;
//! 2. otherwise it is downloaded into `<path>.part` next to it, resuming after cuts and
//!    across runs (module `http`);
//! 3. the `.part` file is verified against the pin (see [`verify`]) and only then
//!    renamed to its final name (atomic, same folder). A `.part` that fails is deleted.
//!
//! Every verified file's raw sha256 is merged into the root's `SHA256SUMS`, which the
//! loaders check on every read ([`crate::data::DataRoot::read`]).
//!
//! Sources: a mirror laid out like a data root (`{mirror}/mnist/train-images-idx3-ubyte.gz`,
//! ...), or each data set's original when it serves the same files
//! ([`catalog::Origin::Direct`]). Originals packaged differently
//! ([`catalog::Origin::Repackaged`]) are not converted here: fetching them without a
//! mirror fails with [`FetchError::NeedsMirror`].
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod catalog;
pub mod command;
mod error;
mod http;
pub mod verify;

pub use catalog::{Check, DataSet, FileSpec, Origin};
pub use command::{run, FetchConfig};
pub use error::{code, FetchError, NeedsMirror, EXIT_CODES_HELP};
pub use verify::{verify_file, Invalid, Verified};

/// Environment variable naming the mirror when `--mirror` is not given.
pub const MIRROR_ENV: &str = "DEEPIOT_DATA_MIRROR";

/// Where the files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A server laid out like a data root: file `p` is `{base}/{p}`.
    Mirror(String),
    /// Each data set's original source ([`Origin`]).
    Originals,
}

impl Source {
    /// A mirror at `url`, which must be `http://` or `https://`.
    pub fn mirror(url: &str) -> Result<Source, FetchError> {
        let url = url.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') => {
                Ok(Source::Mirror(url.trim_end_matches('/').to_string()))
            }
            _ => Err(FetchError::Usage(format!(
                "mirror `{url}` is not an http:// or https:// URL (for example \
                 https://example.org/deepiot-data)"
            ))),
        }
    }

    /// The URL of `file` of `set`; `None` when the original cannot serve it.
    pub fn url(&self, set: &DataSet, file: &FileSpec) -> Option<String> {
        match (self, &set.origin) {
            (Source::Mirror(base), _) => Some(format!("{base}/{}", file.path)),
            (Source::Originals, Origin::Direct { base, .. }) => Some(format!(
                "{}/{}",
                base.trim_end_matches('/'),
                file.file_name()
            )),
            (Source::Originals, Origin::Repackaged { .. }) => None,
        }
    }
}

/// Network settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Longest wait for a connection (per address).
    pub connect_timeout: Duration,
    /// Longest wait for any single read (or write): a stalled transfer counts as a cut.
    pub read_timeout: Duration,
    /// How many times one file may be retried after a cut before giving up (the partial
    /// file is kept for the next run).
    pub retries: u32,
    /// Pause before each retry.
    pub retry_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            retries: 5,
            retry_delay: Duration::from_secs(2),
        }
    }
}

/// Receives what a fetch is doing (a terminal bar in the CLI, nothing in tests).
pub trait Progress {
    /// A line for the user.
    fn note(&self, line: &str);
    /// A transfer of `path` starts, `done` bytes already in hand, `total` if known.
    fn start(&self, path: &str, done: u64, total: Option<u64>);
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
    /// The current transfer ended (complete or cut).
    fn finish(&self);
}

/// A [`Progress`] that shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn note(&self, _: &str) {}
    fn start(&self, _: &str, _: u64, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The final file was there and matched its pin.
    AlreadyThere,
    /// Downloaded and verified; `received` bytes came in this run, `resumed` when bytes
    /// were appended to a partial download.
    Downloaded { received: u64, resumed: bool },
}

/// One file's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Path in the data root.
    pub path: String,
    pub outcome: Outcome,
    /// What `SHA256SUMS` now lists for it.
    pub verified: Verified,
}

/// The result of a successful [`fetch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    /// Files downloaded in this run.
    pub fn downloaded(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, Outcome::Downloaded { .. }))
            .count()
    }

    /// Bytes received in this run.
    pub fn received(&self) -> u64 {
        self.files
            .iter()
            .map(|f| match f.outcome {
                Outcome::Downloaded { received, .. } => received,
                Outcome::AlreadyThere => 0,
            })
            .sum()
    }
}

/// The data sets named by `names` (task names or folder names), in catalog order and
/// each once; all of them when `names` is empty.
pub fn select(catalog: &[DataSet], names: &[String]) -> Result<Vec<DataSet>, FetchError> {
    if let Some(bad) = names
        .iter()
        .find(|n| !catalog.iter().any(|s| s.answers_to(n)))
    {
        let mut known: Vec<&str> = Vec::new();
        for s in catalog {
            for n in s.tasks.iter().map(String::as_str).chain([s.name.as_str()]) {
                if !known.contains(&n) {
                    known.push(n);
                }
            }
        }
        return Err(FetchError::Usage(format!(
            "unknown data set or task `{bad}`; known: {}",
            known.join(", ")
        )));
    }
    Ok(catalog
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| s.answers_to(n)))
        .cloned()
        .collect())
}

/// The full path of a data root file given with `/` separators.
pub fn file_path(dest: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(dest.to_path_buf(), |p, c| p.join(c))
}

/// The `.part` file a download of `rel` goes to.
pub fn part_path(dest: &Path, rel: &str) -> PathBuf {
    let mut p = file_path(dest, rel).into_os_string();
    p.push(".part");
    PathBuf::from(p)
}

/// Fetches every file of `sets` into the data root `dest` from `source`, then merges
/// the verified files into `dest/SHA256SUMS`.
///
/// Data sets whose original cannot serve them (with [`Source::Originals`]) are skipped
/// and reported together at the end as [`FetchError::NeedsMirror`], unless they are
/// already complete; the other data sets are still fetched. Any other error stops the
/// run; files verified before it are still recorded in `SHA256SUMS`.
pub fn fetch(
    sets: &[DataSet],
    dest: &Path,
    source: &Source,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Report, FetchError> {
    // Folders are created only when a server answers with a file, and removed again if
    // the run fails and leaves them empty: an empty data folder would be found by the
    // data root resolution and hide the next candidates.
    let new_folders = folders_to_create(sets, dest);
    let agent = http::agent(opts);
    let mut report = Report::default();
    let mut needs_mirror = Vec::new();
    let mut result = Ok(());
    for set in sets {
        if source == &Source::Originals {
            if let Origin::Repackaged { url, packaging } = &set.origin {
                match present(set, dest) {
                    Ok(Some(files)) => {
                        progress.note(&format!("{}: already there", set.name));
                        report.files.extend(files);
                    }
                    Ok(None) => needs_mirror.push(NeedsMirror {
                        set: set.name.clone(),
                        tasks: set.tasks.clone(),
                        url: url.clone(),
                        packaging: packaging.clone(),
                    }),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
                continue;
            }
        }
        if let Err(e) = fetch_set(&agent, set, dest, source, opts, progress, &mut report) {
            result = Err(e);
            break;
        }
    }
    let sums = update_sums(dest, &report.files);
    if result.is_err() {
        remove_if_empty(&new_folders);
    }
    result?;
    sums?;
    if needs_mirror.is_empty() {
        Ok(report)
    } else {
        Err(FetchError::NeedsMirror { sets: needs_mirror })
    }
}

/// The reports of all of `set`'s files if they are all present and verify.
fn present(set: &DataSet, dest: &Path) -> Result<Option<Vec<FileReport>>, FetchError> {
    let mut out = Vec::new();
    for spec in &set.files {
        let path = file_path(dest, &spec.path);
        match check_existing(&path, spec)? {
            Some(Ok(verified)) => out.push(FileReport {
                path: spec.path.clone(),
                outcome: Outcome::AlreadyThere,
                verified,
            }),
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Verifies `path` if it exists: `None` when it does not.
fn check_existing(path: &Path, spec: &FileSpec) -> Result<Option<verify::Verdict>, FetchError> {
    match verify_file(path, spec) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FetchError::local(path, format!("cannot read: {e}"))),
    }
}

fn fetch_set(
    agent: &ureq::Agent,
    set: &DataSet,
    dest: &Path,
    source: &Source,
    opts: &Options,
    progress: &dyn Progress,
    report: &mut Report,
) -> Result<(), FetchError> {
    for spec in &set.files {
        let url = source.url(set, spec).ok_or_else(|| {
            FetchError::Usage(format!("no source for {} without a mirror", spec.path))
        })?;
        report
            .files
            .push(fetch_file(agent, spec, &url, dest, opts, progress)?);
    }
    Ok(())
}

/// Makes `spec` present and verified in `dest` (steps 1-3 of the module doc).
fn fetch_file(
    agent: &ureq::Agent,
    spec: &FileSpec,
    url: &str,
    dest: &Path,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<FileReport, FetchError> {
    let path = file_path(dest, &spec.path);
    match check_existing(&path, spec)? {
        Some(Ok(verified)) => {
            progress.note(&format!("{}: already there", spec.path));
            return Ok(FileReport {
                path: spec.path.clone(),
                outcome: Outcome::AlreadyThere,
                verified,
            });
        }
        Some(Err(problem)) => {
            progress.note(&format!(
                "{}: present but does not verify ({problem}); removing it and fetching again",
                spec.path
            ));
            remove(&path)?;
        }
        None => {}
    }
    let part = part_path(dest, &spec.path);
    if part.is_file() {
        progress.note(&format!("{}: resuming a partial download", spec.path));
    }
    let mut received = 0;
    // A resumed download that fails is tried once more from the start: the kept bytes
    // may come from another version of the file (another mirror, an updated original).
    let mut restarted = false;
    loop {
        let transfer = http::download(agent, url, &part, spec, opts, progress)?;
        received += transfer.received;
        let verdict = verify_file(&part, spec)
            .map_err(|e| FetchError::local(&part, format!("cannot read: {e}")))?;
        match verdict {
            Ok(verified) => {
                std::fs::rename(&part, &path).map_err(|e| {
                    FetchError::local(&path, format!("cannot rename the verified download: {e}"))
                })?;
                progress.note(&format!("{}: downloaded and verified", spec.path));
                return Ok(FileReport {
                    path: spec.path.clone(),
                    outcome: Outcome::Downloaded {
                        received,
                        resumed: transfer.resumed,
                    },
                    verified,
                });
            }
            Err(problem) => {
                remove(&part)?;
                if transfer.resumed && !restarted {
                    restarted = true;
                    progress.note(&format!(
                        "{}: the resumed download does not verify ({problem}); \
                         downloading it again from the start",
                        spec.path
                    ));
                    continue;
                }
                return Err(FetchError::Corrupt {
                    path: spec.path.clone(),
                    url: url.to_string(),
                    problem: Box::new(problem),
                });
            }
        }
    }
}

/// The folders a fetch of `sets` may create: the data set folders and `dest`, where
/// they do not exist yet, innermost first.
fn folders_to_create(sets: &[DataSet], dest: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = sets.iter().map(|s| file_path(dest, &s.name)).collect();
    out.push(dest.to_path_buf());
    out.retain(|p| !p.exists());
    out
}

/// Removes those of `folders` that are empty (a `.part` kept for resuming keeps its
/// folder; `remove_dir` never removes a folder with anything in it).
fn remove_if_empty(folders: &[PathBuf]) {
    for f in folders {
        let _ = std::fs::remove_dir(f);
    }
}

fn remove(path: &Path) -> Result<(), FetchError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FetchError::local(path, format!("cannot remove: {e}"))),
    }
}

/// Merges the verified files into `dest/SHA256SUMS` (other entries are kept), written
/// to a temporary file and renamed so that a reader never sees half a list.
fn update_sums(dest: &Path, files: &[FileReport]) -> Result<(), FetchError> {
    if files.is_empty() {
        return Ok(());
    }
    let sums_path = dest.join(crate::data::SUMS_FILE);
    let mut sums: BTreeMap<String, String> = match std::fs::read_to_string(&sums_path) {
        Ok(text) => super::root::parse_sums(&text)
            .map_err(|(line, what)| {
                FetchError::local(
                    &sums_path,
                    format!("line {line}: {what}; fix or delete the file and run again"),
                )
            })?
            .into_iter()
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(FetchError::local(&sums_path, format!("cannot read: {e}"))),
    };
    for f in files {
        sums.insert(f.path.clone(), f.verified.raw_sha256.clone());
    }
    let text: String = sums
        .iter()
        .map(|(path, hex)| format!("{hex}  ./{path}\n"))
        .collect();
    let tmp = dest.join(format!("{}.tmp", crate::data::SUMS_FILE));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &sums_path))
        .map_err(|e| FetchError::local(&sums_path, format!("cannot write: {e}")))
}

/// How complete a data set is in a data root (for `--list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetStatus {
    /// Every file is there and matches its pin.
    Verified,
    /// No file is there.
    Missing,
    /// Some files are missing; those present verify.
    Partial { present: usize, total: usize },
    /// At least one file is there and does not match its pin.
    Corrupt { path: String, problem: Invalid },
}

/// Checks every file of `set` in `dest` (reads and hashes them all).
pub fn status(set: &DataSet, dest: &Path) -> Result<SetStatus, FetchError> {
    let mut present = 0;
    for spec in &set.files {
        match check_existing(&file_path(dest, &spec.path), spec)? {
            Some(Ok(_)) => present += 1,
            Some(Err(problem)) => {
                return Ok(SetStatus::Corrupt {
                    path: spec.path.clone(),
                    problem,
                })
            }
            None => {}
        }
    }
    Ok(match present {
        0 => SetStatus::Missing,
        n if n == set.files.len() => SetStatus::Verified,
        n => SetStatus::Partial {
            present: n,
            total: set.files.len(),
        },
    })
}
