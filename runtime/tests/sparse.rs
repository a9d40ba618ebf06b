//! Sparse (CSR) weights: the sparse kernels agree with the dense ones on the same weights
//! (0 %, 50 %, 95 % and 100 % zeros, odd shapes, every layer that has a weight matrix),
//! whole models agree between their dense and sparse files, and every way a CSR tensor
//! can lie is refused with its own error.
use deepiot_format::rng::SplitMix64;
use deepiot_format::testing::{self, Tensors};
use deepiot_format::{
    parse, write, write_sparse, Csr, FormatError, Graph, Op, Recurrent, SeqOutput,
    SparseTensorData, TensorData, GRAPH_KEY, PROVENANCE_KEY, SPARSE_KEY,
};
use deepiot_runtime::kernels::gemm;
use deepiot_runtime::kernels::sparse::{self, CsrView};
use deepiot_runtime::{LoadError, Model};
use std::collections::BTreeMap;

const SPARSITIES: [f64; 4] = [0.0, 0.5, 0.95, 1.0];

/// The project's generator ([`SplitMix64`]): values in [-0.5, 0.5), and a fraction of
/// exact zeros.
struct Rng(SplitMix64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }
    fn values(&mut self, n: usize, zeros: f64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let keep = f64::from(self.0.next_unit()) >= zeros;
                let v = self.0.next_unit() - 0.5;
                if keep {
                    v
                } else {
                    0.0
                }
            })
            .collect()
    }
}

fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * x.abs().max(1.0),
            "{what}: element {i}: dense {x} vs sparse {y}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Kernels against kernels.

#[test]
fn spmm_nt_equals_gemm_nt() {
    let mut rng = Rng::new(0x51);
    for &(rows, f, units) in &[(1, 800, 50), (1, 13, 7), (5, 13, 7), (4, 1, 3), (9, 33, 17)] {
        for zeros in SPARSITIES {
            let w = rng.values(units * f, zeros);
            let x = rng.values(rows * f, 0.0);
            let b = rng.values(units, 0.0);
            let csr = Csr::from_dense(units, f, &w).unwrap();
            let (mut yd, mut ys) = (vec![0.0; rows * units], vec![7.0; rows * units]);
            gemm::gemm_nt(rows, f, units, &x, &w, &b, &mut yd);
            sparse::spmm_nt(rows, &CsrView::from(&csr), &x, &b, &mut ys);
            assert_close(&format!("nt {rows}x{f}->{units} zeros {zeros}"), &yd, &ys);
        }
    }
}

#[test]
fn spmv_acc_equals_gemv_acc() {
    let mut rng = Rng::new(0x52);
    for &(f, units) in &[(64, 192), (5, 15), (1, 4), (7, 3)] {
        for zeros in SPARSITIES {
            let w = rng.values(units * f, zeros);
            let x = rng.values(f, 0.0);
            let start = rng.values(units, 0.0);
            let csr = Csr::from_dense(units, f, &w).unwrap();
            let (mut yd, mut ys) = (start.clone(), start);
            gemm::gemv_acc(f, units, &x, &w, &mut yd);
            sparse::spmv_acc(&CsrView::from(&csr), &x, &mut ys);
            assert_close(&format!("gemv {f}->{units} zeros {zeros}"), &yd, &ys);
        }
    }
}

#[test]
fn spmm_nn_equals_gemm_nn() {
    let mut rng = Rng::new(0x53);
    // n covers the 16-wide, 4-wide and scalar column paths and their mixes.
    for &(m, k, n) in &[
        (50, 500, 64),
        (5, 9, 99),
        (3, 7, 15),
        (4, 3, 3),
        (7, 11, 22),
        (1, 1, 1),
    ] {
        for zeros in SPARSITIES {
            let w = rng.values(m * k, zeros);
            let b = rng.values(k * n, 0.0);
            let bias = rng.values(m, 0.0);
            let csr = Csr::from_dense(m, k, &w).unwrap();
            let (mut cd, mut cs) = (vec![0.0; m * n], vec![7.0; m * n]);
            gemm::gemm_nn(m, k, n, &w, &b, &bias, &mut cd);
            sparse::spmm_nn(&CsrView::from(&csr), n, &b, &bias, &mut cs);
            assert_close(&format!("nn {m}x{k}x{n} zeros {zeros}"), &cd, &cs);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Whole models: the dense file and the sparse file of the same weights.

/// Weights for every tensor of `g`; weight matrices get `zeros` of their values zeroed.
fn weights(g: &Graph, zeros: f64, seed: u64) -> Tensors {
    let mut w = testing::random_weights(g, seed);
    testing::zero_fraction(&mut w, zeros, seed ^ 0x5eed);
    w
}

fn dense_file(g: &Graph, w: &Tensors) -> Vec<u8> {
    testing::model_file(g, w, &BTreeMap::new())
}

fn run_all(bytes: &[u8], inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut m = Model::load(bytes).unwrap();
    inputs
        .iter()
        .map(|x| {
            let mut y = vec![0.0; m.output_len(0)];
            m.run(x, &mut y).unwrap();
            y
        })
        .collect()
}

fn check_model(name: &str, g: &Graph) {
    for (s, zeros) in SPARSITIES.into_iter().enumerate() {
        let w = weights(g, zeros, 0x77 + s as u64);
        let (dense, sparse) = (dense_file(g, &w), testing::sparse_model_file(g, &w));
        let n: usize = g.inputs[0].shape.iter().product();
        let mut rng = Rng::new(0x99);
        let inputs: Vec<Vec<f32>> = (0..3).map(|_| rng.values(n, 0.0)).collect();
        let (yd, ys) = (run_all(&dense, &inputs), run_all(&sparse, &inputs));
        for (a, b) in yd.iter().zip(&ys) {
            assert_close(&format!("{name}, {zeros} zeros"), a, b);
        }
        let (md, ms) = (Model::load(&dense).unwrap(), Model::load(&sparse).unwrap());
        assert_eq!(
            md.param_count(),
            ms.param_count(),
            "{name}: params count dense"
        );
        assert_eq!(
            md.nonzero_count(),
            ms.nonzero_count(),
            "{name}: non-zeros agree"
        );
        if zeros >= 0.95 {
            assert!(
                ms.weight_bytes() < md.weight_bytes(),
                "{name}: sparse is smaller"
            );
        }
    }
}

#[test]
fn dense_layers() {
    let mut g = Graph::new("x", &[37]);
    g.push("fc1", Op::Dense { units: 11 });
    g.push("relu", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    check_model("dense 37-11-3", &g);
    // A dense layer over the rows of a [T, F] input: four-row blocks and a tail.
    let mut g = Graph::new("x", &[7, 13]);
    g.push("fc", Op::Dense { units: 5 });
    check_model("dense over 7 rows", &g);
}

#[test]
fn conv1d_layers() {
    let mut g = Graph::new("x", &[3, 23]);
    g.push("c1", Op::conv1d(5, 4, 1, 1)); // [5, 22]
    g.push("c2", Op::conv1d(2, 3, 2, 0)); // [2, 10]
    g.push("c3", Op::conv1d(3, 3, 2, 2)); // [3, 6]: padding on both sides with a stride
    check_model("conv1d", &g);
}

#[test]
fn conv2d_layers() {
    let mut g = Graph::new("x", &[3, 9, 11]);
    g.push("c1", Op::conv2d(6, [3, 3], [1, 1], [1, 1])); // [6, 9, 11]
    g.push("pw", Op::conv2d(5, [1, 1], [1, 1], [0, 0])); // pointwise: the input is the column matrix
    g.push("c2", Op::conv2d(4, [3, 2], [2, 2], [1, 0])); // [4, 5, 5]
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 3 });
    check_model("conv2d", &g);
}

#[test]
fn recurrent_layers() {
    for (name, g) in testing::recurrent_graphs() {
        check_model(&name, &g);
    }
}

#[test]
fn some_weights_sparse_others_dense() {
    let mut g = Graph::new("x", &[9, 4]);
    g.push("gru", Op::Gru(Recurrent::new(5, true, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    let w = weights(&g, 0.9, 5);
    let mut dense = Vec::new();
    let mut csrs = Vec::new();
    for (name, (shape, values)) in &w {
        if name.ends_with("weight_hh_l0_reverse") || name == "fc.weight" {
            let (r, c) = deepiot_format::sparse::matrix_view(shape).unwrap();
            csrs.push((name, shape, Csr::from_dense(r, c, values).unwrap()));
        } else {
            dense.push(TensorData {
                name,
                shape,
                values,
            });
        }
    }
    let sparse: Vec<SparseTensorData> = csrs
        .iter()
        .map(|(name, shape, csr)| SparseTensorData { name, shape, csr })
        .collect();
    let bytes = write_sparse(&g, &BTreeMap::new(), &dense, &sparse).unwrap();
    let file = parse(&bytes).unwrap();
    assert_eq!(
        file.sparse_names().collect::<Vec<_>>(),
        ["fc.weight", "gru.weight_hh_l0_reverse"]
    );
    // Readers that do not care about storage see the dense values.
    for (name, (_, values)) in &w {
        assert_eq!(&file.tensor_f32(name).unwrap(), values, "{name}");
    }
    let x: Vec<f32> = Rng::new(3).values(36, 0.0);
    let (yd, ys) = (
        run_all(&dense_file(&g, &w), std::slice::from_ref(&x)),
        run_all(&bytes, &[x]),
    );
    assert_close("mixed storage", &yd[0], &ys[0]);
}

// ---------------------------------------------------------------------------------------
// The writer.

fn fc_graph() -> Graph {
    let mut g = Graph::new("x", &[6]);
    g.push("fc", Op::Dense { units: 4 });
    g
}

/// fc.weight [4, 6] with 9 non-zeros (row 2 empty), fc.bias [4].
fn fc_weights() -> (Vec<f32>, Vec<f32>) {
    let w = vec![
        0.5, 0.0, 0.0, -1.0, 0.0, 0.25, //
        0.0, 2.0, 0.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, //
        1.0, 1.5, -0.5, 0.0, 3.0, 0.75,
    ];
    (w, vec![0.1, -0.2, 0.3, 0.0])
}

fn fc_sparse_file() -> Vec<u8> {
    let (w, b) = fc_weights();
    let csr = Csr::from_dense(4, 6, &w).unwrap();
    let dense = [TensorData {
        name: "fc.bias",
        shape: &[4],
        values: &b,
    }];
    let sparse = [SparseTensorData {
        name: "fc.weight",
        shape: &[4, 6],
        csr: &csr,
    }];
    write_sparse(&fc_graph(), &BTreeMap::new(), &dense, &sparse).unwrap()
}

#[test]
fn writer_is_deterministic_and_leaves_dense_files_unchanged() {
    assert_eq!(fc_sparse_file(), fc_sparse_file());
    let (w, b) = fc_weights();
    let t = [
        TensorData {
            name: "fc.weight",
            shape: &[4, 6],
            values: &w,
        },
        TensorData {
            name: "fc.bias",
            shape: &[4],
            values: &b,
        },
    ];
    let g = fc_graph();
    let plain = write(&g, &BTreeMap::new(), &t).unwrap();
    assert_eq!(plain, write_sparse(&g, &BTreeMap::new(), &t, &[]).unwrap());
    assert!(!String::from_utf8_lossy(&plain).contains(SPARSE_KEY));
    let sparse = fc_sparse_file();
    assert!(String::from_utf8_lossy(&sparse).contains(SPARSE_KEY));
    let file = parse(&sparse).unwrap();
    let c = file.csr("fc.weight").unwrap();
    assert_eq!((c.rows, c.cols, c.nnz()), (4, 6, 9));
    assert_eq!(c.to_csr(), Csr::from_dense(4, 6, &w).unwrap());
    assert!(file.tensor_bytes("fc.weight").is_none());
    assert_eq!(file.tensor_f32("fc.weight").unwrap(), w);
}

#[test]
fn writer_refuses_what_the_reader_would() {
    let g = fc_graph();
    let (w, b) = fc_weights();
    let csr = Csr::from_dense(4, 6, &w).unwrap();
    let bias = TensorData {
        name: "fc.bias",
        shape: &[4],
        values: &b,
    };
    let weight = SparseTensorData {
        name: "fc.weight",
        shape: &[4, 6],
        csr: &csr,
    };
    let p = BTreeMap::new();
    // A bias cannot be sparse.
    let bias_csr = Csr::from_dense(4, 1, &b).unwrap();
    let dense_w = TensorData {
        name: "fc.weight",
        shape: &[4, 6],
        values: &w,
    };
    let sparse_bias = SparseTensorData {
        name: "fc.bias",
        shape: &[4],
        csr: &bias_csr,
    };
    assert_eq!(
        write_sparse(&g, &p, &[dense_w], &[sparse_bias]).unwrap_err(),
        FormatError::NotSparsifiable("fc.bias".into())
    );
    // Dense and sparse at once.
    assert_eq!(
        write_sparse(&g, &p, &[bias, dense_w], &[weight]).unwrap_err(),
        FormatError::UnexpectedTensor("fc.weight".into())
    );
    // A CSR of the wrong shape.
    let wrong = Csr::from_dense(6, 4, &w).unwrap();
    let e = write_sparse(
        &g,
        &p,
        &[bias],
        &[SparseTensorData {
            csr: &wrong,
            ..weight
        }],
    );
    assert!(
        matches!(e, Err(FormatError::WrongTensorShape { .. })),
        "{e:?}"
    );
    // Broken CSR arrays.
    let mut broken = csr.clone();
    broken.indices.swap(0, 1);
    let e = write_sparse(
        &g,
        &p,
        &[bias],
        &[SparseTensorData {
            csr: &broken,
            ..weight
        }],
    );
    assert!(
        matches!(e, Err(FormatError::UnsortedIndices { row: 0, .. })),
        "{e:?}"
    );
    let mut broken = csr.clone();
    broken.indptr[4] = 8;
    let e = write_sparse(
        &g,
        &p,
        &[bias],
        &[SparseTensorData {
            csr: &broken,
            ..weight
        }],
    );
    assert!(matches!(e, Err(FormatError::BadIndptr { .. })), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// Hostile files, built by hand.

/// One tensor of a hand-built file.
struct T {
    name: &'static str,
    dtype: &'static str,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// A 1-d tensor of `dtype` holding `v`, each value as its 4 little-endian bytes.
fn vector<X: Copy>(name: &'static str, dtype: &'static str, v: &[X], le: fn(X) -> [u8; 4]) -> T {
    T {
        name,
        dtype,
        shape: vec![v.len()],
        data: v.iter().flat_map(|&x| le(x)).collect(),
    }
}

fn f32s(name: &'static str, v: &[f32]) -> T {
    vector(name, "F32", v, f32::to_le_bytes)
}

fn u32s(name: &'static str, v: &[u32]) -> T {
    vector(name, "U32", v, u32::to_le_bytes)
}

fn i32s(name: &'static str, v: &[i32]) -> T {
    vector(name, "I32", v, i32::to_le_bytes)
}

/// A safetensors container with the fc graph and `sparse` as the sparse list (raw JSON;
/// `None` leaves the key out).
fn file(sparse: Option<&str>, tensors: &[T]) -> Vec<u8> {
    let esc = |s: &str| serde_json_string(s);
    let mut meta = vec![
        format!("{}:{}", esc(GRAPH_KEY), esc(&fc_graph().to_json())),
        format!("{}:{}", esc(PROVENANCE_KEY), esc("{}")),
    ];
    if let Some(s) = sparse {
        meta.push(format!("{}:{}", esc(SPARSE_KEY), esc(s)));
    }
    let mut header = format!("{{\"__metadata__\":{{{}}}", meta.join(","));
    let mut offset = 0;
    let mut data = Vec::new();
    for t in tensors {
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            esc(t.name),
            t.dtype,
            shape.join(","),
            offset,
            offset + t.data.len()
        ));
        offset += t.data.len();
        data.extend_from_slice(&t.data);
    }
    header.push('}');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The valid parts: bias, and the CSR arrays of fc.weight.
fn bias() -> T {
    f32s("fc.bias", &fc_weights().1)
}
fn values() -> T {
    f32s(
        "fc.weight.values",
        &Csr::from_dense(4, 6, &fc_weights().0).unwrap().values,
    )
}
fn indices() -> T {
    u32s("fc.weight.indices", &[0, 3, 5, 1, 0, 1, 2, 4, 5])
}
fn indptr() -> T {
    u32s("fc.weight.indptr", &[0, 3, 4, 4, 9])
}
const LIST: Option<&str> = Some("[\"fc.weight\"]");

/// [`error`] of a file with the bias and these CSR parts of fc.weight.
fn csr_error(indices: T, indptr: T, values: T) -> FormatError {
    error(&file(LIST, &[bias(), indices, indptr, values]))
}

/// The error of a tensor of `found` values where `expected` fit.
fn wrong_shape(tensor: &str, expected: usize, found: usize) -> FormatError {
    FormatError::WrongTensorShape {
        tensor: tensor.into(),
        expected: vec![expected],
        found: vec![found],
    }
}

fn error(bytes: &[u8]) -> FormatError {
    let e = parse(bytes).expect_err("the file must be refused");
    // The runtime reports the same error and does not panic.
    assert_eq!(
        Model::load(bytes).unwrap_err(),
        LoadError::Format(e.clone())
    );
    e
}

#[test]
fn the_hand_built_file_is_valid_and_equals_the_writers() {
    let bytes = file(LIST, &[bias(), indices(), indptr(), values()]);
    let f = parse(&bytes).unwrap();
    assert_eq!(f.tensor_f32("fc.weight").unwrap(), fc_weights().0);
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
    Model::load(&bytes).unwrap().run(&x, &mut a).unwrap();
    Model::load(&fc_sparse_file())
        .unwrap()
        .run(&x, &mut b)
        .unwrap();
    assert_eq!(a, b);
    // I32 index arrays (what PyTorch and SciPy write) are accepted too.
    let bytes = file(
        LIST,
        &[
            bias(),
            i32s("fc.weight.indices", &[0, 3, 5, 1, 0, 1, 2, 4, 5]),
            i32s("fc.weight.indptr", &[0, 3, 4, 4, 9]),
            values(),
        ],
    );
    let mut c = [0.0; 4];
    Model::load(&bytes).unwrap().run(&x, &mut c).unwrap();
    assert_eq!(a, c);
    // An all-zero weight: no values at all.
    let bytes = file(
        LIST,
        &[
            bias(),
            u32s("fc.weight.indices", &[]),
            u32s("fc.weight.indptr", &[0, 0, 0, 0, 0]),
            f32s("fc.weight.values", &[]),
        ],
    );
    Model::load(&bytes).unwrap().run(&x, &mut c).unwrap();
    assert_eq!(c, [0.1, -0.2, 0.3, 0.0]);
}

#[test]
fn sparse_list_that_is_not_a_list_of_names() {
    let parts = || [bias(), indices(), indptr(), values()];
    for bad in ["not json", "{\"fc.weight\":1}", "[1]", "\"fc.weight\""] {
        assert!(
            matches!(
                error(&file(Some(bad), &parts())),
                FormatError::SparseList(_)
            ),
            "{bad}"
        );
    }
    let e = error(&file(Some("[\"fc.weight\",\"fc.weight\"]"), &parts()));
    assert!(
        matches!(e, FormatError::SparseList(ref m) if m.contains("twice")),
        "{e:?}"
    );
}

#[test]
fn sparse_list_naming_a_bias_or_nothing() {
    let parts = [bias(), indices(), indptr(), values()];
    assert_eq!(
        error(&file(Some("[\"fc.bias\"]"), &parts)),
        FormatError::NotSparsifiable("fc.bias".into())
    );
    assert_eq!(
        error(&file(Some("[\"fc.weight\",\"conv.weight\"]"), &parts)),
        FormatError::NotSparsifiable("conv.weight".into())
    );
}

#[test]
fn missing_or_unexpected_parts() {
    assert_eq!(
        error(&file(LIST, &[bias(), indices(), values()])),
        FormatError::MissingTensor("fc.weight.indptr".into())
    );
    assert_eq!(
        error(&file(LIST, &[bias(), indptr(), values()])),
        FormatError::MissingTensor("fc.weight.indices".into())
    );
    assert_eq!(
        error(&file(LIST, &[bias(), indices(), indptr()])),
        FormatError::MissingTensor("fc.weight.values".into())
    );
    // The dense tensor as well as the sparse one.
    let dense = T {
        shape: vec![4, 6],
        ..f32s("fc.weight", &fc_weights().0)
    };
    assert_eq!(
        error(&file(LIST, &[bias(), indices(), indptr(), values(), dense])),
        FormatError::UnexpectedTensor("fc.weight".into())
    );
    // CSR parts without the list entry.
    let dense = T {
        shape: vec![4, 6],
        ..f32s("fc.weight", &fc_weights().0)
    };
    assert_eq!(
        error(&file(None, &[bias(), dense, values()])),
        FormatError::UnexpectedTensor("fc.weight.values".into())
    );
    assert_eq!(
        error(&file(None, &[bias(), indices(), indptr(), values()])),
        FormatError::MissingTensor("fc.weight".into())
    );
}

#[test]
fn wrong_dtypes() {
    let as_dtype = |t: T, dtype| T { dtype, ..t };
    assert!(matches!(
        csr_error(indices(), indptr(), as_dtype(values(), "I32")),
        FormatError::WrongDtype { ref tensor, .. } if tensor == "fc.weight.values"
    ));
    for dtype in ["F32", "U8", "I16"] {
        let ind = T {
            dtype,
            shape: vec![
                9 * 4
                    / if dtype == "U8" {
                        1
                    } else if dtype == "I16" {
                        2
                    } else {
                        4
                    },
            ],
            ..indices()
        };
        let e = csr_error(ind, indptr(), values());
        assert!(
            matches!(e, FormatError::WrongIndexDtype { ref tensor, .. } if tensor == "fc.weight.indices"),
            "{dtype}: {e:?}"
        );
    }
    let ptr = T {
        dtype: "I64",
        shape: vec![2],
        data: vec![0; 16],
        ..indptr()
    };
    let e = csr_error(indices(), ptr, values());
    assert!(
        matches!(e, FormatError::WrongIndexDtype { ref tensor, .. } if tensor == "fc.weight.indptr"),
        "{e:?}"
    );
}

#[test]
fn inconsistent_lengths() {
    // indptr must have rows + 1 entries.
    let e = csr_error(indices(), u32s("fc.weight.indptr", &[0, 3, 4, 9]), values());
    assert_eq!(e, wrong_shape("fc.weight.indptr", 5, 4));
    // indices and values must be as long as each other.
    let e = csr_error(
        u32s("fc.weight.indices", &[0, 3, 5, 1, 0, 1, 2, 4]),
        indptr(),
        values(),
    );
    assert_eq!(e, wrong_shape("fc.weight.indices", 9, 8));
    // values must be one-dimensional.
    let v = T {
        shape: vec![3, 3],
        ..values()
    };
    let e = csr_error(indices(), indptr(), v);
    assert!(
        matches!(e, FormatError::WrongTensorShape { ref tensor, .. } if tensor == "fc.weight.values"),
        "{e:?}"
    );
    // More values than the matrix has entries.
    let many: Vec<f32> = vec![1.0; 25];
    let idx: Vec<u32> = (0..25).map(|i| i % 6).collect();
    let e = csr_error(
        u32s("fc.weight.indices", &idx),
        u32s("fc.weight.indptr", &[0, 6, 12, 18, 25]),
        f32s("fc.weight.values", &many),
    );
    assert!(matches!(e, FormatError::TooLarge { .. }), "{e:?}");
}

#[test]
fn bad_row_pointers() {
    for (ptr, needle) in [
        (&[1u32, 3, 4, 4, 9][..], "starts at 1"),
        (&[0, 3, 2, 4, 9], "decreases"),
        (&[0, 3, 4, 4, 8], "ends at 8"),
        (&[0, 3, 4, 10, 9], "past the 9"),
        (&[0, 3, 4, 4, u32::MAX], "past the 9"),
    ] {
        let e = csr_error(indices(), u32s("fc.weight.indptr", ptr), values());
        assert!(
            matches!(e, FormatError::BadIndptr { ref tensor, ref what } if tensor == "fc.weight" && what.contains(needle)),
            "{ptr:?}: {e:?}"
        );
    }
    // Negative I32 row pointers.
    let e = csr_error(
        indices(),
        i32s("fc.weight.indptr", &[0, 3, -1, 4, 9]),
        values(),
    );
    assert!(matches!(e, FormatError::BadIndptr { .. }), "{e:?}");
}

#[test]
fn column_indices_out_of_range_or_unsorted() {
    let with = |idx: &[u32]| csr_error(u32s("fc.weight.indices", idx), indptr(), values());
    assert_eq!(
        (with(&[0, 3, 6, 1, 0, 1, 2, 4, 5])),
        FormatError::IndexOutOfRange {
            tensor: "fc.weight".into(),
            row: 0,
            index: 6,
            cols: 6
        }
    );
    assert_eq!(
        (with(&[0, 3, 5, 1, 0, 1, 2, 4, u32::MAX])),
        FormatError::IndexOutOfRange {
            tensor: "fc.weight".into(),
            row: 3,
            index: u32::MAX as i64,
            cols: 6
        }
    );
    let e = csr_error(
        i32s("fc.weight.indices", &[0, 3, 5, -2, 0, 1, 2, 4, 5]),
        indptr(),
        values(),
    );
    assert_eq!(
        e,
        FormatError::IndexOutOfRange {
            tensor: "fc.weight".into(),
            row: 1,
            index: -2,
            cols: 6
        }
    );
    assert_eq!(
        (with(&[0, 5, 3, 1, 0, 1, 2, 4, 5])),
        FormatError::UnsortedIndices {
            tensor: "fc.weight".into(),
            row: 0
        }
    );
    assert_eq!(
        (with(&[0, 3, 5, 1, 0, 1, 1, 4, 5])),
        FormatError::UnsortedIndices {
            tensor: "fc.weight".into(),
            row: 3
        }
    );
}
