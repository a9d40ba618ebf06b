//! Training split over two threads by examples (`train::train_step` and the search's
//! critic step, `host/src/train/step.rs`): it happens when candle's element-wise pool is
//! off, as the `deepiot` binary keeps it, and a run repeats exactly.
mod common;

use deepiot::compress::search::search;
use deepiot::models::Net;
use deepiot::train;
use deepiot_format::{Graph, Op};

fn weights(net: &Net) -> Vec<f32> {
    net.vars()
        .iter()
        .flat_map(|v| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// One test in this file: the element-wise pool is process-wide and made at first use.
#[test]
fn two_threads_split_the_batch_and_a_run_repeats_exactly() {
    train::keep_elementwise_inline();
    let ds = common::dataset(
        "toy",
        &[12],
        vec!["neg".into(), "pos".into()],
        common::two_feature_data(1500, 1),
        common::two_feature_data(300, 2),
    );
    let mut g = Graph::new("x", &[12]);
    g.push("fc1", Op::Dense { units: 32 });
    g.push("a1", Op::Relu);
    g.push("fc2", Op::Dense { units: 24 });
    g.push("a2", Op::Relu);
    g.push("fc3", Op::Dense { units: 2 });
    let run = |fresh_compressor_batch: bool| {
        let net = Net::new(&g, 3).unwrap();
        net.set_dropout(0.2, 5);
        train::fit(&net, &ds, &common::quick_fit("toy", 3, 2)).unwrap();
        let trained = weights(&net);
        let (tr, val) = train::split_validation(1500, 0.1, 3);
        let outcome = search(
            &net,
            &ds,
            &tr,
            &val,
            &deepiot::compress::search::SearchConfig {
                fresh_compressor_batch,
                ..common::quick_search(0.5, 120, 60)
            },
            None,
            false,
        )
        .unwrap();
        (trained, outcome.keep, weights(&net))
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (a, b) = pool.install(|| {
        assert!(
            train::should_split(64),
            "two threads and the pool off: a batch splits"
        );
        (run(false), run(false))
    });
    assert_eq!(a, b, "two runs on two threads differ");
    // The reference code's own compressor batch (a second forward pass) splits and
    // repeats too, and it is a different run from the default reuse of the critic's
    // per-example losses.
    let (f1, f2) = pool.install(|| (run(true), run(true)));
    assert_eq!(f1, f2, "two runs with a fresh compressor batch differ");
    assert_eq!(f1.0, a.0, "the same trained original");
    assert_ne!(f1.2, a.2, "--fresh-compressor-batch changed nothing");
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let c = one.install(|| {
        assert!(!train::should_split(64), "one thread: no split");
        run(false)
    });
    // One thread takes whole-batch steps: the same training up to rounding and dropout
    // draws, so not the same bits.
    assert_ne!(a.0, c.0);
}
