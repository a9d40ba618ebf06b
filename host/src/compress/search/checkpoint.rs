//! The search's checkpoint, written at every evaluation so that `--resume` continues as
//! if never stopped: one file `OUT.ckpt/search.safetensors` ([`crate::checkpoint_file`])
//! with the critic's weights and its AdamW moments, the compressor's weights and its
//! RMSProp state, and the loop's [`State`] in the metadata. The generators need no
//! saved state: iteration `i` draws from `Rng::derive(seed, i + 1)`.
use super::outcome::{Evaluation, SearchConfig};
use crate::checkpoint_file::{self, prefixed, with_prefix};
use crate::compress::compressor::{Baseline, Compressor, SoftDeletion};
use crate::models::Net;
use crate::train::AdamW;
use anyhow::Result;
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
    /// Of `seconds`, what the evaluations on held-out data took.
    #[serde(default)]
    pub evaluation_seconds: f64,
    /// Set at the first mask under the target: if the remaining network has lost more
    /// than --max-drop, the critic gets time to recover at that size instead of the
    /// threshold cutting on (a HAR search that kept raising it went from 6 % to 0.7 %
    /// kept while waiting for the accuracy to come back).
    #[serde(default)]
    pub hold: Option<Hold>,
    /// The weight of the parameter cost (0 until the search stalls above the target).
    #[serde(default)]
    pub size_weight: f64,
    /// The critic optimiser's step count.
    pub critic_steps: u64,
    /// The keep probabilities the last iteration used (the final mask is read from them).
    pub last_probabilities: Vec<Vec<f32>>,
    /// Why the search ended, once it has: a resumed run with the same stopping rule goes
    /// straight to the result.
    pub ended: Option<Ended>,
}

/// How a search ended before its iteration limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) enum Ended {
    /// The mask met the target within the allowed drop.
    RuleMet,
    /// The critic had its recovery time at the target's size and did not recover.
    HoldEnded,
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

/// The file of the search's checkpoint, in the run's checkpoint folder `dir`.
pub fn search_checkpoint(dir: &Path) -> PathBuf {
    dir.join("search.safetensors")
}

const CRITIC: &str = "critic.";
const CRITIC_OPTIMIZER: &str = "critic_adamw.";
const COMPRESSOR: &str = "compressor.";

pub(super) fn save_checkpoint(
    file: &Path,
    net: &Net,
    opt: &AdamW,
    comp: &Compressor,
    state: &State,
) -> Result<()> {
    let mut tensors = prefixed(&net.snapshot()?, CRITIC);
    tensors.extend(opt.state(CRITIC_OPTIMIZER)?);
    tensors.extend(prefixed(&comp.state()?, COMPRESSOR));
    checkpoint_file::save(file, &tensors, state)
}

/// Restores the critic, its optimiser and the compressor from `file`, and returns the
/// loop's state.
pub(super) fn load_checkpoint(
    file: &Path,
    net: &Net,
    opt: &mut AdamW,
    comp: &mut Compressor,
) -> Result<State> {
    if !file.exists() {
        anyhow::bail!(
            "--resume: no search checkpoint at {} (compress without --resume to start)",
            file.display()
        );
    }
    let (tensors, state) = checkpoint_file::load::<State>(file)?;
    net.set_tensors(&with_prefix(&tensors, CRITIC))?;
    opt.restore(&tensors, CRITIC_OPTIMIZER, state.critic_steps)?;
    comp.restore(&with_prefix(&tensors, COMPRESSOR))?;
    Ok(state)
}
