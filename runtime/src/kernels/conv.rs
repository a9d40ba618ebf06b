//! Convolution as im2col followed by one matrix product (measured faster than a direct loop
//! for every LeNet/DeepSense shape: the product's inner loop runs over contiguous columns).
use super::gemm::{gemm_panels, panels_len};
use super::sparse::{CsrView, Matrix};
use super::tile::NR as PANEL;

/// Geometry of a 2-d convolution over `[c, h, w]`; a 1-d convolution is `h = kh = 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// The geometry of `o` filters of `kernel` over a `[c, h, w]` input, with the output
    /// size worked out (no dilation). For tests and benchmarks; a model's convolutions
    /// come from shape inference.
    pub fn of(
        input: [usize; 3],
        o: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
    ) -> Self {
        let [c, h, w] = input;
        ConvGeom {
            c,
            h,
            w,
            o,
            kh: kernel[0],
            kw: kernel[1],
            sh: stride[0],
            sw: stride[1],
            ph: pad[0],
            pw: pad[1],
            oh: (h + 2 * pad[0] - kernel[0]) / stride[0] + 1,
            ow: (w + 2 * pad[1] - kernel[1]) / stride[1] + 1,
        }
    }

    /// Rows of the column matrix (and of each filter).
    pub fn patch(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Output positions.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }
    /// A 1x1, stride-1, unpadded convolution reads its input as the column matrix directly.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
    /// Scratch floats the convolution needs: the column matrix as panels of eight
    /// positions (the larger of the two layouts), and three more to start it 16-byte
    /// aligned wherever the arena puts it. `None` if that does not fit in `usize`.
    pub fn scratch(&self) -> Option<usize> {
        if self.is_pointwise() {
            return Some(0);
        }
        self.patch()
            .checked_mul(self.positions().checked_next_multiple_of(PANEL)?)?
            .checked_add(3)
    }
}

/// Lays out every receptive field as a column: `col[(ci, ky, kx) × (oy, ox)]`, zero padded.
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let p = g.positions();
    let mut row = 0;
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let dst = &mut col[row * p..(row + 1) * p];
                for oy in 0..g.oh {
                    let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                    let out = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    if iy < 0 || iy >= g.h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    if g.sw == 1 {
                        // Contiguous run of the input row, with zeros where it is padded.
                        for (ox, o) in out.iter_mut().enumerate() {
                            let ix = (ox + kx) as isize - g.pw as isize;
                            *o = if ix >= 0 && (ix as usize) < g.w {
                                src[ix as usize]
                            } else {
                                0.0
                            };
                        }
                    } else {
                        for (ox, o) in out.iter_mut().enumerate() {
                            let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                            *o = if ix >= 0 && (ix as usize) < g.w {
                                src[ix as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// The column matrix of [`im2col`] laid out as [`gemm_panels`] reads it: panel `t`
/// holds, for each row `(ci, ky, kx)`, the eight positions `8t .. 8t + 8` (zero past the
/// last), so the register tile reads its columns in one contiguous stream.
pub fn im2col_panels(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let (patch, p) = (g.patch(), g.positions());
    let col = &mut col[..panels_len(patch, p)];
    // From the last slot of a panel row to the first slot of the next panel's same row.
    let jump = (patch - 1) * PANEL + 1;
    let mut row = 0;
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                // Position j of this row goes to col[(j / 8 * patch + row) * 8 + j % 8].
                let (mut at, mut q) = (row * PANEL, 0);
                let mut put = |v: f32| {
                    col[at] = v;
                    q += 1;
                    at += if q == PANEL { jump } else { 1 };
                    q %= PANEL;
                };
                let (lo, hi) = inside_columns(g, kx);
                let lo = lo.min(g.ow);
                for oy in 0..g.oh {
                    let iy = (oy * g.sh + ky).wrapping_sub(g.ph);
                    if iy >= g.h {
                        (0..g.ow).for_each(|_| put(0.0));
                        continue;
                    }
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    (0..lo).for_each(|_| put(0.0));
                    for ox in lo..hi {
                        put(src[ox * g.sw + kx - g.pw]);
                    }
                    (hi.max(lo)..g.ow).for_each(|_| put(0.0));
                }
                (p..p.next_multiple_of(PANEL)).for_each(|_| put(0.0));
                row += 1;
            }
        }
    }
}

/// The output columns `lo..hi` whose input column `ox * sw + kx - pw` lies inside the
/// row (the others read padding); `lo >= hi` when none does.
fn inside_columns(g: &ConvGeom, kx: usize) -> (usize, usize) {
    let lo = if kx >= g.pw {
        0
    } else {
        (g.pw - kx).div_ceil(g.sw)
    };
    let hi = if g.w + g.pw > kx {
        ((g.w + g.pw - kx - 1) / g.sw + 1).min(g.ow)
    } else {
        0
    };
    (lo, hi)
}

/// `y[o, oy, ox]` for weights `[o, c, kh, kw]`, bias `[o]`; `col` is scratch of
/// [`ConvGeom::scratch`] floats.
pub fn conv(g: &ConvGeom, x: &[f32], w: &[f32], b: &[f32], col: &mut [f32], y: &mut [f32]) {
    conv_with(g, x, Matrix::Dense(w), b, col, y);
}

/// [`conv`] with the filters dense or sparse (a CSR `[o, c * kh * kw]` view, the same
/// matrix im2col multiplies). Very sparse filters skip im2col ([`uses_direct`]); `col`
/// is then unused.
pub fn conv_with(
    g: &ConvGeom,
    x: &[f32],
    w: Matrix<'_>,
    b: &[f32],
    col: &mut [f32],
    y: &mut [f32],
) {
    match w {
        _ if g.is_pointwise() => w.nn(g.o, g.c, g.positions(), x, b, y),
        Matrix::Csr(w) if uses_direct(g, &w) => conv_csr_direct(g, x, &w, b, y),
        Matrix::Dense(w) => {
            // The panels start at the first 16-byte boundary of the scratch (the arena
            // gives 4-byte alignment; `scratch` has room for the shift).
            let shift = col.as_ptr().align_offset(16).min(3);
            let col = &mut col[shift..];
            im2col_panels(g, x, col);
            gemm_panels(g.o, g.patch(), g.positions(), w, col, b, y);
        }
        Matrix::Csr(_) => {
            im2col(g, x, col);
            w.nn(g.o, g.patch(), g.positions(), col, b, y);
        }
    }
}

/// Whether [`conv_with`] computes a sparse convolution with [`conv_csr_direct`] rather
/// than im2col and the CSR product. Both costs grow with the output positions, so they
/// compare through `nnz` against `patch`: im2col writes `patch` values per position,
/// while going direct costs about two im2col values more per stored weight and position
/// than the CSR product's vector loop (its input runs are one output row long). Measured
/// on LeNet conv2 (`benches/sparse.rs`, x86-64): im2col then the product won at 90 % and
/// 95 % zeros (44 vs 80 µs, 32 vs 42 µs), direct at 98 % (18 vs 33 µs); this rule puts
/// the switch at 95.6 %.
pub fn uses_direct(g: &ConvGeom, w: &CsrView<'_>) -> bool {
    w.values.len() <= 2 * g.patch()
}

/// A convolution with CSR filters straight from the input, without im2col: each stored
/// weight `(c, ky, kx)` adds a scaled run of input row to every output row it reaches.
/// With nearly all weights zero, building the column matrix (every input value copied
/// `kh * kw` times) costs more than the product itself (see [`uses_direct`]).
pub fn conv_csr_direct(g: &ConvGeom, x: &[f32], w: &CsrView<'_>, b: &[f32], y: &mut [f32]) {
    let p = g.positions();
    let khw = g.kh * g.kw;
    let plane = g.h * g.w;
    for (o, (out, &bo)) in y[..g.o * p].chunks_exact_mut(p).zip(b).enumerate() {
        out.fill(bo);
        let (idx, val) = w.row(o);
        for (&k, &v) in idx.iter().zip(val) {
            let k = k as usize;
            let (c, ky, kx) = (k / khw, k % khw / g.kw, k % g.kw);
            let src = &x[c * plane..(c + 1) * plane];
            let (lo, hi) = inside_columns(g, kx);
            if lo >= hi {
                continue;
            }
            for oy in 0..g.oh {
                let iy = oy * g.sh + ky;
                if iy < g.ph || iy - g.ph >= g.h {
                    continue;
                }
                let row = &src[(iy - g.ph) * g.w..(iy - g.ph + 1) * g.w];
                let dst = &mut out[oy * g.ow + lo..oy * g.ow + hi];
                let first = lo * g.sw + kx - g.pw;
                if g.sw == 1 {
                    for (d, &s) in dst.iter_mut().zip(&row[first..]) {
                        *d += v * s;
                    }
                } else {
                    for (d, &s) in dst.iter_mut().zip(row[first..].iter().step_by(g.sw)) {
                        *d += v * s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn panels_hold_the_column_matrix_padded_to_eight_positions() {
        // Padding, stride and a position count that is not a multiple of eight.
        for (sh, ph) in [(1, 0), (2, 1), (1, 2)] {
            let (h, w, kh, kw) = (7, 6, 3, 2);
            let (oh, ow) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * ph - kw) / sh + 1);
            let g = ConvGeom {
                c: 2,
                h,
                w,
                o: 1,
                kh,
                kw,
                sh,
                sw: sh,
                ph,
                pw: ph,
                oh,
                ow,
            };
            let x: alloc::vec::Vec<f32> = (0..g.c * h * w).map(|v| v as f32 + 1.0).collect();
            let (patch, p) = (g.patch(), g.positions());
            let mut col = vec![0.0; patch * p];
            im2col(&g, &x, &mut col);
            let mut panels = vec![f32::NAN; panels_len(patch, p)];
            im2col_panels(&g, &x, &mut panels);
            for row in 0..patch {
                for j in 0..p.next_multiple_of(PANEL) {
                    let want = if j < p { col[row * p + j] } else { 0.0 };
                    assert_eq!(
                        panels[((j / 8) * patch + row) * 8 + j % 8],
                        want,
                        "{row} {j}"
                    );
                }
            }
        }
    }
}
