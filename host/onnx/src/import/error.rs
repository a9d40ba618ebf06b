//! What can go wrong importing an ONNX model. Every variant names what was wrong and,
//! where it helps, the node; nothing is written when any of them is returned.
use deepiot_format::FormatError;

/// The ops the importer maps, for the message of [`ImportError::UnsupportedOp`].
pub const SUPPORTED_OPS: &[&str] = &[
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Dropout",
    "Expand",
    "Flatten",
    "GRU",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Identity",
    "LSTM",
    "MatMul",
    "Add",
    "MaxPool",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Squeeze",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Mul, Sub, Div (on constant shapes only)",
];

/// An ONNX model that cannot become a deepiot model file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not a protobuf `ModelProto` (corrupt or truncated file).
    #[error("not a readable ONNX model (corrupt or truncated file?): {0}")]
    Decode(prost::DecodeError),
    /// The bytes decode, but hold no graph (an empty or unrelated file).
    #[error("the file holds no ONNX graph (empty, truncated, or not an ONNX model)")]
    NoGraph,
    /// The default-domain opset is outside what the importer maps.
    #[error("opset {found} of the default ONNX domain is not supported (supported: 11 to 21); re-export with opset_version in that range")]
    Opset { found: i64 },
    /// An op with no mapping to the layer list.
    #[error("unsupported op `{op}` (node `{node}`); supported ops: {}", SUPPORTED_OPS.join(", "))]
    UnsupportedOp { op: String, node: String },
    /// A supported op whose attributes or inputs have no equivalent in the layer list.
    #[error("node `{node}` ({op}) cannot be mapped: {reason}")]
    Unmappable {
        op: String,
        node: String,
        reason: String,
    },
    /// A graph input whose per-example shape is not fixed.
    #[error("input `{input}` has the dynamic shape {shape}; only the batch axis (the first) may be dynamic: give the per-example shape with --input-shape D1,D2,... (without the batch)")]
    DynamicInput { input: String, shape: String },
    /// `--input-shape` disagrees with the shape the model declares.
    #[error("--input-shape {given:?} does not fit input `{input}` of shape {shape} (the per-example shape leaves out the first, batch axis)")]
    InputShapeMismatch {
        input: String,
        given: Vec<usize>,
        shape: String,
    },
    /// A structural problem: a value used before it is made, a bad tensor, a bad type.
    #[error("malformed ONNX model: {0}")]
    Malformed(String),
    /// The translated graph or its weights do not form a valid model file.
    #[error("the imported model is not a valid deepiot model: {0}")]
    Format(FormatError),
}

// Plain conversions, not error sources: the message already holds the cause, and a
// source would print it twice in an error chain.
impl From<prost::DecodeError> for ImportError {
    fn from(e: prost::DecodeError) -> Self {
        ImportError::Decode(e)
    }
}

impl From<FormatError> for ImportError {
    fn from(e: FormatError) -> Self {
        ImportError::Format(e)
    }
}
