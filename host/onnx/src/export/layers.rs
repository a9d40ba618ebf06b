//! The layers without state: each [`Op`] but the recurrent ones as one or two standard
//! ONNX operators, on values that carry the batch axis in front.
use super::builder::{int, ints, GraphBuilder};
use super::{ExportError, Layer};
use deepiot_format::{Op, Pool1d, Pool2d};

/// Writes `layer`'s ONNX nodes; the last one's output is the value named after the layer.
pub fn emit(b: &mut GraphBuilder, layer: &Layer<'_, '_>) -> Result<(), ExportError> {
    let name = layer.name();
    let x = layer.input(0);
    let simple = |b: &mut GraphBuilder, op: &str, attrs| {
        let inputs: Vec<&str> = (0..layer.input_count()).map(|i| layer.input(i)).collect();
        b.node(op, name, &inputs, name, attrs).map(|_| ())
    };
    match layer.op() {
        Op::Dense { .. } => dense(b, layer),
        Op::Conv1d {
            kernel,
            stride,
            padding,
            ..
        } => conv(b, layer, &[*kernel], &[*stride], &[*padding]),
        Op::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => conv(b, layer, kernel, stride, padding),
        Op::MaxPool1d(Pool1d { kernel, stride }) => {
            simple(b, "MaxPool", pool_attrs(&[*kernel], &[*stride]))
        }
        Op::AvgPool1d(Pool1d { kernel, stride }) => {
            simple(b, "AveragePool", pool_attrs(&[*kernel], &[*stride]))
        }
        Op::MaxPool2d(Pool2d { kernel, stride }) => {
            simple(b, "MaxPool", pool_attrs(kernel, stride))
        }
        Op::AvgPool2d(Pool2d { kernel, stride }) => {
            simple(b, "AveragePool", pool_attrs(kernel, stride))
        }
        Op::Relu => simple(b, "Relu", vec![]),
        Op::Tanh => simple(b, "Tanh", vec![]),
        Op::Sigmoid => simple(b, "Sigmoid", vec![]),
        // Opset 13 and later: the softmax of one axis (older opsets flattened from it on).
        Op::Softmax => simple(b, "Softmax", vec![int("axis", -1)]),
        Op::Flatten => simple(b, "Flatten", vec![int("axis", 1)]),
        Op::Reshape { shape } => {
            // `0` copies the batch axis from the input (our sizes are never 0).
            let target: Vec<i64> = std::iter::once(0)
                .chain(shape.iter().map(|&d| d as i64))
                .collect();
            let shape = b.i64_vector(&format!("{name}.shape"), &target)?;
            b.node("Reshape", name, &[x, &shape], name, vec![])
                .map(|_| ())
        }
        Op::Permute { perm } => {
            let perm = std::iter::once(0).chain(perm.iter().map(|p| p + 1));
            simple(b, "Transpose", vec![ints("perm", perm)])
        }
        Op::Concat { axis } => simple(b, "Concat", vec![int("axis", *axis as i64 + 1)]),
        Op::Gru(_) | Op::Lstm(_) => super::recurrent::emit(b, layer),
    }
}

/// Windows without padding, rounded down (`ceil_mode` 0): what the runtime computes.
fn pool_attrs(kernel: &[usize], stride: &[usize]) -> Vec<crate::proto::AttributeProto> {
    vec![
        ints("kernel_shape", kernel.iter().copied()),
        ints("strides", stride.iter().copied()),
        int("ceil_mode", 0),
    ]
}

/// `Gemm` (weight transposed by the op) on a `[N, F]` vector per example; `MatMul` with
/// the transposed weight and `Add` on `[N, T, F]` (and higher ranks), where `Gemm`,
/// which is strictly 2-d, does not apply.
fn dense(b: &mut GraphBuilder, layer: &Layer<'_, '_>) -> Result<(), ExportError> {
    let name = layer.name();
    let x = layer.input(0);
    let (w_shape, w) = layer.param(0)?;
    let (b_shape, bias) = layer.param(1)?;
    let bias = b.f32_tensor(&format!("{name}.bias"), &b_shape, &bias)?;
    if layer.input_shape(0).len() == 1 {
        let w = b.f32_tensor(&format!("{name}.weight"), &w_shape, &w)?;
        b.node("Gemm", name, &[x, &w, &bias], name, vec![int("transB", 1)])?;
        return Ok(());
    }
    let (units, f) = (w_shape[0], w_shape[1]);
    let mut wt = vec![0.0; w.len()];
    for o in 0..units {
        for i in 0..f {
            wt[i * units + o] = w[o * f + i];
        }
    }
    let wt = b.f32_tensor(&format!("{name}.weight_t"), &[f, units], &wt)?;
    let product = b.node(
        "MatMul",
        &format!("{name}/matmul"),
        &[x, &wt],
        &format!("{name}/matmul"),
        vec![],
    )?;
    b.node("Add", name, &[&product, &bias], name, vec![])?;
    Ok(())
}

/// `Conv` with symmetric zero padding (ONNX lists the starts, then the ends).
fn conv(
    b: &mut GraphBuilder,
    layer: &Layer<'_, '_>,
    kernel: &[usize],
    stride: &[usize],
    padding: &[usize],
) -> Result<(), ExportError> {
    let name = layer.name();
    let (w_shape, w) = layer.param(0)?;
    let (b_shape, bias) = layer.param(1)?;
    let w = b.f32_tensor(&format!("{name}.weight"), &w_shape, &w)?;
    let bias = b.f32_tensor(&format!("{name}.bias"), &b_shape, &bias)?;
    let pads = padding.iter().chain(padding).copied();
    let attrs = vec![
        ints("kernel_shape", kernel.iter().copied()),
        ints("strides", stride.iter().copied()),
        ints("pads", pads),
        ints("dilations", kernel.iter().map(|_| 1)),
        int("group", 1),
    ];
    b.node("Conv", name, &[layer.input(0), &w, &bias], name, attrs)?;
    Ok(())
}
