//! From one mask per group to what the candle network multiplies: a `[B, ...]` mask for
//! every node output that carries masked elements, and per-direction `[B, H]` masks for
//! recurrent layers (applied to the state at every step, so the same mask covers the
//! recurrence and the output).
//!
//! A mask is applied where its elements are produced and again after a sigmoid
//! (sigmoid(0) is not 0); ReLU, tanh, pools, reshapes, permutations and concatenations
//! keep zeros, and multiplying by a 0/1 mask twice changes nothing. This is exactly the network that
//! [`super::surgery::cut`] produces, which the tests check.
//!
//! So a producing layer's mask can also be applied later, past the ReLU, tanh and pools
//! that are its output's only reader (`relu(0) = 0`; a pool of a zeroed channel is zero),
//! and it is: on the smallest of those tensors, the multiply and its backward touch a
//! quarter of the elements after LeNet-5's 2x2 pools.
use super::sites::SiteMap;
use crate::models::{ElementMask, MaskRun, NodeMasks};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarMap;
use deepiot_format::{Graph, Op, ShapeInfo, Source};
use std::sync::Arc;

/// Precomputed gather indices for expanding group masks.
#[derive(Debug, Clone)]
pub struct MaskPlan {
    /// Sites of each group.
    pub groups: Vec<Vec<usize>>,
    group_of_site: Vec<usize>,
    site_offset: Vec<usize>,
    total: usize,
    /// Per node: which column of `[sites' masks | 1]` multiplies each element of its
    /// output, as runs, when masked.
    points: Vec<Option<Arc<[MaskRun]>>>,
    /// Per node: the site of each direction, for recurrent layers that are sites.
    rnn: Vec<Vec<usize>>,
}

impl MaskPlan {
    pub fn new(graph: &Graph, info: &ShapeInfo, map: &SiteMap) -> Result<Self> {
        let mut site_offset = Vec::new();
        let mut total = 0;
        for s in &map.sites {
            site_offset.push(total);
            total += s.width;
        }
        let group_of_site = map.group_of();
        let mut points = vec![None; graph.nodes.len()];
        let mut rnn = Vec::new();
        for (k, node) in graph.nodes.iter().enumerate() {
            let recurrent = matches!(node.op, Op::Gru(_) | Op::Lstm(_));
            rnn.push(if recurrent {
                map.node_sites[k].clone()
            } else {
                Vec::new()
            });
            let tags = &map.tags[k];
            let produces = !map.node_sites[k].is_empty() && !recurrent;
            // ReLU and tanh keep a masked zero at zero, so only sigmoid needs masking again
            // (masking after ReLU cost LeNet-5's search 1.5 ms of 34 per iteration).
            let activation = matches!(node.op, Op::Sigmoid) && tags.iter().any(Option::is_some);
            if produces || activation {
                let at = if produces {
                    mask_point(graph, info, k)
                } else {
                    k
                };
                let tags = &map.tags[at];
                let idx: Vec<u32> = tags
                    .iter()
                    .map(|t| match t {
                        Some((s, u)) => (site_offset[*s as usize] + *u as usize) as u32,
                        None => total as u32,
                    })
                    .collect();
                debug_assert_eq!(idx.len(), info.node_shapes[at].iter().product::<usize>());
                let mut runs: Vec<MaskRun> = Vec::new();
                for (e, &column) in idx.iter().enumerate() {
                    match runs.last_mut() {
                        Some(r) if r.column == column => r.len += 1,
                        _ => runs.push(MaskRun {
                            start: e as u32,
                            len: 1,
                            column,
                        }),
                    }
                }
                points[at] = Some(runs.into());
            }
        }
        Ok(MaskPlan {
            groups: map.groups.clone(),
            group_of_site,
            site_offset,
            total,
            points,
            rnn,
        })
    }

    /// Expands `[B, n_g]` masks (one per group) into node masks.
    pub fn expand(&self, group_masks: &[Tensor]) -> Result<NodeMasks> {
        let b = group_masks
            .first()
            .map(|m| m.dim(0))
            .transpose()?
            .unwrap_or(1);
        let mut cols: Vec<Tensor> = self
            .group_of_site
            .iter()
            .map(|&g| group_masks[g].clone())
            .collect();
        cols.push(Tensor::ones((b, 1), DType::F32, &Device::Cpu)?);
        let all = Tensor::cat(&cols, 1)?; // [B, total + 1]
        debug_assert_eq!(all.dim(1)?, self.total + 1);
        let node = self
            .points
            .iter()
            .map(|p| {
                p.as_ref().map(|runs| ElementMask {
                    columns: all.clone(),
                    runs: runs.clone(),
                })
            })
            .collect();
        let rnn = self
            .rnn
            .iter()
            .map(|sites| {
                (!sites.is_empty()).then(|| {
                    sites
                        .iter()
                        .map(|&s| group_masks[self.group_of_site[s]].clone())
                        .collect()
                })
            })
            .collect();
        Ok(NodeMasks { node, rnn })
    }

    /// Offset of each site's elements in the concatenated masks.
    pub fn site_offset(&self, s: usize) -> usize {
        self.site_offset[s]
    }
}

/// Each group's weights as one `n x fan_in` matrix, a row per element (the compressor
/// reads its transpose): a dense layer's `[W | b]`, a convolution's `[W reshaped to (O, K)
/// | b]`, a recurrent direction's gate blocks `[W_ih_q | W_hh_q | b_ih_q | b_hh_q]` side by
/// side; coupled sites side by side. Rows of the weights stay rows, so building it is a
/// row-wise copy, not a transposition (LeNet-5's fc1 transposed took about 1 ms per
/// search iteration). Detached: the compressor never changes the weights.
pub fn weight_views(graph: &Graph, map: &SiteMap, vars: &VarMap) -> Result<Vec<Tensor>> {
    let data = vars
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("weights are locked".into()))?;
    let get = |name: String| -> Result<Tensor> {
        data.get(&name)
            .map(|v| v.as_tensor().detach())
            .ok_or_else(|| candle_core::Error::Msg(format!("no tensor `{name}`")))
    };
    let mut views = Vec::new();
    for group in &map.groups {
        let mut parts = Vec::new();
        for &s in group {
            let site = &map.sites[s];
            let name = &site.name;
            match &graph.nodes[site.node].op {
                Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } => {
                    let w = get(format!("{name}.weight"))?;
                    let o = w.dim(0)?;
                    parts.push(w.reshape((o, w.elem_count() / o))?);
                    parts.push(get(format!("{name}.bias"))?.unsqueeze(1)?);
                }
                Op::Gru(r) | Op::Lstm(r) => {
                    let sfx = if site.direction == 1 { "_reverse" } else { "" };
                    let h = r.hidden;
                    let gates = graph.nodes[site.node].op.gates().unwrap_or(0);
                    let (wi, wh) = (
                        get(format!("{name}.weight_ih_l0{sfx}"))?,
                        get(format!("{name}.weight_hh_l0{sfx}"))?,
                    );
                    let (bi, bh) = (
                        get(format!("{name}.bias_ih_l0{sfx}"))?,
                        get(format!("{name}.bias_hh_l0{sfx}"))?,
                    );
                    for q in 0..gates {
                        parts.push(wi.narrow(0, q * h, h)?);
                        parts.push(wh.narrow(0, q * h, h)?);
                        parts.push(bi.narrow(0, q * h, h)?.unsqueeze(1)?);
                        parts.push(bh.narrow(0, q * h, h)?.unsqueeze(1)?);
                    }
                }
                _ => {}
            }
        }
        views.push(Tensor::cat(&parts, 1)?.contiguous()?);
    }
    Ok(views)
}

/// Where the mask of layer `k`'s output is applied: past every ReLU, tanh or pool that is
/// the only reader of the value before it (see the module docs).
fn mask_point(graph: &Graph, info: &ShapeInfo, k: usize) -> usize {
    let mut at = k;
    loop {
        let mut readers = info
            .node_inputs
            .iter()
            .enumerate()
            .filter(|(_, srcs)| srcs.contains(&Source::Node(at)));
        let next = match (readers.next(), readers.next()) {
            (Some((j, srcs)), None) if srcs.len() == 1 => j,
            _ => return at,
        };
        match graph.nodes[next].op {
            Op::Relu
            | Op::Tanh
            | Op::MaxPool1d(_)
            | Op::AvgPool1d(_)
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_) => at = next,
            _ => return at,
        }
    }
}
