//! Input files: raw little-endian f32 or `.npy`, cut into examples of the model's input.
use crate::prelude::*;
use crate::{shown, sys, Failure, Result};
use deepiot_runtime::npy;

/// The values of one input file and how many examples they hold.
pub struct Examples {
    pub values: Vec<f32>,
    pub count: usize,
}

fn read(path: &[u8]) -> Result<Vec<u8>> {
    sys::read_file(path).map_err(|e| {
        if path == b"-" {
            Failure::input(format!("cannot read standard input: {e}"))
        } else {
            Failure::input(format!("cannot read input file {}: {e}", shown(path)))
        }
    })
}

/// Reads `path` and checks it against an input of `shape` (`len` values per example).
/// A NaN or infinite value is refused unless `allow_nonfinite`: through ReLU, max-pool
/// and softmax it can still come out as a plausible class, so a sensor that fails by
/// sending NaN would get a confident answer instead of an error.
pub fn load(path: &[u8], shape: &[usize], len: usize, allow_nonfinite: bool) -> Result<Examples> {
    let bytes = read(path)?;
    let name = shown(path);
    let is_npy_name = path.len() >= 4 && path[path.len() - 4..].eq_ignore_ascii_case(b".npy");
    let values = if npy::is_npy(&bytes) {
        let a = npy::parse(&bytes).map_err(|e| Failure::input(format!("{name}: {e}")))?;
        // Accept [N, ...shape], exactly `shape`, or a flat vector; anything else is
        // almost certainly data laid out for another model.
        let per: usize = a.shape.iter().skip(1).product();
        let fits = a.shape.len() <= 1 || per == len || a.data.len() == len;
        if !fits {
            return Err(Failure::input(format!(
                "{name}: array shape {:?} does not split into examples of the model's input shape {shape:?} ({len} values); expected [N, {}]",
                a.shape,
                shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        a.data
    } else if is_npy_name {
        return Err(Failure::input(format!(
            "{name}: named .npy but does not start with the NumPy magic; the file is corrupt or not a .npy file"
        )));
    } else {
        if bytes.len() % 4 != 0 {
            return Err(Failure::input(format!(
                "{name}: {} bytes is not a whole number of f32 values (4 bytes each); raw input must be little-endian f32",
                bytes.len()
            )));
        }
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    if values.is_empty() {
        return Err(Failure::input(format!("{name}: the file holds no values")));
    }
    if len == 0 || values.len() % len != 0 {
        return Err(Failure::input(format!(
            "{name}: {} values is not a multiple of the model's input length {len} (shape {shape:?}); {} whole example(s) and {} values left over",
            values.len(),
            values.len() / len.max(1),
            values.len() % len.max(1)
        )));
    }
    if !allow_nonfinite {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Failure::input(format!(
                "{name}: example {}, element {} is {} (not a finite number); the sensor or the file is broken. Pass --allow-nonfinite to run it anyway",
                i / len,
                i % len,
                values[i]
            )));
        }
    }
    let count = values.len() / len;
    Ok(Examples { values, count })
}
