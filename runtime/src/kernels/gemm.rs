//! Matrix products. `gemm_nn` (weights times columns) serves convolutions after im2col;
//! `gemm_nt` (rows times transposed weights) serves dense layers and recurrent input
//! projections, where weights are stored `[out, in]` as PyTorch does.
use super::simd::F4;
use super::tile::{tile_3x8, MR as TILE_ROWS, NR as PANEL};

const MR: usize = 4;
/// Columns of `c` per tile. Measured on the i686 build (`benches/kernels.rs`): this
/// auto-vectorised 4x8 tile beat an explicit-SSE 4x4 tile by 1.3-1.9x, despite 32-bit x86
/// having only eight SSE registers.
const NR: usize = 8;

/// `c[m×n] = a[m×k] · b[k×n] + bias[i]` on every column of row `i`. Row-major, contiguous.
pub fn gemm_nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], bias: &[f32], c: &mut [f32]) {
    let (a, b, bias, c) = (&a[..m * k], &b[..k * n], &bias[..m], &mut c[..m * n]);
    let mut i = 0;
    while i + MR <= m {
        let rows = [
            &a[i * k..(i + 1) * k],
            &a[(i + 1) * k..(i + 2) * k],
            &a[(i + 2) * k..(i + 3) * k],
            &a[(i + 3) * k..(i + 4) * k],
        ];
        let mut j = 0;
        while j + NR <= n {
            let mut acc = [[0f32; NR]; MR];
            for r in 0..MR {
                acc[r] = [bias[i + r]; NR];
            }
            for p in 0..k {
                let bp: &[f32; NR] = b[p * n + j..p * n + j + NR]
                    .try_into()
                    .unwrap_or(&[0.0; NR]);
                for r in 0..MR {
                    let av = rows[r][p];
                    for q in 0..NR {
                        acc[r][q] += av * bp[q];
                    }
                }
            }
            for r in 0..MR {
                c[(i + r) * n + j..(i + r) * n + j + NR].copy_from_slice(&acc[r]);
            }
            j += NR;
        }
        if j < n {
            for r in 0..MR {
                row_tail(
                    n,
                    j,
                    rows[r],
                    b,
                    bias[i + r],
                    &mut c[(i + r) * n..(i + r + 1) * n],
                );
            }
        }
        i += MR;
    }
    while i < m {
        row_tail(
            n,
            0,
            &a[i * k..(i + 1) * k],
            b,
            bias[i],
            &mut c[i * n..(i + 1) * n],
        );
        i += 1;
    }
}

/// Floats of `b [k×n]` laid out as column panels (see [`gemm_panels`]).
pub fn panels_len(k: usize, n: usize) -> usize {
    n.div_ceil(PANEL) * PANEL * k
}

/// `c[m×n] = a[m×k] · b + bias[i]` on every column of row `i`, where `b [k×n]` comes as
/// column panels: panel `t` holds, for each `p < k`, the eight values
/// `b[p][8t .. 8t + 8]`, zero past `n` (im2col writes them so: [`super::conv`]).
/// `panels` should start 16-byte aligned: the register tile multiplies from memory. A
/// misaligned one still gives the right result, by a slower loop.
pub fn gemm_panels(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    panels: &[f32],
    bias: &[f32],
    c: &mut [f32],
) {
    gemm_panels_into(m, k, n, a, panels, bias, c, [n, 1]);
}

/// [`gemm_panels`] writing the transposed product, `c[n×m]`: `c[j][i]` for row `i` of
/// `a`. A recurrent layer's input projection is `W_ih · xᵀ` with the steps as panels,
/// and each step wants its gates side by side.
pub fn gemm_panels_t(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    panels: &[f32],
    bias: &[f32],
    c: &mut [f32],
) {
    gemm_panels_into(m, k, n, a, panels, bias, c, [1, m]);
}

/// The product with element `(i, j)` stored at `c[i * stride[0] + j * stride[1]]`.
#[allow(clippy::too_many_arguments)]
fn gemm_panels_into(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    panels: &[f32],
    bias: &[f32],
    c: &mut [f32],
    stride: [usize; 2],
) {
    let (a, panels, bias, c) = (
        &a[..m * k],
        &panels[..panels_len(k, n)],
        &bias[..m],
        &mut c[..m * n],
    );
    let [rs, cs] = stride;
    if k == 0 || panels.as_ptr().align_offset(16) != 0 {
        return panels_slow(m, k, n, a, panels, bias, c, stride);
    }
    let mut tile = [0f32; TILE_ROWS * PANEL];
    // Row groups of three; a last partial group overlaps the one before (recomputing a
    // row or two is cheaper than a narrower tile), and fewer than three rows repeat one
    // row three times (`lda` 0).
    let tail = m > TILE_ROWS && !m.is_multiple_of(TILE_ROWS);
    let single_rows = if m < TILE_ROWS { m } else { 0 };
    let groups = (0..m / TILE_ROWS)
        .map(|g| (g * TILE_ROWS, k))
        .chain(tail.then(|| (m - TILE_ROWS, k)))
        .chain((0..single_rows).map(|r| (r, 0)));
    for (i, lda) in groups {
        let rows = if lda == 0 { 1 } else { TILE_ROWS };
        for (t, panel) in panels.chunks_exact(PANEL * k).enumerate() {
            // SAFETY: rows `i .. i + rows` of `a` exist (`i + rows <= m`), each `k` long;
            // with `lda` 0 the tile reads row `i` three times. `panel` is `8 * k` floats
            // and aligned (checked above: every panel is a multiple of 32 bytes); k >= 1.
            unsafe { tile_3x8(k, a[i * k..].as_ptr(), lda, panel.as_ptr(), &mut tile) };
            let j = t * PANEL;
            let cols = (n - j).min(PANEL);
            for r in 0..rows {
                let row = &tile[r * PANEL..r * PANEL + cols];
                if cs == 1 {
                    let out = &mut c[(i + r) * rs + j..(i + r) * rs + j + cols];
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o = v + bias[i + r];
                    }
                } else {
                    for (q, &v) in row.iter().enumerate() {
                        c[(i + r) * rs + (j + q) * cs] = v + bias[i + r];
                    }
                }
            }
        }
    }
}

/// [`gemm_panels_into`] without the register tile, for panels that are not aligned.
#[allow(clippy::too_many_arguments)]
fn panels_slow(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    panels: &[f32],
    bias: &[f32],
    c: &mut [f32],
    [rs, cs]: [usize; 2],
) {
    for i in 0..m {
        for j in 0..n {
            let (t, q) = (j / PANEL, j % PANEL);
            let mut s = 0.0;
            for p in 0..k {
                s += a[i * k + p] * panels[(t * k + p) * PANEL + q];
            }
            c[i * rs + j * cs] = s + bias[i];
        }
    }
}

/// Lays the rows of `x [rows×f]` out as column panels of `xᵀ [f×rows]` (the layout
/// [`gemm_panels`] reads), zero past the last row.
pub fn rows_to_panels(rows: usize, f: usize, x: &[f32], panels: &mut [f32]) {
    let panels = &mut panels[..panels_len(f, rows)];
    for (t, panel) in panels.chunks_exact_mut(PANEL * f.max(1)).enumerate() {
        for q in 0..PANEL {
            let r = t * PANEL + q;
            for p in 0..f {
                panel[p * PANEL + q] = if r < rows { x[r * f + p] } else { 0.0 };
            }
        }
    }
}

/// Columns `j..n` of one output row (the part narrower than a register tile).
fn row_tail(n: usize, j: usize, row: &[f32], b: &[f32], bias: f32, out: &mut [f32]) {
    let out = &mut out[j..n];
    out.fill(bias);
    for (p, &av) in row.iter().enumerate() {
        for (o, &bv) in out.iter_mut().zip(&b[p * n + j..(p + 1) * n]) {
            *o += av * bv;
        }
    }
}

/// Dot product with eight independent partial sums (vectorises; the order is fixed, so
/// results are deterministic).
#[inline]
pub fn dot(x: &[f32], w: &[f32]) -> f32 {
    let n = x.len().min(w.len());
    let (xc, xr) = x[..n].as_chunks::<8>();
    let (wc, wr) = w[..n].as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (xs, ws) in xc.iter().zip(wc) {
        for q in 0..8 {
            acc[q] += xs[q] * ws[q];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (a, b) in xr.iter().zip(wr) {
        s += a * b;
    }
    s
}

/// Four dot products of one `x` against four weight rows, sharing the loads of `x`
/// (four vector accumulators: fits the eight SSE registers of 32-bit x86).
#[inline]
fn dot4(x: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
    let n = x.len();
    let (xc, xr) = x.as_chunks::<4>();
    let (w0, w1, w2, w3) = (
        w[0][..n].as_chunks::<4>().0,
        w[1][..n].as_chunks::<4>().0,
        w[2][..n].as_chunks::<4>().0,
        w[3][..n].as_chunks::<4>().0,
    );
    let (mut a0, mut a1, mut a2, mut a3) = (F4::zero(), F4::zero(), F4::zero(), F4::zero());
    for ((((xs, r0), r1), r2), r3) in xc.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
        let xv = F4::load(xs);
        a0 = a0.mul_add(xv, F4::load(r0));
        a1 = a1.mul_add(xv, F4::load(r1));
        a2 = a2.mul_add(xv, F4::load(r2));
        a3 = a3.mul_add(xv, F4::load(r3));
    }
    let tail = n - xr.len();
    let acc = [a0.sum(), a1.sum(), a2.sum(), a3.sum()];
    core::array::from_fn(|r| {
        let mut s = acc[r];
        for (a, b) in xr.iter().zip(&w[r][tail..n]) {
            s += a * b;
        }
        s
    })
}

/// `y[r×u] = x[r×f] · w[u×f]ᵀ + bias[u]`: a dense layer on `rows` examples or time steps.
pub fn gemm_nt(
    rows: usize,
    f: usize,
    units: usize,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    let (x, w, bias, y) = (
        &x[..rows * f],
        &w[..units * f],
        &bias[..units],
        &mut y[..rows * units],
    );
    for r in 0..rows {
        let yr = &mut y[r * units..(r + 1) * units];
        unit_dots(&x[r * f..(r + 1) * f], w, units, |u, d| yr[u] = d + bias[u]);
    }
}

/// `y[u] += w[u×f] · x[f]`: the recurrent matrix applied to the state, accumulated.
pub fn gemv_acc(f: usize, units: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    let (x, w, y) = (&x[..f], &w[..units * f], &mut y[..units]);
    unit_dots(x, w, units, |u, d| y[u] += d);
}

/// Hands `x · w[u]` for every unit `u` to `put`, four units at a time where it can
/// (sharing the loads of `x`).
#[inline(always)]
fn unit_dots(x: &[f32], w: &[f32], units: usize, mut put: impl FnMut(usize, f32)) {
    let f = x.len();
    let mut u = 0;
    while u + 4 <= units {
        let ws = [
            &w[u * f..(u + 1) * f],
            &w[(u + 1) * f..(u + 2) * f],
            &w[(u + 2) * f..(u + 3) * f],
            &w[(u + 3) * f..(u + 4) * f],
        ];
        for (q, d) in dot4(x, ws).into_iter().enumerate() {
            put(u + q, d);
        }
        u += 4;
    }
    while u < units {
        put(u, dot(x, &w[u * f..(u + 1) * f]));
        u += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut v = vec![0.0; n];
        deepiot_format::rng::fill_symmetric(seed, &mut v);
        v
    }

    /// `b [k×n]` as column panels, starting `shift` floats into a 16-byte aligned buffer
    /// (through [`rows_to_panels`] on `bᵀ`).
    fn panels_at(k: usize, n: usize, b: &[f32], shift: usize) -> (Vec<f32>, usize) {
        let mut store = vec![f32::NAN; panels_len(k, n) + 8];
        let start = store.as_ptr().align_offset(16) + shift;
        let bt: Vec<f32> = (0..n * k).map(|e| b[(e % k) * n + e / k]).collect();
        rows_to_panels(n, k, &bt, &mut store[start..]);
        (store, start)
    }

    #[test]
    fn panel_product_matches_the_plain_sums_for_every_edge_shape() {
        for m in [1, 2, 3, 4, 5, 7, 11] {
            for n in [1, 4, 7, 8, 9, 16, 17] {
                for k in [1, 2, 5, 9] {
                    let (a, b, bias) = (values(1, m * k), values(2, k * n), values(3, m));
                    for shift in [0, 1] {
                        let (store, start) = panels_at(k, n, &b, shift);
                        let mut c = vec![f32::NAN; m * n];
                        let mut ct = vec![f32::NAN; m * n];
                        let panels = &store[start..start + panels_len(k, n)];
                        gemm_panels(m, k, n, &a, panels, &bias, &mut c);
                        gemm_panels_t(m, k, n, &a, panels, &bias, &mut ct);
                        for i in 0..m {
                            for j in 0..n {
                                let want: f32 = bias[i]
                                    + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>();
                                let got = c[i * n + j];
                                assert_eq!(got.to_bits(), ct[j * m + i].to_bits());
                                assert!(
                                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                    "m {m} n {n} k {k} shift {shift} at ({i}, {j}): {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
