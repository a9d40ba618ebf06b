//! Shape inference: from the graph alone, the shape of every activation and of every
//! tensor each layer needs, with every size checked against what a 32-bit board can hold.
use crate::graph::{Graph, Op, Pool1d, Pool2d};
use crate::FormatError;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// A per-example shape (no batch axis).
pub type Shape = Vec<usize>;

/// Highest rank an activation may have.
pub const MAX_RANK: usize = 4;
/// Largest single dimension (16 M): anything bigger is a corrupt or hostile file.
pub const MAX_DIM: usize = 1 << 24;
/// Largest element count of one tensor or activation (64 M floats, 256 MiB).
pub const MAX_ELEMENTS: usize = 1 << 26;

/// A tensor a layer needs: its full name in the file and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Shape,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `[rows, cols]` view under which this tensor may be stored sparse (see
    /// [`crate::sparse`]); `None` for biases, which always stay dense.
    pub fn matrix(&self) -> Option<(usize, usize)> {
        crate::sparse::matrix_view(&self.shape)
    }
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Input(usize),
    Node(usize),
}

/// Everything shape inference found out about a valid graph.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeInfo {
    pub input_shapes: Vec<Shape>,
    /// Output shape of each node, in node order.
    pub node_shapes: Vec<Shape>,
    /// Resolved inputs of each node.
    pub node_inputs: Vec<Vec<Source>>,
    /// Tensors of each node, in a fixed order per op (weight before bias; ih, hh, then
    /// biases; forward before reverse).
    pub params: Vec<Vec<ParamSpec>>,
    /// Resolved graph outputs.
    pub outputs: Vec<Source>,
}

impl ShapeInfo {
    pub fn shape_of(&self, s: Source) -> &Shape {
        match s {
            Source::Input(i) => &self.input_shapes[i],
            Source::Node(i) => &self.node_shapes[i],
        }
    }

    /// Total number of weights.
    pub fn param_count(&self) -> usize {
        self.params.iter().flatten().map(ParamSpec::len).sum()
    }

    /// Multiply-accumulates of node `i` for one example (0 for parameter-free layers).
    pub fn macs(&self, graph: &Graph, i: usize) -> u64 {
        let out = &self.node_shapes[i];
        let ins: Vec<&Shape> = self.node_inputs[i]
            .iter()
            .map(|s| self.shape_of(*s))
            .collect();
        let n = |s: &Shape| s.iter().map(|&d| d as u64).product::<u64>();
        match &graph.nodes[i].op {
            Op::Dense { .. } => n(out) * *ins[0].last().unwrap_or(&0) as u64,
            Op::Conv1d { kernel, .. } => n(out) * (ins[0][0] * kernel) as u64,
            Op::Conv2d { kernel, .. } => n(out) * (ins[0][0] * kernel[0] * kernel[1]) as u64,
            Op::Gru(r) | Op::Lstm(r) => {
                let g = graph.nodes[i].op.gates().unwrap_or(0) as u64;
                let dirs = if r.bidirectional { 2 } else { 1 };
                let (t, f, h) = (ins[0][0] as u64, ins[0][1] as u64, r.hidden as u64);
                dirs * t * g * h * (f + h)
            }
            _ => 0,
        }
    }

    /// Multiply-accumulates of the whole graph for one example.
    pub fn total_macs(&self, graph: &Graph) -> u64 {
        (0..graph.nodes.len()).map(|i| self.macs(graph, i)).sum()
    }
}

fn too_large(what: String) -> FormatError {
    FormatError::TooLarge { what }
}

/// Checks a shape's dimensions and element count.
fn check_shape(what: &str, shape: &[usize]) -> Result<(), FormatError> {
    if shape.is_empty() || shape.len() > MAX_RANK {
        return Err(FormatError::ShapeMismatch {
            node: what.to_string(),
            what: format!("shape {shape:?} must have 1 to {MAX_RANK} axes"),
        });
    }
    let mut count: usize = 1;
    for &d in shape {
        if d == 0 {
            return Err(FormatError::ShapeMismatch {
                node: what.to_string(),
                what: format!("shape {shape:?} has an empty axis"),
            });
        }
        if d > MAX_DIM {
            return Err(too_large(format!("`{what}`: dimension {d}")));
        }
        count = count
            .checked_mul(d)
            .filter(|&c| c <= MAX_ELEMENTS)
            .ok_or_else(|| too_large(format!("`{what}`: shape {shape:?}")))?;
    }
    Ok(())
}

fn bad(node: &str, what: String) -> FormatError {
    FormatError::BadParameter {
        node: node.to_string(),
        what,
    }
}

fn mismatch(node: &str, what: String) -> FormatError {
    FormatError::ShapeMismatch {
        node: node.to_string(),
        what,
    }
}

/// Output length of a sliding window, or an error when the window does not fit.
fn window(
    node: &str,
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Result<usize, FormatError> {
    if kernel == 0 || stride == 0 {
        return Err(bad(
            node,
            format!("kernel {kernel} and stride {stride} must be at least 1"),
        ));
    }
    if kernel > MAX_DIM || stride > MAX_DIM || padding > MAX_DIM {
        return Err(too_large(format!("`{node}`: kernel/stride/padding")));
    }
    if padding >= kernel {
        return Err(bad(
            node,
            format!("padding {padding} must be smaller than the kernel {kernel}"),
        ));
    }
    let padded = len + 2 * padding;
    if padded < kernel {
        return Err(mismatch(
            node,
            format!("kernel {kernel} is longer than the padded input {padded}"),
        ));
    }
    Ok((padded - kernel) / stride + 1)
}

fn rank(node: &str, shape: &Shape, want: usize, layout: &str) -> Result<(), FormatError> {
    if shape.len() != want {
        return Err(mismatch(
            node,
            format!("expects a {layout} input, got shape {shape:?}"),
        ));
    }
    Ok(())
}

fn param(node: &str, p: &str, shape: Shape) -> ParamSpec {
    ParamSpec {
        name: format!("{node}.{p}"),
        shape,
    }
}

fn pool1d(node: &str, x: &Shape, p: &Pool1d) -> Result<Shape, FormatError> {
    rank(node, x, 2, "[C, L]")?;
    Ok(vec![x[0], window(node, x[1], p.kernel, p.stride, 0)?])
}

fn pool2d(node: &str, x: &Shape, p: &Pool2d) -> Result<Shape, FormatError> {
    rank(node, x, 3, "[C, H, W]")?;
    Ok(vec![
        x[0],
        window(node, x[1], p.kernel[0], p.stride[0], 0)?,
        window(node, x[2], p.kernel[1], p.stride[1], 0)?,
    ])
}

/// Output shape and tensors of one node given its input shapes.
fn infer_node(node: &str, op: &Op, ins: &[&Shape]) -> Result<(Shape, Vec<ParamSpec>), FormatError> {
    let arity_one = || -> Result<&Shape, FormatError> {
        match ins {
            [x] => Ok(*x),
            _ => Err(FormatError::Arity {
                node: node.to_string(),
                expected: "exactly 1",
                found: ins.len(),
            }),
        }
    };
    let dim = |what: &str, d: usize| -> Result<usize, FormatError> {
        if d == 0 {
            Err(bad(node, format!("{what} must be at least 1")))
        } else if d > MAX_DIM {
            Err(too_large(format!("`{node}`: {what} {d}")))
        } else {
            Ok(d)
        }
    };
    Ok(match op {
        Op::Dense { units } => {
            let x = arity_one()?;
            let units = dim("units", *units)?;
            let f = *x.last().unwrap_or(&0);
            let mut out = x.clone();
            if let Some(l) = out.last_mut() {
                *l = units;
            }
            (
                out,
                vec![
                    param(node, "weight", vec![units, f]),
                    param(node, "bias", vec![units]),
                ],
            )
        }
        Op::Conv1d {
            out_channels,
            kernel,
            stride,
            padding,
        } => {
            let x = arity_one()?;
            rank(node, x, 2, "[C, L]")?;
            let o = dim("out_channels", *out_channels)?;
            let l = window(node, x[1], *kernel, *stride, *padding)?;
            (
                vec![o, l],
                vec![
                    param(node, "weight", vec![o, x[0], *kernel]),
                    param(node, "bias", vec![o]),
                ],
            )
        }
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => {
            let x = arity_one()?;
            rank(node, x, 3, "[C, H, W]")?;
            let o = dim("out_channels", *out_channels)?;
            let h = window(node, x[1], kernel[0], stride[0], padding[0])?;
            let w = window(node, x[2], kernel[1], stride[1], padding[1])?;
            (
                vec![o, h, w],
                vec![
                    param(node, "weight", vec![o, x[0], kernel[0], kernel[1]]),
                    param(node, "bias", vec![o]),
                ],
            )
        }
        Op::MaxPool1d(p) | Op::AvgPool1d(p) => (pool1d(node, arity_one()?, p)?, vec![]),
        Op::MaxPool2d(p) | Op::AvgPool2d(p) => (pool2d(node, arity_one()?, p)?, vec![]),
        Op::Relu | Op::Tanh | Op::Sigmoid | Op::Softmax => (arity_one()?.clone(), vec![]),
        Op::Flatten => (vec![arity_one()?.iter().product()], vec![]),
        Op::Reshape { shape } => {
            let x = arity_one()?;
            check_shape(node, shape)?;
            let (a, b): (usize, usize) = (x.iter().product(), shape.iter().product());
            if a != b {
                return Err(mismatch(
                    node,
                    format!("cannot reshape {x:?} ({a} values) to {shape:?} ({b} values)"),
                ));
            }
            (shape.clone(), vec![])
        }
        Op::Permute { perm } => {
            let x = arity_one()?;
            let mut seen = vec![false; x.len()];
            if perm.len() != x.len()
                || perm
                    .iter()
                    .any(|&p| p >= x.len() || core::mem::replace(&mut seen[p], true))
            {
                return Err(bad(
                    node,
                    format!(
                        "{perm:?} is not a permutation of the {} axes of {x:?}",
                        x.len()
                    ),
                ));
            }
            (perm.iter().map(|&p| x[p]).collect(), vec![])
        }
        Op::Concat { axis } => {
            if ins.len() < 2 {
                return Err(FormatError::Arity {
                    node: node.to_string(),
                    expected: "2 or more",
                    found: ins.len(),
                });
            }
            let first = ins[0];
            if *axis >= first.len() {
                return Err(bad(
                    node,
                    format!("axis {axis} is out of range for shape {first:?}"),
                ));
            }
            let mut out = first.clone();
            for x in &ins[1..] {
                let agrees = x.len() == first.len()
                    && x.iter()
                        .zip(first.iter())
                        .enumerate()
                        .all(|(i, (a, b))| i == *axis || a == b);
                if !agrees {
                    return Err(mismatch(
                        node,
                        format!("cannot concatenate {first:?} and {x:?} on axis {axis}"),
                    ));
                }
                out[*axis] = out[*axis].saturating_add(x[*axis]);
            }
            (out, vec![])
        }
        Op::Gru(r) | Op::Lstm(r) => {
            let x = arity_one()?;
            rank(node, x, 2, "[T, F] sequence")?;
            let h = dim("hidden", r.hidden)?;
            let g = op.gates().unwrap_or(0);
            let dirs: &[&str] = if r.bidirectional {
                &["", "_reverse"]
            } else {
                &[""]
            };
            let mut params = Vec::new();
            for d in dirs {
                params.push(param(node, &format!("weight_ih_l0{d}"), vec![g * h, x[1]]));
                params.push(param(node, &format!("weight_hh_l0{d}"), vec![g * h, h]));
                params.push(param(node, &format!("bias_ih_l0{d}"), vec![g * h]));
                params.push(param(node, &format!("bias_hh_l0{d}"), vec![g * h]));
            }
            let width = dirs.len() * h;
            let out = match r.output {
                crate::SeqOutput::Sequence => vec![x[0], width],
                crate::SeqOutput::Last | crate::SeqOutput::Mean => vec![width],
            };
            (out, params)
        }
    })
}

impl Graph {
    /// Resolves every edge and infers every shape, rejecting anything a board could not
    /// run: unknown versions, dangling or backward edges, bad parameters, shapes that do not
    /// fit, sizes past [`MAX_DIM`] / [`MAX_ELEMENTS`].
    pub fn infer(&self) -> Result<ShapeInfo, FormatError> {
        if self.version != crate::FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(self.version));
        }
        if self.inputs.is_empty() {
            return Err(FormatError::EmptyGraph("inputs"));
        }
        if self.nodes.is_empty() {
            return Err(FormatError::EmptyGraph("nodes"));
        }
        if self.outputs.is_empty() {
            return Err(FormatError::EmptyGraph("outputs"));
        }
        let mut names: Vec<&str> = Vec::new();
        for n in self
            .inputs
            .iter()
            .map(|i| &i.name)
            .chain(self.nodes.iter().map(|n| &n.name))
        {
            if names.contains(&n.as_str()) {
                return Err(FormatError::DuplicateName(n.clone()));
            }
            names.push(n);
        }
        let mut input_shapes = Vec::new();
        for i in &self.inputs {
            check_shape(&i.name, &i.shape)?;
            input_shapes.push(i.shape.clone());
        }
        let resolve = |node: &str, want: &str, before: usize| -> Result<Source, FormatError> {
            if let Some(i) = self.inputs.iter().position(|x| x.name == want) {
                return Ok(Source::Input(i));
            }
            match self.nodes.iter().position(|x| x.name == want) {
                Some(j) if j < before => Ok(Source::Node(j)),
                Some(_) => Err(FormatError::CyclicEdge {
                    node: node.into(),
                    input: want.into(),
                }),
                None => Err(FormatError::DanglingEdge {
                    node: node.into(),
                    input: want.into(),
                }),
            }
        };
        let mut info = ShapeInfo {
            input_shapes,
            node_shapes: Vec::new(),
            node_inputs: Vec::new(),
            params: Vec::new(),
            outputs: Vec::new(),
        };
        for (k, node) in self.nodes.iter().enumerate() {
            let srcs = node
                .inputs
                .iter()
                .map(|w| resolve(&node.name, w, k))
                .collect::<Result<Vec<_>, _>>()?;
            let shapes: Vec<&Shape> = srcs.iter().map(|s| info.shape_of(*s)).collect();
            let (out, params) = infer_node(&node.name, &node.op, &shapes)?;
            check_shape(&node.name, &out)?;
            for p in &params {
                check_shape(&p.name, &p.shape)?;
            }
            info.node_shapes.push(out);
            info.node_inputs.push(srcs);
            info.params.push(params);
        }
        for o in &self.outputs {
            let s = resolve("outputs", o, self.nodes.len())?;
            info.outputs.push(s);
        }
        Ok(info)
    }
}
