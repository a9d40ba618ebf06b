//! `scripts/reproduce.py --quick`: the committed recipes' tiny variant runs the whole
//! pipeline (profile, train, then two comparisons of a latency-aware DeepIoT and a
//! baseline sharing one cache: the headline over two seeds and a Pareto sweep over two
//! targets, timed in the i686 runtime) and says how long each step took. It runs on whatever data the
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
        "mnist-lenet5: headline",
        "mnist-lenet5: pareto",
        "total",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(step) && l.ends_with(" s")),
            "no wall time for `{step}`:\n{stdout}"
        );
    }
    let report = |name: &str| -> serde_json::Value {
        let path = out.path().join(format!("mnist-lenet5/{name}/report.json"));
        serde_json::from_slice(&std::fs::read(&path).expect("report.json")).unwrap()
    };
    // (method, target, seed, source) of every result.
    let rows = |json: &serde_json::Value| -> Vec<(String, f64, Option<u64>, String)> {
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r["latency_us"].as_f64().unwrap() > 0.0, "{r}");
                (
                    r["method"].as_str().unwrap().to_string(),
                    r["target"].as_f64().unwrap(),
                    r["seed"].as_u64(),
                    r["source"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let headline = rows(&report("headline"));
    let expect =
        |m: &str, t: f64, s: Option<u64>, src: &str| (m.to_string(), t, s, src.to_string());
    assert_eq!(
        headline,
        [
            expect("deepiot", 0.3, Some(1), "run"),
            expect("deepiot", 0.3, Some(2), "run"),
            expect("l1-structured", 0.3, Some(1), "run"),
            expect("l1-structured", 0.3, Some(2), "run"),
        ]
    );
    // The sweep finds the headline's first seed in the shared cache.
    let pareto = rows(&report("pareto"));
    assert_eq!(
        pareto,
        [
            expect("deepiot", 0.3, None, "cached"),
            expect("deepiot", 0.5, None, "run"),
            expect("l1-structured", 0.3, None, "cached"),
            expect("l1-structured", 0.5, None, "run"),
        ]
    );
    let md = std::fs::read_to_string(out.path().join("mnist-lenet5/headline/report.md")).unwrap();
    assert!(md.contains("Mean ± standard deviation over seeds"), "{md}");
    // The latency file the recipe's DeepIoT run was priced by.
    assert!(out.path().join("latency.json").exists());
}
