//! The rule for a test that cannot run here (a data set, a tool or root is missing):
//! skip it with one line, or fail it when the machine must run everything.
//!
//! It lives in this crate, the lowest one that both the host's tests (its data-set probe,
//! `deepiot::data::probe`) and the board tests link, so that every skipped test in the
//! workspace reads alike and obeys the same `DEEPIOT_REQUIRE_*` flags.

/// Whether the environment variable `flag` is set to something other than empty or `0`.
pub fn required(flag: &str) -> bool {
    std::env::var_os(flag).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The one line a skipped test prints: `skipped TEST: REASON (HOW)`.
pub fn skip_line(test: &str, reason: &str, how: &str) -> String {
    format!("skipped {test}: {reason} ({how})")
}

/// Says on stderr that `test` is skipped because of `reason` (and `how` to fix it) —
/// or, when the environment variable `flag` is set (see [`required`]), fails the test
/// with the same words. The caller returns from the test afterwards.
#[track_caller]
pub fn skip_or_fail(test: &str, reason: &str, how: &str, flag: &str) {
    if required(flag) {
        panic!("{test} cannot run: {reason} ({how}); {flag} is set, so it may not skip");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of a test
    // that passes, and a skip nobody sees is a silent one.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{}", skip_line(test, reason, how));
}
