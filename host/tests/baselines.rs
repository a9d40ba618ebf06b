//! The baselines of `deepiot compress --method`: magnitude pruning reaches the requested
//! sparsity with exact zeros, L1-norm pruning respects coupled sites and the target, and
//! both write models that the board runtime runs with the host network's outputs.
mod common;
use common::tiny_mnist_model;
use deepiot::compress::l1;
use deepiot::compress::magnitude::{prune, MagnitudeConfig};
use deepiot::compress::report::effective_params;
use deepiot::compress::{self as compress, CompressConfig, MagnitudeSettings, Method};
use deepiot::compress::{cut, SiteMap};
use deepiot::data::{bundled_dir, Dataset};
use deepiot::export;
use deepiot::models::Net;
use deepiot::rng::Rng;
use deepiot_format::{Graph, Op, Recurrent, SeqOutput};
use std::collections::BTreeMap;
use std::path::Path;

/// Random inputs of `shape`, labelled by the sign of a fixed mix of a few of them.
fn toy(shape: &[usize], classes: u32, n_train: usize, n_test: usize) -> Dataset {
    let len: usize = shape.iter().product();
    let mut rng = Rng::new(11);
    let mut make = |n: usize| {
        let mut x = Vec::with_capacity(n * len);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let v: Vec<f32> = (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let s = v[0] + 0.7 * v[len / 2] - 0.5 * v[len - 1];
            y.push(((s + 2.2) / 4.4 * classes as f32).clamp(0.0, classes as f32 - 1.0) as u32);
            x.extend(v);
        }
        (x, y)
    };
    let train = make(n_train);
    let test = make(n_test);
    let names = (0..classes).map(|c| c.to_string()).collect();
    common::dataset("toy", shape, names, train, test)
}

fn rec(hidden: usize) -> Recurrent {
    Recurrent::new(hidden, false, SeqOutput::Sequence)
}

/// The runtime and the host network agree on the file's outputs for some test inputs.
fn runtime_agrees(net: &Net, bytes: &[u8], ds: &Dataset) {
    let xs: Vec<f32> = ds.test_x[..8 * ds.example_len()].to_vec();
    let host = deepiot::train::predict(net, &xs, 8).unwrap();
    let runtime = common::host_scores(bytes, &xs);
    assert_eq!(runtime.len(), host.len());
    for (y, h) in runtime.iter().zip(&host) {
        for (a, b) in y.iter().zip(h) {
            assert!((a - b).abs() < 1e-4, "runtime {a} vs host {b}");
        }
    }
}

#[test]
fn magnitude_reaches_the_target_with_exact_zeros_in_conv_dense_and_recurrent_layers() {
    let mut g = Graph::new("x", &[6, 8]);
    g.push("conv1", Op::conv1d(8, 3, 1, 1));
    g.push("a1", Op::Relu);
    g.push("perm", Op::Permute { perm: vec![1, 0] });
    g.push("gru1", Op::Gru(rec(10)));
    g.push("flat", Op::Flatten);
    g.push("fc1", Op::Dense { units: 24 });
    g.push("a2", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    let ds = toy(&[6, 8], 3, 600, 100);
    let net = Net::new(&g, 5).unwrap();
    let total = net.info().param_count();
    let cfg = MagnitudeConfig {
        target_kept: 0.2,
        prune_steps: 40,
        mask_every: 5,
        retrain_steps: 10,
        steps_per_epoch: 10,
        batch: 32,
        ..MagnitudeConfig::default()
    };
    let idx: Vec<usize> = (0..ds.train_len()).collect();
    let mut evals = 0;
    let mut eval = |_: &Net| {
        evals += 1;
        Ok(Some(0.5))
    };
    let out = prune(&net, &ds, &idx, &[], &cfg, None, &mut eval).unwrap();
    assert_eq!(evals, 1);
    let w = net.weights().unwrap();
    let kept = effective_params(&w);
    assert_eq!(kept, out.kept_params);
    let limit = (0.2 * total as f64).floor() as usize;
    assert!(kept <= limit, "kept {kept} > {limit}");
    assert!(
        kept as f64 >= 0.95 * limit as f64,
        "kept {kept} far below {limit}"
    );
    // Every weight matrix, recurrent ones included, lost weights; biases stayed.
    for name in [
        "conv1.weight",
        "gru1.weight_ih_l0",
        "gru1.weight_hh_l0",
        "fc1.weight",
        "fc2.weight",
    ] {
        let (_, v) = &w[name];
        let zeros = v.iter().filter(|x| **x == 0.0).count();
        assert!(
            zeros > 0 && zeros < v.len(),
            "{name}: {zeros} zeros of {}",
            v.len()
        );
    }
    assert!(w["fc1.bias"].1.iter().all(|x| *x != 0.0));
    let bytes = export::to_bytes(&net, &BTreeMap::new()).unwrap();
    runtime_agrees(&net, &bytes, &ds);
}

/// Magnitude's retraining is chosen the way the structured methods' fine-tuning is: the
/// epoch with the best held-out accuracy is kept, and it stops after `patience` epochs
/// without a better one.
#[test]
fn magnitude_retraining_keeps_its_best_held_out_epoch_and_stops_early() {
    let mut g = Graph::new("x", &[12]);
    g.push("fc1", Op::Dense { units: 24 });
    g.push("a1", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    let ds = toy(&[12], 3, 600, 100);
    let train_idx: Vec<usize> = (0..480).collect();
    let val_idx: Vec<usize> = (480..600).collect();
    let run = |lr: f64| {
        let net = Net::new(&g, 5).unwrap();
        let cfg = MagnitudeConfig {
            target_kept: 0.3,
            prune_steps: 30,
            mask_every: 5,
            retrain_steps: 12 * 15,
            steps_per_epoch: 15,
            patience: 2,
            lr,
            batch: 32,
            ..MagnitudeConfig::default()
        };
        let out = prune(&net, &ds, &train_idx, &val_idx, &cfg, None, &mut |_| {
            Ok(None)
        })
        .unwrap();
        let acc = deepiot::train::accuracy(&net, &ds.train_x, &ds.train_y, &val_idx).unwrap();
        (out, acc)
    };
    // Nothing can improve at lr 0: epoch 1 is kept and epochs 2-3 end the retraining.
    let (frozen, _) = run(0.0);
    assert_eq!((frozen.best_epoch, frozen.retrain_epochs), (1, 3));
    // Learning: the network ends with the kept epoch's weights, at most `patience`
    // epochs before the last one run.
    let (learnt, acc) = run(0.05);
    assert_eq!(learnt.val_accuracy, Some(acc));
    assert!(learnt.best_epoch >= 1 && learnt.retrain_epochs - learnt.best_epoch <= 2);
    assert!(learnt.retrain_epochs == 12 || learnt.retrain_epochs - learnt.best_epoch == 2);
}

#[test]
fn l1_keeps_coupled_sites_together_and_meets_the_target() {
    // Two branches joined along time must keep the same channels (one group).
    let mut g = Graph::new("x", &[2, 12]);
    let conv = |k, p| Op::conv1d(6, k, 1, p);
    g.push_from("a", &["x"], conv(3, 0));
    g.push_from("b", &["x"], conv(5, 1));
    g.push_from("join", &["a", "b"], Op::Concat { axis: 1 });
    g.push("act", Op::Relu);
    g.push("flat", Op::Flatten);
    g.push("fc1", Op::Dense { units: 20 });
    g.push("a2", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    let net = Net::new(&g, 9).unwrap();
    let w = net.weights().unwrap();
    let total: usize = w.values().map(|(_, v)| v.len()).sum();
    let map = SiteMap::new(&g).unwrap();
    assert_eq!(map.groups.len(), 2);
    for target in [0.6, 0.3, 0.1] {
        let (keep, fraction) = l1::choose(&g, &w, target).unwrap();
        assert!(fraction < 1.0);
        let (sa, sb) = (map.node_sites[0][0], map.node_sites[1][0]);
        assert_eq!(keep[sa], keep[sb], "coupled sites differ at {target}");
        let (cg, cw) = cut(&g, &w, &keep).unwrap();
        let n: usize = cw.values().map(|(_, v)| v.len()).sum();
        assert!(
            n as f64 <= target * total as f64,
            "{n} of {total} at {target}"
        );
        // The largest uniform fraction: one more element per layer breaks the target.
        let more = l1::keep_fraction(
            &map,
            &l1::group_scores(&map, &l1::site_scores(&g, &map, &w).unwrap()),
            (fraction + 1.0 / 6.0).min(1.0),
        );
        let (_, mw) = cut(&g, &w, &more).unwrap();
        let m: usize = mw.values().map(|(_, v)| v.len()).sum();
        assert!(m as f64 > target * total as f64 || fraction + 1.0 / 6.0 >= 1.0);
        // The elements kept are the ones with the largest L1 norms.
        let scores = l1::site_scores(&g, &map, &w).unwrap();
        let f1 = map.node_sites[g.nodes.iter().position(|n| n.name == "fc1").unwrap()][0];
        let kept_min = (0..20)
            .filter(|&u| keep[f1][u])
            .map(|u| scores[f1][u])
            .fold(f64::MAX, f64::min);
        let dropped_max = (0..20)
            .filter(|&u| !keep[f1][u])
            .map(|u| scores[f1][u])
            .fold(0.0, f64::max);
        assert!(kept_min >= dropped_max);
        let small = Net::from_weights(&cg, &cw).unwrap();
        let bytes = export::to_bytes(&small, &BTreeMap::new()).unwrap();
        runtime_agrees(&small, &bytes, &toy(&[2, 12], 3, 10, 10));
    }
}

/// A quick compression of `model`: the command's defaults, a few hundred examples, one
/// fine-tuning epoch, two of magnitude pruning.
pub fn quick_config(model: &Path, out: &Path, method: Method, target: f64) -> CompressConfig {
    CompressConfig {
        model: model.into(),
        out: out.into(),
        data: Some(bundled_dir()),
        max_train: Some(400),
        finetune_epochs: Some(1),
        method,
        target_kept: target,
        magnitude: MagnitudeSettings {
            prune_epochs: 2.0,
            mask_every: 3,
            ..MagnitudeSettings::default()
        },
        ..CompressConfig::default()
    }
}

#[test]
fn both_baselines_write_a_model_and_a_report_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_mnist_model(dir.path());
    for method in [Method::L1Structured, Method::Magnitude] {
        let out = dir.path().join(format!("{}.safetensors", method.name()));
        let r = compress::run(&quick_config(&model, &out, method, 0.1)).unwrap();
        assert_eq!(r.method, method.name());
        assert!(
            r.kept_fraction <= 0.1 && r.kept_fraction > 0.02,
            "{}",
            r.kept_fraction
        );
        let (net, prov) = export::load(&out).unwrap();
        assert_eq!(prov["method"], method.name());
        assert_eq!(effective_params(&net.weights().unwrap()), r.params_after);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(compress::report_path(&out)).unwrap()).unwrap();
        assert_eq!(json["method"], method.name());
        let layers: Vec<&str> = json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["layer"].as_str().unwrap())
            .collect();
        assert_eq!(layers, ["conv1", "fc1", "fc2"]);
        let ds = deepiot::data::load("mnist", &deepiot::data::DataRoot::bundled()).unwrap();
        runtime_agrees(&net, &std::fs::read(&out).unwrap(), &ds);
        let sparse = compress::sparse_path(&out);
        if method == Method::Magnitude {
            // The CSR copy is smaller, loads back to the same weights, and runs the same.
            assert!(
                std::fs::metadata(&sparse).unwrap().len() < std::fs::metadata(&out).unwrap().len()
            );
            let (back, _) = export::load(&sparse).unwrap();
            assert_eq!(back.weights().unwrap(), net.weights().unwrap());
            runtime_agrees(&net, &std::fs::read(&sparse).unwrap(), &ds);
        } else {
            assert!(!sparse.exists());
        }
    }
}

/// A DeepIoT search that reaches its iteration limit without meeting the stopping rule
/// says so: the report records `stopping_rule_met: false` and the gap, and `--strict`
/// turns it into an error after the model and report are written.
#[test]
fn a_missed_stopping_rule_is_reported_and_strict_makes_it_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_mnist_model(dir.path());
    for strict in [false, true] {
        let out = dir.path().join(format!("strict-{strict}.safetensors"));
        let mut a = quick_config(&model, &out, Method::Deepiot, 0.001);
        a.max_iterations = 20;
        a.eval_every = 10;
        a.strict = strict;
        let result = compress::run(&a);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(compress::report_path(&out)).unwrap()).unwrap();
        assert_eq!(json["stopping_rule_met"], false);
        assert_eq!(json["search"]["missed"]["iterations"], 20);
        assert_eq!(json["search"]["missed"]["target_kept"], 0.001);
        assert!(out.is_file(), "the model is written either way");
        match (strict, result) {
            (false, Ok(r)) => assert!(!r.stopping_rule_met),
            (true, Err(e)) => {
                let e = format!("{e:#}");
                assert!(
                    e.contains("--strict") && e.contains("not met in 20 iterations"),
                    "{e}"
                );
            }
            (s, r) => panic!(
                "strict {s}: unexpected {:?}",
                r.map(|r| r.stopping_rule_met)
            ),
        }
    }
}
