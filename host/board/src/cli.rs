//! What the two binaries (`deepiot` and `deepiot-board`) share around their commands: the
//! exit codes they document, how an error ends the process, and `runtime`.
use crate::runtime_build::{locate_runtime, RuntimeError};
use std::process::ExitCode;

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

/// `runtime --target T`: prints the path of the board runtime the board commands use.
pub fn print_runtime(target: &str) -> anyhow::Result<()> {
    let target = crate::board::target::load(target, None)?;
    let bin = locate_runtime(None, target.build_target())?;
    println!("{}", bin.display());
    Ok(())
}
