//! The flags of `bench`. Defaults come from [`BenchConfig::default`].
use super::flags::{SendFlags, SshFlags, TargetFlags};
use crate::board::bench::BenchConfig;
use clap::Args;
use std::path::PathBuf;

/// `bench MODEL...`.
#[derive(Args, Debug, Clone)]
// The one flag of the shared group whose help says less here.
#[command(mut_arg("json", |a| a.help("Print JSON on stdout")))]
pub struct BenchArgs {
    /// Model files (.safetensors) to time; the first is the baseline of the ratio column.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub ssh: SshFlags,
    /// An inventory of boards (TOML, `[[board]]` entries with `name` and `address`), run
    /// in parallel instead of --board.
    #[arg(long, value_name = "FILE", conflicts_with = "board")]
    pub boards: Option<PathBuf>,
    /// How many boards of the inventory at once.
    #[arg(short = 'j', long, default_value_t = BenchConfig::default().jobs)]
    pub jobs: usize,
    #[command(flatten)]
    pub target: TargetFlags,
    /// Use this runtime binary instead of building deepiot-run for the target.
    #[arg(long, value_name = "BIN")]
    pub runtime: Option<PathBuf>,
    /// Timed inferences per model.
    #[arg(short = 'n', long, default_value_t = BenchConfig::default().iterations)]
    pub iterations: u32,
    /// Untimed inferences first.
    #[arg(short = 'w', long, default_value_t = BenchConfig::default().warmup)]
    pub warmup: u32,
    #[command(flatten)]
    pub send: SendFlags,
}

impl From<BenchArgs> for BenchConfig {
    fn from(a: BenchArgs) -> Self {
        BenchConfig {
            models: a.models,
            ssh: a.ssh.into(),
            boards: a.boards,
            jobs: a.jobs,
            target: a.target.into(),
            runtime: a.runtime,
            iterations: a.iterations,
            warmup: a.warmup,
            transfer: a.send.transfer.into(),
            print: a.send.print.into(),
        }
    }
}
