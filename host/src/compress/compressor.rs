//! The compressor: a small LSTM that reads every compressible layer's weights, one step
//! per mask group in graph order, and outputs each element's keep probability; trained
//! with REINFORCE against the network's own loss.
//!
//! Step `l` views group `l`'s weights as `M_l` (`fan_in x n_l`), compresses it to
//! `x_l = a_l M_l B_l` (`1 x d`), feeds it to an LSTM cell shared across layers (its state
//! carries from layer to layer: the global view), and reads `p_l = sigmoid(h_l O_l + c_l)`.
//! The bias `c_l` (not in the paper) starts at the logit of the initial keep probability,
//! which the reference code sets high (0.8 for convolutions, 0.5 for the rest).
use crate::rng::Rng;
use candle_core::{DType, Device, Result, Tensor, Var, D};

/// Parameters of one group's projections.
struct Projection {
    a: Var,
    b: Var,
    o: Var,
    c: Var,
}

/// The compressor network and its optimiser state.
pub struct Compressor {
    d: usize,
    w_ih: Var,
    w_hh: Var,
    bias: Var,
    layers: Vec<Projection>,
    rms: RmsProp,
}

fn glorot(rng: &mut Rng, rows: usize, cols: usize, dev: &Device) -> Result<Var> {
    // std sqrt(2 / (fan_in + fan_out)), as the reference code initialises.
    let std = (2.0 / (rows + cols) as f32).sqrt();
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.normal() * std).collect();
    Var::from_tensor(&Tensor::from_vec(v, (rows, cols), dev)?)
}

impl Compressor {
    /// `fan_ins[l]` and `widths[l]` give `M_l`'s shape; `p0[l]` the initial keep
    /// probability of group `l`; `d` the LSTM width (64 in the reference code).
    pub fn new(
        fan_ins: &[usize],
        widths: &[usize],
        p0: &[f32],
        d: usize,
        lr: f64,
        seed: u64,
    ) -> Result<Self> {
        let dev = Device::Cpu;
        let mut rng = Rng::derive(seed, 0xC0);
        let w_ih = glorot(&mut rng, 4 * d, d, &dev)?;
        let w_hh = glorot(&mut rng, 4 * d, d, &dev)?;
        let bias = Var::from_tensor(&Tensor::zeros(4 * d, DType::F32, &dev)?)?;
        let mut layers = Vec::new();
        for ((&f, &n), &p) in fan_ins.iter().zip(widths).zip(p0) {
            let logit = (p / (1.0 - p)).ln();
            layers.push(Projection {
                a: glorot(&mut rng, 1, f, &dev)?,
                b: glorot(&mut rng, n, d, &dev)?,
                o: glorot(&mut rng, d, n, &dev)?,
                c: Var::from_tensor(&Tensor::full(logit, n, &dev)?)?,
            });
        }
        let mut vars = vec![w_ih.clone(), w_hh.clone(), bias.clone()];
        for l in &layers {
            vars.extend([l.a.clone(), l.b.clone(), l.o.clone(), l.c.clone()]);
        }
        Ok(Compressor {
            d,
            w_ih,
            w_hh,
            bias,
            layers,
            rms: RmsProp::new(vars, lr)?,
        })
    }

    /// Raw keep probabilities of every group (each `[n_l]`), from the current weight views
    /// `mats[l]` (`n_l x fan_in`, detached from the critic).
    pub fn probabilities(&self, mats: &[Tensor]) -> Result<Vec<Tensor>> {
        let dev = Device::Cpu;
        let mut h = Tensor::zeros((1, self.d), DType::F32, &dev)?;
        let mut c = h.clone();
        let mut out = Vec::with_capacity(mats.len());
        for (proj, m) in self.layers.iter().zip(mats) {
            let x = proj
                .a
                .as_tensor()
                .matmul(&m.t()?)?
                .matmul(proj.b.as_tensor())?; // [1, d]
            let gates = x
                .matmul(&self.w_ih.as_tensor().t()?)?
                .add(&h.matmul(&self.w_hh.as_tensor().t()?)?)?
                .broadcast_add(self.bias.as_tensor())?;
            let chunks = gates.chunk(4, D::Minus1)?;
            let i = candle_nn::ops::sigmoid(&chunks[0])?;
            let f = candle_nn::ops::sigmoid(&chunks[1])?;
            let g = chunks[2].tanh()?;
            let o = candle_nn::ops::sigmoid(&chunks[3])?;
            c = f.mul(&c)?.add(&i.mul(&g)?)?;
            h = o.mul(&c.tanh()?)?;
            let logits = h
                .matmul(proj.o.as_tensor())?
                .squeeze(0)?
                .add(proj.c.as_tensor())?;
            out.push(candle_nn::ops::sigmoid(&logits)?);
        }
        Ok(out)
    }

    fn named(&self) -> Vec<(String, &Var)> {
        let mut v = vec![
            ("w_ih".to_string(), &self.w_ih),
            ("w_hh".to_string(), &self.w_hh),
            ("bias".to_string(), &self.bias),
        ];
        for (l, p) in self.layers.iter().enumerate() {
            v.extend([
                (format!("{l}.a"), &p.a),
                (format!("{l}.b"), &p.b),
                (format!("{l}.o"), &p.o),
                (format!("{l}.c"), &p.c),
            ]);
        }
        v
    }

    /// The parameters by name, and RMSProp's running mean squares as `rms.NAME`: all a
    /// checkpoint needs to continue exactly.
    pub fn state(&self) -> Result<std::collections::HashMap<String, Tensor>> {
        let mut map = std::collections::HashMap::new();
        for ((n, v), sq) in self.named().into_iter().zip(&self.rms.sq) {
            map.insert(format!("rms.{n}"), sq.copy()?);
            map.insert(n, v.as_tensor().copy()?);
        }
        Ok(map)
    }

    /// Puts back what [`Compressor::state`] saved, for the same layer shapes.
    pub fn restore(&mut self, map: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        let get = |n: &str, dims: &[usize]| -> Result<Tensor> {
            let t = map.get(n).ok_or_else(|| {
                candle_core::Error::Msg(format!("compressor checkpoint lacks `{n}`"))
            })?;
            if t.dims() != dims {
                candle_core::bail!(
                    "compressor checkpoint `{n}` has shape {:?}, expected {:?}",
                    t.dims(),
                    dims
                );
            }
            Ok(t.clone())
        };
        let named: Vec<(String, Var)> = self
            .named()
            .into_iter()
            .map(|(n, v)| (n, v.clone()))
            .collect();
        for ((n, v), sq) in named.iter().zip(self.rms.sq.iter_mut()) {
            v.set(&get(n, v.dims())?)?;
            *sq = get(&format!("rms.{n}"), v.dims())?;
        }
        Ok(())
    }

    /// One RMSProp step on the REINFORCE objective (see [`reinforce_objective`]).
    pub fn step(&mut self, objective: &Tensor) -> Result<()> {
        let grads = objective.backward()?;
        self.rms.step(&grads)
    }
}

/// The surrogate whose gradient is the REINFORCE estimate of the gradient of the expected
/// loss: `mean_i[ score_i * adv_i ]`, with `score_i = sum_j log(p_j z_ij + (1-p_j)(1-z_ij))`
/// over every masked element and `adv_i` the example's normalised advantage (a constant).
///
/// `probs[l]` is `[n_l]` (differentiable), `masks[l]` `[B, n_l]` of 0/1 samples, `adv`
/// `[B]`.
pub fn reinforce_objective(probs: &[Tensor], masks: &[Tensor], adv: &Tensor) -> Result<Tensor> {
    let mut score: Option<Tensor> = None;
    for (p, z) in probs.iter().zip(masks) {
        let p = p.clamp(1e-6f32, 1.0 - 1e-6)?.unsqueeze(0)?; // [1, n]
        let like = z
            .broadcast_mul(&p)?
            .add(&z.affine(-1.0, 1.0)?.broadcast_mul(&p.affine(-1.0, 1.0)?)?)?;
        let s = like.log()?.sum(1)?; // [B]
        score = Some(match score {
            None => s,
            Some(acc) => acc.add(&s)?,
        });
    }
    match score {
        Some(s) => s.mul(adv)?.mean_all(),
        None => Tensor::new(0f32, &Device::Cpu),
    }
}

/// The moving-average baseline and scale of the loss (reference: decay 0.9, averaging
/// the batch standard deviation).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub mean: f64,
    pub std: f64,
    pub decay: f64,
    started: bool,
}

impl Baseline {
    pub fn new(decay: f64) -> Self {
        Baseline {
            mean: 0.0,
            std: 0.0,
            decay,
            started: false,
        }
    }

    /// Updates with a batch of per-example losses and returns their advantages
    /// `(L_i - c) / max(1, s)`.
    pub fn advantages(&mut self, losses: &[f32]) -> Vec<f32> {
        let n = losses.len().max(1) as f64;
        let m = losses.iter().map(|&l| l as f64).sum::<f64>() / n;
        let sd = (losses.iter().map(|&l| (l as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
        if self.started {
            self.mean = self.decay * self.mean + (1.0 - self.decay) * m;
            self.std = self.decay * self.std + (1.0 - self.decay) * sd;
        } else {
            (self.mean, self.std, self.started) = (m, sd, true);
        }
        let scale = self.std.max(1.0);
        losses
            .iter()
            .map(|&l| ((l as f64 - self.mean) / scale) as f32)
            .collect()
    }
}

/// RMSProp (decay 0.9). The running mean square is floored at 1e-20: elements the
/// compressor has driven out get vanishing gradients, and a mean square decaying into
/// subnormal floats made every step 2.2x slower in the reference re-implementation.
struct RmsProp {
    vars: Vec<Var>,
    sq: Vec<Tensor>,
    lr: f64,
}

impl RmsProp {
    fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        let sq = vars
            .iter()
            .map(|v| v.as_tensor().zeros_like())
            .collect::<Result<_>>()?;
        Ok(RmsProp { vars, sq, lr })
    }

    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> Result<()> {
        for (v, sq) in self.vars.iter().zip(self.sq.iter_mut()) {
            let Some(g) = grads.get(v) else { continue };
            *sq = sq
                .affine(0.9, 0.0)?
                .add(&g.sqr()?.affine(0.1, 0.0)?)?
                .maximum(1e-20f32)?
                // Gradients carry their backward graph: a running average built on them
                // without detaching kept every iteration's graph alive (4 MB per step).
                .detach();
            let update = g
                .div(&sq.sqrt()?.affine(1.0, 1e-8)?)?
                .affine(self.lr, 0.0)?;
            v.set(&v.as_tensor().sub(&update)?)?;
        }
        Ok(())
    }
}

/// Soft deletion with compounding: an element whose raw keep probability stays below
/// tau has it multiplied by gamma once more for every consecutive iteration, so it decays
/// geometrically and smoothly instead of swinging around tau.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SoftDeletion {
    pub gamma: f64,
    /// Consecutive iterations below tau, per group and element.
    pub below: Vec<Vec<u32>>,
}

/// Past this many halvings an element is gone for good (gamma^60 < 1e-18); capping keeps
/// the factor far from subnormal floats.
const MAX_BELOW: u32 = 60;

impl SoftDeletion {
    pub fn new(gamma: f64, widths: &[usize]) -> Self {
        SoftDeletion {
            gamma,
            below: widths.iter().map(|&n| vec![0; n]).collect(),
        }
    }

    /// Updates the counters from the raw probabilities and returns the factors that turn
    /// raw into effective probabilities (`[n_l]` each).
    pub fn update(&mut self, raw: &[Vec<f32>], tau: f64) -> Vec<Vec<f32>> {
        self.below
            .iter_mut()
            .zip(raw)
            .map(|(counts, p)| {
                counts
                    .iter_mut()
                    .zip(p)
                    .map(|(k, &p)| {
                        *k = if (p as f64) < tau {
                            (*k + 1).min(MAX_BELOW)
                        } else {
                            0
                        };
                        self.gamma.powi(*k as i32) as f32
                    })
                    .collect()
            })
            .collect()
    }

    /// The current factors without updating.
    pub fn factors(&self) -> Vec<Vec<f32>> {
        self.below
            .iter()
            .map(|c| {
                c.iter()
                    .map(|&k| self.gamma.powi(k as i32) as f32)
                    .collect()
            })
            .collect()
    }
}

/// Samples `[batch, n]` 0/1 masks from keep probabilities `p` (`n` values).
pub fn sample_masks(p: &[f32], batch: usize, rng: &mut Rng) -> Vec<f32> {
    let mut z = Vec::with_capacity(batch * p.len());
    for _ in 0..batch {
        z.extend(
            p.iter()
                .map(|&q| if rng.next_f32() < q { 1.0 } else { 0.0 }),
        );
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a toy problem with a known gradient (L(z) = sum_j c_j z_j, p_j = sigmoid(t_j):
    /// dE/dt_j = c_j p_j (1 - p_j)), the estimator's average over many samples matches.
    #[test]
    fn reinforce_matches_the_exact_gradient_on_a_toy_problem() {
        let dev = Device::Cpu;
        let c = [1.0f32, -2.0, 0.5, 0.0];
        let t = Var::from_tensor(&Tensor::new(&[0.3f32, -0.4, 1.2, 0.0], &dev).unwrap()).unwrap();
        let p = candle_nn::ops::sigmoid(t.as_tensor()).unwrap();
        let pv: Vec<f32> = p.to_vec1().unwrap();
        let mut rng = Rng::new(11);
        let batch = 200_000;
        let z = sample_masks(&pv, batch, &mut rng);
        let losses: Vec<f32> = z
            .chunks(4)
            .map(|zi| zi.iter().zip(&c).map(|(a, b)| a * b).sum())
            .collect();
        // A constant baseline keeps the estimator unbiased.
        let mean = losses.iter().sum::<f32>() / batch as f32;
        let adv: Vec<f32> = losses.iter().map(|l| l - mean).collect();
        let zt = Tensor::from_vec(z, (batch, 4), &dev).unwrap();
        let at = Tensor::from_vec(adv, batch, &dev).unwrap();
        let obj = reinforce_objective(std::slice::from_ref(&p), &[zt], &at).unwrap();
        let g: Vec<f32> = obj.backward().unwrap().get(&t).unwrap().to_vec1().unwrap();
        for j in 0..4 {
            let exact = c[j] * pv[j] * (1.0 - pv[j]);
            assert!(
                (g[j] - exact).abs() < 0.01,
                "element {j}: estimate {} vs exact {exact}",
                g[j]
            );
        }
    }

    /// Descending the estimate drives each keep probability to the known optimum: keep the
    /// elements whose presence lowers the loss, drop the others.
    #[test]
    fn reinforce_descent_finds_the_optimum() {
        let dev = Device::Cpu;
        let c = [1.0f32, -1.0, 0.8, -0.6];
        let t = Var::from_tensor(&Tensor::zeros(4, DType::F32, &dev).unwrap()).unwrap();
        let mut rms = RmsProp::new(vec![t.clone()], 0.05).unwrap();
        let mut base = Baseline::new(0.9);
        let mut rng = Rng::new(5);
        for _ in 0..300 {
            let p = candle_nn::ops::sigmoid(t.as_tensor()).unwrap();
            let pv: Vec<f32> = p.to_vec1().unwrap();
            let z = sample_masks(&pv, 64, &mut rng);
            let losses: Vec<f32> = z
                .chunks(4)
                .map(|zi| zi.iter().zip(&c).map(|(a, b)| a * b).sum())
                .collect();
            let adv = base.advantages(&losses);
            let obj = reinforce_objective(
                &[p],
                &[Tensor::from_vec(z, (64, 4), &dev).unwrap()],
                &Tensor::from_vec(adv, 64, &dev).unwrap(),
            )
            .unwrap();
            rms.step(&obj.backward().unwrap()).unwrap();
        }
        let p: Vec<f32> = candle_nn::ops::sigmoid(t.as_tensor())
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(p[0] < 0.1 && p[2] < 0.1, "costly elements kept: {p:?}");
        assert!(p[1] > 0.9 && p[3] > 0.9, "useful elements dropped: {p:?}");
    }

    #[test]
    fn compounding_deletion_decays_geometrically_and_resets() {
        let mut sd = SoftDeletion::new(0.5, &[2]);
        for _ in 0..3 {
            sd.update(&[vec![0.1, 0.9]], 0.5);
        }
        assert_eq!(sd.factors()[0], vec![0.125, 1.0]);
        sd.update(&[vec![0.7, 0.9]], 0.5);
        assert_eq!(sd.factors()[0], vec![1.0, 1.0]);
    }

    #[test]
    fn compressor_outputs_start_at_the_initial_keep_probability() {
        let dev = Device::Cpu;
        let comp = Compressor::new(&[6, 9], &[4, 3], &[0.8, 0.5], 16, 1e-3, 1).unwrap();
        let mats = [
            Tensor::zeros((4, 6), DType::F32, &dev).unwrap(),
            Tensor::zeros((3, 9), DType::F32, &dev).unwrap(),
        ];
        let p = comp.probabilities(&mats).unwrap();
        let p0: Vec<f32> = p[0].to_vec1().unwrap();
        let p1: Vec<f32> = p[1].to_vec1().unwrap();
        assert!(p0.iter().all(|&q| (q - 0.8).abs() < 0.1), "{p0:?}");
        assert!(p1.iter().all(|&q| (q - 0.5).abs() < 0.1), "{p1:?}");
    }
}
