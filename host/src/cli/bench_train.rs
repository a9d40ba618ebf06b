//! `deepiot bench-train`: the command line of [`crate::bench_train::run`].
use crate::bench_train::BenchTrainConfig;

/// `deepiot bench-train`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchTrainArgs {
    /// The zoo model (mnist-lenet5, har-deepsense, userid-deepsense, speech-bilstm, cifar-vgg).
    #[arg(long, default_value_t = BenchTrainConfig::default().task)]
    pub task: String,
    #[arg(long, default_value_t = BenchTrainConfig::default().batch)]
    pub batch: usize,
    /// Timed steps per configuration.
    #[arg(short = 'n', long, default_value_t = BenchTrainConfig::default().iterations)]
    pub iterations: usize,
    /// Untimed steps first.
    #[arg(short, long, default_value_t = BenchTrainConfig::default().warmup)]
    pub warmup: usize,
    /// Thread counts to try (sets RAYON_NUM_THREADS for candle's matmuls and runs in a
    /// rayon pool of that size).
    // A comma-separated default text, as the flag takes it; a test checks it is the config's.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Only this configuration (`candle-default-malloc`, `candle` or `im2col`); default all.
    #[arg(long)]
    pub only: Option<String>,
    /// Prints JSON.
    #[arg(long)]
    pub json: bool,
}

impl From<BenchTrainArgs> for BenchTrainConfig {
    fn from(a: BenchTrainArgs) -> Self {
        BenchTrainConfig {
            task: a.task,
            batch: a.batch,
            iterations: a.iterations,
            warmup: a.warmup,
            threads: a.threads,
            only: a.only,
            json: a.json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No flags mean exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: BenchTrainArgs = crate::cli::parse(Vec::<String>::new()).unwrap();
        assert_eq!(BenchTrainConfig::from(a), BenchTrainConfig::default());
    }
}
