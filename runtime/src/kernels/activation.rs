//! Element-wise activations and softmax.

pub fn relu(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = if v > 0.0 { v } else { 0.0 };
    }
}

pub fn tanh(x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = libm::tanhf(v);
    }
}

#[inline]
pub fn sigmoid1(v: f32) -> f32 {
    // Written so that large |v| saturates to exactly 0 or 1 without overflow.
    if v >= 0.0 {
        1.0 / (1.0 + libm::expf(-v))
    } else {
        let e = libm::expf(v);
        e / (1.0 + e)
    }
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
            *o = libm::expf(v - max);
            sum += *o;
        }
        let inv = 1.0 / sum;
        for o in yr.iter_mut() {
            *o *= inv;
        }
    }
}
