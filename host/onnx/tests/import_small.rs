//! Small hand-written graphs for forms the PyTorch fixtures do not emit: `Gemm` with
//! `transB=0`, `alpha` and `beta`, then `Softmax`, checked against the formula.
use deepiot_onnx::import::{import, ImportOptions};
use deepiot_onnx::proto::{
    tensor_shape_proto::{dimension, Dimension},
    type_proto, AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;

fn info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => dimension::Value::DimValue(*v),
                                None => dimension::Value::DimParam("N".into()),
                            }),
                            denotation: None,
                        })
                        .collect(),
                }),
            })),
            denotation: None,
        }),
        doc_string: None,
    }
}

fn floats(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        name: Some(name.into()),
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn attr_f(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

#[test]
fn gemm_with_alpha_beta_and_untransposed_b_then_softmax() {
    // B is [in=3, out=2] (transB = 0), C is [1, 2].
    let bm = [0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5];
    let c = [0.1f32, -0.2];
    let (alpha, beta) = (0.5f32, 2.0f32);
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(GraphProto {
            node: vec![
                NodeProto {
                    input: vec!["x".into(), "B".into(), "C".into()],
                    output: vec!["h".into()],
                    name: Some("fc".into()),
                    op_type: Some("Gemm".into()),
                    attribute: vec![attr_f("alpha", alpha), attr_f("beta", beta)],
                    ..Default::default()
                },
                NodeProto {
                    input: vec!["h".into()],
                    output: vec!["y".into()],
                    name: Some("sm".into()),
                    op_type: Some("Softmax".into()),
                    ..Default::default()
                },
            ],
            initializer: vec![floats("B", &[3, 2], &bm), floats("C", &[1, 2], &c)],
            input: vec![info("x", &[None, Some(3)])],
            output: vec![info("y", &[None, Some(2)])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let m = import(&model.encode_to_vec(), &ImportOptions::default()).unwrap();
    let kinds: Vec<&str> = m.graph.nodes.iter().map(|n| n.op.kind()).collect();
    assert_eq!(kinds, ["dense", "softmax"]);
    let mut rt = deepiot_runtime::Model::load(&m.bytes).unwrap();
    let x = [1.0f32, -2.0, 0.5];
    let mut y = [0f32; 2];
    rt.run(&x, &mut y).unwrap();
    let z: Vec<f32> = (0..2)
        .map(|o| alpha * (0..3).map(|i| x[i] * bm[i * 2 + o]).sum::<f32>() + beta * c[o])
        .collect();
    let e: Vec<f32> = z.iter().map(|v| (v - z[0].max(z[1])).exp()).collect();
    let want: Vec<f32> = e.iter().map(|v| v / (e[0] + e[1])).collect();
    for (a, w) in y.iter().zip(&want) {
        assert!((a - w).abs() < 1e-6, "{y:?} vs {want:?}");
    }
}
