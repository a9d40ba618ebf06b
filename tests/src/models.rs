//! Model files with deterministic random weights: LeNet-5, a DeepSense-like GRU, a
//! bidirectional LSTM and a branched 1-d model. The end-to-end tests, the runtime's
//! criterion benchmarks (`runtime/benches/models.rs` includes this file by path, so there
//! is one generator) and the README use them.
//!
//! Depends on `deepiot_format` and `std` only.
use deepiot_format::rng::SplitMix64;
use deepiot_format::{Graph, Op, Pool1d, Pool2d, Recurrent, SeqOutput, TensorData};
use std::collections::BTreeMap;

/// The project's one seeded generator ([`deepiot_format::rng::SplitMix64`]): the same
/// numbers on every machine.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        self.0.next_symmetric()
    }
    /// `n` values uniform in [-bound, bound).
    pub fn values(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * bound).collect()
    }
}

/// `n` input values uniform in [-1, 1) from `seed`.
pub fn random_input(seed: u64, n: usize) -> Vec<f32> {
    Rng::new(seed).values(n, 1.0)
}

/// Serialises `graph` with random weights drawn as PyTorch initialises them: uniform in
/// ±1/sqrt(fan_in) (±1/sqrt(hidden) for recurrent layers), biases alike.
pub fn with_random_weights(graph: &Graph, seed: u64) -> Vec<u8> {
    let info = graph.infer().expect("generator graphs are valid");
    let mut rng = Rng::new(seed);
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (node, specs) in graph.nodes.iter().zip(&info.params) {
        let fan_in = match &node.op {
            Op::Gru(r) | Op::Lstm(r) => r.hidden,
            _ => specs
                .first()
                .map_or(1, |w| w.shape[1..].iter().product::<usize>()),
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        for spec in specs {
            let values = rng.values(spec.len(), bound);
            tensors.push((spec.name.clone(), spec.shape.clone(), values));
        }
    }
    let views: Vec<TensorData<'_>> = tensors
        .iter()
        .map(|(name, shape, values)| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    let mut provenance = BTreeMap::new();
    provenance.insert("generator".to_string(), "deepiot-tests".to_string());
    provenance.insert("seed".to_string(), seed.to_string());
    deepiot_format::write(graph, &provenance, &views).expect("generator graphs are valid")
}

fn digits() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// LeNet-5 as in Caffe's MNIST example (the DeepIoT paper's LeNet-5): conv 5x5 20,
/// maxpool 2, conv 5x5 50, maxpool 2, flatten, dense 500, relu, dense 10.
/// Input `[1, 28, 28]`, 431,080 parameters, 2.29 M multiply-accumulates.
pub fn lenet5_graph() -> Graph {
    let mut g = Graph::new("image", &[1, 28, 28]);
    let pool = Op::MaxPool2d(Pool2d {
        kernel: [2, 2],
        stride: [2, 2],
    });
    g.push(
        "conv1",
        Op::Conv2d {
            out_channels: 20,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [0, 0],
        },
    );
    g.push("pool1", pool.clone());
    g.push(
        "conv2",
        Op::Conv2d {
            out_channels: 50,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [0, 0],
        },
    );
    g.push("pool2", pool);
    g.push("flatten", Op::Flatten);
    g.push("fc1", Op::Dense { units: 500 });
    g.push("relu1", Op::Relu);
    g.push("fc2", Op::Dense { units: 10 });
    g.classes = digits();
    g
}

/// [`lenet5_graph`] with random weights, as model file bytes.
pub fn lenet5_random(seed: u64) -> Vec<u8> {
    with_random_weights(&lenet5_graph(), seed)
}

/// Activity classes of the HHAR data set, which DeepSense and DeepIoT use.
pub fn hhar_classes() -> Vec<String> {
    ["bike", "sit", "stand", "walk", "stairsup", "stairsdown"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// DeepSense-like: `[20 intervals, 60 features]` (accelerometer and gyroscope spectra per
/// interval), a per-interval dense 64 + relu, two stacked GRUs of 64 (the second averaged
/// over time), and a dense layer over the six HHAR activities.
pub fn gru_graph() -> Graph {
    let mut g = Graph::new("window", &[20, 60]);
    g.push("interval", Op::Dense { units: 64 });
    g.push("interval_relu", Op::Relu);
    g.push(
        "gru1",
        Op::Gru(Recurrent {
            hidden: 64,
            bidirectional: false,
            output: SeqOutput::Sequence,
        }),
    );
    g.push(
        "gru2",
        Op::Gru(Recurrent {
            hidden: 64,
            bidirectional: false,
            output: SeqOutput::Mean,
        }),
    );
    g.push("classifier", Op::Dense { units: 6 });
    g.classes = hhar_classes();
    g
}

/// [`gru_graph`] with random weights.
pub fn gru_model(seed: u64) -> Vec<u8> {
    with_random_weights(&gru_graph(), seed)
}

/// Two bidirectional LSTM layers over `[16, 8]` (full sequence, then each direction's last
/// state) and a dense layer over 5 classes.
pub fn bilstm_graph() -> Graph {
    let mut g = Graph::new("sequence", &[16, 8]);
    g.push(
        "lstm1",
        Op::Lstm(Recurrent {
            hidden: 16,
            bidirectional: true,
            output: SeqOutput::Sequence,
        }),
    );
    g.push(
        "lstm2",
        Op::Lstm(Recurrent {
            hidden: 12,
            bidirectional: true,
            output: SeqOutput::Last,
        }),
    );
    g.push("classifier", Op::Dense { units: 5 });
    g
}

/// [`bilstm_graph`] with random weights.
pub fn bilstm_model(seed: u64) -> Vec<u8> {
    with_random_weights(&bilstm_graph(), seed)
}

/// Two branches over a `[2 sensors, 64 samples]` signal that meet in a concatenation:
/// conv1d + relu + maxpool on one side, permute + per-sample dense + tanh + reshape +
/// strided padded conv1d + avgpool on the other; then dense, sigmoid, dense, softmax.
pub fn branched_graph() -> Graph {
    let mut g = Graph::new("signal", &[2, 64]);
    g.push_from(
        "a_conv",
        &["signal"],
        Op::Conv1d {
            out_channels: 8,
            kernel: 5,
            stride: 1,
            padding: 0,
        },
    );
    g.push("a_relu", Op::Relu);
    g.push(
        "a_pool",
        Op::MaxPool1d(Pool1d {
            kernel: 2,
            stride: 2,
        }),
    );
    let a = g.push("a_flat", Op::Flatten);
    g.push_from("b_perm", &["signal"], Op::Permute { perm: vec![1, 0] });
    g.push("b_dense", Op::Dense { units: 4 });
    g.push("b_tanh", Op::Tanh);
    g.push("b_reshape", Op::Reshape { shape: vec![4, 64] });
    g.push(
        "b_conv",
        Op::Conv1d {
            out_channels: 6,
            kernel: 3,
            stride: 2,
            padding: 1,
        },
    );
    g.push(
        "b_pool",
        Op::AvgPool1d(Pool1d {
            kernel: 4,
            stride: 4,
        }),
    );
    let b = g.push("b_flat", Op::Flatten);
    g.push_from("join", &[a.as_str(), b.as_str()], Op::Concat { axis: 0 });
    g.push("fc1", Op::Dense { units: 16 });
    g.push("fc1_sigmoid", Op::Sigmoid);
    g.push("fc2", Op::Dense { units: 4 });
    g.push("probs", Op::Softmax);
    g.classes = ["idle", "walk", "run", "fall"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    g
}

/// [`branched_graph`] with random weights.
pub fn branched_model(seed: u64) -> Vec<u8> {
    with_random_weights(&branched_graph(), seed)
}
