//! What a training run records per epoch, kept in its checkpoint and report.
use serde::{Deserialize, Serialize};

/// One epoch of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
    /// Only with `--print-test` (exploration): the test split is otherwise scored once,
    /// for the final model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
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
