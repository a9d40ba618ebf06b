//! What `deepiot-run` prints with `--json`, read one way everywhere.
//!
//! The report types are the format crate's ([`deepiot_format::report`]): the runtime
//! serialises the same structs, so the two sides cannot drift apart. Every field is
//! required, so a renamed or missing field is an error naming it, never a silent 0 or
//! NaN. This module adds what only the host needs: running a local runtime binary and
//! reading its report. The end-to-end test `runtime_json` parses the real i686 binary's
//! output with these types.
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub use deepiot_format::report::{
    BenchReport, InfoReport, LayerInfo, LayerTime, NamedShape, RunExample, RunInput, RunReport,
    Storage, TensorInfo,
};

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
    bench_local_with(bin, model, iterations, warmup, false)
}

/// [`bench_local`], with each layer's time too (`--per-layer`: [`BenchReport::layers`]).
pub fn bench_local_layers(
    bin: &Path,
    model: &Path,
    iterations: usize,
    warmup: usize,
) -> Result<BenchReport> {
    bench_local_with(bin, model, iterations, warmup, true)
}

fn bench_local_with(
    bin: &Path,
    model: &Path,
    iterations: usize,
    warmup: usize,
    per_layer: bool,
) -> Result<BenchReport> {
    let (n, w) = (iterations.to_string(), warmup.to_string());
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "bench".as_ref(),
        model.as_os_str(),
        "--iterations".as_ref(),
        n.as_ref(),
        "--warmup".as_ref(),
        w.as_ref(),
        "--json".as_ref(),
    ];
    if per_layer {
        args.push("--per-layer".as_ref());
    }
    let stdout = run_local(bin, &args)?;
    BenchReport::parse(&stdout)
        .context("not the JSON of `deepiot-run bench --json`")
        .with_context(|| format!("benchmarking {}", model.display()))
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
    RunReport::parse(&stdout)
        .context("not the JSON of `deepiot-run --json`")
        .with_context(|| format!("running {}", model.display()))
}

/// Describes `model` with the runtime at `bin` (`deepiot-run info --json`).
pub fn info_local(bin: &Path, model: &Path) -> Result<InfoReport> {
    let stdout = run_local(
        bin,
        &["info".as_ref(), model.as_os_str(), "--json".as_ref()],
    )?;
    InfoReport::parse(&stdout)
        .context("not the JSON of `deepiot-run info --json`")
        .with_context(|| format!("describing {}", model.display()))
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
}
