//! Products with int8 weights (per-row scales) and 16-bit activations.
//!
//! Each layer quantizes its input when it runs: one scale for the whole tensor, its
//! largest magnitude mapped to `levels` ([`act_levels`]). Dynamic scales need no
//! calibration data and follow whatever range the input has; a 16-bit activation keeps
//! the error of the product at the weights' (about 1/254 of a row's peak), where an 8-bit
//! one would add its own. The dot products multiply 8 pairs per instruction (`pmaddwd`,
//! SSE2) into 32-bit sums; weights are widened from bytes on the fly (`pmovsxbw` with
//! SSE4.1, as on Silvermont), so they stay a quarter of their f32 size in memory too.
//!
//! The integer sums are exact, so the host's x86-64 build and the board's i686 build of
//! this code give bit-identical results, and the host can score a quantized model exactly
//! as the board computes it.
use super::conv::ConvGeom;
use alloc::vec;
use alloc::vec::Vec;

/// Values per SIMD step: rows of weights and activations are padded to a multiple of it.
pub const LANES: usize = 8;
/// The largest magnitude of an int8 weight (the format refuses -128).
const W_MAX: usize = 127;

/// Rows shorter than this run in f32 (the loader dequantizes such a dense or conv layer's
/// weights; the file keeps them int8). Measured on the i686 build, same run: LeNet-5
/// conv1 (rows of 25) took 36 µs in int8 against 32 µs in f32, DeepSense conv2 (rows of
/// 42) 5.5 against 6.0 µs: under a few SIMD steps per row, quantizing the input and
/// summing the lanes cost more than the narrower products save.
pub const MIN_ROW: usize = 32;

/// `k` rounded up to whole SIMD steps; `None` on overflow.
pub fn padded(k: usize) -> Option<usize> {
    k.checked_next_multiple_of(LANES)
}

/// How many levels a layer's activations get on each side of zero when its rows are `k8`
/// long: as many as 16 bits hold, but few enough that no 32-bit sum can overflow
/// (`k8 * levels * 127 <= i32::MAX`). `None` when that would leave fewer levels than int8
/// has (rows longer than about 130,000 values): such a layer stays f32.
pub fn act_levels(k8: usize) -> Option<i32> {
    let levels = (i32::MAX as usize / (W_MAX * k8.max(1))).min(i16::MAX as usize);
    (levels >= W_MAX).then_some(levels as i32)
}

/// A weight matrix `[units, k]` as int8 rows padded with zeros to `k8`, one scale per row.
#[derive(Debug, Clone, Copy)]
pub struct QMatrix<'a> {
    pub units: usize,
    pub k: usize,
    pub k8: usize,
    /// [`act_levels`] of `k8`.
    pub levels: i32,
    pub q: &'a [i8],
    pub scales: &'a [f32],
}

/// Quantizes `rows` rows of `k` values (`x`, row-major) into rows of `k8` (zero padded),
/// with one scale for all of them; returns that scale (`peak / levels`). A non-finite
/// input gives a non-finite scale, so the layer's outputs show it instead of hiding it.
pub fn quantize_rows(
    rows: usize,
    k: usize,
    k8: usize,
    levels: i32,
    x: &[f32],
    out: &mut [i16],
) -> f32 {
    let (x, out) = (&x[..rows * k], &mut out[..rows * k8]);
    let (peak, inv) = peak_and_inverse(levels, x);
    for (xr, or) in x
        .chunks_exact(k.max(1))
        .zip(out.chunks_exact_mut(k8.max(1)))
    {
        quantize_run(xr, inv, levels, &mut or[..k]);
        or[k..].fill(0);
    }
    peak / levels as f32
}

/// The largest magnitude of `x` (NaN if any value is) and the factor that maps it to
/// `levels` (0 when there is nothing finite to map).
fn peak_and_inverse(levels: i32, x: &[f32]) -> (f32, f32) {
    let mut peak = 0f32;
    let mut broken = false;
    for &v in x {
        peak = peak.max(v.abs());
        broken |= v.is_nan();
    }
    if broken {
        peak = f32::NAN;
    }
    let inv = if peak > 0.0 && peak.is_finite() {
        levels as f32 / peak
    } else {
        0.0
    };
    (peak, inv)
}

/// `dst[i] = round(src[i] * inv)` clamped to `±levels`, eight at a time where SSE2 is
/// there. Both paths give the same values, NaN included (`-levels`: the SSE conversion's
/// 0x80000000, saturated then clamped, as in the scalar tail).
fn quantize_run(src: &[f32], inv: f32, levels: i32, dst: &mut [i16]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        #[cfg(target_arch = "x86")]
        use core::arch::x86::*;
        #[cfg(target_arch = "x86_64")]
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of every x86 target this crate builds for; each step reads
        // 8 floats at `done < n - 7` and writes 8 values there.
        unsafe {
            let scale = _mm_set1_ps(inv);
            let (hi, lo) = (
                _mm_set1_epi16(levels as i16),
                _mm_set1_epi16(-levels as i16),
            );
            while done + 8 <= n {
                let a = _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(src.as_ptr().add(done)), scale));
                let b =
                    _mm_cvtps_epi32(_mm_mul_ps(_mm_loadu_ps(src.as_ptr().add(done + 4)), scale));
                let q = _mm_max_epi16(_mm_min_epi16(_mm_packs_epi32(a, b), hi), lo);
                _mm_storeu_si128(dst.as_mut_ptr().add(done) as *mut __m128i, q);
                done += 8;
            }
        }
    }
    for (o, &v) in dst[done..].iter_mut().zip(&src[done..]) {
        *o = round(v * inv).clamp(-levels, levels) as i16;
    }
}

/// Round to nearest, ties to even (the SSE conversion's default), as `i32`.
#[inline(always)]
fn round(v: f32) -> i32 {
    #[cfg(target_arch = "x86")]
    use core::arch::x86::{_mm_cvtss_si32, _mm_set_ss};
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::{_mm_cvtss_si32, _mm_set_ss};
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    // SAFETY: SSE is part of every x86 target this crate builds for.
    return unsafe { _mm_cvtss_si32(_mm_set_ss(v)) };
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    return libm::rintf(v) as i32;
}

/// Quantized activations as rows for [`qgemm`]: row `r` is `q[r * stride..][..k8]`.
/// Rows may overlap (a convolution's positions read straight from its input): whatever a
/// row holds past the layer's `k` values meets zero weights.
#[derive(Debug, Clone, Copy)]
pub struct QRows<'a> {
    pub q: &'a [i16],
    pub stride: usize,
    /// What one step of `q` stands for.
    pub scale: f32,
}

/// `y[r * ys[0] + u * ys[1]] = (Σ_p x[r][p] · w.q[u][p]) · x.scale · w.scales[u] + bias[u]`
/// for `r < rows`, `u < w.units`, `p < w.k8`.
pub fn qgemm(
    rows: usize,
    x: QRows<'_>,
    w: &QMatrix<'_>,
    bias: &[f32],
    y: &mut [f32],
    ys: [usize; 2],
) {
    let (k8, units, lda, sx) = (w.k8, w.units, x.stride, x.scale);
    if rows == 0 || units == 0 {
        return;
    }
    let (xq, wq, scales, bias) = (
        &x.q[..(rows - 1) * lda + k8],
        &w.q[..units * k8],
        &w.scales[..units],
        &bias[..units],
    );
    // Every output index must be inside `y` before any unchecked store below.
    let last = (rows - 1) * ys[0] + (units - 1) * ys[1];
    let y = &mut y[..=last];
    let put = |y: &mut [f32], r: usize, u: usize, acc: i32| {
        y[r * ys[0] + u * ys[1]] = acc as f32 * (sx * scales[u]) + bias[u];
    };
    let mut r = 0;
    // Four rows against one weight row: the weight is widened once per step for four
    // products (conv positions, recurrent steps).
    while r + 4 <= rows {
        let x4 = &xq[r * lda..(r + 3) * lda + k8];
        for (u, wr) in wq.chunks_exact(k8.max(1)).enumerate() {
            let d = dots::rows4(k8, x4, lda, wr);
            if ys[0] == 1 {
                // The four outputs are adjacent (a convolution's positions): one slice.
                let at = r + u * ys[1];
                let (f, b) = (sx * scales[u], bias[u]);
                for (o, &v) in y[at..at + 4].iter_mut().zip(&d) {
                    *o = v as f32 * f + b;
                }
            } else {
                for (i, &v) in d.iter().enumerate() {
                    put(y, r + i, u, v);
                }
            }
        }
        r += 4;
    }
    // One row against four weight rows (dense layers, recurrent steps).
    for r in r..rows {
        let x = &xq[r * lda..r * lda + k8];
        let mut u = 0;
        while u + 4 <= units {
            let d = dots::units4(k8, x, &wq[u * k8..(u + 4) * k8]);
            if ys[1] == 1 {
                // Four adjacent outputs (a dense layer's or a step's units): one slice.
                let at = r * ys[0] + u;
                let (f, b) = (&scales[u..u + 4], &bias[u..u + 4]);
                for (i, o) in y[at..at + 4].iter_mut().enumerate() {
                    *o = d[i] as f32 * (sx * f[i]) + b[i];
                }
            } else {
                for (i, &v) in d.iter().enumerate() {
                    put(y, r, u + i, v);
                }
            }
            u += 4;
        }
        for u in u..units {
            put(y, r, u, dots::one(k8, x, &wq[u * k8..(u + 1) * k8]));
        }
    }
}

/// The input of a convolution quantized channels-last into its zero-padded plane,
/// `[h + 2ph, w + 2pw, c]`: a receptive field is then `kh` runs of `kw * c` values (one
/// run, read in place, when `kh` is 1). Returns the scale.
pub fn quantize_hwc(g: &ConvGeom, levels: i32, x: &[f32], out: &mut [i16]) -> f32 {
    let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
    let x = &x[..g.c * g.h * g.w];
    let out = &mut out[..hp * wp * g.c];
    let (peak, inv) = peak_and_inverse(levels, x);
    out.fill(0);
    for (ch, plane) in x.chunks_exact((g.h * g.w).max(1)).enumerate() {
        for (yy, row) in plane.chunks_exact(g.w.max(1)).enumerate() {
            let at = ((yy + g.ph) * wp + g.pw) * g.c + ch;
            if g.c == 1 {
                quantize_run(row, inv, levels, &mut out[at..at + g.w]);
                continue;
            }
            for (i, &v) in row.iter().enumerate() {
                out[at + i * g.c] = round(v * inv).clamp(-levels, levels) as i16;
            }
        }
    }
    peak / levels as f32
}

/// A filter bank `[o, c, kh, kw]` (the file's order) as int8 rows in the order
/// [`quantize_hwc`] lays receptive fields out, `[o][kh][kw][c]`, each padded to `k8`.
pub fn filters_hwc(q: &[i8], o: usize, c: usize, kh: usize, kw: usize, k8: usize) -> Vec<i8> {
    let k = c * kh * kw;
    let mut out = vec![0i8; o * k8];
    for (f, src) in q.chunks_exact(k.max(1)).take(o).enumerate() {
        for ch in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    out[f * k8 + (ky * kw + kx) * c + ch] = src[(ch * kh + ky) * kw + kx];
                }
            }
        }
    }
    out
}

/// 16-bit values a quantized convolution needs: the padded channels-last input with
/// `k8` of slack (a row read in place may run past the last field), then, when `kh > 1`,
/// one row of `k8` per output position and [`LANES`] of slack (runs are copied eight
/// values at a time). `None` on overflow.
pub fn conv_scratch(g: &ConvGeom, k8: usize) -> Option<usize> {
    let input = input_len(g)?.checked_add(k8)?;
    match g.kh {
        1 => Some(input),
        _ => input
            .checked_add(g.positions().checked_mul(k8)?)?
            .checked_add(LANES),
    }
}

fn input_len(g: &ConvGeom) -> Option<usize> {
    let hp = g.h.checked_add(g.ph.checked_mul(2)?)?;
    let wp = g.w.checked_add(g.pw.checked_mul(2)?)?;
    hp.checked_mul(wp)?.checked_mul(g.c)
}

/// A convolution with int8 filters in [`filters_hwc`] order; `qbuf` has [`conv_scratch`]
/// values. With `kh == 1` every receptive field is one run of the quantized input, so
/// each output row's positions are read in place (rows `sw * c` apart); otherwise the
/// `kh` runs of each field are copied into one row first.
pub fn conv(g: &ConvGeom, x: &[f32], w: &QMatrix<'_>, b: &[f32], qbuf: &mut [i16], y: &mut [f32]) {
    let n = g.c * (g.h + 2 * g.ph) * (g.w + 2 * g.pw);
    let (xq, rows) = qbuf.split_at_mut(n + w.k8);
    let scale = quantize_hwc(g, w.levels, x, xq);
    let (p, wp, run) = (g.positions(), g.w + 2 * g.pw, g.kw * g.c);
    if g.kh == 1 {
        for oy in 0..g.oh {
            let start = oy * g.sh * wp * g.c;
            let x = QRows {
                q: &xq[start..],
                stride: g.sw * g.c,
                scale,
            };
            qgemm(g.ow, x, w, b, &mut y[oy * g.ow..], [1, p]);
        }
        return;
    }
    // Runs are copied eight values at a time (a short `copy_from_slice` is a libc call on
    // the board): a copy's overshoot lands where the next run, the row's zero tail or the
    // next row is written afterwards, and the slack of both buffers holds the last one.
    let rows = &mut rows[..p * w.k8 + LANES];
    let mut at = 0;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            for ky in 0..g.kh {
                let src = ((oy * g.sh + ky) * wp + ox * g.sw) * g.c;
                let dst = at + ky * run;
                for c in (0..run).step_by(LANES) {
                    let v: [i16; LANES] = xq[src + c..src + c + LANES]
                        .try_into()
                        .unwrap_or([0; LANES]);
                    rows[dst + c..dst + c + LANES].copy_from_slice(&v);
                }
            }
            rows[at + g.kh * run..at + w.k8].fill(0);
            at += w.k8;
        }
    }
    let x = QRows {
        q: rows,
        stride: w.k8,
        scale,
    };
    qgemm(p, x, w, b, y, [1, p]);
}

/// A dense layer over `rows` rows of `w.k` features; `qbuf` has `rows * w.k8` values.
pub fn dense(rows: usize, x: &[f32], w: &QMatrix<'_>, b: &[f32], qbuf: &mut [i16], y: &mut [f32]) {
    let scale = quantize_rows(rows, w.k, w.k8, w.levels, x, qbuf);
    let x = QRows {
        q: qbuf,
        stride: w.k8,
        scale,
    };
    qgemm(rows, x, w, b, y, [w.units, 1]);
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod dots {
    //! The dot products, eight 16-bit pairs per `pmaddwd`. Callers pass slices of whole
    //! rows (`k8` values each, a multiple of [`super::LANES`]); the loads are unaligned.
    #[cfg(target_arch = "x86")]
    use core::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::*;

    /// Eight int8 weights widened to 16 bits.
    #[inline(always)]
    unsafe fn widen(p: *const i8) -> __m128i {
        // SAFETY: the caller guarantees 8 readable bytes at `p`.
        unsafe {
            let v = _mm_loadl_epi64(p as *const __m128i);
            #[cfg(target_feature = "sse4.1")]
            return _mm_cvtepi8_epi16(v);
            #[cfg(not(target_feature = "sse4.1"))]
            return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
        }
    }

    #[inline(always)]
    unsafe fn load(p: *const i16) -> __m128i {
        // SAFETY: the caller guarantees 8 readable values at `p`.
        unsafe { _mm_loadu_si128(p as *const __m128i) }
    }

    #[inline(always)]
    fn hsum(v: __m128i) -> i32 {
        // SAFETY: SSE2 is part of every x86 target this crate builds for.
        unsafe {
            let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b01_00_11_10));
            let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b10_11_00_01));
            _mm_cvtsi128_si32(v)
        }
    }

    /// The four sums of four accumulators (`phaddd` twice where SSSE3 is there).
    #[inline(always)]
    fn hsum4(a: [__m128i; 4]) -> [i32; 4] {
        #[cfg(target_feature = "ssse3")]
        // SAFETY: SSSE3 is enabled for this build; the store writes 16 bytes to `out`.
        unsafe {
            let s = _mm_hadd_epi32(_mm_hadd_epi32(a[0], a[1]), _mm_hadd_epi32(a[2], a[3]));
            let mut out = [0i32; 4];
            _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, s);
            out
        }
        #[cfg(not(target_feature = "ssse3"))]
        a.map(hsum)
    }

    #[inline(always)]
    fn zero() -> __m128i {
        // SAFETY: as above.
        unsafe { _mm_setzero_si128() }
    }

    /// Four rows of `x` (`4 * k8`) against one weight row `w` (`k8`). With SSE4.1 (the
    /// board build) the loop is written out: LLVM spilled an accumulator and reloaded
    /// the row pointers on every step, and 32-bit x86 has the registers for it only when
    /// the four rows are addressed from one pointer and a stride.
    pub fn rows4(k8: usize, x: &[i16], lda: usize, w: &[i8]) -> [i32; 4] {
        let (x, w) = (&x[..3 * lda + k8], &w[..k8]);
        #[cfg(target_feature = "sse4.1")]
        if k8 > 0 {
            let mut sums = [0i32; 4];
            // SAFETY: `k8 / 8` steps read 16 bytes at `x + 16 s + r * 2 lda` (r < 4) and 8
            // bytes at `w + 8 s`, all inside the slices above (`k8` is a multiple of 8);
            // the store goes to `sums`; every clobbered register is declared.
            unsafe {
                core::arch::asm!(
                    "pxor xmm2, xmm2",
                    "pxor xmm3, xmm3",
                    "pxor xmm4, xmm4",
                    "pxor xmm5, xmm5",
                    "2:",
                    "pmovsxbw xmm0, qword ptr [{w}]",
                    "movdqu xmm1, [{x}]",
                    "pmaddwd xmm1, xmm0",
                    "paddd xmm2, xmm1",
                    "movdqu xmm1, [{x} + {lda}]",
                    "pmaddwd xmm1, xmm0",
                    "paddd xmm3, xmm1",
                    "movdqu xmm1, [{x} + {lda} * 2]",
                    "pmaddwd xmm1, xmm0",
                    "paddd xmm4, xmm1",
                    "movdqu xmm1, [{x} + {lda3}]",
                    "pmaddwd xmm1, xmm0",
                    "paddd xmm5, xmm1",
                    "add {x}, 16",
                    "add {w}, 8",
                    "dec {k}",
                    "jnz 2b",
                    // [Σ row 0, Σ row 1, Σ row 2, Σ row 3] (phaddd: SSSE3).
                    "phaddd xmm2, xmm3",
                    "phaddd xmm4, xmm5",
                    "phaddd xmm2, xmm4",
                    "movdqu [{out}], xmm2",
                    x = inout(reg) x.as_ptr() => _,
                    w = inout(reg) w.as_ptr() => _,
                    k = inout(reg) k8 / super::LANES => _,
                    lda = in(reg) lda * 2,
                    lda3 = in(reg) lda * 6,
                    out = in(reg) sums.as_mut_ptr(),
                    out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                    out("xmm4") _, out("xmm5") _,
                    options(nostack),
                );
            }
            return sums;
        }
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut a = [zero(); 4];
        for p in (0..k8).step_by(super::LANES) {
            // SAFETY: `p + 8 <= k8` and the slices above hold 4 rows of `x` and one of `w`.
            unsafe {
                let wv = widen(wp.add(p));
                for (i, acc) in a.iter_mut().enumerate() {
                    *acc = _mm_add_epi32(*acc, _mm_madd_epi16(load(xp.add(i * lda + p)), wv));
                }
            }
        }
        hsum4(a)
    }

    /// One row `x` (`k8`) against four weight rows `w` (`4 * k8`).
    pub fn units4(k8: usize, x: &[i16], w: &[i8]) -> [i32; 4] {
        let (x, w) = (&x[..k8], &w[..4 * k8]);
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut a = [zero(); 4];
        for p in (0..k8).step_by(super::LANES) {
            // SAFETY: as in `rows4`, with the roles swapped.
            unsafe {
                let xv = load(xp.add(p));
                for (i, acc) in a.iter_mut().enumerate() {
                    *acc = _mm_add_epi32(*acc, _mm_madd_epi16(xv, widen(wp.add(i * k8 + p))));
                }
            }
        }
        hsum4(a)
    }

    /// One row against one weight row.
    pub fn one(k8: usize, x: &[i16], w: &[i8]) -> i32 {
        let (x, w) = (&x[..k8], &w[..k8]);
        let mut acc = zero();
        for p in (0..k8).step_by(super::LANES) {
            // SAFETY: `p + 8 <= k8` for both slices.
            unsafe {
                acc = _mm_add_epi32(
                    acc,
                    _mm_madd_epi16(load(x.as_ptr().add(p)), widen(w.as_ptr().add(p))),
                );
            }
        }
        hsum(acc)
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
mod dots {
    //! The same sums in plain Rust (wrapping, as the SIMD lanes do).
    fn dot(x: &[i16], w: &[i8]) -> i32 {
        x.iter()
            .zip(w)
            .fold(0i32, |s, (&a, &b)| s.wrapping_add(a as i32 * b as i32))
    }
    pub fn rows4(k8: usize, x: &[i16], lda: usize, w: &[i8]) -> [i32; 4] {
        core::array::from_fn(|i| dot(&x[i * lda..i * lda + k8], &w[..k8]))
    }
    pub fn units4(k8: usize, x: &[i16], w: &[i8]) -> [i32; 4] {
        core::array::from_fn(|i| dot(&x[..k8], &w[i * k8..(i + 1) * k8]))
    }
    pub fn one(k8: usize, x: &[i16], w: &[i8]) -> i32 {
        dot(&x[..k8], &w[..k8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// The exact integer sums of `qgemm` against a plain i64 loop, every block shape.
    #[test]
    fn qgemm_equals_the_plain_sums() {
        let mut s = 7u64;
        for rows in 1..10 {
            for units in 1..10 {
                for k in [1, 7, 8, 9, 17, 40] {
                    let k8 = padded(k).unwrap();
                    let levels = act_levels(k8).unwrap();
                    let mut q = vec![0i8; units * k8];
                    for u in 0..units {
                        for p in 0..k {
                            q[u * k8 + p] = (lcg(&mut s) * 127.0) as i8;
                        }
                    }
                    let scales: Vec<f32> = (0..units).map(|u| 0.01 * (u + 1) as f32).collect();
                    let bias: Vec<f32> = (0..units).map(|u| u as f32).collect();
                    let x: Vec<f32> = (0..rows * k).map(|_| lcg(&mut s)).collect();
                    let w = QMatrix {
                        units,
                        k,
                        k8,
                        levels,
                        q: &q,
                        scales: &scales,
                    };
                    let mut xq = vec![0i16; rows * k8];
                    let sx = quantize_rows(rows, k, k8, levels, &x, &mut xq);
                    let mut y = vec![f32::NAN; rows * units];
                    let xr = QRows {
                        q: &xq,
                        stride: k8,
                        scale: sx,
                    };
                    qgemm(rows, xr, &w, &bias, &mut y, [units, 1]);
                    for r in 0..rows {
                        for u in 0..units {
                            let acc: i64 = (0..k8)
                                .map(|p| xq[r * k8 + p] as i64 * q[u * k8 + p] as i64)
                                .sum();
                            let want = acc as i32 as f32 * (sx * scales[u]) + bias[u];
                            assert_eq!(y[r * units + u], want, "{rows}x{units}x{k} at {r},{u}");
                            // And close to the f32 product of the dequantized weights.
                            let f: f32 = (0..k)
                                .map(|p| x[r * k + p] * q[u * k8 + p] as f32 * scales[u])
                                .sum::<f32>()
                                + bias[u];
                            assert!((f - want).abs() < 1e-3 * (1.0 + f.abs()), "{f} vs {want}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn quantization_maps_the_peak_to_the_levels_and_pads_with_zeros() {
        let x = [0.5, -2.0, 1.0, 0.0, 0.25, -0.5];
        let mut out = vec![9i16; 16];
        let s = quantize_rows(2, 3, 8, 1000, &x, &mut out);
        assert_eq!(s, 2.0 / 1000.0);
        assert_eq!(out[..8], [250, -1000, 500, 0, 0, 0, 0, 0]);
        assert_eq!(out[8..], [0, 125, -250, 0, 0, 0, 0, 0]);
        let s = quantize_rows(1, 2, 8, 1000, &[f32::NAN, 1.0], &mut out);
        assert!(s.is_nan());
        let s = quantize_rows(1, 2, 8, 1000, &[0.0, 0.0], &mut out);
        assert_eq!((s, &out[..2]), (0.0, &[0i16, 0][..]));
    }

    #[test]
    fn levels_keep_the_sums_in_32_bits() {
        assert_eq!(act_levels(8), Some(32767));
        let k8 = 800;
        let l = act_levels(k8).unwrap() as i64;
        assert!(l * 127 * k8 as i64 <= i32::MAX as i64);
        assert_eq!(act_levels(200_000), None);
    }

    /// The int8 convolution (fields read in place when `kh` is 1, copied otherwise)
    /// against the f32 kernel on the dequantized filters.
    #[test]
    fn conv_matches_the_f32_convolution() {
        let mut s = 11u64;
        for (input, o, k, st, pad) in [
            ([2, 5, 6], 3, [3, 3], [1, 1], [1, 1]),
            ([3, 7, 7], 5, [2, 3], [2, 1], [0, 2]),
            ([4, 1, 9], 6, [1, 3], [1, 2], [0, 1]),
            ([3, 8, 13], 7, [1, 3], [1, 1], [0, 0]),
            ([5, 4, 4], 4, [1, 1], [1, 1], [0, 0]),
        ] {
            let g = ConvGeom::of(input, o, k, st, pad);
            let kk = g.patch();
            let k8 = padded(kk).unwrap();
            let levels = act_levels(k8).unwrap();
            let file_q: Vec<i8> = (0..o * kk).map(|_| (lcg(&mut s) * 127.0) as i8).collect();
            let scales: Vec<f32> = (0..o).map(|f| 0.01 + 0.002 * f as f32).collect();
            let wf: Vec<f32> = file_q
                .iter()
                .enumerate()
                .map(|(i, &v)| v as f32 * scales[i / kk])
                .collect();
            let bias: Vec<f32> = (0..o).map(|f| 0.1 * f as f32).collect();
            let x: Vec<f32> = (0..g.c * g.h * g.w).map(|_| lcg(&mut s)).collect();
            let mut col = vec![0f32; super::super::conv::ConvGeom::scratch(&g).unwrap()];
            let mut want = vec![0f32; o * g.positions()];
            super::super::conv::conv(&g, &x, &wf, &bias, &mut col, &mut want);
            let q = filters_hwc(&file_q, o, g.c, g.kh, g.kw, k8);
            let w = QMatrix {
                units: o,
                k: kk,
                k8,
                levels,
                q: &q,
                scales: &scales,
            };
            let mut qbuf = vec![-1i16; conv_scratch(&g, k8).unwrap()];
            let mut got = vec![f32::NAN; o * g.positions()];
            conv(&g, &x, &w, &bias, &mut qbuf, &mut got);
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 2e-3 * (1.0 + b.abs()),
                    "{input:?} k {k:?}: {i}: {a} vs {b}"
                );
            }
        }
    }
}
