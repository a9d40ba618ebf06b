//! The deepiot inference runtime for Edison-class boards.
//!
//! Three stages, kept apart (as tract does): the format crate says what the model is;
//! [`plan`] fixes where every activation lives in one arena; [`kernels`] compute. Loading
//! allocates (weights, arena, the step list); [`Model::run`] allocates nothing, ever.
//!
//! ```no_run
//! # fn demo(bytes: &[u8]) -> Result<(), deepiot_runtime::LoadError> {
//! let mut model = deepiot_runtime::Model::load(bytes)?;
//! let input = vec![0.0; model.input_len(0)];
//! let mut scores = vec![0.0; model.output_len(0)];
//! model.run(&input, &mut scores).expect("lengths match");
//! # Ok(()) }
//! ```
#![no_std]

extern crate alloc;

mod error;
pub mod kernels;
mod model;
/// The `.npy` input reader of `deepiot-run` (inputs arrive from outside: fuzzed).
pub mod npy;
pub mod plan;

pub use deepiot_format as format;
pub use error::{LoadError, RunError};
pub use model::Model;
