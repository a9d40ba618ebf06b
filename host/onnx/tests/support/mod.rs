//! What the engine tests share: the Python with onnxruntime, `.npy` files, running a batch
//! through onnxruntime and through our runtime, and the agreement check.
//!
//! The engine is onnxruntime, from Python (`scripts/onnx-run.py`): its wheel installs in
//! seconds (`python3 -m venv` + `pip install onnxruntime numpy`: 19.4 s measured on the
//! 2-core dev machine, 71 s while other builds loaded it), where a Rust engine would be
//! compiled in every CI run: a debug build of tract-onnx 0.21 in a scratch crate took
//! 157 s of CPU (64 min of wall time, niced on the loaded machine), and candle-onnx
//! brings protoc and the candle stack.
//! scripts/test.sh makes the venv and exports `DEEPIOT_ONNX_PYTHON`; without it the tests
//! skip with one line (or fail under `DEEPIOT_REQUIRE_TOOLS=1`).
#![allow(dead_code)] // each test binary uses its own part of this module

use deepiot_board::testing::require;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Agreement asked of onnxruntime and our runtime: relative, with an absolute floor for
/// values near zero (`|a - b| <= REL * max(|b|, FLOOR)`).
pub const REL: f32 = 1e-5;
/// Below this magnitude the tolerance stops shrinking (so it is `REL * FLOOR` absolute).
pub const FLOOR: f32 = 0.1;

/// Examples per batch.
pub const BATCH: usize = 4;

/// The environment variable naming the Python that has numpy and onnxruntime.
pub const PYTHON_ENV: &str = "DEEPIOT_ONNX_PYTHON";

/// The workspace root (this crate is `<root>/host/onnx`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `python` can import numpy and onnxruntime.
fn has_onnxruntime(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import numpy, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The first Python with numpy and onnxruntime: `$DEEPIOT_ONNX_PYTHON`, the venv
/// scripts/test.sh makes (`~/.cache/deepiot/onnx-venv`), then `python3`.
fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if has_onnxruntime(&p) {
            Ok(p)
        } else {
            Err(format!(
                "{PYTHON_ENV}={} cannot import numpy and onnxruntime",
                p.display()
            ))
        };
    }
    let venv = deepiot_board::paths::cache_home().map(|c| c.join("onnx-venv/bin/python"));
    venv.into_iter()
        .chain([PathBuf::from("python3")])
        .find(|p| has_onnxruntime(p))
        .ok_or_else(|| "no Python with numpy and onnxruntime".to_string())
}

/// The Python to run `scripts/onnx-run.py` with, or `None` after the skip line (a
/// failure under `DEEPIOT_REQUIRE_TOOLS=1`).
#[track_caller]
pub fn python(test: &str) -> Option<&'static Path> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PY.get_or_init(find_python) {
        Ok(p) => Some(p),
        Err(reason) => {
            require::need(
                test,
                false,
                reason,
                &format!(
                    "run scripts/test.sh, or `pip install onnxruntime numpy` and set {PYTHON_ENV}"
                ),
            );
            None
        }
    }
}

pub use deepiot_format::testing::npy_bytes;

/// The shape and values of a float32 C-order `.npy` file (versions 1 to 3).
pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x93NUMPY"),
        "{}: not .npy",
        path.display()
    );
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).expect("npy header");
    assert!(header.contains("'<f4'"), "{}: {header}", path.display());
    assert!(header.contains("'fortran_order': False"), "{header}");
    let dims = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("npy shape");
    let shape: Vec<usize> = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().expect("npy dimension"))
        .collect();
    let values: Vec<f32> = bytes[start + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>(), "npy length");
    (shape, values)
}

/// A batch for every graph input of `model`: `(shape with the batch axis, values)`.
pub fn random_batch(model: &[u8], seed: u64) -> Vec<(Vec<usize>, Vec<f32>)> {
    let m = deepiot_runtime::Model::load(model).expect("the model loads in the runtime");
    (0..m.input_count())
        .map(|i| {
            let shape: Vec<usize> = std::iter::once(BATCH)
                .chain(m.input_shape(i).iter().copied())
                .collect();
            let n = shape.iter().product();
            (
                shape,
                deepiot_format::testing::random_input(seed + i as u64, n),
            )
        })
        .collect()
}

/// Our runtime (the library the board binary is built from) on every example of the
/// batch: output 0, examples back to back.
pub fn runtime_outputs(model: &[u8], batch: &[(Vec<usize>, Vec<f32>)]) -> Vec<f32> {
    let mut m = deepiot_runtime::Model::load(model).expect("the model loads in the runtime");
    assert_eq!(
        m.output_count(),
        1,
        "the engine tests use single-output graphs"
    );
    let mut all = Vec::new();
    for e in 0..BATCH {
        let inputs: Vec<&[f32]> = batch
            .iter()
            .map(|(shape, v)| {
                let per: usize = shape[1..].iter().product();
                &v[e * per..(e + 1) * per]
            })
            .collect();
        let mut y = vec![0.0; m.output_len(0)];
        m.run_multi(&inputs, &mut [&mut y])
            .expect("runtime inference");
        all.extend(y);
    }
    all
}

/// onnxruntime on the batch, through `scripts/onnx-run.py`: output 0 with its shape.
pub fn onnxruntime_outputs(
    python: &Path,
    onnx: &[u8],
    batch: &[(Vec<usize>, Vec<f32>)],
) -> (Vec<usize>, Vec<f32>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, onnx).expect("writing model.onnx");
    let mut cmd = Command::new(python);
    cmd.arg(workspace_root().join("scripts/onnx-run.py"))
        .arg(&model);
    for (i, (shape, values)) in batch.iter().enumerate() {
        let p = dir.path().join(format!("input{i}.npy"));
        std::fs::write(&p, npy_bytes(shape, values)).expect("writing an input");
        cmd.arg(p);
    }
    let out = dir.path().join("output.npy");
    cmd.arg(&out);
    let shown = format!("{cmd:?}");
    let run = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    assert!(
        run.status.success(),
        "{shown} failed ({}):\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    read_npy(&out)
}

/// The largest difference between `got` and `want`, absolute and as a multiple of the
/// tolerance at that value.
pub fn largest_difference(got: &[f32], want: &[f32]) -> (f32, f32) {
    got.iter()
        .zip(want)
        .map(|(a, b)| {
            let d = (a - b).abs();
            (d, d / (REL * b.abs().max(FLOOR)))
        })
        .fold((0.0, 0.0), |(d, r), (d2, r2)| (d.max(d2), r.max(r2)))
}

/// Asserts that `got` (the engine) matches `want` (our runtime) within the tolerance,
/// and prints the largest difference.
pub fn assert_agree(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: number of output values");
    assert!(
        got.iter().chain(want).all(|v| v.is_finite()),
        "{what}: non-finite outputs"
    );
    let (abs, ratio) = largest_difference(got, want);
    eprintln!(
        "{what}: {} values, largest |onnxruntime - deepiot| = {abs:.3e} ({:.2} of the tolerance)",
        got.len(),
        ratio
    );
    assert!(
        ratio <= 1.0,
        "{what}: onnxruntime and deepiot differ by {abs:e}, more than {REL:e} relative \
         (floor {FLOOR})\n  onnxruntime: {got:?}\n  deepiot:     {want:?}"
    );
}

/// Exports `model`, runs a random batch through onnxruntime (with `py`, see [`python`])
/// and our runtime, and asserts that they agree and that onnxruntime gives the batched
/// output shape; `test` names the case in messages.
pub fn check_model(py: &Path, test: &str, model: &[u8], seed: u64) {
    let onnx = deepiot_onnx::export::export_bytes(model)
        .unwrap_or_else(|e| panic!("{test}: export failed: {e}"));
    let batch = random_batch(model, seed);
    let want = runtime_outputs(model, &batch);
    let (shape, got) = onnxruntime_outputs(py, &onnx, &batch);
    let m = deepiot_runtime::Model::load(model).expect("model loads");
    let expected_shape: Vec<usize> = std::iter::once(BATCH)
        .chain(m.output_shape(0).iter().copied())
        .collect();
    assert_eq!(shape, expected_shape, "{test}: onnxruntime's output shape");
    assert_agree(test, &got, &want);
}
