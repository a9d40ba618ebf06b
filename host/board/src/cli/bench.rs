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
            json: a.send.json,
            quiet: a.send.quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the models given: exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: BenchArgs = crate::cli::parse(["a.safetensors"]).unwrap();
        let want = BenchConfig {
            models: vec!["a.safetensors".into()],
            ..BenchConfig::default()
        };
        assert_eq!(BenchConfig::from(a), want);
    }

    /// The bench flags reach the config; an inventory and one board exclude each other.
    #[test]
    fn flags_reach_the_config() {
        let a: BenchArgs = crate::cli::parse([
            "a.safetensors",
            "--boards",
            "lab.toml",
            "-j",
            "2",
            "-n",
            "5",
            "-w",
            "1",
        ])
        .unwrap();
        let c = BenchConfig::from(a);
        assert_eq!(c.boards, Some("lab.toml".into()));
        assert_eq!((c.jobs, c.iterations, c.warmup), (2, 5, 1));
        let both = ["a.safetensors", "--boards", "lab.toml", "-b", "root@h"];
        assert!(crate::cli::parse::<BenchArgs, _, _>(both).is_err());
    }
}
