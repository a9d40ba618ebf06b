//! Test support shared by the runtime's tests and benchmarks and the end-to-end tests
//! (cargo feature `testing`, enabled only from dev-dependencies and the test crate, so the
//! board build never contains it).
//!
//! It lives here rather than in a `tests/support` file included by path because two crates
//! need it (`deepiot-runtime`'s tests and benches, `deepiot-tests`): one compiled, linted
//! module serves both, where a file included into a dozen test binaries would be compiled
//! a dozen times and warn about whatever each one leaves unused.
//!
//! These are test helpers: on a graph that does not validate or a golden file that is
//! missing they panic with a message saying which, which is the test failing.
use crate::rng::SplitMix64;
use crate::{
    write_sparse, write_stored, Csr, Graph, Op, QuantTensorData, Quantized, SeqOutput,
    SparseTensorData, TensorData,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

/// Named tensors: name -> (shape, values), in the order the file lists them (by name).
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// `n` values uniform in `[-1, 1)` from `seed` ([`crate::rng::fill_symmetric`]).
pub fn random_input(seed: u64, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    crate::rng::fill_symmetric(seed, &mut v);
    v
}

/// A value for every tensor `graph` declares, drawn as PyTorch initialises layers: uniform
/// in ±1/sqrt(fan_in) (±1/sqrt(hidden) for recurrent layers), biases alike. Values are
/// drawn node by node in graph order, so adding a tensor to one node leaves the others'.
pub fn random_weights(graph: &Graph, seed: u64) -> Tensors {
    let info = graph
        .infer()
        .unwrap_or_else(|e| panic!("test graph does not validate: {e}"));
    let mut rng = SplitMix64::new(seed);
    let mut tensors = Tensors::new();
    for (node, specs) in graph.nodes.iter().zip(&info.params) {
        let fan_in = match &node.op {
            Op::Gru(r) | Op::Lstm(r) => r.hidden,
            _ => specs
                .first()
                .map_or(1, |w| w.shape[1..].iter().product::<usize>()),
        };
        let bound = 1.0 / libm::sqrtf(fan_in.max(1) as f32);
        for spec in specs {
            let values = (0..spec.len())
                .map(|_| rng.next_symmetric() * bound)
                .collect();
            tensors.insert(spec.name.clone(), (spec.shape.clone(), values));
        }
    }
    tensors
}

/// Sets about `fraction` of the values of every weight matrix (every tensor of rank 2 or
/// more; biases are left alone) to exactly zero, chosen from `seed`.
pub fn zero_fraction(tensors: &mut Tensors, fraction: f64, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for (shape, values) in tensors.values_mut() {
        if crate::sparse::matrix_view(shape).is_none() {
            continue;
        }
        for v in values.iter_mut() {
            if f64::from(rng.next_unit()) < fraction {
                *v = 0.0;
            }
        }
    }
}

/// The model file of `graph` with `tensors`, every weight stored dense.
pub fn model_file(
    graph: &Graph,
    tensors: &Tensors,
    provenance: &BTreeMap<String, String>,
) -> Vec<u8> {
    file(graph, tensors, provenance, false)
}

/// The model file of `graph` with `tensors`, every weight matrix stored sparse (CSR) and
/// biases dense.
pub fn sparse_model_file(graph: &Graph, tensors: &Tensors) -> Vec<u8> {
    file(graph, tensors, &BTreeMap::new(), true)
}

fn file(
    graph: &Graph,
    tensors: &Tensors,
    provenance: &BTreeMap<String, String>,
    sparse: bool,
) -> Vec<u8> {
    let mut dense = Vec::new();
    let mut csrs = Vec::new();
    for (name, (shape, values)) in tensors {
        match crate::sparse::matrix_view(shape).filter(|_| sparse) {
            Some((rows, cols)) => {
                let csr = Csr::from_dense(rows, cols, values)
                    .unwrap_or_else(|| panic!("{name} cannot be stored sparse"));
                csrs.push((name, shape, csr));
            }
            None => dense.push(TensorData {
                name,
                shape,
                values,
            }),
        }
    }
    let csrs: Vec<SparseTensorData<'_>> = csrs
        .iter()
        .map(|(name, shape, csr)| SparseTensorData { name, shape, csr })
        .collect();
    write_sparse(graph, provenance, &dense, &csrs)
        .unwrap_or_else(|e| panic!("test model is not writable: {e}"))
}

/// The model file of `graph` with `tensors`, every weight matrix stored int8 with
/// per-row scales ([`Quantized::from_dense`]) and biases f32.
pub fn quant_model_file(graph: &Graph, tensors: &Tensors) -> Vec<u8> {
    let mut dense = Vec::new();
    let mut quant = Vec::new();
    for (name, (shape, values)) in tensors {
        match crate::sparse::matrix_view(shape) {
            Some((rows, cols)) => {
                let q = Quantized::from_dense(rows, cols, values)
                    .unwrap_or_else(|| panic!("{name} cannot be stored int8"));
                quant.push((name, shape, q));
            }
            None => dense.push(TensorData {
                name,
                shape,
                values,
            }),
        }
    }
    let quant: Vec<QuantTensorData<'_>> = quant
        .iter()
        .map(|(name, shape, quant)| QuantTensorData { name, shape, quant })
        .collect();
    write_stored(graph, &BTreeMap::new(), &dense, &[], &quant)
        .unwrap_or_else(|e| panic!("test model is not writable: {e}"))
}

/// One small recurrent model per GRU/LSTM variant the runtime has (unidirectional and
/// bidirectional, each way of emitting the sequence), named for test messages: the
/// same coverage for every storage of the weights.
pub fn recurrent_graphs() -> Vec<(String, Graph)> {
    [
        (false, false, SeqOutput::Sequence),
        (false, true, SeqOutput::Mean),
        (true, false, SeqOutput::Last),
        (true, true, SeqOutput::Sequence),
    ]
    .into_iter()
    .map(|(lstm, bi, out)| {
        let r = crate::Recurrent::new(6, bi, out);
        let mut g = Graph::new("x", &[7, 5]);
        g.push("rnn", if lstm { Op::Lstm(r) } else { Op::Gru(r) });
        g.push("flat", Op::Flatten);
        g.push("fc", Op::Dense { units: 3 });
        (format!("lstm={lstm} bi={bi} {out:?}"), g)
    })
    .collect()
}

/// `graph` with [`random_weights`] from `seed`, as model file bytes; the provenance names
/// the generator and the seed.
pub fn random_model(graph: &Graph, seed: u64) -> Vec<u8> {
    let mut provenance = BTreeMap::new();
    provenance.insert("generator".to_string(), "deepiot-tests".to_string());
    provenance.insert("seed".to_string(), seed.to_string());
    model_file(graph, &random_weights(graph, seed), &provenance)
}

/// `graph` with [`random_weights`] from `seed`, about `zeros` of every weight matrix set to
/// zero ([`zero_fraction`], drawn from `seed + 1`), as a [`sparse_model_file`].
pub fn random_sparse_model(graph: &Graph, seed: u64, zeros: f64) -> Vec<u8> {
    let mut w = random_weights(graph, seed);
    zero_fraction(&mut w, zeros, seed + 1);
    sparse_model_file(graph, &w)
}

/// A float32 little-endian C-order `.npy` file (format 1.0), as `np.save` writes it.
pub fn npy_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape and data"
    );
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// The PyTorch golden cases in `tests/fixtures/golden` (committed; described in the
/// README there): each file holds one small module's weights under PyTorch's names, a
/// batch of inputs (`input`) and what PyTorch computed.
pub mod golden {
    use super::*;

    /// The folder of the golden files.
    pub fn dir() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/golden"
        ))
    }

    /// The names of the golden cases (file names without `.safetensors`), sorted.
    pub fn names() -> Vec<String> {
        let dir = dir();
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".safetensors").map(String::from))
            .collect();
        names.sort();
        names
    }

    /// One golden file, decoded.
    #[derive(Debug, Clone)]
    pub struct Golden {
        pub name: String,
        pub tensors: Tensors,
    }

    impl Golden {
        /// Reads `tests/fixtures/golden/{name}.safetensors` (a missing file fails the
        /// test, it never skips it).
        pub fn open(name: &str) -> Golden {
            let path = dir().join(format!("{name}.safetensors"));
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let st = safetensors::SafeTensors::deserialize(&bytes)
                .unwrap_or_else(|e| panic!("{}: not safetensors: {e}", path.display()));
            let mut tensors = Tensors::new();
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

        /// Tensor `name` (shape, values).
        pub fn get(&self, name: &str) -> &(Vec<usize>, Vec<f32>) {
            self.tensors
                .get(name)
                .unwrap_or_else(|| panic!("{}: no tensor `{name}`", self.name))
        }

        /// The number of examples (the first axis of `input`).
        pub fn batch(&self) -> usize {
            self.get("input").0[0]
        }

        /// The per-example input shape (`input` without its batch axis).
        pub fn input_shape(&self) -> Vec<usize> {
            self.get("input").0[1..].to_vec()
        }

        /// Example `b` of a batched tensor (first axis = batch).
        pub fn example(&self, name: &str, b: usize) -> &[f32] {
            let (shape, v) = self.get(name);
            let per = shape[1..].iter().product::<usize>();
            &v[b * per..(b + 1) * per]
        }

        /// `h_n[layer_or_direction, b, :]` of a `[L, N, H]` state tensor.
        pub fn state(&self, name: &str, first: usize, b: usize) -> &[f32] {
            let (shape, v) = self.get(name);
            let (n, h) = (shape[1], shape[2]);
            &v[(first * n + b) * h..(first * n + b + 1) * h]
        }

        /// Copies tensor `from` into `out` under the deepiot name `to`.
        pub fn rename(&self, out: &mut Tensors, from: &str, to: &str) {
            out.insert(to.into(), self.get(from).clone());
        }

        /// Copies PyTorch RNN layer `layer`'s tensors (`weight_ih_l{layer}`, ... and the
        /// `_reverse` ones when bidirectional) to deepiot node `node`, which holds that
        /// one layer (`{node}.weight_ih_l0`, ...).
        pub fn rnn_tensors(
            &self,
            out: &mut Tensors,
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
                    self.rename(
                        out,
                        &format!("{p}_l{layer}{d}"),
                        &format!("{node}.{p}_l0{d}"),
                    );
                }
            }
        }
    }

    /// One `#[test]` per golden case (the files of [`CASES`]), each calling `$check` with the
    /// case's name, and one that the folder holds exactly [`CASES`]: the runtime's and the
    /// host's golden tests list the cases here once.
    /// `lenet5` is Caffe-style LeNet-5 (`deepiot_format::reference::lenet5`): no activation
    /// after the convolutions, flatten in (C, H, W) order.
    #[macro_export]
    macro_rules! golden_tests {
        ($check:path) => {
            #[test]
            fn golden_files_are_all_covered() {
                assert_eq!(
                    $crate::testing::golden::names(),
                    $crate::testing::golden::CASES,
                    "a golden file was added or removed: describe it in deepiot_format::testing::golden"
                );
            }
            #[test]
            fn lenet5() {
                $check("lenet5");
            }
            #[test]
            fn conv1d_relu_maxpool() {
                $check("conv1d_relu_maxpool");
            }
            #[test]
            fn conv2d_stride_pad_tanh_avgpool() {
                $check("conv2d_stride_pad_tanh_avgpool");
            }
            #[test]
            fn conv2d_batchnorm_relu() {
                $check("conv2d_batchnorm_relu");
            }
            #[test]
            fn gru_2layer() {
                $check("gru_2layer");
            }
            #[test]
            fn lstm_2layer_seq1() {
                $check("lstm_2layer_seq1");
            }
            #[test]
            fn bilstm() {
                $check("bilstm");
            }
        };
    }

    /// Every golden case, by file name; a file that is not listed here is a test failure
    /// (see [`names`]).
    pub const CASES: [&str; 7] = [
        "bilstm",
        "conv1d_relu_maxpool",
        "conv2d_batchnorm_relu",
        "conv2d_stride_pad_tanh_avgpool",
        "gru_2layer",
        "lenet5",
        "lstm_2layer_seq1",
    ];

    /// How close every engine must come to PyTorch: `|got - torch| / max(1, |torch|)`
    /// per element.
    pub const TOLERANCE: f64 = 1e-5;

    /// Panics unless `got` has the length of `torch` and every element is within
    /// [`TOLERANCE`] of it; `what` names the case and the engine in the message.
    pub fn assert_close(what: &str, got: &[f32], torch: &[f32]) {
        assert_eq!(got.len(), torch.len(), "{what}: length");
        for (i, (&g, &t)) in got.iter().zip(torch).enumerate() {
            let err = (g as f64 - t as f64).abs() / (t as f64).abs().max(1.0);
            assert!(
                err <= TOLERANCE,
                "{what}: element {i}: {g} vs torch {t} (relative error {err:e})"
            );
        }
    }

    /// One comparison: `graph` with `tensors` (deepiot names), run on every example of the
    /// golden `input`, must give `expected` (all examples back to back).
    #[derive(Debug, Clone)]
    pub struct Check {
        /// What is compared, for messages, e.g. `gru_2layer h_n[1]`.
        pub what: String,
        pub graph: Graph,
        pub tensors: Tensors,
        pub expected: Vec<f32>,
    }

    impl Golden {
        /// The deepiot description of this file's PyTorch module and what it must
        /// compute, one [`Check`] per output PyTorch gave (sequence, last state, ...).
        /// The runtime and the host's candle networks run the same checks.
        pub fn checks(&self) -> Vec<Check> {
            let check = |what: &str, graph: Graph, tensors: Tensors, expected: Vec<f32>| Check {
                what: format!("{} {what}", self.name),
                graph,
                tensors,
                expected,
            };
            let output = || self.get("output").1.clone();
            let with = |ops: Vec<(&str, Op)>| {
                let mut g = Graph::new("x", &self.input_shape());
                for (name, op) in ops {
                    g.push(name, op);
                }
                g
            };
            let renamed = |pairs: &[(&str, &str)]| {
                let mut t = Tensors::new();
                for (from, to) in pairs {
                    self.rename(&mut t, from, to);
                }
                t
            };
            let conv_tensors = || renamed(&[("0.weight", "conv.weight"), ("0.bias", "conv.bias")]);
            match self.name.as_str() {
                "lenet5" => {
                    let mut t = Tensors::new();
                    for layer in ["conv1", "conv2", "fc1", "fc2"] {
                        for p in ["weight", "bias"] {
                            let n = format!("{layer}.{p}");
                            self.rename(&mut t, &n, &n);
                        }
                    }
                    vec![check("logits", crate::reference::lenet5(10), t, output())]
                }
                "conv1d_relu_maxpool" => {
                    let graph = with(vec![
                        (
                            "conv",
                            Op::Conv1d {
                                out_channels: 8,
                                kernel: 5,
                                stride: 2,
                                padding: 1,
                            },
                        ),
                        ("relu", Op::Relu),
                        (
                            "pool",
                            Op::MaxPool1d(crate::Pool1d {
                                kernel: 2,
                                stride: 2,
                            }),
                        ),
                    ]);
                    vec![check("output", graph, conv_tensors(), output())]
                }
                "conv2d_stride_pad_tanh_avgpool" => {
                    let graph = with(vec![
                        ("conv", conv2d(5, 3, 2, 1)),
                        ("tanh", Op::Tanh),
                        (
                            "pool",
                            Op::AvgPool2d(crate::Pool2d {
                                kernel: [2, 2],
                                stride: [2, 2],
                            }),
                        ),
                    ]);
                    vec![check("output", graph, conv_tensors(), output())]
                }
                "conv2d_batchnorm_relu" => {
                    let graph = with(vec![("conv", conv2d(6, 3, 1, 1)), ("relu", Op::Relu)]);
                    let (w_shape, mut w) = self.get("0.weight").clone();
                    let (b_shape, mut bias) = self.get("0.bias").clone();
                    let folded = crate::fold::fold_batchnorm(
                        &mut w,
                        &mut bias,
                        &self.get("1.weight").1,
                        &self.get("1.bias").1,
                        &self.get("1.running_mean").1,
                        &self.get("1.running_var").1,
                        1e-5,
                    );
                    assert!(folded, "{}: batch norm does not fold", self.name);
                    let mut t = Tensors::new();
                    t.insert("conv.weight".into(), (w_shape, w));
                    t.insert("conv.bias".into(), (b_shape, bias));
                    vec![check("output", graph, t, output())]
                }
                "gru_2layer" | "lstm_2layer_seq1" => self.two_layer_checks(),
                "bilstm" => {
                    let hidden = self.get("weight_hh_l0").0[1];
                    let build = |output| {
                        let graph = with(vec![("lstm", Op::Lstm(recurrent(hidden, true, output)))]);
                        let mut t = Tensors::new();
                        self.rnn_tensors(&mut t, 0, "lstm", true);
                        (graph, t)
                    };
                    let (g, t) = build(SeqOutput::Sequence);
                    let seq = check("output", g, t, output());
                    // Last = [h_n forward, h_n backward] (the backward direction ends at
                    // step 0), per example.
                    let last = (0..self.batch())
                        .flat_map(|b| [self.state("h_n", 0, b), self.state("h_n", 1, b)].concat())
                        .collect();
                    let (g, t) = build(SeqOutput::Last);
                    vec![seq, check("h_n", g, t, last)]
                }
                other => {
                    panic!("golden file {other}: no checks; describe it in deepiot_format::testing")
                }
            }
        }

        /// A 2-layer GRU or LSTM as two deepiot nodes: the stacked sequence, the second
        /// layer's last state, the first layer's last state alone, and the mean over the
        /// steps of the stacked output.
        fn two_layer_checks(&self) -> Vec<Check> {
            let lstm = self.name.starts_with("lstm");
            let hidden = self.get("weight_hh_l0").0[1];
            let op = |r| if lstm { Op::Lstm(r) } else { Op::Gru(r) };
            let build = |first, second: Option<SeqOutput>| {
                let mut graph = Graph::new("x", &self.input_shape());
                graph.push("rnn0", op(recurrent(hidden, false, first)));
                let mut t = Tensors::new();
                self.rnn_tensors(&mut t, 0, "rnn0", false);
                if let Some(second) = second {
                    graph.push("rnn1", op(recurrent(hidden, false, second)));
                    self.rnn_tensors(&mut t, 1, "rnn1", false);
                }
                (graph, t)
            };
            let states = |first| {
                (0..self.batch())
                    .flat_map(|b| self.state("h_n", first, b).to_vec())
                    .collect::<Vec<f32>>()
            };
            let (shape, out) = self.get("output");
            let (n, steps, h) = (shape[0], shape[1], shape[2]);
            let mean: Vec<f32> = (0..n)
                .flat_map(|b| {
                    (0..h).map(move |j| {
                        let s: f64 = (0..steps)
                            .map(|t| f64::from(out[(b * steps + t) * h + j]))
                            .sum();
                        (s / steps as f64) as f32
                    })
                })
                .collect();
            let seq = SeqOutput::Sequence;
            [
                ("output", build(seq, Some(seq)), out.clone()),
                ("h_n[1]", build(seq, Some(SeqOutput::Last)), states(1)),
                ("h_n[0]", build(SeqOutput::Last, None), states(0)),
                ("mean of output", build(seq, Some(SeqOutput::Mean)), mean),
            ]
            .into_iter()
            .map(|(what, (graph, tensors), expected)| Check {
                what: format!("{} {what}", self.name),
                graph,
                tensors,
                expected,
            })
            .collect()
        }
    }

    fn conv2d(out_channels: usize, k: usize, stride: usize, pad: usize) -> Op {
        Op::Conv2d {
            out_channels,
            kernel: [k, k],
            stride: [stride; 2],
            padding: [pad; 2],
        }
    }

    fn recurrent(hidden: usize, bidirectional: bool, output: SeqOutput) -> crate::Recurrent {
        crate::Recurrent {
            hidden,
            bidirectional,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_models_are_deterministic_and_sparse_files_hold_the_same_model() {
        let g = crate::reference::branched();
        assert_eq!(random_model(&g, 3), random_model(&g, 3));
        assert_ne!(random_model(&g, 3), random_model(&g, 4));
        let mut w = random_weights(&g, 1);
        zero_fraction(&mut w, 0.9, 2);
        let zeros = w["fc1.weight"].1.iter().filter(|&&v| v == 0.0).count();
        assert!((0.8..0.97).contains(&(zeros as f64 / w["fc1.weight"].1.len() as f64)));
        assert!(w["fc1.bias"].1.iter().all(|&v| v != 0.0));
        let sparse = crate::parse(&sparse_model_file(&g, &w))
            .unwrap()
            .sparse_names()
            .count();
        assert_eq!(
            sparse, 5,
            "every weight matrix of the branched graph is sparse"
        );
    }

    #[test]
    fn golden_files_are_listed() {
        assert!(golden::names().contains(&"lenet5".to_string()));
        assert_eq!(golden::names(), golden::CASES);
        let g = golden::Golden::open("lenet5");
        assert_eq!(g.input_shape(), [1, 28, 28]);
        for name in golden::CASES {
            let g = golden::Golden::open(name);
            for c in g.checks() {
                let info = c.graph.infer().unwrap();
                let out: usize = info.node_shapes.last().unwrap().iter().product();
                assert_eq!(out * g.batch(), c.expected.len(), "{}", c.what);
            }
        }
    }
}
