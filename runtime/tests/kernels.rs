//! Numerical tests of every layer kind against a naive f64 reference written here, apart
//! from the runtime's kernels.
//!
//! Each case is a `deepiot_format::Graph` with deterministic pseudo-random weights, written
//! with `deepiot_format::write`, loaded with `Model::load` and run on several inputs; the
//! same graph is interpreted by `reference` below (plain loops in f64, no blocking, no
//! im2col, no shared code with the runtime).
//!
//! Criterion: for every output element, `|runtime - reference| / max(1, |reference|)` must
//! be at most 1e-5. The denominator is the reference value itself where it is large (a
//! relative error) and 1 where it is small (so values near zero, which f32 summation can
//! only get right to an absolute ~1e-7, are held to an absolute 1e-5).
use deepiot_format::rng::SplitMix64;
use deepiot_format::testing;
use deepiot_format::{Graph, Input, Op, Pool1d, Pool2d, Recurrent, SeqOutput};
use deepiot_runtime::Model;
use std::collections::{BTreeMap, HashMap};

const TOLERANCE: f64 = 1e-5;

// ---------------------------------------------------------------------------------------
// Deterministic pseudo-random numbers: the project's one generator.

/// [`SplitMix64`] with the two draws these cases use.
struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        self.0.next_unit()
    }
    /// Uniform in [-s, s).
    fn sym(&mut self, s: f32) -> f32 {
        self.0.next_symmetric() * s
    }
}

// ---------------------------------------------------------------------------------------
// Building and running a case.

type Weights = testing::Tensors;

/// Random weights for every tensor the graph declares: `U(-1.7/sqrt(fan_in), ..)` for
/// matrices and filters (fan_in = product of all but the first axis), `U(-0.5, 0.5)` for
/// biases, so activations stay of order 1 and gates are neither dead nor saturated.
fn random_weights(graph: &Graph, seed: u64) -> Weights {
    let info = graph.infer().expect("the test graph is valid");
    let mut rng = Rng::new(seed);
    let mut w = Weights::new();
    for spec in info.params.iter().flatten() {
        let n: usize = spec.shape.iter().product();
        let scale = if spec.shape.len() >= 2 {
            1.7 / (spec.shape[1..].iter().product::<usize>() as f32).sqrt()
        } else {
            0.5
        };
        let values = (0..n).map(|_| rng.sym(scale)).collect();
        w.insert(spec.name.clone(), (spec.shape.clone(), values));
    }
    w
}

fn model_bytes(graph: &Graph, w: &Weights) -> Vec<u8> {
    testing::model_file(graph, w, &BTreeMap::new())
}

fn random_input(n: usize, rng: &mut Rng, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.sym(scale)).collect()
}

/// Runs `graph` in the runtime and in the reference on three inputs per graph input (the
/// third repeats the first, so state leaking between runs shows) and compares every output.
fn check_inputs(
    name: &str,
    graph: Graph,
    seed: u64,
    mut make_input: impl FnMut(usize, &mut Rng) -> Vec<f32>,
) {
    let w = random_weights(&graph, seed);
    let bytes = model_bytes(&graph, &w);
    let mut model = Model::load(&bytes).unwrap_or_else(|e| panic!("{name}: load failed: {e}"));
    assert_eq!(model.input_count(), graph.inputs.len(), "{name}");
    assert_eq!(model.output_count(), graph.outputs.len(), "{name}");
    let mut rng = Rng::new(seed ^ 0xABCD);
    let first: Vec<Vec<f32>> = graph
        .inputs
        .iter()
        .map(|i| make_input(i.shape.iter().product(), &mut rng))
        .collect();
    let second: Vec<Vec<f32>> = graph
        .inputs
        .iter()
        .map(|i| make_input(i.shape.iter().product(), &mut rng))
        .collect();
    for (round, inputs) in [&first, &second, &first].into_iter().enumerate() {
        let want = reference(&graph, &w, inputs);
        let mut got: Vec<Vec<f32>> = (0..model.output_count())
            .map(|i| vec![f32::NAN; model.output_len(i)])
            .collect();
        {
            let ins: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
            let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|v| v.as_mut_slice()).collect();
            model
                .run_multi(&ins, &mut outs)
                .unwrap_or_else(|e| panic!("{name}: run failed: {e}"));
        }
        for (k, (g, r)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                model.output_shape(k),
                r.shape.as_slice(),
                "{name}: output {k} shape"
            );
            compare(&format!("{name} (run {round}, output {k})"), g, r);
        }
    }
}

fn check(name: &str, graph: Graph, seed: u64) {
    check_inputs(name, graph, seed, |n, rng| random_input(n, rng, 2.0));
}

fn compare(name: &str, got: &[f32], want: &T) {
    assert_eq!(got.len(), want.v.len(), "{name}: output length");
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &r)) in got.iter().zip(&want.v).enumerate() {
        assert!(r.is_finite(), "{name}: reference is not finite at {i}");
        let err = (g as f64 - r).abs() / r.abs().max(1.0);
        if err.is_nan() {
            worst = (f64::INFINITY, i);
            break;
        }
        if err > worst.0 {
            worst = (err, i);
        }
    }
    let (err, i) = worst;
    assert!(
        err <= TOLERANCE,
        "{name}: relative error {err:e} at element {i}: runtime {} vs reference {} (shape {:?})",
        got[i],
        want.v[i],
        want.shape
    );
}

// ---------------------------------------------------------------------------------------
// The reference: a naive f64 interpreter of the graph.

#[derive(Clone, Debug)]
struct T {
    shape: Vec<usize>,
    v: Vec<f64>,
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn reference(graph: &Graph, w: &Weights, inputs: &[Vec<f32>]) -> Vec<T> {
    let mut vals: HashMap<String, T> = HashMap::new();
    for (i, x) in graph.inputs.iter().zip(inputs) {
        assert_eq!(numel(&i.shape), x.len());
        vals.insert(
            i.name.clone(),
            T {
                shape: i.shape.clone(),
                v: x.iter().map(|&a| a as f64).collect(),
            },
        );
    }
    for node in &graph.nodes {
        let xs: Vec<&T> = node.inputs.iter().map(|n| &vals[n]).collect();
        let p = |s: &str| -> Vec<f64> {
            let key = format!("{}.{}", node.name, s);
            w[&key].1.iter().map(|&a| a as f64).collect()
        };
        let x = xs[0];
        let y = match &node.op {
            Op::Dense { units } => ref_dense(x, &p("weight"), &p("bias"), *units),
            Op::Conv1d {
                out_channels,
                kernel,
                stride,
                padding,
            } => ref_conv1d(
                x,
                &p("weight"),
                &p("bias"),
                *out_channels,
                *kernel,
                *stride,
                *padding,
            ),
            Op::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
            } => ref_conv2d(
                x,
                &p("weight"),
                &p("bias"),
                *out_channels,
                *kernel,
                *stride,
                *padding,
            ),
            Op::MaxPool1d(q) => ref_pool1d(x, q, true),
            Op::AvgPool1d(q) => ref_pool1d(x, q, false),
            Op::MaxPool2d(q) => ref_pool2d(x, q, true),
            Op::AvgPool2d(q) => ref_pool2d(x, q, false),
            Op::Relu => map(x, |a| if a > 0.0 { a } else { 0.0 }),
            Op::Tanh => map(x, f64::tanh),
            Op::Sigmoid => map(x, |a| 1.0 / (1.0 + (-a).exp())),
            Op::Softmax => ref_softmax(x),
            Op::Flatten => T {
                shape: vec![numel(&x.shape)],
                v: x.v.clone(),
            },
            Op::Reshape { shape } => {
                assert_eq!(numel(shape), x.v.len());
                T {
                    shape: shape.clone(),
                    v: x.v.clone(),
                }
            }
            Op::Permute { perm } => ref_permute(x, perm),
            Op::Concat { axis } => ref_concat(&xs, *axis),
            Op::Gru(r) => ref_rnn(x, r, 3, &|s| p(s)),
            Op::Lstm(r) => ref_rnn(x, r, 4, &|s| p(s)),
        };
        vals.insert(node.name.clone(), y);
    }
    graph.outputs.iter().map(|o| vals[o].clone()).collect()
}

fn map(x: &T, f: impl Fn(f64) -> f64) -> T {
    T {
        shape: x.shape.clone(),
        v: x.v.iter().map(|&a| f(a)).collect(),
    }
}

fn ref_dense(x: &T, w: &[f64], b: &[f64], units: usize) -> T {
    let f = *x.shape.last().unwrap();
    let rows = x.v.len() / f;
    let mut v = vec![0.0; rows * units];
    for r in 0..rows {
        for u in 0..units {
            let mut acc = b[u];
            for i in 0..f {
                acc += w[u * f + i] * x.v[r * f + i];
            }
            v[r * units + u] = acc;
        }
    }
    let mut shape = x.shape.clone();
    *shape.last_mut().unwrap() = units;
    T { shape, v }
}

fn ref_conv1d(x: &T, w: &[f64], b: &[f64], o: usize, k: usize, s: usize, p: usize) -> T {
    let (c, l) = (x.shape[0], x.shape[1]);
    let ol = (l + 2 * p - k) / s + 1;
    let mut v = vec![0.0; o * ol];
    for oc in 0..o {
        for j in 0..ol {
            let mut acc = b[oc];
            for ic in 0..c {
                for t in 0..k {
                    let pos = (j * s + t) as isize - p as isize;
                    if pos >= 0 && (pos as usize) < l {
                        acc += w[(oc * c + ic) * k + t] * x.v[ic * l + pos as usize];
                    }
                }
            }
            v[oc * ol + j] = acc;
        }
    }
    T {
        shape: vec![o, ol],
        v,
    }
}

fn ref_conv2d(
    x: &T,
    w: &[f64],
    b: &[f64],
    o: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> T {
    let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2]);
    let oh = (h + 2 * p[0] - k[0]) / s[0] + 1;
    let ow = (wd + 2 * p[1] - k[1]) / s[1] + 1;
    let mut v = vec![0.0; o * oh * ow];
    for oc in 0..o {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = b[oc];
                for ic in 0..c {
                    for ky in 0..k[0] {
                        for kx in 0..k[1] {
                            let iy = (oy * s[0] + ky) as isize - p[0] as isize;
                            let ix = (ox * s[1] + kx) as isize - p[1] as isize;
                            if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= wd {
                                continue;
                            }
                            let wi = ((oc * c + ic) * k[0] + ky) * k[1] + kx;
                            let xi = (ic * h + iy as usize) * wd + ix as usize;
                            acc += w[wi] * x.v[xi];
                        }
                    }
                }
                v[(oc * oh + oy) * ow + ox] = acc;
            }
        }
    }
    T {
        shape: vec![o, oh, ow],
        v,
    }
}

fn ref_pool1d(x: &T, q: &Pool1d, max: bool) -> T {
    let (c, l) = (x.shape[0], x.shape[1]);
    let ol = (l - q.kernel) / q.stride + 1;
    let mut v = Vec::new();
    for ic in 0..c {
        for j in 0..ol {
            let win = (0..q.kernel).map(|t| x.v[ic * l + j * q.stride + t]);
            v.push(if max {
                win.fold(f64::NEG_INFINITY, f64::max)
            } else {
                win.sum::<f64>() / q.kernel as f64
            });
        }
    }
    T {
        shape: vec![c, ol],
        v,
    }
}

fn ref_pool2d(x: &T, q: &Pool2d, max: bool) -> T {
    let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2]);
    let oh = (h - q.kernel[0]) / q.stride[0] + 1;
    let ow = (wd - q.kernel[1]) / q.stride[1] + 1;
    let mut v = Vec::new();
    for ic in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut win = Vec::new();
                for ky in 0..q.kernel[0] {
                    for kx in 0..q.kernel[1] {
                        let (iy, ix) = (oy * q.stride[0] + ky, ox * q.stride[1] + kx);
                        win.push(x.v[(ic * h + iy) * wd + ix]);
                    }
                }
                v.push(if max {
                    win.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    win.iter().sum::<f64>() / win.len() as f64
                });
            }
        }
    }
    T {
        shape: vec![c, oh, ow],
        v,
    }
}

fn ref_softmax(x: &T) -> T {
    let width = *x.shape.last().unwrap();
    let mut v = Vec::new();
    for row in x.v.chunks(width) {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|&a| (a - m).exp()).collect();
        let s: f64 = e.iter().sum();
        v.extend(e.iter().map(|a| a / s));
    }
    T {
        shape: x.shape.clone(),
        v,
    }
}

fn ref_permute(x: &T, perm: &[usize]) -> T {
    let rank = x.shape.len();
    let out_shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let mut in_strides = vec![1; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        in_strides[a] = in_strides[a + 1] * x.shape[a + 1];
    }
    let n = x.v.len();
    let mut v = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        // idx is the output multi-index; input axis perm[i] takes idx[i].
        let src: usize = (0..rank).map(|i| idx[i] * in_strides[perm[i]]).sum();
        v.push(x.v[src]);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    T {
        shape: out_shape,
        v,
    }
}

fn ref_concat(xs: &[&T], axis: usize) -> T {
    let mut shape = xs[0].shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    let outer: usize = shape[..axis].iter().product();
    let mut v = Vec::new();
    for o in 0..outer {
        for x in xs {
            let block: usize = x.shape[axis..].iter().product();
            v.extend_from_slice(&x.v[o * block..(o + 1) * block]);
        }
    }
    T { shape, v }
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// GRU (gates r, z, n; `n = tanh(W_in x + b_in + r (W_hn h + b_hn))`) or LSTM (gates
/// i, f, g, o) over `[T, F]`, zero initial state, PyTorch semantics.
fn ref_rnn(x: &T, r: &Recurrent, gates: usize, p: &dyn Fn(&str) -> Vec<f64>) -> T {
    let (t_len, f) = (x.shape[0], x.shape[1]);
    let h = r.hidden;
    let dirs = if r.bidirectional { 2 } else { 1 };
    // seq[d][t] = state of direction d after processing step t.
    let mut seq = vec![vec![vec![0.0; h]; t_len]; dirs];
    let mut last = vec![vec![0.0; h]; dirs];
    for d in 0..dirs {
        let sfx = if d == 1 { "_reverse" } else { "" };
        let w_ih = p(&format!("weight_ih_l0{sfx}"));
        let w_hh = p(&format!("weight_hh_l0{sfx}"));
        let b_ih = p(&format!("bias_ih_l0{sfx}"));
        let b_hh = p(&format!("bias_hh_l0{sfx}"));
        let mut hs = vec![0.0; h];
        let mut cs = vec![0.0; h];
        let order: Vec<usize> = if d == 1 {
            (0..t_len).rev().collect()
        } else {
            (0..t_len).collect()
        };
        for t in order {
            let xt = &x.v[t * f..(t + 1) * f];
            let gi: Vec<f64> = (0..gates * h)
                .map(|row| b_ih[row] + (0..f).map(|i| w_ih[row * f + i] * xt[i]).sum::<f64>())
                .collect();
            let gh: Vec<f64> = (0..gates * h)
                .map(|row| b_hh[row] + (0..h).map(|i| w_hh[row * h + i] * hs[i]).sum::<f64>())
                .collect();
            let mut nh = vec![0.0; h];
            for j in 0..h {
                if gates == 3 {
                    let rg = sigmoid(gi[j] + gh[j]);
                    let z = sigmoid(gi[h + j] + gh[h + j]);
                    let n = (gi[2 * h + j] + rg * gh[2 * h + j]).tanh();
                    nh[j] = (1.0 - z) * n + z * hs[j];
                } else {
                    let i = sigmoid(gi[j] + gh[j]);
                    let fg = sigmoid(gi[h + j] + gh[h + j]);
                    let g = (gi[2 * h + j] + gh[2 * h + j]).tanh();
                    let o = sigmoid(gi[3 * h + j] + gh[3 * h + j]);
                    cs[j] = fg * cs[j] + i * g;
                    nh[j] = o * cs[j].tanh();
                }
            }
            hs = nh;
            seq[d][t] = hs.clone();
        }
        last[d] = hs;
    }
    match r.output {
        SeqOutput::Sequence => {
            let mut v = Vec::new();
            for t in 0..t_len {
                for per_dir in seq.iter().take(dirs) {
                    v.extend_from_slice(&per_dir[t]);
                }
            }
            T {
                shape: vec![t_len, dirs * h],
                v,
            }
        }
        SeqOutput::Last => T {
            shape: vec![dirs * h],
            v: last.concat(),
        },
        SeqOutput::Mean => {
            let mut v = vec![0.0; dirs * h];
            for (d, per_dir) in seq.iter().enumerate().take(dirs) {
                for step in per_dir.iter().take(t_len) {
                    for j in 0..h {
                        v[d * h + j] += step[j] / t_len as f64;
                    }
                }
            }
            T {
                shape: vec![dirs * h],
                v,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Graph shorthands.

fn p1(kernel: usize, stride: usize) -> Pool1d {
    Pool1d { kernel, stride }
}

fn p2(kernel: [usize; 2], stride: [usize; 2]) -> Pool2d {
    Pool2d { kernel, stride }
}

/// A one-layer graph.
fn single(shape: &[usize], op: Op) -> Graph {
    let mut g = Graph::new("x", shape);
    g.push("layer", op);
    g
}

// ---------------------------------------------------------------------------------------
// Dense.

#[test]
fn dense_odd_sizes() {
    // 1x1, sizes around the 4- and 8-wide vector paths, one unit, one input.
    let cases: &[(usize, usize)] = &[
        (1, 1),
        (1, 17),
        (13, 1),
        (3, 4),
        (4, 3),
        (7, 5),
        (8, 8),
        (9, 9),
        (16, 12),
        (31, 13),
        (37, 33),
        (67, 6),
    ];
    for (i, &(f, units)) in cases.iter().enumerate() {
        check(
            &format!("dense {f} -> {units}"),
            single(&[f], Op::Dense { units }),
            100 + i as u64,
        );
    }
}

#[test]
fn dense_on_sequence_and_higher_rank_input() {
    // Dense applies to every row of [T, F] (and of any leading axes).
    let cases: &[(&[usize], usize)] = &[
        (&[5, 7], 3),
        (&[1, 9], 11),
        (&[6, 1], 4),
        (&[3, 16], 9),
        (&[2, 3, 5], 6),
        (&[2, 1, 3, 4], 1),
    ];
    for (i, &(shape, units)) in cases.iter().enumerate() {
        check(
            &format!("dense {shape:?} -> {units}"),
            single(shape, Op::Dense { units }),
            200 + i as u64,
        );
    }
}

#[test]
fn dense_stack_with_activations() {
    let mut g = Graph::new("x", &[19]);
    g.push("fc1", Op::Dense { units: 23 });
    g.push("a1", Op::Relu);
    g.push("fc2", Op::Dense { units: 10 });
    g.push("a2", Op::Tanh);
    g.push("fc3", Op::Dense { units: 5 });
    g.push("out", Op::Softmax);
    check("mlp", g, 300);
}

// ---------------------------------------------------------------------------------------
// Convolutions.

#[test]
fn conv1d_edge_cases() {
    // (input [C, L], out, kernel, stride, padding, what)
    type Case = ([usize; 2], usize, usize, usize, usize, &'static str);
    let cases: &[Case] = &[
        ([1, 1], 1, 1, 1, 0, "1x1 everything"),
        ([3, 10], 5, 3, 1, 0, "plain"),
        ([2, 9], 3, 9, 1, 0, "kernel = input length"),
        ([2, 9], 4, 9, 5, 0, "kernel = input length, big stride"),
        ([2, 11], 3, 2, 3, 0, "stride > kernel"),
        ([3, 7], 2, 4, 1, 3, "padding = kernel - 1"),
        (
            [3, 2],
            6,
            4,
            2,
            3,
            "padding = kernel - 1 on an input shorter than the kernel",
        ),
        ([1, 17], 1, 5, 2, 2, "one channel, one filter"),
        ([5, 23], 13, 3, 2, 1, "odd channel and filter counts"),
        ([6, 40], 8, 5, 2, 1, "the golden conv1d geometry"),
        (
            [4, 12],
            9,
            1,
            2,
            0,
            "1-wide kernel with stride 2 (not the pointwise path)",
        ),
        ([2, 30], 7, 7, 7, 6, "stride = kernel, padding = kernel - 1"),
    ];
    for (i, &(shape, o, k, s, p, what)) in cases.iter().enumerate() {
        check(
            &format!("conv1d {what}: {shape:?} o{o} k{k} s{s} p{p}"),
            single(&shape, Op::conv1d(o, k, s, p)),
            400 + i as u64,
        );
    }
}

#[test]
fn conv1d_pointwise() {
    // kernel 1, stride 1, no padding: the runtime multiplies the input directly.
    for (i, &(c, l, o)) in [(1, 1, 1), (6, 13, 5), (8, 8, 8), (3, 33, 17), (16, 1, 4)]
        .iter()
        .enumerate()
    {
        check(
            &format!("pointwise conv1d [{c}, {l}] -> {o}"),
            single(&[c, l], Op::conv1d(o, 1, 1, 0)),
            500 + i as u64,
        );
    }
}

#[test]
fn conv2d_edge_cases() {
    type Case = (
        [usize; 3],
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 2],
        &'static str,
    );
    let cases: &[Case] = &[
        ([1, 1, 1], 1, [1, 1], [1, 1], [0, 0], "1x1 everything"),
        (
            [1, 1, 1],
            3,
            [2, 2],
            [1, 1],
            [1, 1],
            "1x1 input, padding = kernel - 1",
        ),
        ([3, 7, 9], 4, [3, 3], [1, 1], [0, 0], "plain"),
        ([2, 5, 6], 3, [5, 6], [1, 1], [0, 0], "kernel = input size"),
        (
            [2, 5, 6],
            3,
            [5, 6],
            [4, 9],
            [0, 0],
            "kernel = input size, big stride",
        ),
        ([2, 10, 11], 5, [2, 3], [3, 4], [0, 0], "stride > kernel"),
        ([3, 6, 5], 2, [3, 2], [1, 1], [2, 1], "padding = kernel - 1"),
        (
            [3, 13, 11],
            5,
            [3, 3],
            [2, 2],
            [1, 1],
            "the golden stride/padding geometry",
        ),
        (
            [2, 9, 8],
            3,
            [3, 1],
            [1, 2],
            [1, 0],
            "asymmetric kernel and stride",
        ),
        (
            [3, 7, 7],
            13,
            [3, 3],
            [1, 1],
            [1, 1],
            "13 filters, 49 positions",
        ),
        (
            [1, 28, 28],
            6,
            [5, 5],
            [1, 1],
            [0, 0],
            "LeNet first layer, one channel",
        ),
        (
            [5, 4, 4],
            1,
            [2, 2],
            [2, 2],
            [0, 0],
            "one filter, stride = kernel",
        ),
        (
            [4, 6, 6],
            7,
            [1, 1],
            [2, 2],
            [0, 0],
            "1x1 kernel with stride 2 (not pointwise)",
        ),
        (
            [2, 3, 17],
            9,
            [3, 4],
            [1, 3],
            [2, 3],
            "padding = kernel - 1 on both axes, stride 3",
        ),
    ];
    for (i, &(shape, o, k, s, p, what)) in cases.iter().enumerate() {
        check(
            &format!("conv2d {what}: {shape:?} o{o} k{k:?} s{s:?} p{p:?}"),
            single(&shape, Op::conv2d(o, k, s, p)),
            600 + i as u64,
        );
    }
}

#[test]
fn conv2d_pointwise() {
    for (i, &(shape, o)) in [
        ([1, 1, 1], 1),
        ([5, 6, 7], 9),
        ([7, 3, 3], 1),
        ([4, 2, 4], 4),
        ([16, 5, 5], 13),
        ([3, 1, 9], 8),
    ]
    .iter()
    .enumerate()
    {
        check(
            &format!("pointwise conv2d {shape:?} -> {o}"),
            single(&shape, Op::conv2d(o, [1, 1], [1, 1], [0, 0])),
            700 + i as u64,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Pools.

const POOL1D: &[([usize; 2], usize, usize)] = &[
    ([1, 1], 1, 1),
    ([3, 10], 2, 2),
    ([3, 10], 3, 1),
    ([2, 10], 10, 1),
    ([2, 11], 2, 3),
    ([4, 9], 4, 4),
    ([1, 7], 1, 2),
    ([5, 13], 5, 7),
];

const POOL2D: &[([usize; 3], [usize; 2], [usize; 2])] = &[
    ([1, 1, 1], [1, 1], [1, 1]),
    ([2, 7, 9], [2, 3], [2, 2]),
    ([3, 8, 8], [2, 2], [2, 2]),
    ([2, 7, 9], [7, 9], [1, 1]),
    ([2, 10, 11], [2, 2], [3, 4]),
    ([1, 5, 6], [3, 1], [1, 2]),
    ([3, 6, 5], [1, 1], [2, 2]),
    ([4, 9, 9], [3, 3], [3, 3]),
];

#[test]
fn max_pool1d() {
    for (i, &(shape, k, s)) in POOL1D.iter().enumerate() {
        check(
            &format!("max_pool1d {shape:?} k{k} s{s}"),
            single(&shape, Op::MaxPool1d(p1(k, s))),
            800 + i as u64,
        );
    }
}

#[test]
fn avg_pool1d() {
    for (i, &(shape, k, s)) in POOL1D.iter().enumerate() {
        check(
            &format!("avg_pool1d {shape:?} k{k} s{s}"),
            single(&shape, Op::AvgPool1d(p1(k, s))),
            850 + i as u64,
        );
    }
}

#[test]
fn max_pool2d() {
    for (i, &(shape, k, s)) in POOL2D.iter().enumerate() {
        check(
            &format!("max_pool2d {shape:?} k{k:?} s{s:?}"),
            single(&shape, Op::MaxPool2d(p2(k, s))),
            900 + i as u64,
        );
    }
}

#[test]
fn avg_pool2d() {
    for (i, &(shape, k, s)) in POOL2D.iter().enumerate() {
        check(
            &format!("avg_pool2d {shape:?} k{k:?} s{s:?}"),
            single(&shape, Op::AvgPool2d(p2(k, s))),
            950 + i as u64,
        );
    }
}

#[test]
fn max_pool_of_all_negative_values() {
    // A max pool must not start from 0: every window here is negative.
    check_inputs(
        "max_pool2d negative",
        single(&[2, 6, 6], Op::MaxPool2d(p2([3, 3], [3, 3]))),
        990,
        |n, rng| (0..n).map(|_| -1.0 - rng.unit() * 5.0).collect(),
    );
    check_inputs(
        "max_pool1d negative",
        single(&[3, 8], Op::MaxPool1d(p1(4, 2))),
        991,
        |n, rng| (0..n).map(|_| -0.5 - rng.unit()).collect(),
    );
}

// ---------------------------------------------------------------------------------------
// Element-wise activations and softmax.

/// Inputs that cover the interesting ranges of tanh/sigmoid: zero, tiny values, both sides
/// of small-argument approximations, moderate values and saturation far out.
const SPECIAL: &[f32] = &[
    0.0, -0.0, 1e-8, -1e-8, 1e-4, -1e-3, 0.1, -0.2, 0.39, 0.4, 0.41, -0.39, -0.4, -0.41, 0.5, 0.75,
    -0.9, 1.0, -1.0, 1.5, 2.0, -2.5, 3.0, 4.5, -6.0, 8.0, 9.0, -10.0, 15.0, -17.0, 20.0, -30.0,
    44.0, 60.0, -80.0, 87.5, -88.5, 90.0, -100.0, 1e4, -1e4, 1e30, -1e30,
];

fn special_then_random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|i| SPECIAL.get(i).copied().unwrap_or_else(|| rng.sym(6.0)))
        .collect()
}

#[test]
fn relu_tanh_sigmoid() {
    for (name, op) in [
        ("relu", Op::Relu),
        ("tanh", Op::Tanh),
        ("sigmoid", Op::Sigmoid),
    ] {
        for (i, shape) in [vec![1], vec![SPECIAL.len()], vec![7, 13], vec![2, 3, 5, 7]]
            .into_iter()
            .enumerate()
        {
            check_inputs(
                &format!("{name} {shape:?}"),
                single(&shape, op.clone()),
                1000 + i as u64,
                special_then_random,
            );
        }
    }
}

#[test]
fn tanh_and_sigmoid_on_a_fine_grid() {
    // Every 1/64 from -12 to 12: any kink of an approximation shows.
    let n = 24 * 64 + 1;
    for (name, op) in [("tanh", Op::Tanh), ("sigmoid", Op::Sigmoid)] {
        check_inputs(&format!("{name} grid"), single(&[n], op), 1100, |n, _| {
            (0..n).map(|i| -12.0 + i as f32 / 64.0).collect()
        });
    }
}

#[test]
fn softmax() {
    for (i, shape) in [
        vec![1],
        vec![3],
        vec![10],
        vec![5, 7],
        vec![4, 1],
        vec![2, 3, 9],
    ]
    .into_iter()
    .enumerate()
    {
        check(
            &format!("softmax {shape:?}"),
            single(&shape, Op::Softmax),
            1200 + i as u64,
        );
    }
    // Large logits: must subtract the row maximum (no overflow to inf / NaN).
    check_inputs(
        "softmax large logits",
        single(&[6, 11], Op::Softmax),
        1210,
        |n, rng| (0..n).map(|_| rng.sym(80.0)).collect(),
    );
    check_inputs(
        "softmax equal logits",
        single(&[3, 4], Op::Softmax),
        1211,
        |n, _| vec![42.0; n],
    );
}

// ---------------------------------------------------------------------------------------
// Views and layout.

#[test]
fn flatten() {
    // Flatten as the output itself, and feeding a dense layer.
    check("flatten only", single(&[2, 3, 4], Op::Flatten), 1300);
    let mut g = Graph::new("x", &[3, 5, 4]);
    g.push("conv", Op::conv2d(4, [3, 3], [1, 1], [1, 1]));
    g.push("pool", Op::MaxPool2d(p2([2, 2], [2, 2])));
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 7 });
    check("conv -> pool -> flatten -> dense", g, 1301);
    let mut g = Graph::new("x", &[1]);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 2 });
    check("flatten of [1]", g, 1302);
}

#[test]
fn reshape() {
    let mut g = Graph::new("x", &[12]);
    g.push("r", Op::Reshape { shape: vec![3, 4] });
    g.push("fc", Op::Dense { units: 5 });
    check("reshape [12] -> [3, 4] -> dense per row", g, 1400);

    let mut g = Graph::new("x", &[2, 3, 4]);
    g.push("r", Op::Reshape { shape: vec![4, 6] });
    g.push("s", Op::Softmax);
    check("reshape [2, 3, 4] -> [4, 6] -> softmax per row", g, 1401);

    let mut g = Graph::new("x", &[24]);
    g.push(
        "r",
        Op::Reshape {
            shape: vec![2, 3, 4],
        },
    );
    g.push("conv", Op::conv2d(3, [2, 2], [1, 1], [0, 0]));
    g.push("r2", Op::Reshape { shape: vec![18] });
    check("reshape into a conv and back out", g, 1402);

    // Reshape of a reshape (a view of a view).
    let mut g = Graph::new("x", &[2, 6]);
    g.push("relu", Op::Relu);
    g.push("r1", Op::Reshape { shape: vec![3, 4] });
    g.push("r2", Op::Reshape { shape: vec![4, 3] });
    g.push("fc", Op::Dense { units: 2 });
    check("view of a view", g, 1403);
}

#[test]
fn permute() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[5], &[0]),
        (&[3, 5], &[1, 0]),
        (&[3, 5], &[0, 1]),
        (&[2, 3, 4], &[2, 0, 1]),
        (&[2, 3, 4], &[1, 2, 0]),
        (&[2, 3, 4], &[0, 2, 1]),
        (&[2, 3, 4, 5], &[3, 1, 0, 2]),
        (&[1, 7, 1, 3], &[2, 3, 0, 1]),
    ];
    for (i, &(shape, perm)) in cases.iter().enumerate() {
        check(
            &format!("permute {shape:?} by {perm:?}"),
            single(
                shape,
                Op::Permute {
                    perm: perm.to_vec(),
                },
            ),
            1500 + i as u64,
        );
    }
    // A channels-first signal turned into a sequence for a GRU.
    let mut g = Graph::new("x", &[4, 9]);
    g.push("t", Op::Permute { perm: vec![1, 0] });
    g.push("gru", Op::Gru(Recurrent::new(5, false, SeqOutput::Last)));
    check("permute [C, T] -> [T, C] -> gru", g, 1510);
}

// ---------------------------------------------------------------------------------------
// Concat and branches.

#[test]
fn concat_axis0_branches() {
    // Two convolution branches of one input, joined on the channel axis.
    let mut g = Graph::new("x", &[3, 8]);
    g.push_from("a", &["x"], Op::conv1d(4, 3, 1, 0));
    g.push_from("b", &["x"], Op::conv1d(5, 3, 1, 0));
    g.push_from("cat", &["a", "b"], Op::Concat { axis: 0 });
    g.push("relu", Op::Relu);
    check("concat axis 0 of two conv branches", g, 1600);

    // Three operands, one of them the graph input itself, one used twice.
    let mut g = Graph::new("x", &[3, 8]);
    g.push_from("r", &["x"], Op::Relu);
    g.push_from("cat", &["x", "r", "x"], Op::Concat { axis: 0 });
    check("concat axis 0 of input, relu(input), input", g, 1601);

    // Rank 1.
    let mut g = Graph::new("x", &[5]);
    g.push_from("a", &["x"], Op::Dense { units: 3 });
    g.push_from("b", &["x"], Op::Dense { units: 1 });
    g.push_from("cat", &["a", "b", "x"], Op::Concat { axis: 0 });
    g.push("fc", Op::Dense { units: 2 });
    check("concat of dense heads", g, 1602);
}

#[test]
fn concat_nonzero_axis() {
    let mut g = Graph::new("x", &[3, 8]);
    g.push_from("a", &["x"], Op::conv1d(4, 3, 1, 0)); // [4, 6]
    g.push_from("b", &["x"], Op::conv1d(4, 1, 1, 0)); // [4, 8]
    g.push_from("c", &["x"], Op::conv1d(4, 5, 2, 2)); // [4, 4]
    g.push_from("cat", &["a", "b", "c"], Op::Concat { axis: 1 }); // [4, 18]
    check("concat axis 1 of three conv branches", g, 1700);

    let mut g = Graph::new("x", &[2, 5, 6]);
    g.push_from("a", &["x"], Op::conv2d(3, [3, 3], [1, 1], [1, 1])); // [3, 5, 6]
    g.push_from("b", &["x"], Op::conv2d(3, [1, 3], [1, 1], [0, 0])); // [3, 5, 4]
    g.push_from("cat", &["a", "b"], Op::Concat { axis: 2 }); // [3, 5, 10]
    g.push_from("cat1", &["cat", "cat"], Op::Concat { axis: 1 }); // [3, 10, 10]
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 4 });
    check("concat axes 2 and 1 of rank-3 branches", g, 1701);

    // Recurrent branches joined on the feature axis.
    let mut g = Graph::new("x", &[6, 3]);
    g.push_from(
        "g",
        &["x"],
        Op::Gru(Recurrent::new(4, false, SeqOutput::Sequence)),
    );
    g.push_from(
        "l",
        &["x"],
        Op::Lstm(Recurrent::new(3, true, SeqOutput::Sequence)),
    );
    g.push_from("cat", &["g", "l", "x"], Op::Concat { axis: 1 }); // [6, 13]
    g.push("fc", Op::Dense { units: 2 });
    check("concat axis 1 of recurrent branches", g, 1702);
}

#[test]
fn concat_multi_input_graph() {
    // Two graph inputs (e.g. two sensors), each with its own branch.
    let mut g = Graph::new("acc", &[3, 10]);
    g.inputs.push(Input {
        name: "gyro".into(),
        shape: vec![2, 10],
    });
    g.push_from("ca", &["acc"], Op::conv1d(4, 3, 1, 1));
    g.push_from("cg", &["gyro"], Op::conv1d(2, 3, 1, 1));
    g.push_from("cat", &["ca", "cg", "gyro"], Op::Concat { axis: 0 }); // [8, 10]
    g.push("relu", Op::Relu);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 3 });
    check("two inputs, concat", g, 1800);
}

#[test]
fn multiple_outputs_including_intermediates() {
    // An output that a later node also reads must survive until the end of the run.
    let mut g = Graph::new("x", &[9]);
    g.push("fc1", Op::Dense { units: 8 });
    g.push("relu", Op::Relu);
    g.push("fc2", Op::Dense { units: 8 });
    g.push("fc3", Op::Dense { units: 8 });
    g.push("fc4", Op::Dense { units: 3 });
    g.outputs = vec!["relu".into(), "fc4".into(), "x".into(), "fc2".into()];
    check("four outputs", g, 1900);
}

#[test]
fn deep_chain_reuses_memory_correctly() {
    // Many same-sized buffers: the planner reuses memory; results must not be corrupted.
    let mut g = Graph::new("x", &[4, 12]);
    for i in 0..6 {
        g.push(&format!("conv{i}"), Op::conv1d(4, 3, 1, 1));
        g.push(
            &format!("act{i}"),
            if i % 2 == 0 { Op::Tanh } else { Op::Relu },
        );
    }
    // A long skip connection from the first layer to the last.
    g.push_from("cat", &["act5", "conv0"], Op::Concat { axis: 0 });
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 5 });
    g.push("sm", Op::Softmax);
    check("deep chain with a skip connection", g, 2000);
}

// ---------------------------------------------------------------------------------------
// Recurrent layers.

fn rnn_op(lstm: bool, r: Recurrent) -> Op {
    if lstm {
        Op::Lstm(r)
    } else {
        Op::Gru(r)
    }
}

#[test]
fn gru_and_lstm_every_direction_and_output() {
    let mut seed = 3000;
    for lstm in [false, true] {
        for bidirectional in [false, true] {
            for output in [SeqOutput::Sequence, SeqOutput::Last, SeqOutput::Mean] {
                // (T, F, hidden): plain, sequence length 1, one feature and one unit,
                // sizes past the 4-wide dot products.
                for (t, f, h) in [(6, 5, 7), (1, 4, 3), (5, 1, 1), (1, 1, 1), (10, 16, 9)] {
                    seed += 1;
                    let kind = if lstm { "lstm" } else { "gru" };
                    check(
                        &format!("{kind} bi={bidirectional} {output:?} T{t} F{f} H{h}"),
                        single(
                            &[t, f],
                            rnn_op(lstm, Recurrent::new(h, bidirectional, output)),
                        ),
                        seed,
                    );
                }
            }
        }
    }
}

#[test]
fn stacked_recurrent_layers() {
    let mut g = Graph::new("x", &[8, 6]);
    g.push("gru", Op::Gru(Recurrent::new(5, true, SeqOutput::Sequence)));
    g.push(
        "lstm",
        Op::Lstm(Recurrent::new(4, false, SeqOutput::Sequence)),
    );
    g.push("lstm2", Op::Lstm(Recurrent::new(3, true, SeqOutput::Mean)));
    g.push("fc", Op::Dense { units: 2 });
    g.push("sm", Op::Softmax);
    check("gru -> lstm -> bilstm(mean) -> dense", g, 3200);

    // DeepSense-like: conv over each step's features, then a GRU over time.
    let mut g = Graph::new("x", &[3, 20]);
    g.push("conv", Op::conv1d(6, 3, 1, 1)); // [6, 20]
    g.push("relu", Op::Relu);
    g.push("t", Op::Permute { perm: vec![1, 0] }); // [20, 6]
    g.push("gru", Op::Gru(Recurrent::new(8, false, SeqOutput::Mean)));
    g.push("fc", Op::Dense { units: 4 });
    check("conv -> permute -> gru(mean) -> dense", g, 3201);
}

#[test]
fn recurrent_layers_with_large_inputs_saturate_cleanly() {
    for (i, lstm) in [false, true].into_iter().enumerate() {
        check_inputs(
            &format!("saturating rnn (lstm={lstm})"),
            single(
                &[7, 3],
                rnn_op(lstm, Recurrent::new(5, true, SeqOutput::Sequence)),
            ),
            3300 + i as u64,
            |n, rng| (0..n).map(|_| rng.sym(40.0)).collect(),
        );
    }
}

#[test]
fn every_layer_kind_in_one_model() {
    // Input [2, 12, 10] -> conv2d -> maxpool2d -> avgpool2d ... ends in a GRU and softmax.
    let mut g = Graph::new("x", &[2, 12, 10]);
    g.push("c2", Op::conv2d(3, [3, 3], [1, 1], [1, 1])); // [3, 12, 10]
    g.push("mp2", Op::MaxPool2d(p2([2, 2], [2, 2]))); // [3, 6, 5]
    g.push("ap2", Op::AvgPool2d(p2([2, 1], [1, 1]))); // [3, 5, 5]
    g.push("sig", Op::Sigmoid);
    g.push("r", Op::Reshape { shape: vec![3, 25] }); // [3, 25]
    g.push("c1", Op::conv1d(4, 3, 1, 1)); // [4, 25]
    g.push("mp1", Op::MaxPool1d(p1(2, 2))); // [4, 12]
    g.push("ap1", Op::AvgPool1d(p1(3, 1))); // [4, 10]
    g.push("relu", Op::Relu);
    g.push("t", Op::Permute { perm: vec![1, 0] }); // [10, 4]
    g.push("gru", Op::Gru(Recurrent::new(6, true, SeqOutput::Sequence))); // [10, 12]
    g.push(
        "lstm",
        Op::Lstm(Recurrent::new(5, false, SeqOutput::Sequence)),
    ); // [10, 5]
    g.push_from("cat", &["gru", "lstm"], Op::Concat { axis: 1 }); // [10, 17]
    g.push("tanh", Op::Tanh);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 6 });
    g.push("sm", Op::Softmax);
    check("every layer kind", g, 3400);
}

#[test]
fn unusual_graph_plumbing() {
    // An input no node reads (its buffer may be reused at once) next to one that is read.
    let mut g = Graph::new("unused", &[7]);
    g.inputs.push(Input {
        name: "x".into(),
        shape: vec![5],
    });
    g.push_from("fc", &["x"], Op::Dense { units: 3 });
    check("an unused graph input", g, 4000);

    // The output is a view of the input; the same output listed twice.
    let mut g = Graph::new("x", &[2, 3]);
    g.push("r", Op::Reshape { shape: vec![3, 2] });
    g.outputs = vec!["r".into(), "x".into(), "r".into()];
    check("outputs that are views of the input", g, 4001);

    // A view of a node that a later node also reads directly.
    let mut g = Graph::new("x", &[4, 6]);
    g.push("relu", Op::Relu);
    g.push("flat", Op::Flatten);
    g.push_from("fc", &["flat"], Op::Dense { units: 24 });
    g.push_from("r", &["fc"], Op::Reshape { shape: vec![4, 6] });
    g.push_from("cat", &["r", "relu"], Op::Concat { axis: 1 });
    g.outputs = vec!["cat".into(), "flat".into()];
    check("views read alongside their source", g, 4002);
}
