//! A loaded model: weights decoded once, steps compiled once, one arena planned once.
use crate::kernels::conv::{self, ConvGeom};
use crate::kernels::pool::{self, PoolGeom};
use crate::kernels::quant::{self, QMatrix};
use crate::kernels::rnn::{self, Emit, RnnGeom, RnnMatrices, RnnQuant};
use crate::kernels::sparse::{CsrView, Matrix};
use crate::kernels::{activation, layout};
use crate::plan::{self, Lifetime};
use crate::{LoadError, RunError};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use deepiot_format::Source;
use deepiot_format::{parse, Graph, ModelFile, Op, SeqOutput, Shape};

/// Where a weight matrix lives: a range of the weight store, or (stored sparse) ranges of
/// the weight store (values) and of the index store (column indices, row pointers), or
/// (stored int8) a range of the int8 store (rows padded to `k8`) and its scales in the
/// weight store.
#[derive(Debug, Clone)]
enum WRef {
    Dense(Range<usize>),
    Csr {
        rows: usize,
        cols: usize,
        values: Range<usize>,
        indices: Range<usize>,
        indptr: Range<usize>,
    },
    Quant {
        units: usize,
        k: usize,
        k8: usize,
        levels: i32,
        q: Range<usize>,
        scales: Range<usize>,
    },
}

impl WRef {
    /// The range of a tensor that is always dense (a bias): the format never stores those
    /// sparse or int8, so the other arms are unreachable; they give an empty range rather
    /// than a panic.
    fn dense(&self) -> Range<usize> {
        match self {
            WRef::Dense(r) => r.clone(),
            _ => 0..0,
        }
    }

    /// `k8` of an int8 matrix.
    fn quant_k8(&self) -> Option<usize> {
        match self {
            WRef::Quant { k8, .. } => Some(*k8),
            _ => None,
        }
    }
}

/// Weight stores, filled once at load.
#[derive(Debug, Clone, Default)]
struct Store {
    weights: Vec<f32>,
    /// Column indices and row pointers of the weights stored sparse.
    index: Vec<u32>,
    /// Weights stored int8, each row padded with zeros to whole SIMD steps.
    qweights: Vec<i8>,
}

impl Store {
    fn matrix(&self, r: &WRef) -> Matrix<'_> {
        match r {
            WRef::Dense(r) => Matrix::Dense(&self.weights[r.clone()]),
            WRef::Csr {
                rows,
                cols,
                values,
                indices,
                indptr,
            } => Matrix::Csr(CsrView {
                rows: *rows,
                cols: *cols,
                indptr: &self.index[indptr.clone()],
                indices: &self.index[indices.clone()],
                values: &self.weights[values.clone()],
            }),
            // Load never gives an int8 matrix to an f32 kernel ([`Store::dequantize`]).
            WRef::Quant { .. } => Matrix::Dense(&[]),
        }
    }

    fn quant(&self, r: &WRef) -> Option<QMatrix<'_>> {
        match r {
            WRef::Quant {
                units,
                k,
                k8,
                levels,
                q,
                scales,
            } => Some(QMatrix {
                units: *units,
                k: *k,
                k8: *k8,
                levels: *levels,
                q: &self.qweights[q.clone()],
                scales: &self.weights[scales.clone()],
            }),
            _ => None,
        }
    }

    /// An int8 matrix dequantized into the f32 store, for a kernel that has no int8 form
    /// (a recurrent direction whose other matrix is f32).
    fn dequantize(&mut self, r: &WRef) -> WRef {
        let Some(m) = self.quant(r) else {
            return r.clone();
        };
        let mut dense = Vec::with_capacity(m.units * m.k);
        for (row, &s) in m.q.chunks_exact(m.k8.max(1)).zip(m.scales) {
            dense.extend(row[..m.k].iter().map(|&v| v as f32 * s));
        }
        let start = self.weights.len();
        self.weights.extend(dense);
        WRef::Dense(start..self.weights.len())
    }
}

/// What one step computes, with every size resolved at load time.
#[derive(Debug, Clone)]
enum Kernel {
    Dense {
        rows: usize,
        f: usize,
        units: usize,
        w: WRef,
        b: Range<usize>,
    },
    Conv {
        g: ConvGeom,
        w: WRef,
        b: Range<usize>,
    },
    MaxPool(PoolGeom),
    AvgPool(PoolGeom),
    Relu,
    Tanh,
    Sigmoid,
    Softmax {
        width: usize,
    },
    Permute {
        shape: [usize; 4],
        perm: [usize; 4],
    },
    /// One `(block, offset)` per operand; `outer` blocks of `out_block` values.
    Concat {
        outer: usize,
        out_block: usize,
        parts: Vec<(usize, usize)>,
    },
    /// One or two directions, each with its matrices `[w_ih, w_hh]` and biases
    /// `[b_ih, b_hh]`.
    Rnn {
        dirs: Vec<(RnnGeom, [WRef; 2], [Range<usize>; 2])>,
    },
}

/// A compiled layer: its kernel and the arena ranges it reads, uses as scratch and writes.
#[derive(Debug, Clone)]
struct Step {
    /// The graph node this step computes (views such as `flatten` have no step).
    node: usize,
    kernel: Kernel,
    inputs: Vec<Range<usize>>,
    scratch: Range<usize>,
    output: Range<usize>,
}

/// A model ready to run. Create it once with [`Model::load`]; call [`Model::run`] as often
/// as needed: it allocates nothing.
#[derive(Debug, Clone)]
pub struct Model {
    graph: Graph,
    input_shapes: Vec<Shape>,
    output_shapes: Vec<Shape>,
    store: Store,
    steps: Vec<Step>,
    input_ranges: Vec<Range<usize>>,
    output_ranges: Vec<Range<usize>>,
    arena: Vec<f32>,
    /// 16-bit activations of the int8 layers (empty without them), planned once.
    qscratch: Vec<i16>,
    param_count: usize,
    nonzeros: usize,
    macs: u64,
}

fn geom2(x: &Shape) -> (usize, usize, usize) {
    // [C, L] is a 2-d plane of height 1.
    if x.len() == 2 {
        (x[0], 1, x[1])
    } else {
        (x[0], x[1], x[2])
    }
}

impl Model {
    /// Validates `bytes` as a model file, decodes its weights and plans its arena.
    pub fn load(bytes: &[u8]) -> Result<Self, LoadError> {
        let file = parse(bytes)?;
        Self::from_file(&file)
    }

    /// Builds a runnable model from an already parsed file.
    pub fn from_file(file: &ModelFile<'_>) -> Result<Self, LoadError> {
        let (graph, info) = (&file.graph, &file.info);
        // Weights: one vector, each tensor at a known range; sparse ones keep their values
        // there and their indices in a second vector, int8 ones their values in a third.
        let mut store = Store::default();
        let mut nonzeros = 0;
        let mut param_ranges: Vec<Vec<WRef>> = Vec::new();
        for (node, specs) in graph.nodes.iter().zip(&info.params) {
            let mut rs = Vec::new();
            for (i, p) in specs.iter().enumerate() {
                let w = &mut store.weights;
                let start = w.len();
                // A row too long for 32-bit sums at int8 precision, or too short to gain
                // from int8 outside a recurrent layer, runs f32 (dequantized).
                let recurrent = matches!(node.op, Op::Gru(_) | Op::Lstm(_));
                let q = file
                    .quant(&p.name)
                    .filter(|q| recurrent || q.cols >= quant::MIN_ROW);
                let k8 = q.and_then(|q| quant::padded(q.cols));
                let levels = k8.and_then(quant::act_levels);
                if let Some(c) = file.csr(&p.name) {
                    w.extend(c.values());
                    nonzeros += w[start..].iter().filter(|&&v| v != 0.0).count();
                    let index = &mut store.index;
                    let i0 = index.len();
                    index.extend(c.indices());
                    let i1 = index.len();
                    index.extend(c.indptr());
                    rs.push(WRef::Csr {
                        rows: c.rows,
                        cols: c.cols,
                        values: start..w.len(),
                        indices: i0..i1,
                        indptr: i1..index.len(),
                    });
                } else if let (Some(q), Some(k8), Some(levels)) = (q, k8, levels) {
                    w.extend(q.scales());
                    let qw = &mut store.qweights;
                    let q0 = qw.len();
                    let is_filter = matches!(node.op, Op::Conv1d { .. } | Op::Conv2d { .. });
                    if is_filter && i == 0 {
                        // Filters in the order the int8 convolution reads its input.
                        let values: Vec<i8> = q.values().collect();
                        let (c, kh, kw) = match p.shape[..] {
                            [_, c, kh, kw] => (c, kh, kw),
                            [_, c, kw] => (c, 1, kw),
                            _ => (q.cols, 1, 1),
                        };
                        qw.extend(quant::filters_hwc(&values, q.rows, c, kh, kw, k8));
                    } else {
                        let mut values = q.values();
                        for _ in 0..q.rows {
                            let row = qw.len();
                            qw.extend(values.by_ref().take(q.cols));
                            qw.resize(row + k8, 0);
                        }
                    }
                    nonzeros += qw[q0..].iter().filter(|&&v| v != 0).count();
                    rs.push(WRef::Quant {
                        units: q.rows,
                        k: q.cols,
                        k8,
                        levels,
                        q: q0..qw.len(),
                        scales: start..w.len(),
                    });
                } else {
                    w.resize(start + p.len(), 0.0);
                    file.read_into(&p.name, &mut w[start..])?;
                    nonzeros += w[start..].iter().filter(|&&v| v != 0.0).count();
                    rs.push(WRef::Dense(start..w.len()));
                }
            }
            param_ranges.push(rs);
        }
        // A recurrent direction runs int8 only when both its matrices are.
        for (node, rs) in graph.nodes.iter().zip(param_ranges.iter_mut()) {
            if matches!(node.op, Op::Gru(_) | Op::Lstm(_)) {
                for pair in rs.chunks_exact_mut(4) {
                    if pair[0].quant_k8().is_some() != pair[1].quant_k8().is_some() {
                        pair[0] = store.dequantize(&pair[0]);
                        pair[1] = store.dequantize(&pair[1]);
                    }
                }
            }
        }
        store.weights.shrink_to_fit();
        store.index.shrink_to_fit();
        store.qweights.shrink_to_fit();

        // Values: graph inputs, then one per node. Views share their input's buffer.
        let ni = graph.inputs.len();
        let nn = graph.nodes.len();
        let end = nn + 1;
        let vid = |s: Source| match s {
            Source::Input(i) => i,
            Source::Node(k) => ni + k,
        };
        let mut buffer_of: Vec<usize> = Vec::with_capacity(ni + nn);
        let mut blocks: Vec<Lifetime> = Vec::new();
        for shape in &info.input_shapes {
            buffer_of.push(blocks.len());
            blocks.push(Lifetime {
                size: shape.iter().product(),
                first: 0,
                last: 0,
            });
        }
        let mut scratch_block: Vec<Option<usize>> = vec![None; nn];
        let mut qscratch_len = 0usize;
        for (k, node) in graph.nodes.iter().enumerate() {
            let time = k + 1;
            for &s in &info.node_inputs[k] {
                let b = buffer_of[vid(s)];
                blocks[b].last = blocks[b].last.max(time);
            }
            if matches!(node.op, Op::Flatten | Op::Reshape { .. }) {
                buffer_of.push(buffer_of[vid(info.node_inputs[k][0])]);
            } else {
                buffer_of.push(blocks.len());
                blocks.push(Lifetime {
                    size: info.node_shapes[k].iter().product(),
                    first: time,
                    last: time,
                });
            }
            let x = info.shape_of(info.node_inputs[k][0]);
            // Checked: every factor fits (shape inference bounds them), but on a 32-bit
            // board the products need not; such a model is refused, not wrapped around.
            let scratch = match &node.op {
                Op::Conv1d { .. } | Op::Conv2d { .. } => {
                    Self::conv_geom(&node.op, x, &info.node_shapes[k]).scratch()
                }
                Op::Gru(r) | Op::Lstm(r) => {
                    rnn::scratch(x[0], x[1], r.hidden, node.op.gates().unwrap_or(0))
                }
                _ => Some(0),
            }
            .ok_or(LoadError::ArenaTooLarge)?;
            let p = &param_ranges[k];
            let qscratch = match (&node.op, p.first().and_then(WRef::quant_k8)) {
                (_, None) => Some(0),
                (Op::Dense { .. }, Some(k8)) => {
                    let f = *x.last().unwrap_or(&1);
                    (x.iter().product::<usize>() / f.max(1)).checked_mul(k8)
                }
                (Op::Conv1d { .. } | Op::Conv2d { .. }, Some(k8)) => {
                    quant::conv_scratch(&Self::conv_geom(&node.op, x, &info.node_shapes[k]), k8)
                }
                (Op::Gru(_) | Op::Lstm(_), Some(_)) => p.chunks_exact(4).try_fold(0, |m, d| {
                    let (ki, kh) = (d[0].quant_k8()?, d[1].quant_k8()?);
                    Some(rnn::quant_scratch(x[0], ki, kh)?.max(m))
                }),
                _ => Some(0),
            }
            .ok_or(LoadError::ArenaTooLarge)?;
            qscratch_len = qscratch_len.max(qscratch);
            if scratch > 0 {
                scratch_block[k] = Some(blocks.len());
                blocks.push(Lifetime {
                    size: scratch,
                    first: time,
                    last: time,
                });
            }
        }
        for &o in &info.outputs {
            blocks[buffer_of[vid(o)]].last = end;
        }
        let (ranges, arena_len) = plan::place(&blocks).ok_or(LoadError::ArenaTooLarge)?;
        if arena_len > deepiot_format::MAX_ELEMENTS.saturating_mul(4)
            || qscratch_len > deepiot_format::MAX_ELEMENTS.saturating_mul(4)
        {
            return Err(LoadError::ArenaTooLarge);
        }
        let range_of = |v: usize| ranges[buffer_of[v]].clone();

        let mut steps = Vec::new();
        for (k, node) in graph.nodes.iter().enumerate() {
            if matches!(node.op, Op::Flatten | Op::Reshape { .. }) {
                continue;
            }
            let x = info.shape_of(info.node_inputs[k][0]);
            let y = &info.node_shapes[k];
            let p = &param_ranges[k];
            let kernel = match &node.op {
                Op::Dense { units } => {
                    let f = *x.last().unwrap_or(&1);
                    let rows = x.iter().product::<usize>() / f.max(1);
                    Kernel::Dense {
                        rows,
                        f,
                        units: *units,
                        w: p[0].clone(),
                        b: p[1].dense(),
                    }
                }
                Op::Conv1d { .. } | Op::Conv2d { .. } => Kernel::Conv {
                    g: Self::conv_geom(&node.op, x, y),
                    w: p[0].clone(),
                    b: p[1].dense(),
                },
                Op::MaxPool1d(_) | Op::MaxPool2d(_) => {
                    Kernel::MaxPool(Self::pool_geom(&node.op, x, y))
                }
                Op::AvgPool1d(_) | Op::AvgPool2d(_) => {
                    Kernel::AvgPool(Self::pool_geom(&node.op, x, y))
                }
                Op::Relu => Kernel::Relu,
                Op::Tanh => Kernel::Tanh,
                Op::Sigmoid => Kernel::Sigmoid,
                Op::Softmax => Kernel::Softmax {
                    width: *x.last().unwrap_or(&1),
                },
                Op::Permute { perm } => {
                    let pad = 4 - x.len();
                    let mut shape = [1usize; 4];
                    let mut pp = [0usize, 1, 2, 3];
                    for (i, &d) in x.iter().enumerate() {
                        shape[pad + i] = d;
                    }
                    for (i, &a) in perm.iter().enumerate() {
                        pp[pad + i] = pad + a;
                    }
                    Kernel::Permute { shape, perm: pp }
                }
                Op::Concat { axis } => {
                    let outer: usize = y[..*axis].iter().product();
                    let out_block: usize = y[*axis..].iter().product();
                    let mut offset = 0;
                    let mut parts = Vec::new();
                    for &s in &info.node_inputs[k] {
                        let block: usize = info.shape_of(s)[*axis..].iter().product();
                        parts.push((block, offset));
                        offset += block;
                    }
                    Kernel::Concat {
                        outer,
                        out_block,
                        parts,
                    }
                }
                Op::Gru(r) | Op::Lstm(r) => {
                    let emit = match r.output {
                        SeqOutput::Sequence => Emit::Sequence,
                        SeqOutput::Last => Emit::Last,
                        SeqOutput::Mean => Emit::Mean,
                    };
                    let ndir = if r.bidirectional { 2 } else { 1 };
                    let dirs = (0..ndir)
                        .map(|d| {
                            let g = RnnGeom {
                                t: x[0],
                                f: x[1],
                                h: r.hidden,
                                gates: node.op.gates().unwrap_or(0),
                                reverse: d == 1,
                                emit,
                                out_stride: ndir * r.hidden,
                                out_offset: d * r.hidden,
                            };
                            let w = [p[4 * d].clone(), p[4 * d + 1].clone()];
                            let b = [p[4 * d + 2].dense(), p[4 * d + 3].dense()];
                            (g, w, b)
                        })
                        .collect();
                    Kernel::Rnn { dirs }
                }
                Op::Flatten | Op::Reshape { .. } => continue,
            };
            steps.push(Step {
                node: k,
                kernel,
                inputs: info.node_inputs[k]
                    .iter()
                    .map(|&s| range_of(vid(s)))
                    .collect(),
                scratch: scratch_block[k].map(|b| ranges[b].clone()).unwrap_or(0..0),
                output: range_of(ni + k),
            });
        }
        Ok(Model {
            graph: graph.clone(),
            input_shapes: info.input_shapes.clone(),
            store,
            output_shapes: info
                .outputs
                .iter()
                .map(|&o| info.shape_of(o).clone())
                .collect(),
            steps,
            input_ranges: (0..ni).map(range_of).collect(),
            output_ranges: info.outputs.iter().map(|&o| range_of(vid(o))).collect(),
            arena: vec![0.0; arena_len],
            qscratch: vec![0; qscratch_len],
            param_count: info.param_count(),
            nonzeros,
            macs: info.total_macs(graph),
        })
    }

    fn conv_geom(op: &Op, x: &Shape, y: &Shape) -> ConvGeom {
        let (c, h, w) = geom2(x);
        let (o, oh, ow) = geom2(y);
        let (kh, kw, sh, sw, ph, pw) = match op {
            Op::Conv1d {
                kernel,
                stride,
                padding,
                ..
            } => (1, *kernel, 1, *stride, 0, *padding),
            Op::Conv2d {
                kernel,
                stride,
                padding,
                ..
            } => (
                kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
            ),
            _ => (1, 1, 1, 1, 0, 0),
        };
        ConvGeom {
            c,
            h,
            w,
            o,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            oh,
            ow,
        }
    }

    fn pool_geom(op: &Op, x: &Shape, y: &Shape) -> PoolGeom {
        let (c, h, w) = geom2(x);
        let (_, oh, ow) = geom2(y);
        let (kh, kw, sh, sw) = match op {
            Op::MaxPool1d(p) | Op::AvgPool1d(p) => (1, p.kernel, 1, p.stride),
            Op::MaxPool2d(p) | Op::AvgPool2d(p) => {
                (p.kernel[0], p.kernel[1], p.stride[0], p.stride[1])
            }
            _ => (1, 1, 1, 1),
        };
        PoolGeom {
            c,
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            oh,
            ow,
        }
    }

    /// Runs a single-input, single-output model. Allocates nothing.
    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), RunError> {
        self.run_multi(&[input], &mut [output])
    }

    /// Runs the model on one example per graph input, writing every graph output.
    /// Allocates nothing.
    pub fn run_multi(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
    ) -> Result<(), RunError> {
        self.load_inputs(inputs, outputs)?;
        for step in &self.steps {
            execute(step, &self.store, &mut self.arena, &mut self.qscratch);
        }
        self.store_outputs(outputs);
        Ok(())
    }

    /// [`Model::run_multi`] with each step timed by `clock` (any monotonic nanosecond
    /// counter: the library has no clock of its own). `nanos[s]` receives step `s`'s
    /// time; [`Model::step_nodes`] says which layer each step is. Allocates nothing.
    pub fn run_profiled(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        clock: &mut dyn FnMut() -> u64,
        nanos: &mut [u64],
    ) -> Result<(), RunError> {
        if nanos.len() != self.steps.len() {
            return Err(RunError::Count {
                what: "step timing",
                expected: self.steps.len(),
                found: nanos.len(),
            });
        }
        self.load_inputs(inputs, outputs)?;
        let mut t = clock();
        for (step, n) in self.steps.iter().zip(nanos.iter_mut()) {
            execute(step, &self.store, &mut self.arena, &mut self.qscratch);
            let now = clock();
            *n = now.saturating_sub(t);
            t = now;
        }
        self.store_outputs(outputs);
        Ok(())
    }

    /// The graph node of every step, in execution order. Views (`flatten`, `reshape`)
    /// share their input's memory and have no step.
    pub fn step_nodes(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.steps.iter().map(|s| s.node)
    }

    /// Checks the lengths and copies the examples into the arena.
    fn load_inputs(&mut self, inputs: &[&[f32]], outputs: &[&mut [f32]]) -> Result<(), RunError> {
        check_lengths(
            "input",
            &self.input_ranges,
            inputs.iter().map(|s| s.len()),
            inputs.len(),
        )?;
        check_lengths(
            "output",
            &self.output_ranges,
            outputs.iter().map(|s| s.len()),
            outputs.len(),
        )?;
        for (r, x) in self.input_ranges.iter().zip(inputs) {
            self.arena[r.clone()].copy_from_slice(x);
        }
        Ok(())
    }

    fn store_outputs(&self, outputs: &mut [&mut [f32]]) {
        for (r, y) in self.output_ranges.iter().zip(outputs.iter_mut()) {
            y.copy_from_slice(&self.arena[r.clone()]);
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    pub fn input_shape(&self, i: usize) -> &[usize] {
        &self.input_shapes[i]
    }
    pub fn output_shape(&self, i: usize) -> &[usize] {
        &self.output_shapes[i]
    }
    /// Values one example of input `i` has.
    pub fn input_len(&self, i: usize) -> usize {
        self.input_ranges.get(i).map_or(0, |r| r.len())
    }
    /// Values output `i` has.
    pub fn output_len(&self, i: usize) -> usize {
        self.output_ranges.get(i).map_or(0, |r| r.len())
    }
    pub fn input_count(&self) -> usize {
        self.input_ranges.len()
    }
    pub fn output_count(&self) -> usize {
        self.output_ranges.len()
    }
    /// Bytes of decoded weights held in memory (for sparse weights: values, column
    /// indices and row pointers).
    pub fn weight_bytes(&self) -> usize {
        (self.store.weights.len() + self.store.index.len()) * 4 + self.store.qweights.len()
    }
    /// Bytes of the 16-bit activation scratch of the int8 layers (0 without them).
    pub fn qscratch_bytes(&self) -> usize {
        self.qscratch.len() * 2
    }
    /// Bytes of the activation arena (all activations and scratch, after reuse), the
    /// int8 layers' 16-bit scratch included.
    pub fn arena_bytes(&self) -> usize {
        self.arena.len() * 4 + self.qscratch.len() * 2
    }
    /// Parameters of the graph, counted dense (the same for a model's dense and sparse
    /// files, so that the two compare as one model).
    pub fn param_count(&self) -> usize {
        self.param_count
    }
    /// Weights that are not exactly zero, however they are stored: what an unstructured
    /// pruning method actually kept.
    pub fn nonzero_count(&self) -> usize {
        self.nonzeros
    }
    /// Multiply-accumulates per inference.
    pub fn macs(&self) -> u64 {
        self.macs
    }
}

fn check_lengths(
    what: &'static str,
    ranges: &[Range<usize>],
    lens: impl Iterator<Item = usize>,
    count: usize,
) -> Result<(), RunError> {
    if count != ranges.len() {
        return Err(RunError::Count {
            what,
            expected: ranges.len(),
            found: count,
        });
    }
    for (index, (r, found)) in ranges.iter().zip(lens).enumerate() {
        if r.len() != found {
            return Err(RunError::Length {
                what,
                index,
                expected: r.len(),
                found,
            });
        }
    }
    Ok(())
}

/// Runs one step. The planner guarantees that a step's input, scratch and output ranges
/// are disjoint, so the split below always succeeds; if it ever did not, the step would
/// be skipped rather than read memory it does not own.
fn execute(step: &Step, store: &Store, arena: &mut [f32], qbuf: &mut [i16]) {
    let w = |r: &Range<usize>| &store.weights[r.clone()];
    let m = |r: &WRef| store.matrix(r);
    if let Kernel::Concat {
        outer,
        out_block,
        parts,
    } = &step.kernel
    {
        for (input, &(block, offset)) in step.inputs.iter().zip(parts) {
            if let Ok([x, y]) = arena.get_disjoint_mut([input.clone(), step.output.clone()]) {
                layout::concat_part(*outer, block, *out_block, offset, x, y);
            }
        }
        return;
    }
    let Some(input) = step.inputs.first() else {
        return;
    };
    let Ok([x, scratch, y]) =
        arena.get_disjoint_mut([input.clone(), step.scratch.clone(), step.output.clone()])
    else {
        return;
    };
    let x: &[f32] = x;
    match &step.kernel {
        Kernel::Dense {
            rows,
            f,
            units,
            w: wr,
            b,
        } => match store.quant(wr) {
            Some(q) => quant::dense(*rows, x, &q, w(b), qbuf, y),
            None => m(wr).nt(*rows, *f, *units, x, w(b), y),
        },
        Kernel::Conv { g, w: wr, b } => match store.quant(wr) {
            Some(q) => quant::conv(g, x, &q, w(b), qbuf, y),
            None => conv::conv_with(g, x, m(wr), w(b), scratch, y),
        },
        Kernel::MaxPool(g) => pool::max_pool(g, x, y),
        Kernel::AvgPool(g) => pool::avg_pool(g, x, y),
        Kernel::Relu => activation::relu(x, y),
        Kernel::Tanh => activation::tanh(x, y),
        Kernel::Sigmoid => activation::sigmoid(x, y),
        Kernel::Softmax { width } => activation::softmax(*width, x, y),
        Kernel::Permute { shape, perm } => layout::permute(*shape, *perm, x, y),
        Kernel::Rnn { dirs } => {
            for (g, [wi, wh], [bi, bh]) in dirs {
                if let (Some(w_ih), Some(w_hh)) = (store.quant(wi), store.quant(wh)) {
                    let rq = RnnQuant {
                        w_ih,
                        w_hh,
                        b_ih: w(bi),
                        b_hh: w(bh),
                    };
                    rnn::run_quant(g, x, rq, scratch, qbuf, y);
                    continue;
                }
                let rw = RnnMatrices {
                    w_ih: m(wi),
                    w_hh: m(wh),
                    b_ih: w(bi),
                    b_hh: w(bh),
                };
                rnn::run_with(g, x, rw, scratch, y);
            }
        }
        Kernel::Concat { .. } => {}
    }
}
