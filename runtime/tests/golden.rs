//! The runtime against PyTorch: each golden file in `tests/fixtures/golden` (committed,
//! described in its README; a missing file fails, never skips) holds one small
//! PyTorch module's weights under PyTorch's names, a batch of inputs and what PyTorch
//! computed. Here the same module is built as a deepiot graph (tensors renamed, e.g.
//! `0.weight` -> `conv.weight`; a 2-layer RNN as two nodes; batch norm folded into the
//! convolution), written with `deepiot_format::write`, loaded in the runtime and run on
//! every example. Criterion: `|runtime - torch| / max(1, |torch|) <= 1e-5` per element.
use deepiot_format::{fold, write, Graph, Op, Pool1d, Pool2d, Recurrent, SeqOutput, TensorData};
use deepiot_runtime::Model;
use safetensors::SafeTensors;
use std::collections::BTreeMap;

const TOLERANCE: f64 = 1e-5;

/// The PyTorch reference cases, committed in the end-to-end test crate's fixtures.
fn golden_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/golden"
    ))
}

/// One golden file's tensors, decoded.
struct Golden {
    name: String,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Golden {
    fn open(name: &str) -> Self {
        let path = golden_dir().join(format!("{name}.safetensors"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let st = SafeTensors::deserialize(&bytes).expect("golden file is valid safetensors");
        let mut tensors = BTreeMap::new();
        for (n, view) in st.tensors() {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}: {n}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.insert(n, (view.shape().to_vec(), values));
        }
        Golden {
            name: name.into(),
            tensors,
        }
    }

    fn get(&self, name: &str) -> &(Vec<usize>, Vec<f32>) {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("{}: no tensor `{name}`", self.name))
    }

    /// Example `b` of a batched tensor (first axis = batch).
    fn example(&self, name: &str, b: usize) -> &[f32] {
        let (shape, v) = self.get(name);
        let per = shape[1..].iter().product::<usize>();
        &v[b * per..(b + 1) * per]
    }

    fn batch(&self) -> usize {
        self.get("input").0[0]
    }

    /// `h_n[layer_or_direction, b, :]` of a `[L, N, H]` state tensor.
    fn state(&self, name: &str, first: usize, b: usize) -> &[f32] {
        let (shape, v) = self.get(name);
        let (n, h) = (shape[1], shape[2]);
        &v[(first * n + b) * h..(first * n + b + 1) * h]
    }
}

/// Writes `graph` with the given tensors (deepiot names) and loads it in the runtime.
fn load(graph: &Graph, tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Model {
    let data: Vec<TensorData<'_>> = tensors
        .iter()
        .map(|(name, (shape, values))| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    let bytes = write(graph, &BTreeMap::new(), &data).expect("the golden graph is writable");
    Model::load(&bytes).expect("the runtime loads the golden graph")
}

fn compare(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs() / (w as f64).abs().max(1.0);
        assert!(
            err <= TOLERANCE,
            "{what}: element {i}: runtime {g} vs torch {w} (relative error {err:e})"
        );
    }
}

/// Runs `model` on every example of `input` and compares with `expected(b)`.
fn run_batch(g: &Golden, model: &mut Model, what: &str, expected: impl Fn(usize) -> Vec<f32>) {
    let mut y = vec![0.0f32; model.output_len(0)];
    for b in 0..g.batch() {
        model
            .run(g.example("input", b), &mut y)
            .expect("input and output sizes match");
        compare(&format!("{} {what}, example {b}", g.name), &y, &expected(b));
    }
}

/// Copies golden tensor `from` to deepiot name `to`.
fn rename(g: &Golden, out: &mut BTreeMap<String, (Vec<usize>, Vec<f32>)>, from: &str, to: &str) {
    out.insert(to.into(), g.get(from).clone());
}

fn rnn_tensors(
    g: &Golden,
    out: &mut BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    layer: usize,
    node: &str,
    bidirectional: bool,
) {
    let dirs: &[&str] = if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    };
    for d in dirs {
        for p in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            rename(
                g,
                out,
                &format!("{p}_l{layer}{d}"),
                &format!("{node}.{p}_l0{d}"),
            );
        }
    }
}

fn rec(hidden: usize, bidirectional: bool, output: SeqOutput) -> Recurrent {
    Recurrent {
        hidden,
        bidirectional,
        output,
    }
}

fn input_shape(g: &Golden) -> Vec<usize> {
    g.get("input").0[1..].to_vec()
}

#[test]
fn golden_files_are_all_covered() {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("tests/fixtures/golden exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".safetensors").map(String::from))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bilstm",
            "conv1d_relu_maxpool",
            "conv2d_batchnorm_relu",
            "conv2d_stride_pad_tanh_avgpool",
            "gru_2layer",
            "lenet5",
            "lstm_2layer_seq1"
        ],
        "a golden file was added or removed: cover it here"
    );
}

#[test]
fn lenet5() {
    // Caffe-style LeNet-5: no activation after the convolutions; flatten in (C, H, W) order.
    let g = Golden::open("lenet5");
    let mut graph = Graph::new("x", &input_shape(&g));
    let conv = |o| Op::Conv2d {
        out_channels: o,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [0, 0],
    };
    let pool = Op::MaxPool2d(Pool2d {
        kernel: [2, 2],
        stride: [2, 2],
    });
    graph.push("conv1", conv(20));
    graph.push("pool1", pool.clone());
    graph.push("conv2", conv(50));
    graph.push("pool2", pool);
    graph.push("flatten", Op::Flatten);
    graph.push("fc1", Op::Dense { units: 500 });
    graph.push("relu", Op::Relu);
    graph.push("fc2", Op::Dense { units: 10 });
    let mut t = BTreeMap::new();
    for layer in ["conv1", "conv2", "fc1", "fc2"] {
        for p in ["weight", "bias"] {
            let name = format!("{layer}.{p}");
            rename(&g, &mut t, &name, &name);
        }
    }
    let mut model = load(&graph, &t);
    run_batch(&g, &mut model, "logits", |b| {
        g.example("output", b).to_vec()
    });
}

#[test]
fn conv1d_relu_maxpool() {
    let g = Golden::open("conv1d_relu_maxpool");
    let mut graph = Graph::new("x", &input_shape(&g));
    graph.push(
        "conv",
        Op::Conv1d {
            out_channels: 8,
            kernel: 5,
            stride: 2,
            padding: 1,
        },
    );
    graph.push("relu", Op::Relu);
    graph.push(
        "pool",
        Op::MaxPool1d(Pool1d {
            kernel: 2,
            stride: 2,
        }),
    );
    let mut t = BTreeMap::new();
    rename(&g, &mut t, "0.weight", "conv.weight");
    rename(&g, &mut t, "0.bias", "conv.bias");
    let mut model = load(&graph, &t);
    run_batch(&g, &mut model, "output", |b| {
        g.example("output", b).to_vec()
    });
}

#[test]
fn conv2d_stride_pad_tanh_avgpool() {
    let g = Golden::open("conv2d_stride_pad_tanh_avgpool");
    let mut graph = Graph::new("x", &input_shape(&g));
    graph.push(
        "conv",
        Op::Conv2d {
            out_channels: 5,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        },
    );
    graph.push("tanh", Op::Tanh);
    graph.push(
        "pool",
        Op::AvgPool2d(Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }),
    );
    let mut t = BTreeMap::new();
    rename(&g, &mut t, "0.weight", "conv.weight");
    rename(&g, &mut t, "0.bias", "conv.bias");
    let mut model = load(&graph, &t);
    run_batch(&g, &mut model, "output", |b| {
        g.example("output", b).to_vec()
    });
}

#[test]
fn conv2d_batchnorm_relu() {
    let g = Golden::open("conv2d_batchnorm_relu");
    let mut graph = Graph::new("x", &input_shape(&g));
    graph.push(
        "conv",
        Op::Conv2d {
            out_channels: 6,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
        },
    );
    graph.push("relu", Op::Relu);
    let (w_shape, mut w) = g.get("0.weight").clone();
    let (b_shape, mut bias) = g.get("0.bias").clone();
    assert!(fold::fold_batchnorm(
        &mut w,
        &mut bias,
        &g.get("1.weight").1,
        &g.get("1.bias").1,
        &g.get("1.running_mean").1,
        &g.get("1.running_var").1,
        1e-5,
    ));
    let mut t = BTreeMap::new();
    t.insert("conv.weight".to_string(), (w_shape, w));
    t.insert("conv.bias".to_string(), (b_shape, bias));
    let mut model = load(&graph, &t);
    run_batch(&g, &mut model, "output", |b| {
        g.example("output", b).to_vec()
    });
}

/// A 2-layer recurrent net as two deepiot nodes; `first`/`second` say what each emits.
fn two_layers(g: &Golden, lstm: bool, first: SeqOutput, second: Option<SeqOutput>) -> Model {
    let hidden = g.get("weight_hh_l0").0[1];
    let op = |r| if lstm { Op::Lstm(r) } else { Op::Gru(r) };
    let mut graph = Graph::new("x", &input_shape(g));
    graph.push("rnn0", op(rec(hidden, false, first)));
    let mut t = BTreeMap::new();
    rnn_tensors(g, &mut t, 0, "rnn0", false);
    if let Some(second) = second {
        graph.push("rnn1", op(rec(hidden, false, second)));
        rnn_tensors(g, &mut t, 1, "rnn1", false);
    }
    load(&graph, &t)
}

fn check_two_layer(name: &str, lstm: bool) {
    let g = Golden::open(name);
    let seq = SeqOutput::Sequence;
    let mut model = two_layers(&g, lstm, seq, Some(seq));
    run_batch(&g, &mut model, "output", |b| {
        g.example("output", b).to_vec()
    });
    // h_n of the second layer: the last state of the stacked model.
    let mut model = two_layers(&g, lstm, seq, Some(SeqOutput::Last));
    run_batch(&g, &mut model, "h_n[1]", |b| g.state("h_n", 1, b).to_vec());
    // h_n of the first layer alone.
    let mut model = two_layers(&g, lstm, SeqOutput::Last, None);
    run_batch(&g, &mut model, "h_n[0]", |b| g.state("h_n", 0, b).to_vec());
    // Mean over the steps of the stacked output.
    let mut model = two_layers(&g, lstm, seq, Some(SeqOutput::Mean));
    let steps = g.get("output").0[1];
    run_batch(&g, &mut model, "mean of output", |b| {
        let out = g.example("output", b);
        let h = out.len() / steps;
        (0..h)
            .map(|j| {
                let s: f64 = (0..steps).map(|t| out[t * h + j] as f64).sum();
                (s / steps as f64) as f32
            })
            .collect()
    });
}

#[test]
fn gru_2layer() {
    check_two_layer("gru_2layer", false);
}

#[test]
fn lstm_2layer_seq1() {
    check_two_layer("lstm_2layer_seq1", true);
}

#[test]
fn bilstm() {
    let g = Golden::open("bilstm");
    let hidden = g.get("weight_hh_l0").0[1];
    let build = |output| {
        let mut graph = Graph::new("x", &input_shape(&g));
        graph.push("lstm", Op::Lstm(rec(hidden, true, output)));
        let mut t = BTreeMap::new();
        rnn_tensors(&g, &mut t, 0, "lstm", true);
        load(&graph, &t)
    };
    let mut model = build(SeqOutput::Sequence);
    run_batch(&g, &mut model, "output", |b| {
        g.example("output", b).to_vec()
    });
    // Last = [h_n forward, h_n backward] (the backward direction ends at step 0).
    let mut model = build(SeqOutput::Last);
    run_batch(&g, &mut model, "h_n", |b| {
        [g.state("h_n", 0, b), g.state("h_n", 1, b)].concat()
    });
}
