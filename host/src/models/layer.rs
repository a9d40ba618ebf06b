//! One node of a graph as candle tensors: the weights it holds and what it computes,
//! built once when a [`super::Net`] is made.
use super::kernels::{Pool, PoolKind, Window};
use super::rnn::{Cell, Direction, Recurrent};
use super::ModelError;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use deepiot_format::{Op, ParamSpec, ShapeInfo};

/// One node's computation.
#[derive(Debug, Clone)]
pub(super) enum Layer {
    Dense {
        w: Tensor,
        b: Tensor,
    },
    /// 1-d convolutions are 2-d ones with `H = 1` (`one_d`).
    Conv {
        w: Tensor,
        b: Tensor,
        win: Window,
        one_d: bool,
    },
    Pool {
        pool: Pool,
        one_d: bool,
    },
    Relu,
    Tanh,
    Sigmoid,
    Softmax,
    Flatten,
    Reshape(Vec<usize>),
    Permute(Vec<usize>),
    Concat(usize),
    Rnn(Recurrent),
}

fn get(vb: &VarBuilder, spec: &ParamSpec) -> Result<Tensor, ModelError> {
    // `spec.name` is `{node}.{param}`; the builder is already inside `{node}`.
    let short = spec
        .name
        .rsplit_once('.')
        .map(|(_, p)| p)
        .unwrap_or(&spec.name);
    Ok(vb.get(spec.shape.as_slice(), short)?)
}

pub(super) fn build_layer(
    vb: &VarBuilder,
    op: &Op,
    info: &ShapeInfo,
    i: usize,
) -> Result<Layer, ModelError> {
    let p = &info.params[i];
    let conv = |win: Window, one_d: bool| -> Result<Layer, ModelError> {
        Ok(Layer::Conv {
            w: get(vb, &p[0])?,
            b: get(vb, &p[1])?,
            win,
            one_d,
        })
    };
    let pool_kind = if matches!(op, Op::MaxPool1d(_) | Op::MaxPool2d(_)) {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    Ok(match op {
        Op::Dense { .. } => Layer::Dense {
            w: get(vb, &p[0])?,
            b: get(vb, &p[1])?,
        },
        Op::Conv1d {
            kernel,
            stride,
            padding,
            ..
        } => conv(
            Window {
                kernel: [1, *kernel],
                stride: [1, *stride],
                padding: [0, *padding],
            },
            true,
        )?,
        Op::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => conv(
            Window {
                kernel: *kernel,
                stride: *stride,
                padding: *padding,
            },
            false,
        )?,
        Op::MaxPool1d(q) | Op::AvgPool1d(q) => Layer::Pool {
            pool: Pool {
                kind: pool_kind,
                kernel: [1, q.kernel],
                stride: [1, q.stride],
            },
            one_d: true,
        },
        Op::MaxPool2d(q) | Op::AvgPool2d(q) => Layer::Pool {
            pool: Pool {
                kind: pool_kind,
                kernel: q.kernel,
                stride: q.stride,
            },
            one_d: false,
        },
        Op::Relu => Layer::Relu,
        Op::Tanh => Layer::Tanh,
        Op::Sigmoid => Layer::Sigmoid,
        Op::Softmax => Layer::Softmax,
        Op::Flatten => Layer::Flatten,
        Op::Reshape { shape } => Layer::Reshape(shape.clone()),
        Op::Permute { perm } => Layer::Permute(perm.clone()),
        Op::Concat { axis } => Layer::Concat(*axis),
        Op::Gru(r) | Op::Lstm(r) => {
            let cell = if matches!(op, Op::Gru(_)) {
                Cell::Gru
            } else {
                Cell::Lstm
            };
            let dirs = p
                .chunks(4)
                .map(|d| {
                    Ok(Direction {
                        w_ih: get(vb, &d[0])?,
                        w_hh: get(vb, &d[1])?,
                        b_ih: get(vb, &d[2])?,
                        b_hh: get(vb, &d[3])?,
                    })
                })
                .collect::<Result<Vec<_>, ModelError>>()?;
            Layer::Rnn(Recurrent {
                cell,
                hidden: r.hidden,
                output: r.output,
                dirs,
            })
        }
    })
}
