//! The reference architectures, defined once.
//!
//! The host's model zoo trains [`lenet5`]; the runtime's tests and benchmarks, the
//! end-to-end tests and the golden cases run these same graphs, so a figure measured on
//! "LeNet-5" anywhere in the project is measured on one network. The graphs carry no
//! weights; `crate::testing` (feature `testing`) gives them random ones.
use crate::{Graph, Op, Pool1d, Pool2d, Recurrent, SeqOutput};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

fn conv2d(out_channels: usize, kernel: usize) -> Op {
    Op::Conv2d {
        out_channels,
        kernel: [kernel; 2],
        stride: [1, 1],
        padding: [0, 0],
    }
}

fn maxpool2() -> Op {
    Op::MaxPool2d(Pool2d {
        kernel: [2, 2],
        stride: [2, 2],
    })
}

fn recurrent(hidden: usize, bidirectional: bool, output: SeqOutput) -> Recurrent {
    Recurrent {
        hidden,
        bidirectional,
        output,
    }
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The DeepIoT paper's LeNet-5 (Caffe's MNIST variant): conv 5x5 20, max-pool 2, conv 5x5
/// 50, max-pool 2, dense 500, ReLU, dense `classes`, with no activation after the
/// convolutions. Input `[1, 28, 28]`; 431,080 parameters and 2.29 M multiply-accumulates
/// for 10 classes. The layer names are PyTorch's for the golden module (`conv1.weight`...).
pub fn lenet5(classes: usize) -> Graph {
    let mut g = Graph::new("image", &[1, 28, 28]);
    g.push("conv1", conv2d(20, 5));
    g.push("pool1", maxpool2());
    g.push("conv2", conv2d(50, 5));
    g.push("pool2", maxpool2());
    g.push("flatten", Op::Flatten);
    g.push("fc1", Op::Dense { units: 500 });
    g.push("relu1", Op::Relu);
    g.push("fc2", Op::Dense { units: classes });
    g
}

/// [`lenet5`] for MNIST: 10 classes named `0`..`9`.
pub fn lenet5_mnist() -> Graph {
    let mut g = lenet5(10);
    g.classes = (0..10).map(|d| d.to_string()).collect();
    g
}

/// Activity classes of the HHAR data set, which DeepSense and DeepIoT use.
pub fn hhar_classes() -> Vec<String> {
    names(&["bike", "sit", "stand", "walk", "stairsup", "stairsdown"])
}

/// DeepSense-like: `[20 intervals, 60 features]` (accelerometer and gyroscope spectra per
/// interval), a per-interval dense 64 + ReLU, two stacked GRUs of 64 (the second averaged
/// over time), and a dense layer over the six HHAR activities.
pub fn deepsense_gru() -> Graph {
    let mut g = Graph::new("window", &[20, 60]);
    g.push("interval", Op::Dense { units: 64 });
    g.push("interval_relu", Op::Relu);
    g.push("gru1", Op::Gru(recurrent(64, false, SeqOutput::Sequence)));
    g.push("gru2", Op::Gru(recurrent(64, false, SeqOutput::Mean)));
    g.push("classifier", Op::Dense { units: 6 });
    g.classes = hhar_classes();
    g
}

/// Two bidirectional LSTM layers over `[16, 8]` (full sequence, then each direction's last
/// state) and a dense layer over 5 classes.
pub fn bilstm() -> Graph {
    let mut g = Graph::new("sequence", &[16, 8]);
    g.push("lstm1", Op::Lstm(recurrent(16, true, SeqOutput::Sequence)));
    g.push("lstm2", Op::Lstm(recurrent(12, true, SeqOutput::Last)));
    g.push("classifier", Op::Dense { units: 5 });
    g
}

/// Two branches over a `[2 sensors, 64 samples]` signal that meet in a concatenation:
/// conv1d + ReLU + max-pool on one side, permute + per-sample dense + tanh + reshape +
/// strided padded conv1d + avg-pool on the other; then dense, sigmoid, dense, softmax.
/// Every non-recurrent layer kind in one small graph.
pub fn branched() -> Graph {
    let mut g = Graph::new("signal", &[2, 64]);
    let conv1d = |out_channels, kernel, stride, padding| Op::Conv1d {
        out_channels,
        kernel,
        stride,
        padding,
    };
    g.push_from("a_conv", &["signal"], conv1d(8, 5, 1, 0));
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
    g.push("b_conv", conv1d(6, 3, 2, 1));
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
    g.classes = names(&["idle", "walk", "run", "fall"]);
    g
}

#[cfg(test)]
mod tests {
    #[test]
    fn lenet5_has_the_papers_size() {
        let g = super::lenet5_mnist();
        let info = g.infer().unwrap();
        let params: usize = info.params.iter().flatten().map(|p| p.len()).sum();
        let macs: u64 = (0..g.nodes.len()).map(|k| info.macs(&g, k)).sum();
        assert_eq!((params, macs), (431_080, 2_293_000));
        for g in [super::deepsense_gru(), super::bilstm(), super::branched()] {
            g.infer().unwrap();
        }
    }
}
