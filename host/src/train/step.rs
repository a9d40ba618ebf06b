//! One optimisation step, split across threads by examples when there are two or more.
//!
//! Why: the networks here are small, so a second thread inside each op (a GEMM of
//! `[64, 120] x [120, 360]`, a GRU step, an element-wise op over a few thousand values)
//! spends more in handing work over than it saves: a second thread gave LeNet-5's step
//! 1.3-1.4x and DeepSense UserID's and the bi-LSTM's nothing (issue 19). Data
//! parallelism splits the batch instead: each thread runs forward and backward on its
//! half, and the two gradients are added before AdamW. Every loss here is a mean over
//! examples, so the half-batch losses weighted by their share of the batch add up to the
//! whole batch's loss, and their gradients to its gradient (up to float rounding).
//!
//! Dropout stays deterministic: shard `k` draws its masks from `Rng::derive(seed, k)`
//! with `seed` from the network's generator ([`Net::dropout_seed`]), whichever thread
//! runs first. The split depends only on the thread count, so a run is repeatable with
//! the same `RAYON_NUM_THREADS`; one and two threads differ by rounding (and dropout).
use super::adamw::AdamW;
use super::distill::Distill;
use super::mixup::Mixing;
use crate::models::{with_dropout_stream, Net};
use crate::rng::Rng;
use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, D};

/// A batch is split only when each half has at least this many examples.
const MIN_SHARD: usize = 8;

/// One optimisation step on a batch; returns the loss and the number of correct argmaxes.
pub fn train_step(
    net: &Net,
    opt: &mut AdamW,
    x: &Tensor,
    y: &Tensor,
    distill: Option<&Distill>,
    mixing: Option<&Mixing>,
) -> Result<(f32, usize)> {
    let batch = batch_gradients(net, x, y, distill, mixing)?;
    opt.step(&batch.grads)?;
    Ok((batch.loss, batch.correct))
}

/// The batch's mean loss and its gradients, in two halves on two threads when the pool
/// has them.
fn batch_gradients(
    net: &Net,
    x: &Tensor,
    y: &Tensor,
    distill: Option<&Distill>,
    mixing: Option<&Mixing>,
) -> Result<Shard> {
    gradients_in(net, x, y, distill, mixing, should_split(x.dim(0)?))
}

/// Whether a batch of `n` is split in two: two threads or more, halves of at least
/// [`MIN_SHARD`], and candle's element-wise ops on the calling thread.
pub fn should_split(n: usize) -> bool {
    rayon::current_num_threads() >= 2 && n >= 2 * MIN_SHARD && elementwise_inline()
}

/// [`batch_gradients`] in one piece, or in two halves run with `rayon::join`.
fn gradients_in(
    net: &Net,
    x: &Tensor,
    y: &Tensor,
    distill: Option<&Distill>,
    mixing: Option<&Mixing>,
    split: bool,
) -> Result<Shard> {
    let n = x.dim(0)?;
    split_batch(net, n, split, |start, len, weight| {
        let xs = x.narrow(0, start, len)?;
        let ys = y.narrow(0, start, len)?;
        let mix = match mixing {
            Some(m) => Some(Mixing {
                other: m.other.narrow(0, start, len)?,
                lambda: m.lambda,
            }),
            None => None,
        };
        shard_step(net, &xs, &ys, distill, mix.as_ref(), weight)
    })
}

/// Runs `shard(start, len, weight)` once over the whole batch of `n` (weight 1), or, with
/// `split`, over its two halves on two threads (weight: the half's share of the batch),
/// each half with its own dropout stream, and adds the halves' gradients, losses and
/// counts. `shard` returns the gradients of `weight` times its examples' mean loss.
pub(crate) fn split_batch<F>(net: &Net, n: usize, split: bool, shard: F) -> Result<Shard>
where
    F: Fn(usize, usize, f64) -> Result<Shard> + Sync,
{
    if !split || n < 2 {
        return shard(0, n, 1.0);
    }
    let half = n / 2;
    let seed = net.dropout_seed();
    let run = |k: u64, start: usize, len: usize| -> Result<Shard> {
        let stream = seed.map(|s| Rng::derive(s, k).next_u64());
        with_dropout_stream(stream, || shard(start, len, len as f64 / n as f64))
    };
    let (a, b) = rayon::join(|| run(0, 0, half), || run(1, half, n - half));
    let (mut a, mut b) = (a?, b?);
    for var in net.vars() {
        let t = var.as_tensor();
        if let Some(gb) = b.grads.get(t) {
            let sum = match a.grads.get(t) {
                Some(ga) => (ga + gb)?,
                None => gb.clone(),
            };
            a.grads.insert(t, sum);
        }
    }
    a.per_example.append(&mut b.per_example);
    Ok(Shard {
        grads: a.grads,
        loss: a.loss + b.loss,
        correct: a.correct + b.correct,
        per_example: a.per_example,
    })
}

/// Whether candle runs its element-wise ops on the calling thread. candle 0.11 spreads
/// them over a process-wide pool of `CANDLE_NUM_THREADS - 1` (default: the cores) spinning
/// workers behind one lock; two shards would queue on that lock while its worker spins,
/// three busy threads on two cores. Measured on DeepSense UserID, two threads: 52-56 ms
/// per step with that pool against 19.5-23.1 ms without, and 36-38 ms on one thread. The
/// `deepiot` binary turns the pool off at start ([`keep_elementwise_inline`]); a library
/// caller who has not gets the unsplit step.
fn elementwise_inline() -> bool {
    candle_core::utils::barrier_pool().n_workers() == 0
}

/// Keeps candle's element-wise ops on the calling thread (`CANDLE_NUM_THREADS=1`, unless
/// the environment sets it), so that the training step can split the batch over the
/// threads instead ([`train_step`]). Call at the start of `main`, before any other thread
/// exists: it sets an environment variable.
pub fn keep_elementwise_inline() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// What one shard's forward and backward give.
pub(crate) struct Shard {
    pub grads: GradStore,
    /// The shard's mean loss times its `weight`.
    pub loss: f32,
    pub correct: usize,
    /// Each example's own loss, in batch order, when the shard reports them: the
    /// search's compressor step reuses the critic's instead of a second forward pass.
    pub per_example: Vec<f32>,
}

/// Forward and backward of `weight` times the mean loss over `x`.
fn shard_step(
    net: &Net,
    x: &Tensor,
    y: &Tensor,
    distill: Option<&Distill>,
    mixing: Option<&Mixing>,
    weight: f64,
) -> Result<Shard> {
    let logits = net.logits(&[x], true)?;
    let hard = candle_nn::loss::cross_entropy(&logits, y)?;
    let hard = match mixing {
        Some(m) => {
            ((hard * m.lambda)?
                + (candle_nn::loss::cross_entropy(&logits, &m.other)? * (1.0 - m.lambda))?)?
        }
        None => hard,
    };
    let loss = match distill {
        Some(d) => d.mix(&hard, x, &logits)?,
        None => hard,
    };
    let loss = match weight == 1.0 {
        true => loss,
        false => (loss * weight)?,
    };
    let grads = loss.backward()?;
    // Under mixup an answer counts when it is the label with the larger weight.
    let dominant = match mixing {
        Some(m) if m.lambda < 0.5 => &m.other,
        _ => y,
    };
    let correct = logits
        .detach()
        .argmax(D::Minus1)?
        .eq(dominant)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(Shard {
        grads,
        loss: loss.to_scalar::<f32>()?,
        correct: correct as usize,
        per_example: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::AdamParams;
    use candle_core::Device;
    use deepiot_format::{Graph, Op};

    fn net(seed: u64) -> Net {
        let mut g = Graph::new("x", &[12]);
        g.push("fc1", Op::Dense { units: 16 });
        g.push("relu", Op::Relu);
        g.push("fc2", Op::Dense { units: 16 });
        g.push("relu2", Op::Relu);
        g.push("out", Op::Dense { units: 3 });
        Net::new(&g, seed).unwrap()
    }

    fn batch(n: usize) -> (Tensor, Tensor) {
        let mut rng = Rng::new(5);
        let xs: Vec<f32> = (0..n * 12).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let ys: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
        (
            Tensor::from_vec(xs, (n, 12), &Device::Cpu).unwrap(),
            Tensor::from_vec(ys, n, &Device::Cpu).unwrap(),
        )
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    /// Three steps in a pool of `threads`; the weights after them and the last loss.
    fn steps(threads: usize, dropout: bool) -> (Vec<f32>, f32) {
        in_pool(threads, || {
            let net = net(3);
            if dropout {
                net.set_dropout(0.3, 11);
            }
            let mut opt = AdamW::for_net(&net, AdamParams::default());
            let (x, y) = batch(40);
            let mut loss = 0.0;
            for _ in 0..3 {
                let g = gradients_in(&net, &x, &y, None, None, threads > 1).unwrap();
                opt.step(&g.grads).unwrap();
                loss = g.loss;
            }
            let w: Vec<f32> = net
                .vars()
                .iter()
                .flat_map(|v| {
                    v.as_tensor()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                })
                .collect();
            (w, loss)
        })
    }

    /// Split over two threads (halves of 20), the gradients and the loss are the whole
    /// batch's up to rounding: each half's mean weighted by its share. (Weights after
    /// AdamW would not show a wrong weighting: Adam's step is nearly scale-free.)
    #[test]
    fn two_shards_give_the_whole_batch_gradient() {
        let grads = |threads: usize| {
            in_pool(threads, || {
                let net = net(3);
                let (x, y) = batch(40);
                let s = gradients_in(&net, &x, &y, None, None, threads > 1).unwrap();
                let g: Vec<Vec<f32>> = net
                    .vars()
                    .iter()
                    .map(|v| {
                        let g = s
                            .grads
                            .get(v.as_tensor())
                            .expect("every weight has a gradient");
                        g.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                    })
                    .collect();
                (g, s.loss, s.correct)
            })
        };
        let (one, loss1, correct1) = grads(1);
        let (two, loss2, correct2) = grads(2);
        for (a, b) in one.iter().zip(&two) {
            let scale = a.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(
                scale > 0.0 && d <= 1e-5 * scale,
                "gradients differ by {d} (scale {scale})"
            );
        }
        assert!((loss1 - loss2).abs() < 1e-6, "{loss1} vs {loss2}");
        assert_eq!(correct1, correct2);
        // The steps built on them agree too.
        let (w1, _) = steps(1, false);
        let (w2, _) = steps(2, false);
        let d = w1
            .iter()
            .zip(&w2)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-5, "weights differ by {d}");
    }

    /// With dropout, each shard draws from its own stream: two runs on two threads agree
    /// bit for bit, whichever thread drew first.
    #[test]
    fn sharded_dropout_is_repeatable() {
        let a = steps(2, true);
        for _ in 0..3 {
            assert_eq!(a, steps(2, true));
        }
        // Dropout did something: the weights differ from the run without it.
        assert_ne!(a.0, steps(2, false).0);
    }
}
