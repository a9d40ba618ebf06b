//! The CSV form of a user folder: `train.csv` and `test.csv`, a header row, one example
//! per row, the label in one named column and every other column a feature (so examples
//! have shape `[F]`; [`super::load`] gives them the model's shape when the number of
//! values agrees).
use super::{DataError, RawSplit, Result};
use std::path::Path;

/// Reads `{split}.csv` of `dir`. Labels are class indices, or class names when the folder
/// has `classes.txt` (`names`).
pub(super) fn read(
    dir: &Path,
    split: &str,
    label_column: &str,
    names: Option<&[String]>,
) -> Result<RawSplit> {
    let path = dir.join(format!("{split}.csv"));
    if !path.is_file() {
        return Err(DataError::UserFolder {
            path: dir.to_path_buf(),
            what: format!(
                "{} is missing; a CSV folder holds train.csv and test.csv",
                path.display()
            ),
        });
    }
    let csv_err = |line: u64, what: String| DataError::Csv {
        path: path.clone(),
        line: line as usize,
        what,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(&path)
        .map_err(|e| csv_err(0, e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_err(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let label_at = header
        .iter()
        .position(|h| h == label_column)
        .ok_or_else(|| {
            csv_err(
                1,
                format!(
                    "no column `{label_column}` for the labels (the columns are {}); name the \
                     label column with --label-column",
                    header.join(", ")
                ),
            )
        })?;
    let features: Vec<&String> = header
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != label_at)
        .map(|(_, h)| h)
        .collect();
    if features.is_empty() {
        return Err(csv_err(1, "no feature columns besides the label".into()));
    }
    let (mut x, mut y, mut at) = (Vec::new(), Vec::new(), Vec::new());
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            csv_err(line, e.to_string())
        })?;
        let line = record.position().map_or(row as u64 + 2, |p| p.line());
        let place = format!("row {row} (line {line})");
        for (col, cell) in record.iter().enumerate() {
            if col == label_at {
                y.push(label(cell, names).ok_or_else(|| {
                    csv_err(
                        line,
                        format!(
                            "label `{cell}` in column `{label_column}` is not a class index{}",
                            if names.is_some() {
                                " nor a name in classes.txt"
                            } else {
                                ""
                            }
                        ),
                    )
                })?);
                continue;
            }
            let v: f32 = cell.parse().map_err(|_| {
                csv_err(
                    line,
                    format!("`{cell}` in column `{}` is not a number", header[col]),
                )
            })?;
            if !v.is_finite() {
                return Err(DataError::NotFinite {
                    path: path.clone(),
                    at: format!("{place}, column `{}`", header[col]),
                    value: cell.to_string(),
                });
            }
            x.push(v);
        }
        at.push(place);
    }
    if y.is_empty() {
        return Err(DataError::EmptySplit {
            path: path.clone(),
            split: split.into(),
            what: "a header and no rows".into(),
        });
    }
    Ok(RawSplit {
        x_path: path.clone(),
        y_path: path,
        shape: vec![features.len()],
        x,
        y,
        at,
    })
}

/// A label cell as a class index: an integer, or a name listed in `classes.txt`.
fn label(cell: &str, names: Option<&[String]>) -> Option<i128> {
    if let Ok(v) = cell.parse::<i128>() {
        return Some(v);
    }
    names?.iter().position(|n| n == cell).map(|i| i as i128)
}
