//! `deepiot bench-train`: the time of one training step (forward, backward, AdamW) of a
//! zoo model on a synthetic batch, for each thread count, in one run so that the ratios
//! are meaningful on a noisy machine:
//!
//! 1. candle's built-in convolution and pooling with glibc's default malloc settings
//!    (where this project started);
//! 2. the same with the allocator tuned ([`crate::train::tune_malloc`]);
//! 3. our ops with hand-written backward passes — convolution ([`crate::models::conv`]),
//!    pooling ([`crate::models::kernels`]) and the recurrent time loop
//!    ([`crate::models::recurrence`]) — with the tuned allocator: what `deepiot train` runs.
use crate::models::{zoo, ConvImpl, Net};
use crate::rng::Rng;
use crate::train::{AdamParams, AdamW};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde::Serialize;
use std::time::Instant;

/// What `deepiot bench-train` times. `Default` holds the command line's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchTrainConfig {
    /// The zoo model.
    pub task: String,
    pub batch: usize,
    /// Timed steps per configuration.
    pub iterations: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Thread counts to try.
    pub threads: Vec<usize>,
    /// Only this configuration (`candle-default-malloc`, `candle` or `im2col`).
    pub only: Option<String>,
    /// Print JSON instead of a table.
    pub json: bool,
}

impl Default for BenchTrainConfig {
    fn default() -> Self {
        BenchTrainConfig {
            task: "mnist-lenet5".into(),
            batch: 64,
            iterations: 20,
            warmup: 3,
            threads: vec![1, 2],
            only: None,
            json: false,
        }
    }
}

/// Timings of one configuration, milliseconds per step.
#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    pub conv: String,
    pub threads: usize,
    pub mean_ms: f64,
    pub std_ms: f64,
    pub min_ms: f64,
    /// Forward pass alone (mean).
    pub forward_ms: f64,
}

/// The per-example input shape and class count a zoo model is benchmarked with (the data
/// loaders' constants).
pub fn bench_shape(model: &str) -> Option<(Vec<usize>, usize)> {
    use crate::data::{casale, fsdd};
    Some(match model {
        "mnist-lenet5" => (vec![1, 28, 28], 10),
        "har-deepsense" => (
            vec![casale::AXES, casale::INTERVALS, casale::INTERVAL_LEN],
            7,
        ),
        "userid-deepsense" => (
            vec![casale::AXES, casale::INTERVALS, casale::INTERVAL_LEN],
            15,
        ),
        "speech-bilstm" => (vec![fsdd::FRAMES, fsdd::N_MELS], 10),
        "cifar-vgg" => (vec![3, 32, 32], 10),
        _ => return None,
    })
}

/// Times `iterations` training steps of `net` on one fixed batch.
pub fn time_steps(
    net: &Net,
    x: &Tensor,
    y: &Tensor,
    warmup: usize,
    iterations: usize,
) -> Result<StepTime> {
    let mut opt = AdamW::for_net(
        net,
        AdamParams {
            lr: 1e-4,
            ..AdamParams::default()
        },
    );
    for _ in 0..warmup {
        crate::train::train_step(net, &mut opt, x, y, None, None)?;
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        crate::train::train_step(net, &mut opt, x, y, None, None)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut fwd = 0.0;
    for _ in 0..iterations.min(10) {
        let t = Instant::now();
        let _ = net.logits(&[x], true)?.sum_all()?.to_scalar::<f32>()?;
        fwd += t.elapsed().as_secs_f64() * 1e3;
    }
    let n = times.len().max(1) as f64;
    let mean = times.iter().sum::<f64>() / n;
    let var = times.iter().map(|t| (t - mean) * (t - mean)).sum::<f64>() / n;
    Ok(StepTime {
        conv: String::new(),
        threads: 0,
        mean_ms: mean,
        std_ms: var.sqrt(),
        min_ms: times.iter().cloned().fold(f64::INFINITY, f64::min),
        forward_ms: fwd / iterations.clamp(1, 10) as f64,
    })
}

/// One configuration of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    /// candle's conv2d and pooling, glibc's default malloc settings: the starting point.
    CandleDefault,
    /// candle's conv2d and pooling, malloc tuned ([`crate::train::tune_malloc`]).
    Candle,
    /// Our convolution, pooling and recurrence ops, malloc tuned: what `deepiot train` uses.
    Ours,
}

impl Config {
    fn name(self) -> &'static str {
        match self {
            Config::CandleDefault => "candle-default-malloc",
            Config::Candle => "candle",
            Config::Ours => "im2col",
        }
    }
}

/// Runs `deepiot bench-train`.
///
/// The starting point (candle's ops with glibc's default malloc) is timed first, for every
/// thread count, because the malloc tuning cannot be undone within a process; then the
/// allocator is tuned and candle's ops and ours are timed.
pub fn run(args: &BenchTrainConfig) -> Result<Vec<StepTime>> {
    let spec = zoo::find(&args.task).with_context(|| format!("unknown --task `{}`", args.task))?;
    let (shape, classes) = bench_shape(spec.name).context("no benchmark shape for this model")?;
    let wanted: Vec<Config> = match args.only.as_deref() {
        None => vec![Config::CandleDefault, Config::Candle, Config::Ours],
        Some("candle") => vec![Config::Candle],
        Some("candle-default-malloc") => vec![Config::CandleDefault],
        Some("im2col") => vec![Config::Ours],
        Some(o) => bail!("--only takes `candle`, `candle-default-malloc` or `im2col`, got `{o}`"),
    };
    if args.batch == 0 || args.iterations == 0 {
        bail!("--batch and --iterations must be at least 1");
    }
    if let Some(t) = args.threads.iter().find(|&&t| t == 0) {
        bail!("--threads values must be at least 1, got {t}");
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build of deepiot; time with `cargo run --release`");
    }
    let graph = zoo::build(spec.name, &shape, classes).map_err(anyhow::Error::msg)?;
    let mut rng = Rng::new(7);
    let len: usize = shape.iter().product();
    let xs: Vec<f32> = (0..args.batch * len)
        .map(|_| rng.uniform(-1.0, 1.0))
        .collect();
    let ys: Vec<u32> = (0..args.batch).map(|_| rng.below(classes) as u32).collect();
    let mut dims = vec![args.batch];
    dims.extend_from_slice(&shape);
    let x = Tensor::from_vec(xs, dims, &Device::Cpu)?;
    let y = Tensor::from_vec(ys, args.batch, &Device::Cpu)?;
    let mut results = Vec::new();
    let phases: [&[Config]; 2] = [&[Config::CandleDefault], &[Config::Candle, Config::Ours]];
    for (phase, configs) in phases.iter().enumerate() {
        if phase == 1 {
            crate::train::tune_malloc();
        }
        for &t in &args.threads {
            // candle reads RAYON_NUM_THREADS at every matmul; our kernels use the current pool.
            std::env::set_var("RAYON_NUM_THREADS", t.to_string());
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
            for &config in configs.iter().filter(|c| wanted.contains(c)) {
                let conv = match config {
                    Config::Ours => ConvImpl::Im2col,
                    _ => ConvImpl::Candle,
                };
                let net = Net::new(&graph, 1)?.with_conv(conv);
                let mut st =
                    pool.install(|| time_steps(&net, &x, &y, args.warmup, args.iterations))?;
                st.conv = config.name().into();
                st.threads = t;
                if !args.json {
                    eprintln!("  {} thread(s), {:<22} {:.1} ms", t, st.conv, st.mean_ms);
                }
                results.push(st);
            }
        }
    }
    let find = |t: usize, c: Config| {
        results
            .iter()
            .find(|r| r.threads == t && r.conv == c.name())
    };
    if args.json {
        let v = serde_json::json!({
            "model": spec.name, "batch": args.batch, "iterations": args.iterations,
            "warmup": args.warmup, "params": graph.infer()?.param_count(), "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(results);
    }
    println!(
        "{}: training step (forward + backward + AdamW), batch {}, mean ± std over {} steps after {} warm-up",
        spec.name, args.batch, args.iterations, args.warmup
    );
    let cell = |r: Option<&StepTime>| match r {
        Some(r) => format!("{:.1} ± {:.1} ms", r.mean_ms, r.std_ms),
        None => "-".into(),
    };
    println!(
        "{:>7}  {:>21}  {:>21}  {:>21}  {:>14}",
        "threads",
        "candle, default malloc",
        "candle, tuned malloc",
        "ours (deepiot ops)",
        "ours vs start"
    );
    for &t in &args.threads {
        let (a, b, c) = (
            find(t, Config::CandleDefault),
            find(t, Config::Candle),
            find(t, Config::Ours),
        );
        let ratio = match (a, c) {
            (Some(a), Some(c)) => format!("{:.2}x", a.mean_ms / c.mean_ms),
            _ => "-".into(),
        };
        println!(
            "{t:>7}  {:>21}  {:>21}  {:>21}  {ratio:>14}",
            cell(a),
            cell(b),
            cell(c)
        );
    }
    let best = |c: Config| {
        results
            .iter()
            .filter(|r| r.conv == c.name())
            .map(|r| r.mean_ms)
            .reduce(f64::min)
    };
    if let (Some(start), Some(ours)) = (best(Config::CandleDefault), best(Config::Ours)) {
        println!(
            "best starting point {start:.1} ms -> best ours {ours:.1} ms: {:.2}x faster",
            start / ours
        );
    }
    Ok(results)
}
