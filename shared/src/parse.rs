//! Reading a model file: the safetensors container, then the graph, then every tensor
//! checked against the shape the graph implies.
use crate::graph::Graph;
use crate::shape::{ShapeInfo, MAX_ELEMENTS};
use crate::{FormatError, GRAPH_KEY, PROVENANCE_KEY};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use safetensors::{Dtype, SafeTensors};

/// A validated model file. Tensor data still borrows the file's bytes (little-endian f32,
/// not necessarily 4-byte aligned); [`ModelFile::tensor_f32`] decodes one.
#[derive(Debug)]
pub struct ModelFile<'a> {
    pub graph: Graph,
    pub info: ShapeInfo,
    pub provenance: BTreeMap<String, String>,
    tensors: BTreeMap<String, &'a [u8]>,
}

impl<'a> ModelFile<'a> {
    /// The raw little-endian bytes of a tensor the graph declares.
    pub fn tensor_bytes(&self, name: &str) -> Option<&'a [u8]> {
        self.tensors.get(name).copied()
    }

    /// Decodes a tensor into `out`, which must have exactly its length.
    pub fn read_into(&self, name: &str, out: &mut [f32]) -> Result<(), FormatError> {
        let bytes = self
            .tensor_bytes(name)
            .ok_or_else(|| FormatError::MissingTensor(name.to_string()))?;
        if bytes.len() != out.len() * 4 {
            return Err(FormatError::WrongTensorLength {
                tensor: name.into(),
                expected: out.len(),
                found: bytes.len() / 4,
            });
        }
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }

    /// Decodes a tensor into a new vector.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, FormatError> {
        let n = self.tensor_bytes(name).map(|b| b.len() / 4).unwrap_or(0);
        let mut v = alloc::vec![0.0; n];
        self.read_into(name, &mut v)?;
        Ok(v)
    }
}

/// Parses and validates a whole model file. Nothing in `bytes` can make this panic; every
/// way a file can be wrong maps to its own [`FormatError`].
pub fn parse(bytes: &[u8]) -> Result<ModelFile<'_>, FormatError> {
    check_offsets(bytes)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| FormatError::Container(format!("{e}")))?;
    // Read the metadata through a second parse of the header: `SafeTensors` exposes it only
    // as a map type that differs between safetensors' std and no_std builds.
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| FormatError::Container(format!("{e}")))?;
    let metadata = meta.metadata().as_ref();
    let graph_json = metadata
        .and_then(|m| m.get(GRAPH_KEY))
        .ok_or(FormatError::MissingGraph)?;
    let graph = Graph::from_json(graph_json)?;
    let provenance = match metadata.and_then(|m| m.get(PROVENANCE_KEY)) {
        Some(p) => {
            serde_json::from_str(p).map_err(|e| FormatError::ProvenanceJson(format!("{e}")))?
        }
        None => BTreeMap::new(),
    };
    let info = graph.infer()?;

    let mut tensors = BTreeMap::new();
    let mut total: usize = 0;
    for spec in info.params.iter().flatten() {
        let view = st
            .tensor(&spec.name)
            .map_err(|_| FormatError::MissingTensor(spec.name.clone()))?;
        if view.dtype() != Dtype::F32 {
            return Err(FormatError::WrongDtype {
                tensor: spec.name.clone(),
                dtype: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != spec.shape.as_slice() {
            return Err(FormatError::WrongTensorShape {
                tensor: spec.name.clone(),
                expected: spec.shape.clone(),
                found: view.shape().to_vec(),
            });
        }
        total = total
            .checked_add(spec.len())
            .filter(|&t| t <= 4 * MAX_ELEMENTS)
            .ok_or_else(|| FormatError::TooLarge {
                what: "the total weight count".to_string(),
            })?;
        tensors.insert(spec.name.clone(), view.data());
    }
    if st.len() != tensors.len() {
        if let Some(extra) = st.names().into_iter().find(|n| !tensors.contains_key(*n)) {
            return Err(FormatError::UnexpectedTensor(extra.to_string()));
        }
    }
    Ok(ModelFile {
        graph,
        info,
        provenance,
        tensors,
    })
}

/// Refuses data offsets past the end of the file before safetensors sees them: safetensors
/// 0.8 adds the declared end of the data to the header length without an overflow check,
/// which panics (in builds with overflow checks) on a file whose tensors' sizes add up to
/// nearly `usize::MAX`. Everything else wrong with the header is left to safetensors.
fn check_offsets(bytes: &[u8]) -> Result<(), FormatError> {
    let header = bytes
        .get(..8)
        .and_then(|b| usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok())
        .filter(|&n| n <= 100_000_000)
        .and_then(|n| bytes.get(8..8 + n));
    let Some(header) = header else {
        return Ok(());
    };
    let Ok(entries) = serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(header) else {
        return Ok(());
    };
    let data_len = (bytes.len() - 8 - header.len()) as u64;
    for (name, entry) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let offsets = entry.get("data_offsets").and_then(|o| o.as_array());
        for o in offsets.into_iter().flatten().filter_map(|o| o.as_u64()) {
            if o > data_len {
                return Err(FormatError::Container(format!(
                    "tensor `{name}`: data offset {o} is past the end of the data ({data_len} bytes)"
                )));
            }
        }
    }
    Ok(())
}
