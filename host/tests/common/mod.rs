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
