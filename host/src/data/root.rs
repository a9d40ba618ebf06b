//! Where the data sets are read from: `--data DIR`, `$DEEPIOT_DATA`, the user's data
//! folder, `../shared/data`, or the MNIST subset bundled with deepiot; and the checksums
//! a root's files are verified against.
use super::{probe, sha256_hex, DataError, Result, DATA_ENV, SUMS_FILE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a [`DataRoot`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootOrigin {
    /// `--data DIR`.
    Explicit,
    /// `$DEEPIOT_DATA`.
    Env,
    /// The user's data folder ([`user_data_dir`]).
    User,
    /// `../shared/data` from the current directory.
    CurrentDir,
    /// `../shared/data` from the repository root this binary was built in.
    RepoRoot,
    /// The MNIST subset bundled in `host/data/mnist-subset`.
    Bundled,
}

impl std::fmt::Display for RootOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RootOrigin::Explicit => "given with --data",
            RootOrigin::Env => "from $DEEPIOT_DATA",
            RootOrigin::User => "the user's data folder",
            RootOrigin::CurrentDir => "../shared/data from the current directory",
            RootOrigin::RepoRoot => "../shared/data from the repository root",
            RootOrigin::Bundled => "the bundled MNIST subset",
        })
    }
}

/// The folder the data sets are read from.
#[derive(Debug, Clone)]
pub struct DataRoot {
    pub path: PathBuf,
    pub origin: RootOrigin,
    /// Check files against `SHA256SUMS` when the root has one (on by default).
    pub verify: bool,
}

impl DataRoot {
    /// A root at `path` as if given with `--data`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DataRoot {
            path: path.into(),
            origin: RootOrigin::Explicit,
            verify: true,
        }
    }

    /// The MNIST subset bundled with the sources (`host/data/mnist-subset`).
    pub fn bundled() -> Self {
        DataRoot {
            path: bundled_dir(),
            origin: RootOrigin::Bundled,
            verify: true,
        }
    }

    /// Finds the data: `explicit` (`--data DIR`), else `$DEEPIOT_DATA`, else the user's
    /// data folder ([`user_data_dir`]) if it exists, else `../shared/data` from the current
    /// directory or from the repository root, else the bundled MNIST subset. An explicit
    /// or environment path that does not exist is an error, not a reason to fall back.
    pub fn resolve(explicit: Option<&Path>) -> Result<Self> {
        let env = std::env::var_os(DATA_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let cwd = std::env::current_dir()
            .ok()
            .map(|d| d.join("../shared/data"));
        Self::resolve_from(
            explicit,
            env.as_deref(),
            user_data_dir().as_deref(),
            cwd.as_deref(),
        )
    }

    /// [`DataRoot::resolve`] for one task: when the root found first does not hold the
    /// task's data set and was not named (`--data`, `$DEEPIOT_DATA`), a later place that
    /// holds it is taken instead, so a user's folder with only MNIST fetched does not hide
    /// the activity data in `../shared/data`.
    pub fn resolve_for(explicit: Option<&Path>, task: &str) -> Result<Self> {
        let first = Self::resolve(explicit)?;
        let Some(set) = probe::data_set(task) else {
            return Ok(first);
        };
        if matches!(first.origin, RootOrigin::Explicit | RootOrigin::Env)
            || probe::holds(&first, set)
        {
            return Ok(first);
        }
        let cwd = std::env::current_dir()
            .ok()
            .map(|d| d.join("../shared/data"));
        let later = [
            (cwd, RootOrigin::CurrentDir),
            (
                Some(repo_root().join("../shared/data")),
                RootOrigin::RepoRoot,
            ),
        ];
        for (path, origin) in later {
            if let Some(p) = path.filter(|p| p.join(set.folder).is_dir()) {
                return Ok(DataRoot {
                    path: tidy(&p),
                    origin,
                    verify: true,
                });
            }
        }
        Ok(first)
    }

    /// [`DataRoot::resolve`] with the environment, the user's folder and the current
    /// directory passed in.
    pub fn resolve_from(
        explicit: Option<&Path>,
        env: Option<&Path>,
        user: Option<&Path>,
        cwd_candidate: Option<&Path>,
    ) -> Result<Self> {
        for (path, origin) in [(explicit, RootOrigin::Explicit), (env, RootOrigin::Env)] {
            if let Some(p) = path {
                if !p.is_dir() {
                    return Err(DataError::NoRoot {
                        path: p.to_path_buf(),
                        origin,
                    });
                }
                return Ok(DataRoot {
                    path: p.to_path_buf(),
                    origin,
                    verify: true,
                });
            }
        }
        let repo = repo_root().join("../shared/data");
        for (path, origin) in [
            (user, RootOrigin::User),
            (cwd_candidate, RootOrigin::CurrentDir),
            (Some(repo.as_path()), RootOrigin::RepoRoot),
        ] {
            if let Some(p) = path.filter(|p| p.is_dir()) {
                return Ok(DataRoot {
                    path: tidy(p),
                    origin,
                    verify: true,
                });
            }
        }
        let bundled = Self::bundled();
        if bundled.path.is_dir() {
            Ok(bundled)
        } else {
            Err(DataError::NoRoot {
                path: repo,
                origin: RootOrigin::RepoRoot,
            })
        }
    }

    /// Sets whether files are checked against `SHA256SUMS`.
    pub fn with_verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    pub fn is_bundled(&self) -> bool {
        self.origin == RootOrigin::Bundled
    }

    /// The full path of a file given relative to the root with `/` separators.
    pub fn file(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.path.clone(), |p, c| p.join(c))
    }

    /// Reads a file of the root, checking its sha256 against `SHA256SUMS` when the
    /// root has one that lists the file.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.file(rel);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::Missing {
                    path,
                    root: self.path.clone(),
                })
            }
            Err(e) => return Err(DataError::Io { path, error: e }),
        };
        if self.verify {
            if let Some(expected) = self.expected_sum(rel)? {
                let actual = sha256_hex(&bytes);
                if actual != expected {
                    return Err(DataError::Checksum {
                        path,
                        expected,
                        actual,
                    });
                }
            }
        }
        Ok(bytes)
    }

    /// The digest `SHA256SUMS` lists for `rel`, if the file exists and lists it.
    fn expected_sum(&self, rel: &str) -> Result<Option<String>> {
        let sums_path = self.path.join(SUMS_FILE);
        let text = match std::fs::read_to_string(&sums_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DataError::Io {
                    path: sums_path,
                    error: e,
                })
            }
        };
        let sums = parse_sums(&text).map_err(|(line, what)| DataError::Csv {
            path: sums_path.clone(),
            line,
            what,
        })?;
        Ok(sums.get(rel).cloned())
    }
}

/// Parses `sha256sum` output: `HEX  PATH` or `HEX *PATH` per line; paths lose a `./`.
pub(super) fn parse_sums(
    text: &str,
) -> std::result::Result<HashMap<String, String>, (usize, String)> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (hex, name) = line
            .split_once(' ')
            .ok_or_else(|| (i + 1, "expected `SHA256  PATH`".to_string()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((i + 1, format!("`{hex}` is not a sha256 digest")));
        }
        let name = name.trim_start_matches([' ', '*']);
        let name = name.strip_prefix("./").unwrap_or(name);
        out.insert(name.to_string(), hex.to_ascii_lowercase());
    }
    Ok(out)
}

/// Environment variable overriding the user's data folder.
pub const USER_DATA_ENV: &str = "DEEPIOT_USER_DATA";

/// The user's data folder, where `deepiot data fetch` puts the data sets:
/// `$DEEPIOT_USER_DATA`, else `~/.cache/deepiot/data` (see [`crate::paths::cache_home`]).
/// `None` when there is no home to put it in.
pub fn user_data_dir() -> Option<PathBuf> {
    match std::env::var_os(USER_DATA_ENV).filter(|v| !v.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None => Some(crate::paths::cache_home()?.join("data")),
    }
}

/// The folder this crate was built from (`host/`), known at compile time.
fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root (the parent of `host/`).
fn repo_root() -> PathBuf {
    manifest_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir().join(".."))
}

/// `host/data/mnist-subset`.
pub fn bundled_dir() -> PathBuf {
    let sources = manifest_dir().join("data").join("mnist-subset");
    if sources.is_dir() {
        return sources;
    }
    // An installed deepiot whose sources are gone: unpack the compiled-in copy once.
    let Some(dir) =
        crate::paths::cache_home().map(|c| c.join("mnist-subset").join(env!("CARGO_PKG_VERSION")))
    else {
        return sources;
    };
    for (name, bytes) in BUNDLED_FILES {
        let path = dir.join(name);
        let present = std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64);
        if !present && crate::paths::write_atomic(&path, bytes).is_err() {
            return sources;
        }
    }
    dir
}

/// The bundled subset's files, compiled in so that an installed `deepiot` can run the
/// quick start without its source tree (about 1 MB). Reads verify them against the
/// `SHA256SUMS` among them.
const BUNDLED_FILES: &[(&str, &[u8])] = &[
    (
        SUMS_FILE,
        include_bytes!("../../data/mnist-subset/SHA256SUMS"),
    ),
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist-subset/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist-subset/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist-subset/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist-subset/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// A canonical form of an existing path for messages; the path itself if that fails.
fn tidy(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}
