//! A checkpoint as one file: named f32 tensors, and a JSON state in the safetensors
//! header's metadata.
//!
//! One file, written to a temporary name and renamed ([`crate::paths::write_atomic`]),
//! so a run killed at any moment leaves either the previous checkpoint or the new one
//! whole. Several files renamed one after another could not promise that: a kill between
//! two renames left new weights beside an old state.
use crate::models::Tensors;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// The metadata key that holds the state.
const STATE_KEY: &str = "deepiot.checkpoint";

/// Writes `tensors` and `state` to `path`, atomically.
pub fn save<S: Serialize>(path: &Path, tensors: &Tensors, state: &S) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut buffers = Vec::with_capacity(names.len());
    for name in &names {
        let t = &tensors[*name];
        let values: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        buffers.push((name.as_str(), t.dims().to_vec(), bytes));
    }
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            Ok((
                *name,
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    bytes,
                )?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let metadata = HashMap::from([(STATE_KEY.to_string(), serde_json::to_string(state)?)]);
    let bytes = safetensors::serialize(views, Some(metadata))?;
    crate::paths::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write the checkpoint {}", path.display()))
}

/// Reads a file written by [`save`].
pub fn load<S: DeserializeOwned>(path: &Path) -> Result<(Tensors, S)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let what = || format!("{} is not a deepiot checkpoint", path.display());
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).with_context(what)?;
    let Some(text) = header.metadata().as_ref().and_then(|m| m.get(STATE_KEY)) else {
        bail!("{}: no `{STATE_KEY}` state in it", what());
    };
    let state: S = serde_json::from_str(text).with_context(what)?;
    let file = safetensors::SafeTensors::deserialize(&bytes).with_context(what)?;
    let mut tensors = Tensors::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            bail!("{}: `{name}` is {:?}, not f32", what(), view.dtype());
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, Tensor::from_vec(values, view.shape(), &Device::Cpu)?);
    }
    Ok((tensors, state))
}

/// Every tensor of `tensors` whose name starts with `prefix`, without it.
pub fn with_prefix(tensors: &Tensors, prefix: &str) -> Tensors {
    tensors
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
        .collect()
}

/// `tensors` with every name prefixed by `prefix`.
pub fn prefixed(tensors: &Tensors, prefix: &str) -> Tensors {
    tensors
        .iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct State {
        iteration: usize,
        tau: f64,
    }

    #[test]
    fn tensors_and_state_come_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let mut t = Tensors::new();
        let values = vec![1.5f32, -0.0, f32::MIN_POSITIVE, 3.0e-42, 7.0, 8.0];
        t.insert(
            "a.w".into(),
            Tensor::from_slice(&values, (2, 3), &Device::Cpu).unwrap(),
        );
        let state = State {
            iteration: 7,
            tau: 0.1 + 0.2,
        };
        save(&path, &t, &state).unwrap();
        let (back, s): (Tensors, State) = load(&path).unwrap();
        assert_eq!(s, state);
        assert_eq!(back["a.w"].dims(), &[2, 3]);
        let got: Vec<f32> = back["a.w"].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_truncated_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let t = Tensors::new();
        save(
            &path,
            &t,
            &State {
                iteration: 1,
                tau: 0.0,
            },
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = load::<State>(&path).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a deepiot checkpoint"),
            "{err:#}"
        );
    }
}
