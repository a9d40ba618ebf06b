//! `deepiot compare`: DeepIoT against the baselines on one trained model, as the paper's
//! tables and trade-off figures.
//!
//! Every (method, target) result is cached in `DIR/runs/` under a key of the method, the
//! target, the original file's hash and every setting that changes the result, so a
//! second run with the same flags only re-measures. All figures are measured here the
//! same way for every model, never copied from a report: test accuracy in the host
//! network, parameters as the nonzero weights plus biases, FLOPs as the multiply-adds
//! those weights take part in, and latency from the board runtime's `bench`, run for the
//! original and every result in one process order with the same iterations.
use crate::compress::baseline::{self, BaselineArgs, Method};
use crate::compress::cli::{self as compress, CompressArgs, LayerReport};
use crate::compress::search::weights_of;
use crate::compress::surgery::Weights;
use crate::export;
use crate::models::zoo;
use crate::runtime_build::{locate_runtime, EDISON_TRIPLE};
use crate::train;
use anyhow::{bail, Context, Result};
use deepiot_format::Graph;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub mod plot;
pub mod report;
pub mod table;

/// Compare compression methods on one trained model.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The zoo model / task (its data set is the test set of every row).
    #[arg(long)]
    pub task: String,
    /// The trained model (default: DIR/original.safetensors).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Methods to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "deepiot,magnitude,l1-structured"
    )]
    pub methods: Vec<String>,
    /// Target kept fractions of the parameters, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.02")]
    pub targets: Vec<f64>,
    /// Use an existing result for a method instead of running it: METHOD=MODEL (its
    /// report, if any, beside it). Repeatable.
    #[arg(long)]
    pub reuse: Vec<String>,
    /// Data folder (default: $DEEPIOT_DATA, then ../shared/data, then the bundled subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Train on at most this many examples (quick runs).
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Fine-tuning (retraining) epochs of every method.
    #[arg(long, default_value_t = 4)]
    pub finetune_epochs: usize,
    /// Fine-tuning learning rate and its factor per epoch, for every method (default:
    /// `deepiot compress`'s).
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    #[arg(long)]
    pub finetune_lr_decay: Option<f64>,
    /// Fine-tuning dropout for every method (default: `deepiot compress`'s, none).
    #[arg(long)]
    pub finetune_dropout: Option<f32>,
    /// Fine-tuning mixup for every method (`deepiot compress --finetune-mixup`).
    #[arg(long, value_name = "ALPHA", value_parser = crate::args::positive_f32)]
    pub finetune_mixup: Option<f32>,
    /// Weight of distilling the original in every method's fine-tuning (default:
    /// `deepiot compress`'s).
    #[arg(long)]
    pub distill_alpha: Option<f32>,
    /// DeepIoT's FLOPs-aware search weight (`deepiot compress --flops-weight`).
    #[arg(long)]
    pub flops_weight: Option<f64>,
    /// Fine-tuning augmentation for every method (default: `deepiot compress`'s `auto`).
    #[arg(long)]
    pub finetune_augment: Option<String>,
    /// DeepIoT search iterations at most.
    #[arg(long, default_value_t = 20_000)]
    pub max_iterations: usize,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Runtime bench iterations per model.
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// "Equal accuracy" for the report's verdict: a result counts when its test accuracy
    /// is at most this many points below the original's (the paper's comparisons hold
    /// accuracy within 0.1 point).
    #[arg(long, default_value_t = 0.1)]
    pub within: f64,
    /// Skip the runtime timings (no latency column).
    #[arg(long)]
    pub no_bench: bool,
    /// A built `deepiot-run` to time with (default: build it for i686-unknown-linux-musl).
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// Only redraw report.md and the figures from OUT/report.json (nothing is run or timed).
    #[arg(long)]
    pub report_only: bool,
    /// Output folder: report.md, report.json, plots, cached runs.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// What `deepiot-run bench --json` measured for one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bench {
    pub file: String,
    pub mean_us: f64,
    pub p50_us: f64,
    pub file_bytes: u64,
    pub arena_bytes: u64,
}

/// One model of the comparison (the original or a result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `original`, or the method that made it.
    pub method: String,
    /// The requested kept fraction (none for the original and reused results).
    pub target: Option<f64>,
    /// `run`, `cached` or `reused`.
    pub source: String,
    pub file: String,
    /// A sparse (CSR) copy of the same model, when one exists.
    pub sparse_file: Option<String>,
    /// Nonzero weights plus biases.
    pub params: usize,
    pub kept_fraction: f64,
    pub test_accuracy: f64,
    pub file_bytes: u64,
    /// Multiply-adds of the nonzero weights, per example.
    pub macs: u64,
    pub layers: Vec<LayerRow>,
    /// Timings of the dense file and of the sparse one; `latency_us` is the faster mean.
    pub bench_dense: Option<Bench>,
    pub bench_sparse: Option<Bench>,
    pub latency_us: Option<f64>,
    /// `dense` or `sparse`: the file `latency_us` and `deploy_bytes` belong to.
    pub deploy_format: String,
    pub deploy_bytes: u64,
}

impl Entry {
    /// The label of the entry in tables and legends.
    pub fn label(&self) -> String {
        match (self.target, self.source.as_str()) {
            (Some(t), _) => format!("{} @ {}", self.method, percent(t)),
            // Several results of one method may be reused: the file tells them apart.
            (None, "reused") => {
                let stem = Path::new(&self.file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{} ({stem})", self.method)
            }
            _ => self.method.clone(),
        }
    }

    pub fn flops(&self) -> u64 {
        2 * self.macs
    }
}

/// `0.0198` -> `1.98 %`.
pub fn percent(f: f64) -> String {
    let s = format!("{:.3}", 100.0 * f);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} %")
}

/// One compressible (or classifier) layer of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    pub layer: String,
    pub direction: usize,
    pub units_before: usize,
    pub units_after: usize,
    pub params_before: usize,
    pub params_after: usize,
}

impl From<&LayerReport> for LayerRow {
    fn from(l: &LayerReport) -> Self {
        LayerRow {
            layer: l.layer.clone(),
            direction: l.direction,
            units_before: l.units_before,
            units_after: l.units_after,
            params_before: l.params_before,
            params_after: l.params_after,
        }
    }
}

/// Everything `report.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub task: String,
    pub data: String,
    pub test_examples: usize,
    pub runtime: Option<String>,
    pub iterations: usize,
    pub warmup: usize,
    /// The accuracy tolerance (points below the original) of the equal-accuracy verdict.
    #[serde(default = "default_within")]
    pub within_pt: f64,
    pub original: Entry,
    pub results: Vec<Entry>,
}

fn default_within() -> f64 {
    0.1
}

/// Measures one model file against the original (everything but latency).
pub fn measure(
    method: &str,
    target: Option<f64>,
    source: &str,
    file: &Path,
    original: (&Graph, &Weights),
    ds: &crate::data::Dataset,
) -> Result<Entry> {
    let (net, _) = export::load(file)?;
    let w = weights_of(&net)?;
    let layers = baseline::layer_reports(original.0, original.1, net.graph(), &w)?;
    let params = baseline::effective_params(&w);
    let total: usize = original.1.values().map(|(_, v)| v.len()).sum();
    let idx: Vec<usize> = (0..ds.test_len()).collect();
    let acc = train::accuracy(&net, &ds.test_x, &ds.test_y, &idx)?;
    let graph = net.graph();
    let info = graph.infer()?;
    let mut macs = 0u64;
    for i in 0..graph.nodes.len() {
        let m = info.macs(graph, i);
        let (mut wt, mut nz) = (0usize, 0usize);
        for spec in &info.params[i] {
            if baseline::is_weight_matrix(&spec.name) {
                if let Some((_, v)) = w.get(&spec.name) {
                    wt += v.len();
                    nz += v.iter().filter(|x| **x != 0.0).count();
                }
            }
        }
        macs += if wt == 0 {
            m
        } else {
            (m as f64 * nz as f64 / wt as f64).round() as u64
        };
    }
    let sparse = crate::compress::magnitude::sparse_path(file);
    let file_bytes = std::fs::metadata(file)?.len();
    Ok(Entry {
        method: method.into(),
        target,
        source: source.into(),
        file: file.display().to_string(),
        sparse_file: sparse.exists().then(|| sparse.display().to_string()),
        params,
        kept_fraction: params as f64 / total.max(1) as f64,
        test_accuracy: acc,
        file_bytes,
        macs,
        layers: layers.iter().map(LayerRow::from).collect(),
        bench_dense: None,
        bench_sparse: None,
        latency_us: None,
        deploy_format: "dense".into(),
        deploy_bytes: file_bytes,
    })
}

/// Times one file with the runtime's `bench`.
pub fn bench(bin: &Path, model: &Path, iterations: usize, warmup: usize) -> Result<Bench> {
    let report = crate::runtime_json::bench_local(bin, model, iterations, warmup)?;
    Ok(Bench::from_report(&report, model))
}

impl Bench {
    /// The figures of a `deepiot-run bench` report that the comparison keeps.
    pub fn from_report(r: &crate::runtime_json::BenchReport, model: &Path) -> Bench {
        Bench {
            file: model.display().to_string(),
            mean_us: r.mean_us,
            p50_us: r.p50_us,
            file_bytes: r.file_bytes,
            arena_bytes: r.arena_bytes,
        }
    }
}

/// Times an entry's dense file and sparse file (if any) and keeps the faster, as the
/// paper reported the better of DyNS's two storage formats.
pub fn bench_entry(e: &mut Entry, bin: &Path, iterations: usize, warmup: usize) -> Result<()> {
    let dense = bench(bin, Path::new(&e.file), iterations, warmup)?;
    let sparse = match &e.sparse_file {
        Some(s) => Some(bench(bin, Path::new(s), iterations, warmup)?),
        None => None,
    };
    let (fmt, best) = match &sparse {
        Some(s) if s.p50_us < dense.p50_us => ("sparse", s),
        _ => ("dense", &dense),
    };
    // The median: on a shared machine other processes inflate the mean (a LeNet-5 mean
    // of 999 µs beside a 399 µs median), not the median.
    e.latency_us = Some(best.p50_us);
    e.deploy_format = fmt.into();
    e.deploy_bytes = if best.file_bytes > 0 {
        best.file_bytes
    } else {
        e.file_bytes
    };
    e.bench_dense = Some(dense);
    e.bench_sparse = sparse;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// The `deepiot compress` flags a comparison sets only when the user does, with their
/// values: what a run gets (`compress_args`) and what its cache key holds (`cache_key`).
fn optional_settings(args: &CompareArgs, method: Method) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::Value;
    [
        ("--finetune-lr", args.finetune_lr.map(Value::from)),
        (
            "--finetune-lr-decay",
            args.finetune_lr_decay.map(Value::from),
        ),
        (
            "--finetune-augment",
            args.finetune_augment.clone().map(Value::from),
        ),
        ("--finetune-dropout", args.finetune_dropout.map(Value::from)),
        ("--finetune-mixup", args.finetune_mixup.map(Value::from)),
        ("--distill-alpha", args.distill_alpha.map(Value::from)),
        (
            "--flops-weight",
            args.flops_weight
                .filter(|_| method == Method::Deepiot)
                .map(Value::from),
        ),
    ]
    .into_iter()
    .filter_map(|(flag, value)| value.map(|v| (flag, v)))
    .collect()
}

/// The cache key of one run: everything that changes its result.
pub fn cache_key(args: &CompareArgs, method: Method, target: f64, model_sha: &str) -> String {
    let settings = serde_json::json!({
        "method": method.name(),
        "target": target,
        "model": model_sha,
        "task": args.task,
        "data": args.data.as_ref().map(|d| d.display().to_string()),
        "max_train": args.max_train,
        "finetune_epochs": args.finetune_epochs,
        "max_iterations": args.max_iterations,
        "seed": args.seed,
        "baseline": if method == Method::Magnitude { serde_json::to_value(&args.baseline).ok() } else { None },
    });
    // Settings added later enter the key only when set, so that earlier caches stay valid.
    let mut settings = settings;
    for (flag, value) in optional_settings(args, method) {
        settings[flag.trim_start_matches("--").replace('-', "_")] = value;
    }
    let h = Sha256::digest(settings.to_string().as_bytes());
    format!("{:x}", h)[..12].to_string()
}

/// The arguments `deepiot compress` gets for one run of the comparison: its own defaults
/// (parsed, so that settings added to `compress` later take their defaults here too) with
/// the comparison's choices on top.
fn compress_args(
    args: &CompareArgs,
    model: &Path,
    method: Method,
    target: f64,
    out: &Path,
) -> Result<CompressArgs> {
    let b = &args.baseline;
    let mut argv: Vec<std::ffi::OsString> = vec![
        model.into(),
        "--out".into(),
        out.into(),
        "--task".into(),
        args.task.clone().into(),
        "--method".into(),
        method.name().into(),
        "--target-kept".into(),
        target.to_string().into(),
        "--max-iterations".into(),
        args.max_iterations.to_string().into(),
        "--finetune-epochs".into(),
        args.finetune_epochs.to_string().into(),
        "--seed".into(),
        args.seed.to_string().into(),
        "--prune-epochs".into(),
        b.prune_epochs.to_string().into(),
        "--ramp".into(),
        b.ramp.to_string().into(),
        "--mask-every".into(),
        b.mask_every.to_string().into(),
        "--splice-margin".into(),
        b.splice_margin.to_string().into(),
        "--prune-lr".into(),
        b.prune_lr.to_string().into(),
        "--sparse-max-density".into(),
        b.sparse_max_density.to_string().into(),
    ];
    if let Some(d) = &args.data {
        argv.extend(["--data".into(), d.into()]);
    }
    if let Some(m) = args.max_train {
        argv.extend(["--max-train".into(), m.to_string().into()]);
    }
    for (flag, value) in optional_settings(args, method) {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), String::from);
        argv.extend([flag.into(), text.into()]);
    }
    crate::args::parse(argv)
}

/// Parses `--reuse METHOD=MODEL`.
fn parse_reuse(s: &str) -> Result<(Method, PathBuf)> {
    let (m, p) = s
        .split_once('=')
        .with_context(|| format!("--reuse `{s}`: expected METHOD=MODEL"))?;
    let method = Method::parse(m).with_context(|| {
        format!("--reuse `{s}`: unknown method `{m}` (deepiot, magnitude, l1-structured)")
    })?;
    let path = PathBuf::from(p);
    if !path.exists() {
        bail!("--reuse `{s}`: {} does not exist", path.display());
    }
    Ok((method, path))
}

pub fn run(args: &CompareArgs) -> Result<Comparison> {
    if args.report_only {
        let path = args.out.join("report.json");
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let c: Comparison = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a comparison report", path.display()))?;
        report::write(&c, &args.out)?;
        return Ok(c);
    }
    train::tune_malloc();
    std::fs::create_dir_all(args.out.join("runs"))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| args.out.join("original.safetensors"));
    if !model.exists() {
        bail!(
            "no trained model at {}: pass --model (from `deepiot train`)",
            model.display()
        );
    }
    let methods: Vec<Method> = args
        .methods
        .iter()
        .map(|m| {
            Method::parse(m.trim()).with_context(|| {
                format!("unknown method `{m}` (deepiot, magnitude, l1-structured)")
            })
        })
        .collect::<Result<_>>()?;
    let reuse: Vec<(Method, PathBuf)> = args
        .reuse
        .iter()
        .map(|s| parse_reuse(s))
        .collect::<Result<_>>()?;
    let spec = zoo::find(&args.task).with_context(|| format!("unknown task `{}`", args.task))?;
    let (ds, _) = train::load_data(spec, args.data.as_deref(), None)?;
    let (orig_net, _) = export::load(&model)?;
    let orig_w = weights_of(&orig_net)?;
    let orig_graph = orig_net.graph().clone();
    let sha = sha256_file(&model)?;

    // Run (or find in the cache) every result first, then measure them all.
    let mut plan: Vec<(Method, Option<f64>, &'static str, PathBuf)> = Vec::new();
    for &method in &methods {
        let reused: Vec<&PathBuf> = reuse
            .iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, p)| p)
            .collect();
        if !reused.is_empty() {
            plan.extend(
                reused
                    .into_iter()
                    .map(|p| (method, None, "reused", p.clone())),
            );
            continue;
        }
        for &target in &args.targets {
            let key = cache_key(args, method, target, &sha);
            let out = args.out.join("runs").join(format!(
                "{}-{}-{key}.safetensors",
                method.name(),
                target
            ));
            let done = out.exists() && compress::report_path(&out).exists();
            if !done {
                eprintln!(
                    "compare: running {} to {} ...",
                    method.name(),
                    percent(target)
                );
                compress::run(&compress_args(args, &model, method, target, &out)?)?;
            } else {
                eprintln!(
                    "compare: {} @ {} from the cache",
                    method.name(),
                    percent(target)
                );
            }
            plan.push((
                method,
                Some(target),
                if done { "cached" } else { "run" },
                out,
            ));
        }
    }
    let mut original = measure(
        "original",
        None,
        "trained",
        &model,
        (&orig_graph, &orig_w),
        &ds,
    )?;
    let mut results = plan
        .iter()
        .map(|(m, t, src, p)| measure(m.name(), *t, src, p, (&orig_graph, &orig_w), &ds))
        .collect::<Result<Vec<_>>>()?;

    let runtime = if args.no_bench {
        None
    } else {
        if args.runtime.is_none() {
            eprintln!("compare: getting the board runtime for {EDISON_TRIPLE} ...");
        }
        let edison = crate::board::target::load("edison", None)?;
        let bin = locate_runtime(args.runtime.as_deref(), edison.build_target())?;
        eprintln!(
            "compare: timing {} models ({} iterations, {} warm-up each) ...",
            results.len() + 1,
            args.iterations,
            args.warmup
        );
        bench_entry(&mut original, &bin, args.iterations, args.warmup)?;
        for e in &mut results {
            bench_entry(e, &bin, args.iterations, args.warmup)?;
        }
        Some(bin.display().to_string())
    };
    let cmp = Comparison {
        task: spec.name.to_string(),
        data: ds.name.clone(),
        test_examples: ds.test_len(),
        runtime,
        iterations: args.iterations,
        warmup: args.warmup,
        within_pt: args.within,
        original,
        results,
    };
    report::write(&cmp, &args.out)?;
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: CompareArgs,
    }

    fn parse(extra: &[&str]) -> CompareArgs {
        let mut argv = vec!["deepiot", "--task", "mnist-lenet5", "-o", "out"];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).args
    }

    /// A fine-tuning setting given to `compare` reaches every `compress` run and changes
    /// the cache key (a cached result made without it is not reused); left out, neither.
    #[test]
    fn fine_tuning_settings_reach_compress_and_the_cache_key() {
        let plain = parse(&[]);
        let mixed = parse(&[
            "--finetune-mixup",
            "0.4",
            "--finetune-dropout",
            "0.1",
            "--distill-alpha",
            "1",
        ]);
        let key = |a: &CompareArgs| cache_key(a, Method::L1Structured, 0.02, "sha");
        assert_ne!(key(&plain), key(&mixed));
        assert_eq!(key(&plain), key(&parse(&[])));
        let run = |a: &CompareArgs| {
            compress_args(
                a,
                Path::new("m.safetensors"),
                Method::L1Structured,
                0.02,
                Path::new("o"),
            )
            .unwrap()
        };
        assert_eq!(run(&mixed).finetune_mixup, Some(0.4));
        assert_eq!(run(&mixed).finetune_dropout, 0.1);
        assert_eq!(run(&mixed).distill_alpha, 1.0);
        assert_eq!(run(&plain).finetune_mixup, None);
        assert_eq!(run(&plain).distill_alpha, 0.7);
        assert_eq!(run(&plain).finetune_dropout, 0.0);
    }
}
