//! `GRU` and `LSTM`: ONNX's gate order and layouts into PyTorch's (the layer list's),
//! and the export patterns around them: the sequence-first input, the final state
//! (`Y_h`, or the last step of `Y` taken with `Gather` / `Slice`), the mean over steps.
use super::{act, konst, layer_base, opt_const, value, Builder, Ctx, ImportError, Value};
use crate::import::builder::Act;
use deepiot_format::{Op, Recurrent, SeqOutput};

/// ONNX's gate blocks in the order PyTorch keeps them: GRU z, r, h -> r, z, n;
/// LSTM i, o, f, c -> i, f, g, o.
fn gate_order(gates: usize) -> &'static [usize] {
    if gates == 3 {
        &[1, 0, 2]
    } else {
        &[0, 2, 3, 1]
    }
}

/// Rows `[gates * hidden, cols]` of `v` with the gate blocks reordered.
fn reorder(v: &[f32], gates: usize, hidden: usize, cols: usize) -> Vec<f32> {
    let block = hidden * cols;
    gate_order(gates)
        .iter()
        .flat_map(|&g| v[g * block..(g + 1) * block].iter().copied())
        .collect()
}

/// Whether an initial state input is absent or zero.
fn zero_state(b: &Builder, ctx: &Ctx<'_>, i: usize) -> Result<bool, ImportError> {
    Ok(match value(b, ctx, i)? {
        None => true,
        Some(Value::Splat(x)) => x == 0.0,
        Some(Value::Const(c)) => c.floats().is_some_and(|v| v.iter().all(|&x| x == 0.0)),
        Some(_) => false,
    })
}

/// The activations ONNX uses by default (which are PyTorch's).
fn default_activations(ctx: &Ctx<'_>, gates: usize, dirs: usize) -> bool {
    let given = ctx.strings("activations");
    if given.is_empty() {
        return true;
    }
    let one: &[&str] = if gates == 3 {
        &["sigmoid", "tanh"]
    } else {
        &["sigmoid", "tanh", "tanh"]
    };
    given.len() == one.len() * dirs
        && given
            .iter()
            .enumerate()
            .all(|(i, a)| a.eq_ignore_ascii_case(one[i % one.len()]))
}

/// `GRU` / `LSTM`, forward or bidirectional, with a zero initial state.
pub fn recurrent(b: &mut Builder, ctx: &Ctx<'_>) -> Result<Vec<Option<Value>>, ImportError> {
    let gates = if ctx.op == "GRU" { 3 } else { 4 };
    let dirs = match ctx.string("direction").as_deref().unwrap_or("forward") {
        "forward" => 1,
        "bidirectional" => 2,
        d => {
            return Err(ctx.refuse(format!(
                "direction `{d}`: only forward and bidirectional layers exist in the layer list"
            )))
        }
    };
    if gates == 3 && ctx.int("linear_before_reset", 0) != 1 {
        return Err(ctx.refuse(
            "linear_before_reset=0 is not PyTorch's GRU (which applies the reset gate after the recurrent product, linear_before_reset=1); the layer list has only that form",
        ));
    }
    if gates == 4 && ctx.int("input_forget", 0) != 0 {
        return Err(ctx.refuse("input_forget=1 (coupled input and forget gates) is not supported"));
    }
    if ctx.has("clip") {
        return Err(ctx.refuse("cell clipping is not supported"));
    }
    if !default_activations(ctx, gates, dirs) {
        return Err(ctx.refuse(format!(
            "activations {:?}: only the defaults (sigmoid, tanh) are supported",
            ctx.strings("activations")
        )));
    }
    if ctx.input_name(4).is_some() {
        return Err(
            ctx.refuse("sequence_lens is not supported: every sequence has the full length")
        );
    }
    if !zero_state(b, ctx, 5)? || (gates == 4 && !zero_state(b, ctx, 6)?) {
        return Err(ctx.refuse("only a zero initial state is supported"));
    }
    if ctx.input_name(7).is_some() {
        return Err(ctx.refuse("peephole weights (P) are not supported"));
    }
    let layout = ctx.int("layout", 0);
    let x = act(b, ctx, 0)?;
    let want_batch = if layout == 0 { 1 } else { 0 };
    if x.per.len() != 2 || x.batch != want_batch {
        return Err(ctx.refuse(format!(
            "expects a {} input, got {:?} with the batch on axis {}",
            if layout == 0 {
                "[steps, batch, features]"
            } else {
                "[batch, steps, features]"
            },
            x.full(1),
            x.batch
        )));
    }
    let (t, f) = (x.per[0], x.per[1]);
    let w = konst(b, ctx, 1)?;
    let r = konst(b, ctx, 2)?;
    let h = match ctx.int("hidden_size", 0) {
        0 => r.shape.last().copied().unwrap_or(0),
        v => v as usize,
    };
    let gh = gates * h;
    if w.shape != [dirs, gh, f] || r.shape != [dirs, gh, h] {
        return Err(ctx.refuse(format!(
            "W {:?} and R {:?} do not fit {dirs} direction(s), {gates} gates of {h} units and {f} features",
            w.shape, r.shape
        )));
    }
    let bias = match opt_const(b, ctx, 3)? {
        Some(c) if c.shape == [dirs, 2 * gh] => c.floats(),
        Some(c) => return Err(ctx.refuse(format!("B {:?} is not [{dirs}, {}]", c.shape, 2 * gh))),
        None => Some(vec![0.0; dirs * 2 * gh]),
    };
    let (Some(wv), Some(rv), Some(bv)) = (w.floats(), r.floats(), bias) else {
        return Err(ctx.refuse("a weight depends on the batch size"));
    };

    let out = |i: usize| ctx.output_name(i).filter(|n| b.used(n));
    if gates == 4 && out(2).is_some() {
        return Err(ctx.refuse("the final cell state Y_c is used, and no layer hands it on"));
    }
    let (y, y_h) = (out(0), out(1));
    if y.is_some() && y_h.is_some() {
        return Err(ctx.refuse(
            "both the sequence Y and the final state Y_h are used; a recurrent layer hands on one of them",
        ));
    }
    let mode = if y.is_some() {
        SeqOutput::Sequence
    } else {
        SeqOutput::Last
    };
    let src = b.materialize(&x).map_err(|e| ctx.format(e))?;
    let name = b.fresh(&layer_base(ctx, ctx.input_name(1)));
    let rec = Recurrent::new(h, dirs == 2, mode);
    let op = if gates == 3 {
        Op::Gru(rec)
    } else {
        Op::Lstm(rec)
    };
    let ours = b.push(&name, &[&src], op).map_err(|e| ctx.format(e))?;
    for d in 0..dirs {
        let suffix = if d == 0 { "" } else { "_reverse" };
        let pick = |v: &[f32], cols: usize| {
            reorder(&v[d * gh * cols..(d + 1) * gh * cols], gates, h, cols)
        };
        let bias_d = &bv[d * 2 * gh..(d + 1) * 2 * gh];
        for (param, shape, values) in [
            ("weight_ih_l0", vec![gh, f], pick(&wv, f)),
            ("weight_hh_l0", vec![gh, h], pick(&rv, h)),
            ("bias_ih_l0", vec![gh], reorder(&bias_d[..gh], gates, h, 1)),
            ("bias_hh_l0", vec![gh], reorder(&bias_d[gh..], gates, h, 1)),
        ] {
            b.weights
                .insert(format!("{name}.{param}{suffix}"), (shape, values));
        }
    }
    // ONNX's outputs: Y [T, D, N, H] (layout 0) or [N, T, D, H]; Y_h [D, N, H] or [N, D, H].
    let seq = Act {
        source: name.clone(),
        ours: ours.clone(),
        per: vec![t, dirs, h],
        batch: if layout == 0 { 2 } else { 0 },
        exclusive: true,
        view: None,
    };
    let last = Act {
        source: name,
        ours,
        per: vec![dirs, h],
        batch: if layout == 0 { 1 } else { 0 },
        exclusive: true,
        view: None,
    };
    let mut outs = vec![None; if gates == 3 { 2 } else { 3 }];
    match mode {
        SeqOutput::Sequence => outs[0] = Some(Value::Act(seq)),
        _ => {
            // Y is not read then, except perhaps by `Shape`, which needs only its shape.
            outs[0] = Some(Value::Act(Act {
                exclusive: false,
                ..seq
            }));
            outs[1] = Some(Value::Act(last));
        }
    }
    Ok(outs)
}

/// The recurrent layer `view` reads, when it is a forward layer's whole sequence that
/// nothing else reads, with the steps on per-example axis 0 of the view.
fn sequence_layer(b: &Builder, view: &Act) -> Option<(usize, Recurrent, bool)> {
    if !view.exclusive || view.ours.len() != 2 || view.per.first() != Some(&view.ours[0]) {
        return None;
    }
    let node = b.graph.node(&view.source)?;
    let (r, gru) = match node.op {
        Op::Gru(r) => (r, true),
        Op::Lstm(r) => (r, false),
        _ => return None,
    };
    if r.output != SeqOutput::Sequence
        || b.graph
            .nodes
            .iter()
            .any(|n| n.inputs.contains(&view.source))
    {
        return None;
    }
    let i = b.graph.nodes.iter().position(|n| n.name == view.source)?;
    Some((i, r, gru))
}

/// Switches the layer to `output` and returns its activation with ONNX's `per` view.
fn switch(
    b: &mut Builder,
    i: usize,
    r: Recurrent,
    gru: bool,
    output: SeqOutput,
    per: Vec<usize>,
    batch: usize,
) -> Act {
    let rec = Recurrent::new(r.hidden, r.bidirectional, output);
    b.graph.nodes[i].op = if gru { Op::Gru(rec) } else { Op::Lstm(rec) };
    let width = r.hidden * if r.bidirectional { 2 } else { 1 };
    Act {
        source: b.graph.nodes[i].name.clone(),
        ours: vec![width],
        per,
        batch,
        exclusive: true,
        view: None,
    }
}

/// The last step (axis `g` of the view) of a forward layer's sequence: its last state.
pub fn last_step(
    b: &mut Builder,
    view: &Act,
    g: usize,
    per: Vec<usize>,
    batch: usize,
) -> Option<Act> {
    let (i, r, gru) = sequence_layer(b, view)?;
    if g != 0 || r.bidirectional {
        return None;
    }
    Some(switch(b, i, r, gru, SeqOutput::Last, per, batch))
}

/// The mean over the steps (per-example axes `axes` of the view) of a layer's sequence.
pub fn mean_over_time(
    b: &mut Builder,
    view: &Act,
    axes: &[usize],
    per: Vec<usize>,
    batch: usize,
) -> Option<Act> {
    let (i, r, gru) = sequence_layer(b, view)?;
    if axes != [0] {
        return None;
    }
    Some(switch(b, i, r, gru, SeqOutput::Mean, per, batch))
}
