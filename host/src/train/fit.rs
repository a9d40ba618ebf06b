//! The training loop: epochs of seeded batches through AdamW, validation after each
//! epoch for the best weights and early stopping, optional weight averaging, and a
//! checkpoint per epoch that a later process can resume from.
use super::adamw::{AdamParams, AdamW};
use super::batch::{accuracy, gather, gather_augmented, gather_labels};
use super::checkpoint::{Checkpoint, CheckpointState, RunKey};
use super::config::Hyper;
use super::distill::Distill;
pub use super::history::{EpochRecord, History};
use super::mixup::Mixing;
use super::step::train_step;
use super::validation::validation_split;
use crate::data::augment::Augment;
use crate::data::Dataset;
use crate::models::Net;
use crate::models::Tensors;
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::time::Instant;

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
    /// Score the test split after every epoch as well (`--print-test`, exploration only:
    /// nothing here chooses by it).
    pub print_test: bool,
}

/// `mean += (x - mean) / n` for every tensor: the mean of `n` values from that of `n - 1`.
fn running_mean(mean: &mut Tensors, x: &Tensors, n: f64) -> Result<()> {
    for (name, m) in mean.iter_mut() {
        let v = x
            .get(name)
            .with_context(|| format!("weight `{name}` missing from the network"))?;
        *m = (&*m + ((v - &*m)? / n)?)?;
    }
    Ok(())
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
    let mut best = net.snapshot()?;
    let mut start_epoch = 0;
    let mut opt = AdamW::for_net(
        net,
        AdamParams {
            lr: h.lr,
            weight_decay: h.weight_decay,
            ..AdamParams::default()
        },
    );
    let mut window = (0.0f64, 0usize);
    if opts.resume {
        let ck = opts
            .checkpoint
            .as_ref()
            .context("--resume needs a checkpoint folder")?;
        let saved = ck.load()?;
        if saved.state.key != key {
            bail!(
                "the checkpoint {} was made with other settings ({:?}); resume with the same \
                 task, seed, batch, learning rate and data, or delete it to start over",
                ck.file.display(),
                saved.state.key
            );
        }
        net.set_tensors(&saved.last)?;
        best = saved.best;
        opt.restore(
            &saved.optimizer,
            Checkpoint::optimizer_prefix(),
            saved.state.optimizer_steps,
        )?;
        window = saved.state.loss_window;
        start_epoch = saved.state.epochs_done;
        history = saved.state.history;
        history.resumed_after = Some(start_epoch);
        if opts.verbose {
            eprintln!(
                "resuming after epoch {start_epoch} (best validation accuracy so far {:.4})",
                history.best_val_accuracy
            );
        }
    }
    let done_already = history.stopped_early || start_epoch >= h.epochs;
    let show_bar = opts.progress && std::io::stderr().is_terminal();
    let shape = ds.shape.clone();
    let mut since_best = history.epochs.len().saturating_sub(history.best_epoch);
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
                let raw = net.snapshot()?;
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
        let test_accuracy = if opts.print_test {
            Some(accuracy(net, &ds.test_x, &ds.test_y, &test_idx)?)
        } else {
            None
        };
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
                best = net.snapshot()?;
            }
            since_best = 0;
        } else {
            since_best += 1;
        }
        if opts.verbose {
            eprintln!(
                "epoch {:>3}/{}  lr {:.2e}  loss {:.4}  train {:.4}  val {}{}  {:.1}s{}",
                rec.epoch,
                h.epochs,
                lr,
                rec.train_loss,
                rec.train_accuracy,
                // Without a validation split there is nothing to show (not a score of 0).
                if val_idx.is_empty() {
                    "-".to_string()
                } else {
                    format!("{val_accuracy:.4}")
                },
                test_accuracy.map_or(String::new(), |t| format!("  test {t:.4}")),
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
                optimizer_steps: opt.steps(),
                loss_window: window,
            };
            ck.save(net, &best, &opt, &state)?;
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
