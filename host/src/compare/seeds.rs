//! Several seeds of one method at one target, read as one result: the mean that the
//! equal-accuracy verdict and the figures use, and the spread the report prints beside it.
use super::{percent, table::thousands, Comparison, Entry};

/// The runs of one method at one target (a reused file stands alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The mean of the runs, as an entry (a single run is its own mean).
    pub mean: Entry,
    pub seeds: Vec<u64>,
    /// Sample standard deviations (n - 1); zero for a single run.
    pub kept_std: f64,
    pub accuracy_std: f64,
    pub latency_std: Option<f64>,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// Sample standard deviation; 0 below two values.
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The results grouped by method and target, in the order they first appear.
pub fn groups(c: &Comparison) -> Vec<Group> {
    let mut keys: Vec<(String, Option<u64>, String)> = Vec::new();
    let key = |e: &Entry| {
        (
            e.method.clone(),
            e.target.map(f64::to_bits),
            // Reused files have no target: each is its own group.
            if e.target.is_none() {
                e.file.clone()
            } else {
                String::new()
            },
        )
    };
    for e in &c.results {
        let k = key(e);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.iter()
        .map(|k| {
            let runs: Vec<&Entry> = c.results.iter().filter(|e| key(e) == *k).collect();
            group(&runs)
        })
        .collect()
}

fn group(runs: &[&Entry]) -> Group {
    let first = runs[0];
    let of = |f: &dyn Fn(&Entry) -> f64| runs.iter().map(|e| f(e)).collect::<Vec<f64>>();
    let kept = of(&|e| e.kept_fraction);
    let acc = of(&|e| e.test_accuracy);
    let lat: Option<Vec<f64>> = runs.iter().map(|e| e.latency_us).collect();
    let mut m = first.clone();
    if runs.len() > 1 {
        m.seed = None;
        m.source = format!("mean of {}", runs.len());
        m.params = mean(&of(&|e| e.params as f64)).round() as usize;
        m.kept_fraction = mean(&kept);
        m.test_accuracy = mean(&acc);
        m.macs = mean(&of(&|e| e.macs as f64)).round() as u64;
        m.file_bytes = mean(&of(&|e| e.file_bytes as f64)).round() as u64;
        m.deploy_bytes = mean(&of(&|e| e.deploy_bytes as f64)).round() as u64;
        m.latency_us = lat.as_deref().map(mean);
        m.bench_dense = None;
        m.bench_sparse = None;
    }
    Group {
        seeds: runs.iter().filter_map(|e| e.seed).collect(),
        kept_std: std_dev(&kept),
        accuracy_std: std_dev(&acc),
        latency_std: lat.as_deref().map(std_dev),
        mean: m,
    }
}

/// The comparison with every group replaced by its mean: what the verdict and the
/// figures read, so that one lucky seed does not carry a method.
pub fn by_mean(c: &Comparison) -> Comparison {
    Comparison {
        results: groups(c).into_iter().map(|g| g.mean).collect(),
        ..c.clone()
    }
}

/// Whether any method ran with more than one seed.
pub fn has_several(c: &Comparison) -> bool {
    groups(c).iter().any(|g| g.seeds.len() > 1)
}

/// The mean ± std table, one row per method and target.
pub fn table(c: &Comparison) -> String {
    let o = &c.original;
    let mut s = String::from(
        "| method | target | seeds | parameters (mean) | kept | test accuracy | change | latency p50 |",
    );
    if c.energy.is_some() {
        s += " energy (est.) |";
    }
    s += "\n|---|---:|---|---:|---:|---:|---:|---:|";
    if c.energy.is_some() {
        s += "---:|";
    }
    s += "\n";
    for g in groups(c) {
        let m = &g.mean;
        let seeds = g
            .seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        s += &format!(
            "| {} | {} | {} | {} | {} ± {:.3} pt | {:.2} ± {:.2} % | {:+.2} pt | {} |",
            m.method,
            m.target.map_or("—".into(), percent),
            if seeds.is_empty() {
                "1 run".into()
            } else {
                seeds
            },
            thousands(m.params as u64),
            percent(m.kept_fraction),
            100.0 * g.kept_std,
            100.0 * m.test_accuracy,
            100.0 * g.accuracy_std,
            100.0 * (m.test_accuracy - o.test_accuracy),
            match (m.latency_us, g.latency_std) {
                (Some(l), Some(sd)) => format!("{l:.1} ± {sd:.1} µs"),
                _ => "—".into(),
            },
        );
        if let Some(e) = &c.energy {
            s += &format!(
                " {} |",
                m.latency_us
                    .map_or("—".into(), |l| format!("{:.1} µJ", e.microjoules(l)))
            );
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_standard_deviation() {
        assert_eq!(std_dev(&[3.0]), 0.0);
        assert!((std_dev(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
    }
}
