//! Kernel timings on the shapes that dominate the reference models.
//!
//! `cargo bench -p deepiot-runtime --bench kernels -- --warm-up-time 0.2 --measurement-time 1 --sample-size 10 --noplot`
//! (add `--target i686-unknown-linux-musl` with `CC_i686_unknown_linux_musl=gcc
//! CFLAGS_i686_unknown_linux_musl=-m32` for the board's instruction set). Throughput is
//! reported in multiply-accumulates ("elem/s" = MAC/s) where the kernel does MACs.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use deepiot_runtime::kernels::conv::{self, ConvGeom};
use deepiot_runtime::kernels::gemm;
use deepiot_runtime::kernels::rnn::{self, Emit, RnnGeom, RnnWeights};
use std::hint::black_box;

/// Deterministic values in [-1, 1).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// LeNet-5's second convolution: 20 x 12 x 12 -> 50 x 8 x 8, 5x5 kernel.
fn lenet_conv2() -> ConvGeom {
    ConvGeom::of([20, 12, 12], 50, [5, 5], [1, 1], [0, 0])
}

fn bench_gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    // gemm_nn as LeNet conv2 uses it after im2col: [50 x 500] . [500 x 64].
    let (m, k, n) = (50, 500, 64);
    let (a, b, bias) = (values(1, m * k), values(2, k * n), values(3, m));
    let mut out = vec![0.0; m * n];
    g.throughput(Throughput::Elements((m * k * n) as u64));
    g.bench_function("gemm_nn 50x500x64 (lenet conv2)", |bch| {
        bch.iter(|| gemm::gemm_nn(m, k, n, black_box(&a), black_box(&b), &bias, &mut out))
    });
    // gemm_nt as LeNet fc1 uses it: one row of 800 against 500 units.
    let (rows, f, units) = (1, 800, 500);
    let (x, w, bias) = (values(4, rows * f), values(5, units * f), values(6, units));
    let mut y = vec![0.0; rows * units];
    g.throughput(Throughput::Elements((rows * f * units) as u64));
    g.bench_function("gemm_nt 1x800 -> 500 (lenet fc1)", |bch| {
        bch.iter(|| gemm::gemm_nt(rows, f, units, black_box(&x), black_box(&w), &bias, &mut y))
    });
    // gemm_nt as a GRU's input projection: 20 steps of 64 features to 3 x 64 gates.
    let (rows, f, units) = (20, 64, 192);
    let (x, w, bias) = (values(7, rows * f), values(8, units * f), values(9, units));
    let mut y = vec![0.0; rows * units];
    g.throughput(Throughput::Elements((rows * f * units) as u64));
    g.bench_function("gemm_nt 20x64 -> 192 (gru input projection)", |bch| {
        bch.iter(|| gemm::gemm_nt(rows, f, units, black_box(&x), black_box(&w), &bias, &mut y))
    });
    g.finish();
}

fn bench_conv(c: &mut Criterion) {
    let geom = lenet_conv2();
    let mut g = c.benchmark_group("conv");
    let x = values(10, geom.c * geom.h * geom.w);
    let w = values(11, geom.o * geom.patch());
    let b = values(12, geom.o);
    let mut col = vec![0.0; geom.scratch().expect("scratch fits")];
    let mut y = vec![0.0; geom.o * geom.positions()];
    g.throughput(Throughput::Elements(
        (geom.o * geom.patch() * geom.positions()) as u64,
    ));
    g.bench_function(
        "conv2d im2col+gemm 20x12x12 -> 50x8x8 k5 (lenet conv2)",
        |bch| bch.iter(|| conv::conv(&geom, black_box(&x), black_box(&w), &b, &mut col, &mut y)),
    );
    g.throughput(Throughput::Elements(
        (geom.patch() * geom.positions()) as u64,
    ));
    g.bench_function("im2col alone (lenet conv2)", |bch| {
        bch.iter(|| conv::im2col(&geom, black_box(&x), &mut col))
    });
    g.finish();
}

fn bench_rnn(c: &mut Criterion) {
    let mut g = c.benchmark_group("rnn");
    let (t, f, h) = (20, 64, 64);
    for (name, gates) in [("gru", 3), ("lstm", 4)] {
        let gh = gates * h;
        // One step's recurrent product: W_hh [gates*h x h] . h, the serial part of a step.
        let (w_hh, state) = (values(20 + gates as u64, gh * h), values(30, h));
        let mut acc = vec![0.0; gh];
        g.throughput(Throughput::Elements((gh * h) as u64));
        g.bench_function(format!("{name} step: gemv_acc {gh}x{h}"), |bch| {
            bch.iter(|| gemm::gemv_acc(h, gh, black_box(&state), black_box(&w_hh), &mut acc))
        });
        // A whole direction over 20 steps (input projection, steps, gates).
        let geom = RnnGeom {
            t,
            f,
            h,
            gates,
            reverse: false,
            emit: Emit::Sequence,
            out_stride: h,
            out_offset: 0,
        };
        let (w_ih, b_ih, b_hh) = (values(40, gh * f), values(41, gh), values(42, gh));
        let x = values(43, t * f);
        let mut scratch = vec![0.0; geom.scratch()];
        let mut out = vec![0.0; t * h];
        g.throughput(Throughput::Elements((t * gh * (f + h)) as u64));
        g.bench_function(format!("{name} sequence t{t} f{f} h{h}"), |bch| {
            bch.iter(|| {
                let w = RnnWeights {
                    w_ih: &w_ih,
                    w_hh: &w_hh,
                    b_ih: &b_ih,
                    b_hh: &b_hh,
                };
                rnn::run(&geom, black_box(&x), w, &mut scratch, &mut out)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_gemm, bench_conv, bench_rnn);
criterion_main!(benches);
