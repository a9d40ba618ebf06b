//! `deepiot profile`: times every layer kind of the runtime over a grid of widths in the
//! real `deepiot-run` (`bench --per-layer`), fits [`super::LatencyModel`], and checks its
//! predictions against whole networks measured in the same run.
use super::fit::{fit_relative, FLOOR_US};
use super::{feature_names, features, KindModel, LatencyModel};
use crate::board::target;
use crate::paths::write_atomic;
use crate::runtime_build::locate_runtime;
use crate::runtime_json::{bench_local, bench_local_layers};
use anyhow::{Context, Result};
use deepiot_format::{Graph, Op, Pool1d, Pool2d, Recurrent, SeqOutput, TensorData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Interleaved rounds per measurement: the median of the rounds' p50s is what counts,
/// so a burst of load during one round does not move the figure.
const ROUNDS: usize = 3;

fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// What `deepiot profile` measures and where it writes. Everything has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileConfig {
    /// The board description (`targets/NAME.toml`): its runtime build and the file's name.
    pub target: String,
    /// A runtime binary instead of building deepiot-run for the target.
    pub runtime: Option<PathBuf>,
    /// Where the latency file goes; `None`: `NAME.latency.json` here.
    pub out: Option<PathBuf>,
    /// An existing latency file to check instead of profiling anew.
    pub model: Option<PathBuf>,
    /// Whole networks to predict and time, for the error table.
    pub check: Vec<PathBuf>,
    /// Timed runs per grid point and per checked network.
    pub iterations: usize,
    /// A few grid points per kind only (for tests; the fit is rougher).
    pub quick: bool,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            target: "edison".into(),
            runtime: None,
            out: None,
            model: None,
            check: Vec::new(),
            iterations: 300,
            quick: false,
        }
    }
}

/// A network's predicted and measured p50.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    pub model: String,
    pub predicted_us: f64,
    pub measured_us: f64,
}

impl CheckRow {
    pub fn rel_error(&self) -> f64 {
        (self.predicted_us - self.measured_us) / self.measured_us
    }
}

fn conv2d(o: usize, k: [usize; 2], pad: [usize; 2]) -> Op {
    Op::Conv2d {
        out_channels: o,
        kernel: k,
        stride: [1, 1],
        padding: pad,
    }
}

fn recurrent(hidden: usize, bidirectional: bool) -> Recurrent {
    Recurrent {
        hidden,
        bidirectional,
        output: SeqOutput::Sequence,
    }
}

/// The grid: one single-layer graph per point, covering the widths of the reference
/// models (and their compressed versions) and beyond.
pub fn grid(quick: bool) -> Vec<Graph> {
    let one = |shape: &[usize], op: Op| {
        let mut g = Graph::new("x", shape);
        g.push("layer", op);
        g
    };
    let pick = |v: &[usize]| -> Vec<usize> {
        if quick {
            vec![v[0], v[v.len() - 1]]
        } else {
            v.to_vec()
        }
    };
    let mut out = Vec::new();
    for (c, side) in [
        (1, 28),
        (3, 32),
        (10, 12),
        (20, 12),
        (32, 16),
        (64, 8),
        (128, 4),
        (64, 2),
    ] {
        if quick && c > 20 {
            continue;
        }
        for o in pick(&[3, 10, 25, 64]) {
            for (k, pad) in [(5, 0), (3, 1)] {
                if k <= side + 2 * pad {
                    out.push(one(&[c, side, side], conv2d(o, [k, k], [pad, pad])));
                }
            }
        }
    }
    for c in pick(&[3, 14, 64]) {
        for o in pick(&[14, 64]) {
            out.push(one(&[c, 8, 13], conv2d(o, [1, 3], [0, 0])));
        }
    }
    for o in pick(&[8, 32]) {
        out.push(one(
            &[2, 64],
            Op::Conv1d {
                out_channels: o,
                kernel: 5,
                stride: 1,
                padding: 2,
            },
        ));
        out.push(one(
            &[16, 32],
            Op::Conv1d {
                out_channels: o,
                kernel: 1,
                stride: 1,
                padding: 0,
            },
        ));
    }
    for rows in pick(&[1, 8]) {
        for f in pick(&[16, 64, 256, 800]) {
            for u in pick(&[10, 30, 128, 500]) {
                let shape: Vec<usize> = if rows == 1 { vec![f] } else { vec![rows, f] };
                out.push(one(&shape, Op::Dense { units: u }));
            }
        }
    }
    for t in pick(&[8, 100]) {
        for f in pick(&[8, 128, 448]) {
            for h in pick(&[8, 24, 64, 120]) {
                out.push(one(&[t, f], Op::Gru(recurrent(h, false))));
                out.push(one(&[t, f], Op::Lstm(recurrent(h, false))));
                if h <= 64 {
                    out.push(one(&[t, f], Op::Lstm(recurrent(h, true))));
                }
            }
        }
    }
    for (c, side) in [(10, 24), (20, 24), (32, 16), (50, 8), (11, 8), (256, 2)] {
        let pool = Pool2d {
            kernel: [2, 2],
            stride: [2, 2],
        };
        out.push(one(&[c, side, side], Op::MaxPool2d(pool)));
        out.push(one(&[c, side, side], Op::AvgPool2d(pool)));
    }
    for c in [4, 16, 64] {
        let pool = Pool1d {
            kernel: 2,
            stride: 2,
        };
        out.push(one(&[c, 64], Op::MaxPool1d(pool)));
    }
    out.push(one(&[1], Op::Relu));
    for n in pick(&[64, 1024, 16384]) {
        for op in [Op::Relu, Op::Tanh, Op::Sigmoid] {
            out.push(one(&[n], op));
        }
    }
    for n in pick(&[10, 100, 1000]) {
        out.push(one(&[n], Op::Softmax));
    }
    for (a, b, c) in [(64, 8, 7), (8, 64, 7), (32, 16, 16)] {
        out.push(one(
            &[a, b, c],
            Op::Permute {
                perm: vec![1, 0, 2],
            },
        ));
    }
    out
}

/// `graph` with PyTorch-style random weights, as model file bytes.
fn model_bytes(graph: &Graph, seed: u64) -> Result<Vec<u8>> {
    let info = graph.infer().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut values: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (i, spec) in info.params.iter().flatten().enumerate() {
        let mut v = vec![0.0f32; spec.len()];
        deepiot_format::rng::fill_symmetric(seed.wrapping_add(i as u64), &mut v);
        let fan_in: usize = spec.shape[1..].iter().product::<usize>().max(1);
        let bound = 1.0 / (fan_in as f32).sqrt();
        v.iter_mut().for_each(|x| *x *= bound);
        values.push((spec.name.clone(), spec.shape.clone(), v));
    }
    let tensors: Vec<TensorData<'_>> = values
        .iter()
        .map(|(name, shape, values)| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    let mut provenance = BTreeMap::new();
    provenance.insert("generator".into(), "deepiot profile".into());
    deepiot_format::write(graph, &provenance, &tensors).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Times every grid point and fits each kind. The networks in `also` are timed in the
/// same interleaved rounds (their p50s come back in order), so that a comparison with
/// the fitted model is not moved by the machine's speed drifting between two phases.
pub fn measure_and_fit(
    runtime: &Path,
    target: &str,
    iterations: usize,
    quick: bool,
    also: &[PathBuf],
) -> Result<(LatencyModel, Vec<f64>)> {
    let dir = tempfile_dir()?;
    let graphs = grid(quick);
    eprintln!(
        "profiling {} single-layer models in {} ({ROUNDS} interleaved rounds of {iterations} runs)",
        graphs.len(),
        runtime.display(),
    );
    let mut paths = Vec::new();
    for (i, g) in graphs.iter().enumerate() {
        let path = dir.join(format!("layer{i}.safetensors"));
        std::fs::write(&path, model_bytes(g, i as u64)?)
            .with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    // Per model: the layer's p50 and the whole run's p50, once per round.
    let mut layer_p50 = vec![Vec::new(); graphs.len()];
    let mut run_p50 = vec![Vec::new(); graphs.len()];
    let mut also_p50 = vec![Vec::new(); also.len()];
    for _ in 0..ROUNDS {
        for (i, path) in paths.iter().enumerate() {
            let report = bench_local_layers(runtime, path, iterations, iterations / 10 + 5)?;
            if let Some(layer) = report.layers.as_ref().and_then(|l| l.first()) {
                layer_p50[i].push(layer.p50_us);
                run_p50[i].push(report.p50_us);
            }
        }
        for (path, m) in also.iter().zip(&mut also_p50) {
            m.push(bench_local(runtime, path, iterations, iterations / 10 + 5)?.p50_us);
        }
    }
    let also_p50: Vec<f64> = also_p50
        .iter_mut()
        .map(|m| median(m).unwrap_or(f64::NAN))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    // The per-layer clock: each step's time includes one clock read, which a network
    // run without --per-layer does not pay. A ReLU of one value is nearly all clock.
    let clock = graphs
        .iter()
        .position(|g| g.inputs[0].shape == [1] && matches!(g.nodes[0].op, Op::Relu))
        .and_then(|i| median(&mut layer_p50[i].clone()))
        .unwrap_or(0.0);
    let mut samples: BTreeMap<&'static str, (Vec<Vec<f64>>, Vec<f64>)> = BTreeMap::new();
    let mut overheads = Vec::new();
    for (i, g) in graphs.iter().enumerate() {
        let info = g.infer().map_err(|e| anyhow::anyhow!("{e}"))?;
        let (Some(lf), Some(layer), Some(run)) = (
            features(g, &info, 0),
            median(&mut layer_p50[i]),
            median(&mut run_p50[i]),
        ) else {
            continue;
        };
        let layer = (layer - clock).max(0.0);
        let entry = samples.entry(lf.kind).or_default();
        entry.0.push(lf.values);
        entry.1.push(layer);
        overheads.push(run - layer);
    }
    let mut kinds = BTreeMap::new();
    for (kind, (rows, y)) in samples {
        let coef = fit_relative(&rows, &y);
        let mut errors: Vec<f64> = rows
            .iter()
            .zip(&y)
            .map(|(r, &t)| {
                (r.iter().zip(&coef).map(|(a, c)| a * c).sum::<f64>() - t).abs() / t.max(FLOOR_US)
            })
            .collect();
        errors.sort_by(f64::total_cmp);
        kinds.insert(
            kind.to_string(),
            KindModel {
                features: feature_names(kind).iter().map(|s| s.to_string()).collect(),
                coef,
                samples: y.len(),
                median_rel_error: errors[errors.len() / 2],
                max_rel_error: errors.last().copied().unwrap_or(0.0),
            },
        );
    }
    overheads.sort_by(f64::total_cmp);
    let overhead = overheads
        .get(overheads.len() / 2)
        .copied()
        .unwrap_or(0.0)
        .max(0.0);
    let model = LatencyModel {
        target: target.into(),
        measured_on: format!("local: {}", cpu_name()),
        runtime: runtime_version(runtime),
        overhead_us: overhead,
        kinds,
    };
    Ok((model, also_p50))
}

/// Predicts and times each model in `check`.
pub fn check(
    model: &LatencyModel,
    runtime: &Path,
    check: &[PathBuf],
    iterations: usize,
) -> Result<Vec<CheckRow>> {
    let predicted = predict_files(model, check)?;
    let mut measured = vec![Vec::new(); check.len()];
    for _ in 0..ROUNDS {
        for (path, m) in check.iter().zip(&mut measured) {
            m.push(bench_local(runtime, path, iterations, iterations / 10 + 5)?.p50_us);
        }
    }
    let measured: Vec<f64> = measured
        .iter_mut()
        .map(|m| median(m).unwrap_or(f64::NAN))
        .collect();
    Ok(rows(check, &predicted, &measured))
}

/// The model's prediction for each model file.
fn predict_files(model: &LatencyModel, files: &[PathBuf]) -> Result<Vec<f64>> {
    files
        .iter()
        .map(|path| {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let file = deepiot_format::parse(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a deepiot model: {e}", path.display()))?;
            model
                .network_us(&file.graph)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        })
        .collect()
}

fn rows(files: &[PathBuf], predicted: &[f64], measured: &[f64]) -> Vec<CheckRow> {
    files
        .iter()
        .zip(predicted)
        .zip(measured)
        .map(|((path, &predicted_us), &measured_us)| CheckRow {
            model: path.display().to_string(),
            predicted_us,
            measured_us,
        })
        .collect()
}

/// The error table `deepiot profile --check` prints.
pub fn check_table(rows: &[CheckRow]) -> String {
    let mut s =
        String::from("| model | predicted p50 | measured p50 | error |\n|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {:.1} µs | {:.1} µs | {:+.1} % |\n",
            r.model,
            r.predicted_us,
            r.measured_us,
            100.0 * r.rel_error()
        ));
    }
    s
}

/// Runs `deepiot profile`.
pub fn run(cfg: &ProfileConfig) -> Result<()> {
    let t = target::load(&cfg.target, None)?;
    let runtime = locate_runtime(cfg.runtime.as_deref(), t.build_target())?;
    let (model, measured) = match &cfg.model {
        Some(p) => (LatencyModel::read(p)?, None),
        None => {
            let (m, measured) =
                measure_and_fit(&runtime, &t.name, cfg.iterations, cfg.quick, &cfg.check)?;
            let out = cfg
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}.latency.json", t.name)));
            let text = serde_json::to_string_pretty(&m)?;
            write_atomic(&out, text.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {}", out.display());
            for (kind, k) in &m.kinds {
                println!(
                    "  {kind:15} {:3} points, relative error median {:.1} %, max {:.1} %",
                    k.samples,
                    100.0 * k.median_rel_error,
                    100.0 * k.max_rel_error
                );
            }
            (m, Some(measured))
        }
    };
    if !cfg.check.is_empty() {
        let rows = match measured {
            Some(measured) => rows(&cfg.check, &predict_files(&model, &cfg.check)?, &measured),
            None => check(&model, &runtime, &cfg.check, cfg.iterations)?,
        };
        print!("{}", check_table(&rows));
        let worst = rows.iter().map(|r| r.rel_error().abs()).fold(0.0, f64::max);
        println!("largest error {:.1} % (target: within 10 %)", 100.0 * worst);
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("deepiot-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn runtime_version(bin: &Path) -> String {
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| bin.display().to_string())
}
