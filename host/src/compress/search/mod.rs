//! The compressor-critic search: each iteration one critic step (the network learns to
//! work under sampled masks) and one compressor step (REINFORCE moves the keep
//! probabilities), with compounding soft deletion and a rising threshold tau.
//!
//! Every evaluation scores the network that really remains: the fixed mask
//! `z = 1[p > tau]` applied in full (the cut model computes exactly this), never
//! activations scaled by soft probabilities, which reported 99 % for networks that were
//! at 13-54 % once cut in the reference re-implementation.
mod checkpoint;
mod outcome;

use crate::compress::compressor::{
    reinforce_objective, sample_masks, Baseline, Compressor, SoftDeletion,
};
use crate::compress::cost::{CostModel, Priced};
use crate::compress::latency_cost::LatencyCost;
use crate::compress::masks::{weight_views, MaskPlan};
use crate::compress::sites::SiteMap;
use crate::compress::surgery::cut;
use crate::data::Dataset;
use crate::models::Weights;
use crate::models::{Net, NodeMasks};
use crate::rng::Rng;
use crate::train::{
    gather, gather_augmented, gather_labels, should_split, split_batch, AdamParams, AdamW, Shard,
};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
pub use checkpoint::search_checkpoint;
use checkpoint::{load_checkpoint, save_checkpoint, Ended, Hold, State};
use deepiot_format::{Graph, Op};
pub use outcome::{Evaluation, RuleGap, SearchConfig, SearchLimit, SearchOutcome, SizePressure};

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// Parameters of the model that the keep mask leaves.
pub fn kept_params(graph: &Graph, weights: &Weights, keep: &[Vec<bool>]) -> Result<usize> {
    let (_, w) = cut(graph, weights, keep)?;
    Ok(w.values().map(|(s, _)| s.iter().product::<usize>()).sum())
}

fn masks_tensor(rows: &[f32], batch: usize, n: usize) -> candle_core::Result<Tensor> {
    Tensor::from_vec(rows.to_vec(), (batch, n), &Device::Cpu)
}

/// The fixed mask of the current state: `p_eff > tau`, at least one element per group.
fn fixed_mask(p_eff: &[Vec<f32>], tau: f64) -> Vec<Vec<bool>> {
    p_eff
        .iter()
        .map(|p| {
            let mut k: Vec<bool> = p.iter().map(|&q| q as f64 > tau).collect();
            if !k.iter().any(|&b| b) {
                let best = p
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, &q)| if q > p[b] { i } else { b });
                k[best] = true;
            }
            k
        })
        .collect()
}

/// Per-site masks from per-group masks.
fn per_site(map: &SiteMap, group_keep: &[Vec<bool>]) -> Vec<Vec<bool>> {
    let g = map.group_of();
    (0..map.sites.len())
        .map(|s| group_keep[g[s]].clone())
        .collect()
}

/// Accuracy on `idx` with fixed group masks (or none).
pub fn masked_accuracy(
    net: &Net,
    plan: Option<&MaskPlan>,
    group_keep: Option<&[Vec<bool>]>,
    ds: &Dataset,
    idx: &[usize],
) -> Result<f64> {
    let dev = Device::Cpu;
    let mut correct = 0usize;
    for chunk in idx.chunks(500) {
        let x = gather(&ds.train_x, &ds.shape, chunk, &dev)?;
        let y = gather_labels(&ds.train_y, chunk, &dev)?;
        let masks = match (plan, group_keep) {
            (Some(plan), Some(keep)) => Some(fixed_node_masks(plan, keep, chunk.len())?),
            _ => None,
        };
        let p = net
            .logits_masked(&[&x], false, masks.as_ref())?
            .argmax(D::Minus1)?;
        correct += p
            .eq(&y)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()? as usize;
    }
    Ok(correct as f64 / idx.len().max(1) as f64)
}

fn fixed_node_masks(plan: &MaskPlan, keep: &[Vec<bool>], batch: usize) -> Result<NodeMasks> {
    let groups = keep
        .iter()
        .map(|k| {
            let row: Vec<f32> = k.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
            let all: Vec<f32> = (0..batch).flat_map(|_| row.iter().copied()).collect();
            masks_tensor(&all, batch, k.len())
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(plan.expand(&groups)?)
}

/// Per-example cross-entropy of logits `[B, C]` against labels `[B]`.
fn per_example_loss(logits: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?.neg()
}

/// Masks and rows sampled for a compressor step, and each example's loss under them.
type Sampled = (Vec<Vec<f32>>, Vec<Tensor>, Vec<f32>);

/// The reference code's compressor batch (`--fresh-compressor-batch`): `batch` fresh
/// training examples under freshly sampled masks, forwarded once more without dropout,
/// the two halves on two threads when a training step splits too.
fn fresh_losses(
    net: &Net,
    plan: &MaskPlan,
    ds: &Dataset,
    train: &[usize],
    p_v: &[Vec<f32>],
    rng: &mut Rng,
    batch: usize,
) -> Result<Sampled> {
    let dev = Device::Cpu;
    let idx: Vec<usize> = (0..batch).map(|_| train[rng.below(train.len())]).collect();
    let rows: Vec<Vec<f32>> = p_v.iter().map(|p| sample_masks(p, batch, rng)).collect();
    let z: Vec<Tensor> = rows
        .iter()
        .zip(p_v)
        .map(|(r, p)| masks_tensor(r, batch, p.len()))
        .collect::<candle_core::Result<_>>()?;
    let x = gather(&ds.train_x, &ds.shape, &idx, &dev)?;
    let y = gather_labels(&ds.train_y, &idx, &dev)?;
    let losses = |start: usize, len: usize| -> Result<Vec<f32>> {
        let zs: Vec<Tensor> = z
            .iter()
            .map(|z| z.narrow(0, start, len))
            .collect::<candle_core::Result<_>>()?;
        let logits = net.logits_masked(
            &[&x.narrow(0, start, len)?],
            false,
            Some(&plan.expand(&zs)?),
        )?;
        Ok(per_example_loss(&logits, &y.narrow(0, start, len)?)?.to_vec1()?)
    };
    let l = match should_split(batch) {
        true => {
            let (a, b) = rayon::join(
                || losses(0, batch / 2),
                || losses(batch / 2, batch - batch / 2),
            );
            let mut a = a?;
            a.extend(b?);
            a
        }
        false => losses(0, batch)?,
    };
    Ok((rows, z, l))
}

/// Runs the search on `net` (whose weights it trains as the critic). `val` are training
/// examples held out for the stopping rule. Progress goes to stderr.
pub fn search(
    net: &Net,
    ds: &Dataset,
    train: &[usize],
    val: &[usize],
    cfg: &SearchConfig,
    checkpoint: Option<&Path>,
    resume: bool,
) -> Result<SearchOutcome> {
    let graph = net.graph().clone();
    let info = net.info().clone();
    let map = SiteMap::with_info(&graph, &info)?;
    if map.sites.is_empty() {
        bail!("the model has no compressible layer (only the classifier has weights)");
    }
    let plan = MaskPlan::new(&graph, &info, &map)?;
    let augment = crate::train::augment_named(&cfg.augment)?;
    let widths: Vec<usize> = map.groups.iter().map(|g| map.sites[g[0]].width).collect();
    let macs_model = CostModel::macs(&graph, &map)?;
    let params_model = CostModel::params(&graph, &map)?;
    let latency = latency_pricing(&graph, &map, cfg)?;
    let dev = Device::Cpu;
    let views = weight_views(&graph, &map, net.varmap())?;
    let fan_ins: Vec<usize> = views
        .iter()
        .map(|v| v.dim(1))
        .collect::<candle_core::Result<_>>()?;
    let p0: Vec<f32> = map
        .groups
        .iter()
        .map(|g| match graph.nodes[map.sites[g[0]].node].op {
            Op::Conv1d { .. } | Op::Conv2d { .. } => cfg.p0_conv,
            _ => cfg.p0_other,
        })
        .collect();
    let mut comp = Compressor::new(
        &fan_ins,
        &widths,
        &p0,
        cfg.hidden,
        cfg.compressor_lr,
        cfg.seed,
    )?;
    let mut opt = AdamW::for_net(
        net,
        AdamParams {
            lr: cfg.critic_lr,
            beta1: 0.5,
            beta2: 0.9,
            weight_decay: cfg.weight_decay,
            ..AdamParams::default()
        },
    );
    let original_weights = net.weights()?;
    let total_params: usize = original_weights
        .values()
        .map(|(s, _)| s.iter().product::<usize>())
        .sum();

    let mut state = State {
        config: cfg.clone(),
        iteration: 0,
        deletion: SoftDeletion::new(cfg.gamma, &widths),
        baseline: Baseline::new(0.9),
        evaluations: Vec::new(),
        original_val_accuracy: 0.0,
        seconds: 0.0,
        evaluation_seconds: 0.0,
        hold: None,
        size_weight: 0.0,
        critic_steps: 0,
        last_probabilities: Vec::new(),
        ended: None,
    };
    let checkpoint = checkpoint.map(search_checkpoint);
    if resume {
        let file = checkpoint
            .as_deref()
            .context("--resume needs a checkpoint folder")?;
        let saved = load_checkpoint(file, net, &mut opt, &mut comp)?;
        // The stopping rule (iteration budget, target, allowed drop) may change on resume,
        // to stop a long search early or let it run longer; what shapes the path must not.
        let same = SearchConfig {
            max_iterations: cfg.max_iterations,
            target_kept: cfg.target_kept,
            max_drop: cfg.max_drop,
            hold_epochs: cfg.hold_epochs,
            ..saved.config.clone()
        } == *cfg;
        if !same {
            bail!(
                "the checkpoint {} was made with other settings; use the same flags or start over",
                file.display()
            );
        }
        // A search that ended goes on only if its stopping rule has changed.
        let rule_changed = saved.config != *cfg;
        state = saved;
        state.config = cfg.clone();
        if rule_changed {
            state.ended = None;
        }
        if let Some(h) = state.hold.as_mut() {
            h.since.get_or_insert(state.iteration);
        }
        eprintln!("resuming the search at iteration {}", state.iteration);
    } else {
        state.original_val_accuracy = masked_accuracy(net, None, None, ds, val)?;
    }
    let orig = state.original_val_accuracy;
    eprintln!(
        "searching: {} groups ({} elements), {} parameters, held-out accuracy {:.2} %",
        widths.len(),
        widths.iter().sum::<usize>(),
        total_params,
        100.0 * orig
    );
    let show_bar = std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let b = indicatif::ProgressBar::new(cfg.max_iterations as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_position(state.iteration as u64);
        b
    });
    let t_start = Instant::now();
    let base_seconds = state.seconds;
    let shape = ds.shape.clone();
    let mut stopped = false;
    let mut hold_ended = false;
    // The critic sees `batch` training examples per iteration; a hold ends after
    // `hold_epochs` passes over the training split.
    let hold_iterations = ((cfg.hold_epochs * train.len() as f64) / cfg.batch.max(1) as f64)
        .ceil()
        .max(1.0) as usize;
    let held_for = |state: &State| {
        state
            .hold
            .as_ref()
            .map_or(0, |h| state.iteration - h.since.unwrap_or(state.iteration))
    };
    let mut last_p: Vec<Vec<f32>> = state.last_probabilities.clone();
    let mut last_widths: Vec<usize> = Vec::new();
    match state.ended {
        Some(Ended::RuleMet) => stopped = true,
        Some(Ended::HoldEnded) => hold_ended = true,
        None => {}
    }
    while state.iteration < cfg.max_iterations && state.ended.is_none() {
        let it = state.iteration;
        let tau = state
            .hold
            .as_ref()
            .map_or_else(|| cfg.tau_at(it), |h| h.tau);
        let mut rng = Rng::derive(cfg.seed, it as u64 + 1);
        // Keep probabilities: raw from the compressor, then soft deletion; while held,
        // the ones that met the target.
        let (p_v, p_eff) = match &state.hold {
            Some(h) => (h.probabilities.clone(), None),
            None => {
                let views = weight_views(&graph, &map, net.varmap())?;
                let raw = comp.probabilities(&views)?;
                let raw_v: Vec<Vec<f32>> = raw
                    .iter()
                    .map(|p| p.to_vec1())
                    .collect::<candle_core::Result<_>>()?;
                let factors = state.deletion.update(&raw_v, tau);
                let p_eff: Vec<Tensor> = raw
                    .iter()
                    .zip(&factors)
                    .map(|(p, f)| p.mul(&Tensor::from_vec(f.clone(), f.len(), &dev)?))
                    .collect::<candle_core::Result<_>>()?;
                let p_v: Vec<Vec<f32>> = raw_v
                    .iter()
                    .zip(&factors)
                    .map(|(p, f)| p.iter().zip(f).map(|(a, b)| a * b).collect())
                    .collect();
                (p_v, Some(p_eff))
            }
        };

        // Critic step on a fresh batch under freshly sampled masks.
        let b1: Vec<usize> = (0..cfg.batch)
            .map(|_| train[rng.below(train.len())])
            .collect();
        let z1_rows: Vec<Vec<f32>> = p_v
            .iter()
            .map(|p| sample_masks(p, b1.len(), &mut rng))
            .collect();
        let z1: Vec<Tensor> = z1_rows
            .iter()
            .zip(&p_v)
            .map(|(z, p)| masks_tensor(z, b1.len(), p.len()))
            .collect::<candle_core::Result<_>>()?;
        let x1 = match augment {
            Some(f) => gather_augmented(&ds.train_x, &shape, &b1, f, &mut rng, &dev)?,
            None => gather(&ds.train_x, &shape, &b1, &dev)?,
        };
        let y1 = gather_labels(&ds.train_y, &b1, &dev)?;
        // Split over two threads like a training step (each half with its masks).
        let critic = split_batch(net, b1.len(), should_split(b1.len()), |start, len, w| {
            let z: Vec<Tensor> = z1
                .iter()
                .map(|z| z.narrow(0, start, len))
                .collect::<candle_core::Result<_>>()?;
            let x = x1.narrow(0, start, len)?;
            let logits = net.logits_masked(&[&x], true, Some(&plan.expand(&z)?))?;
            let per_example = per_example_loss(&logits, &y1.narrow(0, start, len)?)?;
            let loss = (per_example.mean_all()? * w)?;
            Ok(Shard {
                grads: loss.backward()?,
                loss: loss.to_scalar::<f32>()?,
                correct: 0,
                per_example: per_example.to_vec1()?,
            })
        })?;
        opt.step(&critic.grads)?;

        // Compressor step: REINFORCE on the per-example losses the critic step just
        // computed (the critic before its update, under masks drawn from these same
        // probabilities), or on another batch's with --fresh-compressor-batch. Not while
        // the threshold is held: the hold gives the critic time to recover at the size
        // that met the target, and a compressor still learning would go on shrinking it
        // (a CIFAR-10 search held at 5 % went down to 2.5 % in 800 iterations).
        if let Some(p_eff) = &p_eff {
            let (n2, z2_rows, z2, mut l2) = match cfg.fresh_compressor_batch {
                false => (b1.len(), z1_rows, z1, critic.per_example),
                true => {
                    let (z_rows, z, l) =
                        fresh_losses(net, &plan, ds, train, &p_v, &mut rng, cfg.batch)?;
                    (cfg.batch, z_rows, z, l)
                }
            };
            let expected: Vec<usize> = p_v
                .iter()
                .map(|p| (p.iter().sum::<f32>().round() as usize).max(1))
                .collect();
            let mut priced: Vec<(f64, &dyn Priced)> = vec![
                (cfg.flops_weight, &macs_model),
                (state.size_weight, &params_model),
            ];
            if let Some(l) = &latency {
                priced.push((cfg.latency_weight, l));
            }
            for (weight, model) in priced {
                if weight > 0.0 {
                    let marginal = model.marginal(&expected);
                    let costs = CostModel::sample_costs(&marginal, &z2_rows, n2);
                    for (l, c) in l2.iter_mut().zip(costs) {
                        *l += weight as f32 * c;
                    }
                }
            }
            if l2.iter().any(|l| !l.is_finite()) {
                bail!("the loss became non-finite at iteration {it}; try a smaller --critic-lr");
            }
            let adv = state.baseline.advantages(&l2);
            let objective = reinforce_objective(p_eff, &z2, &Tensor::from_vec(adv, n2, &dev)?)?;
            comp.step(&objective)?;
        }
        state.iteration += 1;
        last_p = p_v;
        if let Some(b) = &bar {
            b.set_position(state.iteration as u64);
        }

        // The fixed mask's size is checked every iteration (it is cheap), so the search
        // stops at the first mask under the target instead of up to --eval-every
        // iterations later, when more may have gone (LeNet-5 went 2.75 % -> 1.70 % kept in
        // 200 iterations).
        let keep_g = fixed_mask(&last_p, tau);
        let widths: Vec<usize> = keep_g
            .iter()
            .map(|k| k.iter().filter(|&&b| b).count())
            .collect();
        let mut newly_under_target = false;
        if widths != last_widths && state.hold.is_none() {
            // The parameter model counts what surgery would keep exactly (a test checks
            // it), without copying and cutting the weights each time a width moves.
            let kept = params_model.cost(&widths);
            newly_under_target =
                under_target(cfg, kept as f64 / total_params as f64, &latency, &widths)?;
            if newly_under_target {
                state.hold = Some(Hold {
                    since: Some(state.iteration),
                    tau,
                    probabilities: last_p.clone(),
                });
            }
        }
        last_widths = widths;
        let widths = &last_widths;
        if state.iteration.is_multiple_of(cfg.eval_every)
            || state.iteration == cfg.max_iterations
            || newly_under_target
        {
            let t_eval = Instant::now();
            let keep = per_site(&map, &keep_g);
            let kept = kept_params(&graph, &net.weights()?, &keep)?;
            let acc = masked_accuracy(net, Some(&plan), Some(&keep_g), ds, val)?;
            state.evaluation_seconds += t_eval.elapsed().as_secs_f64();
            let macs = macs_model.cost(widths) as f64;
            let seconds = base_seconds + t_start.elapsed().as_secs_f64();
            let e = Evaluation {
                iteration: state.iteration,
                tau,
                kept_params: kept,
                kept_fraction: kept as f64 / total_params as f64,
                widths: widths.clone(),
                val_accuracy: acc,
                kept_macs_fraction: macs / macs_model.total(),
                size_weight: state.size_weight,
                predicted_latency_us: match &latency {
                    Some(l) => Some(l.predict(widths)?),
                    None => None,
                },
                seconds,
            };
            let mut line = format!(
                "iter {:>6}  tau {:.3}  kept {:>6.2} %  MACs {:>6.2} %  widths {:?}  held-out {:.2} %",
                e.iteration,
                e.tau,
                100.0 * e.kept_fraction,
                100.0 * e.kept_macs_fraction,
                e.widths,
                100.0 * e.val_accuracy
            );
            if let Some(us) = e.predicted_latency_us {
                line.push_str(&format!("  predicted {us:.1} µs"));
            }
            if e.size_weight > 0.0 {
                line.push_str(&format!("  size pressure {}", e.size_weight));
            }
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
            state.seconds = seconds;
            let done = under_target(cfg, e.kept_fraction, &latency, widths)?
                && 100.0 * (orig - e.val_accuracy) <= cfg.max_drop;
            let stalled = cfg.size_pressure
                && state.hold.is_none()
                && tau >= cfg.tau_max
                && !under_target(cfg, e.kept_fraction, &latency, widths)?
                && state
                    .evaluations
                    .last()
                    .is_some_and(|prev| e.kept_fraction >= prev.kept_fraction);
            let raised = SizePressure::raised(state.size_weight);
            if stalled && raised != state.size_weight {
                state.size_weight = raised;
                let line = format!(
                    "search: no progress toward {:.2} % kept with the threshold at its highest; \
                     size pressure {} (each sampled mask pays that times its share of the \
                     parameters)",
                    100.0 * cfg.target_kept,
                    state.size_weight
                );
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
            state.evaluations.push(e);
            if done {
                stopped = true;
                state.ended = Some(Ended::RuleMet);
            } else if held_for(&state) >= hold_iterations {
                hold_ended = true;
                state.ended = Some(Ended::HoldEnded);
            }
            if let Some(file) = &checkpoint {
                state.critic_steps = opt.steps();
                state.last_probabilities = last_p.clone();
                save_checkpoint(file, net, &opt, &comp, &state)?;
            }
            if state.ended.is_some() {
                break;
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if last_p.is_empty() {
        // Resumed at the end: recompute the probabilities once.
        let views = weight_views(&graph, &map, net.varmap())?;
        let raw = comp.probabilities(&views)?;
        let f = state.deletion.factors();
        last_p = raw
            .iter()
            .zip(&f)
            .map(|(p, f)| {
                Ok(p.to_vec1::<f32>()?
                    .iter()
                    .zip(f)
                    .map(|(a, b)| a * b)
                    .collect())
            })
            .collect::<Result<_>>()?;
    }
    let tau = state
        .hold
        .as_ref()
        .map_or_else(|| cfg.tau_at(state.iteration.saturating_sub(1)), |h| h.tau);
    let keep = per_site(&map, &fixed_mask(&last_p, tau));
    let seconds = base_seconds + t_start.elapsed().as_secs_f64();
    let missed = match state.evaluations.last() {
        Some(e) if !stopped => Some(RuleGap {
            iterations: state.iteration,
            limit: if hold_ended {
                SearchLimit::Hold
            } else {
                SearchLimit::Iterations
            },
            hold_epochs: (held_for(&state) * cfg.batch) as f64 / train.len().max(1) as f64,
            kept_fraction: e.kept_fraction,
            target_kept: cfg.target_kept,
            accuracy_drop_points: 100.0 * (orig - e.val_accuracy),
            max_drop_points: cfg.max_drop,
        }),
        _ => None,
    };
    if let Some(gap) = &missed {
        eprintln!("search: {gap}");
    }

    Ok(SearchOutcome {
        keep,
        evaluations: state.evaluations,
        iterations: state.iteration,
        stopped_by_rule: stopped,
        missed,
        original_val_accuracy: orig,
        seconds,
        evaluation_seconds: state.evaluation_seconds,
        seconds_per_iteration: (seconds - state.evaluation_seconds).max(0.0)
            / state.iteration.max(1) as f64,
    })
}

/// The latency pricing the config asks for: the file is read once; a weight or a
/// budget without a file is an error before any work.
fn latency_pricing(
    graph: &Graph,
    map: &SiteMap,
    cfg: &SearchConfig,
) -> Result<Option<LatencyCost>> {
    match &cfg.latency_model {
        Some(path) => {
            let model = crate::latency::LatencyModel::read(path)?;
            Ok(Some(LatencyCost::new(graph, map, model)?))
        }
        None if cfg.latency_weight > 0.0 || cfg.target_latency_us.is_some() => bail!(
            "--latency-weight and --target-latency-us need --latency-model FILE \
             (`deepiot profile` writes one for a target)"
        ),
        None => Ok(None),
    }
}

/// Whether a mask of this kept fraction and these widths meets the size target: the
/// latency budget when one is given, else the parameter fraction.
fn under_target(
    cfg: &SearchConfig,
    kept_fraction: f64,
    latency: &Option<LatencyCost>,
    widths: &[usize],
) -> Result<bool> {
    match (cfg.target_latency_us, latency) {
        (Some(budget), Some(l)) => Ok(l.predict(widths)? <= budget),
        _ => Ok(kept_fraction <= cfg.target_kept),
    }
}
