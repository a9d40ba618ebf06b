//! `deepiot train` and `deepiot eval`: training the zoo's models on candle.
//!
//! - AdamW (candle-nn) with a learning rate that decays by a constant factor per epoch.
//! - Batches in an order drawn from `Rng::derive(seed, epoch)`, so every epoch's order
//!   depends only on the seed and the epoch number (a resumed run draws the same).
//! - A validation split (`--val-fraction`, default 10 % of the training split, at most
//!   5,000 examples; seeded random, or the tail of every recording run for the
//!   accelerometer tasks, see [`validation_split`]) picks the best epoch and drives early
//!   stopping; the test split is only reported. With `--val-fraction 0` the whole training
//!   split trains and the last epoch is kept.
//! - Training-time dropout ([`Net::set_dropout`]) and augmentation (`--augment`), both
//!   seeded; neither changes the exported graph.
//! - After every epoch: a checkpoint in `OUT.ckpt/` (last and best weights as
//!   safetensors, and `state.json` with the epoch, best accuracy, history and the settings
//!   it must be resumed with). `--resume` continues from it. The optimiser's moments are
//!   not saved: a resumed run restarts AdamW's moment estimates at the epoch boundary, so
//!   it is deterministic but not bit-identical to a run that was never interrupted.
//! - At the end: the best weights exported to `OUT` and a JSON report beside it
//!   (`OUT` with extension `.report.json`).
//!
//! Determinism: weights, batch order, dropout masks and augmentation come from our own
//! seeded generator, and the CPU kernels involved (gemm, our convolution, pooling and
//! recurrence ops, candle's element-wise and reduction ops) do not depend on thread
//! timing; our weight-gradient sums run in fixed chunks and a fixed order. The same seed
//! and thread count give the same file, byte for byte (checked on full MNIST: two LeNet-5
//! runs, different builds, same sha256). Different `RAYON_NUM_THREADS` values may change
//! the last bits of gemm's sums. No thread setting is forced: candle uses all cores
//! unless `RAYON_NUM_THREADS` says otherwise.
use crate::data::{self, DataRoot, Dataset};
use crate::export;
use crate::models::{zoo, Net};
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// The learning rate of epoch `e` (from 0) is `lr * lr_decay^e`.
    pub lr_decay: f64,
    pub weight_decay: f64,
    /// Stop after this many epochs without a better validation accuracy.
    pub patience: usize,
}

impl Hyper {
    /// The defaults of a zoo model.
    pub fn for_model(model: &str) -> Hyper {
        let (epochs, batch, lr, lr_decay, patience) = match model {
            "mnist-lenet5" => (12, 64, 1e-3, 0.7, 4),
            "har-deepsense" | "har-cross-deepsense" => (60, 64, 1e-3, 0.95, 15),
            // 99.02 % where 60 epochs at x0.95 stopped at 98.0-98.9 % (seed 1).
            "userid-deepsense" => (150, 64, 1e-3, 0.97, 30),
            "speech-bilstm" => (40, 32, 2e-3, 0.93, 8),
            "cifar-vgg" => (30, 64, 1e-3, 0.9, 5),
            _ => (10, 64, 1e-3, 0.9, 4),
        };
        Hyper {
            epochs,
            batch,
            lr,
            lr_decay,
            weight_decay: 1e-4,
            patience,
        }
    }

    /// The training-time dropout of a zoo model ([`Net::set_dropout`]).
    pub fn dropout_for_model(model: &str) -> f32 {
        match model {
            "har-deepsense" | "har-cross-deepsense" | "userid-deepsense" => 0.3,
            "cifar-vgg" => 0.3,
            _ => 0.0,
        }
    }

    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr * self.lr_decay.powi(epoch as i32)
    }
}

/// One epoch of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// How a training run went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Mean training loss over consecutive windows of [`History::curve_every`] steps.
    pub loss_curve: Vec<f64>,
    pub curve_every: usize,
    /// 1-based epoch of the best validation accuracy (0: none yet).
    pub best_epoch: usize,
    pub best_val_accuracy: f64,
    pub stopped_early: bool,
    /// Epochs done before this process started (when resumed).
    pub resumed_after: Option<usize>,
    /// Training time over all processes, seconds.
    pub seconds: f64,
}

impl History {
    /// Test accuracy of the best epoch.
    pub fn best_test_accuracy(&self) -> f64 {
        self.epochs
            .iter()
            .find(|e| e.epoch == self.best_epoch)
            .map(|e| e.test_accuracy)
            .unwrap_or(0.0)
    }
}

/// What must agree for a checkpoint to be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunKey {
    pub model: String,
    pub data: String,
    pub seed: u64,
    pub hyper_batch: usize,
    pub hyper_lr: f64,
    pub hyper_lr_decay: f64,
    pub hyper_weight_decay: f64,
    pub train_examples: usize,
    /// Training-time dropout ([`Net::set_dropout`]); 0 when off.
    #[serde(default)]
    pub dropout: f32,
    /// Weight averaging's first epoch ([`FitOptions::average_from`]).
    #[serde(default)]
    pub average_from: Option<usize>,
    /// Mixup's Beta parameter ([`FitOptions::mixup`]).
    #[serde(default)]
    pub mixup: Option<f32>,
}

/// `OUT.ckpt/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub key: RunKey,
    /// Epochs finished.
    pub epochs_done: usize,
    pub history: History,
}

/// Where a run keeps its checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
}

impl Checkpoint {
    /// `OUT.ckpt/` for the output `OUT`.
    pub fn beside(out: &Path) -> Checkpoint {
        let mut name = out
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".ckpt");
        Checkpoint {
            dir: out.with_file_name(name),
        }
    }
    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    fn last(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }
    fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }

    fn save(
        &self,
        net: &Net,
        best: &HashMap<String, Tensor>,
        state: &CheckpointState,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        // Write to temporary names and rename, so a crash mid-write leaves the old one.
        let tmp = |p: PathBuf| p.with_extension("tmp");
        let last: HashMap<String, Tensor> = net
            .vars()
            .into_iter()
            .zip(net.info().params.iter().flatten())
            .map(|(v, s)| (s.name.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&last, tmp(self.last()))?;
        candle_core::safetensors::save(best, tmp(self.best()))?;
        std::fs::write(tmp(self.state()), serde_json::to_vec_pretty(state)?)?;
        for p in [self.last(), self.best(), self.state()] {
            std::fs::rename(tmp(p.clone()), &p)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        Ok(())
    }

    /// The saved state, the last epoch's weights and the best (or averaged) ones.
    pub fn load(&self, device: &Device) -> Result<(CheckpointState, Weights, Weights)> {
        let text = std::fs::read_to_string(self.state()).with_context(|| {
            format!(
                "--resume: no checkpoint at {} (train without --resume to start)",
                self.state().display()
            )
        })?;
        let state: CheckpointState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a checkpoint state", self.state().display()))?;
        let last = candle_core::safetensors::load(self.last(), device)
            .with_context(|| format!("cannot read {}", self.last().display()))?;
        let best = candle_core::safetensors::load(self.best(), device)
            .with_context(|| format!("cannot read {}", self.best().display()))?;
        Ok((state, last, best))
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A training augmentation: one example in, its augmented copy out.
pub type Augment = fn(&[f32], &mut [f32], &mut Rng);

/// Weights by tensor name.
type Weights = HashMap<String, Tensor>;

/// Options of one [`fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub hyper: Hyper,
    pub seed: u64,
    /// Show progress bars (only honoured when stderr is a terminal).
    pub progress: bool,
    /// Print one line per epoch to stderr.
    pub verbose: bool,
    pub checkpoint: Option<Checkpoint>,
    pub resume: bool,
    /// Training augmentation applied to each example of a batch (CIFAR).
    pub augment: Option<Augment>,
    /// Stop every epoch after this many steps (quick runs and tests).
    pub max_steps_per_epoch: Option<usize>,
    /// Fraction of the training split held out for validation (at most 5,000 examples).
    pub val_fraction: f64,
    /// The model name and data task, recorded in the checkpoint key.
    pub model: String,
    pub data: String,
    /// Learn from a trained network's soft outputs as well as from the labels.
    pub distill: Option<Distill>,
    /// From this 1-based epoch on, the result is the running mean of the weights after
    /// each epoch (stochastic weight averaging, Izmailov et al. 2018), and every epoch's
    /// accuracies are the mean's: a flat region's centre often generalises better than
    /// the last point of the path (on the compressed UserID model it did not; README).
    pub average_from: Option<usize>,
    /// Blend every batch with a shuffled copy of itself, the weight drawn from
    /// Beta(alpha, alpha) ([`Mixing`]); `None` trains on the examples as they are.
    pub mixup: Option<f32>,
}

/// Knowledge distillation (Hinton et al. 2015): the loss mixes the label's cross-entropy
/// with the KL divergence from a teacher's softened outputs. A network cut down to 2 % of
/// its parameters learns the original's whole output distribution (which wrong digits a
/// 7 resembles) instead of one bit per example, and recovers more of its accuracy.
#[derive(Clone, Debug)]
pub struct Distill {
    /// One network, or an ensemble whose softened probabilities are averaged: several
    /// independently trained originals disagree where the data are ambiguous, which is
    /// exactly what a small student should not be over-confident about.
    pub teachers: Vec<std::sync::Arc<Net>>,
    /// Softmax temperature of both networks inside the KL term.
    pub temperature: f32,
    /// Weight of the KL term; the label term gets `1 - alpha`.
    pub alpha: f32,
}

impl Distill {
    /// `(1 - alpha) * CE(student, y) + alpha * T^2 * KL(teacher_T || student_T)`, averaged
    /// over the batch (the T^2 keeps the soft term's gradient scale independent of T).
    pub fn loss(&self, x: &Tensor, logits: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
        let hard = candle_nn::loss::cross_entropy(logits, y)?;
        self.mix(&hard, x, logits)
    }

    /// `(1 - alpha) * hard + alpha * T^2 * KL(teacher_T(x) || student_T)`.
    pub fn mix(&self, hard: &Tensor, x: &Tensor, logits: &Tensor) -> candle_core::Result<Tensor> {
        let t = self.temperature as f64;
        let log_pt = self.teacher_log_probabilities(x, t)?.detach();
        let log_ps = candle_nn::ops::log_softmax(&(logits / t)?, D::Minus1)?;
        let kl = (log_pt.exp()? * (log_pt - log_ps)?)?
            .sum(D::Minus1)?
            .mean_all()?;
        let a = self.alpha as f64;
        (hard * (1.0 - a))? + (kl * (a * t * t))?
    }

    /// Log of the teachers' mean softened probabilities (one teacher: its log-softmax).
    fn teacher_log_probabilities(&self, x: &Tensor, t: f64) -> candle_core::Result<Tensor> {
        let soft = |teacher: &Net| teacher.logits(&[x], false)? / t;
        match self.teachers.as_slice() {
            [] => candle_core::bail!("distillation needs at least one teacher"),
            [one] => candle_nn::ops::log_softmax(&soft(one)?, D::Minus1),
            many => {
                let mut sum = candle_nn::ops::softmax_last_dim(&soft(&many[0])?)?;
                for teacher in &many[1..] {
                    sum = (sum + candle_nn::ops::softmax_last_dim(&soft(teacher)?)?)?;
                }
                // Clamped so that a probability that underflowed to 0 gives no NaN.
                (sum / many.len() as f64)?.clamp(1e-30f32, 1.0f32)?.log()
            }
        }
    }
}

/// Mixup (Zhang et al. 2018): each batch is blended with a shuffled copy of itself,
/// `x = lambda * x + (1 - lambda) * x[perm]`, `lambda ~ Beta(alpha, alpha)`, and scored
/// against both label sets in the same proportion. With a teacher, the teacher sees
/// the same blend (Beyer et al. 2022, "a good teacher is patient and consistent"): the
/// student matches the original's function between the training examples as well as on
/// them, which is what a small network misses on data from a later time.
#[derive(Clone, Debug)]
pub struct Mixing {
    /// The other label of every example of the blended batch.
    pub other: Tensor,
    /// Weight of the batch's own examples and labels.
    pub lambda: f64,
}

impl Mixing {
    /// Draws `lambda` and a partner for every example; returns the blended batch and the
    /// mixing to score it with.
    pub fn draw(
        x: &Tensor,
        y: &Tensor,
        alpha: f32,
        rng: &mut Rng,
    ) -> candle_core::Result<(Tensor, Mixing)> {
        let n = x.dim(0)?;
        let lambda = rng.beta(alpha, alpha) as f64;
        let perm: Vec<u32> = rng.permutation(n).into_iter().map(|i| i as u32).collect();
        let perm = Tensor::from_vec(perm, n, x.device())?;
        let blended = ((x * lambda)? + (x.index_select(&perm, 0)? * (1.0 - lambda))?)?;
        let other = y.index_select(&perm, 0)?;
        Ok((blended, Mixing { other, lambda }))
    }
}

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

/// One optimisation step on a batch; returns the loss and the number of correct argmaxes.
pub fn train_step(
    net: &Net,
    opt: &mut AdamW,
    x: &Tensor,
    y: &Tensor,
    distill: Option<&Distill>,
    mixing: Option<&Mixing>,
) -> candle_core::Result<(f32, usize)> {
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
    opt.backward_step(&loss)?;
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
    Ok((loss.to_scalar::<f32>()?, correct as usize))
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

/// The validation split [`fit`] uses for a data set.
///
/// Random ([`split_validation`]) except for the accelerometer tasks (`har`, `userid`),
/// whose test split is the *later* part of every recording run: there a random sample of
/// 50 %-overlapping windows would be nearly a copy of the training windows and stop
/// training too early, so the validation windows are the last `fraction` of every run of
/// same-label windows in stored (time) order — a small version of the test split — with
/// the window before each of them dropped, as the loader drops windows straddling the
/// train/test boundary.
pub fn validation_split(ds: &Dataset, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let temporal = matches!(ds.name.as_str(), "har" | "userid");
    if !temporal || fraction <= 0.0 {
        return split_validation(ds.train_len(), fraction, seed);
    }
    let y = &ds.train_y;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < y.len() {
        let mut end = start + 1;
        while end < y.len() && y[end] == y[start] {
            end += 1;
        }
        let n_val = ((end - start) as f64 * fraction).round() as usize;
        if n_val == 0 || end - start < n_val + 2 {
            train.extend(start..end);
        } else {
            train.extend(start..end - n_val - 1);
            val.extend(end - n_val..end);
        }
        start = end;
    }
    (train, val)
}

/// Splits the training examples into (train, validation) index lists, seeded.
pub fn split_validation(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n_val = ((n as f64 * fraction) as usize)
        .min(5000)
        .min(n.saturating_sub(1));
    let mut perm = Rng::derive(seed, u64::MAX).permutation(n);
    let val = perm.split_off(n - n_val);
    perm.sort_unstable();
    let mut val = val;
    val.sort_unstable();
    (perm, val)
}

/// `mean += (x - mean) / n` for every tensor: the mean of `n` values from that of `n - 1`.
fn running_mean(mean: &mut Weights, x: &Weights, n: f64) -> Result<()> {
    for (name, m) in mean.iter_mut() {
        let v = x
            .get(name)
            .with_context(|| format!("weight `{name}` missing from the network"))?;
        *m = (&*m + ((v - &*m)? / n)?)?;
    }
    Ok(())
}

fn named_values(net: &Net) -> Weights {
    net.vars()
        .into_iter()
        .zip(net.info().params.iter().flatten())
        .map(|(v, s)| {
            (
                s.name.clone(),
                v.as_tensor()
                    .copy()
                    .unwrap_or_else(|_| v.as_tensor().clone()),
            )
        })
        .collect()
}

/// Trains `net` on `ds` and leaves the best epoch's weights in it.
pub fn fit(net: &Net, ds: &Dataset, opts: &FitOptions) -> Result<History> {
    let h = &opts.hyper;
    if ds.shape != net.info().input_shapes[0] {
        bail!(
            "the data's examples are {:?} but the model takes {:?}",
            ds.shape,
            net.info().input_shapes[0]
        );
    }
    if h.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let device = net.device().clone();
    let (train_idx, val_idx) = validation_split(ds, opts.val_fraction, opts.seed);
    if train_idx.is_empty() {
        bail!("the training split of `{}` is empty", ds.name);
    }
    let test_idx: Vec<usize> = (0..ds.test_len()).collect();
    let key = RunKey {
        model: opts.model.clone(),
        data: opts.data.clone(),
        seed: opts.seed,
        hyper_batch: h.batch,
        hyper_lr: h.lr,
        hyper_lr_decay: h.lr_decay,
        hyper_weight_decay: h.weight_decay,
        train_examples: ds.train_len(),
        dropout: net.dropout().unwrap_or(0.0),
        average_from: opts.average_from,
        mixup: opts.mixup,
    };
    if opts.average_from == Some(0) {
        bail!("--average-from counts epochs from 1");
    }
    if let Some(alpha) = opts.mixup {
        if !(alpha > 0.0 && alpha.is_finite()) {
            bail!("--mixup takes a Beta parameter above 0, got {alpha}");
        }
    }
    let steps = {
        let s = train_idx.len().div_ceil(h.batch);
        opts.max_steps_per_epoch.map_or(s, |m| s.min(m))
    };
    let mut history = History {
        curve_every: (steps / 20).max(1),
        ..History::default()
    };
    let mut best = named_values(net);
    let mut start_epoch = 0;
    if opts.resume {
        let ck = opts
            .checkpoint
            .as_ref()
            .context("--resume needs a checkpoint folder")?;
        let (state, last, best_w) = ck.load(&device)?;
        if state.key != key {
            bail!(
                "the checkpoint in {} was made with other settings ({:?}); resume with the same \
                 task, seed, batch, learning rate and data, or delete it to start over",
                ck.dir.display(),
                state.key
            );
        }
        net.set_tensors(&last)?;
        best = best_w;
        start_epoch = state.epochs_done;
        history = state.history;
        history.resumed_after = Some(start_epoch);
        if opts.verbose {
            eprintln!(
                "resuming after epoch {start_epoch} (best validation accuracy so far {:.4})",
                history.best_val_accuracy
            );
        }
    }
    let done_already = history.stopped_early || start_epoch >= h.epochs;
    let mut opt = AdamW::new(
        net.vars(),
        ParamsAdamW {
            lr: h.lr_at(start_epoch),
            weight_decay: h.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let show_bar = opts.progress && std::io::stderr().is_terminal();
    let shape = ds.shape.clone();
    let mut since_best = history.epochs.len().saturating_sub(history.best_epoch);
    let mut window = (0.0f64, 0usize);
    for epoch in start_epoch..h.epochs {
        if done_already {
            break;
        }
        let t0 = Instant::now();
        let lr = h.lr_at(epoch);
        opt.set_learning_rate(lr);
        // Each epoch's dropout masks depend only on the seed and the epoch (resumable).
        if let Some(p) = net.dropout() {
            net.set_dropout(p, Rng::derive(opts.seed ^ 0xD80F, epoch as u64).next_u64());
        }
        let mut rng = Rng::derive(opts.seed, epoch as u64);
        let mut order = train_idx.clone();
        rng.shuffle(&mut order);
        let bar = show_bar.then(|| {
            let b = indicatif::ProgressBar::new(steps as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(format!("{}/{}", epoch + 1, h.epochs));
            b
        });
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (s, chunk) in order.chunks(h.batch).take(steps).enumerate() {
            let x = match opts.augment {
                Some(f) => gather_augmented(&ds.train_x, &shape, chunk, f, &mut rng, &device)?,
                None => gather(&ds.train_x, &shape, chunk, &device)?,
            };
            let y = gather_labels(&ds.train_y, chunk, &device)?;
            let (x, mixing) = match opts.mixup {
                Some(alpha) => {
                    let (x, m) = Mixing::draw(&x, &y, alpha, &mut rng)?;
                    (x, Some(m))
                }
                None => (x, None),
            };
            let (loss, ok) = train_step(
                net,
                &mut opt,
                &x,
                &y,
                opts.distill.as_ref(),
                mixing.as_ref(),
            )?;
            if !loss.is_finite() {
                bail!(
                    "the training loss became {loss} at epoch {} step {s}; try a smaller --lr",
                    epoch + 1
                );
            }
            loss_sum += loss as f64 * chunk.len() as f64;
            correct += ok;
            seen += chunk.len();
            window.0 += loss as f64;
            window.1 += 1;
            if window.1 == history.curve_every {
                history.loss_curve.push(window.0 / window.1 as f64);
                window = (0.0, 0);
            }
            if let Some(b) = &bar {
                b.inc(1);
                if s % 10 == 0 {
                    b.set_message(format!("loss {:.4}", loss_sum / seen as f64));
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        // With weight averaging the model of this epoch is the running mean (kept in
        // `best` and the checkpoint, so a resumed run carries it on): it is what gets
        // evaluated, and training goes on from the raw weights.
        let averaged = match opts.average_from {
            Some(from) if epoch + 1 >= from => {
                let raw = named_values(net);
                let n = (epoch + 2 - from) as f64;
                if n > 1.0 {
                    running_mean(&mut best, &raw, n)?;
                } else {
                    best = raw.clone();
                }
                net.set_tensors(&best)?;
                Some(raw)
            }
            _ => None,
        };
        let val_accuracy = accuracy(net, &ds.train_x, &ds.train_y, &val_idx)?;
        let test_accuracy = accuracy(net, &ds.test_x, &ds.test_y, &test_idx)?;
        if let Some(raw) = &averaged {
            net.set_tensors(raw)?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        history.seconds += seconds;
        let rec = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_accuracy,
            test_accuracy,
            seconds,
        };
        // Without a validation split, the last epoch is the best.
        let better = averaged.is_some()
            || val_idx.is_empty()
            || history.best_epoch == 0
            || val_accuracy > history.best_val_accuracy;
        if better {
            history.best_epoch = epoch + 1;
            history.best_val_accuracy = val_accuracy;
            if averaged.is_none() {
                best = named_values(net);
            }
            since_best = 0;
        } else {
            since_best += 1;
        }
        if opts.verbose {
            eprintln!(
                "epoch {:>3}/{}  lr {:.2e}  loss {:.4}  train {:.4}  val {:.4}  test {:.4}  {:.1}s{}",
                rec.epoch,
                h.epochs,
                lr,
                rec.train_loss,
                rec.train_accuracy,
                val_accuracy,
                test_accuracy,
                seconds,
                if better { "  *" } else { "" }
            );
        }
        history.epochs.push(rec);
        if since_best >= h.patience && epoch + 1 < h.epochs {
            history.stopped_early = true;
        }
        if let Some(ck) = &opts.checkpoint {
            let state = CheckpointState {
                key: key.clone(),
                epochs_done: epoch + 1,
                history: history.clone(),
            };
            ck.save(net, &best, &state)?;
        }
        if history.stopped_early {
            if opts.verbose {
                eprintln!(
                    "early stop: no better validation accuracy for {} epochs",
                    h.patience
                );
            }
            break;
        }
    }
    net.set_tensors(&best)?;
    Ok(history)
}

/// The JSON report written beside a trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub data: String,
    pub data_root: String,
    pub file: String,
    pub seed: u64,
    pub hyper: Hyper,
    pub dropout: f32,
    pub threads: usize,
    pub params: usize,
    pub macs: u64,
    pub flops: u64,
    pub train_examples: usize,
    pub val_examples: usize,
    pub test_examples: usize,
    pub test_accuracy: f64,
    pub test_error: f64,
    pub val_accuracy: f64,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub wall_seconds: f64,
    pub history: History,
}

/// `deepiot train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// The model to train: mnist-lenet5, har-deepsense, userid-deepsense, speech-bilstm,
    /// cifar-vgg (or the data task: mnist, har, userid, speech, cifar10).
    #[arg(long)]
    pub task: String,
    /// Epochs (default per model: 12 for LeNet-5, 60 for DeepSense, 30 for VGG, 40 for the
    /// LSTM).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Batch size (default per model).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Initial learning rate (default per model).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate factor per epoch (default per model, e.g. 0.7 for LeNet-5).
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Epochs without a better validation accuracy before stopping.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Training-time dropout on the inputs of dense and recurrent layers (default per
    /// model: 0.3 for DeepSense and VGG, 0.2 for the LSTM, 0 for LeNet-5).
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Fraction of the training split held out to pick the best epoch and stop early (0:
    /// train on all of it and keep the last epoch).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// AdamW's decoupled weight decay (default per model).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Training augmentation: `default` (the model's: crop + flip for CIFAR, `drift` for
    /// the accelerometer, none otherwise), `none`, `jitter` (per-axis gain and noise), or
    /// `drift` (jitter plus per-axis offsets, for sensors that move on the body), or `shift`
    /// (MNIST: translations of up to 1 pixel).
    #[arg(long, default_value = "default")]
    pub augment: String,
    /// Data folder (default: $DEEPIOT_DATA, then ../shared/data, then the bundled MNIST subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Continue from the checkpoint in OUT.ckpt/ after an interruption.
    #[arg(long)]
    pub resume: bool,
    /// Use at most this many training examples (quick runs).
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Stop each epoch after this many steps (quick runs).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Start from this model file (its layers and weights) instead of a fresh zoo network:
    /// continues training, or fine-tunes a compressed model further.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// With --init: keep that model's layers (a compressed model's widths) but start from
    /// fresh random weights (seeded by --seed), to train a found architecture from scratch.
    #[arg(long, requires = "init")]
    pub reinit: bool,
    /// Average the weights from this epoch (1-based) to the last: the model written, and
    /// every accuracy printed from that epoch on, is the running mean of the weights after
    /// each epoch (stochastic weight averaging).
    #[arg(long, value_name = "EPOCH")]
    pub average_from: Option<usize>,
    /// Distil from this trained model: learn its softened outputs as well as the labels.
    /// Give it more than once to distil from an ensemble (the mean of their softened
    /// probabilities).
    #[arg(long, value_name = "MODEL")]
    pub teacher: Vec<PathBuf>,
    /// Mixup: blend every batch with a shuffled copy of itself, the weight drawn from
    /// Beta(ALPHA, ALPHA), and score it against both labels (and the teacher's view of
    /// the same blend). 0.2-1 are usual values.
    #[arg(long, value_name = "ALPHA", value_parser = crate::args::positive_f32)]
    pub mixup: Option<f32>,
    /// Weight of the teacher's term in the loss (with --teacher).
    #[arg(long, default_value_t = 0.7)]
    pub distill_alpha: f32,
    /// Softmax temperature of the teacher's term (with --teacher).
    #[arg(long, default_value_t = 4.0)]
    pub temperature: f32,
    /// Where the trained model goes; the report is written beside it (.report.json).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The path of the report beside a model file.
pub fn report_path(out: &Path) -> PathBuf {
    out.with_extension("report.json")
}

/// Number of threads candle's matmuls use.
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Loads the data set of a zoo model, applying `max_train`.
pub fn load_data(
    spec: &zoo::ModelSpec,
    root: Option<&Path>,
    max_train: Option<usize>,
) -> Result<(Dataset, DataRoot)> {
    let root = DataRoot::resolve_for(root, spec.data)?;
    let mut ds = data::load(spec.data, &root)
        .with_context(|| format!("loading the `{}` data for {}", spec.data, spec.name))?;
    if let Some(m) = max_train.filter(|&m| m < ds.train_len()) {
        // A seeded sample, not the first m (the first m may be sorted by class).
        let mut idx = Rng::derive(0x5eed, 0).permutation(ds.train_len());
        idx.truncate(m);
        idx.sort_unstable();
        let len = ds.example_len();
        ds.train_x = idx
            .iter()
            .flat_map(|&i| ds.train_x[i * len..(i + 1) * len].to_vec())
            .collect();
        ds.train_y = idx.iter().map(|&i| ds.train_y[i]).collect();
    }
    Ok((ds, root))
}

/// Accelerometer windows `[3, T, L]`: each axis scaled by a gain in [0.9, 1.1] (sensor
/// placement and calibration vary), plus uniform jitter of ±0.05 standard deviations.
fn jitter_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    let per = x.len() / 3;
    for (src, dst) in x.chunks(per.max(1)).zip(out.chunks_mut(per.max(1))) {
        let gain = rng.uniform(0.9, 1.1);
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s * gain + rng.uniform(-0.05, 0.05);
        }
    }
}

/// [`jitter_augment`] plus what a sensor that shifts on the body does over a session: a
/// per-axis gain in [0.8, 1.2] and a per-axis offset of up to ±0.3 standard deviations
/// (a change of orientation moves gravity between the axes).
fn drift_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    let per = x.len() / 3;
    for (src, dst) in x.chunks(per.max(1)).zip(out.chunks_mut(per.max(1))) {
        let gain = rng.uniform(0.8, 1.2);
        let offset = rng.uniform(-0.3, 0.3);
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s * gain + offset + rng.uniform(-0.05, 0.05);
        }
    }
}

/// Images `[C, 28, 28]` on a zero background, shifted by up to 1 pixel in each direction
/// (zeros fill in): handwriting is not centred to the pixel, and a network cut down to a
/// few thousand weights otherwise learns the training digits' exact positions. (Up to 2
/// pixels was worse for a 2 %-kept LeNet-5: held-out 98.76 % against 98.88 %.)
fn shift_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    const SIDE: usize = 28;
    let plane = SIDE * SIDE;
    let dy = (rng.next_u64() % 3) as isize - 1;
    let dx = (rng.next_u64() % 3) as isize - 1;
    for (src, dst) in x.chunks(plane).zip(out.chunks_mut(plane)) {
        for y in 0..SIDE as isize {
            for xx in 0..SIDE as isize {
                let (sy, sx) = (y + dy, xx + dx);
                let inside = (0..SIDE as isize).contains(&sy) && (0..SIDE as isize).contains(&sx);
                dst[(y * SIDE as isize + xx) as usize] = if inside {
                    src[(sy * SIDE as isize + sx) as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// The augmentation `--augment` names for a model.
pub fn augmentation(spec: &zoo::ModelSpec, which: &str) -> Result<Option<Augment>> {
    augment_named(augment_name(spec, which)?)
}

/// The concrete augmentation `--augment which` means for a model (`default` resolved):
/// `none`, `jitter`, `drift`, `shift` or `crop-flip`.
pub fn augment_name(spec: &zoo::ModelSpec, which: &str) -> Result<&'static str> {
    Ok(match which {
        "none" => "none",
        "jitter" => "jitter",
        "drift" => "drift",
        "shift" if spec.data == "mnist" => "shift",
        "shift" => bail!("--augment shift is for the 28x28 MNIST images"),
        "default" => match spec.data {
            "cifar10" => "crop-flip",
            "har" | "har_cross_participant" | "userid" => "drift",
            _ => "none",
        },
        other => bail!("--augment takes default, none, jitter, drift or shift, got `{other}`"),
    })
}

/// The augmentation function of a concrete name from [`augment_name`].
pub fn augment_named(name: &str) -> Result<Option<Augment>> {
    Ok(match name {
        "none" => None,
        "jitter" => Some(jitter_augment as Augment),
        "drift" => Some(drift_augment as Augment),
        "shift" => Some(shift_augment as Augment),
        "crop-flip" => Some(cifar_augment as Augment),
        other => bail!("unknown augmentation `{other}`"),
    })
}

fn cifar_augment(x: &[f32], out: &mut [f32], rng: &mut Rng) {
    data::cifar::augment_into(x, out, rng)
}

/// Makes glibc's malloc keep freed memory for reuse instead of returning it to the
/// system. A training step allocates and frees hundreds of tensors of 0.1-10 MB; with the
/// defaults each one is a fresh `mmap` (or a trimmed heap) that page-faults back in, which
/// measured 35-40 % of a LeNet-5 step. Process-wide; other allocators are left alone.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Fails unless `net` takes the data set's examples and has one output per class.
fn check_fits(net: &Net, ds: &Dataset, what: &str) -> Result<()> {
    let info = net.info();
    if info.input_shapes.first() != Some(&ds.shape) {
        bail!(
            "{what} takes inputs {:?}, but the `{}` examples are {:?}",
            info.input_shapes.first(),
            ds.name,
            ds.shape
        );
    }
    let out: usize = info
        .outputs
        .first()
        .map_or(0, |&s| info.shape_of(s).iter().product());
    if out != ds.num_classes() {
        bail!(
            "{what} has {out} outputs, but `{}` has {} classes",
            ds.name,
            ds.num_classes()
        );
    }
    Ok(())
}

/// Runs `deepiot train`.
pub fn run(args: &TrainArgs) -> Result<Report> {
    tune_malloc();
    let t0 = Instant::now();
    let spec = zoo::find(&args.task).with_context(|| {
        let names: Vec<&str> = zoo::MODELS.iter().map(|m| m.name).collect();
        format!(
            "unknown --task `{}`; known: {}",
            args.task,
            names.join(", ")
        )
    })?;
    let mut hyper = Hyper::for_model(spec.name);
    if let Some(e) = args.epochs {
        hyper.epochs = e;
    }
    if let Some(b) = args.batch {
        hyper.batch = b;
    }
    if let Some(lr) = args.lr {
        hyper.lr = lr;
    }
    if let Some(d) = args.lr_decay {
        hyper.lr_decay = d;
    }
    if let Some(w) = args.weight_decay {
        hyper.weight_decay = w;
    }
    if let Some(p) = args.patience {
        hyper.patience = p;
    }
    let (ds, root) = load_data(spec, args.data.as_deref(), args.max_train)?;
    eprintln!(
        "{}: {} train / {} test examples of {:?} from {} ({})",
        ds.name,
        ds.train_len(),
        ds.test_len(),
        ds.shape,
        root.path.display(),
        root.origin
    );
    let (net, init_prov) = match &args.init {
        Some(path) => {
            let (net, prov) =
                export::load(path).with_context(|| format!("loading --init {}", path.display()))?;
            let net = if args.reinit {
                Net::new(net.graph(), args.seed)?
            } else {
                net
            };
            (net, Some(prov))
        }
        None => {
            let mut graph =
                zoo::build(spec.name, &ds.shape, ds.num_classes()).map_err(anyhow::Error::msg)?;
            graph.classes = ds.classes.clone();
            (Net::new(&graph, args.seed)?, None)
        }
    };
    let graph = net.graph().clone();
    check_fits(&net, &ds, "the model")?;
    let distill = if args.teacher.is_empty() {
        None
    } else {
        if !(0.0..=1.0).contains(&args.distill_alpha) || args.temperature <= 0.0 {
            bail!("--distill-alpha must be in [0, 1] and --temperature above 0");
        }
        let mut teachers = Vec::with_capacity(args.teacher.len());
        for path in &args.teacher {
            let (teacher, _) = export::load(path)
                .with_context(|| format!("loading --teacher {}", path.display()))?;
            check_fits(&teacher, &ds, "--teacher")?;
            teachers.push(std::sync::Arc::new(teacher));
        }
        Some(Distill {
            teachers,
            temperature: args.temperature,
            alpha: args.distill_alpha,
        })
    };
    let dropout = args
        .dropout
        .unwrap_or_else(|| Hyper::dropout_for_model(spec.name));
    if !(0.0..0.9).contains(&args.val_fraction) {
        bail!(
            "--val-fraction must be in [0, 0.9), got {}",
            args.val_fraction
        );
    }
    if !(0.0..1.0).contains(&dropout) {
        bail!("--dropout must be in [0, 1), got {dropout}");
    }
    net.set_dropout(dropout, args.seed);
    let info = net.info().clone();
    let macs = info.total_macs(&graph);
    eprintln!(
        "{}: {} parameters, {} MACs per example; {} epochs, batch {}, lr {} x{}/epoch, \
         weight decay {}, dropout {dropout}, {} threads",
        spec.name,
        info.param_count(),
        macs,
        hyper.epochs,
        hyper.batch,
        hyper.lr,
        hyper.lr_decay,
        hyper.weight_decay,
        threads()
    );
    let opts = FitOptions {
        hyper: hyper.clone(),
        seed: args.seed,
        progress: true,
        verbose: true,
        checkpoint: Some(Checkpoint::beside(&args.out)),
        resume: args.resume,
        augment: augmentation(spec, &args.augment)?,
        max_steps_per_epoch: args.max_steps,
        val_fraction: args.val_fraction,
        model: spec.name.to_string(),
        data: spec.data.to_string(),
        distill,
        average_from: args.average_from,
        mixup: args.mixup,
    };
    let history = fit(&net, &ds, &opts)?;
    let (train_idx, val_idx) = validation_split(&ds, opts.val_fraction, args.seed);
    let test_accuracy = history.best_test_accuracy();
    let mut prov = init_prov.unwrap_or_default();
    prov.insert("task".to_string(), spec.name.to_string());
    prov.insert("data".to_string(), spec.data.to_string());
    prov.entry("method".to_string())
        .or_insert_with(|| "original".to_string());
    if !args.teacher.is_empty() {
        let names: Vec<String> = args
            .teacher
            .iter()
            .map(|t| t.display().to_string())
            .collect();
        prov.insert("teacher".to_string(), names.join(", "));
    }
    if let Some(alpha) = args.mixup {
        prov.insert("mixup".to_string(), alpha.to_string());
    }
    prov.insert("accuracy".to_string(), format!("{test_accuracy:.4}"));
    prov.insert(
        "val_accuracy".to_string(),
        format!("{:.4}", history.best_val_accuracy),
    );
    prov.insert("seed".to_string(), args.seed.to_string());
    prov.insert("epochs".to_string(), history.epochs.len().to_string());
    prov.insert("best_epoch".to_string(), history.best_epoch.to_string());
    prov.insert(
        "trainer".to_string(),
        "deepiot train (candle 0.11, AdamW)".to_string(),
    );
    export::save(&net, &prov, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let report = Report {
        model: spec.name.to_string(),
        data: spec.data.to_string(),
        data_root: root.path.display().to_string(),
        file: args.out.display().to_string(),
        seed: args.seed,
        hyper,
        dropout,
        threads: threads(),
        params: info.param_count(),
        macs,
        flops: 2 * macs,
        train_examples: train_idx.len(),
        val_examples: val_idx.len(),
        test_examples: ds.test_len(),
        test_accuracy,
        test_error: 1.0 - test_accuracy,
        val_accuracy: history.best_val_accuracy,
        best_epoch: history.best_epoch,
        epochs_run: history.epochs.len(),
        stopped_early: history.stopped_early,
        wall_seconds: t0.elapsed().as_secs_f64(),
        history,
    };
    let rp = report_path(&args.out);
    crate::paths::write_atomic(&rp, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", rp.display()))?;
    Checkpoint::beside(&args.out).remove();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: test accuracy {:.4} (error {:.2} %) at epoch {} of {}; {} parameters; {:.0} s training ({:.0} s wall)",
            spec.name,
            test_accuracy,
            100.0 * (1.0 - test_accuracy),
            report.best_epoch,
            report.epochs_run,
            report.params,
            report.history.seconds,
            report.wall_seconds
        );
        println!("wrote {} and {}", args.out.display(), rp.display());
    }
    Ok(report)
}

/// `deepiot eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The model file (.safetensors).
    pub model: PathBuf,
    /// The data task or zoo model (default: the `data` the file's provenance names).
    #[arg(long)]
    pub task: Option<String>,
    /// Data folder (as for `train`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Prints JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `deepiot eval`: test accuracy of a model file in the candle network.
pub fn eval(args: &EvalArgs) -> Result<f64> {
    tune_malloc();
    let (net, prov) = export::load(&args.model)?;
    let task = match (&args.task, prov.get("data")) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => bail!(
            "{} does not say which data it was trained on; give --task",
            args.model.display()
        ),
    };
    let data_task = zoo::find(&task).map(|m| m.data.to_string()).unwrap_or(task);
    let root = DataRoot::resolve_for(args.data.as_deref(), &data_task)?;
    let ds = data::load(&data_task, &root)?;
    if ds.shape != net.info().input_shapes[0] {
        bail!(
            "{} takes inputs {:?}, but `{data_task}` examples are {:?}",
            args.model.display(),
            net.info().input_shapes[0],
            ds.shape
        );
    }
    let t0 = Instant::now();
    let scores = predict(&net, &ds.test_x, 500)?;
    let secs = t0.elapsed().as_secs_f64();
    let classes = ds.num_classes();
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (row, &y) in scores.iter().zip(&ds.test_y) {
        let p = row
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 {
                    (i, v)
                } else {
                    best
                }
            })
            .0;
        confusion[y as usize][p.min(classes - 1)] += 1;
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let acc = correct as f64 / ds.test_len().max(1) as f64;
    let per_class: Vec<serde_json::Value> = (0..classes)
        .map(|c| {
            let n: usize = confusion[c].iter().sum();
            serde_json::json!({
                "class": ds.classes[c], "examples": n,
                "accuracy": confusion[c][c] as f64 / n.max(1) as f64,
            })
        })
        .collect();
    if args.json {
        let v = serde_json::json!({
            "model": args.model, "data": data_task, "test_examples": ds.test_len(),
            "test_accuracy": acc, "test_error": 1.0 - acc, "seconds": secs,
            "per_class": per_class, "confusion": confusion,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: test accuracy {acc:.4} (error {:.2} %) on {} `{data_task}` examples ({secs:.1} s)",
            args.model.display(),
            100.0 * (1.0 - acc),
            ds.test_len()
        );
        for (c, row) in confusion.iter().enumerate() {
            let n: usize = row.iter().sum();
            println!(
                "  {:<16} {:>6} examples  accuracy {:.4}",
                ds.classes[c],
                n,
                row[c] as f64 / n.max(1) as f64
            );
        }
    }
    Ok(acc)
}
