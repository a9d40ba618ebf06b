//! What a keep mask costs in multiply-adds: the FLOPs-aware variant of the search.
//!
//! Why: the paper's compressor minimises only the loss; the threshold then removes
//! whatever the loss can spare, one element as good as another. On LeNet-5 that keeps
//! convolution filters (few, each useful) and drops dense neurons (many, each cheap), so
//! the result is small but its time stays in the convolutions. With `--flops-weight`
//! each sampled mask's loss gets `lambda x` its share of the original's multiply-adds
//! added, so the compressor learns to give up the elements that cost the most time.
//!
//! The cost is linear in the mask: every element of a group is charged the group's
//! marginal multiply-adds (one element fewer, at the current expected widths, including
//! what it feeds in the next layers), recomputed every iteration from the graph alone.
use super::sites::SiteMap;
use anyhow::Result;
use deepiot_format::{Graph, Op};

/// The graph and its mask sites, to price widths.
pub struct MacsModel {
    graph: Graph,
    /// Per site: its group and node.
    site_group: Vec<usize>,
    site_node: Vec<usize>,
    groups: usize,
    total: f64,
}

impl MacsModel {
    pub fn new(graph: &Graph, map: &SiteMap) -> Result<Self> {
        let total = graph.infer()?.total_macs(graph) as f64;
        Ok(MacsModel {
            graph: graph.clone(),
            site_group: map.group_of(),
            site_node: map.sites.iter().map(|s| s.node).collect(),
            groups: map.groups.len(),
            total: total.max(1.0),
        })
    }

    /// Multiply-adds per example of the network cut to these widths (one per group; a
    /// bidirectional layer takes its wider direction, as surgery pads the other).
    pub fn macs(&self, group_widths: &[usize]) -> Result<u64> {
        let mut g = self.graph.clone();
        let mut width = vec![0usize; g.nodes.len()];
        for (s, &node) in self.site_node.iter().enumerate() {
            width[node] = width[node].max(group_widths[self.site_group[s]]);
        }
        for (node, &w) in width.iter().enumerate() {
            if w == 0 {
                continue;
            }
            match &mut g.nodes[node].op {
                Op::Dense { units } => *units = w,
                Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => {
                    *out_channels = w
                }
                Op::Gru(r) | Op::Lstm(r) => r.hidden = w,
                _ => {}
            }
        }
        Ok(g.infer()?.total_macs(&g))
    }

    /// The original network's multiply-adds per example.
    pub fn total_macs(&self) -> f64 {
        self.total
    }

    /// Per group, what one of its elements costs at these widths, as a share of the
    /// original network's multiply-adds.
    pub fn marginal(&self, group_widths: &[usize]) -> Result<Vec<f64>> {
        let base = self.macs(group_widths)? as f64;
        (0..self.groups)
            .map(|k| {
                let mut w = group_widths.to_vec();
                let (lo, hi) = if w[k] > 1 {
                    w[k] -= 1;
                    (self.macs(&w)? as f64, base)
                } else {
                    w[k] += 1;
                    (base, self.macs(&w)? as f64)
                };
                Ok((hi - lo) / self.total)
            })
            .collect()
    }

    /// The linear cost of each sampled mask: `z[group]` is `[batch, width]` row-major.
    pub fn sample_costs(marginal: &[f64], z: &[Vec<f32>], batch: usize) -> Vec<f32> {
        (0..batch)
            .map(|i| {
                z.iter()
                    .zip(marginal)
                    .map(|(zg, &c)| {
                        let n = zg.len() / batch.max(1);
                        c * zg[i * n..(i + 1) * n]
                            .iter()
                            .map(|&v| v as f64)
                            .sum::<f64>()
                    })
                    .sum::<f64>() as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::zoo;

    #[test]
    fn lenet5_filters_are_priced_with_what_they_feed() {
        let g = zoo::lenet5(10);
        let map = SiteMap::new(&g).unwrap();
        let m = MacsModel::new(&g, &map).unwrap();
        // conv1 20 filters, conv2 50, fc1 500 (the classifier is not a site).
        let full = [20, 50, 500];
        assert_eq!(m.macs(&full).unwrap() as f64, m.total_macs());
        let c = m.marginal(&full).unwrap();
        let total = m.total_macs();
        // A conv1 filter: its own 24x24x25 plus conv2's 8x8x25 per output channel (50).
        assert_eq!(c[0] * total, (24 * 24 * 25 + 8 * 8 * 25 * 50) as f64);
        // A conv2 filter: 8x8 outputs of 20x25, plus 16 inputs of each of fc1's 500.
        assert_eq!(c[1] * total, (8 * 8 * 20 * 25 + 16 * 500) as f64);
        // An fc1 neuron: 800 inputs and one input of the 10 classes.
        assert_eq!(c[2] * total, (800 + 10) as f64);
        // The linear cost of two sampled masks.
        let z = vec![
            vec![1.0; 40],
            vec![1.0; 100],
            [vec![1.0; 500], vec![0.0; 500]].concat(),
        ];
        let costs = MacsModel::sample_costs(&c, &z, 2);
        let want0 = 20.0 * c[0] + 50.0 * c[1] + 500.0 * c[2];
        let want1 = 20.0 * c[0] + 50.0 * c[1];
        assert!((costs[0] as f64 - want0).abs() < 1e-5 && (costs[1] as f64 - want1).abs() < 1e-5);
    }
}
