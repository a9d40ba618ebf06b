//! `deepiot quickstart`: the whole job on a built-in default, with no data to fetch and no
//! board: train LeNet-5 on the bundled MNIST subset, compress it with DeepIoT, build the
//! static i686 board runtime, and run both models in it for accuracy, size and latency.
use crate::compress::{self, CompressConfig};
use crate::data::{self, DataRoot};
use crate::runtime_build::{locate_runtime, EDISON_TRIPLE};
use crate::runtime_json;
use crate::train::{self, TrainConfig};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The quick start's settings. `Default` holds the command line's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickstartConfig {
    /// Where the models, reports and the runtime's inputs go.
    pub out: PathBuf,
    /// Data folder (default: the bundled MNIST subset).
    pub data: Option<PathBuf>,
    /// Training epochs.
    pub epochs: usize,
    /// Compressor-critic iterations at most.
    pub iterations: usize,
    /// A board runtime binary to use instead of finding or building one.
    pub runtime: Option<PathBuf>,
}

impl Default for QuickstartConfig {
    fn default() -> Self {
        QuickstartConfig {
            out: PathBuf::from("out/quickstart"),
            data: None,
            epochs: 4,
            iterations: 1500,
            runtime: None,
        }
    }
}

/// What the board runtime measured for one model.
struct OnBoard {
    accuracy: f64,
    p50_us: f64,
    params: u64,
    file_bytes: u64,
    arena_bytes: u64,
    allocations: u64,
}

/// Classifies the test set and times the model with the board runtime binary.
fn on_board(bin: &Path, model: &Path, inputs: &Path, labels: &[u32]) -> Result<OnBoard> {
    let run = runtime_json::classify_local(bin, model, inputs)?;
    let bench = runtime_json::bench_local(bin, model, 500, 50)?;
    Ok(OnBoard {
        accuracy: run.accuracy(labels),
        p50_us: bench.p50_us,
        params: bench.params,
        file_bytes: bench.file_bytes,
        arena_bytes: bench.arena_bytes,
        allocations: bench.allocations,
    })
}

/// `deepiot train` as the quick start runs it: LeNet-5 for a few epochs.
fn train_config(data: &Path, epochs: usize, out: &Path) -> TrainConfig {
    TrainConfig {
        task: "mnist-lenet5".to_string(),
        epochs: Some(epochs),
        data: Some(data.to_path_buf()),
        out: out.to_path_buf(),
        ..TrainConfig::default()
    }
}

/// `deepiot compress` as the quick start runs it: a short schedule for a small data set
/// (the threshold rises every 30 iterations by 0.05 instead of every 150 by 0.025) and 3
/// fine-tuning epochs; everything else at the command's defaults.
fn compress_config(data: &Path, iterations: usize, model: &Path, out: &Path) -> CompressConfig {
    CompressConfig {
        model: model.to_path_buf(),
        out: out.to_path_buf(),
        task: Some("mnist-lenet5".into()),
        data: Some(data.to_path_buf()),
        target_kept: 0.05,
        max_drop: 2.0,
        period: 30,
        delta: 0.05,
        max_iterations: iterations,
        eval_every: 100,
        finetune_epochs: Some(3),
        finetune_lr_decay: Some(0.8),
        ..CompressConfig::default()
    }
}

/// `deepiot quickstart`: train, compress, and run both models in the board runtime.
pub fn run(args: &QuickstartConfig) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let root = match &args.data {
        Some(d) => DataRoot::new(d.clone()),
        None => DataRoot::bundled(),
    };
    let original = args.out.join("lenet5.safetensors");
    let small = args.out.join("lenet5.deepiot.safetensors");

    // First, so that a missing board target stops the run before minutes of training.
    eprintln!("[1/4] getting the board runtime for {EDISON_TRIPLE} ...");
    let edison = crate::board::target::load("edison", None)?;
    let bin = locate_runtime(args.runtime.as_deref(), edison.build_target())?;
    let size = std::fs::metadata(&bin)?.len();

    eprintln!("[2/4] training LeNet-5 on {} ...", root.path.display());
    let trained = train::run(&train_config(&root.path, args.epochs, &original))?;

    eprintln!("[3/4] compressing it with the compressor-critic ...");
    let report = compress::run(&compress_config(
        &root.path,
        args.iterations,
        &original,
        &small,
    ))?;

    eprintln!("[4/4] running both models in the i686 runtime ...");
    let ds = data::load("mnist", &root)?;
    let inputs = args.out.join("test-images.f32");
    let bytes: Vec<u8> = ds.test_x.iter().flat_map(|v| v.to_le_bytes()).collect();
    crate::paths::write_atomic(&inputs, &bytes)
        .with_context(|| format!("cannot write {}", inputs.display()))?;
    let a = on_board(&bin, &original, &inputs, &ds.test_y)?;
    let b = on_board(&bin, &small, &inputs, &ds.test_y)?;

    println!();
    println!(
        "board runtime: {} ({} KiB, static i686, no AVX)",
        bin.display(),
        size / 1024
    );
    println!(
        "{:<24} {:>9} {:>11} {:>10} {:>12} {:>10} {:>7}",
        "model", "params", "file bytes", "accuracy", "latency p50", "arena", "allocs"
    );
    for (name, m) in [("LeNet-5 (trained)", &a), ("LeNet-5 (DeepIoT)", &b)] {
        println!(
            "{:<24} {:>9} {:>11} {:>9.2}% {:>10.1}us {:>10} {:>7}",
            name,
            m.params,
            m.file_bytes,
            100.0 * m.accuracy,
            m.p50_us,
            m.arena_bytes,
            m.allocations
        );
    }
    println!(
        "DeepIoT kept {:.2} % of the parameters (widths {:?}); median latency {:.1} % lower ({:.1} -> {:.1} us), \
         accuracy {:.2} % -> {:.2} % on the {} test images of {}",
        100.0 * report.kept_fraction,
        report.layers.iter().filter(|l| l.units_before > 0).map(|l| l.units_after).collect::<Vec<_>>(),
        100.0 * (1.0 - b.p50_us / a.p50_us),
        a.p50_us,
        b.p50_us,
        100.0 * a.accuracy,
        100.0 * b.accuracy,
        ds.test_len(),
        ds.name
    );
    println!(
        "trained in {:.0} s; models and reports in {}",
        trained.wall_seconds,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_start_settings_parse_with_the_commands_defaults_elsewhere() {
        let t = train_config(Path::new("d"), 4, Path::new("m.safetensors"));
        assert_eq!(
            (t.task.as_str(), t.epochs, t.seed),
            ("mnist-lenet5", Some(4), 1)
        );
        assert_eq!(t.val_fraction, 0.1);
        let c = compress_config(Path::new("d"), 1500, Path::new("m"), Path::new("o"));
        assert_eq!((c.period, c.delta, c.max_iterations), (30, 0.05, 1500));
        assert_eq!(
            (c.target_kept, c.finetune_epochs, c.batch),
            (0.05, Some(3), 64)
        );
        assert_eq!(c.method, crate::compress::Method::Deepiot);
    }
}
