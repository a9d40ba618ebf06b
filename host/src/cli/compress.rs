//! `deepiot compress`: the command line of [`crate::compress::run`].
use crate::compress::{CompressConfig, MagnitudeSettings, Method};
use std::path::PathBuf;

/// Compress a trained model with DeepIoT's compressor-critic.
///
/// The search trains the model (as the critic) under masks sampled from the compressor's
/// keep probabilities, raises the deletion threshold tau every --period iterations, and
/// stops once at most --target-kept of the parameters remain with held-out accuracy
/// within --max-drop points. The fixed mask is then cut out (every layer becomes a
/// smaller dense matrix), the small model fine-tuned, and written with a JSON report.
#[derive(Debug, clap::Args)]
pub struct CompressArgs {
    /// The trained model file (from `deepiot train`).
    pub model: PathBuf,
    /// The data task or zoo model (default: the one in the model's provenance).
    #[arg(long)]
    pub task: Option<String>,
    /// Data folder (default: $DEEPIOT_DATA, then ../shared/data, then the bundled subset),
    /// or a user data folder (train_x.npy ... or train.csv + test.csv; see the README):
    /// then no --task, and the model must fit the data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The label column of a user data folder's CSV files.
    #[arg(long, default_value_t = CompressConfig::default().label_column)]
    pub label_column: String,
    /// Stop once at most this fraction of the parameters is kept.
    #[arg(long, default_value_t = CompressConfig::default().target_kept)]
    pub target_kept: f64,
    /// ...and held-out accuracy of the cut network, before fine-tuning, is at most this many
    /// percentage points below the original's. Fine-tuning recovers most of it: a LeNet-5
    /// search that waited for a 1-point drop kept shrinking at the top threshold instead.
    #[arg(long, default_value_t = CompressConfig::default().max_drop)]
    pub max_drop: f64,
    /// Iterations between threshold raises (T; the reference code used 500, 150 follows
    /// the same path 3.3x faster).
    #[arg(long, default_value_t = CompressConfig::default().period)]
    pub period: usize,
    /// Threshold raise per period (Delta).
    #[arg(long, default_value_t = CompressConfig::default().delta)]
    pub delta: f64,
    /// Highest threshold.
    #[arg(long, default_value_t = CompressConfig::default().tau_max)]
    pub tau_max: f64,
    /// Soft-deletion factor (gamma), compounding per iteration below tau.
    #[arg(long, default_value_t = CompressConfig::default().gamma)]
    pub gamma: f64,
    /// Iterations at most. A search that reaches it without meeting the stopping rule
    /// says so and records the gap in the report (`stopping_rule_met: false`).
    #[arg(long, default_value_t = CompressConfig::default().max_iterations)]
    pub max_iterations: usize,
    /// Once a mask meets the size target, the search holds it while the critic recovers
    /// its accuracy, for at most this many epochs of the training split (judged at each
    /// evaluation on held-out data); a hold that ends without recovering is reported like
    /// a missed iteration limit.
    #[arg(long, default_value_t = CompressConfig::default().hold_epochs)]
    pub hold_epochs: f64,
    /// Exit with an error (code 1) when the search ends without meeting the stopping
    /// rule; the model and report are written all the same.
    #[arg(long)]
    pub strict: bool,
    /// Iterations between evaluations (and checkpoints).
    #[arg(long, default_value_t = CompressConfig::default().eval_every)]
    pub eval_every: usize,
    #[arg(long, default_value_t = CompressConfig::default().batch)]
    pub batch: usize,
    /// Critic (network) learning rate; Adam betas (0.5, 0.9).
    #[arg(long, default_value_t = CompressConfig::default().critic_lr)]
    pub critic_lr: f64,
    /// Compressor learning rate (RMSProp).
    #[arg(long, default_value_t = CompressConfig::default().compressor_lr)]
    pub compressor_lr: f64,
    /// Width of the compressor's LSTM.
    #[arg(long, default_value_t = CompressConfig::default().hidden)]
    pub hidden: usize,
    /// Augmentation of the critic's batches during the search (`default`: the model's
    /// training augmentation; or none, jitter, drift, shift).
    #[arg(long, default_value_t = CompressConfig::default().search_augment)]
    pub search_augment: String,
    /// FLOPs-aware search: add this weight times a sampled mask's share of the original's
    /// multiply-adds to its loss, so the compressor gives up the elements that cost the
    /// most time (0: the paper's loss-only objective). Around 1 weighs a LeNet-5
    /// convolution filter like a few points of loss.
    #[arg(long, default_value_t = CompressConfig::default().flops_weight)]
    pub flops_weight: f64,
    /// Latency-aware search: add this weight times a sampled mask's share of the
    /// original's time, as predicted by --latency-model, to its loss (like
    /// --flops-weight, but priced in measured time: the runtime's tile rounds channels
    /// to groups of three, every layer has a fixed cost, recurrent layers pay per step).
    #[arg(long, default_value_t = CompressConfig::default().latency_weight)]
    pub latency_weight: f64,
    /// A latency file written by `deepiot profile`; evaluations then print the
    /// predicted time of the remaining network.
    #[arg(long)]
    pub latency_model: Option<std::path::PathBuf>,
    /// Stop at a latency budget: the first mask whose predicted time is at most this
    /// many microseconds (and within --max-drop), instead of --target-kept. Needs
    /// --latency-model.
    #[arg(long, value_parser = crate::cli::positive_f32)]
    pub target_latency_us: Option<f32>,
    /// Leave the search to the paper's objective to the end. By default, once the
    /// threshold is at --tau-max and the kept fraction stops falling while above
    /// --target-kept, each sampled mask also pays for its share of the original's
    /// parameters, with a weight that starts at 0.25 and doubles at every evaluation
    /// without progress (at most 64).
    #[arg(long)]
    pub no_size_pressure: bool,
    /// Give the compressor's REINFORCE step a batch of its own, forwarded again under
    /// its own masks, as the paper's reference code does. By default it reuses the
    /// per-example losses of the critic step it follows (masks drawn from the same
    /// probabilities; no second forward pass, so an iteration costs about one training
    /// step).
    #[arg(long)]
    pub fresh_compressor_batch: bool,
    /// Fine-tuning epochs for the cut model, at most (see --finetune-patience). Default: a
    /// built-in task's model is fine-tuned on the schedule it was trained with (LeNet-5:
    /// 12 epochs, lr x0.7 per epoch, patience 4); giving a count selects the long recipe
    /// (lr 1e-3 x0.95, patience 10). A user's data: 300.
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    /// Fine-tuning learning rate. Default: the model's training rate for the built-in
    /// tasks (1e-3 with --finetune-epochs), 3e-3 for a user's data.
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    /// Fine-tuning learning-rate factor per epoch. Default: the model's training factor
    /// for the built-in tasks (0.95 with --finetune-epochs), 0.98 for a user's data.
    #[arg(long)]
    pub finetune_lr_decay: Option<f64>,
    /// Fine-tuning augmentation: `auto` (MNIST: `shift`; otherwise the model's training
    /// augmentation), or any `deepiot train --augment` value.
    #[arg(long, default_value_t = CompressConfig::default().finetune_augment)]
    pub finetune_augment: String,
    /// Fine-tuning dropout on the inputs of dense and recurrent layers. Off by default: a
    /// cut network has little capacity to spare.
    #[arg(long, default_value_t = CompressConfig::default().finetune_dropout)]
    pub finetune_dropout: f32,
    /// Fine-tune on mixup blends of the training batches, weight ~ Beta(ALPHA, ALPHA)
    /// (`deepiot train --mixup`); the distillation teacher sees the same blends.
    #[arg(long, value_name = "ALPHA", value_parser = super::positive_f32)]
    pub finetune_mixup: Option<f32>,
    /// Fine-tuning chooses its epoch on 10 % of the training split held out and stops
    /// after this many epochs without a better one. Default: the model's training
    /// patience for the built-in tasks (10 with --finetune-epochs), 50 for a user's data.
    /// 0: the papers' fixed recipe instead (60 epochs unless --finetune-epochs, every
    /// one on the whole training split, the last one kept), as the README's paper-level
    /// results used.
    #[arg(long)]
    pub finetune_patience: Option<usize>,
    /// Fine-tune by distilling the original model: weight of its softened outputs in the
    /// loss (0: labels only). Default: 0.7 for the built-in tasks, 0 for a user's data.
    #[arg(long)]
    pub distill_alpha: Option<f32>,
    /// Softmax temperature of the distillation term.
    #[arg(long, default_value_t = CompressConfig::default().temperature)]
    pub temperature: f32,
    /// Use at most this many training examples (quick runs).
    #[arg(long)]
    pub max_train: Option<usize>,
    #[arg(long, default_value_t = CompressConfig::default().seed)]
    pub seed: u64,
    /// Continue from OUT.ckpt/ (the search, then fine-tuning) after an interruption,
    /// exactly where it stopped (the final model is the one an uninterrupted run writes).
    #[arg(long)]
    pub resume: bool,
    /// Also score the test split right after the cut and after every fine-tuning epoch,
    /// for exploration. Nothing chooses by it; without this flag the test split is scored
    /// once, for the model written (and once for the original).
    #[arg(long)]
    pub print_test: bool,
    /// The compressed model; the report goes beside it (.report.json).
    #[arg(short, long)]
    pub out: PathBuf,
    /// How to compress: DeepIoT's compressor-critic, or a baseline (same report shape).
    #[arg(long, value_enum, default_value_t = CompressConfig::default().method)]
    pub method: Method,
    #[command(flatten)]
    pub magnitude: MagnitudeArgs,
}

/// Settings only the magnitude baseline reads (DeepIoT's search ignores them).
#[derive(Debug, Clone, clap::Args)]
pub struct MagnitudeArgs {
    /// magnitude: epochs of pruning with splicing (sparsity rises over the first
    /// --ramp of them); retraining with the mask fixed then runs --finetune-epochs.
    #[arg(long, default_value_t = MagnitudeSettings::default().prune_epochs)]
    pub prune_epochs: f64,
    /// magnitude: fraction of the pruning epochs over which sparsity rises to the target.
    #[arg(long, default_value_t = MagnitudeSettings::default().ramp)]
    pub ramp: f64,
    /// magnitude: steps between mask updates.
    #[arg(long, default_value_t = MagnitudeSettings::default().mask_every)]
    pub mask_every: usize,
    /// magnitude: splicing margin; a pruned weight comes back once its magnitude exceeds
    /// the pruning threshold by this factor (DyNS's b = (1 + margin) a).
    #[arg(long, default_value_t = MagnitudeSettings::default().splice_margin)]
    pub splice_margin: f64,
    /// magnitude: pruning and retraining learning rate (SGD, momentum 0.9) at the start;
    /// retraining decays it by --finetune-lr-decay per epoch. (0.01 diverged on LeNet-5
    /// below 2 % of the weights, with distillation at temperature 4.)
    #[arg(long, default_value_t = MagnitudeSettings::default().prune_lr)]
    pub prune_lr: f64,
    /// magnitude: weights at or below this density are stored in CSR in the sparse copy
    /// (X.sparse.safetensors) written beside the dense file.
    #[arg(long, default_value_t = MagnitudeSettings::default().sparse_max_density)]
    pub sparse_max_density: f64,
}

impl From<MagnitudeArgs> for MagnitudeSettings {
    fn from(a: MagnitudeArgs) -> Self {
        MagnitudeSettings {
            prune_epochs: a.prune_epochs,
            ramp: a.ramp,
            mask_every: a.mask_every,
            splice_margin: a.splice_margin,
            prune_lr: a.prune_lr,
            sparse_max_density: a.sparse_max_density,
        }
    }
}

impl From<CompressArgs> for CompressConfig {
    fn from(a: CompressArgs) -> Self {
        CompressConfig {
            model: a.model,
            out: a.out,
            task: a.task,
            data: a.data,
            label_column: a.label_column,
            method: a.method,
            target_kept: a.target_kept,
            max_drop: a.max_drop,
            period: a.period,
            delta: a.delta,
            tau_max: a.tau_max,
            gamma: a.gamma,
            max_iterations: a.max_iterations,
            hold_epochs: a.hold_epochs,
            strict: a.strict,
            eval_every: a.eval_every,
            batch: a.batch,
            critic_lr: a.critic_lr,
            compressor_lr: a.compressor_lr,
            hidden: a.hidden,
            search_augment: a.search_augment,
            flops_weight: a.flops_weight,
            latency_weight: a.latency_weight,
            latency_model: a.latency_model,
            target_latency_us: a.target_latency_us.map(f64::from),
            size_pressure: !a.no_size_pressure,
            fresh_compressor_batch: a.fresh_compressor_batch,
            finetune_epochs: a.finetune_epochs,
            finetune_lr: a.finetune_lr,
            finetune_lr_decay: a.finetune_lr_decay,
            finetune_augment: a.finetune_augment,
            finetune_dropout: a.finetune_dropout,
            finetune_mixup: a.finetune_mixup,
            finetune_patience: a.finetune_patience,
            distill_alpha: a.distill_alpha,
            temperature: a.temperature,
            max_train: a.max_train,
            seed: a.seed,
            resume: a.resume,
            print_test: a.print_test,
            magnitude: a.magnitude.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the required flags mean exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: CompressArgs = crate::cli::parse(["m.safetensors", "-o", "o"]).unwrap();
        let want = CompressConfig {
            model: "m.safetensors".into(),
            out: "o".into(),
            ..CompressConfig::default()
        };
        assert_eq!(CompressConfig::from(a), want);
    }
}
