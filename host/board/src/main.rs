//! `deepiot-board`: the board commands of `deepiot` (deploy, bench, image, flash, board
//! status, runtime) without the training stack, for a machine that only deploys models
//! someone else trained, and for the board tests, which then build without candle. Each
//! command runs the same code as in `deepiot`, so flags, output and exit codes agree.
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "deepiot-board",
    version,
    about = "The deepiot board workflow alone: put models on boards, time them, build and flash images.",
    long_about = None,
    after_help = deepiot_board::cli::EXIT_CODES
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
    Runtime(deepiot_board::cli::runtime::RuntimeArgs),
    /// Measures the board runtime layer kind by layer kind and fits its latency model
    /// (per-layer time from the widths); `--check` compares its predictions for whole
    /// networks with their measured p50.
    Profile(deepiot_board::cli::profile::ProfileArgs),
    /// Board workflow: deploy, bench, image, flash, board status.
    #[command(flatten)]
    Board(deepiot_board::cli::Commands),
}

fn main() -> ExitCode {
    deepiot_board::cli::finish(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Runtime(a) => deepiot_board::cli::runtime::run(&a),
        Command::Profile(a) => deepiot_board::cli::profile::run(a),
        Command::Board(c) => deepiot_board::cli::run(c),
    }
}
