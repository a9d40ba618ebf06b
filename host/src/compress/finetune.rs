//! Fine-tuning of a cut or pruned network. Every structured method goes through here, so
//! a comparison differs only in what was removed, not in how the result recovered.
use super::config::{CompressConfig, Method};
use super::setup::{distill, Setup};
use crate::models::Net;
use crate::train;
use anyhow::{bail, Result};
use std::time::Instant;

/// How fine-tuning picks its epoch: the built-in tasks keep their papers' fixed recipes
/// (the last epoch, the learning rate decaying to the end); a user's data has no tuned
/// recipe, so there the epoch is chosen on held-out training examples (the search's
/// held-out 10 %, never the test split) and a run with no progress stops early.
pub struct Selection {
    pub val_fraction: f64,
    pub patience: usize,
}

impl Selection {
    /// Epochs without a better held-out accuracy before a user-data fine-tuning stops.
    pub const USER_PATIENCE: usize = 10;

    pub fn of(cfg: &CompressConfig, setup: &Setup) -> Self {
        if setup.recipe.is_user() || cfg.finetune_patience.is_some() {
            Selection {
                val_fraction: 0.1,
                patience: cfg.finetune_patience.unwrap_or(Self::USER_PATIENCE),
            }
        } else {
            Selection {
                val_fraction: 0.0,
                patience: cfg.finetune_epochs.max(1),
            }
        }
    }

    /// For the settings line.
    pub fn describe(&self) -> String {
        if self.val_fraction > 0.0 {
            format!(
                "the epoch with the best accuracy on {:.0} % of the training split held out, \
                 stopping after {} epochs without a better one",
                100.0 * self.val_fraction,
                self.patience
            )
        } else {
            "the last epoch".into()
        }
    }
}

/// Trains `net` on the training split and keeps the epoch [`Selection`] picks,
/// distilling the original unless `distill_alpha` is 0, with
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
    let selection = Selection::of(cfg, setup);
    hyper.patience = selection.patience;
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
        val_fraction: selection.val_fraction,
        model: format!("{}-{}", recipe.model_name(), method.name()),
        data: data.to_string(),
        distill: distill(cfg, recipe)?,
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
