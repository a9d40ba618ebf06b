//! Constant folding: the small integer programs exporters put around `Reshape` (the
//! input's `Shape`, a `Gather` of the batch size, `Unsqueeze`, `Concat`, arithmetic)
//! and `Constant` / `ConstantOfShape` / `Cast`, all computed here so that only layers
//! remain.
use super::{need, size, value, Builder, Ctx, ImportError, Value};
use crate::import::tensor::{decode, Const, Data, Dim};
use crate::proto::DataType;

/// `Constant`: the value attribute in any of its forms.
pub fn constant(ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    if let Some(t) = ctx.tensor("value") {
        return Ok(Value::Const(decode(t)?));
    }
    if ctx.has("value_float") {
        return Ok(Value::Const(Const {
            shape: vec![],
            data: Data::F32(vec![ctx.float("value_float", 0.0)]),
        }));
    }
    if ctx.has("value_int") {
        return Ok(Value::Const(Const::ints(
            vec![Dim::Known(ctx.int("value_int", 0))],
            vec![],
        )));
    }
    if let Some(v) = ctx.ints("value_ints") {
        let n = v.len();
        return Ok(Value::Const(Const::ints(
            v.into_iter().map(Dim::Known).collect(),
            vec![n],
        )));
    }
    Err(ctx.refuse("only tensor, float and integer values are supported"))
}

/// `Shape` (with the opset-15 `start` / `end`): the batch axis is the symbolic batch
/// size unless the model fixes it.
pub fn shape(b: &Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let dims: Vec<Dim> = match need(b, ctx, 0)? {
        Value::Const(c) => c.shape.iter().map(|&d| Dim::Known(d as i64)).collect(),
        Value::Act(a) => {
            let bs = b.batch.map(|n| Dim::Known(n as i64)).unwrap_or(Dim::Batch);
            let mut d: Vec<Dim> = a.per.iter().map(|&d| Dim::Known(d as i64)).collect();
            d.insert(a.batch, bs);
            d
        }
        _ => return Err(ctx.refuse("the shape of this value is not known")),
    };
    let r = dims.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(ctx.int("start", 0));
    let end = clamp(ctx.int("end", r)).max(start);
    let out = dims[start..end].to_vec();
    let n = out.len();
    Ok(Value::Const(Const::ints(out, vec![n])))
}

/// A constant filled with `fill` of the shape `shape`, or a [`Value::Splat`] when the
/// shape involves the batch size.
fn filled(shape: &[Dim], fill: &Const) -> Result<Value, String> {
    if fill.len() != 1 {
        return Err(format!("the fill value has {} elements, not 1", fill.len()));
    }
    let Some(known) = shape
        .iter()
        .map(|d| d.known())
        .collect::<Option<Vec<i64>>>()
    else {
        let v = fill
            .floats()
            .and_then(|v| v.first().copied())
            .ok_or("the fill value depends on the batch size")?;
        return Ok(Value::Splat(v));
    };
    let shape: Vec<usize> = known
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative size {d}")))
        .collect::<Result<_, _>>()?;
    let n: usize = size(shape.iter().copied());
    if n > deepiot_format::MAX_ELEMENTS {
        return Err(format!("shape {shape:?} is too large"));
    }
    Ok(Value::Const(fill.pick(&vec![0; n], shape)))
}

/// `ConstantOfShape`.
pub fn constant_of_shape(b: &Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let shape = super::konst(b, ctx, 0)?.dims();
    let fill = match ctx.tensor("value") {
        Some(t) => decode(t)?,
        None => Const {
            shape: vec![1],
            data: Data::F32(vec![0.0]),
        },
    };
    filled(&shape, &fill).map_err(|e| ctx.refuse(e))
}

/// `Expand` of a one-element constant (or a splat) to a shape.
pub fn expand_const(ctx: &Ctx<'_>, v: Value, shape: &Const) -> Result<Value, ImportError> {
    let fill = match v {
        Value::Const(c) => c,
        Value::Splat(x) => Const {
            shape: vec![],
            data: Data::F32(vec![x]),
        },
        _ => return Err(ctx.refuse("expands a value that is not a constant")),
    };
    if fill.len() != 1 {
        return Err(ctx.refuse("only one-element constants can be expanded"));
    }
    filled(&shape.dims(), &fill).map_err(|e| ctx.refuse(e))
}

/// `Cast` of a constant (or of a float activation to float, which changes nothing).
pub fn cast(b: &Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let to = ctx.int("to", 0) as i32;
    let is_float = to == DataType::Float as i32 || to == DataType::Double as i32;
    match need(b, ctx, 0)? {
        Value::Const(c) => {
            let data = if is_float {
                Data::F32(
                    c.floats()
                        .ok_or_else(|| ctx.refuse("casts the batch size to a float"))?,
                )
            } else {
                Data::Int(c.dims())
            };
            Ok(Value::Const(Const {
                shape: c.shape,
                data,
            }))
        }
        Value::Splat(x) => Ok(Value::Splat(x)),
        v @ Value::Act(_) if is_float => Ok(v),
        _ => Err(ctx.refuse("only casts of constants, or of float values to float, are supported")),
    }
}

/// `Add`, `Mul`, `Sub`, `Div` of constants (shape arithmetic); the batch size survives
/// only adding 0, and multiplying or dividing by 1.
pub fn arithmetic(b: &Builder, ctx: &Ctx<'_>) -> Result<Value, ImportError> {
    let (Some(Value::Const(x)), Some(Value::Const(y))) = (value(b, ctx, 0)?, value(b, ctx, 1)?)
    else {
        return Err(ctx.refuse(
            "only constant operands are supported (no element-wise layer exists for runtime values)",
        ));
    };
    let (n, shape) = if x.len() >= y.len() {
        (x.len(), x.shape.clone())
    } else {
        (y.len(), y.shape.clone())
    };
    if !(x.len() == n || x.len() == 1) || !(y.len() == n || y.len() == 1) {
        return Err(ctx.refuse("only equal shapes or a one-element operand are supported"));
    }
    let at = |c: &Const, i: usize| if c.len() == 1 { 0 } else { i };
    let data =
        match (&x.data, &y.data) {
            (Data::Int(a), Data::Int(c)) => {
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let (p, q) = (a[at(&x, i)], c[at(&y, i)]);
                    out.push(match (ctx.op, p, q) {
                        (_, Dim::Known(p), Dim::Known(q)) => Dim::Known(match ctx.op {
                            "Add" => p.wrapping_add(q),
                            "Mul" => p.wrapping_mul(q),
                            "Sub" => p.wrapping_sub(q),
                            _ if q == 0 => return Err(ctx.refuse("divides by zero")),
                            _ => p.div_euclid(q),
                        }),
                        ("Mul", Dim::Batch, Dim::Known(1)) | ("Mul", Dim::Known(1), Dim::Batch) => {
                            Dim::Batch
                        }
                        ("Div", Dim::Batch, Dim::Known(1))
                        | ("Add" | "Sub", Dim::Batch, Dim::Known(0))
                        | ("Add", Dim::Known(0), Dim::Batch) => Dim::Batch,
                        _ => return Err(ctx.refuse(
                            "computes with the dynamic batch size in a way that cannot be folded",
                        )),
                    });
                }
                Data::Int(out)
            }
            _ => {
                let (a, c) = (x.floats(), y.floats());
                let (Some(a), Some(c)) = (a, c) else {
                    return Err(ctx.refuse("mixes the batch size into float arithmetic"));
                };
                Data::F32(
                    (0..n)
                        .map(|i| {
                            let (p, q) = (a[at(&x, i)], c[at(&y, i)]);
                            match ctx.op {
                                "Add" => p + q,
                                "Mul" => p * q,
                                "Sub" => p - q,
                                _ => p / q,
                            }
                        })
                        .collect(),
                )
            }
        };
    Ok(Value::Const(Const { shape, data }))
}

/// `Gather` along `axis` of a constant.
pub fn gather(c: &Const, axis: usize, idx: &[i64], idx_shape: &[usize]) -> Result<Const, String> {
    let dim = c.shape[axis];
    let outer: usize = size(c.shape[..axis].iter().copied());
    let inner: usize = size(c.shape[axis + 1..].iter().copied());
    let mut picks = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            let i = if i < 0 { i + dim as i64 } else { i };
            if i < 0 || i >= dim as i64 {
                return Err(format!("index {i} is out of range for size {dim}"));
            }
            for k in 0..inner {
                picks.push((o * dim + i as usize) * inner + k);
            }
        }
    }
    let mut shape = c.shape[..axis].to_vec();
    shape.extend_from_slice(idx_shape);
    shape.extend_from_slice(&c.shape[axis + 1..]);
    Ok(c.pick(&picks, shape))
}

/// `Concat` of constants along axis 0.
pub fn concat(parts: &[Const]) -> Result<Const, String> {
    let Some(first) = parts.first() else {
        return Err("nothing to concatenate".into());
    };
    let mut shape = first.shape.clone();
    if shape.is_empty() {
        return Err("cannot concatenate scalars".into());
    }
    shape[0] = 0;
    let ints = matches!(first.data, Data::Int(_));
    let (mut fs, mut is) = (Vec::new(), Vec::new());
    for p in parts {
        if p.shape.len() != first.shape.len() || p.shape[1..] != first.shape[1..] {
            return Err(format!(
                "cannot concatenate constants of shapes {:?} and {:?}",
                first.shape, p.shape
            ));
        }
        shape[0] += p.shape[0];
        if ints {
            is.extend(p.dims());
        } else {
            fs.extend(p.floats().ok_or("mixes the batch size into floats")?);
        }
    }
    let data = if ints { Data::Int(is) } else { Data::F32(fs) };
    Ok(Const { shape, data })
}

/// Clamps an ONNX slice `[start, end)` to an axis of size `dim` (step 1).
pub fn slice_range(start: i64, end: i64, dim: usize) -> (usize, usize) {
    let d = dim as i64;
    let fix = |v: i64| (if v < 0 { v + d } else { v }).clamp(0, d) as usize;
    let (s, e) = (fix(start), fix(end));
    (s, e.max(s))
}

/// The flat indices of the elements of a row-major tensor of `shape` that lie at
/// `picks[axis]` on every axis, in row-major order of the picks.
fn select(shape: &[usize], picks: &[Vec<usize>]) -> Vec<usize> {
    let mut out = vec![0usize];
    for (axis, p) in picks.iter().enumerate() {
        let d = shape[axis];
        out = out
            .iter()
            .flat_map(|&base| p.iter().map(move |&i| base * d + i))
            .collect();
    }
    out
}

/// The indices an ONNX slice `start:end:step` takes from an axis of size `dim`.
fn slice_indices(start: i64, end: i64, step: i64, dim: usize) -> Vec<usize> {
    let d = dim as i64;
    let fix = |v: i64, lo: i64, hi: i64| (if v < 0 { v + d } else { v }).clamp(lo, hi);
    if step > 0 {
        let (s, e) = (fix(start, 0, d), fix(end, 0, d));
        (s..e.max(s))
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    } else {
        let (s, e) = (fix(start, 0, d - 1), fix(end, -1, d - 1));
        let mut v = Vec::new();
        let mut i = s;
        while i > e {
            v.push(i as usize);
            i += step;
        }
        v
    }
}

/// `Slice` of a constant on `axes` (already normalised).
pub fn slice(
    c: &Const,
    axes: &[usize],
    starts: &[i64],
    ends: &[i64],
    steps: &[i64],
) -> Result<Const, String> {
    let mut picks: Vec<Vec<usize>> = c.shape.iter().map(|&d| (0..d).collect()).collect();
    for (k, &axis) in axes.iter().enumerate() {
        let step = steps.get(k).copied().unwrap_or(1);
        if step == 0 {
            return Err("step 0".into());
        }
        picks[axis] = slice_indices(starts[k], ends[k], step, c.shape[axis]);
    }
    let shape = picks.iter().map(Vec::len).collect();
    Ok(c.pick(&select(&c.shape, &picks), shape))
}

/// `Transpose` of a constant.
pub fn transpose(c: &Const, perm: &[usize]) -> Const {
    let shape: Vec<usize> = perm.iter().map(|&p| c.shape[p]).collect();
    // Row-major strides of the input, read in the output's axis order.
    let mut strides = vec![1usize; c.shape.len()];
    for i in (0..c.shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * c.shape[i + 1];
    }
    let mut idx = vec![0usize];
    for &p in perm {
        let (d, st) = (c.shape[p], strides[p]);
        idx = idx
            .iter()
            .flat_map(|&base| (0..d).map(move |i| base + i * st))
            .collect();
    }
    c.pick(&idx, shape)
}
