//! Writing a model file. Output is byte-for-byte reproducible: tensors and metadata are
//! written in sorted order, so the same model always gives the same file (and hash).
use crate::graph::Graph;
use crate::{FormatError, GRAPH_KEY, PROVENANCE_KEY};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;

/// A named tensor to write: row-major f32 values and their shape.
#[derive(Debug, Clone, Copy)]
pub struct TensorData<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub values: &'a [f32],
}

#[derive(Serialize)]
struct Entry<'a> {
    dtype: &'static str,
    shape: &'a [usize],
    data_offsets: [usize; 2],
}

/// Validates `graph` against `tensors` and serialises both into a safetensors file.
pub fn write(
    graph: &Graph,
    provenance: &BTreeMap<String, String>,
    tensors: &[TensorData<'_>],
) -> Result<Vec<u8>, FormatError> {
    let info = graph.infer()?;
    let by_name: BTreeMap<&str, &TensorData<'_>> = tensors.iter().map(|t| (t.name, t)).collect();
    for spec in info.params.iter().flatten() {
        let t = by_name
            .get(spec.name.as_str())
            .ok_or_else(|| FormatError::MissingTensor(spec.name.clone()))?;
        if t.shape != spec.shape.as_slice() {
            return Err(FormatError::WrongTensorShape {
                tensor: spec.name.clone(),
                expected: spec.shape.clone(),
                found: t.shape.to_vec(),
            });
        }
    }
    for t in tensors {
        if !info.params.iter().flatten().any(|p| p.name == t.name) {
            return Err(FormatError::UnexpectedTensor(t.name.into()));
        }
        let n: usize = t.shape.iter().product();
        if n != t.values.len() {
            return Err(FormatError::WrongTensorLength {
                tensor: t.name.into(),
                expected: n,
                found: t.values.len(),
            });
        }
    }

    let mut meta = BTreeMap::new();
    meta.insert(GRAPH_KEY, graph.to_json());
    meta.insert(
        PROVENANCE_KEY,
        serde_json::to_string(provenance).unwrap_or_default(),
    );
    // serde_json's map ordering follows insertion for this hand-built header: metadata first,
    // then tensors in name order (BTreeMap), so the layout is deterministic.
    let mut header = String::from("{\"__metadata__\":");
    header.push_str(&serde_json::to_string(&meta).unwrap_or_default());
    let mut offset = 0usize;
    for (name, t) in &by_name {
        let len = t.values.len() * 4;
        let entry = Entry {
            dtype: "F32",
            shape: t.shape,
            data_offsets: [offset, offset + len],
        };
        header.push(',');
        header.push_str(&serde_json::to_string(name).unwrap_or_default());
        header.push(':');
        header.push_str(&serde_json::to_string(&entry).unwrap_or_default());
        offset += len;
    }
    header.push('}');
    // Pad with spaces so the data starts 8-byte aligned, as safetensors writers do.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in by_name.values() {
        for v in t.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}
