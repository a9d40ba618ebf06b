//! Which training examples are held out to pick the best epoch and stop early.
use crate::data::Dataset;
use crate::rng::Rng;

/// The validation split [`fit`](super::fit) uses for a data set.
///
/// Random ([`split_validation`]) except for the accelerometer tasks (`har`, `userid`),
/// whose test split is the *later* part of every recording run: there a random sample of
/// 50 %-overlapping windows would be nearly a copy of the training windows and stop
/// training too early, so the validation windows are the last `fraction` of every run of
/// same-label windows in stored (time) order — a small version of the test split — with
/// the window before each of them dropped, as the loader drops windows straddling the
/// train/test boundary.
pub fn validation_split(ds: &Dataset, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let temporal = matches!(ds.name.as_str(), "har" | "userid");
    if !temporal || fraction <= 0.0 {
        return split_validation(ds.train_len(), fraction, seed);
    }
    let y = &ds.train_y;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < y.len() {
        let mut end = start + 1;
        while end < y.len() && y[end] == y[start] {
            end += 1;
        }
        let n_val = ((end - start) as f64 * fraction).round() as usize;
        if n_val == 0 || end - start < n_val + 2 {
            train.extend(start..end);
        } else {
            train.extend(start..end - n_val - 1);
            val.extend(end - n_val..end);
        }
        start = end;
    }
    (train, val)
}

/// Splits the training examples into (train, validation) index lists, seeded.
pub fn split_validation(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n_val = ((n as f64 * fraction) as usize)
        .min(5000)
        .min(n.saturating_sub(1));
    let mut perm = Rng::derive(seed, u64::MAX).permutation(n);
    let val = perm.split_off(n - n_val);
    perm.sort_unstable();
    let mut val = val;
    val.sort_unstable();
    (perm, val)
}
