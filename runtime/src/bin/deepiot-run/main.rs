//! `deepiot-run`: the board-side command. Loads one model file, runs it on inputs, or
//! times it (`bench`), or describes it (`info`).
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 bad model file, 4 bad input file.
//!
//! Size is a feature here: the stripped static i686 build must stay under 600 KiB. So the
//! command parses its arguments by hand (no clap); its `--json` reports are the structs of
//! `deepiot_format::report` that the host reads, written with serde_json (which the format
//! crate links anyway to read the graph). The board build (musl with `panic = "abort"`)
//! does not link std at all: std's panic and backtrace machinery alone is about 240 KiB.
//! It talks to the OS through libc (`sys.rs`), which is the same code in the std build
//! that `cargo test` and debug builds use; only the entry point and the panic handler
//! below differ between the two.
#![cfg_attr(
    all(panic = "abort", target_env = "musl", not(feature = "bin-std")),
    no_std
)]
#![cfg_attr(
    all(panic = "abort", target_env = "musl", not(feature = "bin-std")),
    no_main
)]

extern crate alloc;

mod alloc_counter;
mod args;
mod bench;
mod info;
mod input;
mod run;
mod sys;

/// What every module imports in place of std's prelude, so that the same code builds with
/// and without std.
mod prelude {
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

use crate::prelude::*;
use core::fmt;
use deepiot_runtime::Model;

#[global_allocator]
static ALLOCATOR: alloc_counter::Counting = alloc_counter::Counting;

/// Why the command failed; each kind has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Inference refused, output could not be written, or `bench` saw heap allocations.
    Runtime = 1,
    /// Unknown option, missing argument, bad number.
    Usage = 2,
    /// The model file cannot be read or is not a valid deepiot model.
    Model = 3,
    /// An input file cannot be read, is not f32, or has the wrong length.
    Input = 4,
}

/// A failure with the message shown to the user.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl fmt::Display) -> Self {
        Failure {
            kind,
            message: message.to_string(),
        }
    }
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(Kind::Usage, message)
    }
    pub fn model(message: impl fmt::Display) -> Self {
        Self::new(Kind::Model, message)
    }
    pub fn input(message: impl fmt::Display) -> Self {
        Self::new(Kind::Input, message)
    }
    pub fn runtime(message: impl fmt::Display) -> Self {
        Self::new(Kind::Runtime, message)
    }
}

pub type Result<T> = core::result::Result<T, Failure>;

/// A path or argument for messages (arguments are bytes; most are UTF-8).
pub fn shown(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Reads and loads a model file, mapping every problem to exit code 3.
pub fn load_model(path: &[u8]) -> Result<(Vec<u8>, Model)> {
    let bytes = sys::read_file(path)
        .map_err(|e| Failure::model(format!("cannot read model file {}: {e}", shown(path))))?;
    let model = Model::load(&bytes).map_err(|e| {
        Failure::model(format!(
            "{} is not a usable deepiot model: {e}",
            shown(path)
        ))
    })?;
    Ok((bytes, model))
}

/// Writes `text` to stdout; a closed or full stdout is a runtime failure, not a panic.
pub fn emit(text: &str) -> Result<()> {
    sys::write_all(1, text.as_bytes())
        .map_err(|e| Failure::runtime(format!("cannot write to standard output: {e}")))
}

/// The whole command; returns the exit code.
fn cli(argv: &[Vec<u8>]) -> i32 {
    let result = args::parse(argv).and_then(|cmd| match cmd {
        args::Command::Help(topic) => emit(args::help(topic)),
        args::Command::Version => emit(&format!(
            "deepiot-run {} ({}, {})\n",
            env!("CARGO_PKG_VERSION"),
            if cfg!(debug_assertions) {
                "debug build"
            } else {
                "release build"
            },
            if cfg!(all(
                panic = "abort",
                target_env = "musl",
                not(feature = "bin-std")
            )) {
                "static, no std"
            } else {
                "std"
            }
        )),
        args::Command::Run(opts) => run::main(&opts),
        args::Command::Bench(opts) => bench::main(&opts),
        args::Command::Info(opts) => info::main(&opts),
        args::Command::Point { link, target } => sys::point(&link, &target).map_err(|e| {
            Failure::runtime(format!(
                "cannot point {} to {}: {e}",
                shown(&link),
                shown(&target)
            ))
        }),
    });
    match result {
        Ok(()) => 0,
        Err(f) => {
            // If stderr is gone too there is nobody left to tell; the exit code still says it.
            let mut msg = format!("deepiot-run: error: {}\n", f.message);
            if f.kind == Kind::Usage {
                msg.push_str("Run `deepiot-run --help` for usage.\n");
            }
            let _ = sys::write_all(2, msg.as_bytes());
            f.kind as i32
        }
    }
}

#[cfg(not(all(panic = "abort", target_env = "musl", not(feature = "bin-std"))))]
fn main() {
    use std::os::unix::ffi::OsStringExt;
    let argv: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    std::process::exit(cli(&argv));
}

/// The board build's entry point, called by musl's C start-up code.
#[cfg(all(panic = "abort", target_env = "musl", not(feature = "bin-std")))]
#[no_mangle]
pub extern "C" fn main(argc: core::ffi::c_int, argv: *const *const core::ffi::c_char) -> i32 {
    sys::ignore_sigpipe();
    // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
    let args = unsafe { sys::args_from(argc, argv) };
    cli(&args)
}

/// A panic is a bug (no file or argument may cause one); say so and abort.
#[cfg(all(panic = "abort", target_env = "musl", not(feature = "bin-std")))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let _ = write!(
        sys::Stderr,
        "deepiot-run: internal error (a bug; please report it): {info}\n"
    );
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

// Link musl's libc (std would do this; the libc crate leaves it to std).
#[cfg(all(panic = "abort", target_env = "musl", not(feature = "bin-std")))]
#[cfg_attr(
    target_feature = "crt-static",
    link(name = "c", kind = "static", modifiers = "-bundle")
)]
#[cfg_attr(not(target_feature = "crt-static"), link(name = "c"))]
extern "C" {}

/// `core` and `alloc` are prebuilt with unwinding landing pads that name these two
/// symbols. With `panic = "abort"` nothing ever unwinds, so they are never called; they
/// only have to exist for the link.
#[cfg(all(panic = "abort", target_env = "musl", not(feature = "bin-std")))]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

#[cfg(all(panic = "abort", target_env = "musl", not(feature = "bin-std")))]
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
