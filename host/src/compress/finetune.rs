//! Fine-tuning of a cut or pruned network. Every structured method goes through here, so
//! a comparison differs only in what was removed, not in how the result recovered.
use super::config::{CompressConfig, Method};
use super::setup::{distill, Setup};
use crate::models::Net;
use crate::train;
use anyhow::{bail, Result};
use std::time::Instant;

/// Trains `net` on the whole training split and keeps the last epoch (the learning rate
/// decays to the end), distilling the original unless `distill_alpha` is 0, with
/// `finetune_augment`: a network cut to a few percent of its weights overfits the
/// training examples' exact positions, so MNIST shifts by a pixel (LeNet-5 at 1.94 %
/// kept: 0.93-0.97 % test error against 1.03 % without). Returns the seconds it took.
pub fn finetune(cfg: &CompressConfig, setup: &Setup, net: &Net, method: Method) -> Result<f64> {
    let t = Instant::now();
    if cfg.finetune_epochs == 0 {
        return Ok(0.0);
    }
    let recipe = &setup.recipe;
    let data = recipe.data_task();
    let mut hyper = recipe.hyper();
    hyper.epochs = cfg.finetune_epochs;
    hyper.lr = cfg.finetune_lr;
    hyper.lr_decay = cfg.finetune_lr_decay;
    hyper.batch = cfg.batch;
    hyper.patience = cfg.finetune_epochs.max(1);
    if !(0.0..1.0).contains(&cfg.finetune_dropout) {
        bail!(
            "--finetune-dropout must be in [0, 1), got {}",
            cfg.finetune_dropout
        );
    }
    net.set_dropout(cfg.finetune_dropout, cfg.seed);
    let augment = train::augment_named(finetune_augment(cfg, data)?)?;
    let fit = train::FitOptions {
        hyper,
        seed: cfg.seed,
        progress: true,
        verbose: true,
        checkpoint: None,
        resume: false,
        augment,
        max_steps_per_epoch: None,
        val_fraction: 0.0,
        model: format!("{}-{}", recipe.model_name(), method.name()),
        data: data.to_string(),
        distill: distill(cfg)?,
        average_from: None,
        mixup: cfg.finetune_mixup,
    };
    train::fit(net, &setup.ds, &fit)?;
    Ok(t.elapsed().as_secs_f64())
}

/// The fine-tuning augmentation `cfg.finetune_augment` means for the data task `data`:
/// `auto` is MNIST's one-pixel shift, otherwise the model's training augmentation (none
/// for a user's data).
pub fn finetune_augment(cfg: &CompressConfig, data: &str) -> Result<&'static str> {
    match (cfg.finetune_augment.as_str(), data) {
        ("auto", "mnist") => train::augment_name(data, "shift"),
        ("auto", _) => train::augment_name(data, "default"),
        (which, _) => train::augment_name(data, which),
    }
}
