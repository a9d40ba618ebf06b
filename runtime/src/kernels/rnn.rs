//! GRU and LSTM over a `[t, f]` sequence, one direction per call, zero initial state.
//! The input projection of all steps is one matrix product; each step then adds the
//! recurrent product and applies the gates (PyTorch gate order and semantics).
use super::activation::{sigmoid1, tanh1};
use super::gemm::{gemm_panels_t, rows_to_panels};
use super::quant::{qgemm, quantize_rows, QMatrix, QRows};
use super::sparse::Matrix;

/// What a direction writes into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Every step's state at row `t`.
    Sequence,
    /// The state after the last processed step.
    Last,
    /// The mean of all steps' states.
    Mean,
}

/// Shape of one recurrent direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RnnGeom {
    pub t: usize,
    pub f: usize,
    pub h: usize,
    /// 3 for GRU, 4 for LSTM.
    pub gates: usize,
    /// Process steps from last to first (the backward half of a bidirectional layer).
    pub reverse: bool,
    pub emit: Emit,
    /// Floats between consecutive output rows (the full width of a bidirectional output).
    pub out_stride: usize,
    /// Where this direction's values start within an output row.
    pub out_offset: usize,
}

impl RnnGeom {
    /// Scratch floats: see [`scratch`].
    pub fn scratch(&self) -> usize {
        scratch(self.t, self.f, self.h, self.gates).unwrap_or(usize::MAX)
    }
}

/// Scratch floats of one direction: input projections of all steps, recurrent
/// projection, h and c, then the steps as column panels for the projection's register
/// tile (three more to align them). `None` if that does not fit in `usize`.
pub fn scratch(t: usize, f: usize, h: usize, gates: usize) -> Option<usize> {
    let gh = gates.checked_mul(h)?;
    t.checked_mul(gh)?
        .checked_add(gh)?
        .checked_add(h.checked_mul(2)?)?
        .checked_add(f.checked_mul(t.checked_next_multiple_of(super::tile::NR)?)?)?
        .checked_add(3)
}

/// Weights of one direction (PyTorch layout).
#[derive(Clone, Copy)]
pub struct RnnWeights<'a> {
    pub w_ih: &'a [f32],
    pub w_hh: &'a [f32],
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

/// Runs one direction; `out` is the layer's whole output (shared by both directions).
pub fn run(g: &RnnGeom, x: &[f32], w: RnnWeights<'_>, scratch: &mut [f32], out: &mut [f32]) {
    let m = RnnMatrices {
        w_ih: Matrix::Dense(w.w_ih),
        w_hh: Matrix::Dense(w.w_hh),
        b_ih: w.b_ih,
        b_hh: w.b_hh,
    };
    run_with(g, x, m, scratch, out);
}

/// Weights of one direction: matrices that may each be dense or sparse ([`Matrix`]), or
/// both int8 ([`RnnQuant`]).
#[derive(Clone, Copy)]
pub struct RnnMatrices<'a, M = Matrix<'a>> {
    pub w_ih: M,
    pub w_hh: M,
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

/// [`run`] with [`RnnMatrices`]: the same recurrence whatever the weights' storage.
pub fn run_with(g: &RnnGeom, x: &[f32], w: RnnMatrices<'_>, scratch: &mut [f32], out: &mut [f32]) {
    let gh = g.gates * g.h;
    let (xg, state, panels) = split(g, scratch);
    match w.w_ih {
        // All steps' input projections as one tiled product, `W_ih · xᵀ`, written
        // transposed so that each step's gates sit side by side.
        Matrix::Dense(w_ih) if g.t > 1 => {
            let shift = panels.as_ptr().align_offset(16).min(3);
            let panels = &mut panels[shift..];
            rows_to_panels(g.t, g.f, x, panels);
            gemm_panels_t(gh, g.f, g.t, w_ih, panels, w.b_ih, xg);
        }
        _ => w.w_ih.nt(g.t, g.f, gh, x, w.b_ih, xg),
    }
    recur(g, xg, state, out, |h, hg| {
        hg.copy_from_slice(w.b_hh);
        w.w_hh.gemv_acc(g.h, gh, h, hg);
    });
}

/// Weights of one direction stored int8 (see [`super::quant`]).
pub type RnnQuant<'a> = RnnMatrices<'a, QMatrix<'a>>;

/// 16-bit values [`run_quant`] needs: the quantized sequence, or one quantized state.
pub fn quant_scratch(t: usize, w_ih_k8: usize, w_hh_k8: usize) -> Option<usize> {
    Some(t.checked_mul(w_ih_k8)?.max(w_hh_k8))
}

/// [`run`] with int8 weights: the input projection of all steps is one quantized product;
/// each step quantizes its state (16 bits, its own scale) for the recurrent one. The gates
/// and the cell stay f32. `qbuf` has [`quant_scratch`] values.
pub fn run_quant(
    g: &RnnGeom,
    x: &[f32],
    w: RnnQuant<'_>,
    scratch: &mut [f32],
    qbuf: &mut [i16],
    out: &mut [f32],
) {
    let gh = g.gates * g.h;
    let (xg, state, _) = split(g, scratch);
    let (wi, wh) = (&w.w_ih, &w.w_hh);
    let scale = quantize_rows(g.t, g.f, wi.k8, wi.levels, x, qbuf);
    let rows = QRows {
        q: qbuf,
        stride: wi.k8,
        scale,
    };
    qgemm(g.t, rows, wi, w.b_ih, xg, [gh, 1]);
    recur(g, xg, state, out, |h, hg| {
        let scale = quantize_rows(1, g.h, wh.k8, wh.levels, h, qbuf);
        let rows = QRows {
            q: qbuf,
            stride: wh.k8,
            scale,
        };
        qgemm(1, rows, wh, w.b_hh, hg, [gh, 1]);
    });
}

/// The scratch of one direction: input projections of all steps, then the state (the
/// recurrent projection, h and c), then the rest (the steps as column panels).
fn split<'s>(g: &RnnGeom, scratch: &'s mut [f32]) -> (&'s mut [f32], &'s mut [f32], &'s mut [f32]) {
    let gh = g.gates * g.h;
    let (xg, rest) = scratch.split_at_mut(g.t * gh);
    let (state, panels) = rest.split_at_mut(gh + 2 * g.h);
    (xg, state, panels)
}

/// The steps, given every step's input projection `xg`: `recurrent(h, hg)` writes the
/// recurrent projection of state `h` (biases included) into `hg`.
fn recur(
    g: &RnnGeom,
    xg: &[f32],
    state: &mut [f32],
    out: &mut [f32],
    mut recurrent: impl FnMut(&[f32], &mut [f32]),
) {
    let gh = g.gates * g.h;
    let (hg, rest) = state.split_at_mut(gh);
    let (h, c) = rest.split_at_mut(g.h);
    h.fill(0.0);
    c.fill(0.0);
    if g.emit == Emit::Mean {
        out[g.out_offset..][..g.h].fill(0.0);
    }
    for s in 0..g.t {
        let t = if g.reverse { g.t - 1 - s } else { s };
        recurrent(h, hg);
        let xt = &xg[t * gh..(t + 1) * gh];
        if g.gates == 3 {
            gru_gates(g.h, xt, hg, h);
        } else {
            lstm_gates(g.h, xt, hg, h, c);
        }
        match g.emit {
            Emit::Sequence => out[t * g.out_stride + g.out_offset..][..g.h].copy_from_slice(h),
            Emit::Mean => {
                for (o, &v) in out[g.out_offset..][..g.h].iter_mut().zip(h.iter()) {
                    *o += v;
                }
            }
            Emit::Last => {}
        }
    }
    match g.emit {
        Emit::Last => out[g.out_offset..][..g.h].copy_from_slice(h),
        Emit::Mean => {
            let inv = 1.0 / g.t as f32;
            for o in &mut out[g.out_offset..][..g.h] {
                *o *= inv;
            }
        }
        Emit::Sequence => {}
    }
}

/// `h' = (1 - z) * n + z * h`, `n = tanh(x_n + r * (W_hn h + b_hn))`.
fn gru_gates(hn: usize, xt: &[f32], hg: &[f32], h: &mut [f32]) {
    for j in 0..hn {
        let r = sigmoid1(xt[j] + hg[j]);
        let z = sigmoid1(xt[hn + j] + hg[hn + j]);
        let n = tanh1(xt[2 * hn + j] + r * hg[2 * hn + j]);
        h[j] = (1.0 - z) * n + z * h[j];
    }
}

/// `c' = f * c + i * g`, `h' = o * tanh(c')`.
fn lstm_gates(hn: usize, xt: &[f32], hg: &[f32], h: &mut [f32], c: &mut [f32]) {
    for j in 0..hn {
        let i = sigmoid1(xt[j] + hg[j]);
        let f = sigmoid1(xt[hn + j] + hg[hn + j]);
        let gg = tanh1(xt[2 * hn + j] + hg[2 * hn + j]);
        let o = sigmoid1(xt[3 * hn + j] + hg[3 * hn + j]);
        c[j] = f * c[j] + i * gg;
        h[j] = o * tanh1(c[j]);
    }
}
