//! The `deepiot` host library: data sets, models, training, compression and export.
pub mod bench_train;
pub mod checkpoint_file;
pub mod cli;
pub mod compare;
pub mod compress;
pub mod data;
pub mod export;
pub mod models;
pub mod onnx_export;
pub mod onnx_import;
pub mod quantize;
pub mod quickstart;
pub mod rng;
pub mod train;

// The board workflow lives in its own crate (no candle); these keep its old paths
// (`deepiot::board`, `crate::paths::write_atomic`, ...) working.
pub use deepiot_board::{board, cli as board_cli, latency, paths, runtime_build, runtime_json};
