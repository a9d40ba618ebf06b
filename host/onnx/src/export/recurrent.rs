//! GRU and LSTM layers as ONNX `GRU` / `LSTM` nodes.
//!
//! Our layers read a batch-first `[N, T, F]` sequence with PyTorch's tensors (gate order
//! r, z, n for the GRU and i, f, g, o for the LSTM, separate input and hidden biases). The
//! ONNX operators want the sequence first (`[T, N, F]`: onnxruntime does not implement
//! `layout = 1`), their own gate order (z, r, h and i, o, f, c), the directions stacked on
//! a leading axis, and both biases in one `B`. Their outputs are `Y [T, D, N, H]` and
//! `Y_h [D, N, H]`; each [`SeqOutput`] is rebuilt from those with the forward direction
//! first on the feature axis, exactly as the runtime concatenates them.
use super::builder::{int, ints, string, GraphBuilder};
use super::{ExportError, Layer};
use deepiot_format::{Op, SeqOutput};

/// For each ONNX gate block, the PyTorch block it comes from.
const GRU_GATES: [usize; 3] = [1, 0, 2]; // z, r, h  <-  r, z, n
const LSTM_GATES: [usize; 4] = [0, 3, 1, 2]; // i, o, f, c  <-  i, f, g, o

/// Writes the nodes of a recurrent `layer`.
pub fn emit(b: &mut GraphBuilder, layer: &Layer<'_, '_>) -> Result<(), ExportError> {
    let (op_type, r, order): (&str, _, &[usize]) = match layer.op() {
        Op::Gru(r) => ("GRU", r, &GRU_GATES),
        Op::Lstm(r) => ("LSTM", r, &LSTM_GATES),
        other => {
            return Err(ExportError::Internal(format!(
                "`{}` is not a recurrent layer",
                other.kind()
            )))
        }
    };
    let name = layer.name();
    let h = r.hidden;
    let dirs = if r.bidirectional { 2 } else { 1 };
    let features = layer.input_shape(0)[1];

    // Tensors per direction: weight_ih, weight_hh, bias_ih, bias_hh (see `ShapeInfo`).
    let (mut w, mut rr, mut bias) = (Vec::new(), Vec::new(), Vec::new());
    for d in 0..dirs {
        let get = |i: usize| layer.param(4 * d + i).map(|(_, v)| v);
        w.extend(reorder(&get(0)?, order, h * features));
        rr.extend(reorder(&get(1)?, order, h * h));
        bias.extend(reorder(&get(2)?, order, h));
        bias.extend(reorder(&get(3)?, order, h));
    }
    let g = order.len();
    let w = b.f32_tensor(&format!("{name}.W"), &[dirs, g * h, features], &w)?;
    let rr = b.f32_tensor(&format!("{name}.R"), &[dirs, g * h, h], &rr)?;
    let bias = b.f32_tensor(&format!("{name}.B"), &[dirs, 2 * g * h], &bias)?;

    let seq = b.node(
        "Transpose",
        &format!("{name}/sequence_first"),
        &[layer.input(0)],
        &format!("{name}/sequence_first"),
        vec![ints("perm", [1, 0, 2])],
    )?;
    let mut attrs = vec![
        int("hidden_size", h as i64),
        string(
            "direction",
            if r.bidirectional {
                "bidirectional"
            } else {
                "forward"
            },
        ),
    ];
    if op_type == "GRU" {
        // PyTorch's GRU applies the reset gate after the hidden product (with its bias).
        attrs.push(int("linear_before_reset", 1));
    }
    let y = format!("{name}/Y");
    let y_h = format!("{name}/Y_h");
    let width = (dirs * h) as i64;
    match r.output {
        SeqOutput::Sequence | SeqOutput::Mean => {
            b.node_multi(op_type, name, &[&seq, &w, &rr, &bias], &[&y], attrs)?;
            let last = if r.output == SeqOutput::Sequence {
                name.to_string()
            } else {
                format!("{name}/sequence")
            };
            batch_first(b, &y, &[2, 0, 1, 3], &[0, 0, width], &last)?;
            if r.output == SeqOutput::Mean {
                // Opset 17 still takes the axes as an attribute (18 made them an input).
                let attrs = vec![ints("axes", [1]), int("keepdims", 0)];
                b.node("ReduceMean", &format!("{name}/mean"), &[&last], name, attrs)?;
            }
        }
        SeqOutput::Last => {
            b.node_multi(op_type, name, &[&seq, &w, &rr, &bias], &["", &y_h], attrs)?;
            batch_first(b, &y_h, &[1, 0, 2], &[0, width], name)?;
        }
    }
    Ok(())
}

/// `Transpose(perm)` (batch axis first) then `Reshape(shape)` (directions merged into
/// the feature axis), the result called `out`.
fn batch_first(
    b: &mut GraphBuilder,
    x: &str,
    perm: &[usize],
    shape: &[i64],
    out: &str,
) -> Result<(), ExportError> {
    let t = format!("{x}/batch_first");
    let perm = vec![ints("perm", perm.iter().copied())];
    b.node("Transpose", &t, &[x], &t, perm)?;
    let s = b.i64_vector(&format!("{x}/merged.shape"), shape)?;
    b.node("Reshape", &format!("{x}/merged"), &[&t, &s], out, vec![])?;
    Ok(())
}

/// The gate blocks of `values` (blocks of `block` values each) in ONNX order.
fn reorder(values: &[f32], order: &[usize], block: usize) -> Vec<f32> {
    order
        .iter()
        .flat_map(|&k| values[k * block..(k + 1) * block].iter().copied())
        .collect()
}
