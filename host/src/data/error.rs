//! What can go wrong while loading a data set. Every variant names the file.
use super::{RootOrigin, TASKS};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown task `{task}`; the tasks are: {}", TASKS.join(", "))]
    UnknownTask { task: String },

    #[error(
        "task `{task}` needs the real data sets, but none were found (only the bundled MNIST \
         subset is here); pass --data DIR or set DEEPIOT_DATA to the folder holding mnist/, \
         casale-har/, fsdd/ and cifar10-jpeg/"
    )]
    NotBundled { task: String },

    #[error(
        "data folder {} ({origin}) does not exist; pass --data DIR or set DEEPIOT_DATA to \
         the folder holding mnist/, casale-har/, fsdd/ and cifar10-jpeg/",
        path.display()
    )]
    NoRoot { path: PathBuf, origin: RootOrigin },

    #[error("{} is missing (data root {}); is this the right data folder?", path.display(), root.display())]
    Missing { path: PathBuf, root: PathBuf },

    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error(
        "{}: sha256 mismatch: SHA256SUMS says {expected}, the file has {actual}; the file is \
         corrupt or was changed, fetch it again",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("{}: corrupt or truncated gzip: {error}", path.display())]
    Gzip {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: corrupt tar archive: {what}", path.display())]
    Tar { path: PathBuf, what: String },

    /// Bad magic, wrong sizes, missing members and the like.
    #[error("{}: {what}", path.display())]
    Format { path: PathBuf, what: String },

    #[error("{}: bad CSV line {line}: {what}", path.display())]
    Csv {
        path: PathBuf,
        line: usize,
        what: String,
    },

    #[error("{}: bad WAV {member}: {what}", path.display())]
    Wav {
        path: PathBuf,
        member: String,
        what: String,
    },

    #[error("{}: bad JPEG {member}: {what}", path.display())]
    Jpeg {
        path: PathBuf,
        member: String,
        what: String,
    },

    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A `.npy` file this reader does not take: magic, version, header, Fortran order,
    /// a size that does not match its header.
    #[error("{}: {what}", path.display())]
    Npy { path: PathBuf, what: String },

    #[error("{}: wrong dtype `{found}`: {want}", path.display())]
    Dtype {
        path: PathBuf,
        found: String,
        want: String,
    },

    #[error("{}: {value} at {at}; every input must be a finite number", path.display())]
    NotFinite {
        path: PathBuf,
        /// Where: the index in the array, or the row and column of a CSV file.
        at: String,
        /// `NaN`, `inf` or `-inf`.
        value: String,
    },

    #[error(
        "{}: label {label} at {at} is out of range: there are {classes} classes ({why}), so \
         labels run from 0 to {}",
        path.display(), classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        path: PathBuf,
        at: String,
        label: String,
        classes: usize,
        /// Where the class count comes from (classes.txt, the model's outputs, ...).
        why: String,
    },

    #[error(
        "{} has {x_rows} examples but {} has {y_rows} labels; they must have one label per \
         example",
        x_path.display(), y_path.display()
    )]
    RowMismatch {
        x_path: PathBuf,
        x_rows: usize,
        y_path: PathBuf,
        y_rows: usize,
    },

    #[error("{}: the {split} split is empty ({what}); every split needs at least one example", path.display())]
    EmptySplit {
        path: PathBuf,
        split: String,
        what: String,
    },

    /// Shapes that do not agree: an array's rank, train against test, the data against
    /// the model.
    #[error("{}: {what}", path.display())]
    Shape { path: PathBuf, what: String },

    /// A user data folder that is incomplete or ambiguous.
    #[error("{}: {what}", path.display())]
    UserFolder { path: PathBuf, what: String },

    /// A loader produced inconsistent sizes: a bug, not a data problem.
    #[error("internal error loading `{task}`: {what}")]
    Internal { task: String, what: String },
}
