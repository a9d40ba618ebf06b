//! L1-norm structured pruning (Li et al. 2017, "Pruning Filters for Efficient ConvNets"),
//! the structured baseline: it removes the same kinds of elements as DeepIoT (filters,
//! neurons, recurrent units) but chooses them by a fixed rule instead of a learned one.
//!
//! Each element is scored by the L1 norm of its incoming weights: a filter's kernel, a
//! neuron's row, or a recurrent unit's rows in every gate of `weight_ih` and `weight_hh`.
//! Coupled sites (one shared mask) add their scores, each site's first divided by its
//! mean so that no layer dominates by scale. Every layer keeps the same fraction of its
//! elements, the largest fraction whose cut model has at most the target share of the
//! parameters (bisection), and the cut model is fine-tuned.
use super::config::CompressConfig;
use super::method::{CompressionMethod, Found};
use super::report::Counting;
use super::search::{SearchConfig, SearchOutcome};
use super::setup::Setup;
use super::sites::SiteMap;
use super::surgery::cut;
use crate::models::{Net, Weights};
use anyhow::{Context, Result};
use deepiot_format::{Graph, Op};
use std::time::Instant;

/// L1 norm of every element of every site.
pub fn site_scores(graph: &Graph, map: &SiteMap, w: &Weights) -> Result<Vec<Vec<f64>>> {
    let rows_l1 = |name: &str, rows: &mut dyn Iterator<Item = usize>| -> Result<f64> {
        let (s, v) = w
            .get(name)
            .with_context(|| format!("tensor `{name}` is missing"))?;
        let per: usize = s[1..].iter().product();
        Ok(rows
            .map(|r| {
                v[r * per..(r + 1) * per]
                    .iter()
                    .map(|x| x.abs() as f64)
                    .sum::<f64>()
            })
            .sum())
    };
    map.sites
        .iter()
        .map(|site| {
            let node = &graph.nodes[site.node];
            let name = &node.name;
            (0..site.width)
                .map(|u| match &node.op {
                    Op::Gru(r) | Op::Lstm(r) => {
                        let g = node.op.gates().unwrap_or(1);
                        let sfx = if site.direction == 1 { "_reverse" } else { "" };
                        let rows = || (0..g).map(move |q| q * r.hidden + u);
                        Ok(rows_l1(&format!("{name}.weight_ih_l0{sfx}"), &mut rows())?
                            + rows_l1(&format!("{name}.weight_hh_l0{sfx}"), &mut rows())?)
                    }
                    _ => rows_l1(&format!("{name}.weight"), &mut std::iter::once(u)),
                })
                .collect()
        })
        .collect()
}

/// One score per element of each group: the sum over its sites of scores scaled to mean 1.
pub fn group_scores(map: &SiteMap, scores: &[Vec<f64>]) -> Vec<Vec<f64>> {
    map.groups
        .iter()
        .map(|g| {
            let w = map.sites[g[0]].width;
            let mut out = vec![0.0; w];
            for &s in g {
                let mean = scores[s].iter().sum::<f64>() / w.max(1) as f64;
                let mean = if mean > 0.0 { mean } else { 1.0 };
                for (o, v) in out.iter_mut().zip(&scores[s]) {
                    *o += v / mean;
                }
            }
            out
        })
        .collect()
}

/// Per-site keep masks that keep the `ceil(fraction * width)` best elements of every
/// group (at least one).
pub fn keep_fraction(map: &SiteMap, groups: &[Vec<f64>], fraction: f64) -> Vec<Vec<bool>> {
    let group_keep: Vec<Vec<bool>> = groups
        .iter()
        .map(|sc| {
            let w = sc.len();
            let k = ((fraction * w as f64).ceil() as usize).clamp(1, w.max(1));
            let mut order: Vec<usize> = (0..w).collect();
            order.sort_by(|&a, &b| sc[b].total_cmp(&sc[a]).then(a.cmp(&b)));
            let mut keep = vec![false; w];
            for &i in &order[..k.min(w)] {
                keep[i] = true;
            }
            keep
        })
        .collect();
    let g = map.group_of();
    (0..map.sites.len())
        .map(|s| group_keep[g[s]].clone())
        .collect()
}

/// The per-site keep masks, and the fraction kept per layer, of the largest uniform
/// fraction whose cut model has at most `target_kept` of the parameters (or one element
/// per group, if even that is too many).
pub fn choose(graph: &Graph, w: &Weights, target_kept: f64) -> Result<(Vec<Vec<bool>>, f64)> {
    let map = SiteMap::new(graph)?;
    let groups = group_scores(&map, &site_scores(graph, &map, w)?);
    let total: usize = w.values().map(|(_, v)| v.len()).sum();
    let limit = (target_kept * total as f64).floor() as usize;
    let params = |f: f64| -> Result<usize> {
        let keep = keep_fraction(&map, &groups, f);
        let (_, cw) = cut(graph, w, &keep)?;
        Ok(cw.values().map(|(_, v)| v.len()).sum())
    };
    if params(1.0)? <= limit {
        return Ok((keep_fraction(&map, &groups, 1.0), 1.0));
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    // Masks change only where ceil(f * width) steps, so 30 halvings resolve every width
    // below 10^9.
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if params(mid)? <= limit {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((keep_fraction(&map, &groups, lo), lo))
}

/// `deepiot compress --method l1-structured`.
pub struct L1Structured;

impl CompressionMethod for L1Structured {
    fn compress(&self, setup: &Setup, cfg: &CompressConfig) -> Result<Found> {
        let t0 = Instant::now();
        let original = setup.net.weights()?;
        let graph = setup.net.graph();
        let (keep, fraction) = choose(graph, &original, cfg.target_kept)?;
        let (small_graph, small_w) = cut(graph, &original, &keep)?;
        eprintln!(
            "l1-structured: every layer keeps {:.2} % of its elements",
            100.0 * fraction
        );
        Ok(Found {
            net: Net::from_weights(&small_graph, &small_w)?,
            counting: Counting::Stored,
            search: SearchOutcome::of_pruning(
                keep,
                0,
                t0.elapsed().as_secs_f64(),
                setup.acc_before,
            ),
            search_config: SearchConfig::of_pruning(cfg),
            details: Some(serde_json::json!({ "layer_fraction": fraction })),
            retrained: None,
            sparse_copy: None,
            provenance: vec![],
        })
    }
}
