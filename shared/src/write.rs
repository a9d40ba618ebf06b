//! Writing a model file. Output is byte-for-byte reproducible: tensors and metadata are
//! written in sorted order, so the same model always gives the same file (and hash).
use crate::graph::Graph;
use crate::quant::{q_name, scale_name, QuantTensorData};
use crate::sparse::{SparseTensorData, INDICES_SUFFIX, INDPTR_SUFFIX, VALUES_SUFFIX};
use crate::{FormatError, GRAPH_KEY, PROVENANCE_KEY, QUANT_KEY, SPARSE_KEY};
use alloc::collections::BTreeMap;
use alloc::format;
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

/// One tensor of the container, before it is laid out.
enum Blob<'a> {
    F32(&'a [f32]),
    U32(&'a [u32]),
    I8(&'a [i8]),
}

impl Blob<'_> {
    fn bytes(&self) -> usize {
        match self {
            Blob::F32(v) => v.len() * 4,
            Blob::U32(v) => v.len() * 4,
            Blob::I8(v) => v.len(),
        }
    }
    fn dtype(&self) -> &'static str {
        match self {
            Blob::F32(_) => "F32",
            Blob::U32(_) => "U32",
            Blob::I8(_) => "I8",
        }
    }
}

/// Validates `graph` against `tensors` and serialises both into a safetensors file.
pub fn write(
    graph: &Graph,
    provenance: &BTreeMap<String, String>,
    tensors: &[TensorData<'_>],
) -> Result<Vec<u8>, FormatError> {
    write_sparse(graph, provenance, tensors, &[])
}

/// Like [`write`], with some weights stored in CSR form (see [`crate::sparse`]): every
/// tensor the graph declares comes either in `dense` or in `sparse`, never both. With no
/// sparse tensors the file is exactly the one [`write`] gives, so adding this path did
/// not change any existing file or hash.
pub fn write_sparse(
    graph: &Graph,
    provenance: &BTreeMap<String, String>,
    dense: &[TensorData<'_>],
    sparse: &[SparseTensorData<'_>],
) -> Result<Vec<u8>, FormatError> {
    write_stored(graph, provenance, dense, sparse, &[])
}

/// Like [`write_sparse`], with some weights stored int8 with per-row scales (see
/// [`crate::quant`]). Every tensor the graph declares comes in exactly one of `dense`,
/// `sparse` and `quant`. With no int8 tensors the file is exactly the one
/// [`write_sparse`] gives.
pub fn write_stored(
    graph: &Graph,
    provenance: &BTreeMap<String, String>,
    dense: &[TensorData<'_>],
    sparse: &[SparseTensorData<'_>],
    quant: &[QuantTensorData<'_>],
) -> Result<Vec<u8>, FormatError> {
    let info = graph.infer()?;
    // A later dense tensor of the same name replaces an earlier one (as it always did); a
    // weight given both dense and sparse, or sparse twice, is refused.
    let mut given: BTreeMap<&str, &[usize]> = dense.iter().map(|t| (t.name, t.shape)).collect();
    let mut seen_sparse = BTreeMap::new();
    for t in sparse {
        if given.contains_key(t.name) || seen_sparse.insert(t.name, ()).is_some() {
            return Err(FormatError::UnexpectedTensor(t.name.into()));
        }
    }
    given.extend(sparse.iter().map(|t| (t.name, t.shape)));
    for t in quant {
        if given.contains_key(t.name) {
            return Err(FormatError::UnexpectedTensor(t.name.into()));
        }
        given.insert(t.name, t.shape);
    }
    for spec in info.params.iter().flatten() {
        let shape = given
            .get(spec.name.as_str())
            .ok_or_else(|| FormatError::MissingTensor(spec.name.clone()))?;
        if *shape != spec.shape.as_slice() {
            return Err(FormatError::WrongTensorShape {
                tensor: spec.name.clone(),
                expected: spec.shape.clone(),
                found: shape.to_vec(),
            });
        }
    }
    let spec_of = |name: &str| info.params.iter().flatten().find(|p| p.name == name);
    for t in dense {
        if spec_of(t.name).is_none() {
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
    for t in sparse {
        let view = spec_of(t.name).and_then(|s| s.matrix());
        let Some((rows, cols)) = view else {
            return Err(FormatError::NotSparsifiable(t.name.into()));
        };
        if (t.csr.rows, t.csr.cols) != (rows, cols) {
            return Err(FormatError::WrongTensorShape {
                tensor: t.name.into(),
                expected: alloc::vec![rows, cols],
                found: alloc::vec![t.csr.rows, t.csr.cols],
            });
        }
        t.csr.check(t.name)?;
    }
    for t in quant {
        let view = spec_of(t.name).and_then(|s| s.matrix());
        let Some((rows, cols)) = view else {
            return Err(FormatError::NotQuantizable(t.name.into()));
        };
        if (t.quant.rows, t.quant.cols) != (rows, cols) {
            return Err(FormatError::WrongTensorShape {
                tensor: t.name.into(),
                expected: alloc::vec![rows, cols],
                found: alloc::vec![t.quant.rows, t.quant.cols],
            });
        }
        t.quant.check(t.name)?;
    }

    // Every tensor of the container by name (BTreeMap: sorted, so the layout is
    // deterministic), with its shape.
    let mut blobs: BTreeMap<String, (Vec<usize>, Blob<'_>)> = BTreeMap::new();
    for t in dense {
        blobs.insert(t.name.into(), (t.shape.to_vec(), Blob::F32(t.values)));
    }
    for t in sparse {
        let c = t.csr;
        let nnz = alloc::vec![c.values.len()];
        let name = |suffix: &str| format!("{}{suffix}", t.name);
        blobs.insert(name(VALUES_SUFFIX), (nnz.clone(), Blob::F32(&c.values)));
        blobs.insert(name(INDICES_SUFFIX), (nnz, Blob::U32(&c.indices)));
        blobs.insert(
            name(INDPTR_SUFFIX),
            (alloc::vec![c.indptr.len()], Blob::U32(&c.indptr)),
        );
    }

    for t in quant {
        let rows = alloc::vec![t.quant.rows];
        blobs.insert(q_name(t.name), (t.shape.to_vec(), Blob::I8(&t.quant.q)));
        blobs.insert(scale_name(t.name), (rows, Blob::F32(&t.quant.scales)));
    }

    let mut meta = BTreeMap::new();
    meta.insert(GRAPH_KEY, graph.to_json());
    meta.insert(
        PROVENANCE_KEY,
        serde_json::to_string(provenance).unwrap_or_default(),
    );
    if !sparse.is_empty() {
        let mut names: Vec<&str> = sparse.iter().map(|t| t.name).collect();
        names.sort_unstable();
        meta.insert(
            SPARSE_KEY,
            serde_json::to_string(&names).unwrap_or_default(),
        );
    }
    if !quant.is_empty() {
        let mut names: Vec<&str> = quant.iter().map(|t| t.name).collect();
        names.sort_unstable();
        meta.insert(QUANT_KEY, serde_json::to_string(&names).unwrap_or_default());
    }
    // serde_json's map ordering follows insertion for this hand-built header: metadata first,
    // then tensors in name order (BTreeMap), so the layout is deterministic.
    let mut header = String::from("{\"__metadata__\":");
    header.push_str(&serde_json::to_string(&meta).unwrap_or_default());
    let mut offset = 0usize;
    for (name, (shape, blob)) in &blobs {
        let len = blob.bytes();
        let entry = Entry {
            dtype: blob.dtype(),
            shape,
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
    for (_, blob) in blobs.values() {
        match blob {
            Blob::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Blob::U32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Blob::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        }
    }
    Ok(out)
}
