//! The model format that the host and the board agree on.
//!
//! One `.safetensors` file is one model. Its `__metadata__` carries the layer graph as
//! JSON under [`GRAPH_KEY`] and free-form provenance under [`PROVENANCE_KEY`]; every
//! weight is a named little-endian f32 tensor called `{node}.{param}` (the same names
//! candle-nn's `VarBuilder` uses, so nothing is renamed between training and export).
//!
//! This crate is the single source of truth for the layer list: the host's models, the
//! compressor, the exporter and the runtime all read [`Op`]. It is `no_std` so that the
//! board's runtime can use it, and it never panics on a file: [`parse`] checks every
//! offset, dtype, shape and size before anyone touches a weight.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
// Only the test support links std (to read the golden files); the default build is no_std.
#[cfg(feature = "testing")]
extern crate std;

mod error;
pub mod fold;
mod graph;
mod parse;
pub mod quant;
pub mod reference;
pub mod report;
pub mod rng;
mod shape;
pub mod sparse;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

pub use error::FormatError;
pub use graph::{Graph, Input, Node, Op, Pool1d, Pool2d, Recurrent, SeqOutput};
pub use parse::{parse, CsrRef, ModelFile, QuantRef};
pub use quant::{QuantTensorData, Quantized};
pub use shape::{ParamSpec, Shape, ShapeInfo, Source, MAX_DIM, MAX_ELEMENTS, MAX_RANK};
pub use sparse::{Csr, SparseTensorData};
pub use write::{write, write_sparse, write_stored, TensorData};

/// Metadata key holding the graph as JSON.
pub const GRAPH_KEY: &str = "deepiot.graph";
/// Metadata key holding provenance (task, method, accuracy, ...) as a JSON object of strings.
pub const PROVENANCE_KEY: &str = "deepiot.provenance";
/// Metadata key listing the weights stored in CSR form, as a JSON array of tensor names
/// (absent when every weight is dense); see [`sparse`].
pub const SPARSE_KEY: &str = "deepiot.sparse";
/// Metadata key listing the weights stored as int8 with per-row scales, as a JSON array
/// of tensor names (absent when no weight is); see [`quant`].
pub const QUANT_KEY: &str = "deepiot.int8";
/// The graph format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
