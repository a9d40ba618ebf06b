//! What a training run is told: a zoo model's recipe ([`Hyper`]) and the plain settings
//! of `deepiot train` and `deepiot eval` ([`TrainConfig`], [`EvalConfig`]), so that other
//! commands and tests call the library with a struct instead of a command line.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// The learning rate of epoch `e` (from 0) is `lr * lr_decay^e`.
    pub lr_decay: f64,
    pub weight_decay: f64,
    /// Stop after this many epochs without a better validation accuracy.
    pub patience: usize,
}

impl Hyper {
    /// The defaults of a zoo model.
    pub fn for_model(model: &str) -> Hyper {
        let (epochs, batch, lr, lr_decay, patience) = match model {
            "mnist-lenet5" => (12, 64, 1e-3, 0.7, 4),
            "har-deepsense" | "har-cross-deepsense" => (60, 64, 1e-3, 0.95, 15),
            // 99.02 % where 60 epochs at x0.95 stopped at 98.0-98.9 % (seed 1).
            "userid-deepsense" => (150, 64, 1e-3, 0.97, 30),
            "speech-bilstm" => (40, 32, 2e-3, 0.93, 8),
            "cifar-vgg" => (30, 64, 1e-3, 0.9, 5),
            _ => (10, 64, 1e-3, 0.9, 4),
        };
        Hyper {
            epochs,
            batch,
            lr,
            lr_decay,
            weight_decay: 1e-4,
            patience,
        }
    }

    /// The defaults for a user's own data, which has no tuned recipe: a schedule that
    /// suits small and medium sensor data sets (hundreds to tens of thousands of
    /// examples) without knowing anything about them. Augmentation stays off (the data
    /// task `user` has none by default) and dropout is 0.
    pub fn for_user_data() -> Hyper {
        Hyper {
            epochs: 30,
            batch: 64,
            lr: 1e-3,
            lr_decay: 0.95,
            weight_decay: 1e-4,
            patience: 8,
        }
    }

    /// The training-time dropout of a zoo model
    /// ([`Net::set_dropout`](crate::models::Net::set_dropout)).
    pub fn dropout_for_model(model: &str) -> f32 {
        match model {
            "har-deepsense" | "har-cross-deepsense" | "userid-deepsense" => 0.3,
            "cifar-vgg" => 0.3,
            _ => 0.0,
        }
    }

    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr * self.lr_decay.powi(epoch as i32)
    }
}

/// Every setting of `deepiot train`, as plain values: the command line converts into it
/// (`cli::train::TrainArgs`), and other commands fill in the few fields they choose with
/// `..TrainConfig::default()`, which gives exactly the command line's defaults.
///
/// `None` in an `Option` field means "the model's default" ([`Hyper::for_model`],
/// [`Hyper::dropout_for_model`]). `out` defaults to an empty path, which
/// [`run`](super::run) refuses before it loads anything: a default output file could
/// silently overwrite a model, and a required argument would keep this struct from
/// having a `Default`.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The zoo model (or its data task); see `deepiot train --help`. Empty with a user
    /// data folder.
    pub task: String,
    pub epochs: Option<usize>,
    /// Seeds weights, batch order, dropout and augmentation: same seed, same file.
    pub seed: u64,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    pub lr_decay: Option<f64>,
    pub patience: Option<usize>,
    pub dropout: Option<f32>,
    /// Held out to pick the best epoch and stop early; 0 keeps the last epoch.
    pub val_fraction: f64,
    pub weight_decay: Option<f64>,
    /// `default`, `none`, `jitter`, `drift` or `shift`
    /// ([`augmentation`](super::augmentation)).
    pub augment: String,
    /// Data folder; `None`: [`DataRoot::resolve_for`](crate::data::DataRoot::resolve_for).
    /// A user's own folder ([`crate::data::user`]) needs `init` and no `task`.
    pub data: Option<PathBuf>,
    /// The label column of a user folder's CSV form.
    pub label_column: String,
    /// Continue from the checkpoint beside `out` after an interruption.
    pub resume: bool,
    /// Score the test split after every epoch too (exploration only: every choice is made
    /// on the validation split, and the test split is otherwise scored once, at the end).
    pub print_test: bool,
    pub max_train: Option<usize>,
    pub max_steps: Option<usize>,
    /// Start from this model file's layers and weights instead of a fresh zoo network.
    pub init: Option<PathBuf>,
    /// With `init`: keep its layers, draw fresh weights from `seed`.
    pub reinit: bool,
    /// First epoch (1-based) of stochastic weight averaging.
    pub average_from: Option<usize>,
    /// Distil from these trained models (several: their ensemble).
    pub teacher: Vec<PathBuf>,
    /// Mixup's Beta parameter; `None` trains on the examples as they are.
    pub mixup: Option<f32>,
    pub distill_alpha: f32,
    pub temperature: f32,
    /// The model file to write; the report goes beside it
    /// ([`report_path`](super::report_path)).
    pub out: PathBuf,
    /// Print the report as JSON on stdout instead of a summary line.
    pub json: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            task: String::new(),
            epochs: None,
            seed: 1,
            batch: None,
            lr: None,
            lr_decay: None,
            patience: None,
            dropout: None,
            val_fraction: 0.1,
            weight_decay: None,
            augment: "default".to_string(),
            data: None,
            label_column: crate::data::user::DEFAULT_LABEL_COLUMN.to_string(),
            resume: false,
            print_test: false,
            max_train: None,
            max_steps: None,
            init: None,
            reinit: false,
            average_from: None,
            teacher: Vec::new(),
            mixup: None,
            distill_alpha: 0.7,
            temperature: 4.0,
            out: PathBuf::new(),
            json: false,
        }
    }
}

/// Every setting of `deepiot eval`, as plain values. `model` defaults to an empty path,
/// which [`eval`](super::eval) refuses with a clear error, for the same reason as
/// [`TrainConfig::out`].
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The model file (.safetensors).
    pub model: PathBuf,
    /// The data task or zoo model; `None`: the `data` the file's provenance names.
    pub task: Option<String>,
    pub data: Option<PathBuf>,
    /// The label column of a user folder's CSV form.
    pub label_column: String,
    /// Print JSON (per-class accuracy and the confusion matrix) instead of a table.
    pub json: bool,
    /// Which code computes the scores.
    pub engine: Engine,
}

/// The code that runs a model for `deepiot eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The board runtime for files with int8 weights (the candle network would compute
    /// them in f32), candle otherwise.
    #[default]
    Auto,
    /// The host's candle network (f32; int8 weights dequantized).
    Candle,
    /// The board runtime's library (`deepiot-runtime`) on the host: the same kernels and
    /// the same arithmetic as on the board.
    Runtime,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            model: PathBuf::new(),
            task: None,
            data: None,
            label_column: crate::data::user::DEFAULT_LABEL_COLUMN.to_string(),
            json: false,
            engine: Engine::Auto,
        }
    }
}
