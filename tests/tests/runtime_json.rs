//! The contract between the board runtime and the host: what the real i686 `deepiot-run`
//! prints with `--json` (run, bench and info) parses into the shared report types
//! (`deepiot_format::report`, re-exported by the host's `deepiot::runtime_json`), with
//! every field present and the figures consistent with the model.
use deepiot::runtime_json::{bench_local, classify_local, info_local, Storage};
use deepiot_tests::{host_scores, i686_runtime, lenet5_random, npy_bytes, random_input};

#[test]
fn run_bench_and_info_reports_parse_into_the_shared_types() {
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
    assert_eq!(run.model, model.display().to_string());
    assert_eq!(run.inputs[0].shape, [1, 28, 28]);
    assert_eq!(run.inputs[0].file, inputs.display().to_string());
    assert_eq!(
        (run.outputs.len(), run.outputs[0].shape.as_slice()),
        (1, &[10][..])
    );
    assert_eq!(run.classes.len(), 10);
    for (e, ex) in run.examples.iter().enumerate() {
        assert_eq!(ex.index, e as u64);
        assert_eq!(ex.scores.len(), 10);
        let class = ex.class.expect("finite scores have a class") as usize;
        assert_eq!(ex.label.as_deref(), Some(run.classes[class].as_str()));
        assert_eq!(ex.other_outputs, None, "a single-output model");
    }

    let info = info_local(i686_runtime(), &model).expect("info report parses");
    assert_eq!(info.format_version, deepiot_format::FORMAT_VERSION);
    assert_eq!((info.params, info.macs), (bench.params, bench.macs));
    assert_eq!(info.file_bytes, bytes.len() as u64);
    assert_eq!(info.arena_bytes, bench.arena_bytes);
    assert_eq!(info.layers.len(), 8);
    assert_eq!(
        info.layers.iter().map(|l| l.params).sum::<u64>(),
        info.params
    );
    assert_eq!(info.layers.iter().map(|l| l.macs).sum::<u64>(), info.macs);
    assert_eq!(info.layers[0].op, "conv2d");
    assert_eq!(info.tensors.len(), 8);
    assert!(info
        .tensors
        .iter()
        .all(|t| t.storage == Storage::Dense && t.density > 0.99));
    assert_eq!(info.nonzeros, bench.nonzeros);
    assert_eq!(info.provenance.get("seed").map(String::as_str), Some("5"));
}
