//! Helpers shared by the host's integration tests.
#![allow(dead_code)]
use deepiot::export;
use deepiot::models::Net;
use deepiot_format::{Graph, Op, Pool2d};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A small LeNet-like model for the bundled MNIST subset.
pub fn tiny_mnist_model(dir: &Path) -> PathBuf {
    let mut g = Graph::new("image", &[1, 28, 28]);
    g.push(
        "conv1",
        Op::Conv2d {
            out_channels: 6,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [0, 0],
        },
    );
    g.push("a1", Op::Relu);
    g.push(
        "pool1",
        Op::MaxPool2d(Pool2d {
            kernel: [4, 4],
            stride: [4, 4],
        }),
    );
    g.push("flat", Op::Flatten);
    g.push("fc1", Op::Dense { units: 32 });
    g.push("a2", Op::Relu);
    g.push("fc2", Op::Dense { units: 10 });
    let net = Net::new(&g, 1).unwrap();
    let path = dir.join("tiny.safetensors");
    let mut prov = BTreeMap::new();
    prov.insert("task".to_string(), "mnist-lenet5".to_string());
    export::save(&net, &prov, &path).unwrap();
    path
}

/// Training settings for the small synthetic tasks of the search tests: a few epochs at
/// a high learning rate, 10 % held out.
pub fn quick_fit(name: &str, seed: u64, epochs: usize) -> deepiot::train::FitOptions {
    deepiot::train::FitOptions {
        hyper: deepiot::train::Hyper {
            epochs,
            batch: 32,
            lr: 3e-3,
            lr_decay: 0.8,
            weight_decay: 0.0,
            patience: epochs,
        },
        seed,
        progress: false,
        verbose: false,
        checkpoint: None,
        resume: false,
        augment: None,
        max_steps_per_epoch: None,
        val_fraction: 0.1,
        model: name.into(),
        data: name.into(),
        distill: None,
        average_from: None,
        mixup: None,
        print_test: false,
    }
}

/// A search short enough for a test: fast schedule, small compressor.
pub fn quick_search(
    target_kept: f64,
    max_iterations: usize,
    val_examples: usize,
) -> deepiot::compress::search::SearchConfig {
    deepiot::compress::search::SearchConfig {
        target_kept,
        max_drop: 2.0,
        period: 20,
        delta: 0.05,
        eval_every: 50,
        max_iterations,
        critic_lr: 1e-3,
        compressor_lr: 3e-3,
        hidden: 16,
        val_examples,
        ..Default::default()
    }
}

/// The model file of `g` with the weights `w`.
pub fn weights_file(g: &Graph, w: &deepiot::models::Weights) -> Vec<u8> {
    let t: Vec<deepiot_format::TensorData> = w
        .iter()
        .map(|(n, (s, v))| deepiot_format::TensorData {
            name: n,
            shape: s,
            values: v,
        })
        .collect();
    deepiot_format::write(g, &BTreeMap::new(), &t).expect("a valid model")
}

/// The board runtime's outputs for consecutive examples `xs`, concatenated.
pub fn runtime_outputs(g: &Graph, w: &deepiot::models::Weights, xs: &[f32]) -> Vec<f32> {
    let mut m = deepiot_runtime::Model::load(&weights_file(g, w)).expect("the runtime loads it");
    let n_in = m.input_len(0);
    let mut out = Vec::new();
    for x in xs.chunks(n_in) {
        let mut y = vec![0.0; m.output_len(0)];
        m.run(x, &mut y).expect("it runs");
        out.extend(y);
    }
    out
}
