//! The `deepiot` host library: data sets, models, training, compression and export.
pub mod board;
pub mod runtime_build;
