use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// A model: named inputs, layers in execution order, and the names of its outputs.
///
/// Shapes never include the batch: an MNIST image is `[1, 28, 28]`, a window of
/// accelerometer frames `[T, F]`. Nodes may read any graph input or any *earlier* node,
/// which makes branches (and their [`Op::Concat`]) expressible and cycles impossible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub version: u32,
    pub inputs: Vec<Input>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<String>,
    /// Names of the output classes, in score order; may be empty.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// A graph input and its per-example shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub name: String,
    pub shape: Vec<usize>,
}

/// One layer: its name (also the prefix of its tensors), the op, and what it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub inputs: Vec<String>,
    #[serde(flatten)]
    pub op: Op,
}

/// The layer list. Tensor layouts follow PyTorch / candle-nn so that weights move between
/// the engines without transposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Fully connected over the last axis (applied to every row of a `[T, F]` input).
    /// Tensors: `weight [units, in]`, `bias [units]`.
    Dense {
        units: usize,
    },
    /// `[C, L] -> [out_channels, L']`. Tensors: `weight [out, C, kernel]`, `bias [out]`.
    Conv1d {
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// `[C, H, W] -> [out_channels, H', W']`, zero padding. Tensors: `weight [out, C, kh, kw]`,
    /// `bias [out]`.
    Conv2d {
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    MaxPool1d(Pool1d),
    AvgPool1d(Pool1d),
    MaxPool2d(Pool2d),
    AvgPool2d(Pool2d),
    Relu,
    Tanh,
    Sigmoid,
    /// Softmax over the last axis.
    Softmax,
    /// Everything into one axis.
    Flatten,
    /// Same elements, new shape (row-major).
    Reshape {
        shape: Vec<usize>,
    },
    /// Reorder the axes: output axis `i` is input axis `perm[i]`.
    Permute {
        perm: Vec<usize>,
    },
    /// Join two or more inputs along `axis`; all other axes must agree.
    Concat {
        axis: usize,
    },
    /// GRU over `[T, F]`, PyTorch gate order r, z, n.
    Gru(Recurrent),
    /// LSTM over `[T, F]`, PyTorch gate order i, f, g, o.
    Lstm(Recurrent),
}

/// Window and step of a 1-d pool (no padding, floor mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool1d {
    pub kernel: usize,
    pub stride: usize,
}

/// Window and step of a 2-d pool (no padding, floor mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2d {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
}

/// A recurrent layer. Tensors per direction: `weight_ih_l0 [G*hidden, F]`,
/// `weight_hh_l0 [G*hidden, hidden]`, `bias_ih_l0 [G*hidden]`, `bias_hh_l0 [G*hidden]`
/// (G = 3 for GRU, 4 for LSTM), with the suffix `_reverse` for the backward direction,
/// exactly as candle-nn and PyTorch name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrent {
    pub hidden: usize,
    #[serde(default)]
    pub bidirectional: bool,
    pub output: SeqOutput,
}

impl Recurrent {
    /// A recurrent layer of `hidden` units per direction.
    pub const fn new(hidden: usize, bidirectional: bool, output: SeqOutput) -> Self {
        Recurrent {
            hidden,
            bidirectional,
            output,
        }
    }
}

/// What a recurrent layer hands on. Bidirectional layers concatenate
/// `[forward, backward]` on the feature axis in every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeqOutput {
    /// Every step: `[T, D*hidden]`.
    Sequence,
    /// Each direction's final state (PyTorch's `h_n`): `[D*hidden]`.
    Last,
    /// The mean of the sequence output over steps: `[D*hidden]`.
    Mean,
}

impl Op {
    /// A 1-d convolution, for graphs written in code.
    pub const fn conv1d(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> Op {
        Op::Conv1d {
            out_channels,
            kernel,
            stride,
            padding,
        }
    }

    /// A 2-d convolution, for graphs written in code.
    pub const fn conv2d(
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Op {
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        }
    }

    /// A 1-d max-pool, for graphs written in code.
    pub const fn max_pool1d(kernel: usize, stride: usize) -> Op {
        Op::MaxPool1d(Pool1d { kernel, stride })
    }

    /// A 1-d average-pool, for graphs written in code.
    pub const fn avg_pool1d(kernel: usize, stride: usize) -> Op {
        Op::AvgPool1d(Pool1d { kernel, stride })
    }

    /// A 2-d max-pool, for graphs written in code.
    pub const fn max_pool2d(kernel: [usize; 2], stride: [usize; 2]) -> Op {
        Op::MaxPool2d(Pool2d { kernel, stride })
    }

    /// A 2-d average-pool, for graphs written in code.
    pub const fn avg_pool2d(kernel: [usize; 2], stride: [usize; 2]) -> Op {
        Op::AvgPool2d(Pool2d { kernel, stride })
    }

    /// The op's name as it appears in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Dense { .. } => "dense",
            Op::Conv1d { .. } => "conv1d",
            Op::Conv2d { .. } => "conv2d",
            Op::MaxPool1d(_) => "max_pool1d",
            Op::AvgPool1d(_) => "avg_pool1d",
            Op::MaxPool2d(_) => "max_pool2d",
            Op::AvgPool2d(_) => "avg_pool2d",
            Op::Relu => "relu",
            Op::Tanh => "tanh",
            Op::Sigmoid => "sigmoid",
            Op::Softmax => "softmax",
            Op::Flatten => "flatten",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::Concat { .. } => "concat",
            Op::Gru(_) => "gru",
            Op::Lstm(_) => "lstm",
        }
    }

    /// Gate blocks per direction of a recurrent op (3 for GRU, 4 for LSTM).
    pub fn gates(&self) -> Option<usize> {
        match self {
            Op::Gru(_) => Some(3),
            Op::Lstm(_) => Some(4),
            _ => None,
        }
    }
}

impl Graph {
    /// A single-input graph, to be filled with [`Graph::push`].
    pub fn new(input: &str, shape: &[usize]) -> Self {
        Graph {
            version: crate::FORMAT_VERSION,
            inputs: alloc::vec![Input {
                name: input.into(),
                shape: shape.to_vec()
            }],
            nodes: Vec::new(),
            outputs: Vec::new(),
            classes: Vec::new(),
        }
    }

    /// Appends a node that reads the previous node (or the first input) and makes it the
    /// output. Returns its name, for branches.
    pub fn push(&mut self, name: &str, op: Op) -> String {
        let from = match self.nodes.last() {
            Some(n) => n.name.clone(),
            None => self
                .inputs
                .first()
                .map(|i| i.name.clone())
                .unwrap_or_default(),
        };
        self.push_from(name, &[from.as_str()], op)
    }

    /// Appends a node reading the named inputs and makes it the output.
    pub fn push_from(&mut self, name: &str, inputs: &[&str], op: Op) -> String {
        self.nodes.push(Node {
            name: name.into(),
            inputs: inputs.iter().map(|s| (*s).into()).collect(),
            op,
        });
        self.outputs = alloc::vec![name.into()];
        name.into()
    }

    /// The graph as the JSON stored in the file.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON stored in the file (structure only; see [`Graph::infer`]).
    pub fn from_json(s: &str) -> Result<Self, crate::FormatError> {
        serde_json::from_str(s).map_err(|e| crate::FormatError::GraphJson(alloc::format!("{e}")))
    }

    /// Looks a node up by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
