//! A short compression run on a tiny model: the compressor-critic shrinks it and the cut
//! model keeps its accuracy.
mod common;

use deepiot::compress::search::{masked_accuracy, search, SearchConfig, SearchLimit};
use deepiot::compress::surgery::cut;
use deepiot::models::Net;
use deepiot::train;
use deepiot_format::{Graph, Op};

#[test]
fn a_short_search_shrinks_a_tiny_model_and_keeps_its_accuracy() {
    let ds = common::dataset(
        "toy",
        &[12],
        vec!["neg".into(), "pos".into()],
        common::two_feature_data(3000, 1),
        common::two_feature_data(1000, 2),
    );
    let mut g = Graph::new("x", &[12]);
    g.push("fc1", Op::Dense { units: 48 });
    g.push("a1", Op::Relu);
    g.push("fc2", Op::Dense { units: 32 });
    g.push("a2", Op::Relu);
    g.push("fc3", Op::Dense { units: 2 });
    let net = Net::new(&g, 3).unwrap();
    let fit = common::quick_fit("toy", 3, 6);
    train::fit(&net, &ds, &fit).unwrap();
    let test_idx: Vec<usize> = (0..1000).collect();
    let before = train::accuracy(&net, &ds.test_x, &ds.test_y, &test_idx).unwrap();
    assert!(before > 0.95, "the toy model did not learn: {before}");

    let cfg = common::quick_search(0.25, 600, 300);
    let (tr, val) = train::split_validation(3000, 0.1, 3);
    let outcome = search(&net, &ds, &tr, &val, &cfg, None, false).unwrap();
    let (small_g, small_w) = cut(net.graph(), &net.weights().unwrap(), &outcome.keep).unwrap();
    let small_params: usize = small_w
        .values()
        .map(|(s, _)| s.iter().product::<usize>())
        .sum();
    let params = g.infer().unwrap().param_count();
    let kept = small_params as f64 / params as f64;
    assert!(
        kept <= 0.5,
        "the search kept {:.1} % of the parameters",
        100.0 * kept
    );
    // The cut model, without fine-tuning, keeps the accuracy (within 3 points).
    let small = {
        let dev = candle_core::Device::Cpu;
        let t = small_w
            .iter()
            .map(|(n, (s, v))| {
                (
                    n.clone(),
                    candle_core::Tensor::from_vec(v.clone(), s.as_slice(), &dev).unwrap(),
                )
            })
            .collect();
        Net::from_tensors(&small_g, t).unwrap()
    };
    let after = train::accuracy(&small, &ds.test_x, &ds.test_y, &test_idx).unwrap();
    assert!(
        after >= before - 0.03,
        "accuracy {before} -> {after} at {:.1} % kept",
        100.0 * kept
    );
    // And the evaluations the stopping rule used scored the network that really remains.
    let last = outcome.evaluations.last().expect("at least one evaluation");
    assert!(last.kept_fraction < 1.0);
    // The time per iteration leaves the evaluations out; together they make the whole.
    let o = &outcome;
    assert!(o.evaluation_seconds > 0.0 && o.evaluation_seconds < o.seconds);
    let whole = o.seconds_per_iteration * o.iterations as f64 + o.evaluation_seconds;
    assert!(
        (whole - o.seconds).abs() < 1e-6 * o.seconds.max(1.0),
        "{whole} vs {}",
        o.seconds
    );
    let _ = masked_accuracy;

    // A latency budget instead of a size target: a toy latency file charges each layer
    // 1 µs and each dense multiply-add 1 ns (6.18 µs for the whole net); the search
    // prices masks by it and stops at the first mask predicted within 5.6 µs.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("toy.latency.json");
    std::fs::write(
        &file,
        r#"{"target":"toy","measured_on":"test","runtime":"test","overhead_us":0.0,
        "kinds":{"dense":{"features":["layer","weights","MACs","outputs"],
        "coef":[1.0,0.0,0.001,0.0],"samples":0,"median_rel_error":0.0,"max_rel_error":0.0},
        "relu":{"features":["layer","values"],"coef":[1.0,0.0],"samples":0,
        "median_rel_error":0.0,"max_rel_error":0.0}}}"#,
    )
    .unwrap();
    let budget = SearchConfig {
        target_kept: 0.0,
        latency_weight: 1.0,
        latency_model: Some(file.clone()),
        target_latency_us: Some(5.6),
        ..cfg.clone()
    };
    let timed = search(&net, &ds, &tr, &val, &budget, None, false).unwrap();
    assert!(timed.stopped_by_rule, "{:?}", timed.missed);
    let evaluations = &timed.evaluations;
    assert!(evaluations.iter().all(|e| e.predicted_latency_us.is_some()));
    let first = evaluations[0].predicted_latency_us.unwrap();
    let last = evaluations.last().unwrap().predicted_latency_us.unwrap();
    assert!(last <= 5.6 && last < first, "{first} -> {last} µs");
    // A weight without a latency file is refused before any work.
    let no_file = SearchConfig {
        latency_model: None,
        ..budget.clone()
    };
    let err = search(&net, &ds, &tr, &val, &no_file, None, false).unwrap_err();
    assert!(err.to_string().contains("--latency-model"), "{err}");

    // A drop that can never be met holds the threshold from the first mask under the
    // target to the last iteration: the mask must stay the one that met the target.
    let never = SearchConfig {
        max_drop: -100.0,
        max_iterations: 500,
        hold_epochs: 1e9,
        ..cfg.clone()
    };
    let held = search(&net, &ds, &tr, &val, &never, None, false).unwrap();
    assert!(!held.stopped_by_rule);
    // The miss is reported with its figures; the met search reported none.
    assert!(outcome.missed.is_none());
    let gap = held.missed.as_ref().expect("the missed rule is reported");
    assert_eq!(gap.iterations, 500);
    assert_eq!((gap.target_kept, gap.max_drop_points), (0.25, -100.0));
    assert!(gap.accuracy_drop_points > gap.max_drop_points, "{gap:?}");
    assert!(gap.kept_fraction <= gap.target_kept, "{gap:?}");
    assert!(
        gap.to_string().contains("not met in 500 iterations"),
        "{gap}"
    );
    let under: Vec<_> = held
        .evaluations
        .iter()
        .filter(|e| e.kept_fraction <= never.target_kept)
        .collect();
    assert!(
        under.len() >= 3,
        "the target was met too late to see the hold: {:?}",
        held.evaluations
            .iter()
            .map(|e| e.kept_fraction)
            .collect::<Vec<_>>()
    );
    for e in &under {
        assert_eq!(
            e.widths, under[0].widths,
            "iteration {}: the held mask changed",
            e.iteration
        );
    }
    assert_eq!(gap.limit, SearchLimit::Iterations);

    // A bounded hold ends at the first evaluation after the critic has seen
    // `hold_epochs` of the training split at the held mask, and says so.
    let bounded = SearchConfig {
        hold_epochs: 0.5,
        ..never.clone()
    };
    let ended = search(&net, &ds, &tr, &val, &bounded, None, false).unwrap();
    let gap = ended.missed.as_ref().expect("the ended hold is reported");
    assert_eq!(gap.limit, SearchLimit::Hold, "{gap:?}");
    assert!(gap.iterations < 500, "{gap:?}");
    let bound = 0.5 * tr.len() as f64;
    let seen = gap.hold_epochs * tr.len() as f64;
    assert!(
        seen >= bound && seen < bound + (bounded.eval_every * bounded.batch) as f64,
        "the hold saw {seen} examples, bound {bound}"
    );
    assert!(gap.to_string().contains("hold limit"), "{gap}");

    // With the threshold at its highest early and a target the loss alone does not
    // reach, the size pressure rises at evaluations without progress and brings the
    // search under the target; switched off, it never rises.
    let stalled = SearchConfig {
        target_kept: 0.02,
        max_drop: 100.0,
        tau_max: 0.3,
        max_iterations: 3000,
        ..cfg.clone()
    };
    let pressed = search(&net, &ds, &tr, &val, &stalled, None, false).unwrap();
    let weights: Vec<f64> = pressed.evaluations.iter().map(|e| e.size_weight).collect();
    assert!(
        weights.iter().any(|&w| w > 0.0),
        "the pressure never rose: {weights:?}"
    );
    // An evaluation records the weight its iterations ran with; a raise at evaluation k
    // shows in k + 1, and follows an evaluation k that made no progress over k - 1.
    let kept: Vec<f64> = pressed
        .evaluations
        .iter()
        .map(|e| e.kept_fraction)
        .collect();
    for k in 1..weights.len().saturating_sub(1) {
        if weights[k + 1] > weights[k] {
            assert!(
                kept[k] >= kept[k - 1],
                "raised after progress: {kept:?} {weights:?}"
            );
            assert!(
                weights[k + 1] == 2.0 * weights[k] || (weights[k] == 0.0 && weights[k + 1] == 0.25),
                "{weights:?}"
            );
        }
    }
    assert!(pressed.stopped_by_rule, "{:?}", pressed.missed);
    let last = pressed.evaluations.last().unwrap();
    assert!(last.kept_fraction <= 0.02, "{last:?}");
    let free = search(
        &net,
        &ds,
        &tr,
        &val,
        &SearchConfig {
            size_pressure: false,
            max_iterations: 600,
            ..stalled
        },
        None,
        false,
    )
    .unwrap();
    assert!(free.evaluations.iter().all(|e| e.size_weight == 0.0));
}
