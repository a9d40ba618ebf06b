//! Every PyTorch export in `tests/fixtures` (made by `scripts/make-onnx-fixtures.py`)
//! imports, and the imported model run in the board runtime gives onnxruntime's outputs
//! on the saved inputs, to 1e-5 relative.
mod common;

use common::{fixture, read_npy_f32};
use deepiot_onnx::import::{import, ImportOptions};
use deepiot_runtime::Model;

const MODELS: &[&str] = &["cnn1d", "cnn2d", "gru", "bilstm", "bigru_mean"];
const VARIANTS: &[&str] = &["dynamo-b1", "dynamo-dyn", "legacy-dyn", "legacy-nofold"];

/// Imports one fixture, runs it on the saved inputs, and returns the parameter count
/// and the largest difference relative to `max(|expected|, 1)`.
fn check(model: &str, variant: &str) -> Result<(usize, f32), String> {
    compare(
        &format!("{model}.{variant}.onnx"),
        &format!("{model}.inputs.npy"),
        &format!("{model}.{variant}.outputs.npy"),
    )
}

/// [`check`] for any ONNX file, inputs and expected outputs.
fn compare(onnx: &str, inputs: &str, outputs: &str) -> Result<(usize, f32), String> {
    let path = fixture(onnx);
    let bytes = std::fs::read(&path).unwrap();
    let imported = import(&bytes, &ImportOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rt = Model::load(&imported.bytes).unwrap();
    let (xs, x) = read_npy_f32(inputs);
    let (ys, want) = read_npy_f32(outputs);
    assert_eq!(xs[0], ys[0]);
    let (n_in, n_out) = (rt.input_len(0), rt.output_len(0));
    assert_eq!(n_in * xs[0], x.len(), "{onnx}: input size");
    assert_eq!(n_out * ys[0], want.len(), "{onnx}: output size");
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

fn imported(name: &str) -> deepiot_onnx::import::Imported {
    let bytes = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
    import(&bytes, &ImportOptions::default()).unwrap()
}

/// Layers are named after the PyTorch modules, whichever exporter wrote the file, and
/// the weights keep PyTorch's names and layouts (gate order included: the outputs match).
#[test]
fn layers_keep_pytorchs_module_names() {
    let names = |m: &deepiot_onnx::import::Imported| {
        m.tensors.keys().cloned().collect::<Vec<_>>().join(" ")
    };
    for variant in VARIANTS {
        let cnn = imported(&format!("cnn1d.{variant}"));
        for t in ["fc1.weight", "fc2.bias"] {
            assert!(cnn.tensors.contains_key(t), "{variant}: {}", names(&cnn));
        }
        let lstm = imported(&format!("bilstm.{variant}"));
        let w = &lstm.tensors["lstm.weight_hh_l0_reverse"];
        assert_eq!(w.0, vec![4 * 24, 24], "{variant}");
        let gru = imported(&format!("gru.{variant}"));
        assert!(
            gru.tensors.contains_key("gru.bias_hh_l0"),
            "{variant}: {}",
            names(&gru)
        );
    }
    // The TorchScript exporter names convolution weights after their node.
    let legacy = imported("cnn1d.legacy-dyn");
    assert!(
        legacy.tensors.contains_key("conv1.weight"),
        "{}",
        names(&legacy)
    );
    assert_eq!(legacy.provenance["source"], "onnx");
    assert_eq!(legacy.provenance["onnx.opset"], "17");
}

/// Batch norm left in the graph (no constant folding at export) is folded by the
/// importer into the same weights PyTorch's exporter computes when it folds it itself.
#[test]
fn batch_norm_is_folded_like_pytorchs_exporter_does() {
    let ours = imported("cnn1d.legacy-nofold");
    let theirs = imported("cnn1d.legacy-dyn");
    assert_eq!(ours.graph, theirs.graph);
    let mut worst = 0f32;
    for (name, (shape, v)) in &theirs.tensors {
        let (s, w) = &ours.tensors[name];
        assert_eq!(s, shape, "{name}");
        for (a, e) in w.iter().zip(v) {
            worst = worst.max((a - e).abs() / e.abs().max(1e-3));
        }
    }
    eprintln!("largest relative difference of the folded weights: {worst:.2e}");
    assert!(worst < 1e-5, "{worst}");
}

/// The same ONNX file gives the same model file, byte for byte.
#[test]
fn import_is_deterministic() {
    assert_eq!(
        imported("gru.dynamo-dyn").bytes,
        imported("gru.dynamo-dyn").bytes
    );
}

/// An export with a fixed batch of 1 and one with a dynamic batch axis are the same
/// network: both import to the same file, byte for byte, so everything after the import
/// (training, compression, export) treats them alike.
#[test]
fn fixed_and_dynamic_batch_exports_import_to_the_same_file() {
    for model in MODELS {
        assert!(
            imported(&format!("{model}.dynamo-b1")).bytes
                == imported(&format!("{model}.dynamo-dyn")).bytes,
            "{model}: the batch-1 and dynamic-batch imports differ"
        );
    }
}

/// A TensorFlow export (Keras 3 through tf2onnx, `scripts/make-tf-fixtures.py`): each
/// Conv1D arrives as `Unsqueeze`, a 2-D `Conv` without bias, `Squeeze` and an `Add` of
/// the bias, after a `Permute` to channels-last that tf2onnx folds away. The import gives
/// TensorFlow's own outputs.
#[test]
fn a_tensorflow_conv1d_export_gives_tensorflows_outputs() {
    let (params, diff) = compare(
        "tf_cnn1d.onnx",
        "tf_cnn1d.inputs.npy",
        "tf_cnn1d.outputs.npy",
    )
    .unwrap();
    eprintln!("tf_cnn1d: {params} params, largest relative difference {diff:.2e}");
    assert_eq!(params, 4102);
    assert!(diff <= 1e-5, "{diff}");
}
