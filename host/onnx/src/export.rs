//! Any deepiot model as standard ONNX, from the same layer list the runtime runs.
//!
//! Each layer of the file becomes one to five operators of the default ONNX domain
//! ([`layers`], [`recurrent`]); weights become initializers (sparse ones densified, since
//! standard ONNX engines compute with dense tensors); every graph input and output gets a
//! dynamic batch axis `N` in front of the per-example shape the file stores; the class
//! names and the provenance go into `metadata_props` as the same JSON the model file holds.
//!
//! **Opset 17** (IR version 8, the first IR version that carries it): `Softmax` over one
//! axis needs 13 or later (older opsets flattened from the axis on); `ReduceMean` still
//! takes its axes as an attribute up to 17 (18 moved them to an input, which engines
//! older than 2023 do not read); `GRU`, `LSTM`, `Conv`, pools, `Gemm` and `Reshape` have
//! the semantics we need since 14. Opset 17 is what PyTorch's exporter wrote by default
//! for years, and onnxruntime (from 1.12), tract and candle-onnx all run it.
mod builder;
mod layers;
mod recurrent;

use crate::proto::{ModelProto, OperatorSetIdProto, StringStringEntryProto};
use builder::{batched_value, GraphBuilder};
use deepiot_format::{FormatError, ModelFile, Op, Source};

/// The ONNX operator set the exporter writes (default domain).
pub const OPSET: i64 = 17;
/// The ONNX IR version that goes with [`OPSET`].
pub const IR_VERSION: i64 = 8;
/// `metadata_props` key of the class names, a JSON array of strings (absent when the
/// model names no classes).
pub const CLASSES_KEY: &str = "deepiot.classes";
/// `metadata_props` key of the provenance, the model file's JSON object of strings.
pub const PROVENANCE_KEY: &str = deepiot_format::PROVENANCE_KEY;

/// Why a model could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The bytes are not a valid deepiot model file.
    #[error("not a valid deepiot model: {0}")]
    Format(#[from] FormatError),
    /// Two values of the ONNX graph would get the same name.
    #[error(
        "two values of the ONNX graph would both be called `{0}` (a layer or input named like \
         another layer's tensor); rename the layer"
    )]
    NameClash(String),
    /// A broken invariant of this exporter (a bug, not a property of the file).
    #[error("internal error of the ONNX exporter: {0}")]
    Internal(String),
}

/// The ONNX model of a model file's bytes, encoded (what a `.onnx` file holds).
pub fn export_bytes(bytes: &[u8]) -> Result<Vec<u8>, ExportError> {
    let file = deepiot_format::parse(bytes)?;
    Ok(prost::Message::encode_to_vec(&export(&file)?))
}

/// The ONNX model of a parsed model file.
pub fn export(file: &ModelFile<'_>) -> Result<ModelProto, ExportError> {
    let mut b = GraphBuilder::default();
    let mut inputs = Vec::new();
    for (input, shape) in file.graph.inputs.iter().zip(&file.info.input_shapes) {
        b.claim(&input.name)?;
        inputs.push(batched_value(&input.name, shape));
    }
    for k in 0..file.graph.nodes.len() {
        layers::emit(&mut b, &Layer { file, k })?;
    }
    let mut outputs = Vec::new();
    for &source in &file.info.outputs {
        let shape = file.info.shape_of(source);
        let name = match source {
            Source::Node(_) => value_name(file, source).to_string(),
            // An input handed straight out: ONNX wants an operator between the two names.
            Source::Input(_) => {
                let input = value_name(file, source);
                let out = format!("{input}/output");
                b.node("Identity", &out, &[input], &out, vec![])?
            }
        };
        outputs.push(batched_value(&name, shape));
    }
    let graph = crate::proto::GraphProto {
        node: b.nodes,
        name: Some("deepiot".into()),
        initializer: b.initializers,
        doc_string: None,
        input: inputs,
        output: outputs,
        value_info: Vec::new(),
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("deepiot".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        domain: None,
        model_version: None,
        doc_string: Some(
            "A deepiot model file exported as standard ONNX; the batch axis `N` is dynamic.".into(),
        ),
        graph: Some(graph),
        metadata_props: metadata(file)?,
    })
}

/// The class names and the provenance, as the model file stores them.
fn metadata(file: &ModelFile<'_>) -> Result<Vec<StringStringEntryProto>, ExportError> {
    let json = |e: serde_json::Error| ExportError::Internal(format!("metadata JSON: {e}"));
    let mut props = Vec::new();
    if !file.graph.classes.is_empty() {
        props.push(entry(
            CLASSES_KEY,
            serde_json::to_string(&file.graph.classes).map_err(json)?,
        ));
    }
    if !file.provenance.is_empty() {
        props.push(entry(
            PROVENANCE_KEY,
            serde_json::to_string(&file.provenance).map_err(json)?,
        ));
    }
    Ok(props)
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.into()),
        value: Some(value),
    }
}

/// The ONNX value that holds a graph input or a layer's output: its name in our graph.
fn value_name<'f>(file: &'f ModelFile<'_>, source: Source) -> &'f str {
    match source {
        Source::Input(i) => file.graph.inputs.get(i).map(|x| x.name.as_str()),
        Source::Node(i) => file.graph.nodes.get(i).map(|x| x.name.as_str()),
    }
    .unwrap_or_default()
}

/// One layer of the file being exported, with what shape inference found out about it.
pub(crate) struct Layer<'f, 'a> {
    file: &'f ModelFile<'a>,
    k: usize,
}

impl Layer<'_, '_> {
    /// The layer's name: its tensors' prefix, and the name of its output value.
    fn name(&self) -> &str {
        &self.file.graph.nodes[self.k].name
    }

    fn op(&self) -> &Op {
        &self.file.graph.nodes[self.k].op
    }

    fn sources(&self) -> &[Source] {
        &self.file.info.node_inputs[self.k]
    }

    fn input_count(&self) -> usize {
        self.sources().len()
    }

    /// The ONNX value of input `i` (shape inference checked every op's arity).
    fn input(&self, i: usize) -> &str {
        self.sources()
            .get(i)
            .map_or("", |&s| value_name(self.file, s))
    }

    /// The per-example shape of input `i`.
    fn input_shape(&self, i: usize) -> &[usize] {
        self.sources()
            .get(i)
            .map_or(&[], |&s| self.file.info.shape_of(s).as_slice())
    }

    /// Tensor `i` of the layer, in [`deepiot_format::ShapeInfo::params`] order: its shape
    /// and values (densified when the file stores it sparse).
    fn param(&self, i: usize) -> Result<(Vec<usize>, Vec<f32>), ExportError> {
        let spec = self.file.info.params[self.k].get(i).ok_or_else(|| {
            ExportError::Internal(format!("`{}` has no tensor number {i}", self.name()))
        })?;
        Ok((spec.shape.clone(), self.file.tensor_f32(&spec.name)?))
    }
}
