//! What a keep mask costs, in multiply-adds (the FLOPs-aware variant of the search) or
//! in parameters (the size pressure a stalled search adds, see [`super::search`]).
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
use anyhow::{bail, Result};
use deepiot_format::{Graph, Op, Source};

/// A price per group element at given widths, as a share of the original network's
/// cost: what the search adds to each sampled mask's loss (see [`CostModel::sample_costs`]).
pub trait Priced {
    fn marginal(&self, group_widths: &[usize]) -> Vec<f64>;
}

impl Priced for CostModel {
    fn marginal(&self, group_widths: &[usize]) -> Vec<f64> {
        CostModel::marginal(self, group_widths)
    }
}

/// What a [`CostModel`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Multiply-adds per example.
    Macs,
    /// Stored parameters (weights and biases).
    Params,
}

/// How one layer's cost depends on the widths.
#[derive(Debug, Clone)]
enum Layer {
    /// Dense or convolution: `amount x (kept share of the input) x (kept share of the
    /// output) + bias x (kept share of the output)`.
    Linear {
        amount: f64,
        bias: f64,
        site: Option<usize>,
    },
    /// GRU/LSTM: `dirs x steps x gates x h x (F x kept share of the input + h) + bias x h`,
    /// where `h` is the wider direction (surgery pads the other); `steps` is 1 when
    /// counting parameters.
    Recurrent {
        steps_gates: f64,
        features: f64,
        dirs: f64,
        bias_per_unit: f64,
        sites: Vec<usize>,
    },
}

/// The graph's layers and where their inputs come from, to price widths.
pub struct CostModel {
    layers: Vec<(Layer, InputOrigin)>,
    site_group: Vec<usize>,
    site_width: Vec<usize>,
    /// Per site, the sites of its layer (itself, and the other direction's).
    site_peers: Vec<Vec<usize>>,
    groups: usize,
    total: f64,
}

/// Per layer input: how many elements come from no site (the graph input, or what a
/// site-free layer made) and how many from each site.
#[derive(Debug, Clone, Default)]
struct InputOrigin {
    free: f64,
    from_site: Vec<(usize, f64)>,
    total: f64,
}

impl CostModel {
    /// Prices widths in multiply-adds per example.
    pub fn macs(graph: &Graph, map: &SiteMap) -> Result<Self> {
        Self::new(graph, map, Measure::Macs)
    }

    /// Prices widths in stored parameters.
    pub fn params(graph: &Graph, map: &SiteMap) -> Result<Self> {
        Self::new(graph, map, Measure::Params)
    }

    fn new(graph: &Graph, map: &SiteMap, measure: Measure) -> Result<Self> {
        let info = graph.infer()?;
        let total = match measure {
            Measure::Macs => info.total_macs(graph) as f64,
            Measure::Params => info.param_count() as f64,
        };
        let mut layers = Vec::new();
        for (k, node) in graph.nodes.iter().enumerate() {
            let macs = info.macs(graph, k) as f64;
            if macs == 0.0 {
                continue;
            }
            // Weights are the specs of rank 2 and more, biases the vectors.
            let count = |bias: bool| -> f64 {
                info.params[k]
                    .iter()
                    .filter(|p| (p.shape.len() == 1) == bias)
                    .map(|p| p.len() as f64)
                    .sum()
            };
            // Shape inference has checked every layer with weights has an input.
            let Some(&src) = info.node_inputs[k].first() else {
                continue;
            };
            let tags = match src {
                Source::Input(i) => &map.input_tags[i],
                Source::Node(j) => &map.tags[j],
            };
            let mut origin = InputOrigin {
                total: tags.len() as f64,
                ..Default::default()
            };
            let mut counts = vec![0f64; map.sites.len()];
            for t in tags {
                match t {
                    Some((site, _)) => counts[*site as usize] += 1.0,
                    None => origin.free += 1.0,
                }
            }
            origin.from_site = counts
                .into_iter()
                .enumerate()
                .filter(|(_, c)| *c > 0.0)
                .collect();
            let sites = map.node_sites[k].clone();
            let layer = match &node.op {
                Op::Gru(r) | Op::Lstm(r) => {
                    let (steps, features) = match info.shape_of(src).as_slice() {
                        &[t, f] => (t, f),
                        other => bail!("`{}`: a recurrent input of shape {other:?}", node.name),
                    };
                    let gates = node.op.gates().unwrap_or(1) as f64;
                    let dirs = if r.bidirectional { 2.0 } else { 1.0 };
                    let (steps, bias_per_unit) = match measure {
                        Measure::Macs => (steps as f64, 0.0),
                        // Two bias vectors of `gates x h` per direction.
                        Measure::Params => (1.0, dirs * 2.0 * gates),
                    };
                    Layer::Recurrent {
                        steps_gates: steps * gates,
                        features: features as f64,
                        dirs,
                        bias_per_unit,
                        sites,
                    }
                }
                _ => {
                    let (amount, bias) = match measure {
                        Measure::Macs => (macs, 0.0),
                        Measure::Params => (count(false), count(true)),
                    };
                    Layer::Linear {
                        amount,
                        bias,
                        site: sites.first().copied(),
                    }
                }
            };
            layers.push((layer, origin));
        }
        Ok(CostModel {
            layers,
            site_group: map.group_of(),
            site_width: map.sites.iter().map(|s| s.width).collect(),
            site_peers: map
                .sites
                .iter()
                .map(|s| map.node_sites[s.node].clone())
                .collect(),
            groups: map.groups.len(),
            total: total.max(1.0),
        })
    }

    /// The cost of the network cut to these widths (one per group): multiply-adds per
    /// example, or the parameters of the layers with sites (and those they feed).
    pub fn cost(&self, group_widths: &[usize]) -> u64 {
        // Both directions of a bidirectional layer take the wider one's width (surgery
        // pads), and so do the next layer's inputs from them.
        let width = |site: usize| {
            self.site_peers[site]
                .iter()
                .map(|&p| group_widths[self.site_group[p]])
                .max()
                .unwrap_or(0) as f64
        };
        let share = |site: usize| width(site) / self.site_width[site].max(1) as f64;
        let mut sum = 0.0;
        for (layer, origin) in &self.layers {
            let kept_in = origin.free
                + origin
                    .from_site
                    .iter()
                    .map(|&(s, n)| n * share(s))
                    .sum::<f64>();
            let in_share = kept_in / origin.total.max(1.0);
            sum += match layer {
                Layer::Linear { amount, bias, site } => {
                    let out_share = site.map_or(1.0, share);
                    amount * in_share * out_share + bias * out_share
                }
                Layer::Recurrent {
                    steps_gates,
                    features,
                    dirs,
                    bias_per_unit,
                    sites,
                } => {
                    let h = sites.iter().map(|&s| width(s)).fold(0.0, f64::max);
                    dirs * steps_gates * h * (features * in_share + h) + bias_per_unit * h
                }
            };
        }
        sum.round() as u64
    }

    /// The original network's cost (all its parameters when counting parameters).
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Per group, what one of its elements costs at these widths, as a share of the
    /// original network's cost.
    pub fn marginal(&self, group_widths: &[usize]) -> Vec<f64> {
        let base = self.cost(group_widths) as f64;
        (0..self.groups)
            .map(|k| {
                let mut w = group_widths.to_vec();
                let (lo, hi) = if w[k] > 1 {
                    w[k] -= 1;
                    (self.cost(&w) as f64, base)
                } else {
                    w[k] += 1;
                    (base, self.cost(&w) as f64)
                };
                (hi - lo) / self.total
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
        let m = CostModel::macs(&g, &map).unwrap();
        // conv1 20 filters, conv2 50, fc1 500 (the classifier is not a site).
        let full = [20, 50, 500];
        assert_eq!(m.cost(&full) as f64, m.total());
        let c = m.marginal(&full);
        let total = m.total();
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
        let costs = CostModel::sample_costs(&c, &z, 2);
        let want0 = 20.0 * c[0] + 50.0 * c[1] + 500.0 * c[2];
        let want1 = 20.0 * c[0] + 50.0 * c[1];
        assert!((costs[0] as f64 - want0).abs() < 1e-5 && (costs[1] as f64 - want1).abs() < 1e-5);
    }

    /// The priced widths agree with the multiply-adds and the parameters of the model
    /// surgery really cuts, for convolutions feeding a reshape and GRUs (DeepSense) and
    /// bidirectional LSTMs with directions of different widths (speech).
    #[test]
    fn priced_widths_match_the_cut_model() {
        for g in [
            zoo::lenet5(10),
            zoo::deepsense(3, 8, 13, 15),
            zoo::speech_bilstm(100, 40, 10),
        ] {
            let info = g.infer().unwrap();
            let map = SiteMap::with_info(&g, &info).unwrap();
            let m = CostModel::macs(&g, &map).unwrap();
            let p = CostModel::params(&g, &map).unwrap();
            assert_eq!(p.total() as usize, info.param_count());
            let weights: crate::models::Weights = info
                .params
                .iter()
                .flatten()
                .map(|p| (p.name.clone(), (p.shape.to_vec(), vec![0.0; p.len()])))
                .collect();
            let group_of = map.group_of();
            let mut rng = crate::rng::Rng::new(7);
            for _ in 0..5 {
                let widths: Vec<usize> = map
                    .groups
                    .iter()
                    .map(|gr| 1 + rng.below(map.sites[gr[0]].width))
                    .collect();
                let keep: Vec<Vec<bool>> = (0..map.sites.len())
                    .map(|s| {
                        (0..map.sites[s].width)
                            .map(|u| u < widths[group_of[s]])
                            .collect()
                    })
                    .collect();
                let (cg, _) = crate::compress::cut(&g, &weights, &keep).unwrap();
                let cut_info = cg.infer().unwrap();
                let want = cut_info.total_macs(&cg);
                assert_eq!(m.cost(&widths), want, "{} at {widths:?}", g.nodes[0].name);
                let want = cut_info.param_count() as u64;
                assert_eq!(p.cost(&widths), want, "{} at {widths:?}", g.nodes[0].name);
            }
        }
    }
}
