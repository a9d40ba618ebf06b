//! candle-nn networks built from the format's layer list.
//!
//! [`Net`] turns a [`deepiot_format::Graph`] — the same description the model file stores
//! and the board runs — into candle layers. Every weight lives in one [`VarMap`] under the
//! exact name [`ShapeInfo::params`] gives it (`conv1.weight`, `gru1.weight_hh_l0_reverse`,
//! ...), and each layer gets its tensors through a [`VarBuilder`] with that name, so
//! training, export and loading never rename anything.
//!
//! Batches are batch-first: an input of per-example shape `[C, H, W]` is fed as
//! `[B, C, H, W]`.
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};
use deepiot_format::{Graph, Op, ParamSpec, ShapeInfo, Source};
use std::collections::HashMap;

pub mod conv;
pub mod fastmath;
pub mod kernels;
mod layer;
pub mod masks;
pub mod recurrence;
pub mod rnn;
#[cfg(test)]
mod test_util;
pub mod weights;
pub mod zoo;

use crate::rng::Rng;
use conv::Conv2d;
use kernels::{PoolKind, Window};
use layer::{build_layer, Layer};
pub use masks::{ElementMask, NodeMasks, Run as MaskRun};
pub use weights::{Tensors, Weights};

thread_local! {
    /// The dropout generator of the shard this thread is running ([`with_dropout_stream`]).
    static DROPOUT_STREAM: std::cell::RefCell<Option<Rng>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's dropout masks drawn from `Rng::new(seed)` instead of the
/// network's shared generator (`None`: the shared one). The previous stream is put back
/// afterwards, so a thread that runs another shard while it waits (rayon's work stealing
/// nests it on the same stack) gives each its own.
pub fn with_dropout_stream<R>(seed: Option<u64>, f: impl FnOnce() -> R) -> R {
    let stream = seed.map(Rng::new);
    let previous = DROPOUT_STREAM.with(|s| std::mem::replace(&mut *s.borrow_mut(), stream));
    let out = f();
    DROPOUT_STREAM.with(|s| *s.borrow_mut() = previous);
    out
}

/// What can go wrong building or loading a network.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the graph is not valid: {0}")]
    Graph(#[from] deepiot_format::FormatError),
    #[error("tensor `{name}` is missing; a model for this graph needs it")]
    MissingTensor { name: String },
    #[error("tensor `{name}` has shape {found:?}, but the graph needs {expected:?}")]
    WrongShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A weight as `(name, shape, row-major values)`.
pub type NamedValues = (String, Vec<usize>, Vec<f32>);

/// How convolutions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvImpl {
    /// Our kernels with hand-written backward passes: each convolution example lowered to
    /// one matmul (im2col + gemm, [`conv`]), our pooling ([`kernels`]) and each recurrent
    /// direction's time loop as one op ([`recurrence`]). The fast path, and the only one
    /// for non-square strides or padding.
    #[default]
    Im2col,
    /// candle's built-in `conv2d` and pooling, and recurrences stepped in candle ops (for
    /// comparison; falls back to ours where candle's ops cannot express the layer, e.g. a
    /// (2, 1) stride).
    Candle,
}

/// A network built from a [`Graph`], with its weights.
pub struct Net {
    graph: Graph,
    info: ShapeInfo,
    varmap: VarMap,
    layers: Vec<Layer>,
    device: Device,
    conv: ConvImpl,
    /// Training-time dropout probability and the generator of its masks.
    dropout: std::sync::Mutex<Option<(f32, Rng)>>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("nodes", &self.graph.nodes.len())
            .field("params", &self.info.param_count())
            .field("conv", &self.conv)
            .finish()
    }
}

/// PyTorch's default initial values for one tensor: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
/// for dense and convolution weights and biases (what `kaiming_uniform_(a=sqrt(5))` works
/// out to), `U(-1/sqrt(hidden), 1/sqrt(hidden))` for every recurrent tensor.
fn init_values(op: &Op, spec: &ParamSpec, weight_fan_in: usize, rng: &mut Rng) -> Vec<f32> {
    let bound = match op {
        Op::Gru(r) | Op::Lstm(r) => 1.0 / (r.hidden as f32).sqrt(),
        _ => 1.0 / (weight_fan_in.max(1) as f32).sqrt(),
    };
    (0..spec.len())
        .map(|_| rng.uniform(-bound, bound))
        .collect()
}

/// The tensor `spec` names in `tensors`, if it is there with the shape the graph needs.
fn tensor_for<'a>(
    tensors: &'a HashMap<String, Tensor>,
    spec: &ParamSpec,
) -> Result<&'a Tensor, ModelError> {
    let t = tensors
        .get(&spec.name)
        .ok_or_else(|| ModelError::MissingTensor {
            name: spec.name.clone(),
        })?;
    if t.dims() != spec.shape.as_slice() {
        return Err(ModelError::WrongShape {
            name: spec.name.clone(),
            expected: spec.shape.clone(),
            found: t.dims().to_vec(),
        });
    }
    Ok(t)
}

impl Net {
    /// A network for `graph` with freshly initialised weights (PyTorch's defaults), fully
    /// determined by `seed`.
    pub fn new(graph: &Graph, seed: u64) -> Result<Net, ModelError> {
        let info = graph.infer()?;
        let device = Device::Cpu;
        let mut rng = Rng::new(seed);
        let mut tensors = HashMap::new();
        for (node, specs) in graph.nodes.iter().zip(&info.params) {
            // fan_in of a node's weight: everything but the first axis.
            let fan_in = specs
                .first()
                .map(|w| w.shape[1..].iter().product())
                .unwrap_or(1);
            for spec in specs {
                let v = init_values(&node.op, spec, fan_in, &mut rng);
                tensors.insert(
                    spec.name.clone(),
                    Tensor::from_vec(v, spec.shape.as_slice(), &device)?,
                );
            }
        }
        Self::from_tensors(graph, tensors)
    }

    /// A network for `graph` with the given weights (one per [`ParamSpec`], by name).
    pub fn from_tensors(
        graph: &Graph,
        tensors: HashMap<String, Tensor>,
    ) -> Result<Net, ModelError> {
        let info = graph.infer()?;
        let device = Device::Cpu;
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("poisoned VarMap lock".into()))?;
            for spec in info.params.iter().flatten() {
                let t = tensor_for(&tensors, spec)?;
                // A fresh copy, so that training never writes into the caller's tensor.
                let t = t.to_dtype(DType::F32)?.to_device(&device)?.copy()?;
                data.insert(spec.name.clone(), Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let mut layers = Vec::with_capacity(graph.nodes.len());
        for (i, node) in graph.nodes.iter().enumerate() {
            layers.push(build_layer(&vb.pp(&node.name), &node.op, &info, i)?);
        }
        Ok(Net {
            graph: graph.clone(),
            info,
            varmap,
            layers,
            device,
            conv: ConvImpl::default(),
            dropout: std::sync::Mutex::new(None),
        })
    }

    /// Training-time dropout with probability `p` on the input of every dense and
    /// recurrent layer that reads another layer (never on a graph input), masks drawn from
    /// `Rng::new(seed)` so that training stays deterministic; `p == 0` turns it off.
    /// Inference (`train == false`) is unchanged, so the graph and the exported file are
    /// the same as without it.
    pub fn set_dropout(&self, p: f32, seed: u64) {
        let mut d = match self.dropout.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        *d = (p > 0.0 && p < 1.0).then(|| (p, Rng::new(seed)));
    }

    /// The training-time dropout probability ([`Net::set_dropout`]), if on.
    pub fn dropout(&self) -> Option<f32> {
        match self.dropout.lock() {
            Ok(d) => d.as_ref().map(|(p, _)| *p),
            Err(poisoned) => poisoned.into_inner().as_ref().map(|(p, _)| *p),
        }
    }

    /// `x * mask / (1 - p)` with a fresh Bernoulli mask, or `x` without dropout.
    fn drop(&self, x: Tensor) -> candle_core::Result<Tensor> {
        let mut d = match self.dropout.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some((p, rng)) = d.as_mut() else {
            return Ok(x);
        };
        let p = *p;
        let keep = 1.0 / (1.0 - p);
        let mut draw = |rng: &mut Rng| -> Vec<f32> {
            (0..x.elem_count())
                .map(|_| if rng.next_f32() < p { 0.0 } else { keep })
                .collect()
        };
        let mask = match DROPOUT_STREAM.with(|s| s.borrow_mut().as_mut().map(&mut draw)) {
            Some(mask) => mask,
            None => draw(rng),
        };
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
    }

    /// A seed for one step's dropout streams, drawn from the network's generator (`None`
    /// without dropout): a step split into shards ([`crate::train::train_step`]) gives
    /// shard `k` the stream `Rng::derive(seed, k)`, so that its masks do not depend on
    /// which thread draws first.
    pub fn dropout_seed(&self) -> Option<u64> {
        let mut d = match self.dropout.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        d.as_mut().map(|(_, rng)| rng.next_u64())
    }

    /// Chooses how convolutions are computed (the default is [`ConvImpl::Im2col`]).
    pub fn with_conv(mut self, conv: ConvImpl) -> Self {
        self.conv = conv;
        self
    }

    pub fn conv_impl(&self) -> ConvImpl {
        self.conv
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn info(&self) -> &ShapeInfo {
        &self.info
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable variables in [`ShapeInfo::params`] order (a fixed order, so an
    /// optimiser built on them behaves the same in every run).
    pub fn vars(&self) -> Vec<Var> {
        let data = match self.varmap.data().lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        self.info
            .params
            .iter()
            .flatten()
            .filter_map(|s| data.get(&s.name).cloned())
            .collect()
    }

    /// Every weight as `(name, shape, values)`, in [`ShapeInfo::params`] order.
    pub fn tensors(&self) -> candle_core::Result<Vec<NamedValues>> {
        let names: Vec<&ParamSpec> = self.info.params.iter().flatten().collect();
        let vars = self.vars();
        names
            .iter()
            .zip(vars)
            .map(|(s, v)| {
                Ok((
                    s.name.clone(),
                    s.shape.clone(),
                    v.as_tensor().flatten_all()?.to_vec1::<f32>()?,
                ))
            })
            .collect()
    }

    /// Overwrites the weights with `tensors` (all of them, by name).
    pub fn set_tensors(&self, tensors: &HashMap<String, Tensor>) -> Result<(), ModelError> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned VarMap lock".into()))?;
        for spec in self.info.params.iter().flatten() {
            let t = tensor_for(tensors, spec)?;
            if let Some(v) = data.get(&spec.name) {
                v.set(&t.to_dtype(DType::F32)?)?;
            }
        }
        Ok(())
    }

    /// Runs a batch through the graph and returns its first output.
    ///
    /// `inputs` are the graph inputs in order, each `[B, ...per-example shape]`. With
    /// `train == false` the weights are detached, so nothing is recorded for backprop.
    pub fn forward(&self, inputs: &[&Tensor], train: bool) -> candle_core::Result<Tensor> {
        let mut outs = self.forward_all(inputs, train)?;
        Ok(outs.swap_remove(0))
    }

    /// Like [`Net::forward`], returning every graph output.
    pub fn forward_all(&self, inputs: &[&Tensor], train: bool) -> candle_core::Result<Vec<Tensor>> {
        self.run(inputs, train, &self.info.outputs, None)
    }

    /// The logits a classifier is trained on: the first output, or the input of the last
    /// node when that node is a softmax (the loss applies its own log-softmax).
    pub fn logits(&self, inputs: &[&Tensor], train: bool) -> candle_core::Result<Tensor> {
        self.logits_masked(inputs, train, None)
    }

    /// [`Net::logits`] with DeepIoT's masks: each masked node output is multiplied by its
    /// 0/1 mask, and recurrent layers mask their state at every step.
    pub fn logits_masked(
        &self,
        inputs: &[&Tensor],
        train: bool,
        masks: Option<&NodeMasks>,
    ) -> candle_core::Result<Tensor> {
        let mut target = self.info.outputs[0];
        if let Source::Node(j) = target {
            if matches!(self.graph.nodes[j].op, Op::Softmax) {
                target = self.info.node_inputs[j][0];
            }
        }
        let mut outs = self.run(inputs, train, &[target], masks)?;
        Ok(outs.swap_remove(0))
    }

    /// Evaluates the nodes the `wanted` values need (all nodes up to the last one wanted).
    fn run(
        &self,
        inputs: &[&Tensor],
        train: bool,
        wanted: &[Source],
        masks: Option<&NodeMasks>,
    ) -> candle_core::Result<Vec<Tensor>> {
        let want = &self.info.input_shapes;
        if inputs.len() != want.len() {
            candle_core::bail!(
                "the graph has {} input(s), got {}",
                want.len(),
                inputs.len()
            );
        }
        for (k, (x, s)) in inputs.iter().zip(want).enumerate() {
            if x.rank() != s.len() + 1 || &x.dims()[1..] != s.as_slice() {
                candle_core::bail!(
                    "input `{}` must be [batch, {s:?}...], got {:?}",
                    self.graph.inputs[k].name,
                    x.dims()
                );
            }
        }
        let end = wanted
            .iter()
            .filter_map(|s| match s {
                Source::Node(j) => Some(j + 1),
                Source::Input(_) => None,
            })
            .max()
            .unwrap_or(0);
        let mut vals: Vec<Option<Tensor>> = vec![None; end];
        let fetch = |vals: &[Option<Tensor>], s: Source| -> candle_core::Result<Tensor> {
            match s {
                Source::Input(i) => Ok(inputs[i].clone()),
                Source::Node(j) => vals[j]
                    .clone()
                    .ok_or_else(|| candle_core::Error::Msg(format!("node {j} has no value"))),
            }
        };
        for (i, layer) in self.layers[..end].iter().enumerate() {
            let mut ins = self.info.node_inputs[i]
                .iter()
                .map(|&s| fetch(&vals, s))
                .collect::<candle_core::Result<Vec<_>>>()?;
            let dropped = matches!(layer, Layer::Dense { .. } | Layer::Rnn(_))
                && matches!(self.info.node_inputs[i][..], [Source::Node(_)]);
            if train && dropped {
                let x = ins.remove(0);
                ins.insert(0, self.drop(x)?);
            }
            let y = self
                .apply(layer, &ins, train, masks.and_then(|m| m.rnn[i].as_deref()))
                .map_err(|e| e.context(format!("in node `{}`", self.graph.nodes[i].name)))?;
            let y = match masks.and_then(|m| m.node[i].as_ref()) {
                Some(m) => m.apply(&y)?,
                None => y,
            };
            vals[i] = Some(y);
        }
        wanted.iter().map(|&s| fetch(&vals, s)).collect()
    }

    fn apply(
        &self,
        layer: &Layer,
        ins: &[Tensor],
        train: bool,
        rnn_masks: Option<&[Tensor]>,
    ) -> candle_core::Result<Tensor> {
        let w = |t: &Tensor| if train { t.clone() } else { t.detach() };
        let x = &ins[0];
        match layer {
            Layer::Dense { w: wt, b } => {
                let (wt, b) = (w(wt), w(b));
                let dims = x.dims().to_vec();
                let f = dims[dims.len() - 1];
                let rows = x.elem_count() / f;
                let y = x.reshape((rows, f))?.matmul(&wt.t()?)?.broadcast_add(&b)?;
                let mut out = dims;
                let last = out.len() - 1;
                out[last] = wt.dim(0)?;
                y.reshape(out)
            }
            Layer::Conv {
                w: wt,
                b,
                win,
                one_d,
            } => {
                let (wt, b) = (w(wt), w(b));
                let x4 = if *one_d { x.unsqueeze(2)? } else { x.clone() };
                let wt4 = if *one_d { wt.unsqueeze(2)? } else { wt };
                let y = self.conv2d(&x4, &wt4, &b, *win)?;
                if *one_d {
                    y.squeeze(2)
                } else {
                    Ok(y)
                }
            }
            Layer::Pool { pool, one_d } => {
                let x4 = if *one_d { x.unsqueeze(2)? } else { x.clone() };
                let y = match self.conv {
                    ConvImpl::Candle if pool.kernel == pool.stride => match pool.kind {
                        PoolKind::Max => x4.max_pool2d_with_stride(
                            (pool.kernel[0], pool.kernel[1]),
                            (pool.stride[0], pool.stride[1]),
                        )?,
                        PoolKind::Avg => x4.avg_pool2d_with_stride(
                            (pool.kernel[0], pool.kernel[1]),
                            (pool.stride[0], pool.stride[1]),
                        )?,
                    },
                    _ => x4.contiguous()?.apply_op1(*pool)?,
                };
                if *one_d {
                    y.squeeze(2)
                } else {
                    Ok(y)
                }
            }
            Layer::Relu => x.relu(),
            Layer::Tanh => x.tanh(),
            Layer::Sigmoid => candle_nn::ops::sigmoid(x),
            Layer::Softmax => candle_nn::ops::softmax(x, D::Minus1),
            Layer::Flatten => x.flatten_from(1),
            Layer::Reshape(shape) => {
                let mut s = vec![x.dim(0)?];
                s.extend_from_slice(shape);
                x.contiguous()?.reshape(s)
            }
            Layer::Permute(perm) => {
                let mut p = vec![0];
                p.extend(perm.iter().map(|&a| a + 1));
                x.permute(p)?.contiguous()
            }
            Layer::Concat(axis) => Tensor::cat(ins, axis + 1),
            Layer::Rnn(r) => r.forward_with(
                &x.contiguous()?,
                train,
                rnn_masks,
                self.conv == ConvImpl::Im2col,
            ),
        }
    }

    /// `[B, C, H, W]` convolution with weight `[O, C, KH, KW]` and bias `[O]`.
    fn conv2d(
        &self,
        x: &Tensor,
        wt: &Tensor,
        b: &Tensor,
        win: Window,
    ) -> candle_core::Result<Tensor> {
        let o = wt.dim(0)?;
        let square = win.stride[0] == win.stride[1] && win.padding[0] == win.padding[1];
        if self.conv == ConvImpl::Candle && square {
            let y = x.conv2d(wt, win.padding[0], win.stride[0], 1, 1)?;
            return y.broadcast_add(&b.reshape((1, o, 1, 1))?);
        }
        Conv2d(win).apply(x, wt, b)
    }
}
