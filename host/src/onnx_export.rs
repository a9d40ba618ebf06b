//! `deepiot export MODEL.safetensors -o MODEL.onnx`: any model file, original or
//! compressed, as standard ONNX for the engines users already ship
//! ([`deepiot_onnx::export`] does the translation; this reads and writes the files).
//! Not to be confused with [`crate::export`], which writes model files from candle nets.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What `deepiot export` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnnxExportConfig {
    /// The deepiot model file (.safetensors).
    pub model: PathBuf,
    /// Where the ONNX model goes (written atomically: a temporary name, then a rename).
    pub out: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxExportReport {
    pub bytes: usize,
    pub nodes: usize,
    pub initializers: usize,
    /// Weights the model file stored sparse, written dense (ONNX engines compute dense).
    pub densified: usize,
}

/// Exports `cfg.model` to `cfg.out` and prints one line saying what was written. On any
/// error nothing is written.
pub fn run(cfg: &OnnxExportConfig) -> Result<OnnxExportReport> {
    let report = export_file(&cfg.model, &cfg.out)?;
    println!(
        "wrote {} ({} bytes): ONNX opset {}, {} nodes, {} initializers{}; batch axis `N` dynamic",
        cfg.out.display(),
        report.bytes,
        deepiot_onnx::export::OPSET,
        report.nodes,
        report.initializers,
        match report.densified {
            0 => String::new(),
            n => format!(", {n} sparse weight(s) written dense"),
        }
    );
    Ok(report)
}

/// Reads, translates and writes without printing.
pub fn export_file(model: &Path, out: &Path) -> Result<OnnxExportReport> {
    if same_file(model, out) {
        bail!(
            "the output {} is the model file itself; give another -o",
            out.display()
        );
    }
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let file = deepiot_format::parse(&bytes)
        .with_context(|| format!("{} is not a valid deepiot model", model.display()))?;
    let proto = deepiot_onnx::export::export(&file)
        .with_context(|| format!("cannot export {} as ONNX", model.display()))?;
    let encoded = prost::Message::encode_to_vec(&proto);
    crate::paths::write_atomic(out, &encoded)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let graph = proto.graph.unwrap_or_default();
    Ok(OnnxExportReport {
        bytes: encoded.len(),
        nodes: graph.node.len(),
        initializers: graph.initializer.len(),
        densified: file.sparse_names().count(),
    })
}

/// Whether both paths name one existing file (so writing `out` would destroy `model`).
fn same_file(model: &Path, out: &Path) -> bool {
    match (model.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepiot_format::reference;
    use deepiot_format::testing::random_model;

    #[test]
    fn writes_a_model_that_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.safetensors");
        std::fs::write(&model, random_model(&reference::bilstm(), 1)).unwrap();
        let out = dir.path().join("sub/m.onnx");
        let report = export_file(&model, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(report.bytes, bytes.len());
        let proto =
            <deepiot_onnx::proto::ModelProto as prost::Message>::decode(bytes.as_slice()).unwrap();
        assert_eq!(proto.graph.unwrap().node.len(), report.nodes);
        assert_eq!(report.densified, 0);
    }

    #[test]
    fn a_corrupt_model_is_a_clear_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("broken.safetensors");
        let good = random_model(&reference::lenet5_mnist(), 2);
        std::fs::write(&model, &good[..good.len() - 100]).unwrap();
        let out = dir.path().join("broken.onnx");
        let err = format!("{:#}", export_file(&model, &out).unwrap_err());
        assert!(
            err.contains("broken.safetensors is not a valid deepiot model"),
            "{err}"
        );
        assert!(!out.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the model file is there");

        let missing = dir.path().join("missing.safetensors");
        let err = format!("{:#}", export_file(&missing, &out).unwrap_err());
        assert!(
            err.contains("cannot read") && err.contains("missing.safetensors"),
            "{err}"
        );

        std::fs::write(&model, &good).unwrap();
        let err = format!("{:#}", export_file(&model, &model).unwrap_err());
        assert!(err.contains("is the model file itself"), "{err}");
        assert_eq!(
            std::fs::read(&model).unwrap(),
            good,
            "the model is untouched"
        );
    }
}
