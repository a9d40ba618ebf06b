//! Max and average pooling over `[c, h, w]` (1-d pooling is `h = kh = 1`), no padding.

/// Geometry of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
}

fn pool(
    g: &PoolGeom,
    x: &[f32],
    y: &mut [f32],
    init: f32,
    fold: impl Fn(f32, f32) -> f32,
    finish: impl Fn(f32) -> f32,
) {
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        let out = &mut y[ci * g.oh * g.ow..(ci + 1) * g.oh * g.ow];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut acc = init;
                for ky in 0..g.kh {
                    let r = &plane[(oy * g.sh + ky) * g.w + ox * g.sw..][..g.kw];
                    for &v in r {
                        acc = fold(acc, v);
                    }
                }
                out[oy * g.ow + ox] = finish(acc);
            }
        }
    }
}

/// Max with NaN propagating as in PyTorch: a NaN anywhere in the window gives NaN.
#[inline(always)]
fn max_fold(a: f32, v: f32) -> f32 {
    if v > a || v.is_nan() {
        v
    } else {
        a
    }
}

pub fn max_pool(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    if (g.kh, g.kw, g.sh, g.sw) == (2, 2, 2, 2) {
        return max_pool_2x2(g, x, y);
    }
    pool(g, x, y, f32::NEG_INFINITY, max_fold, |a| a);
}

/// The 2x2, stride-2 window of LeNet and VGG, with the loops over the window unrolled
/// (the general loop spent more on its bounds than on the maxima). Same fold order,
/// so the same results.
fn max_pool_2x2(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        let out = &mut y[ci * g.oh * g.ow..(ci + 1) * g.oh * g.ow];
        for (oy, out_row) in out.chunks_exact_mut(g.ow).enumerate() {
            let top = &plane[2 * oy * g.w..][..2 * g.ow];
            let bottom = &plane[(2 * oy + 1) * g.w..][..2 * g.ow];
            for ((o, t), b) in out_row
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                let m = max_fold(max_fold(f32::NEG_INFINITY, t[0]), t[1]);
                *o = max_fold(max_fold(m, b[0]), b[1]);
            }
        }
    }
}

pub fn avg_pool(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let inv = 1.0 / (g.kh * g.kw) as f32;
    pool(g, x, y, 0.0, |a, v| a + v, |a| a * inv);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn the_2x2_path_gives_the_general_loops_results_nan_and_infinity_included() {
        let g = PoolGeom {
            c: 2,
            h: 5,
            w: 7,
            kh: 2,
            kw: 2,
            sh: 2,
            sw: 2,
            oh: 2,
            ow: 3,
        };
        let mut x = vec![0.0f32; 2 * 5 * 7];
        deepiot_format::rng::fill_symmetric(9, &mut x);
        x[1] = f32::NAN;
        x[7 + 3] = f32::NAN;
        x[15] = f32::NEG_INFINITY;
        x[16] = f32::NEG_INFINITY;
        x[35 + 2] = f32::INFINITY;
        let (mut fast, mut general) = (vec![0.0; 12], vec![0.0; 12]);
        max_pool(&g, &x, &mut fast);
        pool(&g, &x, &mut general, f32::NEG_INFINITY, max_fold, |a| a);
        assert_eq!(
            fast.iter()
                .map(|v| v.to_bits())
                .collect::<alloc::vec::Vec<_>>(),
            general
                .iter()
                .map(|v| v.to_bits())
                .collect::<alloc::vec::Vec<_>>()
        );
        assert!(fast[0].is_nan() && fast[1].is_nan() && fast[7] == f32::INFINITY);
    }
}
