//! `deepiot export` checked in an existing engine: for every layer kind, every recurrent
//! output mode and direction, a CSR-sparse file and the reference models, the exported
//! ONNX model runs a random batch in onnxruntime and must give what our runtime gives
//! (within `support::REL` relative). One case also runs through the real board binary.
mod support;

use deepiot_format::testing::{random_model, random_weights, sparse_model_file, zero_fraction};
use deepiot_format::{reference, Graph, Op, Pool1d, Pool2d, Recurrent, SeqOutput};
use std::path::Path;
use support::check_model;

/// A graph of one input of `shape` and the given layers, one after the other.
fn chain(shape: &[usize], layers: Vec<(&str, Op)>) -> Graph {
    let mut g = Graph::new("x", shape);
    for (name, op) in layers {
        g.push(name, op);
    }
    g
}

fn check(py: &Path, test: &str, graph: &Graph, seed: u64) {
    check_model(py, test, &random_model(graph, seed), seed);
}

#[test]
fn dense_on_a_vector_is_gemm() {
    let Some(py) = support::python("dense_on_a_vector_is_gemm") else {
        return;
    };
    let g = chain(&[12], vec![("fc", Op::Dense { units: 7 })]);
    check(py, "dense_on_a_vector", &g, 1);
}

#[test]
fn dense_on_rows_is_matmul_and_add() {
    let Some(py) = support::python("dense_on_rows_is_matmul_and_add") else {
        return;
    };
    let g = chain(&[5, 12], vec![("fc", Op::Dense { units: 7 })]);
    check(py, "dense_on_rows", &g, 2);
}

#[test]
fn conv1d_with_stride_and_padding() {
    let Some(py) = support::python("conv1d_with_stride_and_padding") else {
        return;
    };
    let g = chain(&[3, 20], vec![("conv", Op::conv1d(4, 3, 2, 1))]);
    check(py, "conv1d", &g, 3);
}

#[test]
fn conv2d_with_stride_and_padding() {
    let Some(py) = support::python("conv2d_with_stride_and_padding") else {
        return;
    };
    let g = chain(
        &[2, 9, 11],
        vec![("conv", Op::conv2d(5, [3, 2], [2, 1], [1, 1]))],
    );
    check(py, "conv2d", &g, 4);
}

#[test]
fn all_four_pools_round_down() {
    let Some(py) = support::python("all_four_pools_round_down") else {
        return;
    };
    // Kernels that do not tile the input: the last partial window is dropped.
    let p1 = Pool1d {
        kernel: 3,
        stride: 2,
    };
    let p2 = Pool2d {
        kernel: [3, 2],
        stride: [2, 3],
    };
    check(
        py,
        "max_pool1d",
        &chain(&[3, 16], vec![("pool", Op::MaxPool1d(p1))]),
        5,
    );
    check(
        py,
        "avg_pool1d",
        &chain(&[3, 16], vec![("pool", Op::AvgPool1d(p1))]),
        6,
    );
    check(
        py,
        "max_pool2d",
        &chain(&[2, 9, 10], vec![("pool", Op::MaxPool2d(p2))]),
        7,
    );
    check(
        py,
        "avg_pool2d",
        &chain(&[2, 9, 10], vec![("pool", Op::AvgPool2d(p2))]),
        8,
    );
}

#[test]
fn activations_and_softmax_over_the_last_axis() {
    let Some(py) = support::python("activations_and_softmax_over_the_last_axis") else {
        return;
    };
    for (name, op) in [
        ("relu", Op::Relu),
        ("tanh", Op::Tanh),
        ("sigmoid", Op::Sigmoid),
        ("softmax", Op::Softmax),
    ] {
        // On [T, F], so that softmax must use the last axis, not all of them.
        let g = chain(&[4, 6], vec![("fc", Op::Dense { units: 5 }), (name, op)]);
        check(py, name, &g, 9);
    }
}

#[test]
fn flatten_reshape_and_permute() {
    let Some(py) = support::python("flatten_reshape_and_permute") else {
        return;
    };
    let g = chain(
        &[2, 3, 4],
        vec![
            (
                "perm",
                Op::Permute {
                    perm: vec![2, 0, 1],
                },
            ),
            ("reshape", Op::Reshape { shape: vec![6, 4] }),
            ("fc", Op::Dense { units: 3 }),
            ("flatten", Op::Flatten),
        ],
    );
    check(py, "flatten_reshape_permute", &g, 10);
}

#[test]
fn concat_of_branches_and_of_two_inputs() {
    let Some(py) = support::python("concat_of_branches_and_of_two_inputs") else {
        return;
    };
    // Two branches of one input joined on axis 1 of [C, L].
    let mut g = Graph::new("x", &[3, 10]);
    let a = g.push_from("a", &["x"], Op::conv1d(2, 3, 1, 1));
    let b = g.push_from("b", &["x"], Op::conv1d(4, 3, 1, 1));
    g.push_from(
        "join",
        &[a.as_str(), b.as_str(), "x"],
        Op::Concat { axis: 0 },
    );
    check(py, "concat_branches", &g, 11);
    // Two graph inputs joined on their last axis.
    let mut g = Graph::new("left", &[4, 3]);
    g.inputs.push(deepiot_format::Input {
        name: "right".into(),
        shape: vec![4, 5],
    });
    g.push_from("join", &["left", "right"], Op::Concat { axis: 1 });
    g.push("fc", Op::Dense { units: 2 });
    check(py, "concat_inputs", &g, 12);
}

/// GRU and LSTM, forward and bidirectional, in each output mode.
fn recurrent_cases(py: &Path, lstm: bool) {
    let kind = if lstm { "lstm" } else { "gru" };
    for bidirectional in [false, true] {
        for output in [SeqOutput::Sequence, SeqOutput::Last, SeqOutput::Mean] {
            let r = Recurrent::new(5, bidirectional, output);
            let op = if lstm { Op::Lstm(r) } else { Op::Gru(r) };
            let g = chain(&[7, 3], vec![("rnn", op)]);
            let dir = if bidirectional {
                "bidirectional"
            } else {
                "forward"
            };
            check(
                py,
                &format!("{kind} {dir} {output:?}"),
                &g,
                13 + bidirectional as u64,
            );
        }
    }
}

#[test]
fn gru_in_every_mode_and_direction() {
    let Some(py) = support::python("gru_in_every_mode_and_direction") else {
        return;
    };
    recurrent_cases(py, false);
}

#[test]
fn lstm_in_every_mode_and_direction() {
    let Some(py) = support::python("lstm_in_every_mode_and_direction") else {
        return;
    };
    recurrent_cases(py, true);
}

#[test]
fn sparse_weights_are_densified() {
    let Some(py) = support::python("sparse_weights_are_densified") else {
        return;
    };
    // Dense, convolution and recurrent matrices all stored as CSR.
    let mut g = Graph::new("x", &[2, 12]);
    g.push("conv", Op::conv1d(4, 3, 1, 0));
    g.push("perm", Op::Permute { perm: vec![1, 0] });
    g.push("gru", Op::Gru(Recurrent::new(6, true, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    let mut w = random_weights(&g, 15);
    zero_fraction(&mut w, 0.6, 16);
    let model = sparse_model_file(&g, &w);
    let sparse = deepiot_format::parse(&model)
        .expect("parses")
        .sparse_names()
        .count();
    assert_eq!(
        sparse, 6,
        "conv, fc and the GRU's ih and hh of both directions are sparse"
    );
    check_model(py, "sparse_weights", &model, 17);
}

#[test]
fn reference_models() {
    let Some(py) = support::python("reference_models") else {
        return;
    };
    check(py, "lenet5", &reference::lenet5_mnist(), 18);
    check(py, "deepsense_gru", &reference::deepsense_gru(), 19);
    check(py, "bilstm", &reference::bilstm(), 20);
    check(py, "branched", &reference::branched(), 21);
}

/// The check can fail: a model whose GRU has its r and z gates swapped (a wrong gate
/// order in the exporter would look like this) is far outside the tolerance.
#[test]
fn the_check_notices_swapped_gates() {
    let test = "the_check_notices_swapped_gates";
    let Some(py) = support::python(test) else {
        return;
    };
    let g = chain(
        &[6, 3],
        vec![("rnn", Op::Gru(Recurrent::new(4, false, SeqOutput::Last)))],
    );
    let w = random_weights(&g, 22);
    let mut swapped = w.clone();
    for name in [
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
    ] {
        let (shape, values) = swapped.get_mut(name).expect("GRU tensor");
        let block = values.len() / 3;
        let (r, z) = values.split_at_mut(block);
        r.swap_with_slice(&mut z[..block]);
        assert_eq!(shape[0], 12);
    }
    let model = |t| deepiot_format::testing::model_file(&g, t, &Default::default());
    let (right, wrong) = (model(&w), model(&swapped));
    let batch = support::random_batch(&right, 23);
    let want = support::runtime_outputs(&right, &batch);
    let onnx = deepiot_onnx::export::export_bytes(&wrong).expect("export");
    let (_, got) = support::onnxruntime_outputs(py, &onnx, &batch);
    let (abs, ratio) = support::largest_difference(&got, &want);
    eprintln!("{test}: largest difference {abs:.3e} ({ratio:.0} times the tolerance)");
    assert!(ratio > 100.0, "swapping r and z changed nothing: {abs:e}");
}

/// The real board binary (`deepiot-run`, i686, as users deploy it) on the same batch as
/// onnxruntime, through `--input batch.npy --json`.
#[test]
fn the_board_binary_agrees_with_onnxruntime() {
    let test = "the_board_binary_agrees_with_onnxruntime";
    let Some(py) = support::python(test) else {
        return;
    };
    let bin = deepiot_board::testing::i686_runtime();
    for (name, graph) in [
        ("bilstm", reference::bilstm()),
        ("branched", reference::branched()),
    ] {
        let model = random_model(&graph, 24);
        let batch = support::random_batch(&model, 25);
        let onnx = deepiot_onnx::export::export_bytes(&model).expect("export");
        let (_, got) = support::onnxruntime_outputs(py, &onnx, &batch);

        let dir = tempfile::tempdir().expect("temp dir");
        let model_path = dir.path().join(format!("{name}.safetensors"));
        let input_path = dir.path().join("batch.npy");
        std::fs::write(&model_path, &model).expect("writing the model");
        let (shape, values) = &batch[0];
        std::fs::write(&input_path, support::npy_bytes(shape, values)).expect("writing input");
        let out = std::process::Command::new(bin)
            .arg(&model_path)
            .arg("--input")
            .arg(&input_path)
            .arg("--json")
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        assert!(
            out.status.success(),
            "deepiot-run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("deepiot-run --json prints JSON");
        let examples = json["examples"].as_array().expect("examples");
        assert_eq!(examples.len(), support::BATCH, "{name}: examples");
        let want: Vec<f32> = examples
            .iter()
            .flat_map(|e| e["scores"].as_array().expect("scores").clone())
            .map(|v| v.as_f64().expect("a finite score") as f32)
            .collect();
        support::assert_agree(&format!("{name} (i686 deepiot-run)"), &got, &want);
    }
}
