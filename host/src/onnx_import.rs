//! `deepiot import`: an ONNX model (a PyTorch or TensorFlow export) into a deepiot model
//! file, through `deepiot_onnx::import`. The file is written only when the whole model
//! translates, and atomically (temporary file, then rename).
use anyhow::{Context, Result};
use deepiot_onnx::import::{import, ImportOptions};
use std::path::PathBuf;

/// What `deepiot import` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportConfig {
    /// The ONNX file.
    pub model: PathBuf,
    /// The model file to write (.safetensors).
    pub out: PathBuf,
    /// The per-example input shape (no batch axis), for inputs with dynamic axes.
    pub input_shape: Option<Vec<usize>>,
}

/// What was imported, for the summary and for callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// Each layer: name, kind, output shape, parameters.
    pub layers: Vec<(String, &'static str, Vec<usize>, usize)>,
    pub params: usize,
    pub file_bytes: usize,
    pub provenance: std::collections::BTreeMap<String, String>,
}

/// Imports `config.model` and writes `config.out`; prints a summary.
pub fn run(config: &ImportConfig) -> Result<ImportSummary> {
    let summary = import_file(config)?;
    print_summary(config, &summary);
    Ok(summary)
}

/// [`run`] without printing.
pub fn import_file(config: &ImportConfig) -> Result<ImportSummary> {
    let path = &config.model;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let options = ImportOptions {
        input_shape: config.input_shape.clone(),
    };
    let imported =
        import(&bytes, &options).with_context(|| format!("cannot import {}", path.display()))?;
    let info = imported
        .graph
        .infer()
        .with_context(|| format!("{}: the imported graph is invalid", path.display()))?;
    crate::paths::write_atomic(&config.out, &imported.bytes)
        .with_context(|| format!("cannot write {}", config.out.display()))?;
    let layers = imported
        .graph
        .nodes
        .iter()
        .zip(&info.node_shapes)
        .zip(&info.params)
        .map(|((n, shape), params)| {
            let count = params.iter().map(|p| p.len()).sum();
            (n.name.clone(), n.op.kind(), shape.clone(), count)
        })
        .collect();
    let output_shape = info
        .outputs
        .first()
        .map(|s| info.shape_of(*s).clone())
        .unwrap_or_default();
    Ok(ImportSummary {
        input_shape: info.input_shapes.first().cloned().unwrap_or_default(),
        output_shape,
        layers,
        params: info.param_count(),
        file_bytes: imported.bytes.len(),
        provenance: imported.provenance,
    })
}

fn print_summary(config: &ImportConfig, s: &ImportSummary) {
    let p = |k: &str| s.provenance.get(k).cloned().unwrap_or_default();
    println!(
        "imported {} ({}, opset {})",
        config.model.display(),
        p("onnx.producer"),
        p("onnx.opset")
    );
    println!(
        "{:<24} {:<12} {:>16} {:>10}",
        "layer", "kind", "output", "params"
    );
    for (name, kind, shape, params) in &s.layers {
        println!(
            "{name:<24} {kind:<12} {:>16} {params:>10}",
            format!("{shape:?}")
        );
    }
    println!(
        "input {:?} -> output {:?}; {} layers, {} parameters; wrote {} ({} bytes)",
        s.input_shape,
        s.output_shape,
        s.layers.len(),
        s.params,
        config.out.display(),
        s.file_bytes
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("onnx/tests/fixtures")
            .join(name)
    }

    #[test]
    fn imports_a_fixture_and_writes_a_loadable_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = ImportConfig {
            model: fixture("gru.dynamo-dyn.onnx"),
            out: dir.path().join("sub/gru.safetensors"),
            input_shape: None,
        };
        let s = import_file(&config).unwrap();
        assert_eq!(s.input_shape, vec![3, 64]);
        assert_eq!(s.output_shape, vec![6]);
        assert_eq!(s.params, 3750);
        let bytes = std::fs::read(&config.out).unwrap();
        assert_eq!(bytes.len(), s.file_bytes);
        let model = deepiot_runtime::Model::load(&bytes).unwrap();
        assert_eq!(model.param_count(), 3750);
    }

    /// On any error nothing is written (and an existing file is left as it was).
    #[test]
    fn nothing_is_written_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.safetensors");
        let truncated = dir.path().join("cut.onnx");
        let good = std::fs::read(fixture("cnn1d.dynamo-dyn.onnx")).unwrap();
        std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
        let config = ImportConfig {
            model: truncated.clone(),
            out: out.clone(),
            input_shape: None,
        };
        let err = format!("{:#}", import_file(&config).unwrap_err());
        assert!(err.contains("cut.onnx"), "{err}");
        assert!(!out.exists());
        // A wrong --input-shape: refused, the old file kept.
        std::fs::write(&out, b"old").unwrap();
        let config = ImportConfig {
            model: fixture("cnn1d.dynamo-dyn.onnx"),
            out: out.clone(),
            input_shape: Some(vec![3, 65]),
        };
        let err = format!("{:#}", import_file(&config).unwrap_err());
        assert!(err.contains("--input-shape"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left behind");
    }
}
