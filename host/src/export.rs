//! From a trained [`Net`] to a model file, and back.
//!
//! The file is [`deepiot_format::write`]'s: the graph and provenance in the safetensors
//! metadata, every weight under the name the `VarMap` already uses. Nothing is renamed or
//! transposed. Provenance holds no dates or host names, so the same training run gives
//! the same bytes.
//!
//! [`save_sparse`] writes the weights an unstructured pruning method left mostly zero in
//! CSR form (`deepiot_format::sparse`), so that the runtime's time and the file's size
//! follow the non-zeros; [`load`] reads either kind of file (sparse weights densified),
//! so candle evaluates a sparse file exactly as the dense one.
use crate::models::{ModelError, Net};
use candle_core::Tensor;
use deepiot_format::{Csr, FormatError, SparseTensorData, TensorData};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What can go wrong exporting or loading a model file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not a valid deepiot model file: {error}")]
    Format { path: PathBuf, error: FormatError },
    #[error("the model does not fit its own graph: {0}")]
    Write(FormatError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The model file's bytes for `net` and `provenance`.
pub fn to_bytes(net: &Net, provenance: &BTreeMap<String, String>) -> Result<Vec<u8>, ExportError> {
    let values = net.tensors()?;
    let tensors: Vec<TensorData> = values
        .iter()
        .map(|(name, shape, v)| TensorData {
            name,
            shape,
            values: v,
        })
        .collect();
    deepiot_format::write(net.graph(), provenance, &tensors).map_err(ExportError::Write)
}

/// The model file's bytes for `net`, with every weight (biases excepted) whose fraction
/// of non-zero values is at most `max_density` stored in CSR form and the rest dense.
///
/// A weight only pays off sparse well below half density (each stored value costs a
/// 4-byte index as well, and a sparse product is slower per value than a dense one), so
/// the threshold is the caller's, to be chosen from the runtime's benchmarks.
pub fn to_bytes_sparse(
    net: &Net,
    provenance: &BTreeMap<String, String>,
    max_density: f64,
) -> Result<Vec<u8>, ExportError> {
    let values = net.tensors()?;
    let mut dense = Vec::new();
    let mut sparse = Vec::new();
    for (name, shape, v) in &values {
        let csr = deepiot_format::sparse::matrix_view(shape)
            .and_then(|(rows, cols)| Csr::from_dense(rows, cols, v))
            .filter(|c| c.density() <= max_density);
        match csr {
            Some(csr) => sparse.push((name, shape, csr)),
            None => dense.push(TensorData {
                name,
                shape,
                values: v,
            }),
        }
    }
    let sparse: Vec<SparseTensorData> = sparse
        .iter()
        .map(|(name, shape, csr)| SparseTensorData { name, shape, csr })
        .collect();
    deepiot_format::write_sparse(net.graph(), provenance, &dense, &sparse)
        .map_err(ExportError::Write)
}

/// Writes `net` to `path` (creating its folder).
pub fn save(
    net: &Net,
    provenance: &BTreeMap<String, String>,
    path: &Path,
) -> Result<(), ExportError> {
    let bytes = to_bytes(net, provenance)?;
    write_file(path, bytes)
}

/// Writes `net` to `path` like [`save`], storing sparse every weight whose density is at
/// most `max_density` (see [`to_bytes_sparse`]).
pub fn save_sparse(
    net: &Net,
    provenance: &BTreeMap<String, String>,
    path: &Path,
    max_density: f64,
) -> Result<(), ExportError> {
    let bytes = to_bytes_sparse(net, provenance, max_density)?;
    write_file(path, bytes)
}

/// Writes `bytes` to `path`, creating its folder.
fn write_file(path: &Path, bytes: Vec<u8>) -> Result<(), ExportError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| ExportError::Io {
            path: dir.into(),
            error,
        })?;
    }
    crate::paths::write_atomic(path, &bytes).map_err(|error| ExportError::Io {
        path: path.into(),
        error,
    })
}

/// A network and its provenance from a model file's bytes; `path` names it in errors.
/// Weights stored sparse are densified: candle computes with dense tensors.
pub fn from_bytes(
    bytes: &[u8],
    path: &Path,
) -> Result<(Net, BTreeMap<String, String>), ExportError> {
    let file = deepiot_format::parse(bytes).map_err(|error| ExportError::Format {
        path: path.into(),
        error,
    })?;
    let device = candle_core::Device::Cpu;
    let mut tensors = HashMap::new();
    for spec in file.info.params.iter().flatten() {
        let v = file
            .tensor_f32(&spec.name)
            .map_err(|error| ExportError::Format {
                path: path.into(),
                error,
            })?;
        tensors.insert(
            spec.name.clone(),
            Tensor::from_vec(v, spec.shape.as_slice(), &device)?,
        );
    }
    let net = Net::from_tensors(&file.graph, tensors)?;
    Ok((net, file.provenance))
}

/// Loads a model file into a candle network (for evaluation, compression, ...).
pub fn load(path: &Path) -> Result<(Net, BTreeMap<String, String>), ExportError> {
    let bytes = std::fs::read(path).map_err(|error| ExportError::Io {
        path: path.into(),
        error,
    })?;
    from_bytes(&bytes, path)
}
