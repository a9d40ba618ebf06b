//! Batch-norm folding: the format has no batch-norm layer; the exporter multiplies it into
//! the preceding convolution or dense layer, so the board never computes it.

/// Folds an inference-mode batch norm (`y = gamma * (x - mean) / sqrt(var + eps) + beta`)
/// that follows a layer with `weight [out, ...]` and `bias [out]` into that layer, in place.
///
/// Returns `false` (and changes nothing) when the slices' lengths disagree.
pub fn fold_batchnorm(
    weight: &mut [f32],
    bias: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> bool {
    let out = bias.len();
    let same = [gamma.len(), beta.len(), mean.len(), var.len()]
        .iter()
        .all(|&n| n == out);
    if !same || out == 0 || !weight.len().is_multiple_of(out) {
        return false;
    }
    let per = weight.len() / out;
    for o in 0..out {
        // f64 keeps the folded weights as close as possible to the unfolded computation.
        let scale = gamma[o] as f64 / libm::sqrt(var[o] as f64 + eps as f64);
        for w in &mut weight[o * per..(o + 1) * per] {
            *w = (*w as f64 * scale) as f32;
        }
        bias[o] = ((bias[o] as f64 - mean[o] as f64) * scale + beta[o] as f64) as f32;
    }
    true
}
