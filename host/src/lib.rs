//! The `deepiot` host library: data sets, models, training, compression and export.
pub mod bench_train;
pub mod board;
pub mod cli;
pub mod compare;
pub mod compress;
pub mod data;
pub mod export;
pub mod models;
pub mod paths;
pub mod quickstart;
pub mod rng;
pub mod runtime_build;
pub mod runtime_json;
pub mod train;
