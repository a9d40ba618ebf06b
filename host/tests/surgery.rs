//! Surgery is exact: for every layer family, a masked network (removed elements' outputs
//! zeroed where they are consumed) and its cut-down dense network give the same outputs in
//! the runtime, to 1e-5.
mod common;

use candle_core::{Device, Tensor};
use deepiot::compress::masks::MaskPlan;
use deepiot::compress::{cut, mask_weights, SiteMap};
use deepiot::models::Net;
use deepiot::models::Weights;
use deepiot_format::testing;
use deepiot_format::{Graph, Op, Recurrent, SeqOutput};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Runs every example through the runtime.
fn outputs(g: &Graph, w: &Weights, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    common::host_scores(&common::model_file(g, w), &xs.concat())
}

/// Random masks (one per group, so coupled sites agree), keeping at least one element.
fn random_keep(map: &SiteMap, rng: &mut Rng, p: f32) -> Vec<Vec<bool>> {
    let mut keep: Vec<Vec<bool>> = map.sites.iter().map(|s| vec![false; s.width]).collect();
    for group in &map.groups {
        let w = map.sites[group[0]].width;
        let mut mask: Vec<bool> = (0..w).map(|_| rng.next() < p).collect();
        let any = (rng.next() * w as f32) as usize % w;
        if p < 1.0 && w > 1 {
            mask[(any + 1) % w] = false;
        }
        mask[any] = true;
        for &s in group {
            keep[s] = mask.clone();
        }
    }
    keep
}

fn check(name: &str, g: &Graph, seed: u64) {
    let w = testing::random_weights(g, seed);
    let mut rng = Rng(seed);
    let map = SiteMap::new(g).unwrap();
    assert!(!map.sites.is_empty(), "{name}: no sites");
    let n_in: usize = g.inputs[0].shape.iter().product();
    let xs: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..n_in).map(|_| rng.next() * 2.0 - 1.0).collect())
        .collect();
    for round in 0..4 {
        let keep = random_keep(&map, &mut rng, [0.2, 0.5, 0.8, 1.0][round]);
        let masked = mask_weights(g, &w, &keep).unwrap();
        let (small_g, small_w) = cut(g, &w, &keep).unwrap();
        let before: usize = w.values().map(|(s, _)| s.iter().product::<usize>()).sum();
        let after: usize = small_w
            .values()
            .map(|(s, _)| s.iter().product::<usize>())
            .sum();
        assert!(after <= before, "{name}: cut grew the model");
        if round < 3 {
            assert!(after < before, "{name}: round {round} removed nothing");
        }
        let a = outputs(g, &masked, &xs);
        let b = outputs(&small_g, &small_w, &xs);
        for (ya, yb) in a.iter().zip(&b) {
            for (p, q) in ya.iter().zip(yb) {
                assert!(
                    (p - q).abs() <= 1e-5 * p.abs().max(1.0),
                    "{name} round {round}: {p} vs {q}"
                );
            }
        }
        // The candle network with DeepIoT's masks computes the same as the cut model.
        let c = candle_masked(g, &w, &map, &keep, &xs);
        for (ya, yb) in c.iter().zip(&b) {
            for (p, q) in ya.iter().zip(yb) {
                assert!(
                    (p - q).abs() <= 1e-4 * p.abs().max(1.0),
                    "{name} round {round}: candle {p} vs cut {q}"
                );
            }
        }
        // The unmasked model differs from the masked one, or the mask kept everything.
        if round < 3 {
            let full = outputs(g, &w, &xs);
            assert!(
                full.iter()
                    .zip(&a)
                    .any(|(f, m)| f.iter().zip(m).any(|(p, q)| (p - q).abs() > 1e-6)),
                "{name}: the mask changed nothing"
            );
        }
    }
}

/// The masked network in candle: the same keep-mask for every example of the batch.
fn candle_masked(
    g: &Graph,
    w: &Weights,
    map: &SiteMap,
    keep: &[Vec<bool>],
    xs: &[Vec<f32>],
) -> Vec<Vec<f32>> {
    let dev = Device::Cpu;
    let tensors = w
        .iter()
        .map(|(n, (s, v))| {
            (
                n.clone(),
                Tensor::from_vec(v.clone(), s.as_slice(), &dev).unwrap(),
            )
        })
        .collect();
    let net = Net::from_tensors(g, tensors).unwrap();
    let info = g.infer().unwrap();
    let plan = MaskPlan::new(g, &info, map).unwrap();
    let b = xs.len();
    let group_masks: Vec<Tensor> = map
        .groups
        .iter()
        .map(|grp| {
            let k = &keep[grp[0]];
            let row: Vec<f32> = k.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect();
            let all: Vec<f32> = (0..b).flat_map(|_| row.clone()).collect();
            Tensor::from_vec(all, (b, k.len()), &dev).unwrap()
        })
        .collect();
    let masks = plan.expand(&group_masks).unwrap();
    let mut dims = vec![b];
    dims.extend_from_slice(&g.inputs[0].shape);
    let x = Tensor::from_vec(xs.concat(), dims, &dev).unwrap();
    net.logits_masked(&[&x], false, Some(&masks))
        .unwrap()
        .flatten_from(1)
        .unwrap()
        .to_vec2()
        .unwrap()
}

#[test]
fn dense_layers() {
    let mut g = Graph::new("x", &[20]);
    g.push("fc1", Op::Dense { units: 13 });
    g.push("a1", Op::Relu);
    g.push("fc2", Op::Dense { units: 9 });
    g.push("a2", Op::Tanh);
    g.push("fc3", Op::Dense { units: 4 });
    check("dense", &g, 1);
}

#[test]
fn conv_layers() {
    let mut g = Graph::new("x", &[2, 9, 9]);
    g.push("conv1", Op::conv2d(5, [3, 3], [1, 1], [1, 1]));
    g.push("a1", Op::Relu);
    g.push("pool", Op::max_pool2d([2, 2], [2, 2]));
    g.push("conv2", Op::conv2d(6, [3, 3], [1, 1], [0, 0]));
    g.push("a2", Op::Sigmoid);
    g.push("flat", Op::Flatten);
    g.push("fc1", Op::Dense { units: 7 });
    g.push("a3", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    check("conv", &g, 2);
}

#[test]
fn deepsense_style_conv_then_gru() {
    let mut g = Graph::new("x", &[3, 4, 13]);
    g.push("conv1", Op::conv2d(6, [1, 3], [1, 1], [0, 0]));
    g.push("a1", Op::Relu);
    g.push("conv2", Op::conv2d(5, [1, 3], [1, 1], [0, 0]));
    g.push("a2", Op::Relu);
    g.push(
        "perm",
        Op::Permute {
            perm: vec![1, 0, 2],
        },
    );
    g.push("merge", Op::Reshape { shape: vec![4, 45] });
    g.push(
        "gru1",
        Op::Gru(Recurrent::new(7, false, SeqOutput::Sequence)),
    );
    g.push("gru2", Op::Gru(Recurrent::new(6, false, SeqOutput::Mean)));
    g.push("fc", Op::Dense { units: 3 });
    check("deepsense", &g, 3);
}

#[test]
fn lstm_layers() {
    let mut g = Graph::new("x", &[5, 4]);
    g.push(
        "lstm1",
        Op::Lstm(Recurrent::new(7, false, SeqOutput::Sequence)),
    );
    g.push("lstm2", Op::Lstm(Recurrent::new(6, false, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    check("lstm", &g, 4);
}

#[test]
fn bidirectional_layers_pad_the_narrower_direction() {
    let mut g = Graph::new("x", &[6, 5]);
    g.push(
        "bi1",
        Op::Lstm(Recurrent::new(7, true, SeqOutput::Sequence)),
    );
    g.push("bi2", Op::Gru(Recurrent::new(5, true, SeqOutput::Mean)));
    g.push("fc", Op::Dense { units: 3 });
    assert_eq!(
        SiteMap::new(&g).unwrap().sites.len(),
        4,
        "one mask per direction"
    );
    check("bidirectional", &g, 5);
}

#[test]
fn branches_joined_on_channels_are_independent() {
    let mut g = Graph::new("x", &[2, 12]);
    g.push_from("a", &["x"], Op::conv1d(4, 3, 1, 0));
    g.push_from("a_act", &["a"], Op::Relu);
    g.push_from("b", &["x"], Op::conv1d(5, 3, 1, 0));
    g.push_from("b_act", &["b"], Op::Tanh);
    g.push_from("join", &["a_act", "b_act"], Op::Concat { axis: 0 });
    g.push("flat", Op::Flatten);
    g.push("fc1", Op::Dense { units: 6 });
    g.push("fc2", Op::Dense { units: 3 });
    let map = SiteMap::new(&g).unwrap();
    assert_eq!(
        map.groups.len(),
        map.sites.len(),
        "channel concatenation couples nothing"
    );
    check("branched", &g, 6);
}

#[test]
fn branches_joined_on_time_share_one_mask() {
    let mut g = Graph::new("x", &[2, 12]);
    g.push_from("a", &["x"], Op::conv1d(4, 3, 1, 0));
    g.push_from("b", &["x"], Op::conv1d(4, 5, 1, 1));
    g.push_from("join", &["a", "b"], Op::Concat { axis: 1 });
    g.push("act", Op::Relu);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 3 });
    let map = SiteMap::new(&g).unwrap();
    assert_eq!(
        map.groups.len(),
        1,
        "a and b must keep the same channels: {:?}",
        map.groups
    );
    check("coupled", &g, 7);
}

#[test]
fn classifier_and_input_are_never_sites() {
    let mut g = Graph::new("x", &[10]);
    g.push("fc1", Op::Dense { units: 8 });
    g.push("fc2", Op::Dense { units: 4 });
    g.push("prob", Op::Softmax);
    let map = SiteMap::new(&g).unwrap();
    let names: Vec<&str> = map.sites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fc1"]);
}
