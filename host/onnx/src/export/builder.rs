//! Assembling an ONNX graph: nodes, initializers and attributes, with every value name
//! checked to be new, so that a model whose names happen to collide (a node called
//! `fc1.weight` beside the layer `fc1`) is refused instead of written wrong.
use super::ExportError;
use crate::proto::{tensor_shape_proto::dimension, tensor_shape_proto::Dimension, type_proto};
use crate::proto::{
    AttributeProto, AttributeType, DataType, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use std::collections::BTreeSet;

/// The name of the dynamic batch axis in front of every graph input and output.
pub const BATCH_AXIS: &str = "N";

/// The nodes and initializers of the graph being written.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    names: BTreeSet<String>,
}

impl GraphBuilder {
    /// Reserves a value name (a graph input, a node output, an initializer).
    pub fn claim(&mut self, name: &str) -> Result<String, ExportError> {
        if !self.names.insert(name.to_string()) {
            return Err(ExportError::NameClash(name.to_string()));
        }
        Ok(name.to_string())
    }

    /// Adds a node `op` named `name` reading `inputs` and writing the new value `output`.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) -> Result<String, ExportError> {
        let output = self.claim(output)?;
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            domain: Some(String::new()),
            attribute,
            doc_string: None,
        });
        Ok(output)
    }

    /// Adds a node with several outputs; an empty name leaves that output unused.
    pub fn node_multi(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> Result<(), ExportError> {
        for o in outputs.iter().filter(|o| !o.is_empty()) {
            self.claim(o)?;
        }
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            domain: Some(String::new()),
            attribute,
            doc_string: None,
        });
        Ok(())
    }

    /// Adds an f32 initializer of shape `dims` (values row-major, stored little-endian).
    pub fn f32_tensor(
        &mut self,
        name: &str,
        dims: &[usize],
        values: &[f32],
    ) -> Result<String, ExportError> {
        let name = self.claim(name)?;
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.clone()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        Ok(name)
    }

    /// Adds a 1-d int64 initializer (a `Reshape` target shape).
    pub fn i64_vector(&mut self, name: &str, values: &[i64]) -> Result<String, ExportError> {
        let name = self.claim(name)?;
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            name: Some(name.clone()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        Ok(name)
    }
}

/// An integer attribute.
pub fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..Default::default()
    }
}

/// A list-of-integers attribute.
pub fn ints(name: &str, values: impl IntoIterator<Item = usize>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.into_iter().map(|v| v as i64).collect(),
        ..Default::default()
    }
}

/// A string attribute.
pub fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(s.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A float tensor value named `name` of shape `[N, shape...]`: the batch axis is dynamic.
pub fn batched_value(name: &str, shape: &[usize]) -> ValueInfoProto {
    let batch = Dimension {
        value: Some(dimension::Value::DimParam(BATCH_AXIS.into())),
        denotation: None,
    };
    let fixed = shape.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        denotation: None,
    });
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: std::iter::once(batch).chain(fixed).collect(),
                }),
            })),
            denotation: None,
        }),
        doc_string: None,
    }
}
