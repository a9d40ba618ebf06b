//! Magnitude pruning with splicing (DyNS, Guo et al. 2016), the paper's strongest
//! baseline, applied to dense, convolution and recurrent weight matrices (DyNS-Ext);
//! biases are kept.
//!
//! The network trains on masked weights `W ⊙ T`, while the gradient with respect to the
//! masked weights updates the full "shadow" weights `W`. A pruned weight whose shadow
//! value grows large again is spliced back in at the next mask update, which is what
//! lets DyNS recover from pruning too early. Every `mask_every` steps each layer's mask is
//! recomputed from magnitudes with two thresholds: below `a` pruned, above
//! `b = (1 + margin) a` kept, in between unchanged. The kept share of the weights falls
//! from 1 to the target over the first `ramp` of the pruning steps (Zhu and Gupta's cubic
//! schedule); the last mask is the exact top-k, and retraining with the mask fixed
//! follows. The result keeps its shapes and stores the pruned weights as exact zeros.
//!
//! One global threshold on raw magnitudes splits the budget across layers, each keeping at
//! least `min_density` of its weights. Large layers have small weights, so they lose the
//! most: on the trained LeNet-5 at 2 % this keeps conv1 56 %, conv2 3.8 %, fc1 1.8 % and
//! fc2 6 %, the profile DyNS reported. (Scaling magnitudes by `sqrt(fan_in)` first, to
//! undo the initialisation's scale, kept conv1 at 7 % already at 32 % overall, and the
//! network lost its features.)
use super::config::CompressConfig;
use super::method::{CompressionMethod, Found, Retrained};
use super::report::{is_weight_matrix, Counting};
use super::search::{SearchConfig, SearchOutcome};
use super::setup::{distill, Setup};
use crate::data::Dataset;
use crate::models::Net;
use crate::rng::Rng;
use crate::train::{self, gather, gather_labels, Distill};
use anyhow::{bail, Result};
use candle_core::{Tensor, Var};
use serde::Serialize;
use std::time::Instant;

/// Settings of one magnitude-pruning run, in optimiser steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MagnitudeConfig {
    /// Fraction of all parameters (biases included) to keep.
    pub target_kept: f64,
    pub prune_steps: usize,
    /// Fraction of `prune_steps` over which the kept share falls to the target.
    pub ramp: f64,
    pub mask_every: usize,
    pub splice_margin: f64,
    pub retrain_steps: usize,
    /// Retraining keeps the epoch with the best accuracy on the held-out examples and
    /// stops after this many epochs without a better one, as the structured methods'
    /// fine-tuning does ([`super::finetune::Schedule`]); 0 keeps the last epoch.
    pub patience: usize,
    /// Retraining decays the learning rate by `lr_decay` every `steps_per_epoch` steps.
    pub steps_per_epoch: usize,
    pub lr: f64,
    pub lr_decay: f64,
    pub batch: usize,
    pub min_density: f64,
    pub seed: u64,
}

impl Default for MagnitudeConfig {
    fn default() -> Self {
        MagnitudeConfig {
            target_kept: 0.02,
            prune_steps: 1000,
            ramp: 0.6,
            mask_every: 50,
            splice_margin: 0.1,
            retrain_steps: 500,
            patience: 0,
            steps_per_epoch: 500,
            lr: 0.002,
            lr_decay: 0.8,
            batch: 64,
            min_density: 0.01,
            seed: 1,
        }
    }
}

/// How sparse one weight matrix ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorDensity {
    pub name: String,
    pub kept: usize,
    pub total: usize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MagnitudeOutcome {
    pub tensors: Vec<TensorDensity>,
    /// Nonzero weights plus biases, and all parameters.
    pub kept_params: usize,
    pub total_params: usize,
    /// Pruned weights that a later mask update brought back (splicing at work).
    pub spliced: usize,
    pub mask_updates: usize,
    pub prune_seconds: f64,
    pub retrain_seconds: f64,
    /// Retraining epochs run, and the one kept (1-based; the last without held-out data).
    pub retrain_epochs: usize,
    pub best_epoch: usize,
    /// Held-out accuracy of the kept epoch (with held-out data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// The caller's score right after pruning, before retraining (the test split's with
    /// `--print-test`, else none: the test split is scored once, for the final model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_pruned: Option<f64>,
}

/// SGD with momentum on plain tensors (the shadow weights are not the network's
/// variables, so candle-nn's optimisers, which own their `Var`s, do not fit). DyNS used
/// SGD, and it matters: a pruned weight then moves in proportion to its gradient. Adam's
/// normalised steps moved every pruned weight at full speed: on LeNet-5 28,000 weights were
/// spliced back within 1,000 steps and the loss climbed to chance level.
struct Momentum {
    v: Vec<Tensor>,
}

impl Momentum {
    const MU: f64 = 0.9;

    fn new(params: &[Tensor]) -> candle_core::Result<Self> {
        Ok(Momentum {
            v: params
                .iter()
                .map(|p| p.zeros_like())
                .collect::<candle_core::Result<Vec<_>>>()?,
        })
    }

    /// The new value of parameter `i` after gradient `g`. Both results are detached:
    /// otherwise every step's tensors keep the previous step's alive through the
    /// autograd graph, and 60 retraining epochs of DeepSense grew to 23 GB.
    fn update(&mut self, i: usize, p: &Tensor, g: &Tensor, lr: f64) -> candle_core::Result<Tensor> {
        self.v[i] = ((&self.v[i] * Self::MU)? + g)?.detach();
        Ok((p - (&self.v[i] * lr)?)?.detach())
    }
}

/// One pruned weight matrix: its 0/1 mask and the magnitude scale of its layer.
struct Pruned {
    mask: Vec<f32>,
    tensor: Tensor,
    /// Magnitudes are compared across layers after multiplying by this (1: raw).
    scale: f32,
    min_keep: usize,
}

/// Trains a network on masked weights while updating full shadow weights.
struct Trainer<'a> {
    net: &'a Net,
    names: Vec<String>,
    vars: Vec<Var>,
    shadow: Vec<Tensor>,
    pruned: Vec<Option<Pruned>>,
    opt: Momentum,
}

impl<'a> Trainer<'a> {
    fn new(net: &'a Net, min_density: f64) -> Result<Self> {
        let vars = net.vars();
        let specs: Vec<_> = net.info().params.iter().flatten().cloned().collect();
        let shadow = vars
            .iter()
            .map(|v| v.as_tensor().copy())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut pruned = Vec::new();
        for (spec, t) in specs.iter().zip(&shadow) {
            pruned.push(if is_weight_matrix(&spec.name) && spec.shape.len() >= 2 {
                let n = spec.len();
                Some(Pruned {
                    mask: vec![1.0; n],
                    tensor: t.ones_like()?,
                    scale: 1.0,
                    min_keep: ((min_density * n as f64).ceil() as usize).clamp(1, n),
                })
            } else {
                None
            });
        }
        Ok(Trainer {
            net,
            names: specs.into_iter().map(|s| s.name).collect(),
            opt: Momentum::new(&shadow)?,
            vars,
            shadow,
            pruned,
        })
    }

    /// Puts `W ⊙ T` (or `W` for unpruned tensors) into the network.
    fn publish(&self) -> candle_core::Result<()> {
        for ((v, w), p) in self.vars.iter().zip(&self.shadow).zip(&self.pruned) {
            match p {
                Some(p) => v.set(&w.mul(&p.tensor)?)?,
                None => v.set(w)?,
            }
        }
        Ok(())
    }

    /// One step on a batch; with `fixed`, pruned weights get no gradient (retraining).
    fn step(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        lr: f64,
        fixed: bool,
        distill: Option<&Distill>,
    ) -> Result<f32> {
        self.publish()?;
        let logits = self.net.logits(&[x], true)?;
        let loss = match distill {
            Some(d) => d.loss(x, &logits, y)?,
            None => candle_nn::loss::cross_entropy(&logits, y)?,
        };
        let grads = loss.backward()?;
        for i in 0..self.vars.len() {
            let Some(g) = grads.get(self.vars[i].as_tensor()) else {
                continue;
            };
            let g = match (&self.pruned[i], fixed) {
                (Some(p), true) => g.mul(&p.tensor)?,
                _ => g.clone(),
            };
            self.shadow[i] = self.opt.update(i, &self.shadow[i], &g, lr)?;
        }
        Ok(loss.to_scalar::<f32>()?)
    }

    /// Magnitude scores of every pruned tensor (`None` for the others).
    fn scores(&self) -> Result<Vec<Option<Vec<f32>>>> {
        self.shadow
            .iter()
            .zip(&self.pruned)
            .map(|(w, p)| {
                Ok(match p {
                    Some(p) => Some(
                        w.flatten_all()?
                            .to_vec1::<f32>()?
                            .into_iter()
                            .map(|v| v.abs() * p.scale)
                            .collect(),
                    ),
                    None => None,
                })
            })
            .collect()
    }

    /// Recomputes the masks so that about `keep_weights` weights stay; `exact` keeps the
    /// top-k of every layer, otherwise the splicing hysteresis applies. Returns how many
    /// pruned weights came back.
    fn update_masks(&mut self, keep_weights: usize, margin: f64, exact: bool) -> Result<usize> {
        let scores = self.scores()?;
        let sorted: Vec<Option<Vec<f32>>> = scores
            .iter()
            .map(|s| {
                s.as_ref().map(|s| {
                    let mut v = s.clone();
                    v.sort_unstable_by(|a, b| b.total_cmp(a));
                    v
                })
            })
            .collect();
        let floors: Vec<usize> = self
            .pruned
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| p.min_keep))
            .collect();
        let counts = allocate(&sorted, &floors, keep_weights);
        let mut spliced = 0;
        for (i, p) in self.pruned.iter_mut().enumerate() {
            let (Some(p), Some(s), Some(sorted)) = (p.as_mut(), &scores[i], &sorted[i]) else {
                continue;
            };
            let k = counts[i];
            if exact {
                // Top-k by rank, ties broken by position, so exactly k stay.
                let mut order: Vec<usize> = (0..s.len()).collect();
                order.sort_unstable_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
                p.mask.iter_mut().for_each(|m| *m = 0.0);
                for &j in &order[..k] {
                    p.mask[j] = 1.0;
                }
            } else {
                let a = if k == 0 { f32::INFINITY } else { sorted[k - 1] };
                let b = a * (1.0 + margin as f32);
                for (m, &v) in p.mask.iter_mut().zip(s) {
                    if v < a {
                        *m = 0.0;
                    } else if v >= b && *m == 0.0 {
                        *m = 1.0;
                        spliced += 1;
                    }
                }
            }
            p.tensor = Tensor::from_vec(
                p.mask.clone(),
                self.shadow[i].dims(),
                self.shadow[i].device(),
            )?;
        }
        Ok(spliced)
    }

    fn densities(&self) -> Vec<TensorDensity> {
        self.names
            .iter()
            .zip(&self.pruned)
            .filter_map(|(n, p)| {
                p.as_ref().map(|p| TensorDensity {
                    name: n.clone(),
                    kept: p.mask.iter().filter(|m| **m != 0.0).count(),
                    total: p.mask.len(),
                })
            })
            .collect()
    }
}

/// Per-tensor kept counts: the largest scores above one global threshold, at least
/// `floors[i]`, at most `budget` in total (unless the floors alone exceed it).
fn allocate(sorted: &[Option<Vec<f32>>], floors: &[usize], budget: usize) -> Vec<usize> {
    let count = |t: f32| -> Vec<usize> {
        sorted
            .iter()
            .zip(floors)
            .map(|(s, &f)| match s {
                // Scores are sorted descending: the number above t.
                Some(s) => s.partition_point(|&v| v > t).max(f).min(s.len()),
                None => 0,
            })
            .collect()
    };
    let total = |c: &[usize]| c.iter().sum::<usize>();
    let max = sorted
        .iter()
        .flatten()
        .filter_map(|s| s.first().copied())
        .fold(0.0f32, f32::max);
    if total(&count(-1.0)) <= budget {
        return count(-1.0);
    }
    let (mut lo, mut hi) = (-1.0f32, max);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if total(&count(mid)) <= budget {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    count(hi)
}

/// Kept share of the prunable weights at `step` (cubic from 1 down to `end`).
fn scheduled_density(step: usize, ramp_steps: usize, end: f64) -> f64 {
    let f = (step as f64 / ramp_steps.max(1) as f64).min(1.0);
    end + (1.0 - end) * (1.0 - f).powi(3)
}

/// Prunes `net` in place with splicing, then retrains it with the mask fixed. The
/// network ends with its pruned weights at exactly zero. `eval` scores the network right
/// after pruning (the figure before retraining). With `val_idx` and a patience, the
/// retraining keeps its best epoch on those held-out training examples and stops early.
pub fn prune(
    net: &Net,
    ds: &Dataset,
    train_idx: &[usize],
    val_idx: &[usize],
    cfg: &MagnitudeConfig,
    distill: Option<&Distill>,
    eval: &mut dyn FnMut(&Net) -> Result<Option<f64>>,
) -> Result<MagnitudeOutcome> {
    if train_idx.is_empty() || cfg.batch == 0 {
        bail!("magnitude pruning needs training examples and a batch of at least 1");
    }
    let mut tr = Trainer::new(net, cfg.min_density)?;
    let total_params: usize = tr.shadow.iter().map(|t| t.elem_count()).sum();
    let prunable: usize = tr.pruned.iter().flatten().map(|p| p.mask.len()).sum();
    let fixed = total_params - prunable;
    let budget = ((cfg.target_kept * total_params as f64).floor() as usize).saturating_sub(fixed);
    let end = budget as f64 / prunable.max(1) as f64;
    let ramp_steps = (cfg.ramp * cfg.prune_steps as f64).round() as usize;
    let dev = net.device().clone();
    let mut order: Vec<usize> = Vec::new();
    let mut epoch = 0u64;
    let mut next_batch = |order: &mut Vec<usize>| -> Vec<usize> {
        if order.len() < cfg.batch {
            let perm = Rng::derive(cfg.seed ^ 0x6d61_676e, epoch).permutation(train_idx.len());
            epoch += 1;
            order.extend(perm.into_iter().map(|i| train_idx[i]));
        }
        order.drain(..cfg.batch.min(order.len())).collect()
    };
    let t0 = Instant::now();
    let (mut spliced, mut updates) = (0usize, 0usize);
    let mut loss_sum = 0.0f64;
    let report_every = (cfg.prune_steps / 10).max(1);
    for step in 0..cfg.prune_steps {
        if step % cfg.mask_every.max(1) == 0 && step > 0 {
            let d = scheduled_density(step, ramp_steps, end);
            let keep = (d * prunable as f64).round() as usize;
            spliced += tr.update_masks(keep.max(budget), cfg.splice_margin, false)?;
            updates += 1;
        }
        let b = next_batch(&mut order);
        let x = gather(&ds.train_x, &ds.shape, &b, &dev)?;
        let y = gather_labels(&ds.train_y, &b, &dev)?;
        loss_sum += tr.step(&x, &y, cfg.lr, false, distill)? as f64;
        if (step + 1) % report_every == 0 {
            let kept: usize = tr.densities().iter().map(|d| d.kept).sum();
            eprintln!(
                "magnitude: step {}/{}  loss {:.4}  weights kept {:.2} %  spliced back {}",
                step + 1,
                cfg.prune_steps,
                loss_sum / report_every as f64,
                100.0 * kept as f64 / prunable.max(1) as f64,
                spliced
            );
            loss_sum = 0.0;
        }
    }
    tr.update_masks(budget, cfg.splice_margin, true)?;
    updates += 1;
    tr.publish()?;
    let prune_seconds = t0.elapsed().as_secs_f64();
    let accuracy_pruned = eval(net)?;
    eprintln!(
        "magnitude: pruned to {} of {} weights in {:.0} s{}",
        tr.densities().iter().map(|d| d.kept).sum::<usize>(),
        prunable,
        prune_seconds,
        accuracy_pruned.map_or(String::new(), |a| format!(
            ", test accuracy {:.2} % before retraining",
            100.0 * a
        ))
    );

    let t1 = Instant::now();
    let mut loss_sum = 0.0f64;
    let per_epoch = cfg.steps_per_epoch.max(1);
    let chosen = cfg.patience > 0 && !val_idx.is_empty();
    let (mut best, mut best_epoch, mut epochs) = (None::<(f64, Vec<Tensor>)>, 0, 0);
    for step in 0..cfg.retrain_steps {
        let lr = cfg.lr * cfg.lr_decay.powi((step / per_epoch) as i32);
        let b = next_batch(&mut order);
        let x = gather(&ds.train_x, &ds.shape, &b, &dev)?;
        let y = gather_labels(&ds.train_y, &b, &dev)?;
        loss_sum += tr.step(&x, &y, lr, true, distill)? as f64;
        if (step + 1) % per_epoch == 0 || step + 1 == cfg.retrain_steps {
            epochs += 1;
            let n = (step % per_epoch) + 1;
            let mut line = format!(
                "magnitude: retraining epoch {epochs} (step {}/{})  lr {lr:.2e}  loss {:.4}",
                step + 1,
                cfg.retrain_steps,
                loss_sum / n as f64
            );
            loss_sum = 0.0;
            if chosen {
                tr.publish()?;
                let acc = train::accuracy(net, &ds.train_x, &ds.train_y, val_idx)?;
                let better = best.as_ref().is_none_or(|(b, _)| acc > *b);
                line += &format!("  val {:.4}{}", acc, if better { "  *" } else { "" });
                if better {
                    best = Some((acc, tr.shadow.clone()));
                    best_epoch = epochs;
                }
            }
            eprintln!("{line}");
            if chosen && epochs - best_epoch >= cfg.patience && step + 1 < cfg.retrain_steps {
                eprintln!(
                    "magnitude: no better held-out accuracy for {} epochs; keeping epoch {best_epoch}",
                    cfg.patience
                );
                break;
            }
        }
    }
    let val_accuracy = match best {
        Some((acc, shadow)) => {
            tr.shadow = shadow;
            Some(acc)
        }
        None => {
            best_epoch = epochs;
            None
        }
    };
    tr.publish()?;
    let tensors = tr.densities();
    let kept_params = fixed + tensors.iter().map(|d| d.kept).sum::<usize>();
    Ok(MagnitudeOutcome {
        tensors,
        kept_params,
        total_params,
        spliced,
        mask_updates: updates,
        prune_seconds,
        retrain_seconds: t1.elapsed().as_secs_f64(),
        retrain_epochs: epochs,
        best_epoch,
        val_accuracy,
        accuracy_pruned,
    })
}

/// `deepiot compress --method magnitude`.
pub struct MagnitudePruning;

impl CompressionMethod for MagnitudePruning {
    fn compress(&self, setup: &Setup, cfg: &CompressConfig) -> Result<Found> {
        // The held-out examples that pick the structured methods' fine-tuning epoch pick
        // this retraining's epoch too, so that every method is chosen the same way.
        let (train_idx, val_idx) = train::validation_split(&setup.ds, 0.1, cfg.seed);
        let steps_per_epoch = train_idx.len().div_ceil(cfg.batch.max(1));
        let schedule = super::finetune::Schedule::of(cfg, &setup.recipe);
        let patience = match schedule.val_fraction > 0.0 {
            true => schedule.patience,
            false => 0,
        };
        let m = &cfg.magnitude;
        let config = MagnitudeConfig {
            target_kept: cfg.target_kept,
            prune_steps: (m.prune_epochs * steps_per_epoch as f64).round() as usize,
            ramp: m.ramp,
            mask_every: m.mask_every,
            splice_margin: m.splice_margin,
            retrain_steps: schedule.epochs * steps_per_epoch,
            patience,
            steps_per_epoch,
            lr: m.prune_lr,
            lr_decay: schedule.lr_decay,
            batch: cfg.batch,
            seed: cfg.seed,
            ..MagnitudeConfig::default()
        };
        let distill = distill(cfg, &setup.recipe)?;
        // Pruned in place: a copy, so that the original stays as it is.
        let net = Net::from_weights(setup.net.graph(), &setup.net.weights()?)?;
        let mut eval = |n: &Net| -> Result<Option<f64>> {
            match cfg.print_test {
                true => Ok(Some(setup.test_accuracy(n)?)),
                false => Ok(None),
            }
        };
        let outcome = prune(
            &net,
            &setup.ds,
            &train_idx,
            &val_idx,
            &config,
            distill.as_ref(),
            &mut eval,
        )?;
        let steps = config.prune_steps + config.retrain_steps;
        Ok(Found {
            net,
            counting: Counting::Nonzero,
            search: SearchOutcome::of_pruning(
                vec![],
                steps,
                outcome.prune_seconds,
                setup.acc_before,
            ),
            search_config: SearchConfig::of_pruning(cfg),
            retrained: Some(Retrained {
                accuracy_before: outcome.accuracy_pruned,
                seconds: outcome.retrain_seconds,
            }),
            details: Some(serde_json::json!({ "config": config, "outcome": outcome })),
            sparse_copy: Some(m.sparse_max_density),
            provenance: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use deepiot_format::{Graph, Op};

    /// DyNS's two halves: pruned weights keep receiving gradient updates while the mask
    /// is being learnt (so they can grow), and a pruned weight whose magnitude climbs
    /// past the keep threshold by the margin is spliced back, while one that only
    /// reaches the threshold stays out (the hysteresis).
    #[test]
    fn pruned_weights_keep_learning_and_are_spliced_back_when_they_grow() {
        let mut g = Graph::new("x", &[6]);
        g.push("fc1", Op::Dense { units: 4 });
        let net = Net::new(&g, 3).unwrap();
        let mut tr = Trainer::new(&net, 0.0).unwrap();
        assert_eq!(tr.names[0], "fc1.weight");
        tr.update_masks(12, 0.1, true).unwrap();
        let mask = tr.pruned[0].as_ref().unwrap().mask.clone();
        let pruned: Vec<usize> = (0..mask.len()).filter(|&j| mask[j] == 0.0).collect();
        assert_eq!(pruned.len(), 12);

        // A training step before the mask is fixed moves the pruned weights too.
        let before = tr.shadow[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let x = Tensor::new(&[[1f32, -2.0, 0.5, 3.0, -1.0, 2.0]; 2], &Device::Cpu).unwrap();
        let y = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
        tr.step(&x, &y, 0.5, false, None).unwrap();
        let after = tr.shadow[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            pruned.iter().any(|&j| after[j] != before[j]),
            "no pruned weight was updated"
        );
        // What the network computes with is W ⊙ mask: pruned weights are exact zeros.
        tr.step(&x, &y, 0.5, true, None).unwrap();
        tr.publish().unwrap();
        let used = tr.vars[0]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(pruned.iter().all(|&j| used[j] == 0.0));
        let fixed = tr.shadow[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();

        // One pruned weight grows far past the threshold, another just to it.
        let mut w = fixed.clone();
        let threshold = {
            let mut kept: Vec<f32> = (0..w.len())
                .filter(|&j| mask[j] == 1.0)
                .map(|j| w[j].abs())
                .collect();
            kept.sort_unstable_by(|a, b| b.total_cmp(a));
            kept[11]
        };
        let (grown, borderline) = (pruned[0], pruned[1]);
        w[grown] = 10.0 * threshold.max(1.0);
        w[borderline] = threshold * 1.01;
        tr.shadow[0] = Tensor::from_vec(w, tr.shadow[0].dims(), &Device::Cpu).unwrap();
        let spliced = tr.update_masks(12, 0.1, false).unwrap();
        let mask = &tr.pruned[0].as_ref().unwrap().mask;
        assert!(spliced >= 1, "nothing was spliced back");
        assert_eq!(mask[grown], 1.0, "the grown weight was not spliced back");
        assert_eq!(
            mask[borderline], 0.0,
            "within the margin a weight stays pruned"
        );
    }

    #[test]
    fn momentum_steps_do_not_chain_autograd_graphs() {
        let var = Var::new(&[1f32, 2.0], &Device::Cpu).unwrap();
        let mut m = Momentum::new(&[var.as_tensor().clone()]).unwrap();
        let g = (var.as_tensor() * 2.0).unwrap();
        assert!(g.track_op(), "the gradient stand-in must carry a graph");
        let mut p = var.as_tensor().clone();
        for _ in 0..2 {
            p = m.update(0, &p, &g, 0.1).unwrap();
        }
        assert!(!p.track_op() && !m.v[0].track_op());
        // v1 = g, v2 = 0.9 g + g; p = p0 - 0.1 (v1 + v2) = p0 - 0.29 g.
        let got = p.to_vec1::<f32>().unwrap();
        assert!((got[0] - (1.0 - 0.29 * 2.0)).abs() < 1e-6, "{got:?}");
        assert!((got[1] - (2.0 - 0.29 * 4.0)).abs() < 1e-6, "{got:?}");
    }
}
