//! The `deepiot` host library: data sets, models, training, compression and export.
pub mod board;
pub mod data;
pub mod runtime_build;
