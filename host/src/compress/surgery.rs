//! Surgery: from a keep-mask per site, the smaller dense model.
//!
//! Every activation value of the cut model is described by where each of its elements
//! came from in the original value (`None` for padding). Weighted layers then take the
//! rows of the units they keep and the columns of the inputs that remain; every other op
//! carries the mapping through. The result is a valid model whose outputs equal the
//! masked original's ([`mask_weights`]) up to float rounding.
//!
//! The two directions of a bidirectional layer have their own masks but one `hidden` in
//! the format, so the narrower direction is padded with dead units (all-zero weights),
//! whose state and output stay exactly zero for GRU and LSTM alike.
use super::sites::{coord, strides, SiteError, SiteMap};
use crate::models::Weights;
use deepiot_format::{Graph, Op, ShapeInfo, Source};

/// A value of the cut model: its shape, and for each element the flat index of the
/// element of the original value it holds (`None`: a zero pad).
#[derive(Debug, Clone)]
struct Mapped {
    shape: Vec<usize>,
    src: Vec<Option<usize>>,
}

fn err(s: String) -> SiteError {
    SiteError(s)
}

fn flat(shape: &[usize], coords: &[usize]) -> usize {
    strides(shape).iter().zip(coords).map(|(s, c)| s * c).sum()
}

fn coords(shape: &[usize], e: usize) -> Vec<usize> {
    (0..shape.len()).map(|a| coord(shape, e, a)).collect()
}

fn tensor<'a>(w: &'a Weights, name: &str) -> Result<&'a (Vec<usize>, Vec<f32>), SiteError> {
    w.get(name)
        .ok_or_else(|| err(format!("tensor `{name}` is missing")))
}

/// Original index along `axis` of each remaining position of `m` along that axis (read at
/// coordinate 0 of every other axis), or `None` for a pad.
fn axis_map(m: &Mapped, old_shape: &[usize], axis: usize) -> Vec<Option<usize>> {
    let st = strides(&m.shape);
    (0..m.shape[axis])
        .map(|i| m.src[i * st[axis]].map(|o| coord(old_shape, o, axis)))
        .collect()
}

/// Units kept by each of a node's sites (all units for a non-site).
fn kept_units(
    map: &SiteMap,
    keep: &[Vec<bool>],
    node: usize,
    width: usize,
    dirs: usize,
) -> Vec<Vec<usize>> {
    let sites = &map.node_sites[node];
    (0..dirs)
        .map(|d| match sites.get(d) {
            Some(&s) => (0..width).filter(|&u| keep[s][u]).collect(),
            None => (0..width).collect(),
        })
        .collect()
}

/// Builds the smaller model. `keep[site][unit]` says which elements stay; at least one
/// unit of every site must stay.
pub fn cut(
    graph: &Graph,
    weights: &Weights,
    keep: &[Vec<bool>],
) -> Result<(Graph, Weights), SiteError> {
    let info = graph.infer().map_err(|e| err(e.to_string()))?;
    let map = SiteMap::with_info(graph, &info)?;
    check_keep(&map, keep)?;
    let mut values: Vec<Mapped> = Vec::new();
    let inputs: Vec<Mapped> = info
        .input_shapes
        .iter()
        .map(|s| Mapped {
            shape: s.clone(),
            src: (0..s.iter().product()).map(Some).collect(),
        })
        .collect();
    let mut out_graph = graph.clone();
    let mut out_w = Weights::new();
    for (k, node) in graph.nodes.iter().enumerate() {
        let srcs = &info.node_inputs[k];
        let get = |s: &Source, values: &Vec<Mapped>| match s {
            Source::Input(i) => inputs[*i].clone(),
            Source::Node(j) => values[*j].clone(),
        };
        let x = get(&srcs[0], &values);
        let x_old = info.shape_of(srcs[0]).clone();
        let y_old = info.node_shapes[k].clone();
        let name = &node.name;
        let new = match &node.op {
            Op::Dense { units } => {
                let f_old = *x_old.last().unwrap_or(&1);
                let cols = axis_map(&x, &x_old, x_old.len() - 1);
                let rows = kept_units(&map, keep, k, *units, 1).remove(0);
                let (_, w) = tensor(weights, &format!("{name}.weight"))?;
                let (_, b) = tensor(weights, &format!("{name}.bias"))?;
                let mut nw = Vec::with_capacity(rows.len() * cols.len());
                for &u in &rows {
                    nw.extend(cols.iter().map(|c| c.map_or(0.0, |c| w[u * f_old + c])));
                }
                out_w.insert(format!("{name}.weight"), (vec![rows.len(), cols.len()], nw));
                out_w.insert(
                    format!("{name}.bias"),
                    (vec![rows.len()], rows.iter().map(|&u| b[u]).collect()),
                );
                out_graph.nodes[k].op = Op::Dense { units: rows.len() };
                let mut shape = x.shape.clone();
                *shape.last_mut().unwrap_or(&mut 0) = rows.len();
                let src = (0..shape.iter().product())
                    .map(|e| {
                        let mut c = coords(&shape, e);
                        let last = c.len() - 1;
                        // Leading axes are never cut by a dense layer's input.
                        c[last] = rows[c[last]];
                        Some(flat(&y_old, &c))
                    })
                    .collect();
                Mapped { shape, src }
            }
            Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => {
                let chans = axis_map(&x, &x_old, 0);
                if x.shape[1..] != x_old[1..] {
                    return Err(err(format!(
                        "`{name}`: its input lost positions, not just channels"
                    )));
                }
                let outs = kept_units(&map, keep, k, *out_channels, 1).remove(0);
                let (ws, w) = tensor(weights, &format!("{name}.weight"))?;
                let (_, b) = tensor(weights, &format!("{name}.bias"))?;
                let per_c: usize = ws[2..].iter().product();
                let mut nw = Vec::new();
                for &o in &outs {
                    for c in &chans {
                        match c {
                            Some(c) => nw.extend_from_slice(&w[(o * ws[1] + c) * per_c..][..per_c]),
                            None => nw.extend(std::iter::repeat_n(0.0, per_c)),
                        }
                    }
                }
                let mut nshape = ws.clone();
                nshape[0] = outs.len();
                nshape[1] = chans.len();
                out_w.insert(format!("{name}.weight"), (nshape, nw));
                out_w.insert(
                    format!("{name}.bias"),
                    (vec![outs.len()], outs.iter().map(|&o| b[o]).collect()),
                );
                out_graph.nodes[k].op = match &node.op {
                    Op::Conv1d {
                        kernel,
                        stride,
                        padding,
                        ..
                    } => Op::Conv1d {
                        out_channels: outs.len(),
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                    },
                    Op::Conv2d {
                        kernel,
                        stride,
                        padding,
                        ..
                    } => Op::Conv2d {
                        out_channels: outs.len(),
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                    },
                    _ => unreachable!("conv ops only"),
                };
                let mut shape = y_old.clone();
                shape[0] = outs.len();
                let src = (0..shape.iter().product())
                    .map(|e| {
                        let mut c = coords(&shape, e);
                        c[0] = outs[c[0]];
                        Some(flat(&y_old, &c))
                    })
                    .collect();
                Mapped { shape, src }
            }
            Op::Gru(r) | Op::Lstm(r) => {
                let g = node.op.gates().unwrap_or(0);
                let dirs = if r.bidirectional { 2 } else { 1 };
                let h = r.hidden;
                let feats = axis_map(&x, &x_old, 1);
                if x.shape[0] != x_old[0] {
                    return Err(err(format!("`{name}`: its input lost time steps")));
                }
                let kept = kept_units(&map, keep, k, h, dirs);
                let hn = kept.iter().map(Vec::len).max().unwrap_or(0);
                let f_old = x_old[1];
                for (d, units) in kept.iter().enumerate() {
                    let sfx = if d == 1 { "_reverse" } else { "" };
                    // New unit j of gate block q is old row q*h + units[j], or a dead pad.
                    let row = |q: usize, j: usize| units.get(j).map(|&u| q * h + u);
                    let (_, wih) = tensor(weights, &format!("{name}.weight_ih_l0{sfx}"))?;
                    let (_, whh) = tensor(weights, &format!("{name}.weight_hh_l0{sfx}"))?;
                    let (_, bih) = tensor(weights, &format!("{name}.bias_ih_l0{sfx}"))?;
                    let (_, bhh) = tensor(weights, &format!("{name}.bias_hh_l0{sfx}"))?;
                    let (mut nih, mut nhh, mut nbi, mut nbh) =
                        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                    for q in 0..g {
                        for j in 0..hn {
                            match row(q, j) {
                                Some(rw) => {
                                    nih.extend(
                                        feats
                                            .iter()
                                            .map(|c| c.map_or(0.0, |c| wih[rw * f_old + c])),
                                    );
                                    nhh.extend(
                                        (0..hn).map(|jj| {
                                            units.get(jj).map_or(0.0, |&u| whh[rw * h + u])
                                        }),
                                    );
                                    nbi.push(bih[rw]);
                                    nbh.push(bhh[rw]);
                                }
                                None => {
                                    nih.extend(std::iter::repeat_n(0.0, feats.len()));
                                    nhh.extend(std::iter::repeat_n(0.0, hn));
                                    nbi.push(0.0);
                                    nbh.push(0.0);
                                }
                            }
                        }
                    }
                    out_w.insert(
                        format!("{name}.weight_ih_l0{sfx}"),
                        (vec![g * hn, feats.len()], nih),
                    );
                    out_w.insert(format!("{name}.weight_hh_l0{sfx}"), (vec![g * hn, hn], nhh));
                    out_w.insert(format!("{name}.bias_ih_l0{sfx}"), (vec![g * hn], nbi));
                    out_w.insert(format!("{name}.bias_hh_l0{sfx}"), (vec![g * hn], nbh));
                }
                let mut nr = *r;
                nr.hidden = hn;
                out_graph.nodes[k].op = if g == 3 { Op::Gru(nr) } else { Op::Lstm(nr) };
                // Feature position d*hn + j holds old feature d*h + kept[d][j].
                let feat = |f: usize| kept[f / hn].get(f % hn).map(|&u| (f / hn) * h + u);
                let (shape, src): (Vec<usize>, Vec<Option<usize>>) = if y_old.len() == 2 {
                    let shape = vec![y_old[0], dirs * hn];
                    let src = (0..y_old[0] * dirs * hn)
                        .map(|e| feat(e % (dirs * hn)).map(|f| (e / (dirs * hn)) * dirs * h + f))
                        .collect();
                    (shape, src)
                } else {
                    (vec![dirs * hn], (0..dirs * hn).map(feat).collect())
                };
                Mapped { shape, src }
            }
            Op::Relu | Op::Tanh | Op::Sigmoid | Op::Softmax | Op::Flatten => {
                let shape = if matches!(node.op, Op::Flatten) {
                    vec![x.src.len()]
                } else {
                    x.shape.clone()
                };
                Mapped {
                    shape,
                    src: x.src.clone(),
                }
            }
            Op::Reshape { shape: target } => {
                let shape = reshape_target(&x, &y_old, target).ok_or_else(|| {
                    err(format!(
                        "`{name}`: the cut input cannot be reshaped consistently to {target:?}"
                    ))
                })?;
                out_graph.nodes[k].op = Op::Reshape {
                    shape: shape.clone(),
                };
                Mapped {
                    shape,
                    src: x.src.clone(),
                }
            }
            Op::MaxPool1d(_) | Op::AvgPool1d(_) | Op::MaxPool2d(_) | Op::AvgPool2d(_) => {
                let chans = axis_map(&x, &x_old, 0);
                let mut shape = y_old.clone();
                shape[0] = chans.len();
                let src = (0..shape.iter().product())
                    .map(|e| {
                        let mut c = coords(&shape, e);
                        chans[c[0]].map(|old| {
                            c[0] = old;
                            flat(&y_old, &c)
                        })
                    })
                    .collect();
                Mapped { shape, src }
            }
            Op::Permute { perm } => {
                let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
                let xs = strides(&x.shape);
                let src = (0..shape.iter().product())
                    .map(|e| {
                        let c = coords(&shape, e);
                        let xe: usize = perm.iter().enumerate().map(|(a, &p)| c[a] * xs[p]).sum();
                        x.src[xe].map(|old| {
                            let oc = coords(&x_old, old);
                            flat(&y_old, &perm.iter().map(|&p| oc[p]).collect::<Vec<_>>())
                        })
                    })
                    .collect();
                Mapped { shape, src }
            }
            Op::Concat { axis } => {
                let parts: Vec<(Mapped, Vec<usize>)> = srcs
                    .iter()
                    .map(|s| (get(s, &values), info.shape_of(*s).clone()))
                    .collect();
                let mut shape = parts[0].0.shape.clone();
                shape[*axis] = parts.iter().map(|(m, _)| m.shape[*axis]).sum();
                let src = (0..shape.iter().product())
                    .map(|e| {
                        let mut c = coords(&shape, e);
                        let (mut at, mut old_off) = (c[*axis], 0);
                        for (m, old) in &parts {
                            if at < m.shape[*axis] {
                                c[*axis] = at;
                                return m.src[flat(&m.shape, &c)].map(|o| {
                                    let mut oc = coords(old, o);
                                    oc[*axis] += old_off;
                                    flat(&y_old, &oc)
                                });
                            }
                            at -= m.shape[*axis];
                            old_off += old[*axis];
                        }
                        None
                    })
                    .collect();
                Mapped { shape, src }
            }
        };
        values.push(new);
    }
    for o in &info.outputs {
        let (m, old) = match o {
            Source::Input(i) => (&inputs[*i], &info.input_shapes[*i]),
            Source::Node(j) => (&values[*j], &info.node_shapes[*j]),
        };
        if &m.shape != old {
            return Err(err("a graph output would change shape".into()));
        }
    }
    out_graph
        .infer()
        .map_err(|e| err(format!("the cut graph is invalid: {e}")))?;
    Ok((out_graph, out_w))
}

/// The reshape target for a cut input: the original target with the one axis that
/// absorbs the change recomputed, such that every other axis still lines up.
fn reshape_target(x: &Mapped, y_old: &[usize], target: &[usize]) -> Option<Vec<usize>> {
    let n = x.src.len();
    (0..target.len()).rev().find_map(|a| {
        let rest: usize = target
            .iter()
            .enumerate()
            .filter(|(b, _)| *b != a)
            .map(|(_, d)| d)
            .product();
        if rest == 0 || !n.is_multiple_of(rest) {
            return None;
        }
        let mut shape = target.to_vec();
        shape[a] = n / rest;
        let consistent = x.src.iter().enumerate().all(|(e, s)| match s {
            Some(old) => {
                (0..shape.len()).all(|b| b == a || coord(&shape, e, b) == coord(y_old, *old, b))
            }
            None => true,
        });
        consistent.then_some(shape)
    })
}

fn check_keep(map: &SiteMap, keep: &[Vec<bool>]) -> Result<(), SiteError> {
    if keep.len() != map.sites.len() {
        return Err(err(format!(
            "{} masks for {} sites",
            keep.len(),
            map.sites.len()
        )));
    }
    for (s, k) in map.sites.iter().zip(keep) {
        if k.len() != s.width {
            return Err(err(format!(
                "`{}` has {} elements but its mask {}",
                s.name,
                s.width,
                k.len()
            )));
        }
        if !k.iter().any(|&b| b) {
            return Err(err(format!(
                "the mask removes every element of `{}`",
                s.name
            )));
        }
    }
    Ok(())
}

/// The masked network with its original shapes: every removed element's contribution is
/// zeroed where it is consumed (input columns of the next weighted layers, recurrent
/// columns of its own layer). Its outputs are what the cut model must reproduce.
pub fn mask_weights(
    graph: &Graph,
    weights: &Weights,
    keep: &[Vec<bool>],
) -> Result<Weights, SiteError> {
    let info: ShapeInfo = graph.infer().map_err(|e| err(e.to_string()))?;
    let map = SiteMap::with_info(graph, &info)?;
    check_keep(&map, keep)?;
    let removed = |t: Option<(u32, u32)>| t.is_some_and(|(s, u)| !keep[s as usize][u as usize]);
    let mut out = weights.clone();
    for (k, node) in graph.nodes.iter().enumerate() {
        let src = info.node_inputs[k][0];
        let x_old = info.shape_of(src);
        let tags = map.tags_of(src);
        let name = &node.name;
        let zero_cols = |w: &mut (Vec<usize>, Vec<f32>), cols: &[bool], per: usize| {
            let width = cols.len() * per;
            for row in w.1.chunks_mut(width) {
                for (c, &z) in cols.iter().enumerate() {
                    if z {
                        row[c * per..(c + 1) * per].fill(0.0);
                    }
                }
            }
        };
        match &node.op {
            Op::Dense { .. } => {
                let f = *x_old.last().unwrap_or(&1);
                let cols: Vec<bool> = (0..f).map(|c| removed(tags[c])).collect();
                if let Some(w) = out.get_mut(&format!("{name}.weight")) {
                    zero_cols(w, &cols, 1);
                }
            }
            Op::Conv1d { .. } | Op::Conv2d { .. } => {
                let per: usize = x_old[1..].iter().product();
                let cols: Vec<bool> = (0..x_old[0]).map(|c| removed(tags[c * per])).collect();
                if let Some(w) = out.get_mut(&format!("{name}.weight")) {
                    let per_k = w.0[2..].iter().product();
                    zero_cols(w, &cols, per_k);
                }
            }
            Op::Gru(r) | Op::Lstm(r) => {
                let cols: Vec<bool> = (0..x_old[1]).map(|c| removed(tags[c])).collect();
                let sites = &map.node_sites[k];
                let dirs = if r.bidirectional { 2 } else { 1 };
                for d in 0..dirs {
                    let sfx = if d == 1 { "_reverse" } else { "" };
                    if let Some(w) = out.get_mut(&format!("{name}.weight_ih_l0{sfx}")) {
                        zero_cols(w, &cols, 1);
                    }
                    if let Some(&s) = sites.get(d) {
                        let own: Vec<bool> = keep[s].iter().map(|&k| !k).collect();
                        if let Some(w) = out.get_mut(&format!("{name}.weight_hh_l0{sfx}")) {
                            zero_cols(w, &own, 1);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}
