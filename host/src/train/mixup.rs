//! Mixup: blending each training batch with a shuffled copy of itself, so the network
//! (and a teacher, when distilling) is fitted between the examples as well as on them.
use crate::rng::Rng;
use candle_core::Tensor;

/// Mixup (Zhang et al. 2018): each batch is blended with a shuffled copy of itself,
/// `x = lambda * x + (1 - lambda) * x[perm]`, `lambda ~ Beta(alpha, alpha)`, and scored
/// against both label sets in the same proportion. With a teacher, the teacher sees
/// the same blend (Beyer et al. 2022, "a good teacher is patient and consistent"): the
/// student matches the original's function between the training examples as well as on
/// them, which is what a small network misses on data from a later time.
#[derive(Clone, Debug)]
pub struct Mixing {
    /// The other label of every example of the blended batch.
    pub other: Tensor,
    /// Weight of the batch's own examples and labels.
    pub lambda: f64,
}

impl Mixing {
    /// Draws `lambda` and a partner for every example; returns the blended batch and the
    /// mixing to score it with.
    pub fn draw(
        x: &Tensor,
        y: &Tensor,
        alpha: f32,
        rng: &mut Rng,
    ) -> candle_core::Result<(Tensor, Mixing)> {
        let n = x.dim(0)?;
        let lambda = rng.beta(alpha, alpha) as f64;
        let perm: Vec<u32> = rng.permutation(n).into_iter().map(|i| i as u32).collect();
        let perm = Tensor::from_vec(perm, n, x.device())?;
        let blended = ((x * lambda)? + (x.index_select(&perm, 0)? * (1.0 - lambda))?)?;
        let other = y.index_select(&perm, 0)?;
        Ok((blended, Mixing { other, lambda }))
    }
}
