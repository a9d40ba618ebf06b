//! `deepiot bench-train`: the time of one training step (forward, backward, AdamW) of a
//! zoo model on a synthetic batch, with candle's built-in convolution and pooling and with
//! ours (im2col + one matmul, [`crate::models::kernels`]), for each thread count, in one
//! run so that the ratio is meaningful on a noisy machine.
use crate::models::{zoo, ConvImpl, Net};
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::Serialize;
use std::time::Instant;

/// `deepiot bench-train`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchTrainArgs {
    /// The zoo model (mnist-lenet5, har-deepsense, userid-deepsense, speech-bilstm, cifar-vgg).
    #[arg(long, default_value = "mnist-lenet5")]
    pub task: String,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed steps per configuration.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub iterations: usize,
    /// Untimed steps first.
    #[arg(short, long, default_value_t = 3)]
    pub warmup: usize,
    /// Thread counts to try (sets RAYON_NUM_THREADS for candle's matmuls and runs in a
    /// rayon pool of that size).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Only this convolution path (`candle` or `im2col`); default both.
    #[arg(long)]
    pub only: Option<String>,
    /// Prints JSON.
    #[arg(long)]
    pub json: bool,
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
    let mut opt = AdamW::new(
        net.vars(),
        ParamsAdamW {
            lr: 1e-4,
            ..ParamsAdamW::default()
        },
    )?;
    for _ in 0..warmup {
        crate::train::train_step(net, &mut opt, x, y)?;
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        crate::train::train_step(net, &mut opt, x, y)?;
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
        forward_ms: fwd / iterations.min(10).max(1) as f64,
    })
}

/// Runs `deepiot bench-train`.
pub fn run(args: &BenchTrainArgs) -> Result<Vec<StepTime>> {
    crate::train::tune_malloc();
    let spec = zoo::find(&args.task).with_context(|| format!("unknown --task `{}`", args.task))?;
    let (shape, classes) = bench_shape(spec.name).context("no benchmark shape for this model")?;
    if let Some(o) = args
        .only
        .as_deref()
        .filter(|o| !["candle", "im2col"].contains(o))
    {
        bail!("--only takes `candle` or `im2col`, got `{o}`");
    }
    if args.batch == 0 || args.iterations == 0 {
        bail!("--batch and --iterations must be at least 1");
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
    for &t in &args.threads {
        if t == 0 {
            bail!("--threads values must be at least 1");
        }
        // candle reads RAYON_NUM_THREADS at every matmul; our kernels use the current pool.
        std::env::set_var("RAYON_NUM_THREADS", t.to_string());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        for conv in [ConvImpl::Candle, ConvImpl::Im2col] {
            let name = match conv {
                ConvImpl::Candle => "candle",
                ConvImpl::Im2col => "im2col",
            };
            if args.only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let net = Net::new(&graph, 1)?.with_conv(conv);
            let mut st = pool.install(|| time_steps(&net, &x, &y, args.warmup, args.iterations))?;
            st.conv = name.into();
            st.threads = t;
            if !args.json {
                eprintln!("  {} threads, {:<6}: {:.1} ms", t, st.conv, st.mean_ms);
            }
            results.push(st);
        }
    }
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
    println!(
        "{:>7}  {:>22}  {:>22}  {:>8}",
        "threads", "candle conv2d/pool", "im2col + matmul", "speed-up"
    );
    for pair in results.chunks(2) {
        if let [a, b] = pair {
            println!(
                "{:>7}  {:>11.1} ± {:>4.1} ms  {:>11.1} ± {:>4.1} ms  {:>7.2}x",
                a.threads,
                a.mean_ms,
                a.std_ms,
                b.mean_ms,
                b.std_ms,
                a.mean_ms / b.mean_ms
            );
        }
    }
    if let (Some(worst), Some(best)) = (
        results
            .iter()
            .filter(|r| r.conv == "candle")
            .map(|r| r.mean_ms)
            .reduce(f64::max),
        results
            .iter()
            .filter(|r| r.conv == "im2col")
            .map(|r| r.mean_ms)
            .reduce(f64::min),
    ) {
        println!(
            "best im2col vs slowest candle configuration: {:.2}x",
            worst / best
        );
    }
    Ok(results)
}
