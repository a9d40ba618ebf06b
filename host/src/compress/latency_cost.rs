//! What a keep mask costs in predicted time on the board: the latency-aware variant of
//! the search (`--latency-weight`), priced by a latency model measured on the runtime
//! that ships (`deepiot profile`, [`crate::latency`]).
//!
//! FLOPs are not time (FastDeepIoT): the runtime's convolution tile computes output
//! channels in groups of three and positions in panels of eight, every layer has a fixed
//! cost, and recurrent layers pay per step. The model knows this; this module asks it
//! what the network cut to given widths would take, and charges each element of a group
//! its group's marginal time, as [`super::cost::CostModel`] does for multiply-adds.
use super::cost::Priced;
use super::sites::SiteMap;
use crate::latency::{narrowed, LatencyModel};
use anyhow::{anyhow, Result};
use deepiot_format::Graph;

/// Prices widths (one per group) in predicted microseconds.
pub struct LatencyCost {
    graph: Graph,
    model: LatencyModel,
    /// Per group, the nodes it narrows; a node with two sites (a bidirectional layer)
    /// takes the wider of its directions, as surgery does.
    node_groups: Vec<(usize, Vec<usize>)>,
    groups: usize,
    total: f64,
}

impl LatencyCost {
    pub fn new(graph: &Graph, map: &SiteMap, model: LatencyModel) -> Result<Self> {
        let group_of = map.group_of();
        let node_groups: Vec<(usize, Vec<usize>)> = map
            .node_sites
            .iter()
            .enumerate()
            .filter(|(_, sites)| !sites.is_empty())
            .map(|(k, sites)| (k, sites.iter().map(|&s| group_of[s]).collect()))
            .collect();
        let widths: Vec<usize> = map.groups.iter().map(|g| map.sites[g[0]].width).collect();
        let mut cost = LatencyCost {
            graph: graph.clone(),
            model,
            node_groups,
            groups: map.groups.len(),
            total: 1.0,
        };
        cost.total = cost.predict(&widths)?.max(1e-9);
        Ok(cost)
    }

    /// Predicted microseconds of the network cut to `group_widths`.
    pub fn predict(&self, group_widths: &[usize]) -> Result<f64> {
        let widths: Vec<(usize, usize)> = self
            .node_groups
            .iter()
            .map(|(k, groups)| {
                let w = groups.iter().map(|&g| group_widths[g]).max().unwrap_or(1);
                (*k, w.max(1))
            })
            .collect();
        let g = narrowed(&self.graph, &widths).map_err(|e| anyhow!("{e}"))?;
        self.model.network_us(&g).map_err(|e| anyhow!("{e}"))
    }

    /// The original network's predicted time.
    pub fn total(&self) -> f64 {
        self.total
    }
}

impl Priced for LatencyCost {
    /// Per group, one element's share of the original's predicted time, averaged over
    /// the last three elements (the convolution tile's granularity: one channel fewer
    /// saves nothing until a group of three is gone, and the compressor needs the
    /// average, not the step).
    fn marginal(&self, group_widths: &[usize]) -> Vec<f64> {
        let base = self.predict(group_widths).unwrap_or(self.total);
        (0..self.groups)
            .map(|k| {
                let mut w = group_widths.to_vec();
                let step = w[k].saturating_sub(1).clamp(1, 3);
                let (lo, hi) = if w[k] > step {
                    w[k] -= step;
                    (self.predict(&w).unwrap_or(base), base)
                } else {
                    w[k] += step;
                    (base, self.predict(&w).unwrap_or(base))
                };
                ((hi - lo) / step as f64 / self.total).max(0.0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::KindModel;
    use crate::models::zoo;
    use std::collections::BTreeMap;

    /// A model charging 1 µs per layer and 1 ns per tile multiply-add of a convolution
    /// or per multiply-add of a dense layer.
    fn toy_model() -> LatencyModel {
        let kind = |features: usize, coef: Vec<f64>| KindModel {
            features: vec![String::new(); features],
            coef,
            samples: 0,
            median_rel_error: 0.0,
            max_rel_error: 0.0,
        };
        let mut kinds = BTreeMap::new();
        kinds.insert("conv".into(), kind(5, vec![1.0, 1e-3, 0.0, 0.0, 0.0]));
        kinds.insert("dense".into(), kind(4, vec![1.0, 0.0, 1e-3, 0.0]));
        kinds.insert("max_pool_2x2".into(), kind(2, vec![1.0, 0.0]));
        kinds.insert("relu".into(), kind(2, vec![1.0, 0.0]));
        LatencyModel {
            target: "toy".into(),
            measured_on: "test".into(),
            runtime: "test".into(),
            overhead_us: 0.5,
            kinds,
        }
    }

    #[test]
    fn lenet5_time_falls_with_the_widths_and_channels_cost_by_tile_groups() {
        let g = zoo::lenet5(10);
        let map = SiteMap::new(&g).unwrap();
        let cost = LatencyCost::new(&g, &map, toy_model()).unwrap();
        // conv1 20 filters x 576 positions x 25, conv2 51 tile rows (50 rounded up to 3)
        // x 64 x 500, fc1 800 x 500, fc2 500 x 10; 7 layers and the overhead.
        let want =
            7.0 + 0.5 + 1e-3 * (21.0 * 576.0 * 25.0 + 51.0 * 64.0 * 500.0 + 800.0 * 500.0 + 5000.0);
        assert!(
            (cost.total() - want).abs() < 1e-6,
            "{} vs {want}",
            cost.total()
        );
        // conv2 at 50 and at 49 channels computes the same 51 tile rows: one channel
        // fewer saves only fc1's 16 inputs x 500; at 48 a group of three goes.
        let at = |w: [usize; 3]| cost.predict(&w).unwrap();
        let fc1_inputs = 1e-3 * 16.0 * 500.0;
        assert!((at([20, 50, 500]) - at([20, 49, 500]) - fc1_inputs).abs() < 1e-9);
        let group = 1e-3 * 3.0 * 64.0 * 500.0;
        assert!((at([20, 49, 500]) - at([20, 48, 500]) - group - fc1_inputs).abs() < 1e-9);
        let m = cost.marginal(&[20, 50, 500]);
        assert!(m.iter().all(|&v| v > 0.0), "{m:?}");
        // Averaged over a tile group: one conv2 channel is worth a third of three.
        let three = (at([20, 50, 500]) - at([20, 47, 500])) / 3.0 / cost.total();
        assert!((m[1] - three).abs() < 1e-12, "{} vs {three}", m[1]);
    }
}
