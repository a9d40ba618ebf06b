//! `export::save_sparse`: a pruned network saved with its mostly-zero weights in CSR form
//! gives, in the board runtime and back in candle, the same outputs as its dense file.
use candle_core::{Device, Tensor};
use deepiot::export;
use deepiot::models::Net;
use deepiot_board::testing::host_scores;
use deepiot_format::{Graph, Op, Recurrent, SeqOutput};
use std::collections::{BTreeMap, HashMap};

/// Zeroes every weight matrix's entries with `|w|` below its `fraction` quantile (what a
/// magnitude pruner does), leaving biases alone.
fn prune(net: &Net, fraction: f64) {
    let mut tensors = HashMap::new();
    for (name, shape, mut v) in net.tensors().unwrap() {
        if shape.len() >= 2 {
            let mut mags: Vec<f32> = v.iter().map(|x| x.abs()).collect();
            mags.sort_by(f32::total_cmp);
            let cut = mags[((mags.len() as f64 * fraction) as usize).min(mags.len() - 1)];
            for x in &mut v {
                if x.abs() < cut {
                    *x = 0.0;
                }
            }
        }
        tensors.insert(
            name,
            Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap(),
        );
    }
    net.set_tensors(&tensors).unwrap();
}

fn inputs(n: usize, count: usize) -> Vec<Vec<f32>> {
    let mut s = 0x1234_5678u64;
    (0..count)
        .map(|_| {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
                })
                .collect()
        })
        .collect()
}

/// The runtime's outputs for each example of `xs`.
fn runtime_outputs(bytes: &[u8], xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    host_scores(bytes, &xs.concat())
}

fn candle_outputs(net: &Net, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let shape = &net.graph().inputs[0].shape;
    let mut dims = vec![xs.len()];
    dims.extend_from_slice(shape);
    let x = Tensor::from_vec(xs.concat(), dims.as_slice(), &Device::Cpu).unwrap();
    let y = net.forward(&[&x], false).unwrap();
    y.flatten_from(1).unwrap().to_vec2::<f32>().unwrap()
}

fn assert_close(what: &str, a: &[Vec<f32>], b: &[Vec<f32>], tol: f32) {
    for (ra, rb) in a.iter().zip(b) {
        assert_eq!(ra.len(), rb.len(), "{what}");
        for (x, y) in ra.iter().zip(rb) {
            assert!(
                (x - y).abs() <= tol * x.abs().max(1.0),
                "{what}: {x} vs {y}"
            );
        }
    }
}

fn check(name: &str, graph: &Graph) {
    let net = Net::new(graph, 7).unwrap();
    prune(&net, 0.9);
    let prov: BTreeMap<String, String> = [("method".to_string(), "magnitude".to_string())].into();
    let dir = tempfile::tempdir().unwrap();
    let (dense_path, sparse_path) = (
        dir.path().join("d.safetensors"),
        dir.path().join("s/s.safetensors"),
    );
    export::save(&net, &prov, &dense_path).unwrap();
    export::save_sparse(&net, &prov, &sparse_path, 0.5).unwrap();
    let (dense, sparse) = (
        std::fs::read(&dense_path).unwrap(),
        std::fs::read(&sparse_path).unwrap(),
    );
    assert_eq!(
        sparse,
        export::to_bytes_sparse(&net, &prov, 0.5).unwrap(),
        "{name}: save_sparse writes to_bytes_sparse"
    );
    assert!(
        sparse.len() < dense.len(),
        "{name}: the sparse file is smaller"
    );

    // Every weight matrix is at ~10 % density, so all of them are sparse; biases dense.
    let file = deepiot_format::parse(&sparse).unwrap();
    let mut matrices: Vec<String> = file
        .info
        .params
        .iter()
        .flatten()
        .filter(|p| p.matrix().is_some())
        .map(|p| p.name.clone())
        .collect();
    matrices.sort();
    assert_eq!(file.sparse_names().collect::<Vec<_>>(), matrices, "{name}");
    // Below every weight's density, nothing is sparse: the file is the dense one.
    assert_eq!(
        export::to_bytes_sparse(&net, &prov, 0.01).unwrap(),
        dense,
        "{name}"
    );

    let n: usize = graph.inputs[0].shape.iter().product();
    let xs = inputs(n, 4);
    let (rd, rs) = (runtime_outputs(&dense, &xs), runtime_outputs(&sparse, &xs));
    assert_close(&format!("{name}: runtime dense vs sparse"), &rd, &rs, 1e-5);

    let (back, back_prov) = export::load(&sparse_path).unwrap();
    assert_eq!(back_prov, prov);
    assert_eq!(back.graph(), net.graph());
    assert_eq!(
        back.tensors().unwrap(),
        net.tensors().unwrap(),
        "{name}: densified weights are the saved ones"
    );
    let (cd, cs) = (candle_outputs(&net, &xs), candle_outputs(&back, &xs));
    assert_close(
        &format!("{name}: candle original vs sparse file"),
        &cd,
        &cs,
        1e-6,
    );
    assert_close(&format!("{name}: candle vs runtime"), &cs, &rs, 1e-4);
}

#[test]
fn lenet_like_convolutional_model() {
    let mut g = Graph::new("x", &[1, 12, 12]);
    g.push("conv1", Op::conv2d(6, [3, 3], [1, 1], [0, 0]));
    g.push("pool1", Op::max_pool2d([2, 2], [2, 2]));
    g.push("flat", Op::Flatten);
    g.push("fc1", Op::Dense { units: 20 });
    g.push("relu", Op::Relu);
    g.push("fc2", Op::Dense { units: 4 });
    check("lenet-like", &g);
}

#[test]
fn recurrent_model() {
    let mut g = Graph::new("x", &[6, 5]);
    g.push("conv", Op::conv1d(4, 3, 1, 1)); // [C 6, L 5] -> [4, 5]
    g.push("perm", Op::Permute { perm: vec![1, 0] }); // [5, 4]
    g.push("gru", Op::Gru(Recurrent::new(8, true, SeqOutput::Sequence)));
    g.push("lstm", Op::Lstm(Recurrent::new(6, false, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    check("recurrent", &g);
}
