//! The contract between the board runtime and the host: what the real i686 `deepiot-run`
//! prints with `--json` parses into the host's one reader (`deepiot::runtime_json`), with
//! every field present and the figures the host relies on consistent with the model.
use deepiot::runtime_json::{bench_local, classify_local};
use deepiot_tests::{host_scores, i686_runtime, lenet5_random, npy_bytes, random_input};

#[test]
fn bench_and_run_reports_parse_into_the_hosts_types() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("lenet5.safetensors");
    let bytes = lenet5_random(5);
    std::fs::write(&model, &bytes).unwrap();
    let x = random_input(11, 4 * 784);
    let inputs = dir.path().join("x.npy");
    std::fs::write(&inputs, npy_bytes(&[4, 1, 28, 28], &x)).unwrap();

    let bench = bench_local(i686_runtime(), &model, 20, 2).expect("bench report parses");
    assert_eq!((bench.iterations, bench.warmup), (20, 2));
    assert_eq!((bench.params, bench.macs), (431_080, 2_293_000));
    assert_eq!(bench.file_bytes, bytes.len() as u64);
    assert_eq!(bench.allocations, 0);
    assert!(
        bench.min_us <= bench.p50_us && bench.p50_us <= bench.max_us,
        "{bench:?}"
    );
    assert!(!bench.debug_build);

    let run = classify_local(i686_runtime(), &model, &inputs).expect("run report parses");
    let expected: Vec<u64> = host_scores(&bytes, &x)
        .iter()
        .map(|s| deepiot_tests::argmax(s) as u64)
        .collect();
    let got: Vec<Option<u64>> = run.examples.iter().map(|e| e.class).collect();
    assert_eq!(got, expected.iter().map(|&c| Some(c)).collect::<Vec<_>>());
    let labels: Vec<u32> = expected.iter().map(|&c| c as u32).collect();
    assert_eq!(run.accuracy(&labels), 1.0);
}
