//! Knowledge distillation: the loss term that lets a small student learn a trained
//! teacher's (or an ensemble's) whole output distribution.
use super::teacher_memo::TeacherMemo;
use crate::models::Net;
use candle_core::{DType, Tensor, D};

/// Knowledge distillation (Hinton et al. 2015): the loss mixes the label's cross-entropy
/// with the KL divergence from a teacher's softened outputs. A network cut down to 2 % of
/// its parameters learns the original's whole output distribution (which wrong digits a
/// 7 resembles) instead of one bit per example, and recovers more of its accuracy.
#[derive(Clone, Debug)]
pub struct Distill {
    /// One network, or an ensemble whose softened probabilities are averaged: several
    /// independently trained originals disagree where the data are ambiguous, which is
    /// exactly what a small student should not be over-confident about.
    pub teachers: Vec<std::sync::Arc<Net>>,
    /// Softmax temperature of both networks inside the KL term.
    pub temperature: f32,
    /// Weight of the KL term; the label term gets `1 - alpha`.
    pub alpha: f32,
    /// The teachers' answers to inputs already asked about (shared by clones); `None`
    /// asks every time.
    pub memo: Option<std::sync::Arc<TeacherMemo>>,
}

impl Distill {
    /// `(1 - alpha) * CE(student, y) + alpha * T^2 * KL(teacher_T || student_T)`, averaged
    /// over the batch (the T^2 keeps the soft term's gradient scale independent of T).
    pub fn loss(&self, x: &Tensor, logits: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
        let hard = candle_nn::loss::cross_entropy(logits, y)?;
        self.mix(&hard, x, logits)
    }

    /// `(1 - alpha) * hard + alpha * T^2 * KL(teacher_T(x) || student_T)`.
    pub fn mix(&self, hard: &Tensor, x: &Tensor, logits: &Tensor) -> candle_core::Result<Tensor> {
        let t = self.temperature as f64;
        let log_pt = self.teacher_log_probabilities(x, t)?.detach();
        let log_ps = candle_nn::ops::log_softmax(&(logits / t)?, D::Minus1)?;
        let kl = (log_pt.exp()? * (log_pt - log_ps)?)?
            .sum(D::Minus1)?
            .mean_all()?;
        let a = self.alpha as f64;
        (hard * (1.0 - a))? + (kl * (a * t * t))?
    }

    /// A distillation from `teachers` that remembers their answers by input.
    pub fn new(teachers: Vec<std::sync::Arc<Net>>, temperature: f32, alpha: f32) -> Self {
        Distill {
            teachers,
            temperature,
            alpha,
            memo: Some(Default::default()),
        }
    }

    /// [`Self::ask_teachers`] for the rows of `x` the memo does not know; the rest from
    /// the memo.
    fn teacher_log_probabilities(&self, x: &Tensor, t: f64) -> candle_core::Result<Tensor> {
        let Some(memo) = &self.memo else {
            return self.ask_teachers(x, t);
        };
        let b = x.dim(0)?;
        let rows: Vec<f32> = x.flatten_all()?.to_vec1()?;
        if b == 0 || rows.is_empty() {
            return self.ask_teachers(x, t);
        }
        let keys: Vec<u64> = rows.chunks(rows.len() / b).map(TeacherMemo::key).collect();
        let found = memo.lookup(&keys);
        if found.missing.is_empty() {
            return Tensor::from_vec(found.values, (b, found.classes), x.device());
        }
        let missing = found.missing;
        let asked = match missing.len() == b {
            true => self.ask_teachers(x, t)?,
            false => {
                let idx: Vec<u32> = missing.iter().map(|&i| i as u32).collect();
                let idx = Tensor::from_vec(idx, missing.len(), x.device())?;
                self.ask_teachers(&x.index_select(&idx, 0)?, t)?
            }
        };
        let classes = asked.dim(D::Minus1)?;
        let asked: Vec<f32> = asked.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let mut out = match found.classes == classes {
            true => found.values,
            false => vec![0f32; b * classes],
        };
        for (k, &i) in missing.iter().enumerate() {
            out[i * classes..(i + 1) * classes]
                .copy_from_slice(&asked[k * classes..(k + 1) * classes]);
        }
        let missed: Vec<u64> = missing.iter().map(|&i| keys[i]).collect();
        memo.insert(&missed, classes, &asked);
        Tensor::from_vec(out, (b, classes), x.device())
    }

    /// Log of the teachers' mean softened probabilities (one teacher: its log-softmax).
    fn ask_teachers(&self, x: &Tensor, t: f64) -> candle_core::Result<Tensor> {
        let soft = |teacher: &Net| teacher.logits(&[x], false)? / t;
        match self.teachers.as_slice() {
            [] => candle_core::bail!("distillation needs at least one teacher"),
            [one] => candle_nn::ops::log_softmax(&soft(one)?, D::Minus1),
            many => {
                let mut sum = candle_nn::ops::softmax_last_dim(&soft(&many[0])?)?;
                for teacher in &many[1..] {
                    sum = (sum + candle_nn::ops::softmax_last_dim(&soft(teacher)?)?)?;
                }
                // Clamped so that a probability that underflowed to 0 gives no NaN.
                (sum / many.len() as f64)?.clamp(1e-30f32, 1.0f32)?.log()
            }
        }
    }
}
