//! The masks a network multiplies in its forward pass. They belong to the network: the
//! compressor ([`crate::compress::masks::MaskPlan`]) decides their values, the network only
//! applies them.
use super::kernels::f32s;
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use std::sync::Arc;

/// Masks ready for a forward pass.
#[derive(Debug, Clone)]
pub struct NodeMasks {
    /// Multiplies node `i`'s output.
    pub node: Vec<Option<ElementMask>>,
    /// Multiplies the state of each direction of recurrent node `i` (`[B, H]`).
    pub rnn: Vec<Option<Vec<Tensor>>>,
}

/// A run of consecutive elements of one example's output that share one mask column
/// (a convolution channel's plane, a dense unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: u32,
    pub len: u32,
    pub column: u32,
}

/// Multiplies element `e` of example `b` of a node output by `columns[b, column(e)]`,
/// where `column` is given as [`Run`]s. One pass, in place of gathering a mask as large
/// as the output and multiplying by it: on LeNet-5 that gather and product cost a
/// third of a search iteration's masked forward pass.
#[derive(Debug, Clone)]
pub struct ElementMask {
    /// `[B, K]`: every mask value of each example.
    pub columns: Tensor,
    /// Cover the per-example output, in order.
    pub runs: Arc<[Run]>,
}

impl ElementMask {
    /// `x * mask`, differentiable in `x` (the mask is a constant).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op2(
            &self.columns.contiguous()?,
            ApplyMask {
                runs: self.runs.clone(),
            },
        )
    }
}

/// The custom op behind [`ElementMask::apply`].
struct ApplyMask {
    runs: Arc<[Run]>,
}

impl CustomOp2 for ApplyMask {
    fn name(&self) -> &'static str {
        "deepiot-element-mask"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, "mask input")?;
        let m = f32s(s2, l2, "mask columns")?;
        let b = l1.dims().first().copied().unwrap_or(1).max(1);
        let per = x.len() / b;
        let k = match l2.dims() {
            &[mb, k] if mb == b => k,
            d => bail!("mask columns: expected [{b}, K], got {d:?}"),
        };
        let covered: usize = self.runs.iter().map(|r| r.len as usize).sum();
        if covered != per || self.runs.iter().any(|r| r.column as usize >= k) {
            bail!("mask: runs cover {covered} of {per} elements or name a column past {k}");
        }
        let mut out = vec![0f32; x.len()];
        for ((dst, src), cols) in out
            .chunks_exact_mut(per)
            .zip(x.chunks_exact(per))
            .zip(m.chunks_exact(k))
        {
            for r in self.runs.iter() {
                let (a, e) = (r.start as usize, (r.start + r.len) as usize);
                let v = cols[r.column as usize];
                for (d, &s) in dst[a..e].iter_mut().zip(&src[a..e]) {
                    *d = s * v;
                }
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        columns: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // d(x * m)/dx = m; the mask gets no gradient (it is sampled, not learnt).
        let mask = ElementMask {
            columns: columns.clone(),
            runs: self.runs.clone(),
        };
        Ok((Some(mask.apply(grad)?), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The same values and input gradient as multiplying by the gathered full mask.
    #[test]
    fn matches_a_gathered_mask_and_its_gradient() {
        let dev = Device::Cpu;
        // [B=2, C=3, L=4]: channel c reads column [2, 0, 1][c]; K = 3.
        let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.7).sin()).collect();
        let x = Var::from_tensor(&Tensor::from_vec(x, (2, 3, 4), &dev).unwrap()).unwrap();
        let cols = Tensor::new(&[[1f32, 0., 1.], [0., 1., 1.]], &dev).unwrap();
        let runs: Arc<[Run]> = (0..3u32)
            .map(|c| Run {
                start: 4 * c,
                len: 4,
                column: [2, 0, 1][c as usize],
            })
            .collect();
        let mask = ElementMask {
            columns: cols.clone(),
            runs,
        };
        let y = mask.apply(x.as_tensor()).unwrap();
        let idx: Vec<u32> = (0..12).map(|e| [2u32, 0, 1][e / 4]).collect();
        let full = cols
            .index_select(&Tensor::new(idx.as_slice(), &dev).unwrap(), 1)
            .unwrap()
            .reshape((2, 3, 4))
            .unwrap();
        let want = x.as_tensor().mul(&full).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&y), flat(&want));
        let w = Tensor::arange(0f32, 24., &dev)
            .unwrap()
            .reshape((2, 3, 4))
            .unwrap();
        let g1 = y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = want.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(flat(g1.get(&x).unwrap()), flat(g2.get(&x).unwrap()));
    }
}
