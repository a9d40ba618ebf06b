//! `deepiot`: compress deep networks for embedded sensing boards, and put them on boards.
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod inspect;

#[derive(Parser)]
#[command(name = "deepiot", version, about, long_about = None, after_help = deepiot::board_cli::EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole job on a built-in default: trains LeNet-5 on the bundled MNIST subset,
    /// compresses it with DeepIoT, and runs and times both in the i686 board runtime.
    Quickstart(deepiot::cli::quickstart::QuickstartArgs),
    /// Imports an ONNX model (a PyTorch or TensorFlow export) as a deepiot model file:
    /// maps its ops to the layer list, folds batch norm and constants, and writes the
    /// file only if everything maps.
    Import(deepiot::cli::onnx_import::ImportArgs),
    /// Shows a model file: layers, shapes, parameters, FLOPs, bytes and provenance.
    Inspect {
        /// The model file (.safetensors).
        model: PathBuf,
        /// Prints JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Trains a zoo model on its data set (checkpoints, early stopping, JSON report) and
    /// exports it as a model file.
    Train(deepiot::cli::train::TrainArgs),
    /// Test accuracy of a model file, run in the host's candle network.
    Eval(deepiot::cli::train::EvalArgs),
    /// Stores a model's weight matrices as int8 with one scale per output channel: a
    /// quarter of the file, run by the board runtime's integer kernels.
    Quantize(deepiot::cli::quantize::QuantizeArgs),
    /// Compresses a trained model with DeepIoT's compressor-critic: learns which neurons,
    /// filters and recurrent units to drop, cuts them out, fine-tunes, writes the smaller model.
    Compress(deepiot::cli::compress::CompressArgs),
    /// Writes a model file (original or compressed) as standard ONNX, opset 17 with a
    /// dynamic batch axis, for onnxruntime, tract and other engines.
    Export(deepiot::cli::onnx_export::OnnxExportArgs),
    /// Runs DeepIoT and the baselines (magnitude pruning with splicing, L1-norm structured
    /// pruning) on one trained model, times every result in the board runtime, and writes
    /// a report with tables and plots.
    Compare(deepiot::cli::compare::CompareArgs),
    /// Times one training step (forward + backward + AdamW) with candle's ops and with
    /// ours, for 1 and 2 threads.
    BenchTrain(deepiot::cli::bench_train::BenchTrainArgs),
    /// Prints the path of the board runtime (`deepiot-run`) the board commands use:
    /// $DEEPIOT_RUNTIME, else a release build from the sources (adding the Rust target
    /// with rustup if it is missing), else the build cached for this version.
    Runtime(deepiot::board_cli::runtime::RuntimeArgs),
    /// Measures the board runtime layer kind by layer kind and fits its latency model
    /// (per-layer time from the widths); `--check` compares its predictions for whole
    /// networks with their measured p50.
    Profile(deepiot::board_cli::profile::ProfileArgs),
    /// Data sets: `deepiot data fetch [TASK...]` downloads them, verified.
    #[command(subcommand)]
    Data(deepiot::cli::data::DataCommand),
    /// Board workflow: deploy, bench, image, flash, board status.
    #[command(flatten)]
    Board(deepiot::board_cli::Commands),
}

fn main() -> ExitCode {
    deepiot::train::keep_elementwise_inline();
    let cli = Cli::parse();
    // The command runs on a worker of rayon's pool, not beside it: our ops' parallel loops
    // called from outside hand every call to a pool thread and wait for it, so with one
    // thread all the work hopped between two threads (and cores). A LeNet-5 forward pass
    // in the search took 13.7 ms that way against 8.5 ms on a worker.
    let pool = rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .thread_name(|i| format!("deepiot-{i}"))
        .build();
    let result = match pool {
        Ok(pool) => pool.install(|| run(cli)),
        Err(_) => run(cli),
    };
    deepiot::board_cli::finish(result)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Quickstart(a) => deepiot::quickstart::run(&a.into()),
        Command::Import(a) => deepiot::onnx_import::run(&a.into()).map(|_| ()),
        Command::Inspect { model, json } => inspect::run(&model, json),
        Command::Train(a) => deepiot::train::run(&a.into()).map(|_| ()),
        Command::Eval(a) => deepiot::train::eval(&a.into()).map(|_| ()),
        Command::Compress(a) => deepiot::compress::run(&a.into()).map(|_| ()),
        Command::Quantize(a) => deepiot::quantize::run(&a.into()).map(|_| ()),
        Command::Export(a) => deepiot::onnx_export::run(&a.into()).map(|_| ()),
        Command::Compare(a) => deepiot::compare::run(&a.into()).map(|_| ()),
        Command::BenchTrain(a) => deepiot::bench_train::run(&a.into()).map(|_| ()),
        Command::Runtime(a) => deepiot::board_cli::runtime::run(&a),
        Command::Profile(a) => deepiot::board_cli::profile::run(a),
        Command::Data(c) => deepiot::cli::data::run(c),
        Command::Board(c) => deepiot::board_cli::run(c),
    }
}
