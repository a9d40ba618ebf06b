//! `deepiot compare`: the command line of [`crate::compare::run`].
use super::compress::MagnitudeArgs;
use crate::compare::CompareConfig;
use crate::compress::Method;
use std::path::PathBuf;

/// Compare compression methods on one trained model.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The zoo model / task (its data set is the test set of every row). Leave it out
    /// with a user data folder as --data.
    #[arg(long, default_value_t = CompareConfig::default().task)]
    pub task: String,
    /// The trained model (default: DIR/original.safetensors).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Methods to run, comma-separated.
    // Lists keep a comma-separated default text (`default_values_t` would show them
    // space-separated, which the parser does not take); a test checks it is the config's.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "deepiot,magnitude,l1-structured"
    )]
    pub methods: Vec<Method>,
    /// Target kept fractions of the parameters, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.02")]
    pub targets: Vec<f64>,
    /// Use an existing result for a method instead of running it: METHOD=MODEL (its
    /// report, if any, beside it). Repeatable.
    #[arg(long)]
    pub reuse: Vec<String>,
    /// Data folder (default: $DEEPIOT_DATA, then ../shared/data, then the bundled subset),
    /// or a user data folder (train_x.npy ... or train.csv + test.csv; see the README).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The label column of a user data folder's CSV files.
    #[arg(long, default_value_t = CompareConfig::default().label_column)]
    pub label_column: String,
    /// Train on at most this many examples (quick runs).
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Fine-tuning (retraining) epochs of every method.
    #[arg(long, default_value_t = CompareConfig::default().finetune_epochs)]
    pub finetune_epochs: usize,
    /// Fine-tuning learning rate and its factor per epoch, for every method (default:
    /// `deepiot compress`'s).
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    #[arg(long)]
    pub finetune_lr_decay: Option<f64>,
    /// Fine-tuning dropout for every method (default: `deepiot compress`'s, none).
    #[arg(long)]
    pub finetune_dropout: Option<f32>,
    /// Fine-tuning mixup for every method (`deepiot compress --finetune-mixup`).
    #[arg(long, value_name = "ALPHA", value_parser = super::positive_f32)]
    pub finetune_mixup: Option<f32>,
    /// Weight of distilling the original in every method's fine-tuning (default:
    /// `deepiot compress`'s).
    #[arg(long)]
    pub distill_alpha: Option<f32>,
    /// DeepIoT's FLOPs-aware search weight (`deepiot compress --flops-weight`).
    #[arg(long)]
    pub flops_weight: Option<f64>,
    /// DeepIoT's latency-aware search weight (`deepiot compress --latency-weight`); needs
    /// --latency-model.
    #[arg(long, requires = "latency_model")]
    pub latency_weight: Option<f64>,
    /// The latency file (`deepiot profile`) that prices DeepIoT's latency-aware search.
    #[arg(long)]
    pub latency_model: Option<PathBuf>,
    /// Fine-tuning augmentation for every method (default: `deepiot compress`'s `auto`).
    #[arg(long)]
    pub finetune_augment: Option<String>,
    /// DeepIoT search iterations at most.
    #[arg(long, default_value_t = CompareConfig::default().max_iterations)]
    pub max_iterations: usize,
    #[command(flatten)]
    pub magnitude: MagnitudeArgs,
    /// Seeds, comma-separated: each method runs at each target once per seed (search and
    /// fine-tuning), and the report adds the mean ± std per method and target.
    #[arg(long, alias = "seed", value_delimiter = ',', default_value = "1")]
    pub seeds: Vec<u64>,
    /// Runtime bench iterations per model.
    #[arg(long, default_value_t = CompareConfig::default().iterations)]
    pub iterations: usize,
    #[arg(long, default_value_t = CompareConfig::default().warmup)]
    pub warmup: usize,
    /// "Equal accuracy" for the report's verdict: a result counts when its test accuracy
    /// is at most this many points below the original's (the paper's comparisons hold
    /// accuracy within 0.1 point).
    #[arg(long, default_value_t = CompareConfig::default().within)]
    pub within: f64,
    /// Skip the runtime timings (no latency column).
    #[arg(long)]
    pub no_bench: bool,
    /// A built `deepiot-run` to time with (default: build it for i686-unknown-linux-musl).
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// Only redraw report.md and the figures from OUT/report.json (nothing is run or timed).
    #[arg(long)]
    pub report_only: bool,
    /// Report only the runs already in DIR's cache and run nothing new: a sweep that
    /// other processes are still running, or one cut short, reported as far as it got.
    #[arg(long)]
    pub cached_only: bool,
    /// Output folder: report.md, report.json, plots, cached runs.
    #[arg(short, long)]
    pub out: PathBuf,
}

impl From<CompareArgs> for CompareConfig {
    fn from(a: CompareArgs) -> Self {
        CompareConfig {
            task: a.task,
            model: a.model,
            methods: a.methods,
            targets: a.targets,
            reuse: a.reuse,
            data: a.data,
            label_column: a.label_column,
            max_train: a.max_train,
            finetune_epochs: a.finetune_epochs,
            finetune_lr: a.finetune_lr,
            finetune_lr_decay: a.finetune_lr_decay,
            finetune_dropout: a.finetune_dropout,
            finetune_mixup: a.finetune_mixup,
            distill_alpha: a.distill_alpha,
            flops_weight: a.flops_weight,
            latency_weight: a.latency_weight,
            latency_model: a.latency_model,
            finetune_augment: a.finetune_augment,
            max_iterations: a.max_iterations,
            magnitude: a.magnitude.into(),
            seeds: a.seeds,
            iterations: a.iterations,
            warmup: a.warmup,
            within: a.within,
            no_bench: a.no_bench,
            runtime: a.runtime,
            report_only: a.report_only,
            cached_only: a.cached_only,
            out: a.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the required flags mean exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: CompareArgs = crate::cli::parse(["--task", "t", "-o", "o"]).unwrap();
        let want = CompareConfig {
            task: "t".into(),
            out: "o".into(),
            ..CompareConfig::default()
        };
        assert_eq!(CompareConfig::from(a), want);
    }
}
