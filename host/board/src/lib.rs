//! `deepiot-board`: the board workflow of deepiot (deploy, bench, image, flash, board
//! status over SSH) and what it needs around it: finding or building the i686 runtime,
//! reading its `--json` output, the cache folder and atomic writes.
//!
//! It is its own crate so that putting a model on a board, and the tests that do it
//! against a stand-in board, build without candle and the training stack. The `deepiot`
//! binary re-exports these modules under the same paths (`deepiot::board`, ...) and its
//! board commands are the ones defined here; `deepiot-board` is the same commands alone,
//! for deploy-only machines.
pub mod board;
pub mod cli;
pub mod exit_code;
pub mod latency;
pub mod paths;
pub mod runtime_build;
pub mod runtime_json;
pub mod skip;

#[cfg(feature = "testing")]
pub mod testing;
