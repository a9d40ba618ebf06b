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
use crate::compress::report::{count_params, layer_reports, total_macs, Counting};
use crate::compress::{self, LayerReport, Method};
use crate::export;
use crate::models::Weights;
use crate::runtime_build::{locate_runtime, EDISON_TRIPLE};
use crate::train::{self, Recipe};
use anyhow::{bail, Context, Result};
use deepiot_format::Graph;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use config::CompareConfig;
use std::path::{Path, PathBuf};

pub mod config;
pub mod plot;
pub mod report;
pub mod seeds;
pub mod table;

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
    /// The seed of its search and fine-tuning, when the comparison ran several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
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
        let base = self.base_label();
        match self.seed {
            Some(seed) => format!("{base} (seed {seed})"),
            None => base,
        }
    }

    fn base_label(&self) -> String {
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
    /// The board's power figure behind the energy estimates (with latency only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<crate::board::target::EnergyEstimate>,
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
    let w = net.weights()?;
    // Every entry is counted as it would be stored sparse: nonzero weights plus biases.
    let layers = layer_reports(original.0, original.1, net.graph(), &w, Counting::Nonzero)?;
    let params = count_params(&w, Counting::Nonzero);
    let total = count_params(original.1, Counting::Stored);
    let idx: Vec<usize> = (0..ds.test_len()).collect();
    let acc = train::accuracy(&net, &ds.test_x, &ds.test_y, &idx)?;
    let macs = total_macs(net.graph(), &w, Counting::Nonzero)?;
    let sparse = compress::sparse_path(file);
    let file_bytes = std::fs::metadata(file)?.len();
    Ok(Entry {
        method: method.into(),
        target,
        source: source.into(),
        seed: None,
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

/// One result to measure: method, target, seed (when several), source, file.
type PlannedRun = (Method, Option<f64>, Option<u64>, &'static str, PathBuf);

/// `deepiot compare`: runs (or finds in the cache) every method at every target, measures
/// the results and the original the same way, and writes the report.
pub fn run(args: &CompareConfig) -> Result<Comparison> {
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
    let methods = &args.methods;
    let reuse: Vec<(Method, PathBuf)> = args
        .reuse
        .iter()
        .map(|s| parse_reuse(s))
        .collect::<Result<_>>()?;
    let (orig_net, _) = export::load(&model)?;
    let task = Some(args.task.as_str()).filter(|t| !t.is_empty());
    let recipe = Recipe::resolve(task, args.data.as_deref(), None, &args.label_column)?;
    let (ds, _, _) = recipe.load(args.data.as_deref(), None, Some(&orig_net))?;
    let orig_w = orig_net.weights()?;
    let orig_graph = orig_net.graph().clone();
    let sha = sha256_file(&model)?;

    if args.seeds.is_empty() {
        bail!("--seeds lists no seed");
    }
    // Seeds appear in labels only when there are several.
    let several = args.seeds.len() > 1;
    // Run (or find in the cache) every result first, then measure them all.
    let mut plan: Vec<PlannedRun> = Vec::new();
    for &method in methods {
        let reused: Vec<&PathBuf> = reuse
            .iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, p)| p)
            .collect();
        if !reused.is_empty() {
            plan.extend(
                reused
                    .into_iter()
                    .map(|p| (method, None, None, "reused", p.clone())),
            );
            continue;
        }
        for &target in &args.targets {
            for &seed in &args.seeds {
                let key = args.cache_key(method, target, seed, &sha);
                let out = args.out.join("runs").join(format!(
                    "{}-{}-{key}.safetensors",
                    method.name(),
                    target
                ));
                let what = format!(
                    "{} @ {}{}",
                    method.name(),
                    percent(target),
                    if several {
                        format!(" (seed {seed})")
                    } else {
                        String::new()
                    }
                );
                let done = out.exists() && compress::report_path(&out).exists();
                if !done && args.cached_only {
                    eprintln!("compare: {what} is not in the cache: left out (--cached-only)");
                    continue;
                }
                if !done {
                    eprintln!("compare: running {what} ...");
                    compress::run(&args.compress_config(&model, method, target, seed, &out))?;
                } else {
                    eprintln!("compare: {what} from the cache");
                }
                plan.push((
                    method,
                    Some(target),
                    several.then_some(seed),
                    if done { "cached" } else { "run" },
                    out,
                ));
            }
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
        .map(|(m, t, seed, src, p)| {
            let mut e = measure(m.name(), *t, src, p, (&orig_graph, &orig_w), &ds)?;
            e.seed = *seed;
            Ok(e)
        })
        .collect::<Result<Vec<_>>>()?;

    let mut energy = None;
    let runtime = if args.no_bench {
        None
    } else {
        if args.runtime.is_none() {
            eprintln!("compare: getting the board runtime for {EDISON_TRIPLE} ...");
        }
        let edison = crate::board::target::load("edison", None)?;
        energy = edison.energy();
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
        task: recipe.model_name().to_string(),
        data: ds.name.clone(),
        test_examples: ds.test_len(),
        runtime,
        iterations: args.iterations,
        warmup: args.warmup,
        within_pt: args.within,
        original,
        results,
        energy,
    };
    report::write(&cmp, &args.out)?;
    Ok(cmp)
}
