//! Compressed sparse row (CSR) storage for weight matrices.
//!
//! Unstructured pruning leaves weight matrices mostly zero without changing their shapes,
//! so a dense file of a pruned model is as big and as slow as the original. A file may
//! therefore store any weight of rank 2 or more (never a bias) as three tensors in place
//! of the dense one, over the weight's 2-d view `[rows, cols]` = `[shape[0], product of
//! the rest]` (what the runtime's matrix products see: `[out, in]` for dense layers,
//! `[out, in * kh * kw]` for convolutions as im2col uses them, `[G * hidden, in]` for
//! recurrent matrices):
//!
//! - `{name}.values`  F32 `[nnz]`, the stored values row after row;
//! - `{name}.indices` U32 or I32 `[nnz]`, each value's column, strictly increasing within
//!   a row;
//! - `{name}.indptr`  U32 or I32 `[rows + 1]`, where each row starts in the two above
//!   (`0` first, non-decreasing, `nnz` last).
//!
//! The names of the weights stored this way are listed in the metadata under
//! [`crate::SPARSE_KEY`] as a JSON array of strings. The list lives beside the graph rather
//! than in it because it is a property of the file, not of the computation: a sparse file
//! and the dense file of the same weights have the same [`crate::Graph`], and files
//! without sparse weights carry no key at all, so their bytes are what they always were.
use crate::FormatError;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Suffix of the tensor holding a sparse weight's values.
pub const VALUES_SUFFIX: &str = ".values";
/// Suffix of the tensor holding a sparse weight's column indices.
pub const INDICES_SUFFIX: &str = ".indices";
/// Suffix of the tensor holding a sparse weight's row pointers.
pub const INDPTR_SUFFIX: &str = ".indptr";

/// An owned CSR matrix, as the writer takes it and as [`crate::CsrRef::to_csr`] returns it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Csr {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
    pub indices: Vec<u32>,
    pub indptr: Vec<u32>,
}

impl Csr {
    /// Encodes a dense row-major `[rows, cols]` matrix, dropping the entries that are
    /// exactly zero (of either sign; NaN is kept, so that a broken weight stays visible).
    ///
    /// `None` when `dense` does not have `rows * cols` values or the matrix has too many
    /// non-zeros for 32-bit indices.
    pub fn from_dense(rows: usize, cols: usize, dense: &[f32]) -> Option<Csr> {
        if rows.checked_mul(cols)? != dense.len() || u32::try_from(cols).is_err() {
            return None;
        }
        let mut csr = Csr {
            rows,
            cols,
            values: Vec::new(),
            indices: Vec::new(),
            indptr: Vec::with_capacity(rows + 1),
        };
        csr.indptr.push(0);
        for r in 0..rows {
            for (c, &v) in dense[r * cols..(r + 1) * cols].iter().enumerate() {
                if v != 0.0 {
                    csr.values.push(v);
                    csr.indices.push(c as u32);
                }
            }
            csr.indptr.push(u32::try_from(csr.values.len()).ok()?);
        }
        Some(csr)
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Fraction of the matrix that is stored (0 for an empty matrix).
    pub fn density(&self) -> f64 {
        let n = self.rows * self.cols;
        if n == 0 {
            0.0
        } else {
            self.nnz() as f64 / n as f64
        }
    }

    /// The dense row-major matrix (zeros where nothing is stored). Malformed index arrays
    /// (which [`Csr::check`] would refuse) give a matrix with those entries left out, not a
    /// panic.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        for r in 0..self.rows {
            let (Some(&a), Some(&b)) = (self.indptr.get(r), self.indptr.get(r + 1)) else {
                break;
            };
            let (a, b) = (a as usize, b as usize);
            let (Some(idx), Some(val)) = (self.indices.get(a..b), self.values.get(a..b)) else {
                continue;
            };
            for (&c, &v) in idx.iter().zip(val) {
                if (c as usize) < self.cols {
                    out[r * self.cols + c as usize] = v;
                }
            }
        }
        out
    }

    /// Checks the CSR invariants, naming `tensor` in the error.
    pub fn check(&self, tensor: &str) -> Result<(), FormatError> {
        if self.indices.len() != self.values.len() {
            return Err(FormatError::WrongTensorShape {
                tensor: format!("{tensor}{INDICES_SUFFIX}"),
                expected: vec![self.values.len()],
                found: vec![self.indices.len()],
            });
        }
        if self.indptr.len() != self.rows + 1 {
            return Err(FormatError::WrongTensorShape {
                tensor: format!("{tensor}{INDPTR_SUFFIX}"),
                expected: vec![self.rows + 1],
                found: vec![self.indptr.len()],
            });
        }
        check_csr(
            tensor,
            self.rows,
            self.cols,
            self.values.len(),
            |i| self.indptr[i] as i64,
            |i| self.indices[i] as i64,
        )
    }
}

/// A sparse weight for [`crate::write_sparse`]: its name and full (dense) shape, and the
/// CSR arrays of its 2-d view.
#[derive(Debug, Clone, Copy)]
pub struct SparseTensorData<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub csr: &'a Csr,
}

/// The 2-d view `[rows, cols]` under which a parameter of `shape` may be stored sparse:
/// `None` for rank-1 parameters (biases), which are always dense.
pub fn matrix_view(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [rows, rest @ ..] if !rest.is_empty() => Some((*rows, rest.iter().product())),
        _ => None,
    }
}

/// The CSR invariants over index arrays read through `indptr(i)` (for `i` in
/// `0..=rows`) and `indices(j)` (for `j` in `0..nnz`); the caller has checked their
/// lengths. Values are `i64` so that I32 and U32 files are checked alike.
pub(crate) fn check_csr(
    tensor: &str,
    rows: usize,
    cols: usize,
    nnz: usize,
    indptr: impl Fn(usize) -> i64,
    indices: impl Fn(usize) -> i64,
) -> Result<(), FormatError> {
    let bad_indptr = |what: String| FormatError::BadIndptr {
        tensor: tensor.into(),
        what,
    };
    let first = indptr(0);
    if first != 0 {
        return Err(bad_indptr(format!("starts at {first}, not 0")));
    }
    for r in 0..rows {
        let (a, b) = (indptr(r), indptr(r + 1));
        if b < a {
            return Err(bad_indptr(format!("decreases from {a} to {b} at row {r}")));
        }
        if b > nnz as i64 {
            return Err(bad_indptr(format!(
                "row {r} ends at {b}, past the {nnz} stored values"
            )));
        }
        let mut previous: i64 = -1;
        for j in a as usize..b as usize {
            let c = indices(j);
            if c < 0 || c >= cols as i64 {
                return Err(FormatError::IndexOutOfRange {
                    tensor: tensor.into(),
                    row: r,
                    index: c,
                    cols,
                });
            }
            if c <= previous {
                return Err(FormatError::UnsortedIndices {
                    tensor: tensor.into(),
                    row: r,
                });
            }
            previous = c;
        }
    }
    let last = indptr(rows);
    if last != nnz as i64 {
        return Err(bad_indptr(format!(
            "ends at {last}, but {nnz} values are stored"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_a_dense_matrix() {
        let dense = [0.0, 1.5, 0.0, -0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 5.0];
        let csr = Csr::from_dense(4, 3, &dense).unwrap();
        assert_eq!(csr.values, [1.5, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(csr.indices, [1, 1, 0, 1, 2]);
        assert_eq!(csr.indptr, [0, 1, 2, 2, 5]);
        assert_eq!(csr.nnz(), 5);
        assert!((csr.density() - 5.0 / 12.0).abs() < 1e-12);
        csr.check("w").unwrap();
        let back = csr.to_dense();
        assert_eq!(back.len(), 12);
        for (a, b) in back.iter().zip(&dense) {
            assert_eq!(a, b);
        }
        assert!(Csr::from_dense(4, 4, &dense).is_none());
    }

    #[test]
    fn all_zero_and_nan() {
        let csr = Csr::from_dense(2, 2, &[0.0; 4]).unwrap();
        assert_eq!((csr.nnz(), csr.indptr.as_slice()), (0, &[0u32, 0, 0][..]));
        csr.check("z").unwrap();
        let nan = Csr::from_dense(1, 2, &[f32::NAN, 0.0]).unwrap();
        assert_eq!(nan.nnz(), 1);
    }

    #[test]
    fn check_names_each_broken_invariant() {
        let good = Csr::from_dense(2, 3, &[1.0, 0.0, 2.0, 0.0, 3.0, 0.0]).unwrap();
        let mut c = good.clone();
        c.indptr[0] = 1;
        assert!(matches!(c.check("w"), Err(FormatError::BadIndptr { .. })));
        let mut c = good.clone();
        c.indptr = vec![0, 2, 1];
        assert!(matches!(c.check("w"), Err(FormatError::BadIndptr { .. })));
        let mut c = good.clone();
        c.indptr[2] = 2;
        assert!(matches!(c.check("w"), Err(FormatError::BadIndptr { .. })));
        let mut c = good.clone();
        c.indices[1] = 3;
        assert!(matches!(
            c.check("w"),
            Err(FormatError::IndexOutOfRange {
                row: 0,
                index: 3,
                ..
            })
        ));
        let mut c = good.clone();
        c.indices[1] = 0;
        assert!(matches!(
            c.check("w"),
            Err(FormatError::UnsortedIndices { row: 0, .. })
        ));
        let mut c = good.clone();
        c.indices.pop();
        assert!(matches!(
            c.check("w"),
            Err(FormatError::WrongTensorShape { .. })
        ));
        let mut c = good;
        c.indptr.pop();
        assert!(matches!(
            c.check("w"),
            Err(FormatError::WrongTensorShape { .. })
        ));
    }

    #[test]
    fn matrix_views() {
        assert_eq!(matrix_view(&[5, 3, 2, 2]), Some((5, 12)));
        assert_eq!(matrix_view(&[5, 3]), Some((5, 3)));
        assert_eq!(matrix_view(&[5]), None);
        assert_eq!(matrix_view(&[]), None);
    }
}
