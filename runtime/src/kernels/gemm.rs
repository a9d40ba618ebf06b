//! Matrix products. `gemm_nn` (weights times columns) serves convolutions after im2col;
//! `gemm_nt` (rows times transposed weights) serves dense layers and recurrent input
//! projections, where weights are stored `[out, in]` as PyTorch does.

/// Rows of `a` handled together, sharing each load of `b`.
const MR: usize = 4;
/// Columns of `c` kept in registers per row.
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
        let row = &a[i * k..(i + 1) * k];
        let out = &mut c[i * n..(i + 1) * n];
        out.fill(bias[i]);
        for (p, &av) in row.iter().enumerate() {
            let bp = &b[p * n..(p + 1) * n];
            for (o, &bv) in out.iter_mut().zip(bp) {
                *o += av * bv;
            }
        }
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

/// Dot product with eight independent partial sums (vectorises; order is fixed, so results
/// are deterministic).
#[inline]
pub fn dot(x: &[f32], w: &[f32]) -> f32 {
    let n = x.len().min(w.len());
    let (x, w) = (&x[..n], &w[..n]);
    let mut acc = [0f32; 8];
    let xc = x.chunks_exact(8);
    let wc = w.chunks_exact(8);
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (xs, ws) in xc.zip(wc) {
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

/// Four dot products of one `x` against four weight rows, sharing the loads of `x`.
#[inline]
fn dot4(x: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
    let n = x.len();
    let mut acc = [[0f32; 4]; 4];
    let mut p = 0;
    while p + 4 <= n {
        let xs: &[f32; 4] = x[p..p + 4].try_into().unwrap_or(&[0.0; 4]);
        for r in 0..4 {
            let ws: &[f32; 4] = w[r][p..p + 4].try_into().unwrap_or(&[0.0; 4]);
            for q in 0..4 {
                acc[r][q] += xs[q] * ws[q];
            }
        }
        p += 4;
    }
    let mut out = [0f32; 4];
    for r in 0..4 {
        let mut s = (acc[r][0] + acc[r][2]) + (acc[r][1] + acc[r][3]);
        for q in p..n {
            s += x[q] * w[r][q];
        }
        out[r] = s;
    }
    out
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
