//! `deepiot-run bench MODEL`: load once, warm up, time every inference on its own.
use crate::alloc_counter;
use crate::args::BenchOpts;
use crate::prelude::*;
use crate::{emit, load_model, shown, sys, Failure, Result};
use core::fmt::Write;
use core::hint::black_box;
use deepiot_runtime::format::report::{BenchReport, LayerTime};

/// Latency statistics in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub std: f64,
    pub p50: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// Nearest-rank percentile of sorted values (`pct` in 0..=100).
fn percentile(sorted: &[u64], pct: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (pct * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Statistics of latencies given in nanoseconds; sorts `nanos`.
pub fn stats(nanos: &mut [u64]) -> Stats {
    nanos.sort_unstable();
    let n = nanos.len().max(1) as f64;
    let us = |v: u64| v as f64 / 1000.0;
    let mean = nanos.iter().map(|&v| us(v)).sum::<f64>() / n;
    let var = nanos
        .iter()
        .map(|&v| (us(v) - mean) * (us(v) - mean))
        .sum::<f64>()
        / n;
    Stats {
        mean,
        std: libm::sqrt(var),
        p50: us(percentile(nanos, 50)),
        p99: us(percentile(nanos, 99)),
        min: us(nanos.first().copied().unwrap_or(0)),
        max: us(nanos.last().copied().unwrap_or(0)),
    }
}

/// Deterministic inputs in [-1, 1), the same on every machine and the same as a firmware
/// image's self-test inputs (one generator: [`deepiot_format::rng`]).
pub fn fill_inputs(seed: u64, values: &mut [f32]) {
    deepiot_format::rng::fill_symmetric(seed, values);
}

/// Peak resident set size in KiB (`VmHWM`), where the kernel reports it.
pub fn peak_rss_kib() -> Option<u64> {
    let bytes = sys::read_file(b"/proc/self/status").ok()?;
    let status = core::str::from_utf8(&bytes).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

pub fn main(opts: &BenchOpts) -> Result<()> {
    let load_start = sys::now_ns();
    let (file_bytes, mut model) = load_model(&opts.model)?;
    let load_ms = sys::now_ns().saturating_sub(load_start) as f64 / 1e6;
    let file_len = file_bytes.len();
    let layers = if opts.per_layer {
        layer_rows(&file_bytes, &model)?
    } else {
        Vec::new()
    };
    drop(file_bytes);

    let mut inputs: Vec<Vec<f32>> = (0..model.input_count())
        .map(|i| vec![0.0; model.input_len(i)])
        .collect();
    for (i, v) in inputs.iter_mut().enumerate() {
        fill_inputs(opts.seed.wrapping_add(i as u64), v);
    }
    let mut outputs: Vec<Vec<f32>> = (0..model.output_count())
        .map(|o| vec![0.0; model.output_len(o)])
        .collect();
    let single = inputs.len() == 1 && outputs.len() == 1;
    let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<&mut [f32]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    let mut nanos: Vec<u64> = Vec::with_capacity(opts.iterations);
    let steps = model.step_nodes().len();
    let mut layer_nanos: Vec<u64> = vec![
        0;
        if opts.per_layer {
            opts.iterations * steps
        } else {
            0
        }
    ];

    let mut once = |model: &mut deepiot_runtime::Model| -> Result<()> {
        let r = if single {
            model.run(black_box(ins[0]), black_box(&mut *outs[0]))
        } else {
            model.run_multi(black_box(&ins), black_box(&mut outs))
        };
        r.map_err(|e| Failure::runtime(format!("inference failed: {e}")))
    };

    for _ in 0..opts.warmup {
        once(&mut model)?;
    }
    let before = alloc_counter::snapshot();
    let wall = sys::now_ns();
    for _ in 0..opts.iterations {
        let t = sys::now_ns();
        once(&mut model)?;
        let dt = sys::now_ns().saturating_sub(t);
        // Within capacity: pushing never allocates.
        nanos.push(dt);
    }
    let wall_s = sys::now_ns().saturating_sub(wall) as f64 / 1e9;
    // The per-layer loop: the same runs with the clock read between steps.
    for per_run in layer_nanos.chunks_exact_mut(steps.max(1)) {
        model
            .run_profiled(
                black_box(&ins),
                black_box(&mut outs),
                &mut sys::now_ns,
                per_run,
            )
            .map_err(|e| Failure::runtime(format!("inference failed: {e}")))?;
    }
    let during = before.since(alloc_counter::snapshot());
    black_box(&outputs);
    let layers = opts
        .per_layer
        .then(|| layer_times(layers, &layer_nanos, steps));

    let s = stats(&mut nanos);
    let rss = peak_rss_kib();
    let debug = cfg!(debug_assertions);
    let throughput = if wall_s > 0.0 {
        opts.iterations as f64 / wall_s
    } else {
        0.0
    };
    let mut text = String::new();
    if opts.json {
        // Three decimals: nanosecond resolution, no float noise in the printed figures.
        let round3 = |v: f64| libm::round(v * 1000.0) / 1000.0;
        let report = BenchReport {
            model: shown(&opts.model),
            iterations: opts.iterations as u64,
            warmup: opts.warmup as u64,
            seed: opts.seed,
            file_bytes: file_len as u64,
            weight_bytes: model.weight_bytes() as u64,
            arena_bytes: model.arena_bytes() as u64,
            params: model.param_count() as u64,
            nonzeros: model.nonzero_count() as u64,
            macs: model.macs(),
            unit: "us".into(),
            mean_us: round3(s.mean),
            std_us: round3(s.std),
            p50_us: round3(s.p50),
            p99_us: round3(s.p99),
            min_us: round3(s.min),
            max_us: round3(s.max),
            throughput_per_s: round3(throughput),
            load_ms: round3(load_ms),
            peak_rss_kib: rss,
            allocations: during.allocations as u64,
            allocated_bytes: during.bytes as u64,
            debug_build: debug,
            layers: layers.map(|ls| {
                ls.into_iter()
                    .map(|l| LayerTime {
                        p50_us: round3(l.p50_us),
                        mean_us: round3(l.mean_us),
                        share: libm::round(l.share * 1e6) / 1e6,
                        ..l
                    })
                    .collect()
            }),
        };
        text = serde_json::to_string(&report)
            .map_err(|e| Failure::runtime(format!("cannot write the report: {e}")))?;
        text.push('\n');
    } else {
        let _ = writeln!(text, "model        {}", shown(&opts.model));
        let _ = writeln!(
            text,
            "runs         {} timed after {} warm-up, seed {}",
            opts.iterations, opts.warmup, opts.seed
        );
        let _ = writeln!(
            text,
            "latency      {:.1} ± {:.1} µs (mean ± std)",
            s.mean, s.std
        );
        let _ = writeln!(
            text,
            "             p50 {:.1} µs, p99 {:.1} µs, min {:.1} µs, max {:.1} µs",
            s.p50, s.p99, s.min, s.max
        );
        let _ = writeln!(text, "throughput   {throughput:.1} inferences/s");
        let _ = writeln!(
            text,
            "model size   {} params ({} non-zero), {} MACs/inference, file {} bytes",
            model.param_count(),
            model.nonzero_count(),
            model.macs(),
            file_len
        );
        let _ = writeln!(
            text,
            "memory       weights {} bytes, arena {} bytes, peak RSS {}",
            model.weight_bytes(),
            model.arena_bytes(),
            rss.map_or("unknown".to_string(), |v| format!("{v} KiB"))
        );
        let _ = writeln!(text, "load time    {load_ms:.2} ms");
        let _ = writeln!(
            text,
            "allocations  {} during the timed loop{} ({} bytes){}",
            during.allocations,
            if opts.per_layer { "s" } else { "" },
            during.bytes,
            if during.allocations == 0 {
                ""
            } else {
                "  <-- must be 0"
            }
        );
        if let Some(ls) = &layers {
            write_layer_table(&mut text, ls, s.mean);
        }
    }
    emit(&text)?;
    if debug {
        let _ = sys::write_all(
            2,
            b"deepiot-run: warning: this is a debug build; timings are 10-50x slower than --release\n",
        );
    }
    if during.allocations != 0 {
        return Err(Failure::runtime(format!(
            "inference allocated {} time(s) ({} bytes) during {} timed runs; it must allocate nothing",
            during.allocations, during.bytes, opts.iterations
        )));
    }
    Ok(())
}

/// Each step's layer (name, op, output shape, MACs), with the timings still zero.
fn layer_rows(file_bytes: &[u8], model: &deepiot_runtime::Model) -> Result<Vec<LayerTime>> {
    let file =
        deepiot_runtime::format::parse(file_bytes).map_err(|e| Failure::model(e.to_string()))?;
    let graph = model.graph();
    Ok(model
        .step_nodes()
        .map(|k| {
            let node = &graph.nodes[k];
            LayerTime {
                name: node.name.clone(),
                op: node.op.kind().into(),
                shape: file.info.node_shapes[k].to_vec(),
                macs: file.info.macs(graph, k),
                ..LayerTime::default()
            }
        })
        .collect())
}

/// Fills each layer's p50, mean and share from `nanos` (one row of `steps` per run).
fn layer_times(mut layers: Vec<LayerTime>, nanos: &[u64], steps: usize) -> Vec<LayerTime> {
    let mut column = Vec::with_capacity(nanos.len() / steps.max(1));
    for (s, layer) in layers.iter_mut().enumerate() {
        column.clear();
        column.extend(nanos.chunks_exact(steps).map(|run| run[s]));
        let st = stats(&mut column);
        layer.p50_us = st.p50;
        layer.mean_us = st.mean;
    }
    let total: f64 = layers.iter().map(|l| l.mean_us).sum();
    for l in &mut layers {
        l.share = if total > 0.0 { l.mean_us / total } else { 0.0 };
    }
    layers
}

/// The `--per-layer` table, in execution order, and how the layers add up against the
/// whole-run mean of the first loop (the difference is the clock reads and the copies in
/// and out).
fn write_layer_table(text: &mut String, layers: &[LayerTime], run_mean: f64) {
    let name_w = layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let shape = |s: &[usize]| {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    };
    let _ = writeln!(
        text,
        "per layer    (second loop, clock read after every layer)"
    );
    let _ = writeln!(
        text,
        "  {:name_w$}  {:10}  {:>12}  {:>10}  {:>9}  {:>9}  {:>6}",
        "layer", "op", "shape", "MACs", "p50 µs", "mean µs", "share"
    );
    for l in layers {
        let _ = writeln!(
            text,
            "  {:name_w$}  {:10}  {:>12}  {:>10}  {:>9.1}  {:>9.1}  {:>5.1}%",
            l.name,
            l.op,
            shape(&l.shape),
            l.macs,
            l.p50_us,
            l.mean_us,
            l.share * 100.0
        );
    }
    let sum: f64 = layers.iter().map(|l| l.mean_us).sum();
    let _ = writeln!(
        text,
        "  sum of layer means {sum:.1} µs; whole-run mean {run_mean:.1} µs (first loop)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_latencies() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        v.reverse();
        let s = stats(&mut v);
        assert_eq!((s.min, s.max, s.p50, s.p99), (1.0, 100.0, 50.0, 99.0));
        assert!((s.mean - 50.5).abs() < 1e-9);
        let s = stats(&mut [7000]);
        assert_eq!((s.p50, s.p99, s.std), (7.0, 7.0, 0.0));
    }

    #[test]
    fn inputs_are_deterministic_and_in_range() {
        let (mut a, mut b) = ([0f32; 64], [0f32; 64]);
        fill_inputs(3, &mut a);
        fill_inputs(3, &mut b);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
        fill_inputs(4, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn layer_shares_add_up_and_follow_the_columns() {
        let rows = vec![LayerTime::default(), LayerTime::default()];
        // Three runs of two steps: step 0 takes 1, 2, 3 µs; step 1 takes 3 µs each time.
        let nanos = [1000, 3000, 2000, 3000, 3000, 3000];
        let l = layer_times(rows, &nanos, 2);
        assert_eq!((l[0].p50_us, l[0].mean_us), (2.0, 2.0));
        assert_eq!((l[1].p50_us, l[1].mean_us), (3.0, 3.0));
        assert!((l[0].share - 0.4).abs() < 1e-12 && (l[1].share - 0.6).abs() < 1e-12);
    }
}
