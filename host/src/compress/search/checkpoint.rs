//! The search's checkpoint: the critic's weights, the compressor and the loop's state,
//! written at every evaluation so that `--resume` continues after an interruption.
use super::outcome::{Evaluation, SearchConfig};
use crate::compress::compressor::{Baseline, Compressor, SoftDeletion};
use crate::models::Net;
use anyhow::{Context, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Resumable state, written at every evaluation.
#[derive(Serialize, Deserialize)]
pub(super) struct State {
    pub config: SearchConfig,
    pub iteration: usize,
    pub deletion: SoftDeletion,
    pub baseline: Baseline,
    pub evaluations: Vec<Evaluation>,
    pub original_val_accuracy: f64,
    pub seconds: f64,
    /// Set at the first mask under the target: if the remaining network has lost more
    /// than --max-drop, the critic gets time to recover at that size instead of the
    /// threshold cutting on (a HAR search that kept raising it went from 6 % to 0.7 %
    /// kept while waiting for the accuracy to come back).
    #[serde(default)]
    pub hold: Option<Hold>,
    /// The weight of the parameter cost (0 until the search stalls above the target).
    #[serde(default)]
    pub size_weight: f64,
}

/// The threshold and keep probabilities of the first mask under the target, used from
/// then on (the compressor reads the critic's weights, so even a compressor left alone
/// would move its probabilities while the critic recovers).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Hold {
    /// The iteration the hold began (absent in checkpoints written before holds were
    /// bounded: counted from the resume).
    #[serde(default)]
    pub since: Option<usize>,
    pub tau: f64,
    pub probabilities: Vec<Vec<f32>>,
}

/// The checkpoint folder of a compression run writing `out`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".ckpt");
    out.with_file_name(name)
}

pub(super) fn save_checkpoint(
    dir: &Path,
    net: &Net,
    comp: &Compressor,
    state: &State,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let critic: std::collections::HashMap<String, Tensor> = net
        .vars()
        .into_iter()
        .zip(net.info().params.iter().flatten())
        .map(|(v, s)| (s.name.clone(), v.as_tensor().clone()))
        .collect();
    // Temporary names, then renames: a crash mid-write leaves the previous checkpoint.
    let tmp = |n: &str| dir.join(format!("{n}.tmp"));
    candle_core::safetensors::save(&critic, tmp("critic.safetensors"))?;
    comp.save(&tmp("compressor.safetensors"))?;
    std::fs::write(tmp("state.json"), serde_json::to_vec_pretty(state)?)?;
    for n in ["critic.safetensors", "compressor.safetensors", "state.json"] {
        std::fs::rename(tmp(n), dir.join(n))
            .with_context(|| format!("cannot write {}", dir.join(n).display()))?;
    }
    Ok(())
}
