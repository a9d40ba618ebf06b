//! The board binary refuses inputs that hold NaN or infinity (exit 4, naming the example
//! and the element), so a sensor that fails that way gets an error instead of a confident
//! class; `--allow-nonfinite` runs them anyway. Checked on the real static i686 build.
use deepiot_tests::{i686_runtime, lenet5_random, npy_bytes, random_input, raw_f32_bytes};
use std::process::{Command, Output};

fn run(dir: &std::path::Path, input: &str, extra: &[&str]) -> (Output, String) {
    let out = Command::new(i686_runtime())
        .arg(dir.join("lenet5.safetensors"))
        .arg("--input")
        .arg(dir.join(input))
        .args(extra)
        .output()
        .expect("deepiot-run starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

#[test]
fn nan_and_infinity_are_refused_with_their_place_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lenet5.safetensors"), lenet5_random(3)).unwrap();
    // A sensor that sends NaN everywhere (the case that used to print a class).
    std::fs::write(dir.path().join("nan.f32"), raw_f32_bytes(&[f32::NAN; 784])).unwrap();
    // Three good examples, one infinity in the second one at element 5.
    let mut x = random_input(9, 3 * 784);
    x[784 + 5] = f32::INFINITY;
    std::fs::write(dir.path().join("inf.npy"), npy_bytes(&[3, 1, 28, 28], &x)).unwrap();

    let (out, err) = run(dir.path(), "nan.f32", &[]);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(out.stdout.is_empty(), "no scores may be printed");
    assert!(
        err.contains("example 0, element 0 is NaN") && err.contains("--allow-nonfinite"),
        "{err}"
    );

    let (out, err) = run(dir.path(), "inf.npy", &["--json"]);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("example 1, element 5 is inf"), "{err}");

    // Opting out runs them, as before.
    for (input, n) in [("nan.f32", 1), ("inf.npy", 3)] {
        let (out, err) = run(dir.path(), input, &["--allow-nonfinite", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{input}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["examples"].as_array().map(Vec::len), Some(n), "{v}");
    }

    // Finite inputs are untouched by the check.
    x[784 + 5] = 0.5;
    std::fs::write(dir.path().join("ok.npy"), npy_bytes(&[3, 1, 28, 28], &x)).unwrap();
    let (out, err) = run(dir.path(), "ok.npy", &[]);
    assert_eq!(out.status.code(), Some(0), "{err}");
}
