//! A user's own data set: a folder given with `--data DIR` that holds
//!
//! - `train_x.npy` (float32 `[N, ...]`), `train_y.npy` (integer `[N]`), `test_x.npy` and
//!   `test_y.npy`; or
//! - `train.csv` and `test.csv`, one example per row with a header, the label in one named
//!   column (`--label-column`, default `label`) and every other column a feature;
//! - optionally `classes.txt`, one class name per line.
//!
//! The values are taken as they are: no normalisation ([`Dataset::input_norm`] is the
//! identity), so the model sees exactly what the files hold. Every value is checked
//! before anything trains: a NaN or infinite input, a label out of range, different
//! numbers of inputs and labels, a wrong dtype and an empty split each have their own
//! error naming the file and the index. When the model that will use the data is known
//! ([`Expect`]), its input shape and class count are checked against the data too.
mod csv_form;
pub mod npy;

use super::{DataError, Dataset, Result, Standardization};
use std::path::{Path, PathBuf};

/// The data task name of every user folder: no built-in recipe or augmentation applies.
pub const USER_TASK: &str = "user";

/// The optional file of class names in a user folder.
pub const CLASSES_FILE: &str = "classes.txt";

/// The label column of the CSV form when none is named.
pub const DEFAULT_LABEL_COLUMN: &str = "label";

/// True when `dir` looks like a user data folder (`train_x.npy` or `train.csv`).
pub fn is_user_folder(dir: &Path) -> bool {
    dir.join("train_x.npy").is_file() || dir.join("train.csv").is_file()
}

/// What the model that will use the data takes: its per-example input shape and its
/// number of outputs (classes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub input: Vec<usize>,
    pub classes: usize,
}

/// One split as read from its files, before the classes are known.
struct RawSplit {
    /// The file the inputs came from, and the one the labels came from (the same file
    /// for CSV).
    x_path: PathBuf,
    y_path: PathBuf,
    /// Per-example shape.
    shape: Vec<usize>,
    x: Vec<f32>,
    /// Labels as class indices (not yet range-checked), with where each one is.
    y: Vec<i128>,
    at: Vec<String>,
}

/// Loads a user data folder. `label_column` names the CSV label column; `expect`, when
/// given, is the model the data must fit.
pub fn load(dir: &Path, label_column: &str, expect: Option<&Expect>) -> Result<Dataset> {
    let folder_err = |what: String| DataError::UserFolder {
        path: dir.to_path_buf(),
        what,
    };
    let npy = dir.join("train_x.npy").is_file();
    let csv = dir.join("train.csv").is_file();
    if npy && csv {
        return Err(folder_err(
            "holds both train_x.npy and train.csv; keep one form of the data".into(),
        ));
    }
    if !npy && !csv {
        return Err(folder_err(
            "is not a user data folder: it needs train_x.npy, train_y.npy, test_x.npy and \
             test_y.npy, or train.csv and test.csv"
                .into(),
        ));
    }
    let names = read_classes(dir)?;
    let (mut train, mut test) = if npy {
        (npy_split(dir, "train")?, npy_split(dir, "test")?)
    } else {
        (
            csv_form::read(dir, "train", label_column, names.as_deref())?,
            csv_form::read(dir, "test", label_column, names.as_deref())?,
        )
    };
    if test.shape != train.shape {
        return Err(DataError::Shape {
            path: test.x_path.clone(),
            what: format!(
                "test examples have shape {:?}, but the training examples in {} have {:?}",
                test.shape,
                train.x_path.display(),
                train.shape
            ),
        });
    }
    if let Some(e) = expect {
        let data_len: usize = train.shape.iter().product();
        let model_len: usize = e.input.iter().product();
        if e.input != train.shape {
            // A CSV row is flat: it takes the model's shape when the number of values agrees.
            if !npy && data_len == model_len {
                train.shape = e.input.clone();
                test.shape = e.input.clone();
            } else {
                return Err(DataError::Shape {
                    path: train.x_path.clone(),
                    what: format!(
                        "the model takes inputs of shape {:?} ({model_len} values per example), \
                         but the examples here have shape {:?} ({data_len} values)",
                        e.input, train.shape
                    ),
                });
            }
        }
    }
    let (classes, why) = match (names, expect) {
        (Some(n), Some(e)) if n.len() != e.classes => {
            return Err(DataError::Shape {
                path: dir.join(CLASSES_FILE),
                what: format!(
                    "lists {} classes, but the model has {} outputs",
                    n.len(),
                    e.classes
                ),
            })
        }
        (Some(n), _) => {
            let why = format!("{} lists {}", CLASSES_FILE, n.len());
            (n, why)
        }
        (None, Some(e)) => (
            numbered(e.classes),
            format!("the model has {} outputs", e.classes),
        ),
        (None, None) => {
            let max = train.y.iter().chain(&test.y).copied().max().unwrap_or(0);
            let n = usize::try_from(max.max(0) + 1).unwrap_or(usize::MAX);
            (
                numbered(n.min(1 << 20)),
                "the largest label plus one".into(),
            )
        }
    };
    let train_y = check_labels(&train, classes.len(), &why)?;
    let test_y = check_labels(&test, classes.len(), &why)?;
    let axis_len = train.shape.first().copied().unwrap_or(1);
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    Ok(Dataset {
        name,
        shape: train.shape,
        classes,
        train_x: train.x,
        train_y,
        test_x: test.x,
        test_y,
        input_norm: Standardization::scaled(axis_len, 1.0),
    })
}

/// `0`, `1`, ... as class names when the folder has no `classes.txt`.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|c| c.to_string()).collect()
}

/// The class names of `classes.txt`, if the folder has one.
fn read_classes(dir: &Path) -> Result<Option<Vec<String>>> {
    let path = dir.join(CLASSES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::Io { path, error: e }),
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let used = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    if used == 0 {
        return Err(DataError::UserFolder {
            path,
            what: "lists no classes; give one name per line, or delete the file".into(),
        });
    }
    if let Some(i) = lines[..used].iter().position(|l| l.is_empty()) {
        return Err(DataError::UserFolder {
            path,
            what: format!(
                "line {} is empty; every line up to the last names one class",
                i + 1
            ),
        });
    }
    Ok(Some(lines[..used].iter().map(|l| l.to_string()).collect()))
}

/// Reads `{split}_x.npy` and `{split}_y.npy` and checks them against each other.
fn npy_split(dir: &Path, split: &str) -> Result<RawSplit> {
    let x_path = dir.join(format!("{split}_x.npy"));
    let y_path = dir.join(format!("{split}_y.npy"));
    for p in [&x_path, &y_path] {
        if !p.is_file() {
            return Err(DataError::UserFolder {
                path: dir.to_path_buf(),
                what: format!(
                    "{} is missing; a .npy folder holds train_x.npy, train_y.npy, test_x.npy \
                     and test_y.npy",
                    p.display()
                ),
            });
        }
    }
    let xa = npy::read(&x_path)?;
    if xa.dtype != npy::Dtype::F32 {
        return Err(DataError::Dtype {
            path: x_path,
            found: xa.descr,
            want: "inputs must be float32 (`<f4`); save x.astype(numpy.float32)".into(),
        });
    }
    if xa.shape.len() < 2 {
        return Err(DataError::Shape {
            path: x_path,
            what: format!(
                "shape {:?}: inputs need one example per row, [N, ...] with at least one axis \
                 per example (e.g. [N, 1] for one feature)",
                xa.shape
            ),
        });
    }
    let ya = npy::read(&y_path)?;
    if !ya.dtype.is_integer() {
        return Err(DataError::Dtype {
            path: y_path,
            found: ya.descr,
            want: "labels must be integers (`<i8`, `<i4`, `|u1`, ...); save y.astype(numpy.int64)"
                .into(),
        });
    }
    let rows = xa.shape[0];
    let y_rows = match ya.shape.as_slice() {
        [n] | [n, 1] => *n,
        _ => {
            return Err(DataError::Shape {
                path: y_path,
                what: format!(
                    "shape {:?}: labels need shape [N], one per example",
                    ya.shape
                ),
            })
        }
    };
    if y_rows != rows {
        return Err(DataError::RowMismatch {
            x_path,
            x_rows: rows,
            y_path,
            y_rows,
        });
    }
    if rows == 0 {
        return Err(DataError::EmptySplit {
            path: x_path,
            split: split.into(),
            what: format!("shape {:?}", xa.shape),
        });
    }
    let shape = xa.shape[1..].to_vec();
    let x = xa.to_f32();
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        let index = unravel(i, &xa.shape);
        return Err(DataError::NotFinite {
            at: format!("index {index:?} (example {})", index[0]),
            value: describe(x[i]),
            path: x_path,
        });
    }
    let y = ya.to_integers();
    let at = (0..rows).map(|i| format!("index {i}")).collect();
    Ok(RawSplit {
        x_path,
        y_path,
        shape,
        x,
        y,
        at,
    })
}

/// The multi-index of flat position `i` in a C-order array of `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        let d = d.max(1);
        idx[k] = i % d;
        i /= d;
    }
    idx
}

/// `NaN`, `inf` or `-inf`.
fn describe(v: f32) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// The labels of a split as class indices, each checked to name one of `classes`.
fn check_labels(s: &RawSplit, classes: usize, why: &str) -> Result<Vec<u32>> {
    s.y.iter()
        .zip(&s.at)
        .map(|(&l, at)| {
            if l < 0 || l >= classes as i128 {
                Err(DataError::LabelOutOfRange {
                    path: s.y_path.clone(),
                    at: at.clone(),
                    label: l.to_string(),
                    classes,
                    why: why.to_string(),
                })
            } else {
                Ok(l as u32)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravel_is_c_order() {
        assert_eq!(unravel(0, &[2, 3, 4]), vec![0, 0, 0]);
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(unravel(13, &[2, 3, 4]), vec![1, 0, 1]);
    }
}
