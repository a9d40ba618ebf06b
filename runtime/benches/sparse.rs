//! Sparse (CSR) against dense kernels on the same weights, at the sparsities unstructured
//! magnitude pruning reaches: where does storing a weight sparse start to pay?
//!
//! `cargo bench -p deepiot-runtime --bench sparse -- --warm-up-time 0.2 --measurement-time 1 --sample-size 10 --noplot`
//! (add `--target i686-unknown-linux-musl` with `CC_i686_unknown_linux_musl=gcc
//! CFLAGS_i686_unknown_linux_musl=-m32` for the board's instruction set).
use criterion::{criterion_group, criterion_main, Criterion};
use deepiot_format::Csr;
use deepiot_runtime::kernels::conv::{self, ConvGeom};
use deepiot_runtime::kernels::gemm;
use deepiot_runtime::kernels::sparse::{self, CsrView, Matrix};
use std::hint::black_box;

const SPARSITIES: [u32; 3] = [90, 95, 98];

/// Deterministic values in [-1, 1), with `zeros` percent of them (at random places) 0.
fn values(seed: u64, n: usize, zeros: u32) -> Vec<f32> {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s >> 40
    };
    (0..n)
        .map(|_| {
            let v = (next() as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            if next() % 100 < zeros as u64 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// LeNet-5's fc1: one example of 800 features to 500 units.
fn bench_dense(c: &mut Criterion) {
    let mut g = c.benchmark_group("sparse fc1 1x800->500");
    let (rows, f, units) = (1, 800, 500);
    let (x, bias) = (values(1, rows * f, 0), values(2, units, 0));
    let mut y = vec![0.0; rows * units];
    for zeros in SPARSITIES {
        let w = values(3 + zeros as u64, units * f, zeros);
        let csr = Csr::from_dense(units, f, &w).expect("encodable");
        g.bench_function(format!("dense {zeros}% zeros"), |b| {
            b.iter(|| gemm::gemm_nt(rows, f, units, black_box(&x), black_box(&w), &bias, &mut y))
        });
        g.bench_function(format!("csr {zeros}% zeros"), |b| {
            b.iter(|| {
                sparse::spmm_nt(
                    rows,
                    &CsrView::from(black_box(&csr)),
                    black_box(&x),
                    &bias,
                    &mut y,
                )
            })
        });
    }
    g.finish();
}

/// LeNet-5's second convolution: 20 x 12 x 12 -> 50 x 8 x 8, 5x5 kernel (im2col included).
fn bench_conv(c: &mut Criterion) {
    let geom = ConvGeom::of([20, 12, 12], 50, [5, 5], [1, 1], [0, 0]);
    let mut g = c.benchmark_group("sparse conv2 20x12x12->50x8x8 k5");
    let x = values(10, geom.c * geom.h * geom.w, 0);
    let bias = values(11, geom.o, 0);
    let mut col = vec![0.0; geom.scratch().expect("scratch fits")];
    let mut y = vec![0.0; geom.o * geom.positions()];
    for zeros in SPARSITIES {
        let w = values(12 + zeros as u64, geom.o * geom.patch(), zeros);
        let csr = Csr::from_dense(geom.o, geom.patch(), &w).expect("encodable");
        g.bench_function(format!("dense {zeros}% zeros"), |b| {
            b.iter(|| conv::conv(&geom, black_box(&x), black_box(&w), &bias, &mut col, &mut y))
        });
        // What the runtime does: one of the two below, by `conv::uses_direct`.
        g.bench_function(format!("csr {zeros}% zeros"), |b| {
            b.iter(|| {
                let w = Matrix::Csr(CsrView::from(black_box(&csr)));
                conv::conv_with(&geom, black_box(&x), w, &bias, &mut col, &mut y)
            })
        });
        // Straight from the input, no im2col.
        g.bench_function(format!("csr direct {zeros}% zeros"), |b| {
            b.iter(|| {
                conv::conv_csr_direct(
                    &geom,
                    black_box(&x),
                    &CsrView::from(black_box(&csr)),
                    &bias,
                    &mut y,
                )
            })
        });
        // im2col, then the CSR x columns product.
        g.bench_function(format!("csr im2col {zeros}% zeros"), |b| {
            b.iter(|| {
                conv::im2col(&geom, black_box(&x), &mut col);
                let n = geom.positions();
                sparse::spmm_nn(&CsrView::from(black_box(&csr)), n, &col, &bias, &mut y)
            })
        });
    }
    g.finish();
}

/// A GRU step's recurrent product, 192 x 64 (hidden 64), the serial part of a step.
fn bench_recurrent(c: &mut Criterion) {
    let mut g = c.benchmark_group("sparse gru step 192x64");
    let (h, gh) = (64, 192);
    let state = values(20, h, 0);
    let mut acc = vec![0.0; gh];
    for zeros in SPARSITIES {
        let w = values(21 + zeros as u64, gh * h, zeros);
        let csr = Csr::from_dense(gh, h, &w).expect("encodable");
        g.bench_function(format!("dense {zeros}% zeros"), |b| {
            b.iter(|| gemm::gemv_acc(h, gh, black_box(&state), black_box(&w), &mut acc))
        });
        g.bench_function(format!("csr {zeros}% zeros"), |b| {
            b.iter(|| {
                sparse::spmv_acc(&CsrView::from(black_box(&csr)), black_box(&state), &mut acc)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_dense, bench_conv, bench_recurrent);
criterion_main!(benches);
