//! `deepiot-board profile` end to end: the real i686 runtime timed over the quick grid,
//! a latency file written and read back, and a whole network predicted.
use deepiot_board::latency::LatencyModel;
use deepiot_board::testing::i686_runtime;
use std::process::Command;

#[test]
fn quick_profile_writes_a_model_that_predicts_a_network() {
    let dir = tempfile::tempdir().expect("temp dir");
    let net = dir.path().join("lenet5.safetensors");
    let graph = deepiot_format::reference::lenet5(10);
    std::fs::write(&net, deepiot_format::testing::random_model(&graph, 5)).unwrap();
    let out = dir.path().join("edison.latency.json");
    let run = Command::new(env!("CARGO_BIN_EXE_deepiot-board"))
        .arg("profile")
        .arg("--runtime")
        .arg(i686_runtime())
        .args(["--quick", "--iterations", "20", "-o"])
        .arg(&out)
        .arg("--check")
        .arg(&net)
        .output()
        .expect("runs deepiot-board");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let model = LatencyModel::read(&out).expect("a latency file");
    for kind in [
        "conv",
        "dense",
        "recurrent",
        "max_pool_2x2",
        "relu",
        "softmax",
    ] {
        let k = model
            .kinds
            .get(kind)
            .unwrap_or_else(|| panic!("no `{kind}` in {:?}", model.kinds.keys()));
        assert_eq!(k.coef.len(), k.features.len(), "{kind}");
        assert!(k.coef.iter().all(|&c| c >= 0.0), "{kind}: {:?}", k.coef);
    }
    // The check row: a rough quick fit, but the right order of magnitude.
    let predicted = model
        .network_us(&graph)
        .expect("every LeNet-5 kind is modelled");
    let row = stdout
        .lines()
        .find(|l| l.contains("lenet5.safetensors"))
        .unwrap_or_else(|| panic!("no check row in:\n{stdout}"));
    let measured: f64 = row
        .split('|')
        .nth(3)
        .and_then(|c| c.trim().trim_end_matches("µs").trim().parse().ok())
        .unwrap_or_else(|| panic!("no measured p50 in `{row}`"));
    assert!(
        predicted > measured / 3.0 && predicted < measured * 3.0,
        "predicted {predicted} µs, measured {measured} µs"
    );
    assert!(stdout.contains("largest error"), "{stdout}");
}
