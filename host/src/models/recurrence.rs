//! The time loop of a GRU or LSTM direction as one candle custom op with hand-written
//! backpropagation through time.
//!
//! Why: stepping a recurrence in candle ops slices the input projection once per step,
//! and candle's backward of a slice builds a zero-padded gradient of the *whole* tensor
//! and adds it up: `T` steps cost `O(T^2)` memory traffic (at 100 frames that was most
//! of a speech-model step), plus a dozen small tensors per step. Here the loop runs on
//! plain slices: the input projection of every step as one `gemm`, then per step one
//! `gemm` (`h @ W_hh^T`) and the gate arithmetic; the gates are kept for the backward
//! pass, which runs the loop in reverse with one more `gemm` per step and forms the
//! weight gradients as single `gemm`s over all steps.
//!
//! The input projection is inside the op rather than a candle matmul before it: candle
//! would keep its `[B, T, G*H]` result and, in backward, zero-fill a gradient of that
//! size and add into it, and it would compute the input's gradient even for a first
//! layer whose input is data. Likewise both biases are added here (a broadcast add costs
//! a column sum over `B*T` rows in backward).
//!
//! Inputs: `x [B, T, F]`, `[W_ih | W_hh]` side by side (`[G*H, F + H]`) and `[b_ih |
//! b_hh]` (`[2*G*H]`). Output: the hidden state of every step, `[B, T, H]`, in time order (a
//! reverse direction runs from `T-1` down to 0). Gate semantics are PyTorch's (see
//! [`super::rnn`]); an optional constant `[B, H]` 0/1 mask multiplies the state after
//! every step (the compressor's masks).
//!
//! The loops are compiled twice, for baseline x86-64 and for AVX2, and the CPU picks at
//! run time: the gate functions are SIMD loops, and 8 lanes instead of 4 cut the
//! element-wise part of the step. Both builds compute bit-identical results (no FMA
//! contraction: Rust never fuses a multiply and an add on its own).
use super::conv::{matmul, View};
use super::fastmath;
use super::kernels::f32s3;
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::{Arc, Mutex};

/// GRU or LSTM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Gru,
    Lstm,
}

impl Cell {
    pub fn gates(self) -> usize {
        match self {
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }
}

/// What the forward pass keeps for the backward pass, per processing step `s`.
#[derive(Debug, Default)]
struct Saved {
    /// GRU: `[r | z | n | W_hn h + b_hn]`; LSTM: `[i | f | g | o]`; `[T][B, 4H]`.
    gates: Vec<f32>,
    /// The (masked) hidden state before step `s` (`h_0 = 0`): `[T][B, H]`.
    h_prev: Vec<f32>,
    /// LSTM: the cell state after step `s`: `[T][B, H]`.
    c: Vec<f32>,
}

/// One direction's recurrence (see the module docs).
#[derive(Debug, Clone)]
pub struct Recurrence {
    pub cell: Cell,
    pub hidden: usize,
    pub reverse: bool,
    /// `[B, H]` 0/1 mask applied to the state after every step.
    pub mask: Option<Arc<Vec<f32>>>,
    saved: Arc<Mutex<Option<Saved>>>,
}

impl Recurrence {
    pub fn new(cell: Cell, hidden: usize, reverse: bool, mask: Option<Vec<f32>>) -> Self {
        Recurrence {
            cell,
            hidden,
            reverse,
            mask: mask.map(Arc::new),
            saved: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs the op: `x [B, T, F]`, `[W_ih | W_hh]` (`[G*H, F + H]`), `[b_ih | b_hh]` ->
    /// `[B, T, H]`.
    pub fn apply(&self, x: &Tensor, w: &Tensor, biases: &Tensor) -> Result<Tensor> {
        x.contiguous()?
            .apply_op3(&w.contiguous()?, &biases.contiguous()?, self.clone())
    }

    /// The loop itself: the output `[B, T, H]` and what backward needs.
    fn run(&self, x: &[f32], w: &[f32], bias: &[f32], dims: Dims) -> (Vec<f32>, Saved) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the one feature `run_avx2` is compiled with.
            return unsafe { self.run_avx2(x, w, bias, dims) };
        }
        self.run_any(x, w, bias, dims)
    }

    /// [`Recurrence::run_any`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, x: &[f32], w: &[f32], bias: &[f32], dims: Dims) -> (Vec<f32>, Saved) {
        self.run_any(x, w, bias, dims)
    }

    #[inline(always)]
    fn run_any(&self, x_all: &[f32], w: &[f32], bias: &[f32], dims: Dims) -> (Vec<f32>, Saved) {
        let Dims { b, t, f } = dims;
        let h = self.hidden;
        let gh_len = self.cell.gates() * h;
        let (bias_x, bias_h) = bias.split_at(gh_len);
        // Every step's input projection at once: [B*T, F] @ W_ih^T.
        let mut xp = vec![0f32; b * t * gh_len];
        matmul(
            &mut xp,
            View::row_major(x_all, b * t, f),
            View::strided(w, gh_len, f, f + h).t(),
            false,
        );
        let mut out = vec![0f32; b * t * h];
        let mut saved = Saved {
            gates: vec![0f32; t * b * 4 * h],
            h_prev: vec![0f32; t * b * h],
            c: match self.cell {
                Cell::Lstm => vec![0f32; t * b * h],
                Cell::Gru => Vec::new(),
            },
        };
        let mut hcur = vec![0f32; b * h];
        let mut ccur = vec![0f32; b * h];
        let mut gh = vec![0f32; b * gh_len];
        let mut tanh_c = vec![0f32; h];
        let w_t = View::strided(&w[f..], gh_len, h, f + h).t();
        for s in 0..t {
            let step = if self.reverse { t - 1 - s } else { s };
            saved.h_prev[s * b * h..(s + 1) * b * h].copy_from_slice(&hcur);
            matmul(&mut gh, View::row_major(&hcur, b, h), w_t, false);
            for bi in 0..b {
                let x = &xp[(bi * t + step) * gh_len..][..gh_len];
                let ghr = &mut gh[bi * gh_len..(bi + 1) * gh_len];
                for (v, bv) in ghr.iter_mut().zip(bias_h) {
                    *v += bv;
                }
                let gates = &mut saved.gates[(s * b + bi) * 4 * h..][..4 * h];
                let hb = &mut hcur[bi * h..(bi + 1) * h];
                let mask = self.mask.as_deref().map(|m| &m[bi * h..(bi + 1) * h]);
                match self.cell {
                    Cell::Gru => {
                        // Slice passes, so that the gate functions run as SIMD loops.
                        for j in 0..2 * h {
                            gates[j] = (x[j] + bias_x[j]) + ghr[j];
                        }
                        fastmath::sigmoid_slice(&mut gates[..2 * h]);
                        let (rz, rest) = gates.split_at_mut(2 * h);
                        let (n, hn) = rest.split_at_mut(h);
                        hn.copy_from_slice(&ghr[2 * h..3 * h]);
                        for j in 0..h {
                            n[j] = (x[2 * h + j] + bias_x[2 * h + j]) + rz[j] * hn[j];
                        }
                        fastmath::tanh_slice(n);
                        let z = &rz[h..];
                        for j in 0..h {
                            hb[j] = n[j] + z[j] * (hb[j] - n[j]);
                        }
                    }
                    Cell::Lstm => {
                        let cb = &mut ccur[bi * h..(bi + 1) * h];
                        for j in 0..4 * h {
                            gates[j] = (x[j] + bias_x[j]) + ghr[j];
                        }
                        fastmath::sigmoid_slice(&mut gates[..2 * h]);
                        fastmath::tanh_slice(&mut gates[2 * h..3 * h]);
                        fastmath::sigmoid_slice(&mut gates[3 * h..]);
                        let tc = &mut tanh_c[..h];
                        for j in 0..h {
                            cb[j] = gates[h + j] * cb[j] + gates[j] * gates[2 * h + j];
                            tc[j] = cb[j];
                        }
                        fastmath::tanh_slice(tc);
                        for j in 0..h {
                            hb[j] = gates[3 * h + j] * tc[j];
                        }
                        saved.c[(s * b + bi) * h..][..h].copy_from_slice(cb);
                    }
                }
                if let Some(m) = mask {
                    for (v, m) in hb.iter_mut().zip(m) {
                        *v *= m;
                    }
                }
                out[(bi * t + step) * h..][..h].copy_from_slice(hb);
            }
        }
        (out, saved)
    }
}

impl CustomOp3 for Recurrence {
    fn name(&self) -> &'static str {
        "deepiot-recurrence"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let what = "recurrence";
        let (x, w, bias) = f32s3(s1, l1, s2, l2, s3, l3, what)?;
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let &[b, t, f] = l1.dims() else {
            bail!("{what}: expects x [B, T, F], got {:?}", l1.dims())
        };
        if l2.dims() != [g, f + h] || bias.len() != 2 * g {
            bail!(
                "{what}: x {:?}, [W_ih | W_hh] {:?}, [b_ih | b_hh] {:?} do not fit hidden {h}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        if t == 0 {
            bail!("{what}: a recurrent layer needs at least one time step");
        }
        if self.mask.as_ref().is_some_and(|m| m.len() != b * h) {
            bail!("{what}: the mask must be [B, H] = [{b}, {h}]");
        }
        let (out, saved) = self.run(x, w, bias, Dims { b, t, f });
        if let Ok(mut s) = self.saved.lock() {
            *s = Some(saved);
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        biases: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, t, f) = x.dims3()?;
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let dims = Dims { b, t, f };
        let saved = match self.saved.lock() {
            Ok(mut s) => s.take(),
            Err(_) => None,
        };
        let saved = match saved {
            Some(s) => s,
            None => {
                // Not kept (e.g. a second backward): run the loop again.
                let xv: Vec<f32> = x.flatten_all()?.to_vec1()?;
                let wv: Vec<f32> = w.flatten_all()?.to_vec1()?;
                let bias: Vec<f32> = biases.flatten_all()?.to_vec1()?;
                self.run(&xv, &wv, &bias, dims).1
            }
        };
        // The input's gradient only when something upstream wants it (not for data).
        let input_grad = x.track_op();
        let back = Bptt {
            op: self.clone(),
            saved: Mutex::new(Some(saved)),
            dims,
            input_grad,
        };
        let packed =
            x.contiguous()?
                .apply_op3_no_bwd(&w.contiguous()?, &grad.contiguous()?, &back)?;
        let dx_len = if input_grad { b * t * f } else { 0 };
        let dx = match input_grad {
            true => Some(packed.narrow(0, 0, dx_len)?.reshape((b, t, f))?),
            false => None,
        };
        let dw = packed.narrow(0, dx_len, g * (f + h))?.reshape((g, f + h))?;
        let db = packed.narrow(0, dx_len + g * (f + h), 2 * g)?;
        Ok((dx, Some(dw), Some(db)))
    }
}

/// Batch, steps and input features of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    f: usize,
}

/// Backpropagation through time: `(x, [W_ih | W_hh], grad [B, T, H])` -> `[dx (when
/// asked) | d[W_ih | W_hh] | db_ih | db_hh]`.
struct Bptt {
    op: Recurrence,
    saved: Mutex<Option<Saved>>,
    dims: Dims,
    input_grad: bool,
}

impl CustomOp3 for Bptt {
    fn name(&self) -> &'static str {
        "deepiot-recurrence-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let what = "recurrence backward";
        let (x, w, grad) = f32s3(s1, l1, s2, l2, s3, l3, what)?;
        let Some(saved) = self.saved.lock().ok().and_then(|mut s| s.take()) else {
            bail!("{what}: the forward activations are gone");
        };
        let Dims { b, t, f } = self.dims;
        let h = self.op.hidden;
        let g = self.op.cell.gates() * h;
        if x.len() != b * t * f || grad.len() != b * t * h || w.len() != g * (f + h) {
            bail!("{what}: input, gradient or weight of the wrong size");
        }
        let packed = self.backward(x, w, grad, &saved);
        let n = packed.len();
        Ok((CpuStorage::F32(packed), Shape::from(n)))
    }
}

impl Bptt {
    /// The loop in reverse, then the gradients of the input and the weights.
    fn backward(&self, x: &[f32], w: &[f32], grad: &[f32], saved: &Saved) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the one feature `backward_avx2` is compiled with.
            return unsafe { self.backward_avx2(x, w, grad, saved) };
        }
        self.backward_any(x, w, grad, saved)
    }

    /// [`Bptt::backward_any`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn backward_avx2(&self, x: &[f32], w: &[f32], grad: &[f32], saved: &Saved) -> Vec<f32> {
        self.backward_any(x, w, grad, saved)
    }

    #[inline(always)]
    fn backward_any(&self, x: &[f32], w: &[f32], grad: &[f32], saved: &Saved) -> Vec<f32> {
        let Dims { b, t, f } = self.dims;
        let (h, cell) = (self.op.hidden, self.op.cell);
        let g = cell.gates() * h;
        // The gradient of every step's input projection, `[B, T, G*H]` in time order.
        let mut dxp = vec![0f32; b * t * g];
        let mut db = vec![0f32; 2 * g];
        let mut dh_next = vec![0f32; b * h];
        let mut dc_next = vec![0f32; b * h];
        // Every step's gate gradients, in processing order like `saved.h_prev`, so that
        // dW_hh is one GEMM over all steps after the loop (K = T*B) instead of T small ones.
        let mut dgh_all = vec![0f32; t * b * g];
        let zeros = vec![0f32; b * h];
        let ones = vec![1f32; h];
        let mut tanh_c = vec![0f32; h];
        let w_hh = View::strided(&w[f..], g, h, f + h);
        for s in (0..t).rev() {
            let step = if self.op.reverse { t - 1 - s } else { s };
            let h_prev = &saved.h_prev[s * b * h..(s + 1) * b * h];
            let dgh = &mut dgh_all[s * b * g..(s + 1) * b * g];
            for bi in 0..b {
                let gates = &saved.gates[(s * b + bi) * 4 * h..][..4 * h];
                let hp = &h_prev[bi * h..(bi + 1) * h];
                let dgr = &mut dgh[bi * g..(bi + 1) * g];
                let dx = &mut dxp[(bi * t + step) * g..][..g];
                let go = &grad[(bi * t + step) * h..][..h];
                // No mask multiplies by ones: the same arithmetic either way.
                let mask = match self.op.mask.as_deref() {
                    Some(m) => &m[bi * h..(bi + 1) * h],
                    None => &ones[..h],
                };
                let dhn = &mut dh_next[bi * h..(bi + 1) * h];
                // Every slice below is exactly `h` long, so the loops over `j` compile to
                // SIMD without bounds checks.
                let gate = |k: usize| &gates[k * h..(k + 1) * h];
                match cell {
                    Cell::Gru => {
                        let (r, z, n, hn) = (gate(0), gate(1), gate(2), gate(3));
                        let (dx_r, rest) = dx.split_at_mut(h);
                        let (dx_z, dx_n) = rest.split_at_mut(h);
                        let (dx_z, dx_n) = (&mut dx_z[..h], &mut dx_n[..h]);
                        let (dg_r, rest) = dgr.split_at_mut(h);
                        let (dg_z, dg_n) = rest.split_at_mut(h);
                        let (dg_z, dg_n) = (&mut dg_z[..h], &mut dg_n[..h]);
                        for j in 0..h {
                            // dL/dh (masked state) -> dL/dh_raw.
                            let dh = (go[j] + dhn[j]) * mask[j];
                            let dz = dh * (hp[j] - n[j]);
                            let dn = dh * (1.0 - z[j]);
                            let da_n = dn * (1.0 - n[j] * n[j]);
                            let da_r = da_n * hn[j] * r[j] * (1.0 - r[j]);
                            let da_z = dz * z[j] * (1.0 - z[j]);
                            dx_r[j] = da_r;
                            dx_z[j] = da_z;
                            dx_n[j] = da_n;
                            dg_r[j] = da_r;
                            dg_z[j] = da_z;
                            dg_n[j] = da_n * r[j];
                            // The direct path h_prev -> h; the W_hh path is added below.
                            dhn[j] = dh * z[j];
                        }
                    }
                    Cell::Lstm => {
                        let c = &saved.c[(s * b + bi) * h..][..h];
                        let c_prev = if s == 0 {
                            &zeros[..h]
                        } else {
                            &saved.c[((s - 1) * b + bi) * h..][..h]
                        };
                        let dcn = &mut dc_next[bi * h..(bi + 1) * h];
                        let tc = &mut tanh_c[..h];
                        tc.copy_from_slice(c);
                        fastmath::tanh_slice(tc);
                        let (i, f, gg, o) = (gate(0), gate(1), gate(2), gate(3));
                        let (dx_i, rest) = dx.split_at_mut(h);
                        let (dx_f, rest) = rest.split_at_mut(h);
                        let (dx_g, dx_o) = rest.split_at_mut(h);
                        let (dx_f, dx_g, dx_o) = (&mut dx_f[..h], &mut dx_g[..h], &mut dx_o[..h]);
                        for j in 0..h {
                            let dh = (go[j] + dhn[j]) * mask[j];
                            let d_o = dh * tc[j];
                            let dc = dh * o[j] * (1.0 - tc[j] * tc[j]) + dcn[j];
                            dx_i[j] = dc * gg[j] * i[j] * (1.0 - i[j]);
                            dx_f[j] = dc * c_prev[j] * f[j] * (1.0 - f[j]);
                            dx_g[j] = dc * i[j] * (1.0 - gg[j] * gg[j]);
                            dx_o[j] = d_o * o[j] * (1.0 - o[j]);
                            dcn[j] = dc * f[j];
                            dhn[j] = 0.0;
                        }
                        // An LSTM's gates take the same gradient through both paths.
                        dgr.copy_from_slice(dx);
                    }
                }
                let (db_x, db_h) = db.split_at_mut(g);
                for (d, v) in db_x.iter_mut().zip(dx.iter()) {
                    *d += v;
                }
                for (d, v) in db_h.iter_mut().zip(dgr.iter()) {
                    *d += v;
                }
            }
            // dh_prev += dgh @ W_hh (the recurrent path into the step before).
            matmul(&mut dh_next, View::row_major(dgh, b, g), w_hh, true);
        }
        // dW_hh = sum over steps of dgh^T @ h_prev; dW_ih = dxp^T @ x over all steps.
        let mut dw_hh = vec![0f32; g * h];
        matmul(
            &mut dw_hh,
            View::row_major(&dgh_all, t * b, g).t(),
            View::row_major(&saved.h_prev, t * b, h),
            false,
        );
        let mut dw_ih = vec![0f32; g * f];
        let dxp_rows = View::row_major(&dxp, b * t, g);
        matmul(
            &mut dw_ih,
            dxp_rows.t(),
            View::row_major(x, b * t, f),
            false,
        );
        let dx_len = if self.input_grad { b * t * f } else { 0 };
        let mut packed = vec![0f32; dx_len + g * (f + h) + 2 * g];
        let (dx, rest) = packed.split_at_mut(dx_len);
        let (dw, db_out) = rest.split_at_mut(g * (f + h));
        if self.input_grad {
            // dx = dxp @ W_ih.
            matmul(dx, dxp_rows, View::strided(w, g, f, f + h), false);
        }
        for r in 0..g {
            let row = &mut dw[r * (f + h)..(r + 1) * (f + h)];
            row[..f].copy_from_slice(&dw_ih[r * f..(r + 1) * f]);
            row[f..].copy_from_slice(&dw_hh[r * h..(r + 1) * h]);
        }
        db_out.copy_from_slice(&db);
        packed
    }
}

#[cfg(test)]
mod tests {
    use super::super::rnn::{Direction, Recurrent};
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Device, Var};
    use deepiot_format::SeqOutput;

    fn var(shape: &[usize], rng: &mut Rng, scale: f32) -> Var {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.uniform(-scale, scale)).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    use crate::models::test_util::max_diff;

    /// The fused loop and its BPTT against the same recurrence stepped in candle ops
    /// (which candle differentiates): outputs and every gradient, for GRU and LSTM, both
    /// directions, every output mode, with and without a state mask.
    #[test]
    fn fused_matches_candle_ops_forward_and_backward() {
        let (b, t, f, h) = (3, 6, 5, 4);
        for cell in [Cell::Gru, Cell::Lstm] {
            for output in [SeqOutput::Sequence, SeqOutput::Last, SeqOutput::Mean] {
                for masked in [false, true] {
                    let mut rng = Rng::new(42);
                    let g = cell.gates() * h;
                    let x = var(&[b, t, f], &mut rng, 1.0);
                    let vars: Vec<[Var; 4]> = (0..2)
                        .map(|_| {
                            [
                                var(&[g, f], &mut rng, 0.5),
                                var(&[g, h], &mut rng, 0.5),
                                var(&[g], &mut rng, 0.5),
                                var(&[g], &mut rng, 0.5),
                            ]
                        })
                        .collect();
                    let layer = Recurrent {
                        cell,
                        hidden: h,
                        output,
                        dirs: vars
                            .iter()
                            .map(|[a, b2, c, d]| Direction {
                                w_ih: a.as_tensor().clone(),
                                w_hh: b2.as_tensor().clone(),
                                b_ih: c.as_tensor().clone(),
                                b_hh: d.as_tensor().clone(),
                            })
                            .collect(),
                    };
                    let masks: Vec<Tensor> = (0..2)
                        .map(|k| {
                            let m: Vec<f32> = (0..b * h)
                                .map(|i| ((i + k) % 3 != 0) as u8 as f32)
                                .collect();
                            Tensor::from_vec(m, (b, h), &Device::Cpu).unwrap()
                        })
                        .collect();
                    let m = masked.then_some(masks.as_slice());
                    let weights = Tensor::from_vec(
                        (0..b * t * 2 * h)
                            .map(|i| (i as f32 * 0.37).sin())
                            .collect(),
                        b * t * 2 * h,
                        &Device::Cpu,
                    )
                    .unwrap();
                    let loss = |y: &Tensor| {
                        let n = y.elem_count();
                        (y.flatten_all().unwrap() * weights.narrow(0, 0, n).unwrap())
                            .unwrap()
                            .sum_all()
                            .unwrap()
                    };
                    let what = format!("{cell:?} {output:?} masked={masked}");
                    let ya = layer.forward_with(x.as_tensor(), true, m, true).unwrap();
                    let yb = layer.forward_with(x.as_tensor(), true, m, false).unwrap();
                    assert_eq!(ya.dims(), yb.dims(), "{what}");
                    assert!(max_diff(&ya, &yb) < 1e-6, "{what}: forward");
                    let ga = loss(&ya).backward().unwrap();
                    let gb = loss(&yb).backward().unwrap();
                    let mut all = vec![&x];
                    all.extend(vars.iter().flatten());
                    for (i, v) in all.into_iter().enumerate() {
                        let d = max_diff(ga.get(v).unwrap(), gb.get(v).unwrap());
                        assert!(d < 1e-5, "{what}: gradient {i} differs by {d}");
                    }
                    // A data input (no gradient wanted): the op skips the input's
                    // gradient and gives the same weight gradients.
                    let xd = x.as_tensor().detach();
                    let yd = layer.forward_with(&xd, true, m, true).unwrap();
                    let gd = loss(&yd).backward().unwrap();
                    assert!(gd.get(&xd).is_none(), "{what}: a gradient for data");
                    for (i, v) in vars.iter().flatten().enumerate() {
                        let d = max_diff(gd.get(v).unwrap(), gb.get(v).unwrap());
                        assert!(d < 1e-5, "{what}: data input, weight gradient {i}: {d}");
                    }
                }
            }
        }
    }
}
