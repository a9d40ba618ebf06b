//! `deepiot-board`: the board commands of `deepiot` (deploy, bench, image, flash, board
//! status, runtime) without the training stack, for a machine that only deploys models
//! someone else trained, and for the board tests, which then build without candle. Each
//! command runs the same code as in `deepiot`, so flags, output and exit codes agree.
use anyhow::Result;
use clap::{Parser, Subcommand};
use deepiot_board::runtime_build::RuntimeError;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "deepiot-board",
    version,
    about = "The deepiot board workflow alone: put models on boards, time them, build and flash images.",
    long_about = None,
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Prints the path of the board runtime (`deepiot-run`) the board commands use:
    /// $DEEPIOT_RUNTIME, else a release build from the sources (adding the Rust target
    /// with rustup if it is missing), else the build cached for this version.
    Runtime {
        /// The board: a name in targets/ (its Rust triple and CPU) or a .toml path.
        #[arg(long, default_value = "edison")]
        target: String,
    },
    /// Board workflow: deploy, bench, image, flash, board status.
    #[command(flatten)]
    Board(deepiot_board::board::Commands),
}

/// The exit codes `deepiot` documents for every command (the board commands add theirs).
const EXIT_CODES: &str = "\
Exit codes:
   0  success
   1  error (the message says what and what to do)
   2  usage error
   4  building the board runtime failed
   5  no board runtime: its Rust target is missing and rustup is not on the PATH, or the
      sources are gone and no runtime is cached (pass --runtime BIN or set DEEPIOT_RUNTIME)";

/// As in `deepiot`: one `error:` line with its causes and the error's exit code.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<RuntimeError>())
                .map_or(1, RuntimeError::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Runtime { target } => {
            let target = deepiot_board::board::target::load(&target, None)?;
            let bin = deepiot_board::runtime_build::locate_runtime(None, target.build_target())?;
            println!("{}", bin.display());
            Ok(())
        }
        Command::Board(c) => deepiot_board::board::run_cli(c),
    }
}
