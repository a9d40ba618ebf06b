//! Training's bookkeeping that outlives one process: what a checkpoint must agree on to be
//! resumed, and the files in `OUT.ckpt/` that carry a run across an interruption.
use super::history::History;
use crate::models::Net;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::models::Tensors;

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
    /// Weight averaging's first epoch
    /// ([`FitOptions::average_from`](super::FitOptions::average_from)).
    #[serde(default)]
    pub average_from: Option<usize>,
    /// Mixup's Beta parameter ([`FitOptions::mixup`](super::FitOptions::mixup)).
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

    pub(super) fn save(
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
    pub fn load(&self, device: &Device) -> Result<(CheckpointState, Tensors, Tensors)> {
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
