//! Turning the flat example-major buffers of a [`Dataset`](crate::data::Dataset) into
//! batch tensors, and scoring a network over many examples in such batches.
use crate::data::augment::Augment;
use crate::models::Net;
use crate::rng::Rng;
use candle_core::{DType, Device, Tensor, D};

/// Inputs `[n, ...shape]` of the examples `idx` of a flat example-major buffer.
pub fn gather(
    xs: &[f32],
    shape: &[usize],
    idx: &[usize],
    device: &Device,
) -> candle_core::Result<Tensor> {
    let len: usize = shape.iter().product();
    let mut v = Vec::with_capacity(idx.len() * len);
    for &i in idx {
        v.extend_from_slice(&xs[i * len..(i + 1) * len]);
    }
    let mut dims = vec![idx.len()];
    dims.extend_from_slice(shape);
    Tensor::from_vec(v, dims, device)
}

/// Like [`gather`], each example through the augmentation `f` on the way.
pub fn gather_augmented(
    xs: &[f32],
    shape: &[usize],
    idx: &[usize],
    f: Augment,
    rng: &mut Rng,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let len: usize = shape.iter().product();
    let mut v = vec![0f32; idx.len() * len];
    for (k, &i) in idx.iter().enumerate() {
        f(
            &xs[i * len..(i + 1) * len],
            &mut v[k * len..(k + 1) * len],
            rng,
        );
    }
    let mut dims = vec![idx.len()];
    dims.extend_from_slice(shape);
    Tensor::from_vec(v, dims, device)
}

/// Labels of the examples `idx`.
pub fn gather_labels(ys: &[u32], idx: &[usize], device: &Device) -> candle_core::Result<Tensor> {
    let v: Vec<u32> = idx.iter().map(|&i| ys[i]).collect();
    Tensor::from_vec(v, idx.len(), device)
}

/// Scores of the first output for every example of `xs` (in batches of `batch`).
pub fn predict(net: &Net, xs: &[f32], batch: usize) -> candle_core::Result<Vec<Vec<f32>>> {
    let shape = net.info().input_shapes[0].clone();
    let len: usize = shape.iter().product();
    let n = xs.len() / len;
    let mut out = Vec::with_capacity(n);
    let idx: Vec<usize> = (0..n).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let x = gather(xs, &shape, chunk, net.device())?;
        let y = net.forward(&[&x], false)?;
        out.extend(y.flatten_from(1)?.to_vec2::<f32>()?);
    }
    Ok(out)
}

/// Accuracy of `net` on the examples `idx` of (`xs`, `ys`).
pub fn accuracy(net: &Net, xs: &[f32], ys: &[u32], idx: &[usize]) -> candle_core::Result<f64> {
    if idx.is_empty() {
        return Ok(0.0);
    }
    let shape = net.info().input_shapes[0].clone();
    let mut correct = 0usize;
    for chunk in idx.chunks(500) {
        let x = gather(xs, &shape, chunk, net.device())?;
        let y = gather_labels(ys, chunk, net.device())?;
        let p = net.logits(&[&x], false)?.argmax(D::Minus1)?;
        correct += p
            .eq(&y)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()? as usize;
    }
    Ok(correct as f64 / idx.len() as f64)
}
