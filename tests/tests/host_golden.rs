//! The host's candle networks against PyTorch: each golden file in `fixtures/golden` of
//! this crate (committed, described in its README; a missing file fails) holds a
//! small PyTorch module's weights, a batch of inputs and what PyTorch computed.
//! `deepiot_format::testing::golden` describes each module as deepiot graphs (the same
//! checks the runtime runs in `runtime/tests/golden.rs`); here each is written with
//! `deepiot_format::write`, loaded back into a candle [`Net`] with
//! `deepiot::export::from_bytes`, and run on the whole batch with both convolution paths.
//! Criterion: `|candle - torch| / max(1, |torch|) <= 1e-5` per element.
use candle_core::{Device, Tensor};
use deepiot::export;
use deepiot::models::{ConvImpl, Net};
use deepiot_format::testing::golden::{self, Golden};
use deepiot_format::testing::model_file;
use std::collections::BTreeMap;
use std::path::Path;

const TOLERANCE: f64 = 1e-5;

/// Runs every check of golden file `name` on the whole batch, with both convolution paths.
fn check(name: &str) {
    let g = Golden::open(name);
    let (shape, x) = g.get("input");
    let x = Tensor::from_vec(x.clone(), shape.as_slice(), &Device::Cpu).unwrap();
    for c in g.checks() {
        let bytes = model_file(&c.graph, &c.tensors, &BTreeMap::new());
        let net = export::from_bytes(&bytes, Path::new("golden"))
            .expect("the host loads the file")
            .0;
        for conv in [ConvImpl::Im2col, ConvImpl::Candle] {
            let net = net_with(&net, conv);
            let y: Vec<f32> = net
                .forward(&[&x], false)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(y.len(), c.expected.len(), "{}: length", c.what);
            for (i, (&a, &b)) in y.iter().zip(&c.expected).enumerate() {
                let err = (a as f64 - b as f64).abs() / (b as f64).abs().max(1.0);
                assert!(
                    err <= TOLERANCE,
                    "{} ({conv:?}): element {i}: candle {a} vs torch {b} (relative error {err:e})",
                    c.what
                );
            }
        }
    }
}

fn net_with(net: &Net, conv: ConvImpl) -> Net {
    let t = net
        .tensors()
        .unwrap()
        .into_iter()
        .map(|(n, s, v)| (n, Tensor::from_vec(v, s, &Device::Cpu).unwrap()))
        .collect();
    Net::from_tensors(net.graph(), t).unwrap().with_conv(conv)
}

#[test]
fn golden_files_are_all_covered() {
    assert_eq!(golden::names(), golden::CASES);
}

#[test]
fn lenet5() {
    check("lenet5");
}

#[test]
fn conv1d_relu_maxpool() {
    check("conv1d_relu_maxpool");
}

#[test]
fn conv2d_stride_pad_tanh_avgpool() {
    check("conv2d_stride_pad_tanh_avgpool");
}

#[test]
fn conv2d_batchnorm_relu_folded() {
    check("conv2d_batchnorm_relu");
}

#[test]
fn gru_2layer() {
    check("gru_2layer");
}

#[test]
fn lstm_2layer_seq1() {
    check("lstm_2layer_seq1");
}

#[test]
fn bilstm() {
    check("bilstm");
}
