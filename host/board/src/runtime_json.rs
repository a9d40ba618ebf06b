//! What `deepiot-run` prints with `--json`, read one way everywhere.
//!
//! The quick start, `compare`, `bench` on boards and the tests all read the runtime's
//! reports through these types. Every field the host uses is required, so a renamed or
//! missing field is an error naming it, never a silent 0 or NaN. The runtime writes the
//! same names (`runtime/src/bin/deepiot-run/{bench,run}.rs`); the end-to-end test
//! `runtime_json` parses the real i686 binary's output with these types.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;

/// `deepiot-run bench MODEL --json`. (`Default` is for building reports in tests; parsing
/// still requires every field.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub iterations: u64,
    pub warmup: u64,
    pub seed: u64,
    pub file_bytes: u64,
    pub weight_bytes: u64,
    pub arena_bytes: u64,
    /// Dense parameter count (the same for the sparse and dense files of one model).
    pub params: u64,
    /// Weights and biases that are not exactly zero.
    pub nonzeros: u64,
    pub macs: u64,
    pub mean_us: f64,
    pub std_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub throughput_per_s: f64,
    pub load_ms: f64,
    /// `None` where the kernel does not report `VmHWM`.
    pub peak_rss_kib: Option<u64>,
    /// Heap allocations during the timed runs (the runtime's promise is 0).
    pub allocations: u64,
    pub allocated_bytes: u64,
    pub debug_build: bool,
}

/// `deepiot-run MODEL --input FILE --json`, as far as the host reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub classes: Vec<String>,
    pub examples: Vec<RunExample>,
}

/// One example of a [`RunReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunExample {
    pub index: u64,
    /// The first output's scores; `null` stands for a value JSON cannot hold (NaN, inf).
    pub scores: Vec<Option<f32>>,
    /// The winning class, `None` when no score is a number.
    pub class: Option<u64>,
}

impl BenchReport {
    /// Reads the JSON `deepiot-run bench --json` printed.
    pub fn parse(json: &[u8]) -> Result<BenchReport> {
        serde_json::from_slice(json).context("not the JSON of `deepiot-run bench --json`")
    }
}

impl RunReport {
    /// Reads the JSON `deepiot-run MODEL --input FILE --json` printed.
    pub fn parse(json: &[u8]) -> Result<RunReport> {
        serde_json::from_slice(json).context("not the JSON of `deepiot-run --json`")
    }

    /// The fraction of examples whose class is the label at the same index.
    pub fn accuracy(&self, labels: &[u32]) -> f64 {
        let correct = self
            .examples
            .iter()
            .zip(labels)
            .filter(|(e, &y)| e.class == Some(u64::from(y)))
            .count();
        correct as f64 / labels.len().max(1) as f64
    }
}

/// Runs `bin` with `args` on this machine and returns what it printed on stdout.
fn run_local(bin: &Path, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            bin.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Times `model` with the runtime at `bin` on this machine.
pub fn bench_local(
    bin: &Path,
    model: &Path,
    iterations: usize,
    warmup: usize,
) -> Result<BenchReport> {
    let (n, w) = (iterations.to_string(), warmup.to_string());
    let stdout = run_local(
        bin,
        &[
            "bench".as_ref(),
            model.as_os_str(),
            "--iterations".as_ref(),
            n.as_ref(),
            "--warmup".as_ref(),
            w.as_ref(),
            "--json".as_ref(),
        ],
    )?;
    BenchReport::parse(&stdout).with_context(|| format!("benchmarking {}", model.display()))
}

/// Classifies the examples in `inputs` with `model` in the runtime at `bin`.
pub fn classify_local(bin: &Path, model: &Path, inputs: &Path) -> Result<RunReport> {
    let stdout = run_local(
        bin,
        &[
            model.as_os_str(),
            "--input".as_ref(),
            inputs.as_os_str(),
            "--json".as_ref(),
        ],
    )?;
    RunReport::parse(&stdout).with_context(|| format!("running {}", model.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_is_an_error_that_names_it() {
        let good = r#"{"model":"m","iterations":5,"warmup":1,"seed":0,"file_bytes":10,
            "weight_bytes":8,"arena_bytes":64,"params":2,"nonzeros":2,"macs":2,"unit":"us",
            "mean_us":1.5,"std_us":0.1,"p50_us":1.4,"p99_us":2.0,"min_us":1.0,"max_us":2.5,
            "throughput_per_s":600.0,"load_ms":0.1,"peak_rss_kib":null,"allocations":0,
            "allocated_bytes":0,"debug_build":false}"#;
        let r = BenchReport::parse(good.as_bytes()).unwrap();
        assert_eq!((r.p50_us, r.params, r.peak_rss_kib), (1.4, 2, None));
        let renamed = good.replace("\"p50_us\"", "\"median_us\"");
        let err = format!("{:#}", BenchReport::parse(renamed.as_bytes()).unwrap_err());
        assert!(err.contains("p50_us"), "{err}");
    }

    #[test]
    fn accuracy_counts_classes_equal_to_labels() {
        let r = RunReport::parse(
            br#"{"classes":[],"examples":[{"index":0,"scores":[0.1,null],"class":0},
                {"index":1,"scores":[null,null],"class":null},
                {"index":2,"scores":[0.0,1.0],"class":1}]}"#,
        )
        .unwrap();
        assert_eq!(r.accuracy(&[0, 0, 0]), 1.0 / 3.0);
        assert_eq!(r.accuracy(&[0, 1, 1]), 2.0 / 3.0);
    }
}
