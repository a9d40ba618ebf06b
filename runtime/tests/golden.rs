//! The runtime against PyTorch: each golden file in `tests/fixtures/golden` (committed,
//! described in its README; a missing file fails, never skips) holds one small
//! PyTorch module's weights under PyTorch's names, a batch of inputs and what PyTorch
//! computed. `deepiot_format::testing::golden` describes each module as deepiot graphs
//! (the same checks the host's candle networks run in `tests/tests/host_golden.rs`);
//! here each is written with `deepiot_format::write`, loaded in the runtime and run on
//! every example. Criterion: `|runtime - torch| / max(1, |torch|) <= 1e-5` per element.
use deepiot_format::testing::golden::{self, Golden};
use deepiot_format::testing::model_file;
use deepiot_runtime::Model;
use std::collections::BTreeMap;

const TOLERANCE: f64 = 1e-5;

/// Runs every check of golden file `name` on every example, one example at a time.
fn check(name: &str) {
    let g = Golden::open(name);
    for c in g.checks() {
        let bytes = model_file(&c.graph, &c.tensors, &BTreeMap::new());
        let mut model = Model::load(&bytes).expect("the runtime loads the golden graph");
        let mut y = vec![0.0f32; model.output_len(0)];
        assert_eq!(y.len() * g.batch(), c.expected.len(), "{}: length", c.what);
        for (b, want) in c.expected.chunks(y.len()).enumerate() {
            model
                .run(g.example("input", b), &mut y)
                .expect("input and output sizes match");
            for (i, (&got, &w)) in y.iter().zip(want).enumerate() {
                let err = (got as f64 - w as f64).abs() / (w as f64).abs().max(1.0);
                assert!(
                    err <= TOLERANCE,
                    "{}, example {b}: element {i}: runtime {got} vs torch {w} (relative error {err:e})",
                    c.what
                );
            }
        }
    }
}

#[test]
fn golden_files_are_all_covered() {
    assert_eq!(
        golden::names(),
        golden::CASES,
        "a golden file was added or removed: describe it in deepiot_format::testing::golden"
    );
}

#[test]
fn lenet5() {
    // Caffe-style LeNet-5 (`deepiot_format::reference::lenet5`): no activation after the
    // convolutions; flatten in (C, H, W) order.
    check("lenet5");
}

#[test]
fn conv1d_relu_maxpool() {
    check("conv1d_relu_maxpool");
}

#[test]
fn conv2d_stride_pad_tanh_avgpool() {
    check("conv2d_stride_pad_tanh_avgpool");
}

#[test]
fn conv2d_batchnorm_relu() {
    check("conv2d_batchnorm_relu");
}

#[test]
fn gru_2layer() {
    check("gru_2layer");
}

#[test]
fn lstm_2layer_seq1() {
    check("lstm_2layer_seq1");
}

#[test]
fn bilstm() {
    check("bilstm");
}
