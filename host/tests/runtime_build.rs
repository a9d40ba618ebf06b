//! Getting the board runtime on a machine that lacks its Rust target: `deepiot runtime`
//! (the function every board command, `compare` and `quickstart` use) adds the target
//! with rustup and says so in one line; without rustup it stops with exit code 5 and the
//! command to run, never a backtrace. A toolchain "without the target" is simulated by a
//! `rustc` wrapper whose `--print sysroot` names an empty folder; everything else goes to
//! the real rustc.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TRIPLE: &str = "i686-unknown-linux-musl";

fn deepiot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_deepiot"))
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn real_rustc() -> PathBuf {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc runs");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/rustc")
}

/// A folder with a `rustc` that reports an empty sysroot (no targets installed).
fn toolchain_without_target(dir: &Path) -> PathBuf {
    let sysroot = dir.join("empty-sysroot");
    std::fs::create_dir_all(&sysroot).unwrap();
    let rustc = dir.join("rustc");
    script(
        &rustc,
        &format!(
            "if [ \"$1\" = --print ] && [ \"$2\" = sysroot ]; then echo {}; exit 0; fi\nexec {} \"$@\"",
            sysroot.display(),
            real_rustc().display()
        ),
    );
    rustc
}

/// A temporary folder holding a toolchain without the target and an empty `bin` folder
/// for the tools a test puts on PATH: (the folder, its `rustc`, its `bin`).
fn sandbox() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rustc = toolchain_without_target(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    (dir, rustc, bin)
}

/// `deepiot runtime` with `rustc` as RUSTC, `path` as PATH and no DEEPIOT_RUNTIME.
fn runtime_without_target(rustc: &Path, path: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = deepiot();
    cmd.arg("runtime")
        .env("RUSTC", rustc)
        .env("PATH", path)
        .env_remove("DEEPIOT_RUNTIME");
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_rustup_a_missing_target_is_one_clear_error_with_exit_code_5() {
    // A PATH with the basic tools and no rustup.
    let (_dir, rustc, bin) = sandbox();
    let out = runtime_without_target(&rustc, &bin)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("run `rustup target add {TRIPLE}`")),
        "{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("backtrace") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn with_rustup_a_missing_target_is_added_and_said_in_one_line() {
    let (dir, rustc, bin) = sandbox();
    let log = dir.path().join("rustup.log");
    script(
        &bin.join("rustup"),
        &format!("echo \"$@\" >> {}\nexit 0", log.display()),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = runtime_without_target(&rustc, path)
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("rustup target add"))
        .collect();
    assert_eq!(
        said,
        [format!(
            "deepiot: the Rust target {TRIPLE} is missing; adding it: rustup target add {TRIPLE}"
        )],
        "{stderr}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.lines().any(|l| l == format!("target add {TRIPLE}")),
        "{calls}"
    );
    let runtime = PathBuf::from(stdout.trim());
    assert!(runtime.is_file(), "{stdout}");
}

#[test]
fn a_given_runtime_that_does_not_exist_is_named() {
    let out = deepiot()
        .arg("runtime")
        .env("DEEPIOT_RUNTIME", "/no/such/deepiot-run")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("/no/such/deepiot-run") && stderr.contains("DEEPIOT_RUNTIME"),
        "{stderr}"
    );
}

/// The board description decides the CPU the runtime is built for: a target file asking
/// for `haswell` gets VEX-encoded (AVX) instructions, which the Edison build never has
/// (`deepiot-tests`' `binary_has_no_avx_or_vex_instructions`). Built in its own target
/// folder so the tests that run the Edison binary never see this one.
#[test]
fn the_target_files_cpu_reaches_the_build() {
    if std::process::Command::new("objdump")
        .arg("--version")
        .output()
        .is_err()
    {
        deepiot::data::probe::skip_or_fail(
            "the_target_files_cpu_reaches_the_build",
            "objdump is missing",
            "apt-get install binutils, or run scripts/test.sh",
            "DEEPIOT_REQUIRE_TOOLS",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let edison = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/edison.toml"),
    )
    .unwrap();
    assert!(edison.contains("target_cpu = \"silvermont\""), "{edison}");
    let file = dir.path().join("avxboard.toml");
    std::fs::write(
        &file,
        edison
            .replace("name = \"edison\"", "name = \"avxboard\"")
            .replace("target_cpu = \"silvermont\"", "target_cpu = \"haswell\""),
    )
    .unwrap();
    let out = deepiot()
        .args(["runtime", "--target"])
        .arg(&file)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env("XDG_CACHE_HOME", dir.path())
        .env_remove("DEEPIOT_RUNTIME")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let bin = PathBuf::from(stdout.trim());
    assert!(bin.starts_with(dir.path()), "{}", bin.display());
    let asm = Command::new("objdump")
        .arg("-d")
        .arg(&bin)
        .output()
        .unwrap();
    let asm = String::from_utf8_lossy(&asm.stdout);
    let vex = asm
        .lines()
        .filter(|l| {
            let mut cols = l.split('\t');
            let op = cols.nth(2).unwrap_or("");
            op.starts_with('v') && op.contains("%xmm")
        })
        .count();
    assert!(vex > 0, "a haswell build without one VEX instruction");
}
