//! A latency model of the board runtime: what one inference of a network costs, predicted
//! from its layer list, fitted to per-layer times measured in `deepiot-run` itself
//! (`deepiot profile`, [`profile`]).
//!
//! Time is not linear in multiply-accumulates (FastDeepIoT, SenSys 2018). Each layer kind
//! is therefore described by the work its kernels really do, read off how the runtime
//! computes it: a convolution's register tile covers output channels in groups of three
//! and positions in panels of eight, so its cost follows the rounded-up sizes, plus an
//! im2col term and a fixed per-layer cost; a recurrent layer has a tiled input projection
//! over all steps, a recurrent product and gate arithmetic per step; and so on
//! ([`features`]). Per kind, the time is a non-negative combination of those features,
//! fitted by least squares on relative error over a grid of single-layer models.
use deepiot_format::{Graph, Op, ShapeInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod fit;
pub mod profile;

/// The fitted model of one layer kind: `time_us = Σ coef[i] * features[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindModel {
    /// What each feature counts (for readers of the file).
    pub features: Vec<String>,
    pub coef: Vec<f64>,
    /// Grid points it was fitted on, and its relative error there.
    pub samples: usize,
    pub median_rel_error: f64,
    pub max_rel_error: f64,
}

/// A target's latency file (`targets/NAME.latency.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyModel {
    /// The board description it belongs to (`targets/NAME.toml`).
    pub target: String,
    /// Where the times were measured (a board address, or `local` with the CPU).
    pub measured_on: String,
    /// The runtime binary's version line.
    pub runtime: String,
    /// Per inference, outside the layers (copying inputs in and outputs out).
    pub overhead_us: f64,
    pub kinds: BTreeMap<String, KindModel>,
}

/// One layer's kind and feature values, as [`features`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFeatures {
    pub kind: &'static str,
    pub values: Vec<f64>,
}

/// Feature names of each kind, in the order [`features`] gives the values.
pub fn feature_names(kind: &str) -> &'static [&'static str] {
    match kind {
        "conv" => &[
            "layer",
            "tile (ch3 x pos8 x patch)",
            "tile calls",
            "im2col (patch x pos8)",
            "outputs",
        ],
        "conv_pointwise" => &["layer", "MACs", "outputs"],
        "dense" => &["layer", "weights", "MACs", "outputs"],
        "recurrent" => &[
            "direction",
            "input tile (gates3 x steps8 x in)",
            "recurrent MACs",
            "recurrent outputs (gate units x steps)",
            "state units x steps",
            "steps",
        ],
        "pool" => &["layer", "window reads", "outputs"],
        "max_pool_2x2" => &["layer", "outputs"],
        _ => &["layer", "values"],
    }
}

/// Rounded up to a multiple of `m`.
fn up(v: usize, m: usize) -> f64 {
    v.next_multiple_of(m) as f64
}

/// Rows the register tile computes for `m` output rows: groups of three (a last partial
/// group overlaps the one before), or three per row when there are fewer than three.
fn tile_rows(m: usize) -> f64 {
    if m < 3 {
        3.0 * m as f64
    } else {
        up(m, 3)
    }
}

/// The kind and features of node `k`; `None` for views that move no data.
pub fn features(graph: &Graph, info: &ShapeInfo, k: usize) -> Option<LayerFeatures> {
    let node = &graph.nodes[k];
    let x = info.shape_of(info.node_inputs[k][0]);
    let y = &info.node_shapes[k];
    let n = |s: &[usize]| s.iter().product::<usize>() as f64;
    let f = |kind: &'static str, values: Vec<f64>| Some(LayerFeatures { kind, values });
    match &node.op {
        Op::Flatten | Op::Reshape { .. } => None,
        Op::Dense { units } => {
            let inner = *x.last().unwrap_or(&1);
            let rows = n(x) / inner.max(1) as f64;
            f(
                "dense",
                vec![
                    1.0,
                    (inner * units) as f64,
                    rows * (inner * units) as f64,
                    rows * *units as f64,
                ],
            )
        }
        Op::Conv1d { .. } | Op::Conv2d { .. } => {
            let (o, positions) = (y[0], n(&y[1..]) as usize);
            let patch = (info.macs(graph, k) as f64 / n(y)).round() as usize;
            let pointwise = match &node.op {
                Op::Conv1d {
                    kernel,
                    stride,
                    padding,
                    ..
                } => (*kernel, *stride, *padding) == (1, 1, 0),
                Op::Conv2d {
                    kernel,
                    stride,
                    padding,
                    ..
                } => (*kernel, *stride, *padding) == ([1, 1], [1, 1], [0, 0]),
                _ => false,
            };
            if pointwise {
                return f(
                    "conv_pointwise",
                    vec![1.0, info.macs(graph, k) as f64, n(y)],
                );
            }
            let pos8 = up(positions, 8);
            f(
                "conv",
                vec![
                    1.0,
                    tile_rows(o) * pos8 * patch as f64,
                    tile_rows(o) / 3.0 * pos8 / 8.0,
                    patch as f64 * pos8,
                    o as f64 * pos8,
                ],
            )
        }
        Op::Gru(r) | Op::Lstm(r) => {
            let gates = node.op.gates().unwrap_or(0);
            let (t, inputs, h) = (x[0], x[1], r.hidden);
            let dirs = if r.bidirectional { 2.0 } else { 1.0 };
            let gh = gates * h;
            let projection = if t > 1 {
                tile_rows(gh) * up(t, 8) * inputs as f64
            } else {
                (gh * inputs) as f64
            };
            f(
                "recurrent",
                vec![
                    dirs,
                    dirs * projection,
                    dirs * (t * gh * h) as f64,
                    dirs * (t * gh) as f64,
                    dirs * (t * h) as f64,
                    dirs * t as f64,
                ],
            )
        }
        Op::MaxPool1d(_) | Op::AvgPool1d(_) | Op::MaxPool2d(_) | Op::AvgPool2d(_) => {
            let (kh, kw, sh, sw) = match &node.op {
                Op::MaxPool2d(p) | Op::AvgPool2d(p) => {
                    (p.kernel[0], p.kernel[1], p.stride[0], p.stride[1])
                }
                Op::MaxPool1d(p) | Op::AvgPool1d(p) => (1, p.kernel, 1, p.stride),
                _ => (1, 1, 1, 1),
            };
            let fast = matches!(node.op, Op::MaxPool2d(_)) && (kh, kw, sh, sw) == (2, 2, 2, 2);
            let reads = n(y) * (kh * kw) as f64;
            if fast {
                f("max_pool_2x2", vec![1.0, n(y)])
            } else {
                f("pool", vec![1.0, reads, n(y)])
            }
        }
        Op::Relu | Op::Tanh | Op::Sigmoid => f(node.op.kind(), vec![1.0, n(y)]),
        Op::Softmax => f("softmax", vec![1.0, n(y)]),
        Op::Permute { .. } => f("permute", vec![1.0, n(y)]),
        Op::Concat { .. } => f("concat", vec![1.0, n(y)]),
    }
}

impl LatencyModel {
    /// Predicted time of one layer, `None` for a view or a kind the file lacks.
    pub fn layer_us(&self, graph: &Graph, info: &ShapeInfo, k: usize) -> Option<f64> {
        let lf = features(graph, info, k)?;
        let m = self.kinds.get(lf.kind)?;
        Some(m.coef.iter().zip(&lf.values).map(|(c, v)| c * v).sum())
    }

    /// Predicted p50 of one inference of `graph`; an error names a layer kind the file
    /// has no model for.
    pub fn network_us(&self, graph: &Graph) -> Result<f64, String> {
        let info = graph.infer().map_err(|e| e.to_string())?;
        let mut total = self.overhead_us;
        for k in 0..graph.nodes.len() {
            if let Some(lf) = features(graph, &info, k) {
                let m = self.kinds.get(lf.kind).ok_or_else(|| {
                    format!(
                        "the latency file has no model for `{}` layers ({})",
                        lf.kind, graph.nodes[k].name
                    )
                })?;
                total += m
                    .coef
                    .iter()
                    .zip(&lf.values)
                    .map(|(c, v)| c * v)
                    .sum::<f64>();
            }
        }
        Ok(total)
    }

    /// Reads a latency file.
    pub fn read(path: &std::path::Path) -> anyhow::Result<LatencyModel> {
        use anyhow::Context;
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read latency file {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a deepiot latency file", path.display()))
    }
}

/// `graph` with node `k` narrowed to `width` for every `(k, width)`: units of a dense
/// layer, output channels of a convolution, hidden units of a recurrent layer. A reshape
/// that flattened a narrowed layer's features keeps its other axes, so the result is the
/// layer list surgery would give for those widths (what the latency of a compressed
/// network depends on).
pub fn narrowed(graph: &Graph, widths: &[(usize, usize)]) -> Result<Graph, String> {
    let mut g = graph.clone();
    for &(k, width) in widths {
        let node = g.nodes.get_mut(k).ok_or_else(|| format!("no node {k}"))?;
        match &mut node.op {
            Op::Dense { units } => *units = width,
            Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => {
                *out_channels = width
            }
            Op::Gru(r) | Op::Lstm(r) => r.hidden = width,
            other => return Err(format!("`{}` ({}) has no width", node.name, other.kind())),
        }
    }
    for k in 1..g.nodes.len() {
        if !matches!(g.nodes[k].op, Op::Reshape { .. }) {
            continue;
        }
        let mut head = g.clone();
        let source = head.nodes[k]
            .inputs
            .first()
            .cloned()
            .unwrap_or_else(|| head.nodes[k - 1].name.clone());
        head.nodes.truncate(k);
        head.outputs = vec![source];
        let info = head.infer().map_err(|e| e.to_string())?;
        let values: usize = info.shape_of(info.outputs[0]).iter().product();
        if let Op::Reshape { shape } = &mut g.nodes[k].op {
            let others: usize = shape[..shape.len() - 1].iter().product();
            if let Some(last) = shape.last_mut() {
                *last = values / others.max(1);
            }
        }
    }
    g.infer().map_err(|e| e.to_string())?;
    Ok(g)
}
