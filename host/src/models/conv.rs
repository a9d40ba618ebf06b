//! 2-d convolution (NCHW, f32) as one candle custom op with a hand-written backward pass.
//!
//! candle 0.11's CPU `conv2d` computes the forward pass well enough, but its backward
//! goes through `conv_transpose2d` and a transposed `conv2d`, direct loops that dominate a
//! LeNet-5 training step. Here each example is lowered to a matrix product:
//!
//! - forward: `cols = im2col(x_b)` (`[C*KH*KW, OH*OW]`), `y_b = W @ cols + bias`, written
//!   straight into the NCHW output (no transpose copy);
//! - weight gradient: `dW += g_b @ cols^T`, `db += rowsum(g_b)`, accumulated per fixed chunk
//!   of 8 examples and summed in chunk order (deterministic for any thread count);
//! - input gradient: `x̄_b = col2im(W^T @ g_b)`, and only when the input needs a gradient
//!   (the first layer's input never does, which saves its largest product).
//!
//! Examples run in parallel (rayon); each product is one `gemm` call (the same crate and
//! kernels candle's matmul uses) on that thread.
use super::kernels::{f32s2, f32s3, grad_len_error, Window};
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// A read-only matrix view: `rows x cols`, element `(r, c)` at `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    pub(super) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// `rows x cols` whose rows start `rs` apart (a block of columns of a wider matrix).
    pub(super) fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }
    pub(super) fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst (row-major m x n) = [dst +] a @ b`, single-threaded (callers parallelise over
/// examples). Panics if a view does not fit its slice (a bug here, not a user error).
pub(super) fn matmul(dst: &mut [f32], a: View, b: View, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && dst.len() == m * n && a.fits() && b.fits(),
        "matmul shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: every element gemm touches is inside the slices: the assert above bounds
    // the largest offset of each view and `dst` is exactly `m * n` long, row-major.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Shapes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    oh: usize,
    ow: usize,
    win: Window,
}

impl Geometry {
    fn k(&self) -> usize {
        self.c * self.win.kernel[0] * self.win.kernel[1]
    }
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    fn input_len(&self) -> usize {
        self.c * self.h * self.w
    }

    fn in_y(&self, oy: usize, i: usize) -> Option<usize> {
        (oy * self.win.stride[0] + i)
            .checked_sub(self.win.padding[0])
            .filter(|&y| y < self.h)
    }
    /// The output columns `ox` whose input column for kernel column `j` is inside,
    /// as a range (they are contiguous).
    fn valid_x(&self, j: usize) -> std::ops::Range<usize> {
        let s = self.win.stride[1];
        let pw = self.win.padding[1];
        // ox * s + j >= pw  and  ox * s + j - pw < w
        let lo = pw.saturating_sub(j).div_ceil(s);
        let hi = if self.w + pw > j {
            (self.w + pw - j).div_ceil(s).min(self.ow)
        } else {
            0
        };
        lo..hi.max(lo)
    }

    /// `cols[(c, i, j), (oy, ox)] = x[c, oy*sh + i - ph, ox*sw + j - pw]` (0 outside).
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let [kh, kw] = self.win.kernel;
        let (p, sw) = (self.p(), self.win.stride[1]);
        for c in 0..self.c {
            for i in 0..kh {
                for j in 0..kw {
                    let row = &mut cols[((c * kh + i) * kw + j) * p..][..p];
                    let xs = self.valid_x(j);
                    for oy in 0..self.oh {
                        let dst = &mut row[oy * self.ow..(oy + 1) * self.ow];
                        let Some(y) = self.in_y(oy, i) else {
                            dst.fill(0.0);
                            continue;
                        };
                        let line = &x[(c * self.h + y) * self.w..][..self.w];
                        dst[..xs.start].fill(0.0);
                        dst[xs.end..].fill(0.0);
                        if xs.is_empty() {
                            continue;
                        }
                        let x0 = xs.start * sw + j - self.win.padding[1];
                        if sw == 1 {
                            dst[xs.clone()].copy_from_slice(&line[x0..x0 + xs.len()]);
                        } else {
                            for (n, d) in dst[xs.clone()].iter_mut().enumerate() {
                                *d = line[x0 + n * sw];
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`Geometry::im2col`]: `x += col2im(cols)` (x must start at zero).
    fn col2im(&self, cols: &[f32], x: &mut [f32]) {
        let [kh, kw] = self.win.kernel;
        let (p, sw) = (self.p(), self.win.stride[1]);
        for c in 0..self.c {
            for i in 0..kh {
                for j in 0..kw {
                    let row = &cols[((c * kh + i) * kw + j) * p..][..p];
                    let xs = self.valid_x(j);
                    if xs.is_empty() {
                        continue;
                    }
                    for oy in 0..self.oh {
                        let Some(y) = self.in_y(oy, i) else { continue };
                        let src = &row[oy * self.ow..(oy + 1) * self.ow];
                        let line = &mut x[(c * self.h + y) * self.w..][..self.w];
                        let x0 = xs.start * sw + j - self.win.padding[1];
                        for (n, v) in src[xs.clone()].iter().enumerate() {
                            line[x0 + n * sw] += v;
                        }
                    }
                }
            }
        }
    }
}

/// The convolution `y = conv2d(x, weight) + bias` as a differentiable candle op:
/// `x [B, C, H, W]`, `weight [O, C, KH, KW]`, `bias [O]`, all contiguous f32.
#[derive(Debug, Clone, Copy)]
pub struct Conv2d(pub Window);

impl Conv2d {
    /// [`Conv2d::geometry`] for a backward op, whose gradient `grad` is `[B, O, OH, OW]`.
    fn backward_geometry(
        &self,
        x: &[usize],
        w: &[usize],
        grad: &[f32],
    ) -> Result<(usize, Geometry)> {
        let (b, g) = self.geometry(x, w)?;
        let expected = b * g.o * g.p();
        if grad.len() != expected {
            return Err(grad_len_error("conv2d backward", grad.len(), expected));
        }
        Ok((b, g))
    }

    fn geometry(&self, x: &[usize], w: &[usize]) -> Result<(usize, Geometry)> {
        let (&[b, c, h, wd], &[o, c2, kh, kw]) = (x, w) else {
            bail!("conv2d: expects x [B, C, H, W] and weight [O, C, KH, KW], got {x:?} and {w:?}")
        };
        let win = self.0;
        if c != c2 || [kh, kw] != win.kernel {
            bail!(
                "conv2d: weight {w:?} does not fit input {x:?} and kernel {:?}",
                win.kernel
            );
        }
        if h + 2 * win.padding[0] < kh || wd + 2 * win.padding[1] < kw {
            bail!(
                "conv2d: kernel {:?} is larger than the padded input {x:?}",
                win.kernel
            );
        }
        let (oh, ow) = win.out(h, wd);
        Ok((
            b,
            Geometry {
                c,
                h,
                w: wd,
                o,
                oh,
                ow,
                win,
            },
        ))
    }

    /// `x.conv(weight) + bias`.
    pub fn apply(&self, x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        x.contiguous()?
            .apply_op3(&weight.contiguous()?, &bias.contiguous()?, *self)
    }
}

impl CustomOp3 for Conv2d {
    fn name(&self) -> &'static str {
        "deepiot-conv2d"
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
        let (x, w, bias) = f32s3(s1, l1, s2, l2, s3, l3, "conv2d")?;
        let (b, g) = self.geometry(l1.dims(), l2.dims())?;
        if bias.len() != g.o {
            bail!(
                "conv2d: bias has {} values for {} output channels",
                bias.len(),
                g.o
            );
        }
        let (k, p) = (g.k(), g.p());
        let mut out = vec![0f32; b * g.o * p];
        out.par_chunks_mut(g.o * p)
            .zip(x.par_chunks(g.input_len()))
            .for_each_init(
                || vec![0f32; k * p],
                |cols, (dst, xb)| {
                    g.im2col(xb, cols);
                    matmul(
                        dst,
                        View::row_major(w, g.o, k),
                        View::row_major(cols, k, p),
                        false,
                    );
                    for (row, &bv) in dst.chunks_mut(p).zip(bias) {
                        row.iter_mut().for_each(|v| *v += bv);
                    }
                },
            );
        Ok((CpuStorage::F32(out), Shape::from((b, g.o, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (o, k) = (w.dim(0)?, w.elem_count() / w.dim(0)?);
        let gwb = x.apply_op2_no_bwd(&grad, &WeightGrad(*self, w.dims4()?))?;
        let gw = gwb.narrow(0, 0, o * k)?.reshape(w.shape())?;
        let gb = gwb.narrow(0, o * k, o)?;
        let gx = if x.track_op() {
            Some(w.apply_op2_no_bwd(&grad, &InputGrad(*self, x.dims4()?))?)
        } else {
            None
        };
        Ok((gx, Some(gw), Some(gb)))
    }
}

/// `(x, grad) -> [dW (O*K values), db (O values)]`.
struct WeightGrad(Conv2d, (usize, usize, usize, usize));

/// Examples per partial sum of the weight gradient (fixed, so the sum order is too).
const CHUNK: usize = 8;

impl CustomOp2 for WeightGrad {
    fn name(&self) -> &'static str {
        "deepiot-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, gr) = f32s2(s1, l1, s2, l2, "conv2d backward")?;
        let (o, c, kh, kw) = self.1;
        let (b, g) = self.0.backward_geometry(l1.dims(), &[o, c, kh, kw], gr)?;
        let (k, p) = (g.k(), g.p());
        let partials: Vec<Vec<f32>> = (0..b.div_ceil(CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let mut acc = vec![0f32; o * k + o];
                let mut cols = vec![0f32; k * p];
                for bi in chunk * CHUNK..((chunk + 1) * CHUNK).min(b) {
                    let gb = &gr[bi * o * p..(bi + 1) * o * p];
                    g.im2col(&x[bi * g.input_len()..(bi + 1) * g.input_len()], &mut cols);
                    let (dw, db) = acc.split_at_mut(o * k);
                    matmul(
                        dw,
                        View::row_major(gb, o, p),
                        View::row_major(&cols, k, p).t(),
                        true,
                    );
                    for (d, row) in db.iter_mut().zip(gb.chunks(p)) {
                        *d += row.iter().sum::<f32>();
                    }
                }
                acc
            })
            .collect();
        let mut total = vec![0f32; o * k + o];
        for part in &partials {
            total.iter_mut().zip(part).for_each(|(t, v)| *t += v);
        }
        Ok((CpuStorage::F32(total), Shape::from(o * k + o)))
    }
}

/// `(weight, grad) -> dx [B, C, H, W]`.
struct InputGrad(Conv2d, (usize, usize, usize, usize));

impl CustomOp2 for InputGrad {
    fn name(&self) -> &'static str {
        "deepiot-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (w, gr) = f32s2(s1, l1, s2, l2, "conv2d backward")?;
        let (b, c, h, wd) = self.1;
        let (_, g) = self.0.backward_geometry(&[b, c, h, wd], l1.dims(), gr)?;
        let (k, p, o) = (g.k(), g.p(), g.o);
        let mut out = vec![0f32; b * g.input_len()];
        out.par_chunks_mut(g.input_len())
            .zip(gr.par_chunks(o * p))
            .for_each_init(
                || vec![0f32; k * p],
                |cols, (dx, gb)| {
                    matmul(
                        cols,
                        View::row_major(w, o, k).t(),
                        View::row_major(gb, o, p),
                        false,
                    );
                    g.col2im(cols, dx);
                },
            );
        Ok((CpuStorage::F32(out), Shape::from((b, c, h, wd))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn seq(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| (((i * 7919) % 23) as f32 / 7.0 - 1.5) * scale)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    use crate::models::test_util::max_diff;

    /// Loss `sum(conv(x) * m)` for a fixed `m`: its gradients are the op's backward.
    fn loss(y: &Tensor) -> Tensor {
        let m = seq(y.dims(), 0.3);
        (y * m).unwrap().sum_all().unwrap()
    }

    #[test]
    fn matches_candle_conv2d_forward_and_backward() {
        // Square inputs where candle's own backward is right (it gets the input gradient's
        // width wrong for non-square inputs with stride > 1).
        for (stride, pad, k) in [(1, 0, 3), (2, 1, 3), (1, 2, 5), (3, 0, 2)] {
            let x = Var::from_tensor(&seq(&[10, 3, 11, 11], 1.0)).unwrap();
            let w = Var::from_tensor(&seq(&[4, 3, k, k], 0.1)).unwrap();
            let b = Var::from_tensor(&seq(&[4], 0.5)).unwrap();
            let win = Window {
                kernel: [k, k],
                stride: [stride; 2],
                padding: [pad; 2],
            };
            let ours = Conv2d(win)
                .apply(x.as_tensor(), w.as_tensor(), b.as_tensor())
                .unwrap();
            let theirs = x
                .as_tensor()
                .conv2d(w.as_tensor(), pad, stride, 1, 1)
                .unwrap()
                .broadcast_add(&b.as_tensor().reshape((1, 4, 1, 1)).unwrap())
                .unwrap();
            assert!(
                max_diff(&ours, &theirs) < 1e-5,
                "forward, stride {stride} pad {pad}"
            );
            let (ga, gb) = (
                loss(&ours).backward().unwrap(),
                loss(&theirs).backward().unwrap(),
            );
            for (v, what) in [(&x, "x"), (&w, "w"), (&b, "b")] {
                let d = max_diff(ga.get(v).unwrap(), gb.get(v).unwrap());
                assert!(d < 1e-4, "grad {what}, stride {stride} pad {pad}: {d}");
            }
        }
    }

    /// Non-square everything, against finite differences of the op itself.
    #[test]
    fn gradients_match_finite_differences_for_non_square_windows() {
        let win = Window {
            kernel: [2, 3],
            stride: [2, 1],
            padding: [1, 2],
        };
        let x = Var::from_tensor(&seq(&[2, 2, 5, 4], 1.0)).unwrap();
        let w = Var::from_tensor(&seq(&[3, 2, 2, 3], 0.2)).unwrap();
        let b = Var::from_tensor(&seq(&[3], 0.5)).unwrap();
        let f = |x: &Tensor, w: &Tensor| -> f64 {
            let y = Conv2d(win).apply(x, w, b.as_tensor()).unwrap();
            loss(&y)
                .to_dtype(candle_core::DType::F64)
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let grads = loss(
            &Conv2d(win)
                .apply(x.as_tensor(), w.as_tensor(), b.as_tensor())
                .unwrap(),
        )
        .backward()
        .unwrap();
        let gx: Vec<f32> = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let gw: Vec<f32> = grads
            .get(&w)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let eps = 1e-2f32;
        let bump = |t: &Tensor, i: usize, d: f32| {
            let mut v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            v[i] += d;
            Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
        };
        for i in [0, 7, 19, 40, 79] {
            let num = (f(&bump(x.as_tensor(), i, eps), w.as_tensor())
                - f(&bump(x.as_tensor(), i, -eps), w.as_tensor()))
                / (2.0 * eps as f64);
            assert!(
                (num - gx[i] as f64).abs() < 1e-2,
                "dx[{i}]: {num} vs {}",
                gx[i]
            );
        }
        for i in [0, 5, 17, 35] {
            let num = (f(x.as_tensor(), &bump(w.as_tensor(), i, eps))
                - f(x.as_tensor(), &bump(w.as_tensor(), i, -eps)))
                / (2.0 * eps as f64);
            assert!(
                (num - gw[i] as f64).abs() < 1e-2,
                "dw[{i}]: {num} vs {}",
                gw[i]
            );
        }
    }
}
