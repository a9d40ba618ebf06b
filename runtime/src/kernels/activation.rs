//! Element-wise activations and softmax.
//!
//! `exp`, `sigmoid` and `tanh` are our own branch-free approximations (error within about
//! 2 ulp of f32, checked against f64 in the tests) instead of libm's calls: recurrent
//! layers evaluate one per gate per unit per step, and libm's were the larger part of a
//! GRU's time on Silvermont. Being branch-free, the loops over them vectorise.

const LOG2E: f32 = core::f32::consts::LOG2_E;
/// ln 2 split into a part exact in f32 and a remainder, for an exact range reduction.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// `e^x`, saturating to 0 and to the largest finite float far outside the f32 range.
#[inline]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // x = k ln2 + r with |r| <= ln2 / 2, then e^x = 2^k e^r.
    let t = x * LOG2E;
    let k = if t >= 0.0 {
        (t + 0.5) as i32
    } else {
        (t - 0.5) as i32
    };
    let kf = k as f32;
    let r = x - kf * LN2_HI - kf * LN2_LO;
    // Taylor series of e^r to degree 6: the remainder is below 1.2e-7 relative on |r| <= 0.35.
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let er = (p * r + 1.0) * r + 1.0;
    er * f32::from_bits(((k + 127) as u32) << 23)
}

pub fn relu(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = if v > 0.0 { v } else { 0.0 };
    }
}

/// `tanh(x)`: an odd Taylor polynomial near 0 (where `1 - 2/(e^2x + 1)` would cancel),
/// the exponential form elsewhere.
#[inline]
pub fn tanh1(x: f32) -> f32 {
    let a = x.abs();
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let x2 = x * x;
    // x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835; the next term is < 4e-7 for |x| < 0.4.
    let small = x
        * (1.0
            + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
    if a < 0.4 {
        small
    } else {
        big.copysign(x)
    }
}

pub fn tanh(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = tanh1(v);
    }
}

#[inline]
pub fn sigmoid1(v: f32) -> f32 {
    // exp saturates instead of overflowing, so this stays finite for every input.
    1.0 / (1.0 + exp(-v))
}

pub fn sigmoid(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = sigmoid1(v);
    }
}

/// Softmax over each row of `width` values.
pub fn softmax(width: usize, x: &[f32], y: &mut [f32]) {
    for (xr, yr) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
        let max = xr.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut sum = 0.0;
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = exp(v - max);
            sum += *o;
        }
        let inv = 1.0 / sum;
        for o in yr.iter_mut() {
            *o *= inv;
        }
    }
}
