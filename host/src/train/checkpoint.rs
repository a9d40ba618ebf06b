//! Training's bookkeeping that outlives one process: what a checkpoint must agree on to be
//! resumed, and the file in `OUT.ckpt/` that carries a run across an interruption.
use super::adamw::AdamW;
use super::history::History;
use crate::checkpoint_file::{self, prefixed, with_prefix};
use crate::models::{Net, Tensors};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// The state saved beside the tensors of a training checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub key: RunKey,
    /// Epochs finished.
    pub epochs_done: usize,
    pub history: History,
    /// AdamW's step count (its moments are tensors of the same file).
    pub optimizer_steps: u64,
    /// The loss curve's partial window: its sum and its number of steps.
    pub loss_window: (f64, usize),
}

/// What a run continues from: the state, the last epoch's weights, the best (or
/// averaged) ones, and AdamW's moments ([`AdamW::state`]).
pub struct Resumed {
    pub state: CheckpointState,
    pub last: Tensors,
    pub best: Tensors,
    pub optimizer: Tensors,
}

/// Where a run keeps its checkpoint: one file (see [`crate::checkpoint_file`]).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub file: PathBuf,
}

const LAST: &str = "last.";
const BEST: &str = "best.";
const OPTIMIZER: &str = "adamw.";

impl Checkpoint {
    /// `OUT.ckpt/train.safetensors` for the output `OUT`.
    pub fn beside(out: &Path) -> Checkpoint {
        Checkpoint {
            file: checkpoint_dir(out).join("train.safetensors"),
        }
    }

    /// After every epoch: everything the next epoch starts from.
    pub(super) fn save(
        &self,
        net: &Net,
        best: &Tensors,
        optimizer: &AdamW,
        state: &CheckpointState,
    ) -> Result<()> {
        let mut tensors = prefixed(&net.snapshot()?, LAST);
        tensors.extend(prefixed(best, BEST));
        tensors.extend(optimizer.state(OPTIMIZER)?);
        checkpoint_file::save(&self.file, &tensors, state)
    }

    /// What [`Checkpoint::save`] wrote.
    pub fn load(&self) -> Result<Resumed> {
        if !self.file.exists() {
            bail!(
                "--resume: no checkpoint at {} (train without --resume to start)",
                self.file.display()
            );
        }
        let (tensors, state) = checkpoint_file::load::<CheckpointState>(&self.file)?;
        Ok(Resumed {
            state,
            last: with_prefix(&tensors, LAST),
            best: with_prefix(&tensors, BEST),
            optimizer: tensors
                .into_iter()
                .filter(|(k, _)| k.starts_with(OPTIMIZER))
                .collect(),
        })
    }

    /// The prefix [`AdamW::restore`] reads the moments under.
    pub fn optimizer_prefix() -> &'static str {
        OPTIMIZER
    }

    /// Deletes the checkpoint, any temporary copy a killed run left beside it, and its
    /// folder once empty (the run is complete).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.file);
        let (Some(dir), Some(name)) = (self.file.parent(), self.file.file_name()) else {
            return;
        };
        let temporary = format!(".{}.tmp", name.to_string_lossy());
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&temporary) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
}

/// The checkpoint folder `OUT.ckpt/` of a run writing `out`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".ckpt");
    out.with_file_name(name)
}
