//! The JSON report of a compression, in one shape whatever the method, so that `compare`
//! and scripts read one format; and the per-layer figures it holds.
use super::search::{SearchConfig, SearchOutcome};
use super::sites::SiteMap;
use crate::models::Weights;
use anyhow::{Context, Result};
use deepiot_format::{Graph, Op};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One compressible layer in the report.
#[derive(Debug, Serialize)]
pub struct LayerReport {
    pub layer: String,
    pub direction: usize,
    pub units_before: usize,
    pub units_after: usize,
    pub params_before: usize,
    pub params_after: usize,
    pub macs_before: u64,
    pub macs_after: u64,
}

/// The JSON report of a compression.
#[derive(Debug, Serialize)]
pub struct CompressReport {
    pub task: String,
    pub method: String,
    pub seed: u64,
    pub params_before: usize,
    pub params_after: usize,
    pub kept_fraction: f64,
    pub macs_before: u64,
    pub macs_after: u64,
    pub test_accuracy_before: f64,
    /// Right after the cut, before fine-tuning: with `--print-test` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy_after_cut: Option<f64>,
    /// The cut network's accuracy on the held-out training examples (the search's last
    /// evaluation; none for the baselines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_accuracy_after_cut: Option<f64>,
    pub test_accuracy_after: f64,
    /// Whether the search met its stopping rule (target and allowed drop); when not,
    /// `search.missed` holds the figures.
    pub stopping_rule_met: bool,
    pub layers: Vec<LayerReport>,
    /// DeepIoT's search; a baseline's pruning in the same shape (its keep masks, steps
    /// and seconds, no evaluations).
    pub search: SearchOutcome,
    pub search_seconds: f64,
    /// Without the search's evaluations (see [`SearchOutcome::seconds_per_iteration`]).
    pub seconds_per_iteration: f64,
    pub finetune_seconds: f64,
    pub wall_seconds: f64,
    pub config: SearchConfig,
}

/// Where the report of the model written to `out` goes.
pub fn report_path(out: &Path) -> PathBuf {
    out.with_extension("report.json")
}

/// How the parameters of a result are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Every stored value: a structured result is a smaller dense model, and the board
    /// stores and multiplies all of it (the dead units that pad the narrower direction
    /// of a bidirectional layer included).
    Stored,
    /// Nonzero weights plus every bias: an unstructured result, as its sparse file
    /// stores it.
    Nonzero,
}

/// Whether a tensor of a weighted layer is a weight matrix (pruned by magnitude, and
/// counted by its nonzeros) rather than a bias.
pub fn is_weight_matrix(name: &str) -> bool {
    let param = name.rsplit_once('.').map_or(name, |(_, p)| p);
    param == "weight" || param.starts_with("weight_")
}

/// Parameters that remain: nonzero entries of weight matrices plus every bias entry.
/// A structured result has (almost surely) no exact zeros, so this is its size; a
/// magnitude-pruned one is counted as its sparse file stores it.
pub fn effective_params(w: &Weights) -> usize {
    w.iter()
        .map(|(n, (_, v))| {
            if is_weight_matrix(n) {
                v.iter().filter(|x| **x != 0.0).count()
            } else {
                v.len()
            }
        })
        .sum()
}

/// Parameters of `w` under `counting`.
pub fn count_params(w: &Weights, counting: Counting) -> usize {
    match counting {
        Counting::Stored => w.values().map(|(_, v)| v.len()).sum(),
        Counting::Nonzero => effective_params(w),
    }
}

/// Parameters and multiply-adds of one node of `graph` under `counting`.
fn node_figures(
    graph: &Graph,
    w: &Weights,
    node: usize,
    counting: Counting,
) -> Result<(usize, u64)> {
    let info = graph.infer()?;
    let (mut params, mut weights, mut nonzero) = (0usize, 0usize, 0usize);
    for spec in &info.params[node] {
        let (_, v) = w
            .get(&spec.name)
            .with_context(|| format!("tensor `{}` is missing", spec.name))?;
        if counting == Counting::Nonzero && is_weight_matrix(&spec.name) {
            let nz = v.iter().filter(|x| **x != 0.0).count();
            params += nz;
            weights += v.len();
            nonzero += nz;
        } else {
            params += v.len();
        }
    }
    // Every weight takes part in the same number of multiply-accumulates, so the
    // nonzero ones do this share of them.
    let macs = info.macs(graph, node);
    let macs = if weights == 0 {
        macs
    } else {
        (macs as f64 * nonzero as f64 / weights as f64).round() as u64
    };
    Ok((params, macs))
}

/// Multiply-adds per example of `w` on `graph` under `counting`.
pub fn total_macs(graph: &Graph, w: &Weights, counting: Counting) -> Result<u64> {
    let info = graph.infer()?;
    let mut total = 0;
    for i in 0..graph.nodes.len() {
        total += if info.params[i].is_empty() {
            info.macs(graph, i)
        } else {
            node_figures(graph, w, i, counting)?.1
        };
    }
    Ok(total)
}

/// Units of `site`'s layer in `w` with any nonzero incoming weight (a neuron's row, a
/// filter, a recurrent unit's rows in every gate): what really remains of the layer,
/// whether it was cut out or zeroed.
fn live_units(graph: &Graph, w: &Weights, node: usize, direction: usize) -> usize {
    let n = &graph.nodes[node];
    let name = &n.name;
    let nz = |t: &str, rows: &[usize]| -> Vec<bool> {
        let Some((s, v)) = w.get(&format!("{name}.{t}")) else {
            return vec![];
        };
        let per: usize = s[1..].iter().product();
        rows.iter()
            .map(|&r| v[r * per..(r + 1) * per].iter().any(|x| *x != 0.0))
            .collect()
    };
    let live = |rows: usize| {
        nz("weight", &(0..rows).collect::<Vec<_>>())
            .iter()
            .filter(|b| **b)
            .count()
    };
    match &n.op {
        Op::Dense { units } => live(*units),
        Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => live(*out_channels),
        Op::Gru(r) | Op::Lstm(r) => {
            let g = n.op.gates().unwrap_or(1);
            let sfx = if direction == 1 { "_reverse" } else { "" };
            (0..r.hidden)
                .filter(|&u| {
                    let rows: Vec<usize> = (0..g).map(|q| q * r.hidden + u).collect();
                    nz(&format!("weight_ih_l0{sfx}"), &rows).contains(&true)
                        || nz(&format!("weight_hh_l0{sfx}"), &rows).contains(&true)
                })
                .count()
        }
        _ => 0,
    }
}

/// Per-layer figures of a result against its original, matched by layer name: one row
/// per compressible site, then one per other weighted layer (the classifier).
pub fn layer_reports(
    before_graph: &Graph,
    before: &Weights,
    after_graph: &Graph,
    after: &Weights,
    counting: Counting,
) -> Result<Vec<LayerReport>> {
    let map = SiteMap::new(before_graph)?;
    let index = |name: &str| {
        after_graph
            .nodes
            .iter()
            .position(|n| n.name == name)
            .with_context(|| format!("the result has no layer `{name}`"))
    };
    let row = |name: &str,
               i: usize,
               direction: usize,
               units_before: usize,
               site: bool|
     -> Result<LayerReport> {
        let (pb, mb) = node_figures(before_graph, before, i, counting)?;
        let j = index(name)?;
        let (pa, ma) = node_figures(after_graph, after, j, counting)?;
        Ok(LayerReport {
            layer: name.to_string(),
            direction,
            units_before,
            units_after: if site {
                live_units(after_graph, after, j, direction)
            } else {
                0
            },
            params_before: pb,
            params_after: pa,
            macs_before: mb,
            macs_after: ma,
        })
    };
    let mut layers = Vec::new();
    for site in &map.sites {
        layers.push(row(
            &site.name,
            site.node,
            site.direction,
            site.width,
            true,
        )?);
    }
    let info = before_graph.infer()?;
    for (i, node) in before_graph.nodes.iter().enumerate() {
        if !info.params[i].is_empty() && map.node_sites[i].is_empty() {
            layers.push(row(&node.name, i, 0, 0, false)?);
        }
    }
    Ok(layers)
}

/// The report as a table on stdout.
pub fn print_summary(r: &CompressReport, out: &Path, report: &Path) {
    println!(
        "{:<12} {:>4} {:>8} {:>8} {:>11} {:>11}",
        "layer", "dir", "units", "live", "params", "kept"
    );
    for l in &r.layers {
        println!(
            "{:<12} {:>4} {:>8} {:>8} {:>11} {:>11}",
            l.layer, l.direction, l.units_before, l.units_after, l.params_before, l.params_after
        );
    }
    println!(
        "{}: parameters {} -> {} ({:.2} % kept), MACs {} -> {}",
        r.method,
        r.params_before,
        r.params_after,
        100.0 * r.kept_fraction,
        r.macs_before,
        r.macs_after
    );
    let mut cut = Vec::new();
    if let Some(a) = r.held_out_accuracy_after_cut {
        cut.push(format!("held-out {:.2} %", 100.0 * a));
    }
    if let Some(a) = r.test_accuracy_after_cut {
        cut.push(format!("test {:.2} %", 100.0 * a));
    }
    println!(
        "test accuracy {:.2} % -> {:.2} % fine-tuned{}",
        100.0 * r.test_accuracy_before,
        100.0 * r.test_accuracy_after,
        if cut.is_empty() {
            String::new()
        } else {
            format!(" (right after the cut: {})", cut.join(", "))
        }
    );
    let evaluations = match r.search.evaluation_seconds {
        e if e > 0.0 => format!(" plus {e:.0} s of evaluations on held-out data"),
        _ => String::new(),
    };
    println!(
        "{}: {} iterations in {:.0} s ({:.1} ms each{evaluations}), fine-tuning {:.0} s",
        r.method,
        r.search.iterations,
        r.search_seconds,
        1000.0 * r.seconds_per_iteration,
        r.finetune_seconds
    );
    println!("wrote {} and {}", out.display(), report.display());
}
