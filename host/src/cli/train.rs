//! The flags of `deepiot train` and `deepiot eval`. Defaults come from
//! [`TrainConfig::default`] and [`EvalConfig::default`], so the command line and library
//! callers cannot drift apart.
use crate::train::{Engine, EvalConfig, TrainConfig};
use std::path::PathBuf;

/// `deepiot train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// The model to train: mnist-lenet5, har-deepsense, userid-deepsense, speech-bilstm,
    /// cifar-vgg (or the data task: mnist, har, userid, speech, cifar10). Leave it out with
    /// a user data folder as --data (and give the model with --init).
    #[arg(long, default_value_t = TrainConfig::default().task)]
    pub task: String,
    /// Epochs (default per model: 12 for LeNet-5, 60 for DeepSense, 30 for VGG, 40 for the
    /// LSTM).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    pub seed: u64,
    /// Batch size (default per model).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Initial learning rate (default per model).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate factor per epoch (default per model, e.g. 0.7 for LeNet-5).
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Epochs without a better validation accuracy before stopping.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Training-time dropout on the inputs of dense and recurrent layers (default per
    /// model: 0.3 for DeepSense and VGG, 0.2 for the LSTM, 0 for LeNet-5).
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Fraction of the training split held out to pick the best epoch and stop early (0:
    /// train on all of it and keep the last epoch).
    #[arg(long, default_value_t = TrainConfig::default().val_fraction)]
    pub val_fraction: f64,
    /// AdamW's decoupled weight decay (default per model).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Training augmentation: `default` (the model's: crop + flip for CIFAR, `drift` for
    /// the accelerometer, none otherwise), `none`, `jitter` (per-axis gain and noise), or
    /// `drift` (jitter plus per-axis offsets, for sensors that move on the body), or `shift`
    /// (MNIST: translations of up to 1 pixel).
    #[arg(long, default_value_t = TrainConfig::default().augment)]
    pub augment: String,
    /// Data folder (default: $DEEPIOT_DATA, then ../shared/data, then the bundled MNIST
    /// subset), or a user data folder: train_x.npy, train_y.npy, test_x.npy, test_y.npy
    /// (or train.csv and test.csv), optionally classes.txt; see the README.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The label column of a user data folder's CSV files.
    #[arg(long, default_value_t = TrainConfig::default().label_column)]
    pub label_column: String,
    /// Continue from the checkpoint in OUT.ckpt/ after an interruption, exactly where it
    /// stopped (the final model is the one an uninterrupted run writes).
    #[arg(long)]
    pub resume: bool,
    /// Also score the test split after every epoch, for exploration. Nothing chooses by
    /// it: the best epoch and early stopping use the validation split, and without this
    /// flag the test split is scored once, for the model written.
    #[arg(long)]
    pub print_test: bool,
    /// Use at most this many training examples (quick runs).
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Stop each epoch after this many steps (quick runs).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Start from this model file (its layers and weights) instead of a fresh zoo network:
    /// continues training, or fine-tunes a compressed model further.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// With --init: keep that model's layers (a compressed model's widths) but start from
    /// fresh random weights (seeded by --seed), to train a found architecture from scratch.
    #[arg(long, requires = "init")]
    pub reinit: bool,
    /// Average the weights from this epoch (1-based) to the last: the model written, and
    /// every accuracy printed from that epoch on, is the running mean of the weights after
    /// each epoch (stochastic weight averaging).
    #[arg(long, value_name = "EPOCH")]
    pub average_from: Option<usize>,
    /// Distil from this trained model: learn its softened outputs as well as the labels.
    /// Give it more than once to distil from an ensemble (the mean of their softened
    /// probabilities).
    #[arg(long, value_name = "MODEL")]
    pub teacher: Vec<PathBuf>,
    /// Mixup: blend every batch with a shuffled copy of itself, the weight drawn from
    /// Beta(ALPHA, ALPHA), and score it against both labels (and the teacher's view of
    /// the same blend). 0.2-1 are usual values.
    #[arg(long, value_name = "ALPHA", value_parser = super::positive_f32)]
    pub mixup: Option<f32>,
    /// Weight of the teacher's term in the loss (with --teacher).
    #[arg(long, default_value_t = TrainConfig::default().distill_alpha)]
    pub distill_alpha: f32,
    /// Softmax temperature of the teacher's term (with --teacher).
    #[arg(long, default_value_t = TrainConfig::default().temperature)]
    pub temperature: f32,
    /// Where the trained model goes; the report is written beside it (.report.json).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `deepiot eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The model file (.safetensors).
    pub model: PathBuf,
    /// The data task or zoo model (default: the `data` the file's provenance names).
    #[arg(long)]
    pub task: Option<String>,
    /// Data folder (as for `train`, a user data folder included).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The label column of a user data folder's CSV files.
    #[arg(long, default_value_t = EvalConfig::default().label_column)]
    pub label_column: String,
    /// Prints JSON.
    #[arg(long)]
    pub json: bool,
    /// What computes the scores: `runtime` runs the board runtime's own kernels on the
    /// host (bit-identical to the board for int8 files), `candle` the host's f32 network,
    /// `auto` the runtime for int8 files and candle otherwise.
    #[arg(long, value_enum, default_value_t = EvalConfig::default().engine)]
    pub engine: Engine,
}

impl From<TrainArgs> for TrainConfig {
    fn from(a: TrainArgs) -> Self {
        TrainConfig {
            task: a.task,
            epochs: a.epochs,
            seed: a.seed,
            batch: a.batch,
            lr: a.lr,
            lr_decay: a.lr_decay,
            patience: a.patience,
            dropout: a.dropout,
            val_fraction: a.val_fraction,
            weight_decay: a.weight_decay,
            augment: a.augment,
            data: a.data,
            label_column: a.label_column,
            resume: a.resume,
            print_test: a.print_test,
            max_train: a.max_train,
            max_steps: a.max_steps,
            init: a.init,
            reinit: a.reinit,
            average_from: a.average_from,
            teacher: a.teacher,
            mixup: a.mixup,
            distill_alpha: a.distill_alpha,
            temperature: a.temperature,
            out: a.out,
            json: a.json,
        }
    }
}

impl From<EvalArgs> for EvalConfig {
    fn from(a: EvalArgs) -> Self {
        EvalConfig {
            model: a.model,
            task: a.task,
            data: a.data,
            label_column: a.label_column,
            json: a.json,
            engine: a.engine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line that gives only the required flags means exactly the config's
    /// defaults, so library callers and the command line train the same model.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let t: TrainArgs =
            crate::cli::parse(["--task", "mnist-lenet5", "--out", "m.safetensors"]).unwrap();
        let want = TrainConfig {
            task: "mnist-lenet5".to_string(),
            out: PathBuf::from("m.safetensors"),
            ..TrainConfig::default()
        };
        assert_eq!(format!("{:?}", TrainConfig::from(t)), format!("{want:?}"));
        let e: EvalArgs = crate::cli::parse(["m.safetensors"]).unwrap();
        let want = EvalConfig {
            model: PathBuf::from("m.safetensors"),
            ..EvalConfig::default()
        };
        assert_eq!(format!("{:?}", EvalConfig::from(e)), format!("{want:?}"));
    }
}
