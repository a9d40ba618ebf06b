//! The sensing data sets: loaders, splits and features.
//!
//! Every loader returns a [`Dataset`]: flat, row-major, example-major `f32` inputs and
//! `u32` labels for a train and a test split, the per-example input `shape` (no batch
//! axis) and the class names. Inputs are already normalised; [`Dataset::input_norm`]
//! records how, so that the same transform can be applied to new inputs on a board.
//!
//! | task | module | shape | classes | split |
//! |---|---|---|---|---|
//! | `mnist` | [`mnist`] | `[1, 28, 28]` | 10 digits | canonical 60,000 / 10,000 |
//! | `har` | [`casale`] | `[3, T, L]` | 7 activities | first 70 % of each run's windows train, in time |
//! | `har_cross_participant` | [`casale`] | `[3, T, L]` | 7 activities | participants 1-10 train, 11-15 test |
//! | `userid` | [`casale`] | `[3, T, L]` | 15 participants | walking only, in time as `har` |
//! | `speech` | [`fsdd`] | `[FRAMES, N_MELS]` | 10 digits | recording index 0-4 test |
//! | `cifar10` | [`cifar`] | `[3, 32, 32]` | 10 classes | canonical 50,000 / 10,000 |
//!
//! (`T`, `L` are [`casale::INTERVALS`], [`casale::INTERVAL_LEN`]; `FRAMES`, `N_MELS` are
//! [`fsdd::FRAMES`], [`fsdd::N_MELS`].)
//!
//! Where the data comes from is a [`DataRoot`]: `--data DIR`, else `$DEEPIOT_DATA`, else
//! the user's data folder ([`user_data_dir`], where `deepiot data fetch` puts the data
//! sets), else `../shared/data` (from the current directory, then from the repository
//! root), else the MNIST subset bundled in `host/data/mnist-subset` so that the quick
//! start works offline.
//! When the root holds a `SHA256SUMS` file, every file is checked against it as it is read.
//!
//! A user's own data set is a folder of `.npy` or CSV files given with `--data DIR`
//! ([`user`]): no task, no normalisation, every value checked as it loads.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

pub mod augment;
pub mod casale;
pub mod cifar;
mod error;
pub mod fetch;
pub mod fsdd;
pub mod mnist;
pub mod probe;
mod root;
pub mod user;

pub use error::DataError;
pub use root::{bundled_dir, user_data_dir, DataRoot, RootOrigin, USER_DATA_ENV};

/// Result type of the data loaders.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// The tasks [`load`] knows.
pub const TASKS: &[&str] = &[
    "mnist",
    "har",
    "har_cross_participant",
    "userid",
    "speech",
    "cifar10",
];

/// Environment variable naming the data root when `--data` is not given.
pub const DATA_ENV: &str = "DEEPIOT_DATA";

/// Name of the checksum file in a data root (`sha256sum` format).
pub const SUMS_FILE: &str = "SHA256SUMS";

/// One of the two splits of a [`Dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

/// How the stored inputs were made from the raw values: `x = (raw - mean[c]) / std[c]`,
/// where `c` is the example's index along `axis` of [`Dataset::shape`].
///
/// "Raw" is the sensor's unit: MNIST and CIFAR-10 pixels 0..=255, Casale ADC counts,
/// FSDD natural-log mel energies (see [`fsdd`]). The statistics come from the training
/// split only (MNIST uses the fixed `mean 0, std 255`).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    /// The axis of the per-example shape the statistics run along.
    pub axis: usize,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// A data set split into train and test, ready for a model.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The task name (`mnist`, `har`, ...; `mnist-subset` for the bundled subset).
    pub name: String,
    /// Per-example input shape, without a batch axis.
    pub shape: Vec<usize>,
    /// Class names; labels index this list.
    pub classes: Vec<String>,
    /// Train inputs, `train_len() * example_len()` values, example-major.
    pub train_x: Vec<f32>,
    pub train_y: Vec<u32>,
    /// Test inputs, `test_len() * example_len()` values, example-major.
    pub test_x: Vec<f32>,
    pub test_y: Vec<u32>,
    /// How raw values were turned into the stored inputs.
    pub input_norm: Standardization,
}

impl Standardization {
    /// No centring: each of the `channels` channels along axis 0 divided by `std`.
    pub fn scaled(channels: usize, std: f32) -> Standardization {
        Standardization {
            axis: 0,
            mean: vec![0.0; channels],
            std: vec![std; channels],
        }
    }
}

impl Dataset {
    /// A data set from its parts; `train` and `test` are (inputs, labels).
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        classes: Vec<String>,
        train: (Vec<f32>, Vec<u32>),
        test: (Vec<f32>, Vec<u32>),
        input_norm: Standardization,
    ) -> Dataset {
        let ((train_x, train_y), (test_x, test_y)) = (train, test);
        Dataset {
            name: name.into(),
            shape,
            classes,
            train_x,
            train_y,
            test_x,
            test_y,
            input_norm,
        }
    }

    /// Values per example (the product of `shape`).
    pub fn example_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of examples in a split.
    pub fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train_y.len(),
            Split::Test => self.test_y.len(),
        }
    }

    /// Number of training examples.
    pub fn train_len(&self) -> usize {
        self.train_y.len()
    }

    /// Number of test examples.
    pub fn test_len(&self) -> usize {
        self.test_y.len()
    }

    /// True when both splits are empty.
    pub fn is_empty(&self) -> bool {
        self.train_y.is_empty() && self.test_y.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The inputs and labels of one split.
    pub fn split(&self, split: Split) -> (&[f32], &[u32]) {
        match split {
            Split::Train => (&self.train_x, &self.train_y),
            Split::Test => (&self.test_x, &self.test_y),
        }
    }

    /// Example `i` of a split: its inputs (`example_len()` values) and its label.
    ///
    /// Panics when `i >= self.len(split)`, like slice indexing.
    pub fn example(&self, split: Split, i: usize) -> (&[f32], u32) {
        let n = self.example_len();
        let (x, y) = self.split(split);
        (&x[i * n..(i + 1) * n], y[i])
    }

    /// How many examples of each class a split holds.
    pub fn class_counts(&self, split: Split) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &y in self.split(split).1 {
            counts[y as usize] += 1;
        }
        counts
    }

    /// Checks that sizes agree and every label names a class (loaders call this last).
    fn check(self) -> Result<Self> {
        let n = self.example_len();
        let bad = |what: String| DataError::Internal {
            task: self.name.clone(),
            what,
        };
        for (split, x, y) in [
            ("train", &self.train_x, &self.train_y),
            ("test", &self.test_x, &self.test_y),
        ] {
            if x.len() != y.len() * n {
                return Err(bad(format!(
                    "{split} split has {} values for {} examples of {n}",
                    x.len(),
                    y.len()
                )));
            }
            if let Some(&l) = y.iter().find(|&&l| l as usize >= self.classes.len()) {
                return Err(bad(format!("{split} label {l} has no class")));
            }
        }
        Ok(self)
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads a task's data set from `root`.
///
/// Tasks: `mnist`, `har` (Casale, 7 activities, split in time), `har_cross_participant`
/// (Casale, 7 activities, participants 1-10 train / 11-15 test), `userid` (Casale
/// walking, 15 participants), `speech` (FSDD log-mel), `cifar10`. A bundled root holds
/// only MNIST (a 5,000 / 1,000 subset).
pub fn load(task: &str, root: &DataRoot) -> Result<Dataset> {
    let canonical = match task {
        "har-cross" | "har-cross-participant" => "har_cross_participant",
        "fsdd" => "speech",
        "cifar" | "cifar-10" => "cifar10",
        t => t,
    };
    if !TASKS.contains(&canonical) {
        return Err(DataError::UnknownTask {
            task: task.to_string(),
        });
    }
    if root.is_bundled() && canonical != "mnist" {
        return Err(DataError::NotBundled {
            task: task.to_string(),
        });
    }
    let ds = match canonical {
        "mnist" => mnist::load(root)?,
        "har" => casale::load(root, casale::Task::Har)?,
        "har_cross_participant" => casale::load(root, casale::Task::HarCrossParticipant)?,
        "userid" => casale::load(root, casale::Task::UserId)?,
        "speech" => fsdd::load(root)?,
        "cifar10" => cifar::load(root)?,
        _ => unreachable!("checked against TASKS above"),
    };
    ds.check()
}

/// Decompresses a whole gzip file held in memory; `path` names it in errors.
pub(crate) fn gunzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            what: "not a gzip file (no 1f 8b magic)".into(),
        });
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            path: path.to_path_buf(),
            error: e,
        })?;
    Ok(out)
}

/// Reads every regular file of a tar archive held in memory as `(member path, bytes)`.
pub(crate) fn untar(path: &Path, tar_bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |e: std::io::Error| DataError::Tar {
        path: path.to_path_buf(),
        what: e.to_string(),
    };
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data).map_err(bad)?;
        out.push((name, data));
    }
    Ok(out)
}

/// Mean and (population) standard deviation of groups of values; `std` is at least
/// `1e-6` so that dividing by it is safe.
pub(crate) fn mean_std(sums: &[f64], sq_sums: &[f64], count: f64) -> (Vec<f32>, Vec<f32>) {
    let mean: Vec<f64> = sums.iter().map(|s| s / count.max(1.0)).collect();
    let std = sq_sums
        .iter()
        .zip(&mean)
        .map(|(sq, m)| ((sq / count.max(1.0) - m * m).max(0.0).sqrt().max(1e-6)) as f32)
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_parse_both_styles() {
        let h = "a".repeat(64);
        let text = format!("{h}  ./mnist/x.gz\n{h} *casale-har/1.csv.gz\n\n");
        let sums = root::parse_sums(&text).unwrap();
        assert_eq!(sums.get("mnist/x.gz"), Some(&h));
        assert_eq!(sums.get("casale-har/1.csv.gz"), Some(&h));
        assert_eq!(root::parse_sums("zz  x\n").unwrap_err().0, 1);
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn explicit_missing_root_is_an_error() {
        let err =
            DataRoot::resolve_from(Some(Path::new("/no/such/dir")), None, None, None).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
    }

    #[test]
    fn falls_back_in_order() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let r = DataRoot::resolve_from(None, Some(here), Some(here), None).unwrap();
        assert_eq!(r.origin, RootOrigin::Env);
        let r = DataRoot::resolve_from(None, None, Some(here), Some(here)).unwrap();
        assert_eq!(r.origin, RootOrigin::User);
        let missing = Path::new("/no/such/dir");
        let r = DataRoot::resolve_from(None, None, Some(missing), Some(here)).unwrap();
        assert_eq!(r.origin, RootOrigin::CurrentDir);
        let r = DataRoot::resolve_from(None, None, Some(missing), Some(missing)).unwrap();
        assert!(matches!(
            r.origin,
            RootOrigin::RepoRoot | RootOrigin::Bundled
        ));
    }
}
