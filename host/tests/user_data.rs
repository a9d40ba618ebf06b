//! Users' own data folders (`--data DIR` with `.npy` or CSV files): what loads, every bad
//! input's own error (naming the file and the index), the model checked against the data,
//! and a short `train` + `compress` + `eval` + `compare` on a generated folder, with no
//! `--task` anywhere.
use deepiot::data::user::{self, Expect};
use deepiot::data::DataError;
use deepiot::export;
use deepiot::models::Net;
use deepiot::rng::Rng;
use deepiot_format::{Graph, Op};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes a version-1.0 `.npy` file: `descr`, `shape` and the raw little-endian data.
fn write_npy_raw(path: &Path, descr: &str, fortran: bool, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

fn write_f32(path: &Path, shape: &[usize], values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy_raw(path, "<f4", false, shape, &bytes);
}

fn write_i64(path: &Path, values: &[i64]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy_raw(path, "<i8", false, &[values.len()], &bytes);
}

/// `n` examples of `[2, 3]`: class `c` of 3 lifts features `2c` and `2c + 1`.
fn examples(n: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Rng::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = (i * 7 + seed as usize) % 3;
        x.extend((0..6).map(|j| f32::from(u8::from(j / 2 == c)) + rng.uniform(-0.4, 0.4)));
        y.push(c as i64);
    }
    (x, y)
}

/// A `.npy` user folder with `train` and `test` examples of shape `[2, 3]`, 3 classes.
fn npy_folder(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (split, n, seed) in [("train", train, 1), ("test", test, 2)] {
        let (x, y) = examples(n, seed);
        write_f32(&dir.join(format!("{split}_x.npy")), &[n, 2, 3], &x);
        write_i64(&dir.join(format!("{split}_y.npy")), &y);
    }
}

/// The same data as CSV, the label in column `activity` as a class name.
fn csv_folder(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let names = ["sit", "walk", "run"];
    std::fs::write(dir.join("classes.txt"), names.join("\n") + "\n").unwrap();
    for (split, n, seed) in [("train", train, 1), ("test", test, 2)] {
        let (x, y) = examples(n, seed);
        let mut text = String::from("f0,f1,f2,activity,f3,f4,f5\n");
        for (row, label) in x.chunks(6).zip(&y) {
            let v: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            text += &format!(
                "{},{},{},{},{},{},{}\n",
                v[0], v[1], v[2], names[*label as usize], v[3], v[4], v[5]
            );
        }
        std::fs::write(dir.join(format!("{split}.csv")), text).unwrap();
    }
}

/// A small classifier for `[2, 3]` inputs and 3 classes, its provenance naming no task
/// (as an imported model's).
fn user_model(path: &Path, input: &[usize], classes: usize) {
    let mut g = Graph::new("x", input);
    if input.len() > 1 {
        g.push("flat", Op::Flatten);
    }
    g.push("fc1", Op::Dense { units: 24 });
    g.push("a1", Op::Relu);
    g.push("fc2", Op::Dense { units: 16 });
    g.push("a2", Op::Relu);
    g.push("fc3", Op::Dense { units: classes });
    let net = Net::new(&g, 5).unwrap();
    let mut prov = BTreeMap::new();
    prov.insert("source".to_string(), "test".to_string());
    export::save(&net, &prov, path).unwrap();
}

fn expect() -> Expect {
    Expect {
        input: vec![2, 3],
        classes: 3,
    }
}

fn load_err(dir: &Path) -> (DataError, String) {
    let e = user::load(dir, "label", Some(&expect())).unwrap_err();
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn a_npy_folder_loads_as_it_is() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 30, 9);
    assert!(user::is_user_folder(t.path()));
    let ds = user::load(t.path(), "label", None).unwrap();
    assert_eq!(ds.shape, vec![2, 3]);
    assert_eq!((ds.train_len(), ds.test_len()), (30, 9));
    assert_eq!(ds.classes, vec!["0", "1", "2"]);
    let (x, y) = examples(30, 1);
    assert_eq!(ds.train_x, x, "the values are taken as they are");
    assert_eq!(ds.train_y, y.iter().map(|&v| v as u32).collect::<Vec<_>>());
    assert!(ds.input_norm.mean.iter().all(|&m| m == 0.0));
    assert!(ds.input_norm.std.iter().all(|&s| s == 1.0));
    // Byte labels and classes.txt.
    write_npy_raw(
        &t.path().join("test_y.npy"),
        "|u1",
        false,
        &[9],
        &[0, 1, 2, 3, 0, 1, 2, 3, 0],
    );
    std::fs::write(t.path().join("classes.txt"), "a\nb\nc\nd\n").unwrap();
    let ds = user::load(t.path(), "label", None).unwrap();
    assert_eq!(ds.classes, vec!["a", "b", "c", "d"]);
    assert_eq!(ds.test_y[3], 3);
}

#[test]
fn a_csv_folder_takes_the_named_label_column_and_the_models_shape() {
    let t = tempfile::tempdir().unwrap();
    csv_folder(t.path(), 20, 6);
    let flat = user::load(t.path(), "activity", None).unwrap();
    assert_eq!(flat.shape, vec![6]);
    assert_eq!(flat.classes, vec!["sit", "walk", "run"]);
    let (x, y) = examples(20, 1);
    assert_eq!(
        flat.train_y,
        y.iter().map(|&v| v as u32).collect::<Vec<_>>()
    );
    for (a, b) in flat.train_x.iter().zip(&x) {
        assert!((a - b).abs() < 1e-6, "{a} {b}");
    }
    // A flat row takes the model's shape when the number of values agrees.
    let shaped = user::load(t.path(), "activity", Some(&expect())).unwrap();
    assert_eq!(shaped.shape, vec![2, 3]);
    assert_eq!(shaped.train_x, flat.train_x);
    // The default label column is `label`, which this folder does not have.
    let e = user::load(t.path(), "label", None).unwrap_err().to_string();
    assert!(
        e.contains("train.csv") && e.contains("`label`") && e.contains("activity"),
        "{e}"
    );
}

#[test]
fn nan_and_infinite_inputs_name_the_file_and_the_index() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 10, 5);
    let (mut x, _) = examples(10, 1);
    x[4 * 6 + 5] = f32::NAN;
    write_f32(&t.path().join("train_x.npy"), &[10, 2, 3], &x);
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::NotFinite { .. }), "{e:?}");
    assert!(msg.contains("train_x.npy") && msg.contains("NaN"), "{msg}");
    assert!(
        msg.contains("[4, 1, 2]") && msg.contains("example 4"),
        "{msg}"
    );

    npy_folder(t.path(), 10, 5);
    let (mut x, _) = examples(5, 2);
    x[7] = f32::NEG_INFINITY;
    write_f32(&t.path().join("test_x.npy"), &[5, 2, 3], &x);
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::NotFinite { .. }), "{e:?}");
    assert!(
        msg.contains("test_x.npy") && msg.contains("-inf") && msg.contains("[1, 0, 1]"),
        "{msg}"
    );

    let c = tempfile::tempdir().unwrap();
    csv_folder(c.path(), 10, 5);
    let text = std::fs::read_to_string(c.path().join("train.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
    cells[5] = "inf".into();
    lines[3] = cells.join(",");
    std::fs::write(c.path().join("train.csv"), lines.join("\n")).unwrap();
    let e = user::load(c.path(), "activity", None).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DataError::NotFinite { .. }), "{e:?}");
    assert!(
        msg.contains("train.csv") && msg.contains("row 2") && msg.contains("`f4`"),
        "{msg}"
    );
}

#[test]
fn a_label_out_of_range_names_the_file_the_index_and_the_class_count() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 10, 5);
    // Against the model's 3 outputs.
    write_i64(&t.path().join("test_y.npy"), &[0, 1, 2, 0, 3]);
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::LabelOutOfRange { .. }), "{e:?}");
    assert!(
        msg.contains("test_y.npy") && msg.contains("label 3 at index 4"),
        "{msg}"
    );
    assert!(
        msg.contains("3 classes") && msg.contains("outputs"),
        "{msg}"
    );
    // Negative, without a model.
    write_i64(&t.path().join("test_y.npy"), &[0, -1, 2, 0, 1]);
    let e = user::load(t.path(), "label", None).unwrap_err().to_string();
    assert!(
        e.contains("test_y.npy") && e.contains("label -1 at index 1"),
        "{e}"
    );
    // Against classes.txt.
    write_i64(&t.path().join("test_y.npy"), &[0, 1, 2, 0, 1]);
    std::fs::write(t.path().join("classes.txt"), "a\nb\n").unwrap();
    let e = user::load(t.path(), "label", None).unwrap_err().to_string();
    assert!(
        e.contains("train_y.npy") && e.contains("classes.txt lists 2"),
        "{e}"
    );
    // A CSV label that is neither a class index nor a name, and one out of range.
    let c = tempfile::tempdir().unwrap();
    csv_folder(c.path(), 10, 5);
    let text = std::fs::read_to_string(c.path().join("test.csv")).unwrap();
    std::fs::write(
        c.path().join("test.csv"),
        text.replacen(",walk,", ",jump,", 1),
    )
    .unwrap();
    let e = user::load(c.path(), "activity", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("test.csv") && e.contains("`jump`") && e.contains("line"),
        "{e}"
    );
    std::fs::write(c.path().join("test.csv"), text.replacen(",walk,", ",7,", 1)).unwrap();
    let e = user::load(c.path(), "activity", None).unwrap_err();
    assert!(matches!(e, DataError::LabelOutOfRange { .. }), "{e:?}");
    assert!(e.to_string().contains("label 7 at row"), "{e}");
}

#[test]
fn different_numbers_of_inputs_and_labels_are_refused() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 10, 5);
    write_i64(&t.path().join("train_y.npy"), &[0; 9]);
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::RowMismatch { .. }), "{e:?}");
    assert!(
        msg.contains("train_x.npy has 10 examples") && msg.contains("train_y.npy has 9"),
        "{msg}"
    );
}

#[test]
fn wrong_dtypes_and_fortran_order_are_refused() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 4, 2);
    write_npy_raw(
        &t.path().join("train_x.npy"),
        "<f8",
        false,
        &[4, 2, 3],
        &[0; 4 * 6 * 8],
    );
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::Dtype { .. }), "{e:?}");
    assert!(
        msg.contains("train_x.npy") && msg.contains("<f8") && msg.contains("float32"),
        "{msg}"
    );

    npy_folder(t.path(), 4, 2);
    write_f32(&t.path().join("test_y.npy"), &[2], &[0.0, 1.0]);
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::Dtype { .. }), "{e:?}");
    assert!(
        msg.contains("test_y.npy") && msg.contains("<f4") && msg.contains("integers"),
        "{msg}"
    );

    npy_folder(t.path(), 4, 2);
    write_npy_raw(
        &t.path().join("train_x.npy"),
        "<f4",
        true,
        &[4, 2, 3],
        &[0; 4 * 6 * 4],
    );
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::Npy { .. }), "{e:?}");
    assert!(
        msg.contains("train_x.npy") && msg.contains("Fortran"),
        "{msg}"
    );
}

#[test]
fn an_empty_split_is_refused() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 4, 2);
    write_f32(&t.path().join("test_x.npy"), &[0, 2, 3], &[]);
    write_i64(&t.path().join("test_y.npy"), &[]);
    let (e, msg) = load_err(t.path());
    assert!(matches!(e, DataError::EmptySplit { .. }), "{e:?}");
    assert!(
        msg.contains("test_x.npy") && msg.contains("test split is empty"),
        "{msg}"
    );

    let c = tempfile::tempdir().unwrap();
    csv_folder(c.path(), 4, 2);
    std::fs::write(c.path().join("train.csv"), "f0,f1,f2,activity,f3,f4,f5\n").unwrap();
    let e = user::load(c.path(), "activity", None).unwrap_err();
    assert!(matches!(e, DataError::EmptySplit { .. }), "{e:?}");
    assert!(e.to_string().contains("train.csv"), "{e}");
}

#[test]
fn shapes_that_disagree_name_both_shapes() {
    let t = tempfile::tempdir().unwrap();
    npy_folder(t.path(), 4, 2);
    // The model against the data.
    let wrong = Expect {
        input: vec![1, 28, 28],
        classes: 3,
    };
    let e = user::load(t.path(), "label", Some(&wrong))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[1, 28, 28]") && e.contains("[2, 3]"), "{e}");
    // The model's classes against classes.txt.
    std::fs::write(t.path().join("classes.txt"), "a\nb\nc\nd\n").unwrap();
    let (_, msg) = load_err(t.path());
    assert!(
        msg.contains("classes.txt") && msg.contains("4 classes") && msg.contains("3 outputs"),
        "{msg}"
    );
    std::fs::remove_file(t.path().join("classes.txt")).unwrap();
    // Test against train.
    let (x, _) = examples(2, 2);
    write_f32(&t.path().join("test_x.npy"), &[2, 6], &x);
    let e = user::load(t.path(), "label", None).unwrap_err().to_string();
    assert!(
        e.contains("test_x.npy") && e.contains("[6]") && e.contains("[2, 3]"),
        "{e}"
    );
    // A file missing, and both forms at once.
    std::fs::remove_file(t.path().join("test_x.npy")).unwrap();
    let e = user::load(t.path(), "label", None).unwrap_err().to_string();
    assert!(e.contains("test_x.npy is missing"), "{e}");
    npy_folder(t.path(), 4, 2);
    std::fs::write(t.path().join("train.csv"), "a,label\n1,0\n").unwrap();
    let e = user::load(t.path(), "label", None).unwrap_err().to_string();
    assert!(e.contains("both"), "{e}");
}

fn deepiot(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deepiot"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `train` and `compress` on a user folder from the command line, no `--task`: the
/// settings are printed, the model fits the data or says why not, and the compressed
/// model is smaller and still classifies; `eval` and `compare` take the same folder.
#[test]
fn train_compress_eval_and_compare_on_a_user_folder() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    npy_folder(&data, 300, 90);
    let init = t.path().join("init.safetensors");
    user_model(&init, &[2, 3], 3);
    let trained = t.path().join("trained.safetensors");

    // Without a model, or with a built-in task besides the folder: refused, saying why.
    let (ok, text) = deepiot(&["train", "--data", s(&data), "-o", s(&trained)]);
    assert!(!ok && text.contains("--init"), "{text}");
    let (ok, text) = deepiot(&[
        "train",
        "--task",
        "mnist",
        "--data",
        s(&data),
        "--init",
        s(&init),
        "-o",
        s(&trained),
    ]);
    assert!(!ok && text.contains("leave out --task"), "{text}");
    // A model whose input does not fit the data.
    let wrong = t.path().join("wrong.safetensors");
    user_model(&wrong, &[7], 3);
    let (ok, text) = deepiot(&[
        "train",
        "--data",
        s(&data),
        "--init",
        s(&wrong),
        "-o",
        s(&trained),
    ]);
    assert!(
        !ok && text.contains("[7]") && text.contains("[2, 3]"),
        "{text}"
    );

    let (ok, text) = deepiot(&[
        "train",
        "--data",
        s(&data),
        "--init",
        s(&init),
        "--epochs",
        "8",
        "--lr",
        "0.01",
        "-o",
        s(&trained),
    ]);
    assert!(ok, "{text}");
    // The user-data defaults, printed.
    assert!(
        text.contains("batch 64") && text.contains("augmentation none"),
        "{text}"
    );
    assert!(
        text.contains("held out 30 of the 300 training examples"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(trained.with_extension("report.json")).unwrap())
            .unwrap();
    let acc = report["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "the user model did not learn: {acc}");
    let (_, prov) = export::load(&trained).unwrap();
    assert_eq!(prov.get("data").map(String::as_str), Some("user"));
    assert!(!prov.contains_key("task"));

    // eval needs the folder, and then gives the same accuracy.
    let (ok, text) = deepiot(&["eval", s(&trained)]);
    assert!(!ok && text.contains("--data"), "{text}");
    let acc_eval = deepiot::train::eval(&deepiot::train::EvalConfig {
        model: trained.clone(),
        data: Some(data.clone()),
        ..Default::default()
    })
    .unwrap();
    assert!((acc_eval - acc).abs() < 1e-9, "{acc_eval} against {acc}");

    let small = t.path().join("small.safetensors");
    let (ok, text) = deepiot(&[
        "compress",
        s(&trained),
        "--data",
        s(&data),
        "--target-kept",
        "0.3",
        "--period",
        "20",
        "--delta",
        "0.05",
        "--eval-every",
        "50",
        "--max-iterations",
        "1500",
        "--critic-lr",
        "0.001",
        "--compressor-lr",
        "0.003",
        "--hidden",
        "16",
        "--finetune-epochs",
        "3",
        "-o",
        s(&small),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("no built-in recipe"), "{text}");
    assert!(
        text.contains("held-out scoring on 30 of the 300 training examples"),
        "{text}"
    );
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(small.with_extension("report.json")).unwrap())
            .unwrap();
    let kept = r["kept_fraction"].as_f64().unwrap();
    let after = r["test_accuracy_after"].as_f64().unwrap();
    assert!(kept <= 0.3, "kept {kept}");
    assert!(
        after > acc - 0.1,
        "accuracy {acc} -> {after} at {kept} kept"
    );
    assert_eq!(r["task"], "user");

    // compare, without timings, on the same folder.
    let cmp = deepiot::compare::run(&deepiot::compare::CompareConfig {
        model: Some(trained.clone()),
        data: Some(data.clone()),
        methods: vec![deepiot::compress::Method::L1Structured],
        targets: vec![0.3],
        finetune_epochs: 1,
        no_bench: true,
        out: t.path().join("cmp"),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(cmp.task, "user");
    assert_eq!(cmp.test_examples, 90);
    assert!((cmp.original.test_accuracy - acc).abs() < 1e-9);
    assert!(cmp.results[0].kept_fraction <= 0.3);
}

/// The CSV form trains too, its flat rows taking the model's `[2, 3]`.
#[test]
fn the_csv_form_trains_from_the_command_line() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    csv_folder(&data, 120, 30);
    let init = t.path().join("init.safetensors");
    user_model(&init, &[2, 3], 3);
    let out: PathBuf = t.path().join("t.safetensors");
    let (ok, text) = deepiot(&[
        "train",
        "--data",
        s(&data),
        "--label-column",
        "activity",
        "--init",
        s(&init),
        "--epochs",
        "2",
        "-o",
        s(&out),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("120 train / 30 test examples of [2, 3]"),
        "{text}"
    );
}
