//! What a search is told and what it found: its settings, each evaluation, the outcome
//! and, when it ends without meeting its stopping rule, by how much it missed.
use serde::{Deserialize, Serialize};

/// Search settings; defaults are the reference values except where the reference
/// re-implementation showed better (compounding deletion, T = 150, tau past 0.825).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Stop once the kept fraction of parameters is at most this...
    pub target_kept: f64,
    /// ...and held-out accuracy of the remaining network has dropped by at most this
    /// many percentage points from the original's.
    pub max_drop: f64,
    pub batch: usize,
    /// Iterations between threshold raises (T).
    pub period: usize,
    /// Threshold raise (Delta).
    pub delta: f64,
    pub tau_max: f64,
    /// Soft-deletion factor (gamma).
    pub gamma: f64,
    pub eval_every: usize,
    pub max_iterations: usize,
    /// The longest hold at a mask that met the size target, in epochs of the training
    /// split the critic trains on (FastDeepIoT-style bounded recovery instead of the
    /// thousands of frozen iterations an unbounded hold spent on MNIST).
    #[serde(default = "default_hold_epochs")]
    pub hold_epochs: f64,
    pub critic_lr: f64,
    pub compressor_lr: f64,
    pub weight_decay: f64,
    /// Width of the compressor's LSTM (d).
    pub hidden: usize,
    /// Initial keep probability of convolution groups and of the others.
    pub p0_conv: f32,
    pub p0_other: f32,
    /// Held-out examples used by each evaluation (from the training split).
    pub val_examples: usize,
    /// Augmentation of the critic's training batches ([`crate::train::augment_named`]):
    /// the critic trains for as many steps as the original did, and without the
    /// original's augmentation it overfits the training windows.
    #[serde(default = "no_augment")]
    pub augment: String,
    /// Weight of a sampled mask's share of the original's multiply-adds, added to its
    /// loss (0: the paper's loss-only objective; see [`super::cost`]).
    #[serde(default)]
    pub flops_weight: f64,
    /// Weight of a sampled mask's share of the original's predicted time (see
    /// [`crate::compress::latency_cost`]), priced by the latency file `latency_model`.
    #[serde(default)]
    pub latency_weight: f64,
    /// A latency file (`deepiot profile`): evaluations print the predicted time, and
    /// `latency_weight` and `target_latency_us` use it.
    #[serde(default)]
    pub latency_model: Option<std::path::PathBuf>,
    /// Stop at this predicted time per inference instead of at `target_kept`.
    #[serde(default)]
    pub target_latency_us: Option<f64>,
    /// Once the threshold is at its highest and the kept fraction stops falling while
    /// still above the target, price each sampled mask's share of the original's
    /// parameters too, with a weight that doubles at every evaluation without progress
    /// (see [`SizePressure`]).
    #[serde(default = "yes")]
    pub size_pressure: bool,
    /// The compressor's REINFORCE step on a batch of its own, forwarded again under its
    /// own masks (the reference code), instead of the per-example losses the critic
    /// step just computed under masks drawn from the same probabilities. Both estimate
    /// the same gradient; the reuse saves that forward pass (issue 19: an iteration cost
    /// 1.45-1.79 training steps with it).
    #[serde(default)]
    pub fresh_compressor_batch: bool,
    pub seed: u64,
}

fn yes() -> bool {
    true
}

/// The weight of the parameter cost a stalled search adds: why it exists is that the
/// paper's objective is the loss alone, so on a small network whose every element helps
/// the threshold reaches its highest value long before the size target, and the rest of
/// the iteration budget changed nothing (a 3,606-parameter CNN sat at 19 % kept for
/// 15,000 iterations against a 10 % target).
pub struct SizePressure;

impl SizePressure {
    /// The first weight: a whole network's parameters priced like a quarter of a unit of
    /// cross-entropy.
    pub const START: f64 = 0.25;
    /// The weight stops doubling here.
    pub const MAX: f64 = 64.0;

    /// The weight after an evaluation that made no progress toward the target.
    pub fn raised(weight: f64) -> f64 {
        if weight <= 0.0 {
            Self::START
        } else {
            (2.0 * weight).min(Self::MAX)
        }
    }
}

fn default_hold_epochs() -> f64 {
    3.0
}

fn no_augment() -> String {
    "none".into()
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            target_kept: 0.02,
            max_drop: 5.0,
            batch: 64,
            period: 150,
            delta: 0.025,
            tau_max: 0.95,
            gamma: 0.5,
            eval_every: 200,
            max_iterations: 20_000,
            hold_epochs: default_hold_epochs(),
            critic_lr: 1e-4,
            compressor_lr: 1e-3,
            weight_decay: 5e-4,
            hidden: 64,
            p0_conv: 0.8,
            p0_other: 0.5,
            augment: no_augment(),
            val_examples: 2000,
            flops_weight: 0.0,
            latency_weight: 0.0,
            latency_model: None,
            target_latency_us: None,
            size_pressure: true,
            fresh_compressor_batch: false,
            seed: 1,
        }
    }
}

impl SearchConfig {
    /// What a baseline's report records as its "search" settings: the target, batch and
    /// seed it was given (it has no schedule).
    pub fn of_pruning(cfg: &crate::compress::CompressConfig) -> Self {
        SearchConfig {
            target_kept: cfg.target_kept,
            batch: cfg.batch,
            seed: cfg.seed,
            ..SearchConfig::default()
        }
    }

    pub fn tau_at(&self, iteration: usize) -> f64 {
        (self.delta * (iteration / self.period.max(1)) as f64).min(self.tau_max)
    }
}

/// One evaluation of the remaining network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub iteration: usize,
    pub tau: f64,
    pub kept_params: usize,
    pub kept_fraction: f64,
    /// Elements kept per group.
    pub widths: Vec<usize>,
    pub val_accuracy: f64,
    /// Multiply-adds of the remaining network, as a share of the original's.
    #[serde(default)]
    pub kept_macs_fraction: f64,
    /// The size pressure's weight during the iterations before this evaluation.
    #[serde(default)]
    pub size_weight: f64,
    /// The remaining network's time by the latency file, when one was given.
    #[serde(default)]
    pub predicted_latency_us: Option<f64>,
    pub seconds: f64,
}

/// What the search found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// The final keep mask, per site.
    pub keep: Vec<Vec<bool>>,
    pub evaluations: Vec<Evaluation>,
    pub iterations: usize,
    pub stopped_by_rule: bool,
    /// How far the last evaluation was from the stopping rule when the search ended
    /// without meeting it (at the iteration limit); `None` when it met the rule.
    #[serde(default)]
    pub missed: Option<RuleGap>,
    pub original_val_accuracy: f64,
    pub seconds: f64,
    /// Of `seconds`, the evaluations of the fixed mask on held-out data (every
    /// `--eval-every` iterations).
    #[serde(default)]
    pub evaluation_seconds: f64,
    /// The search's time without its evaluations, per iteration: what one critic step and
    /// one compressor step cost together.
    pub seconds_per_iteration: f64,
}

impl SearchOutcome {
    /// A baseline's pruning in the search's shape: its keep masks (empty when
    /// unstructured), its steps and seconds, no evaluations and no stopping rule to miss.
    pub fn of_pruning(keep: Vec<Vec<bool>>, steps: usize, seconds: f64, accuracy: f64) -> Self {
        SearchOutcome {
            keep,
            evaluations: vec![],
            iterations: steps,
            stopped_by_rule: false,
            missed: None,
            original_val_accuracy: accuracy,
            seconds,
            evaluation_seconds: 0.0,
            seconds_per_iteration: seconds / steps.max(1) as f64,
        }
    }
}

/// Which limit ended a search that did not meet its stopping rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SearchLimit {
    /// `--max-iterations`.
    #[default]
    Iterations,
    /// `--hold-epochs`: the critic did not recover at the held mask in time.
    Hold,
}

/// The stopping rule against what the search last measured, for a search that ended
/// without meeting it: the log says it in one line and the report keeps the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleGap {
    /// Iterations run.
    pub iterations: usize,
    /// The limit that ended the search.
    #[serde(default)]
    pub limit: SearchLimit,
    /// Epochs of the training split the critic saw while the mask was held.
    #[serde(default)]
    pub hold_epochs: f64,
    pub kept_fraction: f64,
    pub target_kept: f64,
    /// Held-out accuracy of the remaining network below the original's, in points.
    pub accuracy_drop_points: f64,
    pub max_drop_points: f64,
}

impl std::fmt::Display for RuleGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = match self.limit {
            SearchLimit::Iterations => "the iteration limit".to_string(),
            SearchLimit::Hold => format!(
                "the hold limit ({:.1} epochs at the held mask)",
                self.hold_epochs
            ),
        };
        write!(
            f,
            "the stopping rule was not met in {} iterations ({limit}): kept {:.2} % (target <= {:.2} %), held-out accuracy {:.2} points below the original (allowed {:.2})",
            self.iterations,
            100.0 * self.kept_fraction,
            100.0 * self.target_kept,
            self.accuracy_drop_points,
            self.max_drop_points
        )
    }
}

#[cfg(test)]
mod tests {
    use super::SizePressure;

    #[test]
    fn size_pressure_starts_small_doubles_and_stops_at_its_cap() {
        let mut w = 0.0;
        let mut seen = Vec::new();
        for _ in 0..12 {
            w = SizePressure::raised(w);
            seen.push(w);
        }
        assert_eq!(&seen[..4], &[0.25, 0.5, 1.0, 2.0]);
        assert_eq!(*seen.last().unwrap(), SizePressure::MAX);
        assert!(seen.windows(2).all(|p| p[1] >= p[0]));
    }
}
