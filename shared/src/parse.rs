//! Reading a model file: the safetensors container, then the graph, then every tensor
//! checked against the shape the graph implies.
use crate::graph::Graph;
use crate::quant::{self, Quantized, Q_SUFFIX, SCALE_SUFFIX};
use crate::shape::{ParamSpec, ShapeInfo, MAX_ELEMENTS};
use crate::sparse::{check_csr, Csr, INDICES_SUFFIX, INDPTR_SUFFIX, VALUES_SUFFIX};
use crate::{FormatError, GRAPH_KEY, PROVENANCE_KEY, QUANT_KEY, SPARSE_KEY};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// A validated model file. Tensor data still borrows the file's bytes (little-endian,
/// not necessarily 4-byte aligned); [`ModelFile::tensor_f32`] decodes one.
#[derive(Debug)]
pub struct ModelFile<'a> {
    pub graph: Graph,
    pub info: ShapeInfo,
    pub provenance: BTreeMap<String, String>,
    tensors: BTreeMap<String, Stored<'a>>,
}

/// How one parameter of the graph is stored.
#[derive(Debug, Clone, Copy)]
enum Stored<'a> {
    Dense(&'a [u8]),
    Sparse(CsrRef<'a>),
    Quant(QuantRef<'a>),
}

/// A weight stored as int8 with per-row scales, validated (see [`crate::quant`]): values
/// in `-127..=127`, scales finite and positive, lengths those of the 2-d view.
#[derive(Debug, Clone, Copy)]
pub struct QuantRef<'a> {
    /// Rows of the weight's 2-d view (its first axis): one scale each.
    pub rows: usize,
    /// Columns of the 2-d view (the product of the other axes).
    pub cols: usize,
    q: &'a [u8],
    scales: &'a [u8],
}

impl<'a> QuantRef<'a> {
    /// The int8 values, row after row.
    pub fn values(&self) -> impl Iterator<Item = i8> + 'a {
        self.q.iter().map(|&b| b as i8)
    }
    /// One scale per row.
    pub fn scales(&self) -> impl Iterator<Item = f32> + 'a {
        le_words(self.scales).map(f32::from_le_bytes)
    }
    /// An owned copy.
    pub fn to_quantized(&self) -> Quantized {
        Quantized {
            rows: self.rows,
            cols: self.cols,
            q: self.values().collect(),
            scales: self.scales().collect(),
        }
    }
}

/// A weight stored in CSR form, validated (see [`crate::sparse`]): every row pointer and
/// column index is in range, so readers may index with them without further checks.
/// Indices are decoded as `u32` whether the file stores U32 or I32 (I32 ones were
/// checked to be non-negative, so the bits are the same).
#[derive(Debug, Clone, Copy)]
pub struct CsrRef<'a> {
    /// Rows of the weight's 2-d view (its first axis).
    pub rows: usize,
    /// Columns of the 2-d view (the product of the other axes).
    pub cols: usize,
    values: &'a [u8],
    indices: &'a [u8],
    indptr: &'a [u8],
}

fn le_words(bytes: &[u8]) -> impl Iterator<Item = [u8; 4]> + '_ {
    bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]])
}

impl<'a> CsrRef<'a> {
    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len() / 4
    }
    /// The stored values, row after row.
    pub fn values(&self) -> impl Iterator<Item = f32> + 'a {
        le_words(self.values).map(f32::from_le_bytes)
    }
    /// The column of each stored value.
    pub fn indices(&self) -> impl Iterator<Item = u32> + 'a {
        le_words(self.indices).map(u32::from_le_bytes)
    }
    /// `rows + 1` offsets into [`CsrRef::values`]: row `r` is `indptr[r]..indptr[r + 1]`.
    pub fn indptr(&self) -> impl Iterator<Item = u32> + 'a {
        le_words(self.indptr).map(u32::from_le_bytes)
    }
    /// An owned copy of the matrix.
    pub fn to_csr(&self) -> Csr {
        Csr {
            rows: self.rows,
            cols: self.cols,
            values: self.values().collect(),
            indices: self.indices().collect(),
            indptr: self.indptr().collect(),
        }
    }
    /// Writes the dense row-major matrix into `out` (`rows * cols` values).
    fn densify(&self, out: &mut [f32]) {
        out.fill(0.0);
        let ptr: Vec<u32> = self.indptr().collect();
        let mut at = self.indices().zip(self.values());
        for r in 0..self.rows {
            let n = ptr
                .get(r + 1)
                .unwrap_or(&0)
                .saturating_sub(*ptr.get(r).unwrap_or(&0));
            for (c, v) in at.by_ref().take(n as usize) {
                if let Some(o) = out.get_mut(r * self.cols + c as usize) {
                    *o = v;
                }
            }
        }
    }
}

impl<'a> ModelFile<'a> {
    /// The raw little-endian f32 bytes of a tensor the graph declares, when it is stored
    /// dense; `None` for sparse ones (see [`ModelFile::csr`]).
    pub fn tensor_bytes(&self, name: &str) -> Option<&'a [u8]> {
        match self.tensors.get(name) {
            Some(Stored::Dense(b)) => Some(b),
            _ => None,
        }
    }

    /// The CSR arrays of a weight stored sparse; `None` when it is dense or unknown.
    pub fn csr(&self, name: &str) -> Option<CsrRef<'a>> {
        match self.tensors.get(name) {
            Some(Stored::Sparse(c)) => Some(*c),
            _ => None,
        }
    }

    /// The int8 values and scales of a weight stored int8; `None` when it is stored
    /// otherwise or unknown.
    pub fn quant(&self, name: &str) -> Option<QuantRef<'a>> {
        match self.tensors.get(name) {
            Some(Stored::Quant(q)) => Some(*q),
            _ => None,
        }
    }

    /// Names of the weights stored int8, in name order.
    pub fn quant_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.tensors
            .iter()
            .filter(|(_, s)| matches!(s, Stored::Quant(_)))
            .map(|(n, _)| n.as_str())
    }

    /// Names of the weights stored sparse, in name order.
    pub fn sparse_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.tensors
            .iter()
            .filter(|(_, s)| matches!(s, Stored::Sparse(_)))
            .map(|(n, _)| n.as_str())
    }

    /// Decodes a tensor into `out`, which must have exactly its (dense) length. Sparse
    /// weights are densified and int8 ones dequantized (`q * scale`), so a reader that does not care about storage (the host's
    /// candle loader) reads every file the same way.
    pub fn read_into(&self, name: &str, out: &mut [f32]) -> Result<(), FormatError> {
        let stored = self
            .tensors
            .get(name)
            .ok_or_else(|| FormatError::MissingTensor(name.to_string()))?;
        let len = stored_len(stored);
        if len != out.len() {
            return Err(FormatError::WrongTensorLength {
                tensor: name.into(),
                expected: out.len(),
                found: len,
            });
        }
        match stored {
            Stored::Dense(bytes) => {
                for (o, c) in out.iter_mut().zip(le_words(bytes)) {
                    *o = f32::from_le_bytes(c);
                }
            }
            Stored::Sparse(csr) => csr.densify(out),
            Stored::Quant(q) => {
                let values: Vec<i8> = q.values().collect();
                let scales: Vec<f32> = q.scales().collect();
                quant::dequantize(q.cols, &values, &scales, out);
            }
        }
        Ok(())
    }

    /// Decodes a tensor (densified if stored sparse) into a new vector.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, FormatError> {
        let n = self.tensors.get(name).map(stored_len).unwrap_or(0);
        let mut v = alloc::vec![0.0; n];
        self.read_into(name, &mut v)?;
        Ok(v)
    }
}

fn stored_len(s: &Stored<'_>) -> usize {
    match s {
        Stored::Dense(b) => b.len() / 4,
        Stored::Sparse(c) => c.rows * c.cols,
        Stored::Quant(q) => q.rows * q.cols,
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
    let sparse = name_list(metadata.and_then(|m| m.get(SPARSE_KEY)), &info, false)?;
    let quantized = name_list(metadata.and_then(|m| m.get(QUANT_KEY)), &info, true)?;
    if let Some(both) = quantized.iter().find(|n| sparse.contains(n)) {
        return Err(FormatError::NotQuantizable(both.clone()));
    }

    let mut tensors = BTreeMap::new();
    let mut stored_names: usize = 0;
    let mut total: usize = 0;
    for spec in info.params.iter().flatten() {
        let (stored, count) = if sparse.contains(&spec.name) {
            let (csr, count) = sparse_tensor(&st, spec)?;
            stored_names += 3;
            (Stored::Sparse(csr), count)
        } else if quantized.contains(&spec.name) {
            stored_names += 2;
            (Stored::Quant(quant_tensor(&st, spec)?), spec.len())
        } else {
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
            stored_names += 1;
            (Stored::Dense(view.data()), spec.len())
        };
        total = total
            .checked_add(count)
            .filter(|&t| t <= 4 * MAX_ELEMENTS)
            .ok_or_else(|| FormatError::TooLarge {
                what: "the total weight count".to_string(),
            })?;
        tensors.insert(spec.name.clone(), stored);
    }
    if st.len() != stored_names {
        let mut names = st.names();
        names.sort();
        let is_sparse = |n: &str| sparse.iter().any(|s| s == n);
        let is_quant = |n: &str| quantized.iter().any(|s| s == n);
        let known = |n: &str| {
            if tensors.contains_key(n) {
                return !is_sparse(n) && !is_quant(n);
            }
            [VALUES_SUFFIX, INDICES_SUFFIX, INDPTR_SUFFIX]
                .iter()
                .any(|s| n.strip_suffix(s).is_some_and(is_sparse))
                || [Q_SUFFIX, SCALE_SUFFIX]
                    .iter()
                    .any(|s| n.strip_suffix(s).is_some_and(is_quant))
        };
        if let Some(extra) = names.into_iter().find(|n| !known(n)) {
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

/// The weights listed under [`SPARSE_KEY`] (or [`QUANT_KEY`] when `quant`): distinct
/// names, each a weight of rank 2 or more that the graph declares.
fn name_list(
    json: Option<&String>,
    info: &ShapeInfo,
    quant: bool,
) -> Result<Vec<String>, FormatError> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let list_error = |e: String| match quant {
        true => FormatError::QuantList(e),
        false => FormatError::SparseList(e),
    };
    let names: Vec<String> = serde_json::from_str(json).map_err(|e| list_error(format!("{e}")))?;
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(list_error(format!("`{n}` is listed twice")));
        }
        let spec = info.params.iter().flatten().find(|p| p.name == *n);
        if spec.and_then(ParamSpec::matrix).is_none() {
            return Err(match quant {
                true => FormatError::NotQuantizable(n.clone()),
                false => FormatError::NotSparsifiable(n.clone()),
            });
        }
    }
    Ok(names)
}

/// Finds and validates the two tensors of an int8 weight.
fn quant_tensor<'a>(st: &SafeTensors<'a>, spec: &ParamSpec) -> Result<QuantRef<'a>, FormatError> {
    let (rows, cols) = spec
        .matrix()
        .ok_or_else(|| FormatError::NotQuantizable(spec.name.clone()))?;
    let get = |suffix: &str, dtype: Dtype, shape: &[usize]| {
        let name = format!("{}{suffix}", spec.name);
        let view = st
            .tensor(&name)
            .map_err(|_| FormatError::MissingTensor(name.clone()))?;
        if view.dtype() != dtype {
            return Err(FormatError::WrongDtype {
                tensor: name,
                dtype: format!(
                    "{:?} (int8 weights are I8 values and F32 scales)",
                    view.dtype()
                ),
            });
        }
        if view.shape() != shape {
            return Err(FormatError::WrongTensorShape {
                tensor: name,
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        Ok(view.data())
    };
    let q = get(Q_SUFFIX, Dtype::I8, &spec.shape)?;
    let scales = get(SCALE_SUFFIX, Dtype::F32, &[rows])?;
    quant::check_values(&spec.name, q.iter().copied())?;
    quant::check_scales(&spec.name, le_words(scales).map(f32::from_le_bytes))?;
    Ok(QuantRef {
        rows,
        cols,
        q,
        scales,
    })
}

/// Reads an index tensor (U32 or I32) as signed numbers, so that negative I32 entries
/// are seen as such; out-of-range reads give `i64::MIN`, which every check refuses.
fn index_reader<'v>(view: &'v TensorView<'_>) -> impl Fn(usize) -> i64 + 'v {
    let signed = view.dtype() == Dtype::I32;
    let data = view.data();
    move |i| {
        let Some(c) = i.checked_mul(4).and_then(|a| data.get(a..a + 4)) else {
            return i64::MIN;
        };
        let w = [c[0], c[1], c[2], c[3]];
        if signed {
            i32::from_le_bytes(w) as i64
        } else {
            u32::from_le_bytes(w) as i64
        }
    }
}

/// Finds and validates the three tensors of a sparse weight; returns them and the
/// number of values they hold.
fn sparse_tensor<'a>(
    st: &SafeTensors<'a>,
    spec: &ParamSpec,
) -> Result<(CsrRef<'a>, usize), FormatError> {
    // `sparse_list` admitted only weights with a matrix view.
    let (rows, cols) = spec
        .matrix()
        .ok_or_else(|| FormatError::NotSparsifiable(spec.name.clone()))?;
    let get = |suffix: &str| {
        let name = format!("{}{suffix}", spec.name);
        st.tensor(&name)
            .map(|v| (name.clone(), v))
            .map_err(|_| FormatError::MissingTensor(name))
    };
    let (vname, values) = get(VALUES_SUFFIX)?;
    let (iname, indices) = get(INDICES_SUFFIX)?;
    let (pname, indptr) = get(INDPTR_SUFFIX)?;
    if values.dtype() != Dtype::F32 {
        return Err(FormatError::WrongDtype {
            tensor: vname,
            dtype: format!("{:?}", values.dtype()),
        });
    }
    for (name, view) in [(&iname, &indices), (&pname, &indptr)] {
        if !matches!(view.dtype(), Dtype::U32 | Dtype::I32) {
            return Err(FormatError::WrongIndexDtype {
                tensor: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            });
        }
    }
    let nnz: usize = values.shape().iter().product();
    if values.shape().len() != 1 {
        return Err(FormatError::WrongTensorShape {
            tensor: vname,
            expected: alloc::vec![nnz],
            found: values.shape().to_vec(),
        });
    }
    if indices.shape() != [nnz] {
        return Err(FormatError::WrongTensorShape {
            tensor: iname,
            expected: alloc::vec![nnz],
            found: indices.shape().to_vec(),
        });
    }
    if indptr.shape() != [rows + 1] {
        return Err(FormatError::WrongTensorShape {
            tensor: pname,
            expected: alloc::vec![rows + 1],
            found: indptr.shape().to_vec(),
        });
    }
    if nnz > rows.saturating_mul(cols) {
        return Err(FormatError::TooLarge {
            what: format!("`{vname}` ({nnz} values for a {rows}x{cols} matrix)"),
        });
    }
    check_csr(
        &spec.name,
        rows,
        cols,
        nnz,
        index_reader(&indptr),
        index_reader(&indices),
    )?;
    let csr = CsrRef {
        rows,
        cols,
        values: values.data(),
        indices: indices.data(),
        indptr: indptr.data(),
    };
    Ok((csr, 2 * nnz + rows + 1))
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
