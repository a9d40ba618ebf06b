//! Every PyTorch export in `tests/fixtures` (made by `scripts/make-onnx-fixtures.py`)
//! imports, and the imported model run in the board runtime gives onnxruntime's outputs
//! on the saved inputs, to 1e-5 relative.
mod common;

use common::{fixture, read_npy_f32};
use deepiot_onnx::import::{import, ImportOptions};
use deepiot_runtime::Model;

const MODELS: &[&str] = &["cnn1d", "cnn2d", "gru", "bilstm"];
const VARIANTS: &[&str] = &["dynamo-b1", "dynamo-dyn", "legacy-dyn"];

/// Imports one fixture, runs it on the saved inputs, and returns the parameter count
/// and the largest difference relative to `max(|expected|, 1)`.
fn check(model: &str, variant: &str) -> Result<(usize, f32), String> {
    let path = fixture(&format!("{model}.{variant}.onnx"));
    let bytes = std::fs::read(&path).unwrap();
    let imported = import(&bytes, &ImportOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rt = Model::load(&imported.bytes).unwrap();
    let (xs, x) = read_npy_f32(&format!("{model}.inputs.npy"));
    let (ys, want) = read_npy_f32(&format!("{model}.{variant}.outputs.npy"));
    assert_eq!(xs[0], ys[0]);
    let (n_in, n_out) = (rt.input_len(0), rt.output_len(0));
    assert_eq!(n_in * xs[0], x.len(), "{model}.{variant}: input size");
    assert_eq!(n_out * ys[0], want.len(), "{model}.{variant}: output size");
    let mut worst = 0f32;
    let mut out = vec![0f32; n_out];
    for k in 0..xs[0] {
        rt.run(&x[k * n_in..(k + 1) * n_in], &mut out).unwrap();
        for (a, e) in out.iter().zip(&want[k * n_out..(k + 1) * n_out]) {
            worst = worst.max((a - e).abs() / e.abs().max(1.0));
        }
    }
    Ok((imported.param_count(), worst))
}

#[test]
fn every_fixture_gives_onnxruntimes_outputs() {
    let mut failures = Vec::new();
    for model in MODELS {
        for variant in VARIANTS {
            match check(model, variant) {
                Ok((params, diff)) => {
                    eprintln!(
                        "{model}.{variant}: {params} params, largest relative difference {diff:.2e}"
                    );
                    if diff > 1e-5 {
                        failures.push(format!("{model}.{variant}: {diff:.2e}"));
                    }
                }
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "failed:\n{}", failures.join("\n"));
}
