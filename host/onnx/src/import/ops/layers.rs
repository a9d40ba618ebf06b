//! Ops that become layers: activations, softmax, convolutions, pools, the dense forms
//! (`Gemm`, `MatMul` + `Add`), and `BatchNormalization`, folded into the layer before.
use super::{
    act, axes, consts, derived, fresh_act, konst, layer_base, opt_const, value, Builder, Ctx,
    ImportError, Value,
};
use crate::import::builder::{norm_axis, Act};
use crate::import::tensor::Const;
use deepiot_format::{Op, Pool1d, Pool2d};

/// Float values of a weight, refusing a weight that involves the batch size.
fn floats(ctx: &Ctx<'_>, c: &Const) -> Result<Vec<f32>, ImportError> {
    c.floats()
        .ok_or_else(|| ctx.refuse("a weight depends on the batch size"))
}

/// Adds a layer reading `inputs`; its activation keeps the batch on axis `batch`.
fn layer(
    b: &mut Builder,
    ctx: &Ctx<'_>,
    name: String,
    inputs: &[&str],
    op: Op,
    batch: usize,
) -> Result<Act, ImportError> {
    let shape = b.push(&name, inputs, op).map_err(|e| ctx.format(e))?;
    let mut a = fresh_act(name, shape);
    a.batch = batch;
    Ok(a)
}

/// `Relu`, `Tanh`, `Sigmoid`: element-wise, so they apply to the layer's own shape.
pub fn activation(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let a = act(b, ctx, 0)?;
    let op = match ctx.op {
        "Relu" => Op::Relu,
        "Tanh" => Op::Tanh,
        _ => Op::Sigmoid,
    };
    let name = b.fresh(&layer_base(ctx, None));
    let mut out = layer(b, ctx, name, &[&a.source], op, a.batch)?;
    out.per = a.per;
    Ok(Value::Act(out))
}

/// `Softmax` over the last axis.
pub fn softmax(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let a = act(b, ctx, 0)?;
    let default = if b.opset < 13 { 1 } else { -1 };
    let axis = norm_axis(ctx, ctx.int("axis", default), a.rank())?;
    // Before opset 13 the axis splits the input into [rows, columns]: the same as the
    // last axis when it is the last axis.
    if axis != a.rank() - 1 || a.batch == a.rank() - 1 {
        return Err(ctx.refuse(format!(
            "softmax over axis {axis} of {:?}: only the last axis (not the batch) is supported",
            a.full(1)
        )));
    }
    let src = b.materialize(&a).map_err(|e| ctx.format(e))?;
    let name = b.fresh(&layer_base(ctx, None));
    Ok(Value::Act(layer(
        b,
        ctx,
        name,
        &[&src],
        Op::Softmax,
        a.batch,
    )?))
}

/// An input `[N, C, ...]` with the batch first, as convolutions and pools need.
fn channels_first(ctx: &Ctx<'_>, a: &Act) -> Result<(), ImportError> {
    if a.batch != 0 || !(2..=3).contains(&a.per.len()) {
        return Err(ctx.refuse(format!(
            "expects [N, C, L] or [N, C, H, W] with the batch first, got {:?} (batch axis {})",
            a.full(1),
            a.batch
        )));
    }
    Ok(())
}

/// The symmetric per-axis padding of `pads` (`[begin..., end...]`), or why not.
fn symmetric(ctx: &Ctx<'_>, pads: &[i64], n: usize) -> Result<Vec<usize>, ImportError> {
    if pads.is_empty() {
        return Ok(vec![0; n]);
    }
    if pads.len() != 2 * n || pads.iter().any(|&p| p < 0) {
        return Err(ctx.refuse(format!("bad pads {pads:?}")));
    }
    let (begin, end) = pads.split_at(n);
    if begin != end {
        return Err(ctx.refuse(format!(
            "pads {pads:?} are not the same at both ends, and the layers pad symmetrically"
        )));
    }
    Ok(begin.iter().map(|&p| p as usize).collect())
}

/// The padding `auto_pad` asks for, or the explicit pads.
fn padding(
    ctx: &Ctx<'_>,
    spatial: &[usize],
    kernel: &[usize],
    stride: &[usize],
) -> Result<Vec<usize>, ImportError> {
    let n = spatial.len();
    match ctx.string("auto_pad").as_deref().unwrap_or("NOTSET") {
        "NOTSET" | "" => symmetric(ctx, &ctx.ints("pads").unwrap_or_default(), n),
        "VALID" => Ok(vec![0; n]),
        "SAME_UPPER" | "SAME_LOWER" => (0..n)
            .map(|i| {
                let out = spatial[i].div_ceil(stride[i]);
                let total = ((out - 1) * stride[i] + kernel[i]).saturating_sub(spatial[i]);
                if total % 2 == 1 {
                    Err(ctx.refuse("auto_pad SAME needs uneven padding here"))
                } else {
                    Ok(total / 2)
                }
            })
            .collect(),
        other => Err(ctx.refuse(format!("auto_pad {other} is not supported"))),
    }
}

fn positive(ctx: &Ctx<'_>, what: &str, v: &[i64]) -> Result<Vec<usize>, ImportError> {
    v.iter()
        .map(|&x| {
            usize::try_from(x)
                .ok()
                .filter(|&x| x > 0)
                .ok_or_else(|| ctx.refuse(format!("{what} {v:?} must be positive")))
        })
        .collect()
}

/// `strides` (default 1) and `dilations` (must be 1).
fn strides(ctx: &Ctx<'_>, n: usize) -> Result<Vec<usize>, ImportError> {
    if let Some(d) = ctx.ints("dilations") {
        if d.iter().any(|&x| x != 1) {
            return Err(ctx.refuse(format!("dilations {d:?}: only 1 is supported")));
        }
    }
    let s = ctx.ints("strides").unwrap_or_else(|| vec![1; n]);
    if s.len() != n {
        return Err(ctx.refuse(format!("strides {s:?} for {n} spatial axes")));
    }
    positive(ctx, "strides", &s)
}

/// `Conv`, 1-D or 2-D, group 1, dilation 1.
pub fn conv(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    channels_first(ctx, &x)?;
    let w = konst(b, ctx, 1)?;
    let n = x.per.len() - 1;
    if ctx.int("group", 1) != 1 {
        return Err(ctx.refuse("grouped convolutions are not supported (group must be 1)"));
    }
    if w.shape.len() != n + 2 || w.shape[1] != x.per[0] {
        return Err(ctx.refuse(format!(
            "weight of shape {:?} does not fit the input {:?}",
            w.shape,
            x.full(1)
        )));
    }
    let out = w.shape[0];
    let kernel = w.shape[2..].to_vec();
    if let Some(k) = ctx.ints("kernel_shape") {
        if positive(ctx, "kernel_shape", &k)? != kernel {
            return Err(ctx.refuse(format!("kernel_shape {k:?} disagrees with the weight")));
        }
    }
    let stride = strides(ctx, n)?;
    let pad = padding(ctx, &x.per[1..], &kernel, &stride)?;
    let weight = floats(ctx, &w)?;
    let bias = match opt_const(b, ctx, 2)? {
        Some(c) => floats(ctx, &c)?,
        None => vec![0.0; out],
    };
    let op = if n == 1 {
        Op::Conv1d {
            out_channels: out,
            kernel: kernel[0],
            stride: stride[0],
            padding: pad[0],
        }
    } else {
        Op::Conv2d {
            out_channels: out,
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
            padding: [pad[0], pad[1]],
        }
    };
    let src = b.materialize(&x).map_err(|e| ctx.format(e))?;
    let name = b.fresh(&layer_base(ctx, ctx.input_name(1)));
    let a = layer(b, ctx, name.clone(), &[&src], op, 0)?;
    b.weights
        .insert(format!("{name}.weight"), (w.shape.clone(), weight));
    b.weights.insert(format!("{name}.bias"), (vec![out], bias));
    Ok(Value::Act(a))
}

/// A max or average pool over the trailing axes of `x` with these windows.
fn pool_layer(
    b: &mut Builder,
    ctx: &Ctx<'_>,
    x: &Act,
    max: bool,
    kernel: &[usize],
    stride: &[usize],
) -> Result<Act, ImportError> {
    let op = match (kernel.len(), max) {
        (1, true) => Op::MaxPool1d(Pool1d {
            kernel: kernel[0],
            stride: stride[0],
        }),
        (1, false) => Op::AvgPool1d(Pool1d {
            kernel: kernel[0],
            stride: stride[0],
        }),
        (_, true) => Op::MaxPool2d(Pool2d {
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
        }),
        (_, false) => Op::AvgPool2d(Pool2d {
            kernel: [kernel[0], kernel[1]],
            stride: [stride[0], stride[1]],
        }),
    };
    let src = b.materialize(x).map_err(|e| ctx.format(e))?;
    let name = b.fresh(&layer_base(ctx, None));
    layer(b, ctx, name, &[&src], op, 0)
}

/// `MaxPool` / `AveragePool` without padding, in floor mode (or in ceil mode where it
/// gives the same size).
pub fn pool(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    channels_first(ctx, &x)?;
    let n = x.per.len() - 1;
    let kernel = positive(
        ctx,
        "kernel_shape",
        &ctx.ints("kernel_shape")
            .ok_or_else(|| ctx.refuse("no kernel_shape"))?,
    )?;
    if kernel.len() != n {
        return Err(ctx.refuse(format!("kernel_shape {kernel:?} for {n} spatial axes")));
    }
    let stride = strides(ctx, n)?;
    let pads = padding(ctx, &x.per[1..], &kernel, &stride)?;
    if pads.iter().any(|&p| p > 0) || ctx.ints("pads").is_some_and(|p| p.iter().any(|&v| v != 0)) {
        return Err(ctx.refuse(format!(
            "padding {:?}: the pooling layers have no padding",
            ctx.ints("pads").unwrap_or_default()
        )));
    }
    if ctx.int("ceil_mode", 0) != 0 {
        let same = (0..n)
            .all(|i| x.per[1 + i] >= kernel[i] && (x.per[1 + i] - kernel[i]) % stride[i] == 0);
        if !same {
            return Err(ctx.refuse(
                "ceil_mode=1 gives a larger output than the pooling layers' floor mode here",
            ));
        }
    }
    let a = pool_layer(b, ctx, &x, ctx.op == "MaxPool", &kernel, &stride)?;
    Ok(Value::Act(a))
}

/// `GlobalAveragePool` / `GlobalMaxPool`: one window over all spatial axes.
pub fn global_pool(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    channels_first(ctx, &x)?;
    let kernel = x.per[1..].to_vec();
    let a = pool_layer(b, ctx, &x, ctx.op == "GlobalMaxPool", &kernel, &kernel)?;
    Ok(Value::Act(a))
}

/// `ReduceMean`: over trailing spatial axes (an average pool), or over the steps of a
/// recurrent layer's sequence (its mean output).
pub fn reduce_mean(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    let keep = ctx.int("keepdims", 1) != 0;
    let ax = axes(b, ctx, 18)?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ctx.refuse("reducing over every axis includes the batch"))?;
    let mut per_axes = Vec::new();
    for &a in &ax {
        let full = norm_axis(ctx, a, x.rank())?;
        match x.per_axis(full) {
            Some(p) => per_axes.push(p),
            None => return Err(ctx.refuse("it averages over the batch axis")),
        }
    }
    per_axes.sort_unstable();
    per_axes.dedup();
    let reduced_per = |per: &[usize]| -> Vec<usize> {
        per.iter()
            .enumerate()
            .filter_map(|(i, &d)| match (per_axes.contains(&i), keep) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect()
    };
    let batch_after = |batch: usize| {
        if keep {
            batch
        } else {
            batch - per_axes.iter().filter(|&&p| p < batch).count()
        }
    };
    let view = derived(b, ctx, 0, &x, x.per.clone(), x.batch);
    if let Some(m) = super::rnn::mean_over_time(
        b,
        &view,
        &per_axes,
        reduced_per(&x.per),
        batch_after(x.batch),
    ) {
        return Ok(Value::Act(m));
    }
    if x.batch != 0 || !(2..=3).contains(&x.per.len()) || per_axes.contains(&0) {
        return Err(ctx.refuse(format!(
            "averaging axes {ax:?} of {:?} is neither a pool over the trailing axes of [N, C, ...] nor the mean over a recurrent layer's steps",
            x.full(1)
        )));
    }
    let kernel: Vec<usize> = (1..x.per.len())
        .map(|i| if per_axes.contains(&i) { x.per[i] } else { 1 })
        .collect();
    let mut a = pool_layer(b, ctx, &x, false, &kernel, &kernel)?;
    a.per = reduced_per(&x.per);
    Ok(Value::Act(a))
}

/// Transposes a row-major `[rows, cols]` matrix.
fn transposed(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

/// A dense layer with PyTorch's `weight [units, in]` on the last axis of `x`.
fn dense(
    b: &mut Builder,
    ctx: &Ctx<'_>,
    x: &Act,
    weight: Vec<f32>,
    bias: Vec<f32>,
) -> Result<Act, ImportError> {
    let units = bias.len();
    let k = weight.len() / units.max(1);
    let src = b.materialize(x).map_err(|e| ctx.format(e))?;
    let name = b.fresh(&layer_base(ctx, ctx.input_name(1)));
    let a = layer(b, ctx, name.clone(), &[&src], Op::Dense { units }, x.batch)?;
    b.weights
        .insert(format!("{name}.weight"), (vec![units, k], weight));
    b.weights
        .insert(format!("{name}.bias"), (vec![units], bias));
    Ok(a)
}

/// `Gemm`: `alpha * A' B' + beta * C` with A the activation and B, C constants.
pub fn gemm(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    let trans_a = ctx.int("transA", 0) as usize;
    if x.per.len() != 1 || x.batch != trans_a.min(1) {
        return Err(ctx.refuse(format!(
            "expects a [batch, features] input{}, got {:?} with the batch on axis {}",
            if trans_a == 1 { " (transposed)" } else { "" },
            x.full(1),
            x.batch
        )));
    }
    let w = konst(b, ctx, 1)?;
    if w.shape.len() != 2 {
        return Err(ctx.refuse(format!("B of shape {:?} is not a matrix", w.shape)));
    }
    let mut weight = floats(ctx, &w)?;
    let (n, k) = if ctx.int("transB", 0) != 0 {
        (w.shape[0], w.shape[1])
    } else {
        weight = transposed(&weight, w.shape[0], w.shape[1]);
        (w.shape[1], w.shape[0])
    };
    if k != x.per[0] {
        return Err(ctx.refuse(format!(
            "B of shape {:?} does not fit {} features",
            w.shape, x.per[0]
        )));
    }
    let alpha = ctx.float("alpha", 1.0);
    let beta = ctx.float("beta", 1.0);
    weight.iter_mut().for_each(|v| *v *= alpha);
    let bias = match opt_const(b, ctx, 2)? {
        None => vec![0.0; n],
        Some(c) => {
            let v = floats(ctx, &c)?;
            match v.len() {
                1 => vec![beta * v[0]; n],
                l if l == n => v.iter().map(|x| beta * x).collect(),
                _ => {
                    return Err(ctx.refuse(format!("C of shape {:?} is not a bias of {n}", c.shape)))
                }
            }
        }
    };
    Ok(Value::Act(dense(b, ctx, &x, weight, bias)?))
}

/// `MatMul` of an activation by a constant `[in, units]` matrix: a dense layer with a
/// zero bias (a following `Add` of a constant fills it).
pub fn matmul(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    let w = konst(b, ctx, 1)?;
    if w.shape.len() != 2 {
        return Err(ctx.refuse(format!(
            "only a constant matrix as the second operand is supported, got shape {:?}",
            w.shape
        )));
    }
    let (k, n) = (w.shape[0], w.shape[1]);
    if x.batch == x.rank() - 1 || x.per.last() != Some(&k) {
        return Err(ctx.refuse(format!(
            "{:?} (batch axis {}) times {:?}",
            x.full(1),
            x.batch,
            w.shape
        )));
    }
    let weight = transposed(&floats(ctx, &w)?, k, n);
    Ok(Value::Act(dense(b, ctx, &x, weight, vec![0.0; n])?))
}

/// The layer `a` comes straight from, when it may still be changed in place. A view
/// that only adds or drops unit axes after the first keeps every channel where it was
/// (TensorFlow's Conv1D exports as `Unsqueeze`, a 2-D `Conv` without bias, `Squeeze`,
/// then the bias as an `Add`).
fn foldable(b: &Builder, a: &Act) -> Option<Op> {
    let units_dropped = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    let same_layout = a.per == a.ours
        || (a.per.first() == a.ours.first() && units_dropped(&a.per) == units_dropped(&a.ours));
    if !a.exclusive || !same_layout {
        return None;
    }
    b.graph.node(&a.source).map(|n| n.op.clone())
}

/// `Add`: constants are folded; a constant added to a dense or convolution layer's
/// output goes into its bias.
pub fn add(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let (x, y) = (value(b, ctx, 0)?, value(b, ctx, 1)?);
    let (a, c, i) = match (x, y) {
        (Some(Value::Const(_)), Some(Value::Const(_))) => return consts::arithmetic(b, ctx),
        (Some(Value::Act(a)), Some(Value::Const(c))) => (a, c, 0),
        (Some(Value::Const(c)), Some(Value::Act(a))) => (a, c, 1),
        _ => {
            return Err(ctx.refuse(
                "only a constant added to a Gemm, MatMul or Conv output is supported (no layer adds two runtime values)",
            ))
        }
    };
    let v = floats(ctx, &c)?;
    let refuse = || {
        ctx.refuse(format!(
            "adds a constant of shape {:?} to {:?}, which is not a bias of the Gemm, MatMul or Conv before it",
            c.shape,
            a.full(1)
        ))
    };
    let op = foldable(b, &a).ok_or_else(refuse)?;
    let channels = match op {
        Op::Dense { units } => {
            // Broadcast along the last axis: [units], [1, units], ...
            let fits = c.shape.last() == Some(&units) || v.len() == 1;
            if !fits || (v.len() != units && v.len() != 1) || a.batch == a.rank() - 1 {
                return Err(refuse());
            }
            units
        }
        Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => {
            // [1, C, 1, ...] or [C, 1, ...]: the channel axis, aligned from the right.
            let rank = a.rank();
            let mut shape = vec![1; rank.saturating_sub(c.shape.len())];
            shape.extend_from_slice(&c.shape);
            let fits = v.len() == 1
                || (shape.len() == rank
                    && shape[1] == out_channels
                    && shape.iter().enumerate().all(|(j, &d)| j == 1 || d == 1));
            if !fits {
                return Err(refuse());
            }
            out_channels
        }
        _ => return Err(refuse()),
    };
    let bias_name = format!("{}.bias", a.source);
    let Some((_, bias)) = b.weights.get_mut(&bias_name) else {
        return Err(refuse());
    };
    for (o, bv) in bias.iter_mut().enumerate().take(channels) {
        *bv += if v.len() == 1 { v[0] } else { v[o] };
    }
    Ok(Value::Act(derived(b, ctx, i, &a, a.per.clone(), a.batch)))
}

/// `BatchNormalization` (inference), folded into the convolution or dense layer that
/// computes its input.
pub fn batch_norm(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let x = act(b, ctx, 0)?;
    if ctx.int("training_mode", 0) != 0 {
        return Err(ctx.refuse("training_mode=1: only inference batch norm can be folded"));
    }
    let [gamma, beta, mean, var] = [1, 2, 3, 4].map(|i| konst(b, ctx, i));
    let (gamma, beta, mean, var) = (
        floats(ctx, &gamma?)?,
        floats(ctx, &beta?)?,
        floats(ctx, &mean?)?,
        floats(ctx, &var?)?,
    );
    let eps = ctx.float("epsilon", 1e-5);
    let target = foldable(b, &x).filter(|op| {
        x.batch == 0
            && match op {
                Op::Conv1d { .. } | Op::Conv2d { .. } => true,
                Op::Dense { .. } => x.per.len() == 1,
                _ => false,
            }
    });
    if target.is_none() {
        return Err(ctx.refuse(format!(
            "batch norm is folded into the Conv, Gemm or MatMul that computes its input; here the input comes from `{}`, which has no weights to fold into or is read by other nodes too",
            x.source
        )));
    }
    let wname = format!("{}.weight", x.source);
    let bname = format!("{}.bias", x.source);
    let (Some((_, mut w)), Some((_, mut bias))) = (
        b.weights.get(&wname).cloned(),
        b.weights.get(&bname).cloned(),
    ) else {
        return Err(ctx.refuse("the layer before has no weights"));
    };
    if !deepiot_format::fold::fold_batchnorm(&mut w, &mut bias, &gamma, &beta, &mean, &var, eps) {
        return Err(ctx.refuse(format!(
            "its {} channels do not match the {} outputs of `{}`",
            gamma.len(),
            bias.len(),
            x.source
        )));
    }
    if let Some(e) = b.weights.get_mut(&wname) {
        e.1 = w;
    }
    if let Some(e) = b.weights.get_mut(&bname) {
        e.1 = bias;
    }
    Ok(Value::Act(derived(b, ctx, 0, &x, x.per.clone(), x.batch)))
}
