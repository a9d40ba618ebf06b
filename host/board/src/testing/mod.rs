//! Test support for the board workflow (feature `testing`): a stand-in board ([`standin`],
//! a real sshd on loopback), the skip-or-fail checks for tools and root ([`require`]),
//! the board's runtime binary as users get it, and the runtime library on the host as the
//! reference for what the board computes ([`host_scores`]).
//!
//! A library module rather than a `tests/common` folder because two crates use it: the
//! board tests of this crate and the end-to-end tests crate (`deepiot-tests`). It panics
//! on failure, as test code does; nothing of it is in a non-test build.
pub mod require;
pub mod standin;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Builds the board binary the way every `deepiot` command does
/// ([`crate::runtime_build::build_runtime`] for `targets/edison.toml`: the release build
/// for its triple and `target_cpu`, adding the target with rustup when missing), so the
/// tests check the binary users deploy.
pub fn build_i686_runtime() -> Result<PathBuf, String> {
    let edison = crate::board::target::load("edison", None).map_err(|e| e.to_string())?;
    assert_eq!(edison.triple, crate::runtime_build::EDISON_TRIPLE);
    crate::runtime_build::build_runtime(edison.build_target()).map_err(|e| e.to_string())
}

/// [`build_i686_runtime`], once per test process; panics with cargo's message on failure.
pub fn i686_runtime() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(build_i686_runtime) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Raw little-endian f32, the other input format of `deepiot-run`.
pub fn raw_f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Runs the x86-64 runtime library on each example of `inputs` (back to back).
pub fn host_scores(model: &[u8], inputs: &[f32]) -> Vec<Vec<f32>> {
    let mut m = deepiot_runtime::Model::load(model).expect("model loads on the host");
    let n = m.input_len(0);
    inputs
        .chunks(n)
        .map(|x| {
            let mut y = vec![0.0; m.output_len(0)];
            m.run(x, &mut y).expect("host inference");
            y
        })
        .collect()
}
