//! Products with weights stored in CSR form (see `deepiot_format::sparse`), so that an
//! unstructured-pruned model costs time in proportion to its non-zeros, not its shape.
//!
//! Three shapes of product, one per use:
//! - [`spmm_nt`] `x · Wᵀ` for dense layers and the input projection of recurrent layers:
//!   each stored weight is loaded once per four rows of `x` and multiplied with the four
//!   gathered inputs (SSE has no gather, so four independent scalar chains are the
//!   fastest form on Silvermont);
//! - [`spmv_acc`] `y += W · h` for the recurrent matrices, one step at a time;
//! - [`spmm_nn`] `W · col` for convolutions after im2col: each stored weight scales a
//!   contiguous row of the column matrix, 16 outputs at a time in four SSE registers,
//!   so the inner loop is vector loads and multiply-adds only.
//!
//! The index arrays were validated when the file was parsed (row pointers non-decreasing
//! and within the values, column indices below the column count); indexing stays checked
//! anyway, so a bad matrix handed in directly panics instead of reading out of bounds.
use super::simd::F4;

/// A CSR matrix borrowed from the model's weight and index stores.
#[derive(Debug, Clone, Copy)]
pub struct CsrView<'a> {
    pub rows: usize,
    pub cols: usize,
    /// `rows + 1` offsets into `indices` and `values`.
    pub indptr: &'a [u32],
    pub indices: &'a [u32],
    pub values: &'a [f32],
}

impl<'a> From<&'a deepiot_format::Csr> for CsrView<'a> {
    /// A CSR matrix as the format crate builds it (tests, benchmarks), borrowed.
    fn from(c: &'a deepiot_format::Csr) -> Self {
        CsrView {
            rows: c.rows,
            cols: c.cols,
            indptr: &c.indptr,
            indices: &c.indices,
            values: &c.values,
        }
    }
}

impl<'a> CsrView<'a> {
    /// Column indices and values of row `r`.
    #[inline(always)]
    pub fn row(&self, r: usize) -> (&'a [u32], &'a [f32]) {
        let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }
}

/// A weight matrix as a layer holds it: dense row-major, or sparse.
#[derive(Debug, Clone, Copy)]
pub enum Matrix<'a> {
    Dense(&'a [f32]),
    Csr(CsrView<'a>),
}

impl Matrix<'_> {
    /// `y[r×u] = x[r×f] · Wᵀ + bias` with `W` `[u×f]`.
    #[inline]
    pub fn nt(&self, rows: usize, f: usize, units: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
        match self {
            Matrix::Dense(w) => super::gemm::gemm_nt(rows, f, units, x, w, bias, y),
            Matrix::Csr(w) => spmm_nt(rows, w, x, bias, y),
        }
    }

    /// `y[u] += W · x` with `W` `[u×f]`.
    #[inline]
    pub fn gemv_acc(&self, f: usize, units: usize, x: &[f32], y: &mut [f32]) {
        match self {
            Matrix::Dense(w) => super::gemm::gemv_acc(f, units, x, w, y),
            Matrix::Csr(w) => spmv_acc(w, x, y),
        }
    }

    /// `c[m×n] = W · b[k×n] + bias` with `W` `[m×k]`.
    #[inline]
    pub fn nn(&self, m: usize, k: usize, n: usize, b: &[f32], bias: &[f32], c: &mut [f32]) {
        match self {
            Matrix::Dense(w) => super::gemm::gemm_nn(m, k, n, w, b, bias, c),
            Matrix::Csr(w) => spmm_nn(w, n, b, bias, c),
        }
    }
}

/// Sparse dot product of one row's stored weights with `x`, four partial sums.
#[inline(always)]
fn sparse_dot(idx: &[u32], val: &[f32], x: &[f32]) -> f32 {
    let (ic, ir) = idx.as_chunks::<4>();
    let (vc, vr) = val.as_chunks::<4>();
    let mut s = [0f32; 4];
    for (i, v) in ic.iter().zip(vc) {
        for q in 0..4 {
            s[q] += v[q] * x[i[q] as usize];
        }
    }
    let mut t = (s[0] + s[2]) + (s[1] + s[3]);
    for (&i, &v) in ir.iter().zip(vr) {
        t += v * x[i as usize];
    }
    t
}

/// `y[r×u] = x[r×f] · Wᵀ + bias[u]` for a CSR `W` `[u×f]`: a dense layer on `rows`
/// examples or time steps.
pub fn spmm_nt(rows: usize, w: &CsrView<'_>, x: &[f32], bias: &[f32], y: &mut [f32]) {
    let (f, units) = (w.cols, w.rows);
    let (x, bias, y) = (&x[..rows * f], &bias[..units], &mut y[..rows * units]);
    let mut r = 0;
    // Four rows at a time: each weight and index is loaded once for four products.
    while r + 4 <= rows {
        let (x0, x1, x2, x3) = (
            &x[r * f..(r + 1) * f],
            &x[(r + 1) * f..(r + 2) * f],
            &x[(r + 2) * f..(r + 3) * f],
            &x[(r + 3) * f..(r + 4) * f],
        );
        for (u, &b) in bias.iter().enumerate() {
            let (idx, val) = w.row(u);
            let (mut s0, mut s1, mut s2, mut s3) = (b, b, b, b);
            for (&i, &v) in idx.iter().zip(val) {
                let i = i as usize;
                s0 += v * x0[i];
                s1 += v * x1[i];
                s2 += v * x2[i];
                s3 += v * x3[i];
            }
            y[r * units + u] = s0;
            y[(r + 1) * units + u] = s1;
            y[(r + 2) * units + u] = s2;
            y[(r + 3) * units + u] = s3;
        }
        r += 4;
    }
    while r < rows {
        let xr = &x[r * f..(r + 1) * f];
        let yr = &mut y[r * units..(r + 1) * units];
        for (u, (o, &b)) in yr.iter_mut().zip(bias).enumerate() {
            let (idx, val) = w.row(u);
            *o = sparse_dot(idx, val, xr) + b;
        }
        r += 1;
    }
}

/// `y[u] += W · x` for a CSR `W` `[u×f]`: a recurrent matrix applied to the state.
pub fn spmv_acc(w: &CsrView<'_>, x: &[f32], y: &mut [f32]) {
    let x = &x[..w.cols];
    for (u, o) in y[..w.rows].iter_mut().enumerate() {
        let (idx, val) = w.row(u);
        *o += sparse_dot(idx, val, x);
    }
}

/// `c[m×n] = W · b[k×n] + bias[i]` on every column of row `i`, for a CSR `W` `[m×k]`:
/// a convolution's filters times its im2col matrix.
pub fn spmm_nn(w: &CsrView<'_>, n: usize, b: &[f32], bias: &[f32], c: &mut [f32]) {
    let (m, k) = (w.rows, w.cols);
    let (b, bias, c) = (&b[..k * n], &bias[..m], &mut c[..m * n]);
    for (i, (out, &bi)) in c.chunks_exact_mut(n).zip(bias).enumerate() {
        let (idx, val) = w.row(i);
        let mut j = 0;
        // 16 outputs in four registers while the row's weights stream past.
        while j + 16 <= n {
            let mut acc = [F4::splat(bi); 4];
            for (&p, &v) in idx.iter().zip(val) {
                let src: &[f32; 16] = b[p as usize * n + j..][..16]
                    .try_into()
                    .unwrap_or(&[0.0; 16]);
                let (s, _) = src.as_chunks::<4>();
                let vv = F4::splat(v);
                for q in 0..4 {
                    acc[q] = acc[q].mul_add(vv, F4::load(&s[q]));
                }
            }
            let (dst, _) = out[j..j + 16].as_chunks_mut::<4>();
            for q in 0..4 {
                acc[q].store(&mut dst[q]);
            }
            j += 16;
        }
        while j + 4 <= n {
            let mut acc = F4::splat(bi);
            for (&p, &v) in idx.iter().zip(val) {
                let src: &[f32; 4] = b[p as usize * n + j..][..4].try_into().unwrap_or(&[0.0; 4]);
                acc = acc.mul_add(F4::splat(v), F4::load(src));
            }
            if let Ok(dst) = <&mut [f32; 4]>::try_from(&mut out[j..j + 4]) {
                acc.store(dst);
            }
            j += 4;
        }
        if j < n {
            let tail = &mut out[j..];
            tail.fill(bi);
            for (&p, &v) in idx.iter().zip(val) {
                let src = &b[p as usize * n + j..(p as usize + 1) * n];
                for (o, &s) in tail.iter_mut().zip(src) {
                    *o += v * s;
                }
            }
        }
    }
}
