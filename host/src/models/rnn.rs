//! GRU and LSTM layers in candle ops, with PyTorch's gate semantics.
//!
//! candle-nn's `rnn` module steps one example-batch at a time with its input projection
//! inside the loop and has no bidirectional mode. Here the input projection of every step
//! (and both gate halves) is one matmul over `[B*T, F]`; the loop only does the recurrent
//! `h @ W_hh^T` and the element-wise gates.
//!
//! - GRU, rows `r, z, n`: `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z` likewise,
//!   `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 - z) ⊙ n + z ⊙ h`.
//! - LSTM, rows `i, f, g, o`: `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')`.
//! - Zero initial state. Bidirectional = `[forward, backward]` on the feature axis;
//!   `Last` is each direction's final state (`h_n`: the backward direction's final state is
//!   at time step 0); `Mean` is the mean of the sequence output over time.
pub use super::recurrence::Cell;
use super::recurrence::Recurrence;
use candle_core::{Result, Tensor};
use candle_nn::ops::sigmoid;
use deepiot_format::SeqOutput;

/// The four tensors of one direction.
#[derive(Debug, Clone)]
pub struct Direction {
    pub w_ih: Tensor,
    pub w_hh: Tensor,
    pub b_ih: Tensor,
    pub b_hh: Tensor,
}

impl Direction {
    fn detach(&self) -> Direction {
        Direction {
            w_ih: self.w_ih.detach(),
            w_hh: self.w_hh.detach(),
            b_ih: self.b_ih.detach(),
            b_hh: self.b_hh.detach(),
        }
    }
}

/// One recurrent layer over `[B, T, F]`.
#[derive(Debug, Clone)]
pub struct Recurrent {
    pub cell: Cell,
    pub hidden: usize,
    pub output: SeqOutput,
    /// Forward, then (when bidirectional) backward.
    pub dirs: Vec<Direction>,
}

impl Recurrent {
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_masked(x, train, None)
    }

    /// Like [`Recurrent::forward`], with a `[B, H]` 0/1 mask per direction multiplied into
    /// the state at every step: a masked unit feeds nothing back and outputs nothing.
    pub fn forward_masked(
        &self,
        x: &Tensor,
        train: bool,
        masks: Option<&[Tensor]>,
    ) -> Result<Tensor> {
        self.forward_with(x, train, masks, true)
    }

    /// `fused`: run each direction's time loop as one op with hand-written BPTT
    /// ([`super::recurrence`]); otherwise step it in candle ops (slower; kept for
    /// comparison and for masks that need a gradient).
    pub fn forward_with(
        &self,
        x: &Tensor,
        train: bool,
        masks: Option<&[Tensor]>,
        fused: bool,
    ) -> Result<Tensor> {
        let (b, t, f) = x.dims3()?;
        let x2 = x.reshape((b * t, f))?;
        let mut seqs = Vec::with_capacity(self.dirs.len());
        let mut lasts = Vec::with_capacity(self.dirs.len());
        let h = self.hidden;
        for (k, dir) in self.dirs.iter().enumerate() {
            let dir = if train { dir.clone() } else { dir.detach() };
            let g = self.cell.gates() * h;
            let reverse = k == 1;
            let mask = masks.and_then(|m| m.get(k));
            if fused && mask.is_none_or(|m| !m.track_op()) {
                let mask = match mask {
                    Some(m) => Some(m.broadcast_as((b, h))?.flatten_all()?.to_vec1::<f32>()?),
                    None => None,
                };
                let op = Recurrence::new(self.cell, h, reverse, mask);
                // The op takes the input projection and both biases in (see its docs).
                let w = Tensor::cat(&[&dir.w_ih, &dir.w_hh], 1)?;
                let biases = Tensor::cat(&[&dir.b_ih, &dir.b_hh], 0)?;
                let hs = op.apply(x, &w, &biases)?;
                // The last state: time T-1 forward, time 0 backward.
                let at = if reverse { 0 } else { t - 1 };
                lasts.push(hs.narrow(1, at, 1)?.squeeze(1)?);
                seqs.push(hs);
                continue;
            }
            // Every step's input projection at once: [B*T, F] @ [F, G*H].
            let xp = x2.matmul(&dir.w_ih.t()?)?.broadcast_add(&dir.b_ih)?;
            let xp = xp.reshape((b, t, g))?.transpose(0, 1)?.contiguous()?; // [T, B, G*H]
            let (hs, last) = self.run(&dir, &xp, reverse, mask)?;
            if self.output != SeqOutput::Last {
                // hs is in processing order; put it back in time order.
                let hs: Vec<Tensor> = if reverse {
                    hs.into_iter().rev().collect()
                } else {
                    hs
                };
                seqs.push(Tensor::stack(&hs, 1)?);
            }
            lasts.push(last);
        }
        match self.output {
            SeqOutput::Last => Tensor::cat(&lasts, 1),
            SeqOutput::Sequence => Tensor::cat(&seqs, 2),
            SeqOutput::Mean => Tensor::cat(&seqs, 2)?.mean(1),
        }
    }

    /// Steps one direction; returns every hidden state (processing order) and the last.
    fn run(
        &self,
        dir: &Direction,
        xp: &Tensor,
        reverse: bool,
        mask: Option<&Tensor>,
    ) -> Result<(Vec<Tensor>, Tensor)> {
        let (t, _, _) = xp.dims3()?;
        let h = self.hidden;
        let w_hh_t = dir.w_hh.t()?;
        let mut hs: Vec<Tensor> = Vec::with_capacity(t);
        let mut state: Option<(Tensor, Option<Tensor>)> = None; // (h, c)
        for s in 0..t {
            let step = if reverse { t - 1 - s } else { s };
            let gx = xp.get(step)?;
            // The recurrent projection; with the zero initial state it is just the bias.
            let gh = match &state {
                Some((hp, _)) => hp.matmul(&w_hh_t)?.broadcast_add(&dir.b_hh)?,
                None => dir.b_hh.unsqueeze(0)?.broadcast_as(gx.shape())?,
            };
            let (hn, cn) = match self.cell {
                Cell::Gru => {
                    let rz = sigmoid(&(gx.narrow(1, 0, 2 * h)? + gh.narrow(1, 0, 2 * h)?)?)?;
                    let (r, z) = (rz.narrow(1, 0, h)?, rz.narrow(1, h, h)?);
                    let n = (gx.narrow(1, 2 * h, h)? + (r * gh.narrow(1, 2 * h, h)?)?)?.tanh()?;
                    let hn = match &state {
                        // h' = (1 - z) n + z h = n + z (h - n)
                        Some((hp, _)) => (&n + (z * (hp - &n)?)?)?,
                        None => (&n - (z * &n)?)?,
                    };
                    (hn, None)
                }
                Cell::Lstm => {
                    let gates = (gx + gh)?;
                    let ifg = sigmoid(&gates.narrow(1, 0, 2 * h)?)?;
                    let (i, f) = (ifg.narrow(1, 0, h)?, ifg.narrow(1, h, h)?);
                    let g = gates.narrow(1, 2 * h, h)?.tanh()?;
                    let o = sigmoid(&gates.narrow(1, 3 * h, h)?)?;
                    let c = match &state {
                        Some((_, Some(cp))) => ((f * cp)? + (i * g)?)?,
                        _ => (i * g)?,
                    };
                    ((o * c.tanh()?)?, Some(c))
                }
            };
            let hn = match mask {
                Some(m) => hn.mul(m)?,
                None => hn,
            };
            hs.push(hn.clone());
            state = Some((hn, cn));
        }
        let last = match state {
            Some((h, _)) => h,
            None => candle_core::bail!("a recurrent layer needs at least one time step"),
        };
        Ok((hs, last))
    }
}
