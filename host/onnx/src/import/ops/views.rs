//! Ops that only look at the same values differently: `Reshape`, `Flatten`,
//! `Transpose`, `Squeeze`, `Unsqueeze`, and `Gather` / `Slice` / `Concat` where they
//! select or join whole parts. On constants they are folded; on activations they
//! become views (no layer) whenever the row-major order of each example stays the same,
//! and a `permute` or `concat` layer otherwise.
use super::{
    act, axes, consts, derived, fresh_act, known_ints, konst, need, own_name, rnn, size, value,
    Builder, Ctx, ImportError, Value,
};
use crate::import::builder::{norm_axis, Act, Part};
use crate::import::tensor::{Const, Dim};
use deepiot_format::Op;

/// `Reshape` to a shape read from a constant (which may hold the batch size).
pub fn reshape(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let target = konst(b, ctx, 1)?.dims();
    let allowzero = ctx.int("allowzero", 0) != 0;
    match need(b, ctx, 0)? {
        Value::Const(c) => {
            let known = Const::ints(target, vec![]).known_ints();
            let mut shape = Vec::new();
            let mut minus = None;
            for (i, d) in known.unwrap_or_default().into_iter().enumerate() {
                match d {
                    -1 => minus = Some(i),
                    0 if !allowzero => shape.push(*c.shape.get(i).unwrap_or(&0)),
                    d => shape.push(d.max(0) as usize),
                }
                if d == -1 {
                    shape.push(1);
                }
            }
            let p: usize = size(shape.iter().copied());
            if let Some(m) = minus {
                shape[m] = c.len().checked_div(p).unwrap_or(0);
            }
            if size(shape.iter().copied()) != c.len() {
                return Err(ctx.refuse(format!(
                    "cannot reshape a constant of shape {:?} to {shape:?}",
                    c.shape
                )));
            }
            Ok(Value::Const(c.reshaped(shape)))
        }
        Value::Splat(x) => Ok(Value::Splat(x)),
        Value::Act(a) => {
            let (per, batch) = reshape_target(b, &a, &target, allowzero).map_err(|e| {
                ctx.refuse(format!(
                    "cannot reshape {:?} (batch axis {}) to {target:?}: {e}",
                    a.per, a.batch
                ))
            })?;
            Ok(Value::Act(derived(b, ctx, 0, &a, per, batch)))
        }
        Value::Part(_) => Err(ctx.refuse("reshapes one index of a recurrent state")),
    }
}

/// The per-example shape and batch axis after reshaping `a` to `target`; refused when
/// the batch axis would be merged with others.
fn reshape_target(
    b: &Builder,
    a: &Act,
    target: &[Dim],
    allowzero: bool,
) -> Result<(Vec<usize>, usize), String> {
    let bs = b.batch;
    let n: usize = size(a.per.iter().copied());
    let full: Vec<Dim> = {
        let mut f: Vec<Dim> = a.per.iter().map(|&d| Dim::Known(d as i64)).collect();
        f.insert(
            a.batch,
            bs.map(|s| Dim::Known(s as i64)).unwrap_or(Dim::Batch),
        );
        f
    };
    let mut dims: Vec<Dim> = Vec::with_capacity(target.len());
    for (i, &d) in target.iter().enumerate() {
        dims.push(match d {
            Dim::Known(0) if !allowzero => *full.get(i).ok_or("a 0 past the input's rank")?,
            Dim::Known(v) if v < -1 => return Err(format!("bad size {v}")),
            d => d,
        });
    }
    if dims.iter().filter(|d| **d == Dim::Batch).count() > 1 {
        return Err("the batch size appears twice".into());
    }
    let minus: Vec<usize> = (0..dims.len())
        .filter(|&i| dims[i] == Dim::Known(-1))
        .collect();
    if minus.len() > 1 {
        return Err("more than one -1".into());
    }
    let known_product = dims
        .iter()
        .filter_map(|d| d.known())
        .filter(|&v| v >= 0)
        .map(|v| v as usize);
    let known_product = size(known_product);
    let resolve = |dims: &mut Vec<Dim>, total: usize| -> Result<(), String> {
        if let Some(&m) = minus.first() {
            if known_product == 0 || !total.is_multiple_of(known_product) {
                return Err(format!("{total} values do not divide into the known sizes"));
            }
            dims[m] = Dim::Known((total / known_product) as i64);
        }
        Ok(())
    };
    let k = if let Some(k) = dims.iter().position(|d| *d == Dim::Batch) {
        resolve(&mut dims, n)?;
        k
    } else if let Some(bs) = bs {
        resolve(&mut dims, n * bs)?;
        let prefix: usize = size(a.per[..a.batch].iter().copied());
        let fits = |k: usize| {
            dims[k] == Dim::Known(bs as i64)
                && size(dims[..k].iter().map(|d| d.known().unwrap_or(0) as usize)) == prefix
        };
        (0..dims.len())
            .find(|&k| fits(k))
            .or_else(|| (0..dims.len()).find(|&k| bs == 1 && dims[k] == Dim::Known(1)))
            .ok_or("no axis of the result keeps the batch")?
    } else if let Some(&m) = minus.first() {
        // A dynamic batch and a -1: the -1 is the batch.
        if known_product != n {
            return Err("the -1 would merge the batch with other axes".into());
        }
        dims[m] = Dim::Batch;
        m
    } else {
        return Err("the target fixes the batch size, but the model's batch is dynamic".into());
    };
    let per: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, d)| d.known().unwrap_or(0) as usize)
        .collect();
    if size(per.iter().copied()) != n {
        return Err(format!("{n} values per example do not fit {per:?}"));
    }
    let prefix_in: usize = size(a.per[..a.batch].iter().copied());
    let prefix_out: usize = size(per[..k].iter().copied());
    if prefix_in != prefix_out && bs != Some(1) {
        return Err("the batch axis would be merged with other axes".into());
    }
    Ok((per, k))
}

/// `Flatten` at `axis`: a view when everything before `axis` is the batch.
pub fn flatten(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    match need(b, ctx, 0)? {
        Value::Act(a) => {
            let r = a.rank() as i64;
            let axis = ctx.int("axis", 1);
            let axis = if axis < 0 { axis + r } else { axis };
            // Every axis before `axis` other than the batch must have size 1.
            let full = a.full(1);
            let before: usize = size(full[..(axis.clamp(0, r) as usize)].iter().copied());
            if axis < 1 || axis > r || a.batch >= axis as usize || before != 1 {
                return Err(ctx.refuse(format!(
                    "flattening at axis {axis} merges the batch axis {} of {:?} with others",
                    a.batch,
                    a.full(1)
                )));
            }
            let rest: usize = size(a.per.iter().copied());
            Ok(Value::Act(derived(b, ctx, 0, &a, vec![rest], 0)))
        }
        Value::Const(c) => {
            let axis = norm_axis(ctx, ctx.int("axis", 1), c.shape.len() + 1)?;
            let first: usize = size(c.shape[..axis].iter().copied());
            let n = c.len();
            Ok(Value::Const(c.reshaped(vec![first, n / first.max(1)])))
        }
        _ => Err(ctx.refuse("flattens a value of unknown shape")),
    }
}

/// `Transpose`'s `perm` attribute for a rank-`r` value (default: the axes reversed),
/// refused unless it is a permutation of the `r` axes.
fn permutation(ctx: &Ctx<'_>, r: usize) -> Result<Vec<usize>, ImportError> {
    let perm: Vec<usize> = match ctx.ints("perm") {
        Some(p) => p
            .iter()
            .map(|&x| norm_axis(ctx, x, r))
            .collect::<Result<_, _>>()?,
        None => (0..r).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..r).collect::<Vec<_>>() {
        return Err(ctx.refuse(format!("{perm:?} is not a permutation of {r} axes")));
    }
    Ok(perm)
}

/// `Transpose`: a view when only the batch axis or axes of size 1 move, else a
/// `permute` layer.
pub fn transpose(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    if let Value::Const(c) = need(b, ctx, 0)? {
        let r = c.shape.len();
        let perm = permutation(ctx, r)?;
        return Ok(Value::Const(consts::transpose(&c, &perm)));
    }
    let a = act(b, ctx, 0)?;
    let r = a.rank();
    let perm = permutation(ctx, r)?;
    let batch = perm.iter().position(|&p| p == a.batch).unwrap_or(0);
    let per_perm: Vec<usize> = perm
        .iter()
        .filter(|&&p| p != a.batch)
        .map(|&p| if p > a.batch { p - 1 } else { p })
        .collect();
    let per: Vec<usize> = per_perm.iter().map(|&p| a.per[p]).collect();
    let moved: Vec<usize> = per_perm
        .iter()
        .copied()
        .filter(|&p| a.per[p] != 1)
        .collect();
    if moved.windows(2).all(|w| w[0] < w[1]) {
        return Ok(Value::Act(derived(b, ctx, 0, &a, per, batch)));
    }
    let src = b.materialize(&a).map_err(|e| ctx.format(e))?;
    let name = b.fresh(&own_name(ctx).unwrap_or_else(|| format!("{src}_permute")));
    let shape = b
        .push(&name, &[&src], Op::Permute { perm: per_perm })
        .map_err(|e| ctx.format(e))?;
    let mut out = fresh_act(name, shape);
    out.batch = batch;
    Ok(Value::Act(out))
}

/// `Squeeze` of axes of size 1 (never the batch).
pub fn squeeze(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let ax = axes(b, ctx, 13)?;
    match need(b, ctx, 0)? {
        Value::Const(c) => {
            let r = c.shape.len();
            let ax = match ax {
                Some(ax) => ax
                    .iter()
                    .map(|&x| norm_axis(ctx, x, r))
                    .collect::<Result<Vec<_>, _>>()?,
                None => (0..r).filter(|&i| c.shape[i] == 1).collect(),
            };
            let shape = (0..r)
                .filter(|i| !ax.contains(i))
                .map(|i| c.shape[i])
                .collect();
            Ok(Value::Const(c.reshaped(shape)))
        }
        Value::Splat(x) => Ok(Value::Splat(x)),
        Value::Act(a) => {
            let Some(ax) = ax else {
                return Err(ctx.refuse("squeezing without axes would depend on the batch size"));
            };
            let ax: Vec<usize> = ax
                .iter()
                .map(|&x| norm_axis(ctx, x, a.rank()))
                .collect::<Result<_, _>>()?;
            if ax.contains(&a.batch) {
                return Err(ctx.refuse("it removes the batch axis"));
            }
            let mut per = Vec::new();
            for (i, &d) in a.per.iter().enumerate() {
                let full = if i < a.batch { i } else { i + 1 };
                if ax.contains(&full) {
                    if d != 1 {
                        return Err(ctx.refuse(format!("axis {full} has size {d}, not 1")));
                    }
                } else {
                    per.push(d);
                }
            }
            let batch = a.batch - ax.iter().filter(|&&x| x < a.batch).count();
            Ok(Value::Act(derived(b, ctx, 0, &a, per, batch)))
        }
        Value::Part(_) => Err(ctx.refuse("squeezes one index of a recurrent state")),
    }
}

/// `Unsqueeze`: new axes of size 1.
pub fn unsqueeze(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let ax = axes(b, ctx, 13)?.ok_or_else(|| ctx.refuse("no axes given"))?;
    let v = need(b, ctx, 0)?;
    let in_rank = match &v {
        Value::Const(c) => c.shape.len(),
        Value::Act(a) => a.rank(),
        Value::Splat(x) => return Ok(Value::Splat(*x)),
        Value::Part(_) => return Err(ctx.refuse("unsqueezes one index of a recurrent state")),
    };
    let out_rank = in_rank + ax.len();
    let ax: Vec<usize> = ax
        .iter()
        .map(|&x| norm_axis(ctx, x, out_rank))
        .collect::<Result<_, _>>()?;
    // Where each input axis lands.
    let kept: Vec<usize> = (0..out_rank).filter(|i| !ax.contains(i)).collect();
    if kept.len() != in_rank {
        return Err(ctx.refuse("repeated axes"));
    }
    match v {
        Value::Const(c) => {
            let mut shape = vec![1; out_rank];
            for (j, &o) in kept.iter().enumerate() {
                shape[o] = c.shape[j];
            }
            Ok(Value::Const(c.reshaped(shape)))
        }
        Value::Act(a) => {
            let full = a.full(0);
            let batch = kept[a.batch];
            let mut per = Vec::with_capacity(out_rank - 1);
            for o in 0..out_rank {
                if o == batch {
                    continue;
                }
                per.push(match kept.iter().position(|&k| k == o) {
                    Some(j) => full[j],
                    None => 1,
                });
            }
            Ok(Value::Act(derived(b, ctx, 0, &a, per, batch)))
        }
        _ => Err(ctx.refuse("unsupported input")),
    }
}

/// `Gather`: folded on constants; on an activation, a size-1 axis (a view), the last
/// step of a recurrent layer's sequence (its last state), or one index kept pending
/// for a `Concat` that puts a bidirectional state back together.
pub fn gather(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let idx = konst(b, ctx, 1)?;
    let data = need(b, ctx, 0)?;
    let ids = idx
        .known_ints()
        .ok_or_else(|| ctx.refuse("the indices depend on the batch size"))?;
    match data {
        Value::Const(c) => {
            let axis = norm_axis(ctx, ctx.int("axis", 0), c.shape.len())?;
            consts::gather(&c, axis, &ids, &idx.shape)
                .map(Value::Const)
                .map_err(|e| ctx.refuse(e))
        }
        Value::Act(a) => {
            let axis = norm_axis(ctx, ctx.int("axis", 0), a.rank())?;
            let Some(g) = a.per_axis(axis) else {
                return Err(ctx.refuse("it selects examples from the batch"));
            };
            if ids.len() != 1 || idx.shape.len() > 1 {
                return Err(ctx.refuse("only a single index is supported on runtime values"));
            }
            let size = a.per[g] as i64;
            let i = if ids[0] < 0 { ids[0] + size } else { ids[0] };
            if i < 0 || i >= size {
                return Err(ctx.refuse(format!("index {} is out of range for size {size}", ids[0])));
            }
            let keep = idx.shape.len() == 1;
            let mut per = a.per.clone();
            let mut batch = a.batch;
            if !keep {
                per.remove(g);
                if g < a.batch {
                    batch -= 1;
                }
            }
            if size == 1 {
                return Ok(Value::Act(derived(b, ctx, 0, &a, per, batch)));
            }
            let view = derived(b, ctx, 0, &a, a.per.clone(), a.batch);
            if i == size - 1 {
                if let Some(last) = rnn::last_step(b, &view, g, per.clone(), batch) {
                    return Ok(Value::Act(last));
                }
            }
            if keep {
                return Err(ctx.refuse(
                    "it selects part of an axis, and the layer list has no slicing layer",
                ));
            }
            Ok(Value::Part(Box::new(Part {
                act: view,
                axis: g,
                index: i as usize,
            })))
        }
        _ => Err(ctx.refuse("gathers from a value of unknown shape")),
    }
}

/// `Slice` (opset 10 and later: starts, ends, axes, steps as inputs).
pub fn slice(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let starts = known_ints(b, ctx, 1)?.ok_or_else(|| ctx.refuse("no starts"))?;
    let ends = known_ints(b, ctx, 2)?.ok_or_else(|| ctx.refuse("no ends"))?;
    let steps = known_ints(b, ctx, 4)?.unwrap_or_else(|| vec![1; starts.len()]);
    if starts.len() != ends.len() || steps.len() != starts.len() {
        return Err(ctx.refuse("starts and ends differ in length"));
    }
    let data = need(b, ctx, 0)?;
    let rank = match &data {
        Value::Const(c) => c.shape.len(),
        Value::Act(a) => a.rank(),
        Value::Splat(x) => return Ok(Value::Splat(*x)),
        Value::Part(_) => return Err(ctx.refuse("slices one index of a recurrent state")),
    };
    let ax: Vec<usize> = match known_ints(b, ctx, 3)? {
        Some(ax) => ax
            .iter()
            .map(|&x| norm_axis(ctx, x, rank))
            .collect::<Result<_, _>>()?,
        None => (0..starts.len()).collect(),
    };
    match data {
        Value::Const(c) => consts::slice(&c, &ax, &starts, &ends, &steps)
            .map(Value::Const)
            .map_err(|e| ctx.refuse(e)),
        Value::Act(a) => {
            if steps.iter().any(|&s| s != 1) {
                return Err(ctx.refuse("only step 1 is supported on runtime values"));
            }
            let mut out = derived(b, ctx, 0, &a, a.per.clone(), a.batch);
            for (k, &axis) in ax.iter().enumerate() {
                let Some(g) = a.per_axis(axis) else {
                    let whole =
                        starts[k] == 0 && ends[k] >= b.batch.unwrap_or(i32::MAX as usize) as i64;
                    if whole {
                        continue;
                    }
                    return Err(ctx.refuse("it selects examples from the batch"));
                };
                let dim = a.per[g];
                let (s, e) = consts::slice_range(starts[k], ends[k], dim);
                if (s, e) == (0, dim) {
                    continue;
                }
                if (s, e) == (dim - 1, dim) && ax.len() == 1 {
                    let mut per = a.per.clone();
                    per[g] = 1;
                    if let Some(last) = rnn::last_step(b, &out, g, per, a.batch) {
                        out = last;
                        continue;
                    }
                }
                return Err(ctx.refuse(format!(
                    "it takes [{s}, {e}) of an axis of size {dim}, and the layer list has no slicing layer"
                )));
            }
            Ok(Value::Act(out))
        }
        _ => Err(ctx.refuse("unsupported input")),
    }
}

/// `Concat`: constants are folded, activations joined by a `concat` layer, and the
/// pending indices of one state put back together as a view.
pub fn concat(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let mut vals = Vec::new();
    for i in 0..ctx.node.input.len() {
        if let Some(v) = value(b, ctx, i)? {
            vals.push(v);
        }
    }
    if vals.iter().all(|v| matches!(v, Value::Const(_))) {
        let cs: Vec<Const> = vals
            .into_iter()
            .filter_map(|v| match v {
                Value::Const(c) => Some(c),
                _ => None,
            })
            .collect();
        let axis = ctx.int("axis", 0);
        if cs
            .first()
            .is_some_and(|c| norm_axis(ctx, axis, c.shape.len()).ok() != Some(0))
        {
            return Err(ctx.refuse("constants are only concatenated on axis 0"));
        }
        return consts::concat(&cs)
            .map(Value::Const)
            .map_err(|e| ctx.refuse(e));
    }
    if vals.iter().all(|v| matches!(v, Value::Part(_))) {
        return rejoin(ctx, &vals);
    }
    let mut acts = Vec::new();
    for v in vals {
        match v {
            Value::Act(a) => acts.push(a),
            _ => {
                return Err(ctx.refuse(
                    "it joins constants with runtime values, or parts of a state with other values",
                ))
            }
        }
    }
    let first = acts[0].clone();
    let axis = norm_axis(ctx, ctx.int("axis", 0), first.rank())?;
    let Some(c) = first.per_axis(axis) else {
        return Err(ctx.refuse("it concatenates along the batch axis"));
    };
    if acts.iter().any(|a| a.batch != first.batch) {
        return Err(ctx.refuse("its inputs keep the batch on different axes"));
    }
    if acts.len() == 1 {
        return Ok(Value::Act(first));
    }
    let mut srcs = Vec::new();
    for a in &acts {
        srcs.push(b.materialize(a).map_err(|e| ctx.format(e))?);
    }
    let name = b.fresh(&own_name(ctx).unwrap_or_else(|| format!("{}_concat", first.source)));
    let refs: Vec<&str> = srcs.iter().map(String::as_str).collect();
    let shape = b
        .push(&name, &refs, Op::Concat { axis: c })
        .map_err(|e| ctx.format(e))?;
    let mut out = fresh_act(name, shape);
    out.batch = first.batch;
    Ok(Value::Act(out))
}

/// The indices `0..n` of axis `g` of one activation, concatenated in order along an
/// axis that follows `g` in memory: the activation itself, seen with a merged axis.
fn rejoin(ctx: &Ctx<'_>, vals: &[Value]) -> Result<Value, ImportError> {
    let parts: Vec<&Part> = vals
        .iter()
        .filter_map(|v| match v {
            Value::Part(p) => Some(p.as_ref()),
            _ => None,
        })
        .collect();
    let p0 = parts[0];
    let a = &p0.act;
    let n = a.per[p0.axis];
    let in_order = parts.len() == n
        && parts.iter().enumerate().all(|(i, p)| {
            p.index == i && p.axis == p0.axis && p.act.source == a.source && p.act.per == a.per
        });
    // The part's shape is `a.per` without axis g; the batch axis of the part's full shape:
    let part_batch = if p0.axis < a.batch {
        a.batch - 1
    } else {
        a.batch
    };
    let axis = norm_axis(ctx, ctx.int("axis", 0), a.per.len())?;
    if !in_order || axis == part_batch {
        return Err(
            ctx.refuse("it joins indices of a recurrent state other than all of them in order")
        );
    }
    let c = if axis < part_batch { axis } else { axis - 1 };
    // Axis c of the part is axis c (c < g) or c + 1 of the activation.
    let cx = if c < p0.axis { c } else { c + 1 };
    if cx < p0.axis || a.per[p0.axis + 1..cx].iter().any(|&d| d != 1) {
        return Err(ctx.refuse(
            "joining the parts along this axis reorders the values, which no layer does here",
        ));
    }
    let mut per: Vec<usize> = a.per.clone();
    per.remove(p0.axis);
    per[c] *= n;
    let exclusive = parts.iter().all(|p| p.act.exclusive);
    Ok(Value::Act(Act {
        source: a.source.clone(),
        ours: a.ours.clone(),
        per,
        batch: part_batch,
        exclusive,
        view: None,
    }))
}

/// `Expand`: of a one-element constant (a zero state), or of an activation to its own
/// shape (a no-op).
pub fn expand(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let shape = konst(b, ctx, 1)?;
    match need(b, ctx, 0)? {
        Value::Act(a) => {
            let want = shape.dims();
            let full = a.full(0);
            let fits = want.len() <= full.len()
                && want
                    .iter()
                    .rev()
                    .zip(full.iter().rev())
                    .enumerate()
                    .all(|(i, (w, &f))| {
                        let axis = full.len() - 1 - i;
                        axis == a.batch || *w == Dim::Known(1) || *w == Dim::Known(f as i64)
                    });
            if fits {
                Ok(Value::Act(derived(b, ctx, 0, &a, a.per.clone(), a.batch)))
            } else {
                Err(ctx.refuse("it broadcasts a runtime value to a larger shape"))
            }
        }
        v => consts::expand_const(ctx, v, &shape),
    }
}
