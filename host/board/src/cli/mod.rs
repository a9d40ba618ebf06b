//! The command line of the board commands, shared by the two binaries (`deepiot` and
//! `deepiot-board`): one file per command, each a clap struct that only converts into
//! the command's plain config (`crate::board::deploy::DeployConfig`, ...) and takes its
//! defaults from that config's `Default`; `flags.rs` holds the flag groups several
//! commands share. Also here: the exit codes the binaries document and how an error ends
//! the process.
use crate::board;
use crate::board::error::{BoardError, EXIT_CODES_HELP};
use crate::runtime_build::RuntimeError;
use clap::Subcommand;
use std::process::ExitCode;

pub mod bench;
pub mod deploy;
pub mod flags;
pub mod flash;
pub mod image;
pub mod profile;
pub mod runtime;
pub mod status;
#[cfg(test)]
mod tests;

/// The exit codes documented for every command (the board commands add theirs:
/// `deploy --help`).
pub const EXIT_CODES: &str = "\
Exit codes:
   0  success
   1  error (the message says what and what to do)
   2  usage error
   4  building the board runtime failed
   5  no board runtime: its Rust target is missing and rustup is not on the PATH, or the
      sources are gone and no runtime is cached (pass --runtime BIN or set DEEPIOT_RUNTIME)";

/// The board subcommands, flattened into the `deepiot` command line.
#[derive(Subcommand, Debug)]
pub enum Commands {
    /// Puts models and the runtime on a board over ssh: verified, atomic, the previous
    /// version kept.
    #[command(after_help = EXIT_CODES_HELP)]
    Deploy(deploy::DeployArgs),
    /// Times models on a board (or on every board of an inventory) with `deepiot-run bench`.
    #[command(after_help = EXIT_CODES_HELP)]
    Bench(bench::BenchArgs),
    /// Builds or inspects a firmware image (runtime + models + config + self-test data).
    #[command(after_help = EXIT_CODES_HELP)]
    Image(image::ImageArgs),
    /// Installs an image into a board's inactive slot, self-tests it, switches to it, and
    /// rolls back if any step fails.
    #[command(after_help = EXIT_CODES_HELP)]
    Flash(flash::FlashArgs),
    /// Looks at a board: the active slot, versions, the last operation's result.
    #[command(after_help = EXIT_CODES_HELP)]
    Board(status::BoardArgs),
}

/// Runs a board subcommand with its config. On failure prints the error and exits with
/// the error's code (`crate::exit_code`), which scripts rely on.
pub fn run(cmd: Commands) -> anyhow::Result<()> {
    let r = match cmd {
        Commands::Deploy(a) => board::deploy::run(&a.into()),
        Commands::Bench(a) => board::bench::run(&a.into()),
        Commands::Image(a) => match a.command {
            image::ImageCommand::Build(b) => board::image::run_build(&b.into()),
            image::ImageCommand::Inspect(i) => board::image::run_inspect(&i.into()),
        },
        Commands::Flash(a) => board::flash::run(&a.into()),
        Commands::Board(a) => match a.command {
            status::BoardCommand::Status(s) => board::status::run(&s.into()),
        },
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) => exit_with(&e),
    }
}

/// Prints a board command's error and ends the process with its code.
fn exit_with(e: &BoardError) -> ! {
    eprintln!("error: {e}");
    std::process::exit(i32::from(e.exit_code()));
}

/// Expected failures print one `error:` line (with its causes) and exit with their code;
/// no backtrace, whatever RUST_BACKTRACE says.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
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

/// Parses `args` (without the program name) as the flags of `T`: how the tests of both
/// crates check that a command line gives the config they expect.
pub fn parse<T, I, S>(args: I) -> anyhow::Result<T>
where
    T: clap::Args + clap::FromArgMatches,
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    use std::ffi::OsString;
    let cmd = T::augment_args(clap::Command::new("deepiot"));
    let argv = std::iter::once(OsString::from("deepiot")).chain(args.into_iter().map(Into::into));
    let matches = cmd.try_get_matches_from(argv)?;
    Ok(T::from_arg_matches(&matches)?)
}
