//! One ONNX node at a time: the op families, each in its own file, and the input
//! accessors they share.
mod consts;
mod layers;
mod rnn;
mod views;

use super::builder::{Act, Builder, Ctx, Value};
use super::error::ImportError;
use super::tensor::Const;

/// Translates one node; returns one value per output (`None` where the node makes no
/// value for it, which is an error only if something reads it).
pub fn translate(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Vec<Option<Value>>, ImportError> {
    let domain = ctx.node.domain.as_deref().unwrap_or("");
    if !domain.is_empty() && domain != "ai.onnx" {
        return Err(ImportError::UnsupportedOp {
            op: format!("{domain}::{}", ctx.op),
            node: ctx.name.clone(),
        });
    }
    let one = |v: Value| Ok(vec![Some(v)]);
    match ctx.op {
        "Constant" => one(consts::constant(ctx)?),
        "Shape" => one(consts::shape(b, ctx)?),
        "ConstantOfShape" => one(consts::constant_of_shape(b, ctx)?),
        "Cast" => one(consts::cast(b, ctx)?),
        "Mul" | "Sub" | "Div" => one(consts::arithmetic(b, ctx)?),
        "Identity" => one(need(b, ctx, 0)?),
        "Dropout" => {
            if ctx.output_name(1).is_some_and(|m| b.used(m)) {
                return Err(ctx.refuse("its mask output is used"));
            }
            Ok(vec![Some(need(b, ctx, 0)?), None])
        }
        "Reshape" => one(views::reshape(b, ctx)?),
        "Flatten" => one(views::flatten(b, ctx)?),
        "Transpose" => one(views::transpose(b, ctx)?),
        "Squeeze" => one(views::squeeze(b, ctx)?),
        "Unsqueeze" => one(views::unsqueeze(b, ctx)?),
        "Gather" => one(views::gather(b, ctx)?),
        "Slice" => one(views::slice(b, ctx)?),
        "Concat" => one(views::concat(b, ctx)?),
        "Expand" => one(views::expand(b, ctx)?),
        "Relu" | "Tanh" | "Sigmoid" => one(layers::activation(b, ctx)?),
        "Softmax" => one(layers::softmax(b, ctx)?),
        "Conv" => one(layers::conv(b, ctx)?),
        "MaxPool" | "AveragePool" => {
            if ctx.output_name(1).is_some_and(|m| b.used(m)) {
                return Err(ctx.refuse("its indices output is used"));
            }
            Ok(vec![Some(layers::pool(b, ctx)?), None])
        }
        "GlobalAveragePool" | "GlobalMaxPool" => one(layers::global_pool(b, ctx)?),
        "ReduceMean" => one(layers::reduce_mean(b, ctx)?),
        "Gemm" => one(layers::gemm(b, ctx)?),
        "MatMul" => one(layers::matmul(b, ctx)?),
        "Add" => one(layers::add(b, ctx)?),
        "BatchNormalization" => {
            if (1..5).any(|i| ctx.output_name(i).is_some_and(|m| b.used(m))) {
                return Err(ctx.refuse("its training-mode outputs (running statistics) are used"));
            }
            Ok(vec![Some(layers::batch_norm(b, ctx)?)])
        }
        "GRU" | "LSTM" => rnn::recurrent(b, ctx),
        op => Err(ImportError::UnsupportedOp {
            op: op.into(),
            node: ctx.name.clone(),
        }),
    }
}

/// Input `i`, if given.
fn value(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<Option<Value>, ImportError> {
    let Some(name) = ctx.input_name(i) else {
        return Ok(None);
    };
    match b.values.get(name) {
        Some(v) => Ok(Some(v.clone())),
        None => Err(ImportError::Malformed(format!(
            "node `{}` reads `{name}`, which no input, initializer or earlier node makes",
            ctx.name
        ))),
    }
}

/// Input `i`, which must be given.
fn need(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<Value, ImportError> {
    value(b, ctx, i)?.ok_or_else(|| ctx.refuse(format!("input {i} is missing")))
}

/// Input `i` as a runtime activation.
fn act(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<Act, ImportError> {
    match need(b, ctx, i)? {
        Value::Act(a) => Ok(a),
        Value::Part(_) => Err(ctx.refuse(
            "its input is one index of a recurrent layer's state (a Gather); only concatenating all of them back in order is supported",
        )),
        _ => Err(ctx.refuse(format!(
            "input {i} is a constant here, but only runtime values are supported for it"
        ))),
    }
}

/// Input `i` as a constant, if given.
fn opt_const(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<Option<Const>, ImportError> {
    match value(b, ctx, i)? {
        None => Ok(None),
        Some(Value::Const(c)) => Ok(Some(c)),
        Some(_) => Err(ctx.refuse(format!(
            "input {i} (`{}`) must be a constant (weights, axes and shapes are)",
            ctx.input_name(i).unwrap_or("")
        ))),
    }
}

/// Input `i` as a constant, which must be given.
fn konst(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<Const, ImportError> {
    opt_const(b, ctx, i)?.ok_or_else(|| ctx.refuse(format!("input {i} is missing")))
}

/// Known integers of constant input `i` (axes, pads, indices).
fn known_ints(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<Option<Vec<i64>>, ImportError> {
    match opt_const(b, ctx, i)? {
        None => Ok(None),
        Some(c) => c
            .known_ints()
            .map(Some)
            .ok_or_else(|| ctx.refuse(format!("input {i} depends on the batch size"))),
    }
}

/// The `axes` of Squeeze / Unsqueeze / ReduceMean: an attribute before `input_from`
/// opset, input 1 from then on.
fn axes(b: &Builder, ctx: &Ctx<'_>, input_from: i64) -> Result<Option<Vec<i64>>, ImportError> {
    if b.opset >= input_from {
        known_ints(b, ctx, 1)
    } else {
        Ok(ctx.ints("axes"))
    }
}

/// A view of `act` read through input `i`: it stays exclusive only while every value
/// on the way has one reader.
fn derived(b: &Builder, ctx: &Ctx<'_>, i: usize, act: &Act, per: Vec<usize>, batch: usize) -> Act {
    Act {
        source: act.source.clone(),
        ours: act.ours.clone(),
        per,
        batch,
        exclusive: act.exclusive && ctx.input_name(i).is_some_and(|n| b.single_use(n)),
        view: own_name(ctx),
    }
}

/// A fresh layer's activation (batch first, ONNX sees our shape).
fn fresh_act(source: String, shape: Vec<usize>) -> Act {
    Act {
        source,
        ours: shape.clone(),
        per: shape,
        batch: 0,
        exclusive: true,
        view: None,
    }
}

/// The node's own name when it is a plain one (as `deepiot export` writes them: the
/// layer's name), not an exporter's path (`/rnn/Transpose`) or counter (`node_Concat_3`):
/// layers without weights then keep their names through an export and import.
fn own_name(ctx: &Ctx<'_>) -> Option<String> {
    let name = ctx.node.name.as_deref()?;
    // Exporters' generated names start with the op type as spelled (`Flatten_12`).
    let plain = !name.is_empty()
        && !name.contains('/')
        && !name.starts_with("node_")
        && !name.starts_with(ctx.op);
    plain.then(|| super::builder::sanitize(name))
}

/// The layer name for a node with weights: the PyTorch module path when the weights
/// carry one (`conv1.weight` -> `conv1`), else the node's name without the exporter's
/// decorations (`/conv1/Conv` -> `conv1`, `node_gru__1` -> `gru`).
fn layer_base(ctx: &Ctx<'_>, weight: Option<&str>) -> String {
    if let Some(w) = weight {
        if let Some((module, param)) = w.rsplit_once('.') {
            if param.starts_with("weight") && !module.is_empty() && !module.contains("::") {
                return module.to_string();
            }
        }
    }
    let name = ctx.node.name.as_deref().unwrap_or(ctx.op);
    let parts: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    let base = if parts.len() > 1 {
        parts[..parts.len() - 1].join("_")
    } else {
        name.trim_start_matches("node_").to_string()
    };
    // The exporter's counters (`gru__1`, `Conv_22`), not a module's own digits (`conv1`).
    let digits = base.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = if digits.len() < base.len() && digits.ends_with('_') {
        digits.trim_end_matches('_')
    } else {
        base.as_str()
    };
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case(ctx.op) {
        ctx.op.to_lowercase()
    } else {
        trimmed.to_string()
    }
}

/// The number of elements of a shape whose sizes come from the file: saturating, so that
/// hostile sizes give a count no real tensor has (and are refused) instead of overflowing.
pub fn size(dims: impl IntoIterator<Item = usize>) -> usize {
    dims.into_iter().fold(1usize, usize::saturating_mul)
}
