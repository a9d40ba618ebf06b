//! The paper's models, as layer lists ([`Graph`]s).
//!
//! Each function returns the graph only; [`super::Net::new`] gives it weights. Input
//! shapes come from the data set (per-example, no batch axis), so a model follows the data
//! loader's constants rather than repeating them.
use deepiot_format::{Graph, Op, Pool2d, Recurrent, SeqOutput};

/// A model of the zoo and the data task it trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name `deepiot train --task` takes.
    pub name: &'static str,
    /// The data set task ([`crate::data::load`]).
    pub data: &'static str,
    pub about: &'static str,
}

/// Every model `deepiot train` knows.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "mnist-lenet5",
        data: "mnist",
        about: "LeNet-5 on MNIST digits (431K params)",
    },
    ModelSpec {
        name: "har-deepsense",
        data: "har",
        about: "DeepSense-style conv + 2 GRU on Casale activity windows",
    },
    ModelSpec {
        name: "har-cross-deepsense",
        data: "har_cross_participant",
        about: "har-deepsense trained on participants 1-10, tested on 11-15 (secondary figure)",
    },
    ModelSpec {
        name: "userid-deepsense",
        data: "userid",
        about: "DeepSense-style conv + 2 GRU on Casale walking windows (15 people)",
    },
    ModelSpec {
        name: "speech-bilstm",
        data: "speech",
        about: "2-layer bidirectional LSTM on FSDD log-mel frames",
    },
    ModelSpec {
        name: "cifar-vgg",
        data: "cifar10",
        about: "narrow VGG (8 conv + 3 fc) on CIFAR-10",
    },
];

/// Finds a model by its name or by its data task (`mnist` -> `mnist-lenet5`).
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    let alias = match name {
        "lenet5" | "lenet" => "mnist-lenet5",
        "fsdd" | "speech" => "speech-bilstm",
        "cifar" | "cifar10" | "cifar-10" => "cifar-vgg",
        "har" => "har-deepsense",
        "userid" => "userid-deepsense",
        "har-cross" | "har_cross_participant" | "har-cross-participant" => "har-cross-deepsense",
        "mnist" => "mnist-lenet5",
        n => n,
    };
    MODELS.iter().find(|m| m.name == alias)
}

/// The model `name` for inputs of per-example shape `input` and `classes` classes. Errors
/// name the model and what does not fit.
pub fn build(name: &str, input: &[usize], classes: usize) -> Result<Graph, String> {
    let spec = find(name).ok_or_else(|| {
        let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
        format!("unknown model `{name}`; known: {}", names.join(", "))
    })?;
    let bad = |want: &str| {
        format!(
            "{}: expects inputs {want}, the data has {input:?}",
            spec.name
        )
    };
    let g = match spec.name {
        "mnist-lenet5" => {
            if input != [1, 28, 28] {
                return Err(bad("[1, 28, 28]"));
            }
            lenet5(classes)
        }
        "har-deepsense" | "har-cross-deepsense" | "userid-deepsense" => match input {
            &[c, t, l] if l >= 7 => deepsense(c, t, l, classes),
            _ => return Err(bad("[axes, intervals, samples >= 7]")),
        },
        "speech-bilstm" => match input {
            &[t, f] => speech_bilstm(t, f, classes),
            _ => return Err(bad("[frames, features]")),
        },
        "cifar-vgg" => match input {
            &[3, h, w] if h % 16 == 0 && w % 16 == 0 => cifar_vgg(h, w, classes),
            _ => return Err(bad("[3, H, W] with H and W multiples of 16")),
        },
        _ => unreachable!("every entry of MODELS has a builder"),
    };
    g.infer().map_err(|e| format!("{}: {e}", spec.name))?;
    Ok(g)
}

fn conv2d(out: usize, k: [usize; 2], pad: [usize; 2]) -> Op {
    Op::Conv2d {
        out_channels: out,
        kernel: k,
        stride: [1, 1],
        padding: pad,
    }
}

fn maxpool2() -> Op {
    Op::MaxPool2d(Pool2d {
        kernel: [2, 2],
        stride: [2, 2],
    })
}

/// The paper's LeNet-5 (Caffe's variant): conv 5x5 20, max-pool 2, conv 5x5 50, max-pool 2,
/// dense 500, ReLU, dense 10 — no activation after the convolutions. 431,080 parameters
/// for 10 classes. The one definition is `deepiot_format::reference::lenet5`, which the
/// runtime's tests, benchmarks and golden cases run too.
pub fn lenet5(classes: usize) -> Graph {
    deepiot_format::reference::lenet5(classes)
}

/// DeepSense-style (Yao et al. 2017) for one 3-axis sensor, input `[axes, T, L]`: `T`
/// intervals of `L` samples.
///
/// - Individual convolutions: two `Conv2d` with kernel `(1, 3)` over the samples of each
///   interval — the same filters for every interval, nothing mixed across intervals —
///   64 filters each, ReLU.
/// - Merge convolution: one more `(1, 3)` layer of 64 filters that mixes the axes'
///   features (with a single sensor, DeepSense's merge across sensors reduces to this).
/// - `Permute` `[64, T, L-6] -> [T, 64, L-6]`, `Reshape` to `[T, 64*(L-6)]`: one feature
///   vector per interval.
/// - Two stacked GRUs of 120 units (the first hands on the sequence, the second its
///   mean over time), then a dense classifier.
pub fn deepsense(axes: usize, intervals: usize, samples: usize, classes: usize) -> Graph {
    let mut g = Graph::new("window", &[axes, intervals, samples]);
    g.push("conv1", conv2d(64, [1, 3], [0, 0]));
    g.push("relu1", Op::Relu);
    g.push("conv2", conv2d(64, [1, 3], [0, 0]));
    g.push("relu2", Op::Relu);
    g.push("merge", conv2d(64, [1, 3], [0, 0]));
    g.push("relu3", Op::Relu);
    g.push(
        "to_time",
        Op::Permute {
            perm: vec![1, 0, 2],
        },
    );
    g.push(
        "frames",
        Op::Reshape {
            shape: vec![intervals, 64 * (samples - 6)],
        },
    );
    g.push(
        "gru1",
        Op::Gru(Recurrent {
            hidden: 120,
            bidirectional: false,
            output: SeqOutput::Sequence,
        }),
    );
    g.push(
        "gru2",
        Op::Gru(Recurrent {
            hidden: 120,
            bidirectional: false,
            output: SeqOutput::Mean,
        }),
    );
    g.push("fc", Op::Dense { units: classes });
    g
}

/// Two bidirectional LSTM layers of 64 units per direction over `[frames, features]`
/// (the first hands on the sequence, the second the mean over time of `[forward,
/// backward]`), then a dense classifier.
pub fn speech_bilstm(frames: usize, features: usize, classes: usize) -> Graph {
    let mut g = Graph::new("frames", &[frames, features]);
    g.push(
        "lstm1",
        Op::Lstm(Recurrent {
            hidden: 64,
            bidirectional: true,
            output: SeqOutput::Sequence,
        }),
    );
    g.push(
        "lstm2",
        Op::Lstm(Recurrent {
            hidden: 64,
            bidirectional: true,
            output: SeqOutput::Mean,
        }),
    );
    g.push("fc", Op::Dense { units: classes });
    g
}

/// A narrow VGG for CIFAR-10: VGG-11's layout (8 conv 3x3 + 3 dense; channels 32, 64,
/// 128, 128, 256, 256, 256, 256 with five 2x2 max-pools) instead of the paper's VGG-16 (13
/// conv + 3 fc, 64..512 channels).
///
/// Why narrower and shallower: the format has no batch-norm layer to train with, and a
/// plain 13-conv ReLU stack from PyTorch's default initialisation barely trains without
/// it; and the full VGG-16 costs about 313M multiply-accumulates per image, around 25x
/// this one, which on the 2 cores of these machines would take hours per epoch. The
/// structure (3x3 same-padded convs in blocks, max-pool between blocks, three dense
/// layers) is what the compressor works on, and it is kept.
pub fn cifar_vgg(h: usize, w: usize, classes: usize) -> Graph {
    let mut g = Graph::new("image", &[3, h, w]);
    let blocks: &[&[usize]] = &[&[32], &[64], &[128, 128], &[256, 256], &[256, 256]];
    let mut n = 0;
    for (bi, block) in blocks.iter().enumerate() {
        for &c in block.iter() {
            n += 1;
            g.push(&format!("conv{n}"), conv2d(c, [3, 3], [1, 1]));
            g.push(&format!("relu{n}"), Op::Relu);
        }
        g.push(&format!("pool{}", bi + 1), maxpool2());
    }
    g.push("flatten", Op::Flatten);
    g.push("fc1", Op::Dense { units: 256 });
    g.push("relu_fc1", Op::Relu);
    g.push("fc2", Op::Dense { units: 256 });
    g.push("relu_fc2", Op::Relu);
    g.push("fc3", Op::Dense { units: classes });
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's LeNet-5 (Caffe's variant): conv 5x5 20, max-pool 2, conv 5x5 50, max-pool 2,
    /// dense 500, ReLU, dense 10 — no activation after the convolutions. 431,080 parameters
    /// for 10 classes.
    #[test]
    fn lenet5_has_the_papers_parameter_count() {
        let g = lenet5(10);
        assert_eq!(g.infer().unwrap().param_count(), 431_080);
    }

    #[test]
    fn every_model_builds_for_its_data_shape() {
        for (name, shape, classes) in [
            ("mnist-lenet5", vec![1, 28, 28], 10),
            ("har-deepsense", vec![3, 8, 13], 7),
            ("userid-deepsense", vec![3, 8, 13], 15),
            ("speech-bilstm", vec![40, 32], 10),
            ("cifar-vgg", vec![3, 32, 32], 10),
        ] {
            let g = build(name, &shape, classes).unwrap();
            let info = g.infer().unwrap();
            assert_eq!(info.node_shapes.last().unwrap(), &vec![classes], "{name}");
        }
        assert!(build("mnist-lenet5", &[3, 32, 32], 10).is_err());
        assert!(build("nope", &[1], 1).is_err());
        assert_eq!(find("mnist").unwrap().name, "mnist-lenet5");
    }
}
