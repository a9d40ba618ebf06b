//! int8 storage for weight matrices, with one scale per output channel.
//!
//! A weight is a quarter of its f32 size when it is stored as signed bytes, and on an
//! Edison-class board weight bytes are time: the Atom's 1 MB L2 holds LeNet-5's fc1 only
//! in int8. A file may store any weight of rank 2 or more (never a bias) as two tensors
//! in place of the dense one, over the same 2-d view `[rows, cols]` as CSR storage
//! ([`crate::sparse`]):
//!
//! - `{name}.q`     I8 with the weight's full shape, each value in `-127..=127`;
//! - `{name}.scale` F32 `[rows]`, finite and positive: row `r` stands for
//!   `q[r][c] * scale[r]`.
//!
//! The range is symmetric (no `-128`) so that a runtime may negate or widen values
//! without a special case, and so that every product of a weight and a 16-bit activation
//! has a bound the runtime can check before it accumulates in 32 bits.
//!
//! The names of the weights stored this way are listed in the metadata under
//! [`crate::QUANT_KEY`], like [`crate::SPARSE_KEY`] for CSR: the graph is the same for a
//! model's f32 and int8 files. A weight is stored one way only (dense, sparse or int8).
use crate::FormatError;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Suffix of the tensor holding an int8 weight's values.
pub const Q_SUFFIX: &str = ".q";
/// Suffix of the tensor holding an int8 weight's per-row scales.
pub const SCALE_SUFFIX: &str = ".scale";
/// The largest magnitude an int8 weight may hold.
pub const Q_MAX: i8 = 127;

/// An owned int8 matrix: `rows` scales and `rows * cols` values, row-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantized {
    pub rows: usize,
    pub cols: usize,
    pub q: Vec<i8>,
    pub scales: Vec<f32>,
}

impl Quantized {
    /// Symmetric per-row quantization of a dense row-major `[rows, cols]` matrix: each
    /// row's largest magnitude maps to 127, values round to the nearest step. A row of
    /// zeros gets scale 1 (any positive scale represents it exactly).
    ///
    /// `None` when `dense` does not have `rows * cols` values or holds a value that is
    /// not finite (a broken weight has no int8 form).
    pub fn from_dense(rows: usize, cols: usize, dense: &[f32]) -> Option<Quantized> {
        if rows.checked_mul(cols)? != dense.len() || dense.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut out = Quantized {
            rows,
            cols,
            q: Vec::with_capacity(dense.len()),
            scales: Vec::with_capacity(rows),
        };
        for r in 0..rows {
            let row = &dense[r * cols..(r + 1) * cols];
            let peak = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if peak > 0.0 { peak / Q_MAX as f32 } else { 1.0 };
            // A subnormal peak can make the scale 0; such a row is zero for any purpose.
            let scale = if scale > 0.0 && scale.is_finite() {
                scale
            } else {
                1.0
            };
            out.scales.push(scale);
            out.q.extend(row.iter().map(|&v| {
                let s = libm::roundf(v / scale);
                s.clamp(-(Q_MAX as f32), Q_MAX as f32) as i8
            }));
        }
        Some(out)
    }

    /// The f32 matrix the int8 one stands for: `q * scale`, row by row.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = alloc::vec![0.0; self.q.len()];
        dequantize(self.cols, &self.q, &self.scales, &mut out);
        out
    }

    /// Checks the invariants (lengths, value range, scales finite and positive), naming
    /// `tensor` in the error.
    pub fn check(&self, tensor: &str) -> Result<(), FormatError> {
        if self.q.len() != self.rows * self.cols {
            return Err(FormatError::WrongTensorLength {
                tensor: format!("{tensor}{Q_SUFFIX}"),
                expected: self.rows * self.cols,
                found: self.q.len(),
            });
        }
        if self.scales.len() != self.rows {
            return Err(FormatError::WrongTensorShape {
                tensor: format!("{tensor}{SCALE_SUFFIX}"),
                expected: alloc::vec![self.rows],
                found: alloc::vec![self.scales.len()],
            });
        }
        check_values(tensor, self.q.iter().map(|&v| v as u8))?;
        check_scales(tensor, self.scales.iter().copied())
    }
}

/// `out[r * cols + c] = q[r * cols + c] * scales[r]` over the common length.
pub fn dequantize(cols: usize, q: &[i8], scales: &[f32], out: &mut [f32]) {
    for (r, &s) in scales.iter().enumerate() {
        let at = r * cols;
        let (Some(qr), Some(or)) = (q.get(at..at + cols), out.get_mut(at..at + cols)) else {
            break;
        };
        for (o, &v) in or.iter_mut().zip(qr) {
            *o = v as f32 * s;
        }
    }
}

/// Refuses `-128` (see the module's note on the symmetric range).
pub(crate) fn check_values(
    tensor: &str,
    mut bytes: impl Iterator<Item = u8>,
) -> Result<(), FormatError> {
    if let Some(at) = bytes.position(|b| b as i8 == i8::MIN) {
        return Err(FormatError::BadQuant {
            tensor: tensor.into(),
            what: format!("value {at} is -128; int8 weights lie in -127..=127"),
        });
    }
    Ok(())
}

/// Every scale finite and positive.
pub(crate) fn check_scales(
    tensor: &str,
    scales: impl Iterator<Item = f32>,
) -> Result<(), FormatError> {
    for (r, s) in scales.enumerate() {
        if !(s.is_finite() && s > 0.0) {
            return Err(FormatError::BadQuant {
                tensor: tensor.into(),
                what: format!("the scale of row {r} is {s}; scales must be finite and positive"),
            });
        }
    }
    Ok(())
}

/// An int8 weight for [`crate::write_stored`]: its name and full shape, and its
/// values and scales over the 2-d view.
#[derive(Debug, Clone, Copy)]
pub struct QuantTensorData<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub quant: &'a Quantized,
}

/// The name of an int8 weight's values tensor.
pub fn q_name(weight: &str) -> String {
    format!("{weight}{Q_SUFFIX}")
}

/// The name of an int8 weight's scales tensor.
pub fn scale_name(weight: &str) -> String {
    format!("{weight}{SCALE_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_map_their_peak_to_127_and_round_to_nearest() {
        let w = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 1.0, -0.01];
        let q = Quantized::from_dense(3, 3, &w).unwrap();
        assert_eq!(q.q[..3], [64, -127, 32]);
        assert_eq!(q.q[3..6], [0, 0, 0]);
        assert_eq!(q.q[6..], [127, 64, -1]);
        assert_eq!(q.scales[1], 1.0);
        q.check("w").unwrap();
        for (a, b) in q.to_dense().iter().zip(w) {
            assert!((a - b).abs() <= 1.0 / 127.0 + 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn broken_weights_and_bad_arrays_are_refused() {
        assert!(Quantized::from_dense(1, 2, &[f32::NAN, 1.0]).is_none());
        assert!(Quantized::from_dense(2, 2, &[1.0; 3]).is_none());
        let mut q = Quantized::from_dense(2, 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        q.q[1] = i8::MIN;
        assert!(matches!(q.check("w"), Err(FormatError::BadQuant { .. })));
        q.q[1] = 0;
        for bad in [0.0, -1.0, f32::INFINITY, f32::NAN] {
            q.scales[0] = bad;
            let e = q.check("w").unwrap_err();
            assert!(format!("{e}").contains("finite and positive"), "{e}");
        }
        q.scales.pop();
        assert!(matches!(
            q.check("w"),
            Err(FormatError::WrongTensorShape { .. })
        ));
    }
}
