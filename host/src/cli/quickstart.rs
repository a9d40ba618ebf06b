//! `deepiot quickstart`: the command line of [`crate::quickstart::run`].
use crate::quickstart::QuickstartConfig;
use std::path::PathBuf;

/// Runs the whole job end to end on the bundled MNIST subset.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// Where the models, reports and the runtime's inputs go.
    #[arg(long, default_value_os_t = QuickstartConfig::default().out)]
    pub out: PathBuf,
    /// Data folder (default: the MNIST subset bundled with deepiot, so nothing is fetched).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Training epochs.
    #[arg(long, default_value_t = QuickstartConfig::default().epochs)]
    pub epochs: usize,
    /// Compressor-critic iterations at most.
    #[arg(long, default_value_t = QuickstartConfig::default().iterations)]
    pub iterations: usize,
    /// Use this board runtime binary instead of building deepiot-run (also
    /// $DEEPIOT_RUNTIME; an installed deepiot otherwise uses the one it cached).
    #[arg(long, value_name = "BIN")]
    pub runtime: Option<PathBuf>,
}

impl From<QuickstartArgs> for QuickstartConfig {
    fn from(a: QuickstartArgs) -> Self {
        QuickstartConfig {
            out: a.out,
            data: a.data,
            epochs: a.epochs,
            iterations: a.iterations,
            runtime: a.runtime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No flags mean exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: QuickstartArgs = crate::cli::parse(Vec::<String>::new()).unwrap();
        assert_eq!(QuickstartConfig::from(a), QuickstartConfig::default());
    }
}
