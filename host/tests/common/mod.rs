//! Helpers shared by the host's integration tests.
#![allow(dead_code)]
use deepiot::export;
use deepiot::models::Net;
/// The runtime library on each example of a batch (the board tests' reference).
pub use deepiot_board::testing::host_scores;
use deepiot_format::{Graph, Op};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A small LeNet-like model for the bundled MNIST subset.
pub fn tiny_mnist_model(dir: &Path) -> PathBuf {
    let mut g = Graph::new("image", &[1, 28, 28]);
    g.push("conv1", Op::conv2d(6, [5, 5], [1, 1], [0, 0]));
    g.push("a1", Op::Relu);
    g.push("pool1", Op::max_pool2d([4, 4], [4, 4]));
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

/// A synthetic data set whose values are already standardised (mean 0, std 1 for every
/// channel of axis 0); `train` and `test` are (values, labels).
pub fn dataset(
    name: &str,
    shape: &[usize],
    classes: Vec<String>,
    train: (Vec<f32>, Vec<u32>),
    test: (Vec<f32>, Vec<u32>),
) -> deepiot::data::Dataset {
    let norm = deepiot::data::Standardization::scaled(shape[0], 1.0);
    deepiot::data::Dataset::new(name, shape.to_vec(), classes, train, test, norm)
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

/// The model file of `g` with the weights `w` (`deepiot_format::testing::model_file`).
pub fn model_file(g: &Graph, w: &deepiot::models::Weights) -> Vec<u8> {
    deepiot_format::testing::model_file(g, w, &BTreeMap::new())
}

/// The board runtime's outputs for consecutive examples `xs`, concatenated.
pub fn runtime_outputs(g: &Graph, w: &deepiot::models::Weights, xs: &[f32]) -> Vec<f32> {
    host_scores(&model_file(g, w), xs).concat()
}

/// Two classes decided by the first two of 12 features; the others are noise.
pub fn two_feature_data(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = deepiot::rng::Rng::new(seed);
    let mut x = Vec::with_capacity(n * 12);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let v: Vec<f32> = (0..12).map(|_| rng.uniform(-1.0, 1.0)).collect();
        y.push(u32::from(v[0] + 0.5 * v[1] > 0.0));
        x.extend(v);
    }
    (x, y)
}
