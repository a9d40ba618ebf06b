//! Every way an import is refused: an unsupported op, a dynamic input shape (and
//! `--input-shape` fixing it), a corrupt or truncated file, an op whose attributes have
//! no equivalent, an opset out of range. The bad models are written here with the
//! `proto` messages, or cut from a fixture.
mod common;

use common::{fixture, read_npy_f32};
use deepiot_onnx::import::{import, ImportError, ImportOptions};
use deepiot_onnx::proto::{
    tensor_shape_proto::{dimension, Dimension},
    type_proto, AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;

/// A float input or output with these axes (`None`: a named, dynamic axis).
fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .enumerate()
        .map(|(i, d)| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam(format!("d{i}")),
            }),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: None,
        }),
        doc_string: None,
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        attribute: attrs,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn weight(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        name: Some(name.into()),
        raw_data: Some(
            (0..n)
                .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
                .collect(),
        ),
        ..Default::default()
    }
}

/// A model reading `x` of shape `input` and writing `y`.
fn model(
    opset: i64,
    input: &[Option<i64>],
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        producer_name: Some("test".into()),
        graph: Some(GraphProto {
            node: nodes,
            name: Some("g".into()),
            initializer: inits,
            input: vec![value_info("x", input)],
            output: vec![value_info("y", &[None])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn relu_model(input: &[Option<i64>]) -> Vec<u8> {
    model(
        17,
        input,
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![],
    )
}

#[test]
fn an_unsupported_op_is_named_with_its_node_and_the_supported_list() {
    let bytes = model(
        17,
        &[None, Some(4)],
        vec![
            node("Relu", "r", &["x"], &["h"], vec![]),
            node("LeakyRelu", "act_7", &["h"], &["y"], vec![]),
        ],
        vec![],
    );
    let err = import(&bytes, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ImportError::UnsupportedOp { op, node } if op == "LeakyRelu" && node == "act_7"),
        "{err:?}"
    );
    let msg = err.to_string();
    for want in ["LeakyRelu", "act_7", "Conv", "GRU", "Gemm"] {
        assert!(msg.contains(want), "{msg}");
    }
}

#[test]
fn a_dynamic_input_shape_is_refused_unless_given() {
    let bytes = relu_model(&[None, None, Some(8)]);
    let err = import(&bytes, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::DynamicInput { .. }), "{err:?}");
    assert!(err.to_string().contains("--input-shape"), "{err}");
    // The batch alone may be dynamic.
    assert!(import(
        &relu_model(&[None, Some(3), Some(8)]),
        &ImportOptions::default()
    )
    .is_ok());
    let given = |s: &[usize]| ImportOptions {
        input_shape: Some(s.to_vec()),
    };
    let ok = import(&bytes, &given(&[5, 8])).unwrap();
    assert_eq!(ok.graph.inputs[0].shape, vec![5, 8]);
    // A given shape must agree with the fixed axes and the rank.
    for bad in [&[5, 9][..], &[5, 8, 1]] {
        let err = import(&bytes, &given(bad)).unwrap_err();
        assert!(
            matches!(err, ImportError::InputShapeMismatch { .. }),
            "{err:?}"
        );
    }
}

/// A real GRU export whose step count was made dynamic: refused as it is, and with
/// `--input-shape` it imports and still gives onnxruntime's outputs.
#[test]
fn input_shape_fixes_a_dynamic_sequence_length() {
    let bytes = std::fs::read(fixture("gru.legacy-dyn.onnx")).unwrap();
    let mut m = ModelProto::decode(bytes.as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    let x = g
        .input
        .iter_mut()
        .find(|i| i.name.as_deref() == Some("x"))
        .unwrap();
    let Some(type_proto::Value::TensorType(t)) = x.r#type.as_mut().unwrap().value.as_mut() else {
        panic!("input x is not a tensor");
    };
    t.shape.as_mut().unwrap().dim[2].value = Some(dimension::Value::DimParam("steps".into()));
    let bytes = m.encode_to_vec();
    let err = import(&bytes, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::DynamicInput { .. }), "{err:?}");
    assert!(err.to_string().contains("steps"), "{err}");
    let opts = ImportOptions {
        input_shape: Some(vec![3, 64]),
    };
    let imported = import(&bytes, &opts).unwrap();
    let mut rt = deepiot_runtime::Model::load(&imported.bytes).unwrap();
    let (_, x) = read_npy_f32("gru.inputs.npy");
    let (_, want) = read_npy_f32("gru.legacy-dyn.outputs.npy");
    let mut out = vec![0f32; 6];
    rt.run(&x[..192], &mut out).unwrap();
    for (a, e) in out.iter().zip(&want[..6]) {
        assert!(
            (a - e).abs() <= 1e-5 * e.abs().max(1.0),
            "{out:?} vs {:?}",
            &want[..6]
        );
    }
}

#[test]
fn corrupt_or_truncated_files_are_clear_errors() {
    let good = std::fs::read(fixture("cnn1d.dynamo-dyn.onnx")).unwrap();
    assert!(import(&good, &ImportOptions::default()).is_ok());
    for cut in [1, 10, good.len() / 3, good.len() / 2, good.len() - 1] {
        let err = import(&good[..cut], &ImportOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ImportError::Decode(_) | ImportError::NoGraph | ImportError::Malformed(_)
            ),
            "cut at {cut}: {err:?}"
        );
        assert!(!msg.is_empty());
    }
    assert!(matches!(
        import(b"", &ImportOptions::default()).unwrap_err(),
        ImportError::NoGraph
    ));
    let text = b"this is a text file, not an ONNX model\n";
    let err = import(text, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(err, ImportError::Decode(_) | ImportError::NoGraph),
        "{err:?}"
    );
    assert!(err.to_string().contains("ONNX"), "{err}");
}

#[test]
fn a_weight_shorter_than_its_shape_is_malformed() {
    let mut w = weight("fc.weight", &[6, 4]);
    w.raw_data.as_mut().unwrap().truncate(40);
    let bytes = model(
        17,
        &[None, Some(4)],
        vec![node(
            "Gemm",
            "fc",
            &["x", "fc.weight"],
            &["y"],
            vec![int("transB", 1)],
        )],
        vec![w],
    );
    let err = import(&bytes, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("fc.weight"), "{err}");
}

#[test]
fn an_opset_out_of_range_is_refused() {
    let err = import(
        &model(
            9,
            &[None, Some(4)],
            vec![node("Relu", "r", &["x"], &["y"], vec![])],
            vec![],
        ),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::Opset { found: 9 }), "{err:?}");
}

/// Ops that are supported, with attributes the layer list cannot express, are refused
/// with the node and the reason.
#[test]
fn unmappable_attributes_are_refused_with_the_reason() {
    let check = |bytes: Vec<u8>, node_name: &str, reason: &str| {
        let err = import(&bytes, &ImportOptions::default()).unwrap_err();
        match &err {
            ImportError::Unmappable {
                node, reason: r, ..
            } => {
                assert_eq!(node, node_name);
                assert!(r.contains(reason), "{err}");
            }
            _ => panic!("{err:?}"),
        }
    };
    // A padded pool.
    check(
        model(
            17,
            &[None, Some(2), Some(8)],
            vec![node(
                "MaxPool",
                "pool",
                &["x"],
                &["y"],
                vec![ints("kernel_shape", &[3]), ints("pads", &[1, 1])],
            )],
            vec![],
        ),
        "pool",
        "no padding",
    );
    // A GRU in ONNX's default form, which is not PyTorch's (batch-first layout here).
    let gru = |lbr: i64| {
        model(
            17,
            &[None, Some(5), Some(3)],
            vec![node(
                "GRU",
                "rnn",
                &["x", "W", "R"],
                &["", "y"],
                vec![
                    int("hidden_size", 4),
                    int("linear_before_reset", lbr),
                    int("layout", 1),
                ],
            )],
            vec![weight("W", &[1, 12, 3]), weight("R", &[1, 12, 4])],
        )
    };
    check(gru(0), "rnn", "linear_before_reset");
    // With linear_before_reset=1 the same layer imports, as its final state.
    let ok = import(&gru(1), &ImportOptions::default()).unwrap();
    assert_eq!(ok.graph.nodes[0].op.kind(), "gru");
    // Two runtime values added together (a residual connection).
    check(
        model(
            17,
            &[None, Some(4)],
            vec![
                node("Relu", "r", &["x"], &["h"], vec![]),
                node("Add", "sum", &["x", "h"], &["y"], vec![]),
            ],
            vec![],
        ),
        "sum",
        "two runtime values",
    );
    // A grouped convolution.
    check(
        model(
            17,
            &[None, Some(4), Some(8)],
            vec![node(
                "Conv",
                "dw",
                &["x", "W"],
                &["y"],
                vec![int("group", 4)],
            )],
            vec![weight("W", &[4, 1, 3])],
        ),
        "dw",
        "group",
    );
}

/// A Keras 3 GRU converted by tf2onnx is a `Loop` over the steps (control flow, no layer
/// equivalent): the refusal names the Loop, not the first op of its condition.
#[test]
fn a_recurrent_layer_exported_as_a_loop_is_refused_naming_the_loop() {
    let bytes = std::fs::read(fixture("tf_gru.onnx")).unwrap();
    let err = import(&bytes, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(&err, ImportError::UnsupportedOp { op, .. } if op == "Loop"),
        "{err:?}"
    );
    assert!(err.to_string().contains("GRU"), "{err}");
}
