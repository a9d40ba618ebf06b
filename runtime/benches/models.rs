//! Whole-model inference (`Model::run`) on the reference architectures with random
//! weights: LeNet-5 (conv 5x5 20, maxpool 2, conv 5x5 50, maxpool 2, dense 500, relu,
//! dense 10), a DeepSense-like GRU, a bidirectional LSTM and a branched 1-d model.
//!
//! `cargo bench -p deepiot-runtime --bench models -- --warm-up-time 0.2 --measurement-time 1 --sample-size 10 --noplot`
//! Throughput is in multiply-accumulates per second ("elem/s" = MAC/s).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use deepiot_format::{reference, testing};
use deepiot_runtime::Model;
use std::hint::black_box;

fn bench_models(c: &mut Criterion) {
    let mut g = c.benchmark_group("model");
    for (name, graph) in [
        ("lenet5", reference::lenet5_mnist()),
        ("deepsense_gru", reference::deepsense_gru()),
        ("bilstm", reference::bilstm()),
        ("branched", reference::branched()),
    ] {
        let bytes = testing::random_model(&graph, 1);
        let mut model = Model::load(&bytes).expect("generated models are valid");
        let x = testing::random_input(2, model.input_len(0));
        let mut y = vec![0.0; model.output_len(0)];
        g.throughput(Throughput::Elements(model.macs()));
        g.bench_function(name, |b| {
            b.iter(|| {
                model
                    .run(black_box(&x), black_box(&mut y))
                    .expect("lengths match")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_models);
criterion_main!(benches);
