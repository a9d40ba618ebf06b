//! Shared helpers for the end-to-end tests: model generators ([`models`]), the board
//! build of `deepiot-run` (built once per test binary), the runtime library on the host as
//! the reference, and small file writers.
pub mod models;

// The stand-in board and the skip-or-fail checks moved to `deepiot-board` (feature
// `testing`), whose board tests build without candle; the old paths keep working.
pub use deepiot_board::testing::{
    build_i686_runtime, host_scores, i686_runtime, raw_f32_bytes, require, standin as board,
};
pub use deepiot_format::testing::npy_bytes;

pub use models::{
    bilstm_model, branched_model, gru_model, lenet5_random, random_input, with_random_weights,
};

use std::path::{Path, PathBuf};

/// The Rust target of the board (Intel Edison: 32-bit Atom, static musl).
pub const BOARD_TARGET: &str = "i686-unknown-linux-musl";

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_models_load_and_have_the_documented_size() {
        let lenet = deepiot_runtime::Model::load(&lenet5_random(1)).unwrap();
        assert_eq!(lenet.param_count(), 431_080);
        assert_eq!(lenet.macs(), 2_293_000);
        assert_eq!((lenet.input_len(0), lenet.output_len(0)), (784, 10));
        for (bytes, inp, out) in [
            (gru_model(1), 20 * 60, 6),
            (bilstm_model(1), 16 * 8, 5),
            (branched_model(1), 2 * 64, 4),
        ] {
            let m = deepiot_runtime::Model::load(&bytes).unwrap();
            assert_eq!((m.input_len(0), m.output_len(0)), (inp, out));
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(gru_model(7), gru_model(7));
        assert_ne!(gru_model(7), gru_model(8));
    }
}
