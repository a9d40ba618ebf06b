//! The starting inputs of each target: valid files of every kind the parser accepts,
//! made here (models, `.npy`, an image) or taken from the repository's fixtures (ONNX
//! exports) and from what a board really printed (replies).
use super::Target;
use deepiot_board::board::image::{build, BuildSpec, SelfTestSettings};
use deepiot_board::board::target;
use deepiot_format::testing::{npy_bytes, random_model, random_weights, sparse_model_file};
use deepiot_format::{Graph, Op, Pool1d, Recurrent, SeqOutput};
use std::collections::BTreeMap;

/// Valid inputs of `target`.
pub fn seeds(target: Target) -> Vec<Vec<u8>> {
    match target {
        Target::Model => models(),
        Target::Npy => vec![
            npy_bytes(&[3, 64], &vec![0.5; 192]),
            npy_bytes(&[2, 4], &[1.0, -2.0, 3.5, 0.0, 1e-3, 7.0, -1.0, 2.0]),
            npy_bytes(&[1], &[1.0]),
        ],
        Target::Image => vec![image()],
        Target::BoardReply => REPLIES.iter().map(|r| r.as_bytes().to_vec()).collect(),
        Target::Onnx => ONNX.iter().map(|b| b.to_vec()).collect(),
    }
}

fn models() -> Vec<Vec<u8>> {
    let mut cnn = Graph::new("x", &[3, 32]);
    cnn.push("conv", Op::conv1d(4, 5, 1, 2));
    cnn.push("relu", Op::Relu);
    cnn.push(
        "pool",
        Op::MaxPool1d(Pool1d {
            kernel: 2,
            stride: 2,
        }),
    );
    cnn.push("flat", Op::Flatten);
    cnn.push("fc", Op::Dense { units: 3 });
    let mut cnn2 = Graph::new("x", &[1, 8, 8]);
    cnn2.push("conv", Op::conv2d(2, [3, 3], [1, 1], [1, 1]));
    cnn2.push("flat", Op::Flatten);
    cnn2.push("fc", Op::Dense { units: 2 });
    let mut gru = Graph::new("x", &[8, 5]);
    gru.push("gru", Op::Gru(Recurrent::new(6, false, SeqOutput::Last)));
    gru.push("fc", Op::Dense { units: 3 });
    gru.push("sm", Op::Softmax);
    let mut lstm = Graph::new("x", &[7, 4]);
    lstm.push(
        "lstm",
        Op::Lstm(Recurrent::new(5, true, SeqOutput::Sequence)),
    );
    lstm.push("tanh", Op::Tanh);
    lstm.push("flat", Op::Flatten);
    lstm.push("fc", Op::Dense { units: 2 });
    let mut cat = Graph::new("x", &[3, 16]);
    cat.push_from("a", &["x"], Op::conv1d(4, 3, 1, 1));
    cat.push_from("b", &["x"], Op::conv1d(2, 5, 1, 2));
    cat.push_from("cat", &["a", "b", "x"], Op::Concat { axis: 0 });
    cat.push("perm", Op::Permute { perm: vec![1, 0] });
    cat.push("r", Op::Reshape { shape: vec![144] });
    cat.push("fc", Op::Dense { units: 3 });
    let mut sparse = Graph::new("x", &[12]);
    sparse.push("fc1", Op::Dense { units: 8 });
    sparse.push("fc2", Op::Dense { units: 3 });
    let mut sparse_w = random_weights(&sparse, 3);
    deepiot_format::testing::zero_fraction(&mut sparse_w, 0.7, 3);
    let mut out: Vec<Vec<u8>> = [cnn, cnn2, gru, lstm, cat]
        .iter()
        .map(|g| random_model(g, 1))
        .collect();
    out.push(sparse_model_file(&sparse, &sparse_w));
    out
}

fn image() -> Vec<u8> {
    let t = target::load("edison", None).expect("targets/edison.toml");
    let spec = BuildSpec {
        target: &t,
        runtime: b"\x7fELF stand-in runtime".to_vec(),
        runtime_path: None,
        models: vec![("m".into(), models().swap_remove(0))],
        version: Some("fuzz-1.0".into()),
        config: [("sample_hz".to_string(), "100".to_string())].into(),
        examples: 2,
        seed: 1,
        golden: BTreeMap::new(),
        settings: SelfTestSettings {
            atol: 1e-4,
            rtol: 1e-3,
        },
        selftest: false,
        source_date_epoch: Some(1_700_000_000),
    };
    build(&spec).expect("a fuzz seed image builds")
}

/// What boards printed: the probe, a status file, `deepiot-run bench --json` and
/// `deepiot-run MODEL --input ... --json` (a self-test's output).
const REPLIES: &[&str] = &[
    "@arch i686\n@active b\n@staged 9dfe59889ef8c8c77715b27ebf593c19686f6a34cd56cae69bb19da2a1f30b88\n\
     @df\nFilesystem 1K-blocks Used Available Use% Mounted on\n/dev/root 1000000 250000 750000 25% /\n@end\n\
     @status\nop=flash\nresult=ok\nslot=b\nversion=sensor6-2.0\n@end\n\
     @info b\nversion=sensor6-2.0\nkind=image\n@end\n\
     @sums b\nec18df0250b853151cb507070ae8d5837402b77717ec0862b031546e60b78d1f  deepiot-run\n@end\n\
     @missing sha256sum\n@nodir\n",
    "op=flash\nresult=ok\nslot=b\nversion=sensor6-2.0\n\
     image_sha256=007a9e0af9ebe89d68749de554226f00163a0de3c62dfb7c1f9e7bbb0c61f181\n\
     at=2026-12-03T07:04:42Z\nmessage=flashed sensor6-2.0 into slot b; self-test passed\n",
    "@bench 0\n{\"model\":\"cnn1d.final2.safetensors\",\"iterations\":50,\"warmup\":2,\"seed\":42,\
     \"file_bytes\":3512,\"weight_bytes\":1568,\"arena_bytes\":6144,\"params\":392,\"nonzeros\":392,\
     \"macs\":11616,\"unit\":\"us\",\"mean_us\":8.142,\"std_us\":17.595,\"p50_us\":5.618,\
     \"p99_us\":131.306,\"min_us\":5.148,\"max_us\":131.306,\"throughput_per_s\":122228.469,\
     \"load_ms\":0.398,\"peak_rss_kib\":536,\"allocations\":0,\"allocated_bytes\":0,\
     \"debug_build\":false}\n@failed 1 3\n",
    "@selftest cnn1d\n{\"model\": \"cnn1d.final2.safetensors\", \"inputs\": [{\"name\": \"x\", \
     \"shape\": [3, 64], \"file\": \"x300.npy\"}], \"outputs\": [{\"name\": \"fc2\", \"shape\": [6]}], \
     \"classes\": [], \"examples\": [{\"index\": 0, \"scores\": [-2.5634508, 0.8370969, -4.6573534, \
     -0.9834438, -3.0019906, -8.020876], \"class\": 1, \"label\": null}]}\n@selftest-failed gru 4\n",
];

/// Exports by PyTorch (both exporters) and TensorFlow, from the import tests' fixtures.
const ONNX: &[&[u8]] = &[
    include_bytes!("../../host/onnx/tests/fixtures/cnn1d.dynamo-dyn.onnx"),
    include_bytes!("../../host/onnx/tests/fixtures/cnn2d.legacy-nofold.onnx"),
    include_bytes!("../../host/onnx/tests/fixtures/gru.legacy-dyn.onnx"),
    include_bytes!("../../host/onnx/tests/fixtures/bilstm.dynamo-b1.onnx"),
    include_bytes!("../../host/onnx/tests/fixtures/bigru_mean.dynamo-dyn.onnx"),
    include_bytes!("../../host/onnx/tests/fixtures/tf_cnn1d.onnx"),
];
