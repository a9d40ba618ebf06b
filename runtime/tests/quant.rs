//! int8 weights: a model's int8 file runs close to the f32 file of the weights it stands
//! for (the dequantized ones), in every layer that has a weight matrix; the file is about a
//! quarter of the f32 one; the loader keeps a recurrent direction f32 when only one of its
//! matrices is int8; and every way an int8 tensor can lie is refused with its own error.
use deepiot_format::testing::{self, Tensors};
use deepiot_format::{
    parse, write_stored, FormatError, Graph, Op, QuantTensorData, Quantized, Recurrent, SeqOutput,
    TensorData, QUANT_KEY,
};
use deepiot_runtime::{LoadError, Model};
use std::collections::BTreeMap;

fn run(bytes: &[u8], x: &[f32]) -> Vec<f32> {
    let mut m = Model::load(bytes).unwrap();
    let mut y = vec![0.0; m.output_len(0)];
    m.run(x, &mut y).unwrap();
    y
}

/// The weights an int8 file stands for: every matrix quantized and dequantized.
fn dequantized(w: &Tensors) -> Tensors {
    w.iter()
        .map(|(name, (shape, values))| {
            let v = match deepiot_format::sparse::matrix_view(shape) {
                Some((r, c)) => Quantized::from_dense(r, c, values).unwrap().to_dense(),
                None => values.clone(),
            };
            (name.clone(), (shape.clone(), v))
        })
        .collect()
}

/// The int8 model against the f32 model of its dequantized weights: the only difference
/// left is the 16-bit rounding of each layer's input.
fn check_model(name: &str, g: &Graph) {
    let w = testing::random_weights(g, 0x1234);
    let q = testing::quant_model_file(g, &w);
    let f = testing::model_file(g, &dequantized(&w), &BTreeMap::new());
    let n: usize = g.inputs[0].shape.iter().product();
    for seed in 0..3 {
        let x = testing::random_input(seed, n);
        let (yq, yf) = (run(&q, &x), run(&f, &x));
        let peak = yf.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in yq.iter().zip(&yf).enumerate() {
            assert!(
                (a - b).abs() <= 2e-3 * peak.max(1e-3),
                "{name}: output {i}: int8 {a} vs f32 {b} (peak {peak})"
            );
        }
    }
    let (mq, mf) = (Model::load(&q).unwrap(), Model::load(&f).unwrap());
    assert_eq!(mq.param_count(), mf.param_count(), "{name}: parameters");
    assert!(
        mq.weight_bytes() < mf.weight_bytes(),
        "{name}: int8 is smaller in memory"
    );
    assert!(mq.qscratch_bytes() > 0, "{name}: runs its int8 kernels");
}

// Every dense and conv layer below has rows of at least `MIN_ROW` (32) values, so all of
// them run the int8 kernels; shorter ones run f32 (`short_rows_run_f32`).

#[test]
fn dense_layers() {
    let mut g = Graph::new("x", &[37]);
    g.push("fc1", Op::Dense { units: 40 });
    g.push("relu", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    check_model("dense 37-40-3", &g);
    let mut g = Graph::new("x", &[7, 33]);
    g.push("fc", Op::Dense { units: 5 });
    check_model("dense over 7 rows", &g);
}

#[test]
fn conv_layers() {
    let mut g = Graph::new("x", &[12, 23]);
    g.push("c1", Op::conv1d(12, 4, 1, 1)); // rows of 48
    g.push("c2", Op::conv1d(11, 3, 2, 0)); // 36
    g.push("c3", Op::conv1d(3, 3, 2, 2)); // 33, padding on both sides with a stride
    check_model("conv1d", &g);
    let mut g = Graph::new("x", &[4, 9, 11]);
    g.push("c1", Op::conv2d(32, [3, 3], [1, 1], [1, 1])); // 36
    g.push("pw", Op::conv2d(6, [1, 1], [1, 1], [0, 0])); // 32, pointwise
    g.push("c2", Op::conv2d(4, [3, 2], [2, 2], [1, 0])); // 36
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 3 });
    check_model("conv2d", &g);
}

/// Rows under `MIN_ROW` run f32 on the dequantized weights: the f32 file's result.
#[test]
fn short_rows_run_f32() {
    let mut g = Graph::new("x", &[3, 9, 11]);
    g.push("c1", Op::conv2d(6, [3, 3], [1, 1], [1, 1])); // rows of 27
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 3 }); // 594: int8
    let w = testing::random_weights(&g, 8);
    let q = testing::quant_model_file(&g, &w);
    let f = testing::model_file(&g, &dequantized(&w), &BTreeMap::new());
    let x = testing::random_input(2, 297);
    let (yq, yf) = (run(&q, &x), run(&f, &x));
    for (a, b) in yq.iter().zip(&yf) {
        assert!((a - b).abs() <= 2e-3 * b.abs().max(1.0), "{a} vs {b}");
    }
    let mut g = Graph::new("x", &[20]);
    g.push("fc", Op::Dense { units: 3 });
    let w = testing::random_weights(&g, 8);
    let q = testing::quant_model_file(&g, &w);
    let f = testing::model_file(&g, &dequantized(&w), &BTreeMap::new());
    let x = testing::random_input(2, 20);
    assert_eq!(
        run(&q, &x),
        run(&f, &x),
        "an all-f32 int8 file is its f32 file"
    );
    assert_eq!(Model::load(&q).unwrap().qscratch_bytes(), 0);
}

#[test]
fn recurrent_layers() {
    for (name, g) in testing::recurrent_graphs() {
        check_model(&name, &g);
    }
}

#[test]
fn an_int8_file_is_about_a_quarter_and_reads_back_dequantized() {
    let mut g = Graph::new("x", &[64]);
    g.push("fc1", Op::Dense { units: 200 });
    g.push("fc2", Op::Dense { units: 10 });
    let w = testing::random_weights(&g, 9);
    let q = testing::quant_model_file(&g, &w);
    let f = testing::model_file(&g, &w, &BTreeMap::new());
    let ratio = q.len() as f64 / f.len() as f64;
    assert!(ratio < 0.3, "int8 file is {ratio:.3} of the f32 one");
    let file = parse(&q).unwrap();
    assert_eq!(
        file.quant_names().collect::<Vec<_>>(),
        ["fc1.weight", "fc2.weight"]
    );
    for (name, (_, values)) in dequantized(&w) {
        assert_eq!(file.tensor_f32(&name).unwrap(), values, "{name}");
    }
}

/// Only `weight_ih` of the GRU int8: that direction runs f32, on the dequantized values.
#[test]
fn a_recurrent_direction_with_one_int8_matrix_runs_f32() {
    let mut g = Graph::new("x", &[6, 4]);
    g.push("gru", Op::Gru(Recurrent::new(5, false, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    let w = testing::random_weights(&g, 3);
    let name = "gru.weight_ih_l0";
    let (shape, values) = &w[name];
    let quant = Quantized::from_dense(shape[0], shape[1], values).unwrap();
    let dense: Vec<TensorData> = w
        .iter()
        .filter(|(n, _)| *n != name)
        .map(|(n, (s, v))| TensorData {
            name: n,
            shape: s,
            values: v,
        })
        .collect();
    let q = [QuantTensorData {
        name,
        shape,
        quant: &quant,
    }];
    let bytes = write_stored(&g, &BTreeMap::new(), &dense, &[], &q).unwrap();
    let mut wd = w.clone();
    wd.get_mut(name).unwrap().1 = quant.to_dense();
    let f = testing::model_file(&g, &wd, &BTreeMap::new());
    let x = testing::random_input(1, 24);
    let (yq, yf) = (run(&bytes, &x), run(&f, &x));
    for (a, b) in yq.iter().zip(&yf) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
    assert_eq!(Model::load(&bytes).unwrap().qscratch_bytes(), 0);
}

/// Rewrites one tensor entry or the int8 list of a valid int8 file, then parses it.
fn tampered(edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>)) -> FormatError {
    let mut g = Graph::new("x", &[4]);
    g.push("fc", Op::Dense { units: 2 });
    let w = testing::random_weights(&g, 1);
    let bytes = testing::quant_model_file(&g, &w);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(&bytes[8 + n..]);
    let e = parse(&out).unwrap_err();
    assert!(matches!(Model::load(&out), Err(LoadError::Format(_))));
    e
}

fn data_of(bytes: &[u8], tensor: &str) -> (usize, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let o = &header[tensor]["data_offsets"];
    (
        8 + n + o[0].as_u64().unwrap() as usize,
        8 + n + o[1].as_u64().unwrap() as usize,
    )
}

/// Corrupts the data of a valid int8 file (the header unchanged).
fn corrupted(tensor: &str, at: usize, bytes_in: &[u8]) -> FormatError {
    let mut g = Graph::new("x", &[4]);
    g.push("fc", Op::Dense { units: 2 });
    let w = testing::random_weights(&g, 1);
    let mut bytes = testing::quant_model_file(&g, &w);
    let (start, _) = data_of(&bytes, tensor);
    bytes[start + at..start + at + bytes_in.len()].copy_from_slice(bytes_in);
    assert!(Model::load(&bytes).is_err());
    parse(&bytes).unwrap_err()
}

#[test]
fn lying_int8_tensors_are_refused() {
    // Values: -128 is outside the symmetric range.
    let e = corrupted("fc.weight.q", 3, &[0x80]);
    assert!(format!("{e}").contains("-128"), "{e}");
    // Scales: zero, negative, infinite, NaN.
    for bad in [0f32, -0.5, f32::INFINITY, f32::NAN] {
        let e = corrupted("fc.weight.scale", 4, &bad.to_le_bytes());
        assert!(matches!(e, FormatError::BadQuant { .. }), "{bad}: {e}");
    }
    // The values as F32, or the scales as I8.
    let e = tampered(|h| {
        h["fc.weight.q"]["dtype"] = "U8".into();
    });
    assert!(matches!(e, FormatError::WrongDtype { .. }), "{e}");
    // Scales of the wrong length (the data offsets cover a shorter tensor).
    let e = tampered(|h| {
        h["fc.weight.scale"]["shape"] = serde_json::json!([1]);
        let o = h["fc.weight.scale"]["data_offsets"].clone();
        let start = o[0].as_u64().unwrap();
        h["fc.weight.scale"]["data_offsets"] = serde_json::json!([start, start + 4]);
    });
    assert!(
        matches!(
            e,
            FormatError::WrongTensorShape { .. } | FormatError::Container(_)
        ),
        "{e}"
    );
    // A bias listed as int8, a name listed twice, a list that is not a list.
    let list = |v: serde_json::Value| {
        move |h: &mut serde_json::Map<String, serde_json::Value>| {
            h["__metadata__"][QUANT_KEY] = v.to_string().into();
        }
    };
    let e = tampered(list(serde_json::json!(["fc.weight", "fc.bias"])));
    assert!(matches!(e, FormatError::NotQuantizable(_)), "{e}");
    let e = tampered(list(serde_json::json!(["fc.weight", "fc.weight"])));
    assert!(matches!(e, FormatError::QuantList(_)), "{e}");
    let e = tampered(list(serde_json::json!({"fc.weight": 1})));
    assert!(matches!(e, FormatError::QuantList(_)), "{e}");
    // The int8 tensors present but not listed: they are tensors no layer uses.
    let e = tampered(|h| {
        h["__metadata__"].as_object_mut().unwrap().remove(QUANT_KEY);
    });
    assert!(
        matches!(
            e,
            FormatError::MissingTensor(_) | FormatError::UnexpectedTensor(_)
        ),
        "{e}"
    );
}
