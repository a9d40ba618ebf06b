//! `profile`: the runtime's latency model for a target (see `crate::latency`).
use crate::latency::profile::{self, ProfileConfig};
use clap::Args;
use std::path::PathBuf;

/// `profile [--target T] [-o FILE] [--check MODEL...]`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Times every layer kind of deepiot-run (dense, conv 1-D/2-D, GRU/LSTM, pools, activations,
softmax, permute) over a grid of widths with `deepiot-run bench --per-layer`, in the real
i686 build for the target, on this machine. Fits per kind a non-negative combination of
the work the kernels do (register-tile rows, im2col, recurrent products, a fixed cost per
layer), least squares on relative error, and writes it as JSON. With --check, predicts
each given network's p50 from its layer list and times it, printing the error.

Examples:
    deepiot profile -o targets/edison.latency.json
    deepiot profile --model targets/edison.latency.json --check lenet5.safetensors")]
pub struct ProfileArgs {
    /// The board: a name in targets/ (its runtime build) or a .toml path.
    #[arg(long, default_value_t = ProfileConfig::default().target)]
    pub target: String,
    /// Use this deepiot-run binary instead of building the target's.
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// Where to write the latency file [default: TARGET.latency.json].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Check this latency file instead of profiling anew.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Networks whose predicted p50 to compare with their measured p50.
    #[arg(long, num_args = 1..)]
    pub check: Vec<PathBuf>,
    /// Timed runs per grid point and per checked network.
    #[arg(long, default_value_t = ProfileConfig::default().iterations)]
    pub iterations: usize,
    /// Two widths per axis only: a rough model in seconds (for tests).
    #[arg(long)]
    pub quick: bool,
}

impl From<ProfileArgs> for ProfileConfig {
    fn from(a: ProfileArgs) -> Self {
        ProfileConfig {
            target: a.target,
            runtime: a.runtime,
            out: a.out,
            model: a.model,
            check: a.check,
            iterations: a.iterations.max(1),
            quick: a.quick,
        }
    }
}

pub fn run(a: ProfileArgs) -> anyhow::Result<()> {
    profile::run(&a.into())
}
