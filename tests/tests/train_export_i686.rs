//! One description, two engines: for each model family (convolutional, GRU, bidirectional
//! LSTM, multi-branch), train a tiny model on the host with candle for a few steps on
//! synthetic data, export it with `deepiot::export`, run the board binary `deepiot-run`
//! (i686-unknown-linux-musl, target-cpu=silvermont, run natively) on 100 test inputs with
//! `--json`, and require `max |i686 - candle| <= 1e-4` and the same argmax everywhere.
//!
//! Also: the exported file loads back into an identical candle network, and training is
//! deterministic (same seed, same file bytes).
use candle_core::{Device, Tensor};
use deepiot::data::{Dataset, Standardization};
use deepiot::export;
use deepiot::models::Net;
use deepiot::rng::Rng;
use deepiot::train::{fit, FitOptions, Hyper};
use deepiot_format::{Graph, Op, Recurrent, SeqOutput};
use deepiot_tests::models::{bilstm_graph, branched_graph};
use deepiot_tests::{argmax, i686_runtime, npy_bytes};
use std::collections::BTreeMap;
use std::process::Command;

const TOLERANCE: f32 = 1e-4;
const TEST_EXAMPLES: usize = 100;

/// Small LeNet: conv 3x3 (padded) + relu + max-pool, conv 3x3 stride 2 + avg-pool, dense.
fn conv_graph() -> Graph {
    let mut g = Graph::new("image", &[1, 12, 12]);
    g.push("conv1", Op::conv2d(4, [3, 3], [1, 1], [1, 1]));
    g.push("relu1", Op::Relu);
    g.push("pool1", Op::max_pool2d([2, 2], [2, 2]));
    g.push("conv2", Op::conv2d(6, [3, 3], [2, 1], [1, 0]));
    g.push("pool2", Op::avg_pool2d([1, 2], [1, 2]));
    g.push("flatten", Op::Flatten);
    g.push("fc1", Op::Dense { units: 16 });
    g.push("relu2", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    g
}

/// Small DeepSense: per-interval conv (1, 3), permute + reshape to one vector per interval,
/// two stacked GRUs (sequence, then mean), dense.
fn gru_graph() -> Graph {
    let mut g = Graph::new("window", &[3, 4, 7]);
    g.push("conv", Op::conv2d(5, [1, 3], [1, 1], [0, 0]));
    g.push("relu", Op::Relu);
    g.push(
        "to_time",
        Op::Permute {
            perm: vec![1, 0, 2],
        },
    );
    g.push("frames", Op::Reshape { shape: vec![4, 25] });
    g.push(
        "gru1",
        Op::Gru(Recurrent::new(12, false, SeqOutput::Sequence)),
    );
    g.push("gru2", Op::Gru(Recurrent::new(10, false, SeqOutput::Mean)));
    g.push("fc", Op::Dense { units: 3 });
    g
}

/// A learnable synthetic task: class `c` is a fixed random pattern plus noise.
fn synthetic(shape: &[usize], classes: usize, train: usize, test: usize, seed: u64) -> Dataset {
    let len: usize = shape.iter().product();
    let mut rng = Rng::new(seed);
    let templates: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect())
        .collect();
    let mut make = |n: usize| {
        let mut x = Vec::with_capacity(n * len);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % classes;
            x.extend(templates[c].iter().map(|t| t + rng.uniform(-0.8, 0.8)));
            y.push(c as u32);
        }
        (x, y)
    };
    let (train, test) = (make(train), make(test));
    let classes = (0..classes).map(|c| format!("c{c}")).collect();
    let norm = Standardization::scaled(1, 1.0);
    Dataset::new("synthetic", shape.to_vec(), classes, train, test, norm)
}

/// Trains `graph` for a few steps; returns the network and the data.
fn train_tiny(graph: &Graph, seed: u64) -> (Net, Dataset) {
    let info = graph.infer().expect("valid graph");
    let classes = *info
        .node_shapes
        .last()
        .and_then(|s| s.last())
        .expect("output");
    let ds = synthetic(
        &info.input_shapes[0],
        classes,
        192,
        TEST_EXAMPLES,
        seed ^ 0xDA7A,
    );
    let net = Net::new(graph, seed).expect("network");
    let opts = FitOptions {
        hyper: Hyper {
            epochs: 3,
            batch: 32,
            lr: 3e-3,
            lr_decay: 0.8,
            weight_decay: 1e-4,
            patience: 10,
        },
        seed,
        progress: false,
        verbose: false,
        checkpoint: None,
        resume: false,
        augment: None,
        max_steps_per_epoch: Some(6),
        distill: None,
        average_from: None,
        mixup: None,
        print_test: false,
        val_fraction: 0.0,
        model: "tiny".into(),
        data: "synthetic".into(),
    };
    let history = fit(&net, &ds, &opts).expect("training");
    assert_eq!(history.epochs.len(), 3);
    let first = history.epochs[0].train_loss;
    let last = history.epochs[2].train_loss;
    assert!(
        last.is_finite() && last < first,
        "training did not lower the loss: {first} -> {last}"
    );
    (net, ds)
}

fn scores_from_json(stdout: &[u8], what: &str) -> Vec<Vec<f32>> {
    let json: serde_json::Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{what}: deepiot-run printed no JSON: {e}"));
    json["examples"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no examples in {json}"))
        .iter()
        .map(|ex| {
            let class = ex["class"].as_u64().expect("class") as usize;
            let s: Vec<f32> = ex["scores"]
                .as_array()
                .expect("scores")
                .iter()
                .map(|v| v.as_f64().expect("finite") as f32)
                .collect();
            assert_eq!(
                argmax(&s),
                class,
                "{what}: class is the argmax of the scores"
            );
            s
        })
        .collect()
}

fn check_family(name: &str, graph: Graph) {
    let (net, ds) = train_tiny(&graph, 11);
    let mut prov = BTreeMap::new();
    prov.insert("task".to_string(), format!("tiny-{name}"));
    let bytes = export::to_bytes(&net, &prov).expect("export");

    // candle on the 100 test inputs.
    let mut dims = vec![TEST_EXAMPLES];
    dims.extend_from_slice(&ds.shape);
    let x = Tensor::from_vec(ds.test_x.clone(), dims.as_slice(), &Device::Cpu).unwrap();
    let candle = net.forward(&[&x], false).unwrap();
    let candle_rows: Vec<Vec<f32>> = candle.to_vec2().unwrap();

    // The file loads back into the same network.
    let (back, prov_back) =
        export::from_bytes(&bytes, std::path::Path::new(name)).expect("load back");
    assert_eq!(prov_back, prov);
    let diff: f32 = (back.forward(&[&x], false).unwrap() - &candle)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert_eq!(diff, 0.0, "{name}: reloaded network differs");

    // The board binary on the same file and inputs.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join(format!("{name}.safetensors"));
    let input = dir.path().join("x.npy");
    std::fs::write(&model, &bytes).unwrap();
    std::fs::write(&input, npy_bytes(&dims, &ds.test_x)).unwrap();
    let out = Command::new(i686_runtime())
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--json")
        .output()
        .expect("run deepiot-run");
    assert!(
        out.status.success(),
        "{name}: deepiot-run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let board = scores_from_json(&out.stdout, name);
    assert_eq!(board.len(), TEST_EXAMPLES);
    let mut worst = 0.0f32;
    for (i, (b, c)) in board.iter().zip(&candle_rows).enumerate() {
        assert_eq!(b.len(), c.len(), "{name}: example {i}: score count");
        for (u, v) in b.iter().zip(c) {
            worst = worst.max((u - v).abs());
        }
        assert_eq!(
            argmax(b),
            argmax(c),
            "{name}: example {i}: i686 {b:?} vs candle {c:?}"
        );
    }
    assert!(
        worst <= TOLERANCE,
        "{name}: max |i686 - candle| = {worst:e} > {TOLERANCE:e}"
    );
    eprintln!("{name}: max |i686 - candle| over {TEST_EXAMPLES} inputs = {worst:e}");
}

#[test]
fn conv_family_agrees_with_the_i686_runtime() {
    check_family("conv", conv_graph());
}

#[test]
fn gru_family_agrees_with_the_i686_runtime() {
    check_family("gru", gru_graph());
}

#[test]
fn bidirectional_lstm_family_agrees_with_the_i686_runtime() {
    check_family("bilstm", bilstm_graph());
}

#[test]
fn multi_branch_family_agrees_with_the_i686_runtime() {
    // Two branches joined by Concat, ending in a softmax (trained on its logits).
    let g = branched_graph();
    assert!(g.nodes.iter().any(|n| matches!(n.op, Op::Concat { .. })));
    check_family("branched", g);
}

#[test]
fn training_is_deterministic_given_the_seed() {
    let export =
        |seed| export::to_bytes(&train_tiny(&gru_graph(), seed).0, &BTreeMap::new()).unwrap();
    let a = export(5);
    assert_eq!(a, export(5), "same seed, different file");
    assert_ne!(a, export(6), "different seeds, same file");
}
