//! Getting the board runtime (`deepiot-run`) for a target: the one place that finds or
//! builds it, so `deploy`, `bench`, `image build`, `compare`, `quickstart` and the tests
//! all run the same binary, built the same way.
//!
//! In order: the binary given with `--runtime`, else `$DEEPIOT_RUNTIME`, else a release
//! build from the source tree this `deepiot` was compiled from (adding the Rust target
//! with rustup when it is missing, and caching the result), else the build cached by an
//! earlier run of the same deepiot version (an installed `deepiot` whose sources are gone).
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Rust target of Edison-class boards.
pub const EDISON_TRIPLE: &str = "i686-unknown-linux-musl";

/// Environment variable naming a ready runtime binary (as `--runtime` does).
pub const RUNTIME_ENV: &str = "DEEPIOT_RUNTIME";

/// Exit code of `deepiot` when no board runtime can be had (documented in `--help`).
pub const EXIT_RUNTIME_UNAVAILABLE: u8 = crate::exit_code::RUNTIME_UNAVAILABLE;

/// Why no runtime binary could be had. Each message names the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the Rust target {triple} is not installed and rustup is not on the PATH to add it; \
         run `rustup target add {triple}` (or install the target with your toolchain), or \
         pass --runtime BIN / set {RUNTIME_ENV} to a built deepiot-run"
    )]
    NoRustup { triple: String },
    #[error("`rustup target add {triple}` failed:\n{output}")]
    TargetAdd { triple: String, output: String },
    #[error(
        "no board runtime for {triple}: the sources deepiot was built from ({}) are gone \
         and no runtime of deepiot {version} is cached at {}; pass --runtime BIN or set \
         {RUNTIME_ENV} to a deepiot-run binary, or run any board command once from a \
         deepiot checkout (`cargo run -p deepiot -- quickstart`) to build and cache one",
        sources.display(),
        cache.display(),
        version = env!("CARGO_PKG_VERSION")
    )]
    NoRuntime {
        triple: String,
        sources: PathBuf,
        cache: PathBuf,
    },
    #[error("{} (from {origin}) does not exist or is not a file", path.display())]
    Given { path: PathBuf, origin: &'static str },
    #[error("building the runtime for {triple} failed ({status}):\n{output}")]
    Build {
        triple: String,
        status: String,
        output: String,
    },
    #[error("{0}")]
    Io(String),
}

impl RuntimeError {
    /// The process exit code: 5 when no runtime can be had at all (missing target
    /// without rustup, no sources and no cache), 4 when a build was tried and failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            RuntimeError::NoRustup { .. } | RuntimeError::NoRuntime { .. } => {
                EXIT_RUNTIME_UNAVAILABLE
            }
            RuntimeError::Given { .. } => crate::exit_code::BAD_INPUT,
            _ => crate::exit_code::BUILD,
        }
    }
}

/// The workspace this binary was built from (the runtime's sources live there, if the
/// user has not deleted them). This crate is `<root>/host/board`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where a built runtime is kept for this deepiot version and target:
/// `~/.cache/deepiot/runtime/VERSION/TRIPLE/deepiot-run` (see [`crate::paths::cache_home`]).
pub fn cached_runtime(triple: &str) -> Option<PathBuf> {
    Some(
        crate::paths::cache_home()?
            .join("runtime")
            .join(env!("CARGO_PKG_VERSION"))
            .join(triple)
            .join("deepiot-run"),
    )
}

/// The board a runtime is built for: its Rust target and CPU (from `targets/NAME.toml`,
/// so the description is the one source of both; see [`crate::board::target::Target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildTarget<'a> {
    pub triple: &'a str,
    /// `-C target-cpu`; `None` leaves the CPU to `.cargo/config.toml` or rustc's default.
    pub cpu: Option<&'a str>,
}

/// Finds or builds the runtime for `target` (see the module doc for the order).
pub fn locate_runtime(given: Option<&Path>, target: BuildTarget) -> Result<PathBuf, RuntimeError> {
    let triple = target.triple;
    let env = std::env::var_os(RUNTIME_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    for (path, origin) in [(given, "--runtime"), (env.as_deref(), RUNTIME_ENV)] {
        if let Some(p) = path {
            if !p.is_file() {
                return Err(RuntimeError::Given {
                    path: p.to_path_buf(),
                    origin,
                });
            }
            return Ok(p.to_path_buf());
        }
    }
    let root = workspace_root();
    let cache = cached_runtime(triple);
    if root.join("runtime").join("Cargo.toml").is_file() {
        let bin = build_runtime(target)?;
        if let Some(c) = &cache {
            // Best effort: a read-only home only costs the next run without sources.
            if let Err(e) = store(&bin, c) {
                eprintln!("note: could not cache the runtime at {}: {e}", c.display());
            }
        }
        return Ok(bin);
    }
    match cache {
        Some(c) if c.is_file() => Ok(c),
        c => Err(RuntimeError::NoRuntime {
            triple: triple.into(),
            sources: root,
            cache: c.unwrap_or_else(|| PathBuf::from("~/.cache/deepiot/runtime")),
        }),
    }
}

/// Copies the built runtime into the cache (atomically, keeping it executable).
fn store(bin: &Path, dest: &Path) -> std::io::Result<()> {
    crate::paths::write_atomic(dest, &std::fs::read(bin)?)?;
    let mode = std::fs::metadata(bin)?.permissions();
    std::fs::set_permissions(dest, mode)
}

/// Whether the standard library for `triple` is in the active toolchain's sysroot.
fn target_installed(triple: &str, root: &Path) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc)
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
    else {
        // Without a rustc the build below fails with cargo's own message.
        return true;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

/// Adds the Rust target with rustup when it is missing, saying so in one line.
pub fn ensure_target(triple: &str) -> Result<(), RuntimeError> {
    let root = workspace_root();
    if target_installed(triple, &root) {
        return Ok(());
    }
    let has_rustup = Command::new("rustup")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_rustup {
        return Err(RuntimeError::NoRustup {
            triple: triple.into(),
        });
    }
    eprintln!(
        "deepiot: the Rust target {triple} is missing; adding it: rustup target add {triple}"
    );
    let out = Command::new("rustup")
        .current_dir(&root)
        .args(["target", "add", triple])
        .output()
        .map_err(|e| RuntimeError::Io(format!("cannot run rustup: {e}")))?;
    if !out.status.success() {
        return Err(RuntimeError::TargetAdd {
            triple: triple.into(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// Builds `deepiot-run` in release mode for `target` from the workspace and returns the
/// binary's path. The target's CPU goes in as `-C target-cpu` for that triple, and
/// RUSTFLAGS from the environment are dropped (they would replace it): the binary built
/// here is the one users deploy and the one the tests check.
pub fn build_runtime(target: BuildTarget) -> Result<PathBuf, RuntimeError> {
    let triple = target.triple;
    ensure_target(triple)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // cargo's progress on a terminal; captured (and shown on failure) otherwise.
    let stderr = if std::io::stderr().is_terminal() {
        Stdio::inherit()
    } else {
        Stdio::piped()
    };
    let mut cmd = Command::new(&cargo);
    if let Some(cpu) = target.cpu {
        let var = format!(
            "CARGO_TARGET_{}_RUSTFLAGS",
            triple.to_uppercase().replace(['-', '.'], "_")
        );
        cmd.env(var, format!("-C target-cpu={cpu}"));
    }
    let out = cmd
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            triple,
            "-p",
            "deepiot-runtime",
            "--bin",
            "deepiot-run",
            "--message-format=json-render-diagnostics",
        ])
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .output()
        .map_err(|e| RuntimeError::Io(format!("could not start `{cargo}`: {e}")))?;
    if !out.status.success() {
        return Err(RuntimeError::Build {
            triple: triple.into(),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    // cargo's artifact messages name the executable wherever the target directory is.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "deepiot-run")
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            RuntimeError::Io("cargo built the runtime but named no deepiot-run executable".into())
        })
}
