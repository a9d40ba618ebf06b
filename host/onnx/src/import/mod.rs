//! ONNX in: a PyTorch or TensorFlow export (opsets 11 to 21) translated into the layer
//! list (`deepiot_format::Graph`) and its weights, with PyTorch's tensor names and
//! layouts, written as a deepiot model file.
//!
//! The translation walks the nodes in order and keeps, for every ONNX value, what it is
//! ([`builder::Value`]): constants are folded (the shape arithmetic exporters emit
//! around `Reshape` included), views change only how ONNX sees an activation, and only
//! ops that compute something become layers. Everything the layer list cannot express
//! exactly is refused with the node and the reason; nothing is approximated.
mod builder;
mod error;
mod ops;
mod tensor;

pub use error::{ImportError, SUPPORTED_OPS};

use crate::proto::{tensor_shape_proto::dimension, type_proto, DataType, ModelProto};
use builder::{sanitize, Act, Builder, Ctx, Value};
use deepiot_format::{Graph, Input, TensorData};
use prost::Message;
use std::collections::{BTreeMap, HashSet};

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The per-example input shape (no batch axis), for models whose input shape is
    /// dynamic beyond the batch.
    pub input_shape: Option<Vec<usize>>,
}

/// An imported model: the graph, its weights, and the model file's bytes.
#[derive(Debug, Clone)]
pub struct Imported {
    pub graph: Graph,
    /// Every weight by name: shape and row-major values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub provenance: BTreeMap<String, String>,
    /// The model file (`deepiot_format::write`).
    pub bytes: Vec<u8>,
}

impl Imported {
    /// Number of weights.
    pub fn param_count(&self) -> usize {
        self.tensors.values().map(|(_, v)| v.len()).sum()
    }
}

/// The default-domain opset the model declares.
fn opset(model: &ModelProto) -> Result<i64, ImportError> {
    let v = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| ImportError::Malformed("the model declares no ONNX opset".into()))?;
    if !(11..=21).contains(&v) {
        return Err(ImportError::Opset { found: v });
    }
    Ok(v)
}

/// A shape for messages: `[batch, 3, 64]`, `?` where unknown.
fn show(dims: &[Option<String>]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|d| d.clone().unwrap_or("?".into()))
        .collect();
    format!("[{}]", d.join(", "))
}

/// The per-example shape of graph input `name` and its batch size, if fixed.
fn input_shape(
    vi: &crate::proto::ValueInfoProto,
    given: Option<&[usize]>,
) -> Result<(Vec<usize>, Option<usize>), ImportError> {
    let name = vi.name.clone().unwrap_or_default();
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        None => {
            return Err(ImportError::Malformed(format!(
                "input `{name}` is not a tensor"
            )))
        }
    };
    if tensor.elem_type != Some(DataType::Float as i32) {
        return Err(ImportError::Malformed(format!(
            "input `{name}` has element type {:?}; only float32 inputs are supported",
            tensor.elem_type.and_then(|t| DataType::try_from(t).ok())
        )));
    }
    // Each axis: Some(size) when fixed.
    let dims: Option<Vec<Option<usize>>> = tensor.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
                _ => None,
            })
            .collect()
    });
    let shown = |dims: &[Option<usize>], s: &crate::proto::TensorShapeProto| {
        show(
            &dims
                .iter()
                .zip(&s.dim)
                .map(|(d, p)| match (d, &p.value) {
                    (Some(v), _) => Some(v.to_string()),
                    (None, Some(dimension::Value::DimParam(p))) if !p.is_empty() => Some(p.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
    };
    let Some(dims) = dims else {
        return match given {
            Some(g) => Ok((g.to_vec(), None)),
            None => Err(ImportError::DynamicInput {
                input: name,
                shape: "of unknown rank".into(),
            }),
        };
    };
    let proto_shape = tensor.shape.clone().unwrap_or_default();
    if dims.is_empty() {
        return Err(ImportError::Malformed(format!(
            "input `{name}` is a scalar; inputs need a batch axis"
        )));
    }
    let batch = dims[0];
    let per = &dims[1..];
    let shape = shown(&dims, &proto_shape);
    match given {
        Some(g) => {
            let fits =
                g.len() == per.len() && g.iter().zip(per).all(|(&a, b)| b.is_none_or(|b| b == a));
            if !fits {
                return Err(ImportError::InputShapeMismatch {
                    input: name,
                    given: g.to_vec(),
                    shape,
                });
            }
            Ok((g.to_vec(), batch))
        }
        None => match per.iter().copied().collect::<Option<Vec<usize>>>() {
            Some(p) => Ok((p, batch)),
            None => Err(ImportError::DynamicInput { input: name, shape }),
        },
    }
}

/// Reads ONNX `bytes` and translates them. Nothing is written anywhere; the result
/// holds the model file's bytes.
pub fn import(bytes: &[u8], options: &ImportOptions) -> Result<Imported, ImportError> {
    let model = ModelProto::decode(bytes)?;
    let graph = model.graph.as_ref().ok_or(ImportError::NoGraph)?;
    if graph.node.is_empty() {
        return Err(ImportError::NoGraph);
    }
    let opset = opset(&model)?;

    let init_names: HashSet<&str> = graph
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|i| !init_names.contains(i.name.as_deref().unwrap_or("")))
        .collect();
    if inputs.is_empty() {
        return Err(ImportError::Malformed("the graph has no input".into()));
    }
    if options.input_shape.is_some() && inputs.len() != 1 {
        return Err(ImportError::Malformed(format!(
            "--input-shape needs a model with one input, this one has {}",
            inputs.len()
        )));
    }
    let mut ours = Graph::new("x", &[1]);
    ours.inputs.clear();
    let mut batch = None;
    let mut onnx_inputs = Vec::new();
    for vi in &inputs {
        let (per, b) = input_shape(vi, options.input_shape.as_deref())?;
        if b.is_some() {
            batch = b;
        }
        let onnx_name = vi.name.clone().unwrap_or_default();
        let mut name = sanitize(&onnx_name);
        while ours.inputs.iter().any(|i| i.name == name) {
            name.push('_');
        }
        ours.inputs.push(Input {
            name: name.clone(),
            shape: per.clone(),
        });
        onnx_inputs.push((onnx_name, name, per));
    }
    let mut b = Builder::new(ours, batch, opset);
    for (onnx_name, name, per) in onnx_inputs {
        b.values.insert(
            onnx_name,
            Value::Act(Act {
                source: name,
                ours: per.clone(),
                per,
                batch: 0,
                exclusive: false,
                view: None,
            }),
        );
    }
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        b.values.insert(name, Value::Const(tensor::decode(t)?));
    }
    // Readers of each value; `Shape` reads no values, so it does not count (a layer
    // whose output only has its shape taken may still be changed in place).
    for n in &graph.node {
        if n.op_type.as_deref() == Some("Shape") {
            continue;
        }
        for i in n.input.iter().filter(|s| !s.is_empty()) {
            *b.uses.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &graph.output {
        *b.uses
            .entry(o.name.clone().unwrap_or_default())
            .or_default() += 1;
    }

    // Control flow has no layer equivalent. Name it before the nodes that feed it: a
    // Keras 3 GRU converted by tf2onnx arrives as a `Loop` whose condition's `Less` would
    // otherwise be the op named.
    let control_flow = graph
        .node
        .iter()
        .enumerate()
        .find(|(_, n)| matches!(n.op_type.as_deref(), Some("Loop" | "Scan" | "If")));
    if let Some((k, n)) = control_flow {
        let ctx = Ctx::new(n, k);
        return Err(ImportError::UnsupportedOp {
            op: ctx.op.to_string(),
            node: ctx.name.clone(),
        });
    }
    for (k, n) in graph.node.iter().enumerate() {
        let ctx = Ctx::new(n, k);
        let outs = ops::translate(&mut b, &ctx)?;
        for (i, v) in outs.into_iter().enumerate() {
            if let (Some(name), Some(v)) = (ctx.output_name(i), v) {
                b.values.insert(name.to_string(), v);
            }
        }
    }

    let mut outputs = Vec::new();
    let mut output_names = Vec::new();
    for o in &graph.output {
        let name = o.name.clone().unwrap_or_default();
        let act = match b.values.get(&name) {
            Some(Value::Act(a)) => a.clone(),
            Some(_) => {
                return Err(ImportError::Malformed(format!(
                    "output `{name}` is a constant or a part of a state, not a computed value"
                )))
            }
            None => {
                return Err(ImportError::Malformed(format!(
                    "output `{name}` is made by no node"
                )))
            }
        };
        outputs.push(b.materialize(&act)?);
        output_names.push(name);
    }
    b.graph.outputs = outputs;

    let mut provenance = BTreeMap::new();
    provenance.insert("source".to_string(), "onnx".to_string());
    let producer = format!(
        "{} {}",
        model.producer_name.as_deref().unwrap_or(""),
        model.producer_version.as_deref().unwrap_or("")
    );
    provenance.insert("onnx.producer".into(), producer.trim().to_string());
    provenance.insert("onnx.opset".into(), opset.to_string());
    provenance.insert("onnx.outputs".into(), output_names.join(","));

    let tensors: Vec<TensorData> = b
        .weights
        .iter()
        .map(|(name, (shape, values))| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    let bytes = deepiot_format::write(&b.graph, &provenance, &tensors)?;
    Ok(Imported {
        graph: b.graph,
        tensors: b.weights,
        provenance,
        bytes,
    })
}
