//! Is a full data set here, and if not, what to say about it.
//!
//! This lives in the library, not in a test helper, because several parties must give
//! the same answer: the host's own tests, the end-to-end test crate (integration tests of
//! different crates cannot share a `tests/common` module, but they all link this
//! library), and the CLI when it tells a user how to get a data set. All of them find the
//! data as the CLI does ([`DataRoot::resolve_for`]) and call a data set missing when that
//! root has no folder for it.
//!
//! A test that needs a full data set calls [`data_or_skip`]. When the data set is not
//! there, the test prints one line on stderr, e.g. `skipped TEST: the casale-har data
//! set was not found in $DEEPIOT_DATA, ~/.cache/deepiot/data or ../shared/data (run
//! `deepiot data fetch har` or set DEEPIOT_DATA=DIR)`, and returns: a fresh clone without the data passes, and says what it did not check.
//! With `DEEPIOT_REQUIRE_DATA=1` (a machine that has the data and must run everything)
//! the same situation fails the test. [`skip_or_fail`] is that rule for any other need
//! (a tool, root), so every skipped test reads alike.
use super::{user_data_dir, DataError, DataRoot, DATA_ENV};
use std::fmt;

/// Set to `1` to make a test fail instead of skipping when its data set is missing.
pub const REQUIRE_DATA_ENV: &str = "DEEPIOT_REQUIRE_DATA";

/// One downloadable data set: its folder in a data root and the tasks read from it.
#[derive(Debug, PartialEq, Eq)]
pub struct DataSet {
    /// The folder in a data root (`casale-har`).
    pub folder: &'static str,
    /// The name `deepiot data fetch` takes.
    pub fetch: &'static str,
    /// The task names (as [`super::load`] accepts them) that read this data set.
    pub tasks: &'static [&'static str],
}

/// Every full data set. The bundled MNIST subset is not one of them.
pub const DATA_SETS: &[DataSet] = &[
    DataSet {
        folder: "mnist",
        fetch: "mnist",
        tasks: &["mnist"],
    },
    DataSet {
        folder: "casale-har",
        fetch: "har",
        tasks: &[
            "har",
            "har_cross_participant",
            "har-cross",
            "har-cross-participant",
            "userid",
        ],
    },
    DataSet {
        folder: "fsdd",
        fetch: "speech",
        tasks: &["speech", "fsdd"],
    },
    DataSet {
        folder: "cifar10-jpeg",
        fetch: "cifar10",
        tasks: &["cifar10", "cifar", "cifar-10"],
    },
];

/// The data set a task reads, `None` for an unknown task.
pub fn data_set(task: &str) -> Option<&'static DataSet> {
    DATA_SETS.iter().find(|s| s.tasks.contains(&task))
}

/// Whether `root` holds `set` (its folder is there; the bundled subset holds none).
pub fn holds(root: &DataRoot, set: &DataSet) -> bool {
    !root.is_bundled() && root.path.join(set.folder).is_dir()
}

/// A data set that is not where the CLI would read it.
#[derive(Debug)]
pub struct NotFound {
    pub set: &'static DataSet,
    /// Where the CLI looked, as the message goes on after "was not found":
    /// `in PLACES` or `: PATH does not exist`.
    pub searched: String,
}

impl NotFound {
    /// How to get the data set.
    pub fn how(&self) -> String {
        format!(
            "run `deepiot data fetch {}` or set {DATA_ENV}=DIR",
            self.set.fetch
        )
    }
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} data set was not found{}",
            self.set.folder, self.searched
        )
    }
}

impl std::error::Error for NotFound {}

/// The root the CLI would read `set` from, if it holds it: `resolved` is what
/// [`DataRoot::resolve`] gave (passed in so that this can be checked without touching
/// the environment).
pub fn find_in(
    resolved: Result<DataRoot, DataError>,
    set: &'static DataSet,
) -> Result<DataRoot, NotFound> {
    let searched = match resolved {
        Ok(root) if holds(&root, set) => return Ok(root),
        Ok(root) if root.is_bundled() => format!(" in {}", default_places()),
        Ok(root) => format!(" in {} ({})", root.path.display(), root.origin),
        Err(DataError::NoRoot { path, origin }) => {
            format!(": {} ({origin}) does not exist", path.display())
        }
        Err(e) => format!(": {e}"),
    };
    Err(NotFound { set, searched })
}

/// Finds `task`'s data set as the CLI would.
///
/// # Panics
/// When `task` is not a task of [`DATA_SETS`]: that is the caller's mistake, not a
/// missing data set.
pub fn find(task: &str) -> Result<DataRoot, NotFound> {
    let set = data_set(task).unwrap_or_else(|| panic!("`{task}` is not a data-set task"));
    find_in(DataRoot::resolve_for(None, task), set)
}

/// The places [`DataRoot::resolve`] tries when nothing is given, for messages.
fn default_places() -> String {
    let user = user_data_dir()
        .map(|p| home_relative(&p.display().to_string()))
        .unwrap_or_else(|| "the user's data folder".into());
    format!("${DATA_ENV}, {user} or ../shared/data")
}

/// `p` with the home folder written as `~`.
fn home_relative(p: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && home != "/" => match p.strip_prefix(home.as_str()) {
            Some(rest) if rest.starts_with('/') => format!("~{rest}"),
            _ => p.to_string(),
        },
        _ => p.to_string(),
    }
}

// The skip rule is shared with the board tests, which build without this crate.
pub use deepiot_board::skip::{required, skip_line, skip_or_fail};

/// The data root holding `task`'s data set, or `None` after [`skip_or_fail`] said why
/// `test` is skipped (or failed it under `DEEPIOT_REQUIRE_DATA=1`).
#[track_caller]
pub fn data_or_skip(test: &str, task: &str) -> Option<DataRoot> {
    match find(task) {
        Ok(root) => Some(root),
        Err(missing) => {
            skip_or_fail(test, &missing.to_string(), &missing.how(), REQUIRE_DATA_ENV);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_has_a_data_set() {
        for task in super::super::TASKS {
            assert!(data_set(task).is_some(), "{task}");
        }
        assert_eq!(data_set("userid").unwrap().folder, "casale-har");
        assert!(data_set("imagenet").is_none());
    }

    #[test]
    fn a_root_without_the_folder_does_not_hold_the_set() {
        let tmp = tempfile::tempdir().unwrap();
        let har = data_set("har").unwrap();
        let root = DataRoot::new(tmp.path());
        let err = find_in(Ok(root.clone()), har).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("casale-har") && msg.contains("not found"),
            "{msg}"
        );
        assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
        assert!(
            err.how().contains("deepiot data fetch har"),
            "{}",
            err.how()
        );

        std::fs::create_dir(tmp.path().join("casale-har")).unwrap();
        assert!(find_in(Ok(root), har).is_ok());
    }

    #[test]
    fn the_bundled_subset_is_not_full_mnist() {
        let mnist = data_set("mnist").unwrap();
        assert!(!holds(&DataRoot::bundled(), mnist));
        let err = find_in(Ok(DataRoot::bundled()), mnist).unwrap_err();
        assert!(err.to_string().contains(DATA_ENV), "{err}");
        let err = find_in(
            Err(DataError::NoRoot {
                path: "/no/such/dir".into(),
                origin: super::super::RootOrigin::Env,
            }),
            mnist,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/no/such/dir") && err.to_string().contains("not exist"),
            "{err}"
        );
    }

    #[test]
    fn skip_lines_have_one_shape() {
        assert_eq!(
            skip_line("t", "no sshd", "apt-get install openssh-server"),
            "skipped t: no sshd (apt-get install openssh-server)"
        );
        assert!(!required("DEEPIOT_TEST_FLAG_THAT_IS_NEVER_SET"));
    }
}
