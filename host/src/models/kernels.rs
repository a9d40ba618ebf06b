//! Max and average pooling as candle custom ops with hand-written backward passes, and
//! the sliding [`Window`] the convolution op ([`super::conv`]) shares.
//!
//! candle 0.11's pooling backward exists only when the window equals the stride, takes
//! five full passes (upsample, compare, average-pool, upsample, multiply), and for max
//! pooling scales the gradient by `1/(kh*kw)`. These compute the input gradient directly
//! for any window and stride; the max-pool gradient goes whole to the first maximum of
//! each window, as in PyTorch. Planes run in parallel (rayon).
//!
//! Everything is NCHW f32; 1-d layers use these with `H = 1`.
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// A sliding window over the two spatial axes: kernel, stride and zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    /// Output height and width for an `h x w` input (floor mode).
    pub fn out(&self, h: usize, w: usize) -> (usize, usize) {
        let o = |len: usize, a: usize| {
            (len + 2 * self.padding[a] - self.kernel[a]) / self.stride[a] + 1
        };
        (o(h, 0), o(w, 1))
    }
}

/// The f32 values of a contiguous tensor's storage (every custom op's inputs).
pub(crate) fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("{what}: only f32 tensors are supported")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{what}: the input must be contiguous"),
    }
}

/// [`f32s`] of both inputs of a two-input custom op, in order.
pub(crate) fn f32s2<'a>(
    s1: &'a CpuStorage,
    l1: &Layout,
    s2: &'a CpuStorage,
    l2: &Layout,
    what: &str,
) -> Result<(&'a [f32], &'a [f32])> {
    Ok((f32s(s1, l1, what)?, f32s(s2, l2, what)?))
}

/// [`f32s`] of all three inputs of a three-input custom op, in order.
pub(crate) fn f32s3<'a>(
    s1: &'a CpuStorage,
    l1: &Layout,
    s2: &'a CpuStorage,
    l2: &Layout,
    s3: &'a CpuStorage,
    l3: &Layout,
    what: &str,
) -> Result<(&'a [f32], &'a [f32], &'a [f32])> {
    let (a, b) = f32s2(s1, l1, s2, l2, what)?;
    Ok((a, b, f32s(s3, l3, what)?))
}

/// The error of a backward op handed a gradient of `got` values where `expected` fit.
pub(crate) fn grad_len_error(what: &str, got: usize, expected: usize) -> candle_core::Error {
    candle_core::Error::Msg(format!(
        "{what}: gradient has {got} values, expected {expected}"
    ))
    .bt()
}

fn dims4(l: &Layout, what: &str) -> Result<[usize; 4]> {
    match l.dims() {
        &[b, c, h, w] => Ok([b, c, h, w]),
        d => bail!("{what}: expects a [B, C, H, W] tensor, got {d:?}"),
    }
}

/// Which pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// Max or average pooling (no padding, floor mode) for any window and stride. Max takes
/// the first maximum of a window for the gradient, as PyTorch does.
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
}

impl Pool {
    fn window(&self) -> Window {
        Window {
            kernel: self.kernel,
            stride: self.stride,
            padding: [0, 0],
        }
    }
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "deepiot-pool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, "pool")?;
        let [b, c, h, w] = dims4(l, "pool")?;
        let (oh, ow) = self.window().out(h, w);
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let scale = 1.0 / (kh * kw) as f32;
        let mut out = vec![0f32; b * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, dst)| {
                let src = &x[plane * h * w..(plane + 1) * h * w];
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut acc = match self.kind {
                            PoolKind::Max => f32::NEG_INFINITY,
                            PoolKind::Avg => 0.0,
                        };
                        for i in 0..kh {
                            let line =
                                &src[(y * sh + i) * w + xo * sw..(y * sh + i) * w + xo * sw + kw];
                            for &v in line {
                                match self.kind {
                                    PoolKind::Max => {
                                        if v > acc || v.is_nan() {
                                            acc = v
                                        }
                                    }
                                    PoolKind::Avg => acc += v,
                                }
                            }
                        }
                        dst[y * ow + xo] = match self.kind {
                            PoolKind::Max => acc,
                            PoolKind::Avg => acc * scale,
                        };
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let x = arg.contiguous()?;
        let g = grad.contiguous()?;
        let m = res.contiguous()?;
        Ok(Some(x.apply_op3_no_bwd(&m, &g, &PoolBackward(*self))?))
    }
}

/// The input gradient of a [`Pool`], from its input, its output and its output gradient.
/// Max pooling's gradient goes to the first element of each window equal to the window's
/// output (the first NaN when it is NaN): the same element as a fresh argmax, found with
/// one comparison per element and an early exit (recomputing the argmax was a seventh of
/// a LeNet-5 training step).
struct PoolBackward(Pool);

impl CustomOp3 for PoolBackward {
    fn name(&self) -> &'static str {
        "deepiot-pool-backward"
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
        let p = self.0;
        let (x, res, g) = f32s3(s1, l1, s2, l2, s3, l3, "pool backward")?;
        let [b, c, h, w] = dims4(l1, "pool backward")?;
        let (oh, ow) = p.window().out(h, w);
        if g.len() != b * c * oh * ow || res.len() != g.len() {
            return Err(grad_len_error("pool backward", g.len(), b * c * oh * ow));
        }
        let [kh, kw] = p.kernel;
        let [sh, sw] = p.stride;
        let scale = 1.0 / (kh * kw) as f32;
        let mut out = vec![0f32; b * c * h * w];
        out.par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(plane, dst)| {
                let src = &x[plane * h * w..(plane + 1) * h * w];
                let gp = &g[plane * oh * ow..(plane + 1) * oh * ow];
                let mp = &res[plane * oh * ow..(plane + 1) * oh * ow];
                for y in 0..oh {
                    for xo in 0..ow {
                        let gv = gp[y * ow + xo];
                        match p.kind {
                            PoolKind::Avg => {
                                for i in 0..kh {
                                    let o = (y * sh + i) * w + xo * sw;
                                    for d in &mut dst[o..o + kw] {
                                        *d += gv * scale;
                                    }
                                }
                            }
                            PoolKind::Max => {
                                let m = mp[y * ow + xo];
                                let hit = |v: f32| if m.is_nan() { v.is_nan() } else { v == m };
                                let mut at = (y * sh) * w + xo * sw;
                                'window: for i in 0..kh {
                                    let o = (y * sh + i) * w + xo * sw;
                                    for (j, &v) in src[o..o + kw].iter().enumerate() {
                                        if hit(v) {
                                            at = o + j;
                                            break 'window;
                                        }
                                    }
                                }
                                dst[at] += gv;
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, c, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    fn seq(shape: &[usize], dev: &Device) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 23) as f32 / 7.0 - 1.5)
            .collect();
        Tensor::from_vec(v, shape, dev).unwrap()
    }

    /// The max-pool gradient lands on the first maximum of each window, the first NaN of
    /// a window holding one, and the first element of an all `-inf` window; overlapping
    /// windows (kernel 3, stride 2) add up.
    #[test]
    fn max_pool_gradient_goes_to_the_first_maximum() {
        let dev = Device::Cpu;
        let n = f32::NAN;
        let ninf = f32::NEG_INFINITY;
        // Four 2x2 windows of a 1x1x2x8 input: ties, a NaN, all -inf, a plain maximum.
        let x = Tensor::new(
            &[[[
                [1f32, 3., 1., n, ninf, ninf, 0., 2.],
                [3., 0., 5., n, ninf, ninf, -1., 1.],
            ]]],
            &dev,
        )
        .unwrap();
        let x = Var::from_tensor(&x).unwrap();
        let pool = |kernel, stride| Pool {
            kind: PoolKind::Max,
            kernel,
            stride,
        };
        let y = x.as_tensor().apply_op1(pool([2, 2], [2, 2])).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let gx: Vec<f32> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut want = vec![0f32; 16];
        for i in [1, 3, 4, 7] {
            want[i] = 1.0;
        }
        assert_eq!(gx, want);
        // Overlapping windows on a 1x1x1x5 row: [1, 4, 2, 4, 0] with kernel 3 and stride 2
        // has windows [1, 4, 2] and [2, 4, 0]: each sends its gradient to its first 4.
        let r =
            Var::from_tensor(&Tensor::new(&[[[[1f32, 4., 2., 4., 0.]]]], &dev).unwrap()).unwrap();
        let y = r.as_tensor().apply_op1(pool([1, 3], [1, 2])).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let gr: Vec<f32> = g.get(&r).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(gr, [0., 1., 0., 1., 0.]);
    }

    #[test]
    fn pools_match_candle_forward_and_backward() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&seq(&[2, 3, 8, 6], &dev)).unwrap();
        for kind in [PoolKind::Max, PoolKind::Avg] {
            let ours = x
                .as_tensor()
                .apply_op1(Pool {
                    kind,
                    kernel: [2, 2],
                    stride: [2, 2],
                })
                .unwrap();
            let theirs = match kind {
                PoolKind::Max => x.as_tensor().max_pool2d(2).unwrap(),
                PoolKind::Avg => x.as_tensor().avg_pool2d(2).unwrap(),
            };
            close(&ours, &theirs, 1e-6);
            let w = seq(&[2, 3, 4, 3], &dev);
            let ga = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (theirs * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            if kind == PoolKind::Avg {
                close(ga.get(&x).unwrap(), gb.get(&x).unwrap(), 1e-6);
            } else {
                // candle 0.11's max-pool backward scales the gradient by 1/(kh*kw) (it
                // multiplies by the window's tie fraction instead of dividing), so check
                // the exact gradient's invariants instead: each output's gradient lands
                // whole on one input that holds the window's maximum.
                let gx = ga.get(&x).unwrap();
                let total = gx.sum_all().unwrap().to_scalar::<f32>().unwrap();
                let want = w.sum_all().unwrap().to_scalar::<f32>().unwrap();
                assert!((total - want).abs() < 1e-4, "{total} vs {want}");
                let dot = (gx * x.as_tensor())
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                let ours = x.as_tensor().max_pool2d(2).unwrap();
                let want = (ours * &w)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!((dot - want).abs() < 1e-3, "{dot} vs {want}");
                let _ = gb;
            }
        }
        // Overlapping windows (kernel 3, stride 2) still have a gradient: sum-of-outputs
        // gradient of an average pool counts how many windows cover each pixel.
        let y = x
            .as_tensor()
            .apply_op1(Pool {
                kind: PoolKind::Avg,
                kernel: [3, 3],
                stride: [2, 2],
            })
            .unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let total = g
            .get(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((total - y.elem_count() as f32).abs() < 1e-3);
    }
}
