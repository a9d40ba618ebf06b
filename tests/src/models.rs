//! Model files with deterministic random weights for the end-to-end tests and the README:
//! the reference graphs of `deepiot_format::reference` (LeNet-5, a DeepSense-like GRU, a
//! bidirectional LSTM, a branched 1-d model) through `deepiot_format::testing`'s one
//! random-model writer, which the runtime's tests and benchmarks use as well.
pub use deepiot_format::reference::hhar_classes;
use deepiot_format::{reference, testing, Graph};

/// `n` input values uniform in [-1, 1) from `seed`.
pub fn random_input(seed: u64, n: usize) -> Vec<f32> {
    testing::random_input(seed, n)
}

/// Serialises `graph` with random weights drawn as PyTorch initialises them: uniform in
/// ±1/sqrt(fan_in) (±1/sqrt(hidden) for recurrent layers), biases alike.
pub fn with_random_weights(graph: &Graph, seed: u64) -> Vec<u8> {
    testing::random_model(graph, seed)
}

/// LeNet-5 with digit class names (`deepiot_format::reference::lenet5_mnist`).
pub fn lenet5_graph() -> Graph {
    reference::lenet5_mnist()
}

/// [`lenet5_graph`] with random weights, as model file bytes.
pub fn lenet5_random(seed: u64) -> Vec<u8> {
    with_random_weights(&lenet5_graph(), seed)
}

/// `deepiot_format::reference::deepsense_gru`.
pub fn gru_graph() -> Graph {
    reference::deepsense_gru()
}

/// [`gru_graph`] with random weights.
pub fn gru_model(seed: u64) -> Vec<u8> {
    with_random_weights(&gru_graph(), seed)
}

/// `deepiot_format::reference::bilstm`.
pub fn bilstm_graph() -> Graph {
    reference::bilstm()
}

/// [`bilstm_graph`] with random weights.
pub fn bilstm_model(seed: u64) -> Vec<u8> {
    with_random_weights(&bilstm_graph(), seed)
}

/// `deepiot_format::reference::branched`.
pub fn branched_graph() -> Graph {
    reference::branched()
}

/// [`branched_graph`] with random weights.
pub fn branched_model(seed: u64) -> Vec<u8> {
    with_random_weights(&branched_graph(), seed)
}
