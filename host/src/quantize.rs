//! `deepiot quantize`: a model file with its weight matrices stored int8, one scale per
//! output channel (see [`deepiot_format::quant`]). Biases stay f32, weights stored sparse
//! stay sparse (their zeros are what makes them small), and the graph is unchanged, so
//! every other command reads the file as before: the host's candle network sees the
//! dequantized weights, the board runtime computes with int8.
use anyhow::{bail, Context, Result};
use deepiot_format::{parse, write_stored, QuantTensorData, Quantized, TensorData};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `deepiot quantize` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantizeConfig {
    /// The f32 model file.
    pub model: PathBuf,
    /// Where the int8 model goes.
    pub out: PathBuf,
}

/// What quantizing did, per file and per weight.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuantizeReport {
    pub f32_bytes: usize,
    pub int8_bytes: usize,
    /// Weights now stored int8.
    pub quantized: Vec<String>,
    /// Weights left as they were (sparse ones), with the reason.
    pub kept: Vec<(String, String)>,
    /// The largest `|w - q * scale| / peak of its row` over all int8 weights: at most
    /// 1/254 when rounding is to nearest.
    pub max_row_error: f32,
}

/// Quantizes `bytes` (a model file) into the bytes of its int8 file.
pub fn quantize_bytes(bytes: &[u8]) -> Result<(Vec<u8>, QuantizeReport)> {
    let file = parse(bytes).context("reading the model")?;
    if let Some(name) = file.quant_names().next() {
        bail!("the model is already int8 (`{name}` is stored int8); quantize its f32 file");
    }
    let mut dense: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut quant: Vec<(String, Vec<usize>, Quantized)> = Vec::new();
    let mut kept = Vec::new();
    let mut max_row_error = 0f32;
    for spec in file.info.params.iter().flatten() {
        let values = file.tensor_f32(&spec.name)?;
        match spec.matrix() {
            Some(_) if file.csr(&spec.name).is_some() => {
                kept.push((
                    spec.name.clone(),
                    "stored sparse: stays f32 CSR".to_string(),
                ));
                dense.push((spec.name.clone(), spec.shape.clone(), values));
            }
            Some((rows, cols)) => {
                let q = Quantized::from_dense(rows, cols, &values)
                    .with_context(|| format!("`{}` holds a value that is not finite", spec.name))?;
                for (w, d) in values
                    .chunks_exact(cols.max(1))
                    .zip(q.to_dense().chunks_exact(cols.max(1)))
                {
                    let peak = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                    if peak > 0.0 {
                        let e = w.iter().zip(d).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                        max_row_error = max_row_error.max(e / peak);
                    }
                }
                quant.push((spec.name.clone(), spec.shape.clone(), q));
            }
            None => dense.push((spec.name.clone(), spec.shape.clone(), values)),
        }
    }
    // Sparse weights are rewritten sparse: read them back as CSR.
    let csrs: Vec<(String, Vec<usize>, deepiot_format::Csr)> = kept
        .iter()
        .filter_map(|(n, _)| {
            let spec = file.info.params.iter().flatten().find(|p| &p.name == n)?;
            Some((n.clone(), spec.shape.clone(), file.csr(n)?.to_csr()))
        })
        .collect();
    let dense_data: Vec<TensorData<'_>> = dense
        .iter()
        .filter(|(n, _, _)| !csrs.iter().any(|(c, _, _)| c == n))
        .map(|(name, shape, values)| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    let sparse_data: Vec<deepiot_format::SparseTensorData<'_>> = csrs
        .iter()
        .map(|(name, shape, csr)| deepiot_format::SparseTensorData { name, shape, csr })
        .collect();
    let quant_data: Vec<QuantTensorData<'_>> = quant
        .iter()
        .map(|(name, shape, quant)| QuantTensorData { name, shape, quant })
        .collect();
    let mut provenance: BTreeMap<String, String> = file.provenance.clone();
    provenance.insert(
        "weights".into(),
        "int8, one scale per output channel (deepiot quantize); activations 16-bit, scaled per layer at run time".into(),
    );
    let out = write_stored(
        &file.graph,
        &provenance,
        &dense_data,
        &sparse_data,
        &quant_data,
    )?;
    let report = QuantizeReport {
        f32_bytes: bytes.len(),
        int8_bytes: out.len(),
        quantized: quant.iter().map(|(n, _, _)| n.clone()).collect(),
        kept,
        max_row_error,
    };
    Ok((out, report))
}

/// Runs `deepiot quantize`: reads the model, writes its int8 file, says what it did.
pub fn run(cfg: &QuantizeConfig) -> Result<QuantizeReport> {
    let bytes =
        std::fs::read(&cfg.model).with_context(|| format!("reading {}", cfg.model.display()))?;
    let (out, report) =
        quantize_bytes(&bytes).with_context(|| format!("quantizing {}", cfg.model.display()))?;
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::paths::write_atomic(&cfg.out, &out)
        .with_context(|| format!("writing {}", cfg.out.display()))?;
    println!(
        "{}: {} weight matrices int8, {} -> {} bytes ({:.1} % of the f32 file); largest weight error {:.2} % of its row's peak",
        cfg.out.display(),
        report.quantized.len(),
        report.f32_bytes,
        report.int8_bytes,
        100.0 * report.int8_bytes as f64 / report.f32_bytes.max(1) as f64,
        100.0 * report.max_row_error,
    );
    for (name, why) in &report.kept {
        println!("  kept `{name}`: {why}");
    }
    println!(
        "  its accuracy as the board computes it: deepiot eval {} (runs int8 files in the runtime's own kernels)",
        cfg.out.display()
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepiot_format::testing;
    use deepiot_format::{Graph, Op};

    #[test]
    fn quantizing_keeps_the_graph_biases_and_sparse_weights_and_quarters_the_file() {
        let mut g = Graph::new("x", &[1, 12, 12]);
        g.push("c1", Op::conv2d(8, [3, 3], [1, 1], [0, 0]));
        g.push("flat", Op::Flatten);
        g.push("fc1", Op::Dense { units: 64 });
        g.push("fc2", Op::Dense { units: 10 });
        let w = testing::random_weights(&g, 4);
        let bytes = testing::model_file(&g, &w, &BTreeMap::new());
        let (out, report) = quantize_bytes(&bytes).unwrap();
        let file = parse(&out).unwrap();
        assert_eq!(file.graph, g);
        assert_eq!(report.quantized, ["c1.weight", "fc1.weight", "fc2.weight"]);
        assert_eq!(file.tensor_f32("fc1.bias").unwrap(), w["fc1.bias"].1);
        assert!(
            report.max_row_error <= 0.5 / 127.0 + 1e-6,
            "{}",
            report.max_row_error
        );
        assert!(report.int8_bytes * 10 < report.f32_bytes * 3, "{report:?}");
        let again = quantize_bytes(&out).unwrap_err();
        assert!(format!("{again:#}").contains("already int8"), "{again:#}");

        let sparse = testing::random_sparse_model(&g, 4, 0.9);
        let (out, report) = quantize_bytes(&sparse).unwrap();
        let file = parse(&out).unwrap();
        assert_eq!(file.sparse_names().count(), 3);
        assert_eq!(report.kept.len(), 3);
    }
}
