//! What the board tests share: the stand-in board, the board CLI and the runtime library
//! as the reference for what the board computes (from this crate's `testing` feature),
//! and the model generator. No candle: model files are written with `deepiot_format`.
#![allow(dead_code)] // each test file uses its own part

use deepiot_format::{reference, testing};

#[allow(unused_imports)] // each test file uses its own part
pub use deepiot_board::testing::{host_scores, raw_f32_bytes};
pub use deepiot_board::testing::{i686_runtime, standin as board};
#[allow(unused_imports)] // each test file uses its own part
pub use testing::random_input;

/// LeNet-5 with random weights (the workspace's one random-model writer).
pub fn lenet5_random(seed: u64) -> Vec<u8> {
    testing::random_model(&reference::lenet5_mnist(), seed)
}

/// The DeepSense-like GRU with random weights.
pub fn gru_model(seed: u64) -> Vec<u8> {
    testing::random_model(&reference::deepsense_gru(), seed)
}
