use alloc::string::String;
use core::fmt;

/// Everything that can be wrong with a model file or a graph. Each variant is a distinct,
/// named failure so that tests (and users) can tell a lying header from a missing tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The safetensors container itself is malformed (header length, offsets, JSON).
    Container(String),
    /// The file has no `deepiot.graph` metadata: it is not a deepiot model.
    MissingGraph,
    /// The graph JSON does not parse.
    GraphJson(String),
    /// The provenance JSON does not parse.
    ProvenanceJson(String),
    /// The graph was written by a newer (or unknown) format version.
    UnsupportedVersion(u32),
    /// The graph declares no inputs, no nodes or no outputs.
    EmptyGraph(&'static str),
    /// Two inputs or nodes share a name.
    DuplicateName(String),
    /// A node or output references a name that exists nowhere in the graph.
    DanglingEdge { node: String, input: String },
    /// A node references itself or a node defined after it (the graph must be acyclic and
    /// listed in execution order).
    CyclicEdge { node: String, input: String },
    /// A node has the wrong number of inputs for its op.
    Arity {
        node: String,
        expected: &'static str,
        found: usize,
    },
    /// An op parameter is out of range (zero kernel, zero stride, ...).
    BadParameter { node: String, what: String },
    /// An input shape is not what the op accepts (rank, sizes that do not fit).
    ShapeMismatch { node: String, what: String },
    /// A dimension or element count is beyond what a 32-bit board can address.
    TooLarge { what: String },
    /// A tensor the graph needs is not in the file.
    MissingTensor(String),
    /// A tensor is in the file but no node uses it.
    UnexpectedTensor(String),
    /// A tensor is not little-endian f32.
    WrongDtype { tensor: String, dtype: String },
    /// A tensor's shape differs from the one the graph implies.
    WrongTensorShape {
        tensor: String,
        expected: alloc::vec::Vec<usize>,
        found: alloc::vec::Vec<usize>,
    },
    /// A tensor given to the writer has fewer or more values than its shape says.
    WrongTensorLength {
        tensor: String,
        expected: usize,
        found: usize,
    },
    /// The `deepiot.sparse` metadata is not a JSON array of distinct tensor names.
    SparseList(String),
    /// A tensor listed as sparse is not a weight of the graph that can be: the name is
    /// unknown, or it is a bias (rank 1, always dense).
    NotSparsifiable(String),
    /// A CSR index tensor (`.indices`, `.indptr`) is neither U32 nor I32.
    WrongIndexDtype { tensor: String, dtype: String },
    /// A CSR row-pointer tensor does not start at 0, decreases, or does not end at the
    /// number of stored values.
    BadIndptr { tensor: String, what: String },
    /// A CSR column index is negative or not below the number of columns.
    IndexOutOfRange {
        tensor: String,
        row: usize,
        index: i64,
        cols: usize,
    },
    /// The column indices of a CSR row are not strictly increasing (unsorted or repeated).
    UnsortedIndices { tensor: String, row: usize },
    /// The `deepiot.int8` metadata is not a JSON array of distinct names.
    QuantList(String),
    /// A tensor listed as int8 is not a weight matrix of the graph, or is also sparse.
    NotQuantizable(String),
    /// An int8 weight breaks an invariant of [`crate::quant`].
    BadQuant { tensor: String, what: String },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match self {
            Container(e) => write!(f, "not a valid safetensors file: {e}"),
            MissingGraph => write!(
                f,
                "the file has no `{}` metadata; it is a safetensors file but not a deepiot model",
                crate::GRAPH_KEY
            ),
            GraphJson(e) => write!(f, "the model graph is not valid JSON for this format: {e}"),
            ProvenanceJson(e) => write!(f, "the provenance metadata is not a JSON object of strings: {e}"),
            UnsupportedVersion(v) => write!(
                f,
                "graph format version {v} is not supported (this build reads version {}); upgrade deepiot",
                crate::FORMAT_VERSION
            ),
            EmptyGraph(what) => write!(f, "the graph has no {what}"),
            DuplicateName(n) => write!(f, "the name `{n}` is used twice in the graph"),
            DanglingEdge { node, input } => {
                write!(f, "`{node}` reads `{input}`, which is neither a graph input nor a node")
            }
            CyclicEdge { node, input } => write!(
                f,
                "`{node}` reads `{input}`, which is itself or comes later: the graph must be acyclic and in execution order"
            ),
            Arity { node, expected, found } => {
                write!(f, "`{node}` takes {expected} input(s) but lists {found}")
            }
            BadParameter { node, what } => write!(f, "`{node}`: {what}"),
            ShapeMismatch { node, what } => write!(f, "`{node}`: {what}"),
            TooLarge { what } => write!(f, "{what} is too large for a 32-bit board"),
            MissingTensor(n) => write!(f, "tensor `{n}` is required by the graph but missing from the file"),
            UnexpectedTensor(n) => write!(f, "tensor `{n}` is in the file but no layer uses it"),
            WrongDtype { tensor, dtype } => write!(f, "tensor `{tensor}` is {dtype}; only F32 is supported"),
            WrongTensorShape { tensor, expected, found } => {
                write!(f, "tensor `{tensor}` has shape {found:?} but the graph needs {expected:?}")
            }
            WrongTensorLength { tensor, expected, found } => {
                write!(f, "tensor `{tensor}` has {found} values but its shape needs {expected}")
            }
            SparseList(e) => write!(
                f,
                "the `{}` metadata is not a JSON array of distinct tensor names: {e}",
                crate::SPARSE_KEY
            ),
            NotSparsifiable(n) => write!(
                f,
                "`{n}` is listed as sparse but is not a weight matrix of the graph (biases are always dense)"
            ),
            WrongIndexDtype { tensor, dtype } => {
                write!(f, "sparse index tensor `{tensor}` is {dtype}; only U32 and I32 are supported")
            }
            BadIndptr { tensor, what } => write!(f, "sparse tensor `{tensor}`: the row pointers {what}"),
            IndexOutOfRange { tensor, row, index, cols } => write!(
                f,
                "sparse tensor `{tensor}`: row {row} has column index {index}, outside 0..{cols}"
            ),
            UnsortedIndices { tensor, row } => write!(
                f,
                "sparse tensor `{tensor}`: the column indices of row {row} are not strictly increasing"
            ),
            QuantList(e) => write!(
                f,
                "the `{}` metadata is not a JSON array of distinct tensor names: {e}",
                crate::QUANT_KEY
            ),
            NotQuantizable(n) => write!(
                f,
                "`{n}` is listed as int8 but is not a weight matrix of the graph stored dense (biases stay f32; a weight is int8 or sparse, not both)"
            ),
            BadQuant { tensor, what } => write!(f, "int8 tensor `{tensor}`: {what}"),
        }
    }
}

impl core::error::Error for FormatError {}
