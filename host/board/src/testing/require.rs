//! What an end-to-end test needs from the machine (a tool such as `sshd`, `qemu-i386`
//! or `objdump`, or root), checked before the test starts.
//!
//! A user's fresh clone may lack these; the test then prints one line,
//! `skipped TEST: no sshd (apt-get install openssh-server, or run scripts/test.sh)`,
//! and returns, so the suite passes and says what it did not check. A machine that must
//! run everything (CI) sets `DEEPIOT_REQUIRE_TOOLS=1`, and the same situation fails the
//! test. The line and the rule are [`crate::skip::skip_or_fail`], shared with the
//! tests that need a data set, so every skipped test reads alike.
//!
//! Usage: `if !require::tool("my_test", "objdump", "binutils") { return; }`.
use crate::skip as probe;
use std::path::Path;
use std::process::{Command, Stdio};

/// Set to `1` to make a test fail instead of skipping when a tool or root is missing.
pub const REQUIRE_TOOLS_ENV: &str = "DEEPIOT_REQUIRE_TOOLS";

/// What a skip line suggests after the package to install.
const OR_SCRIPT: &str = "or run scripts/test.sh";

/// `true` when `ok`; otherwise says `test` is skipped for `reason` (`how` fixes it) —
/// or fails it under `DEEPIOT_REQUIRE_TOOLS=1` — and returns `false`.
#[track_caller]
pub fn need(test: &str, ok: bool, reason: &str, how: &str) -> bool {
    if !ok {
        probe::skip_or_fail(test, reason, how, REQUIRE_TOOLS_ENV);
    }
    ok
}

/// Whether the program `tool` can be started (found on PATH and executable).
pub fn can_run(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `test` needs the program `tool`, which the Debian package `package` installs.
#[track_caller]
pub fn tool(test: &str, tool: &str, package: &str) -> bool {
    need(
        test,
        can_run(tool),
        &format!("no {tool}"),
        &format!("apt-get install {package}, {OR_SCRIPT}"),
    )
}

/// `test` needs the file `path` (a daemon such as `/usr/sbin/sshd`, which is not on
/// every PATH), reported as `name`, from the Debian package `package`.
#[track_caller]
pub fn file(test: &str, path: &Path, name: &str, package: &str) -> bool {
    need(
        test,
        path.exists(),
        &format!("no {name}"),
        &format!("apt-get install {package}, {OR_SCRIPT}"),
    )
}

/// Whether this process runs as root (effective user id 0, from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| effective_uid(&s))
        == Some(0)
}

/// The effective user id of a `/proc/PID/status` text (the second number on `Uid:`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// `test` needs root for `what` (e.g. "mounting a tmpfs").
#[track_caller]
pub fn root(test: &str, what: &str) -> bool {
    need(
        test,
        is_root(),
        &format!("not root, and {what} needs root"),
        "run the tests as root, e.g. in a container",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_id() {
        let status = "Name:\tcargo\nUid:\t1000\t0\t1000\t1000\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn present_things_are_not_skipped() {
        assert!(can_run("sh"));
        assert!(!can_run("deepiot-no-such-tool"));
        assert!(tool("present_things_are_not_skipped", "sh", "dash"));
        assert!(file(
            "present_things_are_not_skipped",
            Path::new("/"),
            "a root",
            "base-files"
        ));
    }
}
