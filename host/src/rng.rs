//! A small seeded random number generator (SplitMix64) for weight initialisation and
//! shuffling.
//!
//! Our own generator rather than `rand`'s `StdRng`: its output is fixed by this file, so a
//! seed gives the same weights and the same batch order with any dependency version, and
//! a checkpoint only needs the seed and the epoch to continue exactly where it stopped.

use deepiot_format::rng::SplitMix64;

/// [`deepiot_format::rng::SplitMix64`] with the draws training needs.
#[derive(Debug, Clone)]
pub struct Rng {
    inner: SplitMix64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng {
            inner: SplitMix64::new(seed),
        }
    }

    /// A generator for one named purpose (`stream`) of one seed, independent of the others:
    /// e.g. the shuffle of epoch 7 is `Rng::derive(seed, 7)` whether or not epochs 0-6 ran
    /// in this process.
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut r = Rng::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        Rng::new(r.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    pub fn next_f32(&mut self) -> f32 {
        self.inner.next_unit()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = (self.next_f32() as f64).max(1e-12);
        let u2 = self.next_f32() as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias worth speaking of for `n < 2^32`.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// `0..n` in a random order.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        self.shuffle(&mut v);
        v
    }

    /// Gamma(`shape`, 1) (Marsaglia and Tsang 2000; shapes below 1 through the boost
    /// `Gamma(a) = Gamma(a + 1) * U^(1/a)`).
    pub fn gamma(&mut self, shape: f32) -> f32 {
        if shape < 1.0 {
            let u = self.next_f32().max(f32::MIN_POSITIVE) as f64;
            return (self.gamma(shape + 1.0) as f64 * u.powf(1.0 / shape as f64)) as f32;
        }
        let d = shape as f64 - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal() as f64;
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = (self.next_f32() as f64).max(1e-12);
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return (d * v) as f32;
            }
        }
    }

    /// Beta(`a`, `b`) in `[0, 1]`: the mixing weight of mixup.
    pub fn beta(&mut self, a: f32, b: f32) -> f32 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y > 0.0 {
            x / (x + y)
        } else {
            0.5
        }
    }
}

/// So that code written against `rand` (e.g. [`crate::data::cifar::augment`]) can draw
/// from this generator.
impl rand::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (Rng::next_u64(self) >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        Rng::next_u64(self)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = Rng::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(3).next_u64()).collect();
        assert!(a.iter().all(|&x| x == a[0]));
        let mut r = Rng::derive(3, 1);
        let mut s = Rng::derive(3, 2);
        assert_ne!(r.next_u64(), s.next_u64());
        let p = Rng::new(9).permutation(100);
        let mut q = p.clone();
        q.sort();
        assert_eq!(q, (0..100).collect::<Vec<_>>());
        assert_eq!(p, Rng::new(9).permutation(100));
        let mut u = Rng::new(1);
        assert!((0..1000).all(|_| (-0.5..0.5).contains(&u.uniform(-0.5, 0.5))));
    }

    #[test]
    fn beta_draws_have_the_right_mean_and_variance() {
        // Beta(a, b): mean a / (a + b), variance ab / ((a + b)^2 (a + b + 1)).
        for (a, b) in [(0.2f32, 0.2f32), (1.0, 1.0), (2.0, 5.0)] {
            let mut r = Rng::new(7);
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| r.beta(a, b) as f64).collect();
            assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let (a, b) = (a as f64, b as f64);
            let want_mean = a / (a + b);
            let want_var = a * b / ((a + b).powi(2) * (a + b + 1.0));
            assert!((mean - want_mean).abs() < 0.01, "Beta({a},{b}) mean {mean}");
            assert!(
                (var - want_var).abs() < 0.1 * want_var,
                "Beta({a},{b}) variance {var} vs {want_var}"
            );
        }
    }
}
