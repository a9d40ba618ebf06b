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

pub fn max_pool(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    // NaN propagates as in PyTorch: a NaN anywhere in the window gives NaN.
    pool(
        g,
        x,
        y,
        f32::NEG_INFINITY,
        |a, v| if v > a || v.is_nan() { v } else { a },
        |a| a,
    );
}

pub fn avg_pool(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let inv = 1.0 / (g.kh * g.kw) as f32;
    pool(g, x, y, 0.0, |a, v| a + v, |a| a * inv);
}
