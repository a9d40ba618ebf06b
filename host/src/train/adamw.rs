//! AdamW (Loshchilov & Hutter, 2019) with its state as plain data, updated in place.
//!
//! candle-nn's AdamW keeps its moments private, so a checkpoint could not hold them and a
//! resumed run restarted them at zero; and it spends a dozen tensor operations, each
//! allocating, on every variable of every step. This one keeps the moments as `Vec<f32>`
//! (a checkpoint stores them, [`AdamW::state`] / [`AdamW::restore`]) and updates each
//! variable in one pass over its buffer, in place.
//!
//! The update, per element, with `t` the step count:
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
//! `theta = theta (1 - lr wd) - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`,
//! the same as candle-nn's and PyTorch's.
use crate::models::{Net, Tensors};
use anyhow::{bail, Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor, Var};
use std::cell::RefCell;

/// The optimiser's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay: each step multiplies the weights by `1 - lr * weight_decay`.
    pub weight_decay: f64,
}

impl Default for AdamParams {
    /// PyTorch's and candle's defaults.
    fn default() -> Self {
        AdamParams {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// One variable and its two moment estimates.
struct Slot {
    name: String,
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
}

/// AdamW over a fixed list of named variables.
pub struct AdamW {
    slots: Vec<Slot>,
    steps: u64,
    pub params: AdamParams,
}

impl AdamW {
    /// An optimiser for `vars`, each named (the names key its state in a checkpoint).
    pub fn new(vars: Vec<(String, Var)>, params: AdamParams) -> Self {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let n = var.elem_count();
                Slot {
                    name,
                    var,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            })
            .collect();
        AdamW {
            slots,
            steps: 0,
            params,
        }
    }

    /// An optimiser for every weight of `net`, named as in the model file.
    pub fn for_net(net: &Net, params: AdamParams) -> Self {
        let names = net.info().params.iter().flatten().map(|s| s.name.clone());
        Self::new(names.zip(net.vars()).collect(), params)
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Back-propagates `loss` and takes one step.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One step with the gradients in `grads`; a variable without a gradient is left
    /// alone (no decay either), as candle-nn and PyTorch do.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let p = self.params;
        let t = self.steps.min(i32::MAX as u64) as i32;
        let coefficients = Coefficients {
            decay: (1.0 - p.lr * p.weight_decay) as f32,
            beta1: p.beta1 as f32,
            one_minus_beta1: (1.0 - p.beta1) as f32,
            beta2: p.beta2 as f32,
            one_minus_beta2: (1.0 - p.beta2) as f32,
            scale_m: (1.0 / (1.0 - p.beta1.powi(t))) as f32,
            scale_v: (1.0 / (1.0 - p.beta2.powi(t))) as f32,
            lr: p.lr as f32,
            eps: p.eps as f32,
        };
        for slot in &mut self.slots {
            let Some(g) = grads.get(&slot.var) else {
                continue;
            };
            let g = g.contiguous()?;
            let update = Update {
                m: RefCell::new(&mut slot.m),
                v: RefCell::new(&mut slot.v),
                c: coefficients,
            };
            slot.var
                .as_tensor()
                .inplace_op2(&g, &update)
                .with_context(|| format!("AdamW step on `{}`", slot.name))?;
        }
        Ok(())
    }

    /// The moments as tensors named `{prefix}m.NAME` and `{prefix}v.NAME`, for a
    /// checkpoint; the step count goes beside them ([`AdamW::steps`]).
    pub fn state(&self, prefix: &str) -> Result<Tensors> {
        let mut out = Tensors::new();
        for s in &self.slots {
            let shape = s.var.shape().clone();
            out.insert(
                format!("{prefix}m.{}", s.name),
                Tensor::from_slice(&s.m, &shape, &candle_core::Device::Cpu)?,
            );
            out.insert(
                format!("{prefix}v.{}", s.name),
                Tensor::from_slice(&s.v, &shape, &candle_core::Device::Cpu)?,
            );
        }
        Ok(out)
    }

    /// Puts back what [`AdamW::state`] saved, after `steps` steps.
    pub fn restore(&mut self, tensors: &Tensors, prefix: &str, steps: u64) -> Result<()> {
        for s in &mut self.slots {
            for (which, dst) in [("m", &mut s.m), ("v", &mut s.v)] {
                let key = format!("{prefix}{which}.{}", s.name);
                let t = tensors
                    .get(&key)
                    .with_context(|| format!("the checkpoint lacks the optimiser's `{key}`"))?;
                let values: Vec<f32> = t.flatten_all()?.to_vec1()?;
                if values.len() != dst.len() {
                    bail!(
                        "the checkpoint's `{key}` has {} values, the weight has {}",
                        values.len(),
                        dst.len()
                    );
                }
                *dst = values;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// The step's per-element constants, in f32 as the buffers are.
#[derive(Clone, Copy)]
struct Coefficients {
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    scale_m: f32,
    scale_v: f32,
    lr: f32,
    eps: f32,
}

/// The in-place update of one variable from its gradient (candle's `InplaceOp2` takes
/// `&self`, hence the cells).
struct Update<'a> {
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
    c: Coefficients,
}

fn contiguous_f32<'s>(s: &'s CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'s [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(d), Some((a, b))) => Ok(&d[a..b]),
        _ => candle_core::bail!("AdamW: the {what} is not a contiguous f32 buffer"),
    }
}

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let g = contiguous_f32(s2, l2, "gradient")?;
        let (CpuStorage::F32(data), Some((a, b))) = (s1, l1.contiguous_offsets()) else {
            candle_core::bail!("AdamW: the weight is not a contiguous f32 buffer");
        };
        let theta = &mut data[a..b];
        let mut m = self.m.borrow_mut();
        let mut v = self.v.borrow_mut();
        if g.len() != theta.len() || m.len() != theta.len() {
            candle_core::bail!(
                "AdamW: {} weights, {} gradients, {} moments",
                theta.len(),
                g.len(),
                m.len()
            );
        }
        let c = self.c;
        for (((w, &g), m), v) in theta.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = c.beta1 * *m + c.one_minus_beta1 * g;
            *v = c.beta2 * *v + c.one_minus_beta2 * (g * g);
            let step = (*m * c.scale_m) / ((*v * c.scale_v).sqrt() + c.eps);
            *w = *w * c.decay - c.lr * step;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The same steps as candle-nn's AdamW, to within float rounding.
    #[test]
    fn matches_candle_nn() {
        use candle_nn::Optimizer;
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
        let ours = Var::from_tensor(&Tensor::from_slice(&init, (4, 6), &dev).unwrap()).unwrap();
        let theirs = Var::from_tensor(&Tensor::from_slice(&init, (4, 6), &dev).unwrap()).unwrap();
        let params = AdamParams {
            lr: 0.01,
            weight_decay: 0.1,
            ..AdamParams::default()
        };
        let mut a = AdamW::new(vec![("w".into(), ours.clone())], params);
        let mut b = candle_nn::AdamW::new(
            vec![theirs.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.01,
                weight_decay: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..20 {
            let la = ours.as_tensor().sqr().unwrap().sum_all().unwrap();
            a.backward_step(&la).unwrap();
            let lb = theirs.as_tensor().sqr().unwrap().sum_all().unwrap();
            b.backward_step(&lb).unwrap();
        }
        let x: Vec<f32> = ours.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = theirs.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert_ne!(x, init);
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-6 * (1.0 + q.abs()), "{p} vs {q}");
        }
    }

    /// Saving and restoring the state in the middle gives the same weights as never
    /// stopping, bit for bit.
    #[test]
    fn a_restored_state_continues_exactly() {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..10).map(|i| i as f32 - 4.5).collect();
        let run = |stop_at: Option<usize>| -> Vec<f32> {
            let w = Var::from_tensor(&Tensor::from_slice(&init, 10, &dev).unwrap()).unwrap();
            let mut opt = AdamW::new(vec![("w".into(), w.clone())], AdamParams::default());
            for i in 0..30 {
                if Some(i) == stop_at {
                    let saved = opt.state("adam.").unwrap();
                    let steps = opt.steps();
                    opt = AdamW::new(vec![("w".into(), w.clone())], AdamParams::default());
                    opt.restore(&saved, "adam.", steps).unwrap();
                }
                let loss = w.as_tensor().powf(4.0).unwrap().sum_all().unwrap();
                opt.backward_step(&loss).unwrap();
            }
            w.as_tensor().to_vec1().unwrap()
        };
        let straight = run(None);
        assert_eq!(run(Some(13)), straight);
        // A fresh optimiser in the middle (what resuming used to do) does differ.
        let w = Var::from_tensor(&Tensor::from_slice(&init, 10, &dev).unwrap()).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], AdamParams::default());
        for i in 0..30 {
            if i == 13 {
                opt = AdamW::new(vec![("w".into(), w.clone())], AdamParams::default());
            }
            let loss = w.as_tensor().powf(4.0).unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
        }
        assert_ne!(w.as_tensor().to_vec1::<f32>().unwrap(), straight);
    }

    #[test]
    fn restore_refuses_a_state_of_another_shape() {
        let dev = Device::Cpu;
        let w =
            Var::from_tensor(&Tensor::zeros(5, candle_core::DType::F32, &dev).unwrap()).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w)], AdamParams::default());
        let mut other = Tensors::new();
        other.insert(
            "m.w".into(),
            Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap(),
        );
        other.insert(
            "v.w".into(),
            Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap(),
        );
        let err = opt.restore(&other, "", 1).unwrap_err();
        assert!(format!("{err:#}").contains("4 values"), "{err:#}");
        other.remove("m.w");
        let err = opt.restore(&other, "", 1).unwrap_err();
        assert!(format!("{err:#}").contains("lacks"), "{err:#}");
    }
}
