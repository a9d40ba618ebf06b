//! The host's candle networks against PyTorch: each golden file in `fixtures/golden` of
//! this crate (committed, described in its README; a missing file fails) holds a
//! small PyTorch module's weights, a batch of inputs and what PyTorch computed. The same
//! module is described as a deepiot graph, written with `deepiot_format::write` (batch norm
//! folded with `fold_batchnorm`), loaded back into a candle [`Net`] with
//! `deepiot::export::from_bytes`, and run on the whole batch with both convolution paths.
//! Criterion: `|candle - torch| / max(1, |torch|) <= 1e-5` per element.
use candle_core::{Device, Tensor};
use deepiot::export;
use deepiot::models::{ConvImpl, Net};
use deepiot_format::{fold, write, Graph, Op, Pool1d, Pool2d, Recurrent, SeqOutput, TensorData};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;

const TOLERANCE: f64 = 1e-5;

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn golden(name: &str) -> Tensors {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(format!("{name}.safetensors"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("golden file is valid safetensors");
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            let vals = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (n, (v.shape().to_vec(), vals))
        })
        .collect()
}

fn get<'a>(g: &'a Tensors, name: &str) -> &'a (Vec<usize>, Vec<f32>) {
    g.get(name)
        .unwrap_or_else(|| panic!("no golden tensor `{name}`"))
}

/// Writes the graph with `tensors` as a model file and loads it into candle.
fn net(graph: &Graph, tensors: &Tensors) -> Net {
    let data: Vec<TensorData> = tensors
        .iter()
        .map(|(name, (shape, values))| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    let bytes = write(graph, &BTreeMap::new(), &data).expect("the golden graph is writable");
    export::from_bytes(&bytes, Path::new("golden"))
        .expect("the host loads the file")
        .0
}

/// Runs the golden input through `net` (both convolution paths) and compares with `want`.
fn check(what: &str, net: Net, g: &Tensors, want: &[f32]) {
    let (shape, x) = get(g, "input");
    let x = Tensor::from_vec(x.clone(), shape.as_slice(), &Device::Cpu).unwrap();
    for conv in [ConvImpl::Im2col, ConvImpl::Candle] {
        let net = net_with(&net, conv);
        let y: Vec<f32> = net
            .forward(&[&x], false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(y.len(), want.len(), "{what}: length");
        for (i, (&a, &b)) in y.iter().zip(want).enumerate() {
            let err = (a as f64 - b as f64).abs() / (b as f64).abs().max(1.0);
            assert!(
                err <= TOLERANCE,
                "{what} ({conv:?}): element {i}: candle {a} vs torch {b} (relative error {err:e})"
            );
        }
    }
}

fn net_with(net: &Net, conv: ConvImpl) -> Net {
    let t = net
        .tensors()
        .unwrap()
        .into_iter()
        .map(|(n, s, v)| (n, Tensor::from_vec(v, s, &Device::Cpu).unwrap()))
        .collect();
    Net::from_tensors(net.graph(), t).unwrap().with_conv(conv)
}

fn input_shape(g: &Tensors) -> Vec<usize> {
    get(g, "input").0[1..].to_vec()
}

fn rename(g: &Tensors, out: &mut Tensors, from: &str, to: &str) {
    out.insert(to.into(), get(g, from).clone());
}

fn conv2d(out: usize, k: usize, stride: usize, pad: usize) -> Op {
    Op::Conv2d {
        out_channels: out,
        kernel: [k, k],
        stride: [stride; 2],
        padding: [pad; 2],
    }
}

#[test]
fn lenet5() {
    let g = golden("lenet5");
    let mut graph = Graph::new("x", &input_shape(&g));
    let pool = Op::MaxPool2d(Pool2d {
        kernel: [2, 2],
        stride: [2, 2],
    });
    graph.push("conv1", conv2d(20, 5, 1, 0));
    graph.push("pool1", pool.clone());
    graph.push("conv2", conv2d(50, 5, 1, 0));
    graph.push("pool2", pool);
    graph.push("flatten", Op::Flatten);
    graph.push("fc1", Op::Dense { units: 500 });
    graph.push("relu", Op::Relu);
    graph.push("fc2", Op::Dense { units: 10 });
    let mut t = Tensors::new();
    for layer in ["conv1", "conv2", "fc1", "fc2"] {
        for p in ["weight", "bias"] {
            let n = format!("{layer}.{p}");
            rename(&g, &mut t, &n, &n);
        }
    }
    check("lenet5", net(&graph, &t), &g, &get(&g, "output").1);
}

#[test]
fn conv1d_relu_maxpool() {
    let g = golden("conv1d_relu_maxpool");
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
    let mut t = Tensors::new();
    rename(&g, &mut t, "0.weight", "conv.weight");
    rename(&g, &mut t, "0.bias", "conv.bias");
    check("conv1d", net(&graph, &t), &g, &get(&g, "output").1);
}

#[test]
fn conv2d_stride_pad_tanh_avgpool() {
    let g = golden("conv2d_stride_pad_tanh_avgpool");
    let mut graph = Graph::new("x", &input_shape(&g));
    graph.push("conv", conv2d(5, 3, 2, 1));
    graph.push("tanh", Op::Tanh);
    graph.push(
        "pool",
        Op::AvgPool2d(Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }),
    );
    let mut t = Tensors::new();
    rename(&g, &mut t, "0.weight", "conv.weight");
    rename(&g, &mut t, "0.bias", "conv.bias");
    check(
        "conv2d stride/pad",
        net(&graph, &t),
        &g,
        &get(&g, "output").1,
    );
}

#[test]
fn conv2d_batchnorm_relu_folded() {
    let g = golden("conv2d_batchnorm_relu");
    let mut graph = Graph::new("x", &input_shape(&g));
    graph.push("conv", conv2d(6, 3, 1, 1));
    graph.push("relu", Op::Relu);
    let (ws, mut w) = get(&g, "0.weight").clone();
    let (bs, mut b) = get(&g, "0.bias").clone();
    assert!(fold::fold_batchnorm(
        &mut w,
        &mut b,
        &get(&g, "1.weight").1,
        &get(&g, "1.bias").1,
        &get(&g, "1.running_mean").1,
        &get(&g, "1.running_var").1,
        1e-5
    ));
    let mut t = Tensors::new();
    t.insert("conv.weight".into(), (ws, w));
    t.insert("conv.bias".into(), (bs, b));
    check(
        "conv2d + folded batch norm",
        net(&graph, &t),
        &g,
        &get(&g, "output").1,
    );
}

fn rnn_tensors(g: &Tensors, out: &mut Tensors, layer: usize, node: &str, bidirectional: bool) {
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

/// `[L, N, H]` state tensor -> `[N, H]` rows of `first`.
fn state(g: &Tensors, name: &str, first: usize) -> Vec<f32> {
    let (shape, v) = get(g, name);
    let per = shape[1] * shape[2];
    v[first * per..(first + 1) * per].to_vec()
}

fn two_layer(name: &str, lstm: bool) {
    let g = golden(name);
    let hidden = get(&g, "weight_hh_l0").0[1];
    let op = |r| if lstm { Op::Lstm(r) } else { Op::Gru(r) };
    let build = |first, second: Option<SeqOutput>| {
        let mut graph = Graph::new("x", &input_shape(&g));
        graph.push("rnn0", op(rec(hidden, false, first)));
        let mut t = Tensors::new();
        rnn_tensors(&g, &mut t, 0, "rnn0", false);
        if let Some(s) = second {
            graph.push("rnn1", op(rec(hidden, false, s)));
            rnn_tensors(&g, &mut t, 1, "rnn1", false);
        }
        net(&graph, &t)
    };
    let seq = SeqOutput::Sequence;
    check(
        &format!("{name} output"),
        build(seq, Some(seq)),
        &g,
        &get(&g, "output").1,
    );
    check(
        &format!("{name} h_n[1]"),
        build(seq, Some(SeqOutput::Last)),
        &g,
        &state(&g, "h_n", 1),
    );
    check(
        &format!("{name} h_n[0]"),
        build(SeqOutput::Last, None),
        &g,
        &state(&g, "h_n", 0),
    );
    // Mean over the steps of the stacked output.
    let (shape, out) = get(&g, "output");
    let (n, steps, h) = (shape[0], shape[1], shape[2]);
    let mean: Vec<f32> = (0..n)
        .flat_map(|b| {
            (0..h).map(move |j| {
                let s: f64 = (0..steps)
                    .map(|t| out[(b * steps + t) * h + j] as f64)
                    .sum();
                (s / steps as f64) as f32
            })
        })
        .collect();
    check(
        &format!("{name} mean"),
        build(seq, Some(SeqOutput::Mean)),
        &g,
        &mean,
    );
}

#[test]
fn gru_2layer() {
    two_layer("gru_2layer", false);
}

#[test]
fn lstm_2layer_seq1() {
    two_layer("lstm_2layer_seq1", true);
}

#[test]
fn bilstm() {
    let g = golden("bilstm");
    let hidden = get(&g, "weight_hh_l0").0[1];
    let build = |output| {
        let mut graph = Graph::new("x", &input_shape(&g));
        graph.push("lstm", Op::Lstm(rec(hidden, true, output)));
        let mut t = Tensors::new();
        rnn_tensors(&g, &mut t, 0, "lstm", true);
        net(&graph, &t)
    };
    check(
        "bilstm output",
        build(SeqOutput::Sequence),
        &g,
        &get(&g, "output").1,
    );
    // Last = [h_n forward, h_n backward] per example.
    let (f, b) = (state(&g, "h_n", 0), state(&g, "h_n", 1));
    let last: Vec<f32> = f
        .chunks(hidden)
        .zip(b.chunks(hidden))
        .flat_map(|(x, y)| [x, y].concat())
        .collect();
    check("bilstm h_n", build(SeqOutput::Last), &g, &last);
}
