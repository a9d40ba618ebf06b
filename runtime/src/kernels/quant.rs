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

/// Values per SIMD step: rows of weights and activations are padded to a multiple of it.
pub const LANES: usize = 8;
/// The largest magnitude of an int8 weight (the format refuses -128).
const W_MAX: usize = 127;

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
        for (o, &v) in or.iter_mut().zip(xr) {
            *o = round(v * inv).clamp(-levels, levels) as i16;
        }
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

/// `y[r * ys[0] + u * ys[1]] = (Σ_p xq[r][p] · w.q[u][p]) · sx · w.scales[u] + bias[u]`
/// for `r < rows`, `u < w.units`; `xq` holds `rows` rows of `w.k8` values.
#[allow(clippy::too_many_arguments)]
pub fn qgemm(
    rows: usize,
    xq: &[i16],
    sx: f32,
    w: &QMatrix<'_>,
    bias: &[f32],
    y: &mut [f32],
    ys: [usize; 2],
) {
    let (k8, units) = (w.k8, w.units);
    let (xq, wq, scales, bias) = (
        &xq[..rows * k8],
        &w.q[..units * k8],
        &w.scales[..units],
        &bias[..units],
    );
    if rows == 0 || units == 0 {
        return;
    }
    // Every output index must be inside `y` before any unchecked store below.
    let last = (rows - 1) * ys[0] + (units - 1) * ys[1];
    let y = &mut y[..=last];
    let mut put = |r: usize, u: usize, acc: i32| {
        y[r * ys[0] + u * ys[1]] = acc as f32 * (sx * scales[u]) + bias[u];
    };
    let mut r = 0;
    // Four rows against one weight row: the weight is widened once per step for four
    // products (conv positions, recurrent steps).
    while r + 4 <= rows {
        let x4 = &xq[r * k8..(r + 4) * k8];
        for (u, wr) in wq.chunks_exact(k8.max(1)).enumerate() {
            let d = dots::rows4(k8, x4, wr);
            for (i, &v) in d.iter().enumerate() {
                put(r + i, u, v);
            }
        }
        r += 4;
    }
    // One row against four weight rows (dense layers, recurrent steps).
    for r in r..rows {
        let x = &xq[r * k8..(r + 1) * k8];
        let mut u = 0;
        while u + 4 <= units {
            let d = dots::units4(k8, x, &wq[u * k8..(u + 4) * k8]);
            for (i, &v) in d.iter().enumerate() {
                put(r, u + i, v);
            }
            u += 4;
        }
        for u in u..units {
            put(r, u, dots::one(k8, x, &wq[u * k8..(u + 1) * k8]));
        }
    }
}

/// The input of a convolution quantized into its zero-padded planes `[c, h + 2ph,
/// w + 2pw]`, so that every run of a receptive field is in bounds; returns the scale.
pub fn quantize_padded(g: &ConvGeom, levels: i32, x: &[f32], out: &mut [i16]) -> f32 {
    let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
    let x = &x[..g.c * g.h * g.w];
    let out = &mut out[..g.c * hp * wp];
    let (peak, inv) = peak_and_inverse(levels, x);
    out.fill(0);
    for (c, plane) in x.chunks_exact((g.h * g.w).max(1)).enumerate() {
        for (y, row) in plane.chunks_exact(g.w.max(1)).enumerate() {
            let at = c * hp * wp + (y + g.ph) * wp + g.pw;
            for (o, &v) in out[at..at + g.w].iter_mut().zip(row) {
                *o = round(v * inv).clamp(-levels, levels) as i16;
            }
        }
    }
    peak / levels as f32
}

/// Each output position's receptive field as one row of `k8` values (the filters'
/// `[c, kh, kw]` order, zero past `patch`), from the padded input of
/// [`quantize_padded`]. Runs are copied eight values at a time, so `xqp` and `out` each
/// need [`LANES`] values of slack past their end (see [`conv_scratch`]); a copy's overshoot
/// lands where the next run (or row) is written afterwards.
pub fn im2col_rows(g: &ConvGeom, xqp: &[i16], k8: usize, out: &mut [i16]) {
    let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
    let xqp = &xqp[..g.c * hp * wp + LANES];
    let out = &mut out[..g.positions() * k8 + LANES];
    let patch = g.patch();
    let mut row = 0;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let mut at = row;
            for c in 0..g.c {
                for ky in 0..g.kh {
                    let src = c * hp * wp + (oy * g.sh + ky) * wp + ox * g.sw;
                    let mut i = 0;
                    while i < g.kw {
                        let run: [i16; LANES] = xqp[src + i..src + i + LANES]
                            .try_into()
                            .unwrap_or([0; LANES]);
                        out[at + i..at + i + LANES].copy_from_slice(&run);
                        i += LANES;
                    }
                    at += g.kw;
                }
            }
            out[row + patch..row + k8].fill(0);
            row += k8;
        }
    }
}

/// 16-bit values a quantized convolution needs: the padded input, then one row of `k8`
/// per output position, each with [`LANES`] of slack. `None` on overflow.
pub fn conv_scratch(g: &ConvGeom, k8: usize) -> Option<usize> {
    let hp = g.h.checked_add(g.ph.checked_mul(2)?)?;
    let wp = g.w.checked_add(g.pw.checked_mul(2)?)?;
    g.c.checked_mul(hp)?
        .checked_mul(wp)?
        .checked_add(LANES)?
        .checked_add(g.positions().checked_mul(k8)?)?
        .checked_add(LANES)
}

/// A convolution with int8 filters `[o, c * kh * kw]`; `qbuf` has [`conv_scratch`] values.
pub fn conv(g: &ConvGeom, x: &[f32], w: &QMatrix<'_>, b: &[f32], qbuf: &mut [i16], y: &mut [f32]) {
    let n = g.c * (g.h + 2 * g.ph) * (g.w + 2 * g.pw) + LANES;
    let (xqp, rows) = qbuf.split_at_mut(n);
    let sx = quantize_padded(g, w.levels, x, xqp);
    im2col_rows(g, xqp, w.k8, rows);
    qgemm(g.positions(), rows, sx, w, b, y, [1, g.positions()]);
}

/// A dense layer over `rows` rows of `w.k` features; `qbuf` has `rows * w.k8` values.
pub fn dense(rows: usize, x: &[f32], w: &QMatrix<'_>, b: &[f32], qbuf: &mut [i16], y: &mut [f32]) {
    let sx = quantize_rows(rows, w.k, w.k8, w.levels, x, qbuf);
    qgemm(rows, qbuf, sx, w, b, y, [w.units, 1]);
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

    #[inline(always)]
    fn zero() -> __m128i {
        // SAFETY: as above.
        unsafe { _mm_setzero_si128() }
    }

    /// Four rows of `x` (`4 * k8`) against one weight row `w` (`k8`). With SSE4.1 (the
    /// board build) the loop is written out: LLVM spilled an accumulator and reloaded
    /// the row pointers on every step, and 32-bit x86 has the registers for it only when
    /// the four rows are addressed from one pointer and a stride.
    pub fn rows4(k8: usize, x: &[i16], w: &[i8]) -> [i32; 4] {
        let (x, w) = (&x[..4 * k8], &w[..k8]);
        #[cfg(target_feature = "sse4.1")]
        if k8 > 0 {
            // Four lanes per row, summed below.
            let mut lanes = [0i32; 16];
            // SAFETY: `k8 / 8` steps read 16 bytes at `x + 16 s + r * 2 k8` (r < 4) and 8
            // bytes at `w + 8 s`, all inside the slices above (`k8` is a multiple of 8);
            // the stores go to `lanes`; every clobbered register is declared.
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
                    "movdqu [{out}], xmm2",
                    "movdqu [{out} + 16], xmm3",
                    "movdqu [{out} + 32], xmm4",
                    "movdqu [{out} + 48], xmm5",
                    x = inout(reg) x.as_ptr() => _,
                    w = inout(reg) w.as_ptr() => _,
                    k = inout(reg) k8 / super::LANES => _,
                    lda = in(reg) k8 * 2,
                    lda3 = in(reg) k8 * 6,
                    out = in(reg) lanes.as_mut_ptr(),
                    out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                    out("xmm4") _, out("xmm5") _,
                    options(nostack),
                );
            }
            return core::array::from_fn(|r| {
                lanes[4 * r..4 * r + 4]
                    .iter()
                    .fold(0i32, |s, &v| s.wrapping_add(v))
            });
        }
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut a = [zero(); 4];
        for p in (0..k8).step_by(super::LANES) {
            // SAFETY: `p + 8 <= k8` and the slices above hold 4 rows of `x` and one of `w`.
            unsafe {
                let wv = widen(wp.add(p));
                for (i, acc) in a.iter_mut().enumerate() {
                    *acc = _mm_add_epi32(*acc, _mm_madd_epi16(load(xp.add(i * k8 + p)), wv));
                }
            }
        }
        a.map(hsum)
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
        a.map(hsum)
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
    pub fn rows4(k8: usize, x: &[i16], w: &[i8]) -> [i32; 4] {
        core::array::from_fn(|i| dot(&x[i * k8..(i + 1) * k8], &w[..k8]))
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
    use alloc::vec;
    use alloc::vec::Vec;

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
                    qgemm(rows, &xq, sx, &w, &bias, &mut y, [units, 1]);
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

    /// The quantized patch rows hold the same values as the f32 im2col, transposed.
    #[test]
    fn im2col_rows_match_im2col() {
        for (input, k, st, pad) in [
            ([2, 5, 6], [3, 3], [1, 1], [1, 1]),
            ([3, 7, 7], [2, 3], [2, 1], [0, 2]),
            ([4, 1, 9], [1, 3], [1, 2], [0, 1]),
        ] {
            let g = ConvGeom::of(input, 2, k, st, pad);
            let n = g.c * g.h * g.w;
            let xf: Vec<f32> = (1..=n).map(|v| v as f32).collect();
            let mut col = vec![0f32; g.patch() * g.positions()];
            super::super::conv::im2col(&g, &xf, &mut col);
            let k8 = padded(g.patch()).unwrap();
            let mut buf = vec![-1i16; conv_scratch(&g, k8).unwrap()];
            let split = buf.len() - g.positions() * k8 - LANES;
            let (xqp, rows) = buf.split_at_mut(split);
            // With `levels` = the peak, the quantized values are the inputs themselves.
            let s = quantize_padded(&g, n as i32, &xf, xqp);
            assert_eq!(s, 1.0);
            im2col_rows(&g, xqp, k8, rows);
            for j in 0..g.positions() {
                for p in 0..k8 {
                    let want = if p < g.patch() {
                        col[p * g.positions() + j]
                    } else {
                        0.0
                    };
                    assert_eq!(
                        rows[j * k8 + p] as f32,
                        want,
                        "{input:?} position {j} value {p}"
                    );
                }
            }
        }
    }
}
