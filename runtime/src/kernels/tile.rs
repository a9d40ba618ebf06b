//! The convolution's register tile: three output channels by eight positions.
//!
//! 32-bit x86 has eight SSE registers and Silvermont has no FMA. Six accumulators (3 rows
//! x 2 vectors of 4) leave two registers: one broadcasts a weight, one holds its copy for
//! the second vector, and both multiply straight from memory (`mulps xmm, [mem]`), which
//! needs the column panels 16-byte aligned. LLVM kept spilling accumulators in every
//! tile shape written with intrinsics (the 4x8 loop stored and reloaded four of its eight
//! per step), so the loop is written out. Measured on the i686 build against that 4x8
//! loop, same inputs: LeNet conv2 [50x500]·[500x64] 292 -> 116 µs, a VGG 64x288x256
//! product 847 -> 310 µs, and 22.4 -> 3.8 µs where only four positions fill a tile.

/// Positions per column panel (the tile's width).
pub const NR: usize = 8;
/// Output channels per tile.
pub const MR: usize = 3;

/// `out[r * 8 + q] = Σ_p a[r * lda + p] · panel[p * 8 + q]` for `r < 3`, `q < 8`, `p < k`.
///
/// # Safety
/// `a` must be readable at `a + r * lda + p` for `r < 3`, `p < k` (floats); `panel` must
/// be 16-byte aligned and readable for `8 * k` floats; `k >= 1`.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline]
pub unsafe fn tile_3x8(
    k: usize,
    a: *const f32,
    lda: usize,
    panel: *const f32,
    out: &mut [f32; 24],
) {
    // SAFETY: the caller guarantees the reads (see above); the stores go to `out`, 24
    // floats; every clobbered register is declared.
    unsafe {
        core::arch::asm!(
            "xorps xmm2, xmm2",
            "xorps xmm3, xmm3",
            "xorps xmm4, xmm4",
            "xorps xmm5, xmm5",
            "xorps xmm6, xmm6",
            "xorps xmm7, xmm7",
            "2:",
            "movss xmm0, [{a}]",
            "shufps xmm0, xmm0, 0",
            "movaps xmm1, xmm0",
            "mulps xmm0, [{b}]",
            "addps xmm2, xmm0",
            "mulps xmm1, [{b} + 16]",
            "addps xmm3, xmm1",
            "movss xmm0, [{a} + {lda}]",
            "shufps xmm0, xmm0, 0",
            "movaps xmm1, xmm0",
            "mulps xmm0, [{b}]",
            "addps xmm4, xmm0",
            "mulps xmm1, [{b} + 16]",
            "addps xmm5, xmm1",
            "movss xmm0, [{a} + {lda} * 2]",
            "shufps xmm0, xmm0, 0",
            "movaps xmm1, xmm0",
            "mulps xmm0, [{b}]",
            "addps xmm6, xmm0",
            "mulps xmm1, [{b} + 16]",
            "addps xmm7, xmm1",
            "add {a}, 4",
            "add {b}, 32",
            "dec {k}",
            "jnz 2b",
            "movups [{out}], xmm2",
            "movups [{out} + 16], xmm3",
            "movups [{out} + 32], xmm4",
            "movups [{out} + 48], xmm5",
            "movups [{out} + 64], xmm6",
            "movups [{out} + 80], xmm7",
            a = inout(reg) a => _,
            b = inout(reg) panel => _,
            k = inout(reg) k => _,
            lda = in(reg) lda * 4,
            out = in(reg) out.as_mut_ptr(),
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            options(nostack),
        );
    }
}

/// The same sums in plain Rust for other architectures (same order per output).
///
/// # Safety
/// As for the x86 version.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
#[inline]
pub unsafe fn tile_3x8(
    k: usize,
    a: *const f32,
    lda: usize,
    panel: *const f32,
    out: &mut [f32; 24],
) {
    *out = [0.0; 24];
    for p in 0..k {
        for r in 0..MR {
            // SAFETY: the caller guarantees these reads.
            let av = unsafe { *a.add(r * lda + p) };
            for q in 0..NR {
                out[r * NR + q] += av * unsafe { *panel.add(p * NR + q) };
            }
        }
    }
}
