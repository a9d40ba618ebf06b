//! What the board tests share: the stand-in board and the board CLI (from this crate's
//! `testing` feature), the model generator, and the runtime library as the reference for
//! what the board computes. No candle: model files are written with `deepiot_format`.
#![allow(dead_code)] // each test file uses its own part

use deepiot_format::{reference, testing};

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
