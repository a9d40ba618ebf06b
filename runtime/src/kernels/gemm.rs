//! Matrix products. `gemm_nn` (weights times columns) serves convolutions after im2col;
//! `gemm_nt` (rows times transposed weights) serves dense layers and recurrent input
//! projections, where weights are stored `[out, in]` as PyTorch does.
use super::simd::F4;

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
        let xr = &x[r * f..(r + 1) * f];
        let yr = &mut y[r * units..(r + 1) * units];
        let mut u = 0;
        while u + 4 <= units {
            let ws = [
                &w[u * f..(u + 1) * f],
                &w[(u + 1) * f..(u + 2) * f],
                &w[(u + 2) * f..(u + 3) * f],
                &w[(u + 3) * f..(u + 4) * f],
            ];
            let d = dot4(xr, ws);
            for q in 0..4 {
                yr[u + q] = d[q] + bias[u + q];
            }
            u += 4;
        }
        while u < units {
            yr[u] = dot(xr, &w[u * f..(u + 1) * f]) + bias[u];
            u += 1;
        }
    }
}

/// `y[u] += w[u×f] · x[f]`: the recurrent matrix applied to the state, accumulated.
pub fn gemv_acc(f: usize, units: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    let (x, w, y) = (&x[..f], &w[..units * f], &mut y[..units]);
    let mut u = 0;
    while u + 4 <= units {
        let ws = [
            &w[u * f..(u + 1) * f],
            &w[(u + 1) * f..(u + 2) * f],
            &w[(u + 2) * f..(u + 3) * f],
            &w[(u + 3) * f..(u + 4) * f],
        ];
        let d = dot4(x, ws);
        for q in 0..4 {
            y[u + q] += d[q];
        }
        u += 4;
    }
    while u < units {
        y[u] += dot(x, &w[u * f..(u + 1) * f]);
        u += 1;
    }
}
