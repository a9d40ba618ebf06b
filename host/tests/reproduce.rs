//! `scripts/reproduce.py --quick`: the committed recipes' tiny variant runs the whole
//! pipeline (profile, train, compare with a latency-aware DeepIoT and a baseline, timed
//! in the i686 runtime) and says how long each step took. It runs on whatever data the
//! CLI finds: the full MNIST in CI, the bundled subset in a fresh clone.
use std::path::Path;
use std::process::Command;

#[test]
fn the_quick_reproduction_runs_every_step_and_writes_the_comparison() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("python3")
        .arg(root.join("scripts/reproduce.py"))
        .args(["--quick", "--out"])
        .arg(out.path())
        .args(["--deepiot", env!("CARGO_BIN_EXE_deepiot")])
        .output()
        .expect("python3 runs (scripts/reproduce.py needs Python 3.11 for tomllib)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "reproduce.py failed:\n{stdout}\n{stderr}"
    );
    for step in [
        "profile",
        "mnist-lenet5: train",
        "mnist-lenet5: compare",
        "total",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(step) && l.ends_with(" s")),
            "no wall time for `{step}`:\n{stdout}"
        );
    }
    let report = out.path().join("mnist-lenet5/compare/report.json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report.json")).unwrap();
    let results = json["results"].as_array().unwrap();
    let methods: Vec<&str> = results
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["deepiot", "l1-structured"], "{json}");
    for r in results {
        assert!(r["latency_us"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The latency file the recipe's DeepIoT run was priced by.
    assert!(out.path().join("latency.json").exists());
}
