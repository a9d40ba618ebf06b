//! A loaded model: weights decoded once, steps compiled once, one arena planned once.
use crate::kernels::conv::{self, ConvGeom};
use crate::kernels::pool::{self, PoolGeom};
use crate::kernels::rnn::{self, Emit, RnnGeom, RnnMatrices};
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
/// the weight store (values) and of the index store (column indices, row pointers).
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
}

impl WRef {
    /// The range of a tensor that is always dense (a bias): the format never stores those
    /// sparse, so the other arm is unreachable; it gives an empty range rather than a panic.
    fn dense(&self) -> Range<usize> {
        match self {
            WRef::Dense(r) => r.clone(),
            WRef::Csr { .. } => 0..0,
        }
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
    weights: Vec<f32>,
    /// Column indices and row pointers of the weights stored sparse.
    index: Vec<u32>,
    steps: Vec<Step>,
    input_ranges: Vec<Range<usize>>,
    output_ranges: Vec<Range<usize>>,
    arena: Vec<f32>,
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
        // there and their indices in a second vector.
        let mut weights = Vec::new();
        let mut index: Vec<u32> = Vec::new();
        let mut param_ranges: Vec<Vec<WRef>> = Vec::new();
        for specs in &info.params {
            let mut rs = Vec::new();
            for p in specs {
                let start = weights.len();
                if let Some(c) = file.csr(&p.name) {
                    weights.extend(c.values());
                    let i0 = index.len();
                    index.extend(c.indices());
                    let i1 = index.len();
                    index.extend(c.indptr());
                    rs.push(WRef::Csr {
                        rows: c.rows,
                        cols: c.cols,
                        values: start..weights.len(),
                        indices: i0..i1,
                        indptr: i1..index.len(),
                    });
                } else {
                    weights.resize(start + p.len(), 0.0);
                    file.read_into(&p.name, &mut weights[start..])?;
                    rs.push(WRef::Dense(start..weights.len()));
                }
            }
            param_ranges.push(rs);
        }
        weights.shrink_to_fit();
        index.shrink_to_fit();
        let nonzeros = weights.iter().filter(|&&v| v != 0.0).count();

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
        if arena_len > deepiot_format::MAX_ELEMENTS.saturating_mul(4) {
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
            output_shapes: info
                .outputs
                .iter()
                .map(|&o| info.shape_of(o).clone())
                .collect(),
            weights,
            index,
            steps,
            input_ranges: (0..ni).map(range_of).collect(),
            output_ranges: info.outputs.iter().map(|&o| range_of(vid(o))).collect(),
            arena: vec![0.0; arena_len],
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
            execute(step, &self.weights, &self.index, &mut self.arena);
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
            execute(step, &self.weights, &self.index, &mut self.arena);
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
        (self.weights.len() + self.index.len()) * 4
    }
    /// Bytes of the activation arena (all activations and scratch, after reuse).
    pub fn arena_bytes(&self) -> usize {
        self.arena.len() * 4
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
fn execute(step: &Step, weights: &[f32], index: &[u32], arena: &mut [f32]) {
    let w = |r: &Range<usize>| &weights[r.clone()];
    let m = |r: &WRef| match r {
        WRef::Dense(r) => Matrix::Dense(&weights[r.clone()]),
        WRef::Csr {
            rows,
            cols,
            values,
            indices,
            indptr,
        } => Matrix::Csr(CsrView {
            rows: *rows,
            cols: *cols,
            indptr: &index[indptr.clone()],
            indices: &index[indices.clone()],
            values: &weights[values.clone()],
        }),
    };
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
        } => m(wr).nt(*rows, *f, *units, x, w(b), y),
        Kernel::Conv { g, w: wr, b } => conv::conv_with(g, x, m(wr), w(b), scratch, y),
        Kernel::MaxPool(g) => pool::max_pool(g, x, y),
        Kernel::AvgPool(g) => pool::avg_pool(g, x, y),
        Kernel::Relu => activation::relu(x, y),
        Kernel::Tanh => activation::tanh(x, y),
        Kernel::Sigmoid => activation::sigmoid(x, y),
        Kernel::Softmax { width } => activation::softmax(*width, x, y),
        Kernel::Permute { shape, perm } => layout::permute(*shape, *perm, x, y),
        Kernel::Rnn { dirs } => {
            for (g, [wi, wh], [bi, bh]) in dirs {
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
