//! A model with real branches, compressed end to end: two convolution branches over the
//! same sensor window (short and long kernels, DeepSense's per-scale features) joined on
//! the time axis, so their filters must go together (one coupled mask group), then a
//! convolution, dense layers and the classifier. It is trained, searched by the
//! compressor-critic, and cut; the cut model gives the masked model's outputs in the
//! board runtime, and both branches lost the same filters.
mod common;

use deepiot::compress::search::{search, SearchConfig};
use deepiot::compress::{cut, mask_weights, SiteMap};
use deepiot::models::Net;
use deepiot::rng::Rng;
use deepiot::train;
use deepiot_format::{Graph, Op};

const CH: usize = 4;
const T: usize = 24;

/// Windows of 4 channels: class 1 has a slow oscillation on channel 0, class 0 noise.
fn windows(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(n * CH * T);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.below(2) as u32;
        let phase = rng.uniform(0.0, std::f32::consts::TAU);
        for c in 0..CH {
            for t in 0..T {
                let signal = if c == 0 && label == 1 {
                    (phase + t as f32 * 0.5).sin()
                } else {
                    0.0
                };
                x.push(signal + rng.uniform(-0.4, 0.4));
            }
        }
        y.push(label);
    }
    (x, y)
}

fn branched() -> Graph {
    let mut g = Graph::new("x", &[CH, T]);
    g.push_from("short", &["x"], Op::conv1d(12, 3, 1, 1));
    g.push_from("long", &["x"], Op::conv1d(12, 7, 1, 3));
    g.push_from("join", &["short", "long"], Op::Concat { axis: 1 });
    g.push("act1", Op::Relu);
    g.push("conv", Op::conv1d(16, 3, 2, 1));
    g.push("act2", Op::Relu);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 32 });
    g.push("act3", Op::Relu);
    g.push("out", Op::Dense { units: 2 });
    g
}

#[test]
fn a_branched_model_is_searched_cut_and_keeps_the_masked_outputs() {
    let ds = common::dataset(
        "branched",
        &[CH, T],
        vec!["noise".into(), "wave".into()],
        windows(2000, 1),
        windows(400, 2),
    );
    let g = branched();
    let map = SiteMap::new(&g).unwrap();
    let short = map
        .sites
        .iter()
        .position(|s| g.nodes[s.node].name == "short")
        .unwrap();
    let long = map
        .sites
        .iter()
        .position(|s| g.nodes[s.node].name == "long")
        .unwrap();
    let group_of = map.group_of();
    assert_eq!(
        group_of[short], group_of[long],
        "the branches must share one mask group"
    );

    let net = Net::new(&g, 5).unwrap();
    let fit = common::quick_fit("branched", 5, 5);
    train::fit(&net, &ds, &fit).unwrap();
    let test_idx: Vec<usize> = (0..400).collect();
    let before = train::accuracy(&net, &ds.test_x, &ds.test_y, &test_idx).unwrap();
    assert!(before > 0.9, "the branched model did not learn: {before}");

    let cfg = SearchConfig {
        max_drop: 5.0,
        ..common::quick_search(0.3, 1500, 200)
    };
    let (tr, val) = train::split_validation(2000, 0.1, 5);
    let outcome = search(&net, &ds, &tr, &val, &cfg, None, false).unwrap();
    let keep = &outcome.keep;
    assert_eq!(
        keep[short], keep[long],
        "coupled branches kept different filters"
    );
    let removed = keep[short].iter().filter(|&&k| !k).count();
    assert!(removed > 0, "the search removed no branch filter: {keep:?}");

    // Cut and masked give the same outputs in the runtime, on the test windows.
    let w = net.weights().unwrap();
    let masked = mask_weights(&g, &w, keep).unwrap();
    let (small_g, small_w) = cut(&g, &w, keep).unwrap();
    let full: usize = w.values().map(|(s, _)| s.iter().product::<usize>()).sum();
    let small: usize = small_w
        .values()
        .map(|(s, _)| s.iter().product::<usize>())
        .sum();
    assert!(
        small as f64 <= 0.3 * full as f64,
        "kept {small} of {full} parameters"
    );
    let a = common::runtime_outputs(&g, &masked, &ds.test_x);
    let b = common::runtime_outputs(&small_g, &small_w, &ds.test_x);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs() / p.abs().max(1.0))
        .fold(0f32, f32::max);
    assert!(worst <= 1e-5, "cut vs masked: {worst:e}");
    let correct = b
        .chunks(2)
        .zip(&ds.test_y)
        .filter(|(s, &y)| (s[1] > s[0]) as u32 == y)
        .count();
    eprintln!(
        "branched: {full} -> {small} parameters, branch filters kept {} of 12 each, test \
         accuracy {:.1} % -> {:.1} % (cut, before fine-tuning), cut vs masked {worst:.1e}",
        12 - removed,
        100.0 * before,
        100.0 * correct as f64 / 400.0
    );
}
