//! The host's candle networks against PyTorch: each golden file in `fixtures/golden` of
//! this crate (committed, described in its README; a missing file fails) holds a
//! small PyTorch module's weights, a batch of inputs and what PyTorch computed.
//! `deepiot_format::testing::golden` describes each module as deepiot graphs (the same
//! checks the runtime runs in `runtime/tests/golden.rs`); here each is written with
//! `deepiot_format::write`, loaded back into a candle [`Net`] with
//! `deepiot::export::from_bytes`, and run on the whole batch with both convolution paths.
//! Criterion: `|candle - torch| / max(1, |torch|) <= 1e-5` per element (`golden::TOLERANCE`).
use candle_core::{Device, Tensor};
use deepiot::export;
use deepiot::models::{ConvImpl, Net};
use deepiot_format::testing::golden::{self, Golden};
use deepiot_format::testing::model_file;
use std::collections::BTreeMap;
use std::path::Path;

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
            golden::assert_close(&format!("{} ({conv:?}): candle", c.what), &y, &c.expected);
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

deepiot_format::golden_tests!(check);
