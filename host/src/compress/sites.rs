//! Where masks go, derived from the graph alone.
//!
//! A *site* is a set of hidden elements a mask can remove: a dense layer's neurons, a
//! convolution's output channels, or one direction's units of a recurrent layer. The
//! classifier (a layer whose output reaches a graph output without crossing another
//! weighted layer) and the inputs are never sites.
//!
//! Masking element `u` of a site multiplies its output by `z_u` wherever that output goes
//! (after any activation, through pools, reshapes, permutations and concatenations). To
//! know where each element's values end up, every activation value carries a *tag* per
//! element: the (site, unit) it came from, or none. Consumers (dense, convolution and
//! recurrent input matrices) then know which of their input columns belong to which unit,
//! which is what both the masked forward pass and the surgery need. Sites that must keep
//! equal widths (joined on another axis than their own) are coupled into one group that
//! shares a mask.
use deepiot_format::{Graph, Op, ShapeInfo, Source};
use std::fmt;

/// The elements one mask covers within a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The layer's node index and name.
    pub node: usize,
    pub name: String,
    /// 0, or 1 for the backward direction of a bidirectional recurrent layer.
    pub direction: usize,
    /// Elements (neurons, channels, units).
    pub width: usize,
}

/// An element's origin: site index and unit within it.
pub type Tag = Option<(u32, u32)>;

/// Masks and their bookkeeping for one graph.
#[derive(Debug, Clone)]
pub struct SiteMap {
    pub sites: Vec<Site>,
    /// `site_of[node]`: the sites of each node (empty for non-sites).
    pub node_sites: Vec<Vec<usize>>,
    /// Per node output, per element (row-major), where the value came from.
    pub tags: Vec<Vec<Tag>>,
    /// Per graph input, all `None`.
    pub input_tags: Vec<Vec<Tag>>,
    /// Groups of sites that share one mask (each site is in exactly one group).
    pub groups: Vec<Vec<usize>>,
}

/// The graph cannot be masked consistently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteError(pub String);

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SiteError {}

fn has_weights(op: &Op) -> bool {
    matches!(
        op,
        Op::Dense { .. } | Op::Conv1d { .. } | Op::Conv2d { .. } | Op::Gru(_) | Op::Lstm(_)
    )
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * shape[a + 1];
    }
    s
}

/// Index of element `e` along `axis`.
pub fn coord(shape: &[usize], e: usize, axis: usize) -> usize {
    (e / strides(shape)[axis]) % shape[axis]
}

impl SiteMap {
    pub fn new(graph: &Graph) -> Result<Self, SiteError> {
        let info = graph.infer().map_err(|e| SiteError(e.to_string()))?;
        Self::with_info(graph, &info)
    }

    pub fn with_info(graph: &Graph, info: &ShapeInfo) -> Result<Self, SiteError> {
        let n = graph.nodes.len();
        // Which nodes feed a graph output without crossing a weighted layer: the
        // weighted ones among them are classifiers.
        let mut reaches_output = vec![false; n];
        for o in &info.outputs {
            if let Source::Node(k) = o {
                reaches_output[*k] = true;
            }
        }
        for k in (0..n).rev() {
            if reaches_output[k] && !has_weights(&graph.nodes[k].op) {
                for s in &info.node_inputs[k] {
                    if let Source::Node(j) = s {
                        reaches_output[*j] = true;
                    }
                }
            }
        }
        let mut sites = Vec::new();
        let mut node_sites = vec![Vec::new(); n];
        for (k, node) in graph.nodes.iter().enumerate() {
            if reaches_output[k] || !has_weights(&node.op) {
                continue;
            }
            let (width, dirs) = match &node.op {
                Op::Dense { units } => (*units, 1),
                Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => {
                    (*out_channels, 1)
                }
                Op::Gru(r) | Op::Lstm(r) => (r.hidden, if r.bidirectional { 2 } else { 1 }),
                _ => continue,
            };
            for d in 0..dirs {
                node_sites[k].push(sites.len());
                sites.push(Site {
                    node: k,
                    name: node.name.clone(),
                    direction: d,
                    width,
                });
            }
        }

        let input_tags: Vec<Vec<Tag>> = info
            .input_shapes
            .iter()
            .map(|s| vec![None; s.iter().product()])
            .collect();
        let mut tags: Vec<Vec<Tag>> = Vec::with_capacity(n);
        let mut parent: Vec<usize> = (0..sites.len()).collect();
        for (k, node) in graph.nodes.iter().enumerate() {
            let srcs = &info.node_inputs[k];
            let get = |s: &Source, tags: &Vec<Vec<Tag>>| -> Vec<Tag> {
                match s {
                    Source::Input(i) => input_tags[*i].clone(),
                    Source::Node(j) => tags[*j].clone(),
                }
            };
            let x_shape = info.shape_of(srcs[0]).clone();
            let y_shape = &info.node_shapes[k];
            let len: usize = y_shape.iter().product();
            let x = get(&srcs[0], &tags);
            let out: Vec<Tag> = match &node.op {
                Op::Dense { .. }
                | Op::Conv1d { .. }
                | Op::Conv2d { .. }
                | Op::Gru(_)
                | Op::Lstm(_) => {
                    let my = &node_sites[k];
                    if my.is_empty() {
                        vec![None; len]
                    } else {
                        (0..len)
                            .map(|e| {
                                let (site, unit) = match &node.op {
                                    Op::Dense { units } => (my[0], e % units),
                                    Op::Conv1d { .. } | Op::Conv2d { .. } => {
                                        (my[0], coord(y_shape, e, 0))
                                    }
                                    Op::Gru(r) | Op::Lstm(r) => {
                                        let f = e % (my.len() * r.hidden);
                                        (my[f / r.hidden], f % r.hidden)
                                    }
                                    _ => unreachable!("weighted ops only"),
                                };
                                Some((site as u32, unit as u32))
                            })
                            .collect()
                    }
                }
                Op::Relu | Op::Tanh | Op::Sigmoid | Op::Flatten | Op::Reshape { .. } => x,
                Op::Softmax => {
                    let w = *x_shape.last().unwrap_or(&1);
                    if x.chunks(w).any(|row| row.iter().any(|t| t.is_some())) {
                        return Err(SiteError(format!(
                            "`{}`: softmax over hidden elements that a mask could remove",
                            node.name
                        )));
                    }
                    x
                }
                Op::MaxPool1d(_) | Op::AvgPool1d(_) | Op::MaxPool2d(_) | Op::AvgPool2d(_) => {
                    // Pools work per channel: every output element keeps its channel's tag.
                    let per_in: usize = x_shape[1..].iter().product();
                    let per_out: usize = y_shape[1..].iter().product();
                    (0..len).map(|e| x[(e / per_out) * per_in]).collect()
                }
                Op::Permute { perm } => {
                    let xs = strides(&x_shape);
                    (0..len)
                        .map(|e| {
                            let mut src = 0;
                            for (a, &p) in perm.iter().enumerate() {
                                src += coord(y_shape, e, a) * xs[p];
                            }
                            x[src]
                        })
                        .collect()
                }
                Op::Concat { axis } => {
                    let parts: Vec<(Vec<Tag>, Vec<usize>)> = srcs
                        .iter()
                        .map(|s| (get(s, &tags), info.shape_of(*s).clone()))
                        .collect();
                    // Sites joined on another axis than their own must keep equal width:
                    // couple the sites found at the same position of each operand.
                    let outer: usize = y_shape[..*axis].iter().product();
                    let mut out = Vec::with_capacity(len);
                    for o in 0..outer {
                        for (t, s) in &parts {
                            let block: usize = s[*axis..].iter().product();
                            out.extend_from_slice(&t[o * block..(o + 1) * block]);
                        }
                    }
                    couple_concat(&parts, *axis, &mut parent);
                    out
                }
            };
            tags.push(out);
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_root = std::collections::BTreeMap::new();
        for s in 0..sites.len() {
            let r = find(&mut parent, s);
            let g = *group_of_root.entry(r).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(s);
        }
        for g in &groups {
            let w = sites[g[0]].width;
            if g.iter().any(|&s| sites[s].width != w) {
                return Err(SiteError(format!(
                    "coupled layers have different widths: {g:?}"
                )));
            }
        }
        Ok(SiteMap {
            sites,
            node_sites,
            tags,
            input_tags,
            groups,
        })
    }

    /// The tags of a node's input `s`.
    pub fn tags_of(&self, s: Source) -> &[Tag] {
        match s {
            Source::Input(i) => &self.input_tags[i],
            Source::Node(j) => &self.tags[j],
        }
    }

    /// The group each site belongs to.
    pub fn group_of(&self) -> Vec<usize> {
        let mut g = vec![0; self.sites.len()];
        for (gi, members) in self.groups.iter().enumerate() {
            for &s in members {
                g[s] = gi;
            }
        }
        g
    }
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Whether an operand's tags change along `axis` (then `axis` is its sites' own axis).
fn varies_along(t: &[Tag], s: &[usize], axis: usize) -> bool {
    let inner: usize = s[axis + 1..].iter().product();
    let outer: usize = s[..axis].iter().product();
    (0..outer).any(|o| {
        let base = o * s[axis] * inner;
        (1..s[axis]).any(|a| (0..inner).any(|i| t[base + a * inner + i] != t[base + i]))
    })
}

/// Couples sites that appear at the same element position (along the non-joined axes) of
/// two concatenated operands, when the join runs along another axis than their own (the
/// operands must then keep the same elements). Joining along their own axis (the usual
/// concatenation of branch channels) couples nothing.
fn couple_concat(parts: &[(Vec<Tag>, Vec<usize>)], axis: usize, parent: &mut [usize]) {
    let Some((t0, s0)) = parts.first() else {
        return;
    };
    if varies_along(t0, s0, axis) {
        return;
    }
    for (t, s) in &parts[1..] {
        if varies_along(t, s, axis) {
            continue;
        }
        // Compare the first slice of each operand along the joined axis.
        let inner0: usize = s0[axis + 1..].iter().product();
        let inner: usize = s[axis + 1..].iter().product();
        if inner0 != inner {
            continue;
        }
        let outer: usize = s0[..axis].iter().product();
        for o in 0..outer {
            for i in 0..inner {
                let a = t0[o * s0[axis] * inner0 + i];
                let b = t[o * s[axis] * inner + i];
                if let (Some((sa, _)), Some((sb, _))) = (a, b) {
                    let (ra, rb) = (find(parent, sa as usize), find(parent, sb as usize));
                    if ra != rb {
                        parent[ra] = rb;
                    }
                }
            }
        }
    }
}
