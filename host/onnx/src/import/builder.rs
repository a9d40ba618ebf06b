//! The state of a translation: what every ONNX value is so far, the layer graph being
//! built, and its weights.
//!
//! An ONNX value is a constant, a runtime activation ([`Act`]) or one of two pending
//! forms that only some consumers accept. An activation keeps two shapes: the shape of
//! the layer that computes it (`ours`) and the per-example shape ONNX sees (`per`), which
//! may differ by a row-major reshape; `Reshape`, `Squeeze`, `Flatten` and friends only
//! change `per`, and a `reshape` layer is added only when a layer needs the other shape.
//! The batch is implicit in our graph, so an activation also records where ONNX keeps
//! its batch axis (`batch`), which `Transpose` moves about and layers check.
use super::error::ImportError;
use super::tensor::Const;
use crate::proto::NodeProto;
use deepiot_format::{FormatError, Graph, Node, Op};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A runtime value: computed by layer `source` with shape `ours`, seen by ONNX as `per`
/// (without the batch) with the batch axis at `batch` of the full shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    pub source: String,
    pub ours: Vec<usize>,
    pub per: Vec<usize>,
    pub batch: usize,
    /// No other ONNX value reads `source`: the layer may still be changed in place
    /// (a bias or batch norm folded in, a recurrent layer switched to its last state).
    pub exclusive: bool,
    /// The name of the ONNX view (`Flatten`, `Reshape`, ...) that gave `per`, for the
    /// `reshape` layer [`Builder::materialize`] may add: a model exported by
    /// `deepiot export` gets its own layer names back.
    pub view: Option<String>,
}

impl Act {
    /// The full ONNX shape with `batch_size` on the batch axis.
    pub fn full(&self, batch_size: usize) -> Vec<usize> {
        let mut s = self.per.clone();
        s.insert(self.batch, batch_size);
        s
    }
    /// The per-example axis of full axis `axis` (`None` for the batch axis).
    pub fn per_axis(&self, axis: usize) -> Option<usize> {
        match axis.cmp(&self.batch) {
            std::cmp::Ordering::Less => Some(axis),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(axis - 1),
        }
    }
    pub fn rank(&self) -> usize {
        self.per.len() + 1
    }
}

/// One index of a per-example axis of an activation (`Gather` of a direction of a
/// bidirectional state): kept pending, since only a `Concat` that puts the parts back
/// in order can use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub act: Act,
    pub axis: usize,
    pub index: usize,
}

/// What an ONNX value is.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Const(Const),
    /// A constant filled with one value whose shape involves the batch size (the zero
    /// initial state of a recurrent layer).
    Splat(f32),
    Act(Act),
    Part(Box<Part>),
}

/// The translation in progress.
pub struct Builder {
    pub graph: Graph,
    pub weights: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub values: HashMap<String, Value>,
    /// How many node inputs and graph outputs read each value.
    pub uses: HashMap<String, usize>,
    /// The batch size when the model fixes it.
    pub batch: Option<usize>,
    /// The default-domain opset.
    pub opset: i64,
    names: HashSet<String>,
}

/// A name usable as a layer name: letters, digits and `_` only.
pub fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() {
        "layer".into()
    } else {
        out
    }
}

impl Builder {
    pub fn new(graph: Graph, batch: Option<usize>, opset: i64) -> Self {
        let names = graph.inputs.iter().map(|i| i.name.clone()).collect();
        Builder {
            graph,
            weights: BTreeMap::new(),
            values: HashMap::new(),
            uses: HashMap::new(),
            batch,
            opset,
            names,
        }
    }

    /// A layer name not used yet, from `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        let base = sanitize(base);
        let mut name = base.clone();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Appends a layer and returns its output shape, or the format's objection (and
    /// then the layer is not added).
    pub fn push(&mut self, name: &str, inputs: &[&str], op: Op) -> Result<Vec<usize>, FormatError> {
        self.graph.nodes.push(Node {
            name: name.into(),
            inputs: inputs.iter().map(|s| (*s).into()).collect(),
            op,
        });
        self.graph.outputs = vec![name.into()];
        match self.graph.infer() {
            Ok(info) => Ok(info.node_shapes.last().cloned().unwrap_or_default()),
            Err(e) => {
                self.graph.nodes.pop();
                Err(e)
            }
        }
    }

    /// Whether value `name` has exactly one reader.
    pub fn single_use(&self, name: &str) -> bool {
        self.uses.get(name).copied().unwrap_or(0) == 1
    }

    /// Whether value `name` is read at all.
    pub fn used(&self, name: &str) -> bool {
        self.uses.get(name).copied().unwrap_or(0) > 0
    }

    /// The name of a layer (or input) computing `act` with exactly its ONNX per-example
    /// shape, adding a `reshape` layer when the two shapes differ.
    pub fn materialize(&mut self, act: &Act) -> Result<String, FormatError> {
        if act.ours == act.per {
            return Ok(act.source.clone());
        }
        let base = act
            .view
            .clone()
            .unwrap_or_else(|| format!("{}_reshape", act.source));
        let name = self.fresh(&base);
        let op = if act.per.len() == 1 {
            Op::Flatten
        } else {
            Op::Reshape {
                shape: act.per.clone(),
            }
        };
        self.push(&name, &[&act.source], op)?;
        Ok(name)
    }
}

/// One ONNX node being translated: its attributes and inputs, and its error messages.
pub struct Ctx<'a> {
    pub node: &'a NodeProto,
    pub op: &'a str,
    pub name: String,
}

impl<'a> Ctx<'a> {
    pub fn new(node: &'a NodeProto, index: usize) -> Self {
        let op = node.op_type.as_deref().unwrap_or("");
        let name = match node.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => format!("#{index} ({op})"),
        };
        Ctx { node, op, name }
    }

    /// "This node cannot be mapped, because ...".
    pub fn refuse(&self, reason: impl Into<String>) -> ImportError {
        ImportError::Unmappable {
            op: self.op.into(),
            node: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// The format crate's objection to the layer this node became.
    pub fn format(&self, e: FormatError) -> ImportError {
        self.refuse(format!("the layer it maps to is invalid: {e}"))
    }

    fn attr(&self, name: &str) -> Option<&'a crate::proto::AttributeProto> {
        self.node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
    }
    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).and_then(|a| a.i).unwrap_or(default)
    }
    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).and_then(|a| a.f).unwrap_or(default)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attr(name).map(|a| a.ints.clone())
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.attr(name)
            .and_then(|a| a.s.as_deref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.attr(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn tensor(&self, name: &str) -> Option<&'a crate::proto::TensorProto> {
        self.attr(name).and_then(|a| a.t.as_ref())
    }

    /// The name of input `i`, when it is given (an empty name means "left out").
    pub fn input_name(&self, i: usize) -> Option<&'a str> {
        self.node
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
    /// The name of output `i`, when it is given.
    pub fn output_name(&self, i: usize) -> Option<&'a str> {
        self.node
            .output
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Normalises a possibly negative axis for a tensor of `rank` axes.
pub fn norm_axis(ctx: &Ctx<'_>, axis: i64, rank: usize) -> Result<usize, ImportError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(ctx.refuse(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}
