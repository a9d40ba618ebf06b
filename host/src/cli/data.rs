//! The flags of `deepiot data fetch`. Defaults come from [`FetchConfig::default`].
use crate::data::fetch::{self, FetchConfig, EXIT_CODES_HELP};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `deepiot data ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum DataCommand {
    /// Downloads the data sets (MNIST, the chest-accelerometer activity set, the spoken
    /// digits, CIFAR-10) into the user's data folder, verified against sha256 pins.
    ///
    /// MNIST comes from its original public copy; the other three are packaged
    /// differently at their sources and need --mirror URL (or DEEPIOT_DATA_MIRROR), a
    /// server laid out like a deepiot data root (URL/mnist/train-images-idx3-ubyte.gz,
    /// URL/casale-har/1.csv.gz, ...). Downloads resume after a cut and across runs; a
    /// file that fails verification is deleted, never left for a loader.
    #[command(after_help = EXIT_CODES_HELP)]
    Fetch(FetchArgs),
}

/// `deepiot data fetch [TASK...]`.
#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    /// Data sets to fetch, by task (mnist, har, har_cross_participant, userid, speech,
    /// cifar10) or folder name (casale-har, fsdd, cifar10-jpeg). None: all of them.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,

    /// Base URL of a mirror laid out like a deepiot data root. Default: $DEEPIOT_DATA_MIRROR,
    /// else each data set's original source.
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,

    /// The data root to fill. Default: the user's data folder ($DEEPIOT_USER_DATA, else
    /// $XDG_CACHE_HOME/deepiot/data, else ~/.cache/deepiot/data), which the loaders search.
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,

    /// Prints the data sets, their files, sizes, sources and whether they are present
    /// and verified in the destination; downloads nothing.
    #[arg(long)]
    pub list: bool,

    /// Retries per file after the connection drops.
    #[arg(long, default_value_t = FetchConfig::default().retries, value_name = "N")]
    pub retries: u32,

    /// Connect and read timeout in seconds.
    #[arg(long, default_value_t = FetchConfig::default().timeout, value_name = "SECS")]
    pub timeout: u64,

    /// No progress bars or step lines (errors and the summary still print).
    #[arg(long, short)]
    pub quiet: bool,
}

impl From<FetchArgs> for FetchConfig {
    fn from(a: FetchArgs) -> Self {
        FetchConfig {
            tasks: a.tasks,
            mirror: a.mirror,
            dest: a.dest,
            list: a.list,
            retries: a.retries,
            timeout: a.timeout,
            quiet: a.quiet,
        }
    }
}

/// Runs a `deepiot data` command; on failure prints the error and exits with its code
/// (see [`crate::data::fetch::code`]), which scripts rely on.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    let result = match cmd {
        DataCommand::Fetch(a) => fetch::run(&a.into()),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(i32::from(e.exit_code()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No flags: exactly the config's defaults (all data sets, from the default places).
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: FetchArgs = crate::cli::parse(Vec::<String>::new()).unwrap();
        assert_eq!(FetchConfig::from(a), FetchConfig::default());
        let a: FetchArgs =
            crate::cli::parse(["mnist", "har", "--retries", "0", "--list", "-q"]).unwrap();
        let c = FetchConfig::from(a);
        assert_eq!(c.tasks, ["mnist", "har"]);
        assert_eq!(c.retries, 0);
        assert!(c.list && c.quiet);
    }
}
