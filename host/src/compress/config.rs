//! What `deepiot compress` can be told, as plain data: the library's callers (`compare`,
//! `quickstart`, scripts, tests) fill a [`CompressConfig`] from its [`Default`], and the
//! command line is one such caller ([`crate::cli::compress`]).
use serde::Serialize;
use std::path::PathBuf;

/// How `deepiot compress` shrinks the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// DeepIoT's compressor-critic: structured, each layer a smaller dense matrix.
    #[default]
    Deepiot,
    /// Magnitude pruning with splicing (DyNS, Guo et al. 2016; DyNS-Ext for recurrent
    /// layers): unstructured, the result is sparse.
    Magnitude,
    /// L1-norm filter/neuron/unit pruning (Li et al. 2017): structured, the same fraction
    /// of every layer, the elements with the smallest weight norms go.
    L1Structured,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Deepiot, Method::Magnitude, Method::L1Structured];

    pub fn name(self) -> &'static str {
        match self {
            Method::Deepiot => "deepiot",
            Method::Magnitude => "magnitude",
            Method::L1Structured => "l1-structured",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Settings only the magnitude baseline reads (the other methods ignore them). Part of
/// `compare`'s cache key, hence serialisable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MagnitudeSettings {
    /// Epochs of pruning with splicing; sparsity rises over the first `ramp` of them.
    pub prune_epochs: f64,
    pub ramp: f64,
    /// Steps between mask updates.
    pub mask_every: usize,
    /// A pruned weight comes back once its magnitude exceeds the pruning threshold by
    /// this factor (DyNS's b = (1 + margin) a).
    pub splice_margin: f64,
    /// Pruning and retraining learning rate (SGD, momentum 0.9) at the start.
    pub prune_lr: f64,
    /// Weights at or below this density are stored in CSR in the sparse copy.
    pub sparse_max_density: f64,
}

impl Default for MagnitudeSettings {
    fn default() -> Self {
        MagnitudeSettings {
            prune_epochs: 4.0,
            ramp: 0.6,
            mask_every: 50,
            splice_margin: 0.1,
            prune_lr: 0.002,
            sparse_max_density: 0.3,
        }
    }
}

/// One compression run: the model, the method, the target, and how the result is
/// fine-tuned. `Default` holds the command line's defaults; `model` and `out` must be set.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressConfig {
    /// The trained model file.
    pub model: PathBuf,
    /// Where the compressed model goes; the report is written beside it.
    pub out: PathBuf,
    /// The data task or zoo model (default: the one in the model's provenance).
    pub task: Option<String>,
    /// Data folder (default: the usual search, see [`crate::data::DataRoot`]), or a
    /// user's own data folder ([`crate::data::user`]).
    pub data: Option<PathBuf>,
    /// The label column of a user folder's CSV form.
    pub label_column: String,
    pub method: Method,
    /// Stop once at most this fraction of the parameters is kept.
    pub target_kept: f64,
    /// ...and held-out accuracy of the cut network is at most this many points lower.
    pub max_drop: f64,
    /// DeepIoT's schedule: iterations between threshold raises (T), the raise (Delta),
    /// the highest threshold, and the soft-deletion factor (gamma).
    pub period: usize,
    pub delta: f64,
    pub tau_max: f64,
    pub gamma: f64,
    pub max_iterations: usize,
    /// How long the search holds a mask that met the size target while the critic
    /// recovers, in epochs of the training split the critic sees.
    pub hold_epochs: f64,
    /// A search that ends without meeting its stopping rule is an error (after writing).
    pub strict: bool,
    pub eval_every: usize,
    pub batch: usize,
    pub critic_lr: f64,
    pub compressor_lr: f64,
    /// Width of the compressor's LSTM.
    pub hidden: usize,
    /// The critic's augmentation during the search (`default`: the model's own).
    pub search_augment: String,
    /// Weight of a sampled mask's share of the original's multiply-adds in its loss.
    pub flops_weight: f64,
    /// Weight of a sampled mask's share of the original's predicted time in its loss.
    pub latency_weight: f64,
    /// The latency file (`deepiot profile`) that predicts time.
    pub latency_model: Option<std::path::PathBuf>,
    /// Stop at this predicted time per inference instead of at `target_kept`.
    pub target_latency_us: Option<f64>,
    /// Add a rising parameter cost when the search stalls above the size target.
    pub size_pressure: bool,
    /// The compressor steps on a fresh batch of its own (the reference code) instead of
    /// reusing the critic step's per-example losses.
    pub fresh_compressor_batch: bool,
    /// The fine-tuning schedule; `None`: the recipe's ([`super::finetune::Schedule`]).
    pub finetune_epochs: Option<usize>,
    pub finetune_lr: Option<f64>,
    pub finetune_lr_decay: Option<f64>,
    /// `auto` (MNIST: `shift`; otherwise the model's training augmentation), or any
    /// `deepiot train --augment` value.
    pub finetune_augment: String,
    pub finetune_dropout: f32,
    /// Epochs without a better held-out accuracy before fine-tuning stops (`None`: the
    /// recipe's, see [`super::finetune::Schedule`]).
    pub finetune_patience: Option<usize>,
    /// Mixup's Beta(ALPHA, ALPHA) during fine-tuning.
    pub finetune_mixup: Option<f32>,
    /// Weight of the original's softened outputs in the fine-tuning loss (0: labels only).
    /// `None`: the recipe's ([`CompressConfig::distill_weight`]).
    pub distill_alpha: Option<f32>,
    pub temperature: f32,
    /// Use at most this many training examples (quick runs).
    pub max_train: Option<usize>,
    pub seed: u64,
    /// Continue from OUT.ckpt/ (the search, then fine-tuning) after an interruption,
    /// exactly where it stopped.
    pub resume: bool,
    /// Score the test split during fine-tuning and right after the cut too (exploration
    /// only: nothing chooses by it; otherwise the test split is scored once, at the end).
    pub print_test: bool,
    pub magnitude: MagnitudeSettings,
}

impl Default for CompressConfig {
    fn default() -> Self {
        CompressConfig {
            model: PathBuf::new(),
            out: PathBuf::new(),
            task: None,
            data: None,
            label_column: crate::data::user::DEFAULT_LABEL_COLUMN.to_string(),
            method: Method::Deepiot,
            target_kept: 0.02,
            max_drop: 5.0,
            period: 150,
            delta: 0.025,
            tau_max: 0.95,
            gamma: 0.5,
            max_iterations: 20_000,
            hold_epochs: 3.0,
            strict: false,
            eval_every: 200,
            batch: 64,
            critic_lr: 1e-4,
            compressor_lr: 1e-3,
            hidden: 64,
            search_augment: "default".into(),
            flops_weight: 0.0,
            latency_weight: 0.0,
            latency_model: None,
            target_latency_us: None,
            size_pressure: true,
            fresh_compressor_batch: false,
            finetune_epochs: None,
            finetune_lr: None,
            finetune_lr_decay: None,
            finetune_augment: "auto".into(),
            finetune_dropout: 0.0,
            finetune_patience: None,
            finetune_mixup: None,
            distill_alpha: None,
            temperature: 4.0,
            max_train: None,
            seed: 1,
            resume: false,
            print_test: false,
            magnitude: MagnitudeSettings::default(),
        }
    }
}

impl CompressConfig {
    /// The built-in tasks' distillation weight.
    pub const TASK_DISTILL_WEIGHT: f32 = 0.7;

    /// The weight of the original's softened outputs in the fine-tuning loss: as asked,
    /// else 0.7 for the built-in tasks and 0 (labels only) for a user's data. On the
    /// `sensor6` fixtures' cut networks, labels only gave the better held-out accuracy
    /// for all three (1-D CNN 100 against 96.7 %, 2-D CNN 98.9 against 87.8 %, GRU 84.4
    /// against 82.2 %, on 90 held-out training examples).
    pub fn distill_weight(&self, recipe: &crate::train::Recipe) -> f32 {
        self.distill_alpha.unwrap_or(if recipe.is_user() {
            0.0
        } else {
            Self::TASK_DISTILL_WEIGHT
        })
    }
}
