//! What `deepiot_onnx::export` writes, checked without an engine: the opset, the dynamic
//! batch axis, the metadata, the recurrent operators' attributes and layouts; and the
//! errors for files it cannot export.
use deepiot_format::testing::{model_file, random_model, random_weights};
use deepiot_format::{reference, Graph, Op, Recurrent, SeqOutput};
use deepiot_onnx::export::{export_bytes, ExportError, CLASSES_KEY, IR_VERSION, OPSET};
use deepiot_onnx::proto::tensor_shape_proto::dimension::Value as Dim;
use deepiot_onnx::proto::{type_proto, AttributeProto, ModelProto, NodeProto, ValueInfoProto};
use prost::Message;

fn exported(model: &[u8]) -> ModelProto {
    let bytes = export_bytes(model).expect("export");
    ModelProto::decode(bytes.as_slice()).expect("the export decodes")
}

fn dims(v: &ValueInfoProto) -> Vec<Dim> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.clone())
    else {
        panic!("{v:?} is not a tensor");
    };
    let shape = t.shape.expect("a shape");
    shape
        .dim
        .into_iter()
        .map(|d| d.value.expect("a dim"))
        .collect()
}

fn op_types(nodes: &[NodeProto]) -> Vec<&str> {
    nodes
        .iter()
        .map(|n| n.op_type.as_deref().unwrap_or(""))
        .collect()
}

#[test]
fn opset_batch_axis_and_metadata() {
    let model = exported(&random_model(&reference::branched(), 1));
    assert_eq!(model.ir_version, Some(IR_VERSION));
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!(model.opset_import[0].domain.as_deref(), Some(""));
    assert_eq!(model.opset_import[0].version, Some(OPSET));
    let graph = model.graph.as_ref().expect("a graph");
    assert_eq!(graph.input.len(), 1);
    assert_eq!(graph.input[0].name.as_deref(), Some("signal"));
    let n = Dim::DimParam("N".into());
    assert_eq!(
        dims(&graph.input[0]),
        [n.clone(), Dim::DimValue(2), Dim::DimValue(64)]
    );
    assert_eq!(graph.output[0].name.as_deref(), Some("probs"));
    assert_eq!(dims(&graph.output[0]), [n, Dim::DimValue(4)]);
    let meta = |k: &str| {
        model
            .metadata_props
            .iter()
            .find(|p| p.key.as_deref() == Some(k))
            .and_then(|p| p.value.clone())
    };
    assert_eq!(
        meta(CLASSES_KEY).as_deref(),
        Some(r#"["idle","walk","run","fall"]"#)
    );
    assert_eq!(
        meta("deepiot.provenance").as_deref(),
        Some(r#"{"generator":"deepiot-tests","seed":"1"}"#)
    );
    // Every value is produced once, and every node reads only what exists before it.
    let mut known: Vec<String> = graph.input.iter().filter_map(|i| i.name.clone()).collect();
    known.extend(graph.initializer.iter().filter_map(|t| t.name.clone()));
    for node in &graph.node {
        for i in node.input.iter().filter(|i| !i.is_empty()) {
            assert!(known.contains(i), "{node:?} reads {i} before it exists");
        }
        for o in node.output.iter().filter(|o| !o.is_empty()) {
            assert!(!known.contains(o), "{o} is written twice");
            known.push(o.clone());
        }
    }
    // The same model gives the same bytes.
    let again = export_bytes(&random_model(&reference::branched(), 1)).expect("export");
    assert_eq!(again, model.encode_to_vec());
}

#[test]
fn recurrent_layers_use_the_onnx_operators_and_layouts() {
    let mut g = Graph::new("x", &[7, 3]);
    g.push(
        "lstm",
        Op::Lstm(Recurrent::new(4, false, SeqOutput::Sequence)),
    );
    g.push("gru", Op::Gru(Recurrent::new(5, true, SeqOutput::Mean)));
    let model = exported(&random_model(&g, 2));
    let graph = model.graph.expect("a graph");
    assert_eq!(
        op_types(&graph.node),
        [
            "Transpose",
            "LSTM",
            "Transpose",
            "Reshape", // lstm
            "Transpose",
            "GRU",
            "Transpose",
            "Reshape",
            "ReduceMean", // gru
        ]
    );
    let lstm = &graph.node[1];
    assert_eq!(attr(lstm, "direction").s.as_deref(), Some(&b"forward"[..]));
    assert_eq!(lstm.output, ["lstm/Y"]);
    let gru = &graph.node[5];
    assert_eq!(attr(gru, "linear_before_reset").i, Some(1));
    assert_eq!(attr(gru, "hidden_size").i, Some(5));
    assert_eq!(
        attr(gru, "direction").s.as_deref(),
        Some(&b"bidirectional"[..])
    );
    assert_eq!(attr(&graph.node[8], "axes").ints, [1]);
    let shape = |name: &str| {
        graph
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .map(|t| t.dims.clone())
            .unwrap_or_else(|| panic!("no initializer {name}"))
    };
    assert_eq!(shape("lstm.W"), [1, 16, 3]);
    assert_eq!(shape("lstm.R"), [1, 16, 4]);
    assert_eq!(shape("lstm.B"), [1, 32]);
    assert_eq!(shape("gru.W"), [2, 15, 4]);
    assert_eq!(shape("gru.R"), [2, 15, 5]);
    assert_eq!(shape("gru.B"), [2, 30]);

    // The last state: only Y_h is asked for, then [D, N, H] -> [N, D, H] -> [N, D*H].
    let mut g = Graph::new("x", &[7, 3]);
    g.push("lstm", Op::Lstm(Recurrent::new(4, true, SeqOutput::Last)));
    let graph = exported(&random_model(&g, 3)).graph.expect("a graph");
    assert_eq!(
        op_types(&graph.node),
        ["Transpose", "LSTM", "Transpose", "Reshape"]
    );
    assert_eq!(graph.node[1].output, ["", "lstm/Y_h"]);
    assert_eq!(attr(&graph.node[2], "perm").ints, [1, 0, 2]);
}

fn attr(node: &NodeProto, name: &str) -> AttributeProto {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} missing on {node:?}"))
}

#[test]
fn corrupt_files_get_the_format_error() {
    let good = random_model(&reference::lenet5_mnist(), 3);
    let cases: [(&str, &[u8]); 3] = [
        ("truncated", &good[..good.len() / 2]),
        ("empty", &[]),
        ("not safetensors", b"this is not a model file at all"),
    ];
    for (what, bytes) in cases {
        match export_bytes(bytes) {
            Err(e @ ExportError::Format(_)) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with("not a valid deepiot model"),
                    "{what}: {msg}"
                );
            }
            other => panic!("{what}: expected a format error, got {other:?}"),
        }
    }
}

#[test]
fn a_layer_named_like_a_tensor_is_refused() {
    // Valid for deepiot (the relu has no tensors), but `fc.bias` would name both the
    // dense layer's bias and the relu's output in ONNX.
    let mut g = Graph::new("x", &[4]);
    g.push("fc", Op::Dense { units: 3 });
    g.push("fc.bias", Op::Relu);
    let model = model_file(&g, &random_weights(&g, 4), &Default::default());
    deepiot_format::parse(&model).expect("a valid deepiot model");
    match export_bytes(&model) {
        Err(ExportError::NameClash(name)) => assert_eq!(name, "fc.bias"),
        other => panic!("expected a name clash, got {other:?}"),
    }
}
