//! From a trained [`Net`] to a model file, and back.
//!
//! The file is [`deepiot_format::write`]'s: the graph and provenance in the safetensors
//! metadata, every weight under the name the `VarMap` already uses. Nothing is renamed or
//! transposed. Provenance holds no dates or host names, so the same training run gives
//! the same bytes.
use crate::models::{ModelError, Net};
use candle_core::Tensor;
use deepiot_format::{FormatError, TensorData};
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

/// Writes `net` to `path` (creating its folder).
pub fn save(
    net: &Net,
    provenance: &BTreeMap<String, String>,
    path: &Path,
) -> Result<(), ExportError> {
    let bytes = to_bytes(net, provenance)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| ExportError::Io {
            path: dir.into(),
            error,
        })?;
    }
    std::fs::write(path, bytes).map_err(|error| ExportError::Io {
        path: path.into(),
        error,
    })
}

/// A network and its provenance from a model file's bytes; `path` names it in errors.
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
