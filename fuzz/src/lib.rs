//! Fuzz targets for every parser that reads bytes from outside: model files (the format
//! crate's parser and the runtime's loader), `.npy` inputs (the runtime's reader),
//! firmware images, the board's replies (probe output, status files, `deepiot-run`'s JSON
//! reports and self-test outputs) and ONNX files (the importer).
//!
//! Each [`Target::check`] must return without panicking on any input; where it accepts
//! an input it checks what follows from that (a loaded model runs; an imported ONNX file
//! is a model the runtime loads). Two drivers share them: libFuzzer through
//! `cargo fuzz run TARGET` (coverage-guided, nightly, `fuzz_targets/`), and
//! [`run`], a seeded mutation loop on stable that CI runs briefly and `fuzz-run` runs
//! for as long as asked.
use deepiot_board::board::board_state::{parse_kv, parse_probe};
use deepiot_board::board::image::{parse_image, Golden};
use deepiot_format::report::{BenchReport, InfoReport, RunReport};
use deepiot_runtime::Model;
use std::time::{Duration, Instant};

mod mutate;
mod seeds;

pub use mutate::{mutate, Rng};
pub use seeds::seeds;

/// Accepted models whose inference would be too big for a fuzzing loop are loaded (which
/// is what is under test) but not run.
const MAX_RUN_MACS: u64 = 2_000_000;
const MAX_RUN_ARENA_BYTES: usize = 16 << 20;

/// One parser facing untrusted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A model file: `deepiot_format::parse`, then `Model::load` and a run on zeros.
    Model,
    /// A `.npy` input of `deepiot-run --input`.
    Npy,
    /// A firmware image (`deepiot flash`, `image inspect`).
    Image,
    /// What a board sends back: probe output, `key=value` status, JSON reports.
    BoardReply,
    /// An ONNX file given to `deepiot import`.
    Onnx,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Model,
        Target::Npy,
        Target::Image,
        Target::BoardReply,
        Target::Onnx,
    ];

    /// The name `cargo fuzz run` and `fuzz-run` know it by.
    pub fn name(self) -> &'static str {
        match self {
            Target::Model => "model",
            Target::Npy => "npy",
            Target::Image => "image",
            Target::BoardReply => "board_reply",
            Target::Onnx => "onnx",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Feeds `data` to the parser; panics only on a bug.
    pub fn check(self, data: &[u8]) {
        match self {
            Target::Model => check_model(data),
            Target::Npy => {
                if let Ok(a) = deepiot_runtime::npy::parse(data) {
                    let n: usize = a.shape.iter().product();
                    assert_eq!(
                        n,
                        a.data.len(),
                        "an accepted .npy has as many values as its shape"
                    );
                }
            }
            Target::Image => {
                if let Ok(img) = parse_image(data) {
                    // Every file the manifest lists was read, with the size it states.
                    let m = &img.manifest;
                    for f in std::iter::once(&m.runtime).chain(m.models.iter().map(|x| &x.file)) {
                        if let Some(b) = img.files.get(&f.path) {
                            assert_eq!(b.len() as u64, f.bytes, "{}", f.path);
                        }
                    }
                }
            }
            Target::BoardReply => {
                let text = String::from_utf8_lossy(data);
                let _ = parse_probe(&text);
                let _ = parse_kv(&text);
                for line in text.lines().filter(|l| l.starts_with('{')) {
                    let _ = BenchReport::parse(line.as_bytes());
                    let _ = RunReport::parse(line.as_bytes());
                    let _ = InfoReport::parse(line.as_bytes());
                    let _ = Golden::from_json(line);
                }
            }
            Target::Onnx => {
                let options = deepiot_onnx::import::ImportOptions::default();
                if let Ok(imported) = deepiot_onnx::import::import(data, &options) {
                    // What the importer writes, the runtime must load.
                    if let Err(e) = Model::load(&imported.bytes) {
                        panic!("an imported ONNX file gave a model the runtime refuses: {e}");
                    }
                }
            }
        }
    }
}

fn check_model(data: &[u8]) {
    let _ = deepiot_format::parse(data);
    let Ok(mut model) = Model::load(data) else {
        return;
    };
    if model.macs() > MAX_RUN_MACS || model.arena_bytes() > MAX_RUN_ARENA_BYTES {
        return;
    }
    let inputs: Vec<Vec<f32>> = (0..model.input_count())
        .map(|i| vec![0.0; model.input_len(i)])
        .collect();
    let mut outputs: Vec<Vec<f32>> = (0..model.output_count())
        .map(|i| vec![0.0; model.output_len(i)])
        .collect();
    let ins: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
    let mut outs: Vec<&mut [f32]> = outputs.iter_mut().map(|v| v.as_mut_slice()).collect();
    if let Err(e) = model.run_multi(&ins, &mut outs) {
        panic!("a loaded model failed to run on inputs of its own sizes: {e}");
    }
}

/// What a [`run`] saw.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u64,
    /// Inputs that panicked, with the message.
    pub crashes: Vec<(Vec<u8>, String)>,
    /// Inputs that took longer than the hang limit.
    pub hangs: Vec<Vec<u8>>,
    pub slowest: Duration,
    pub seconds: f64,
}

/// A case slower than this is reported as a hang.
pub const HANG: Duration = Duration::from_secs(2);

/// Runs `cases` seeded mutations of `target`'s seeds (and of inputs mutated before, up to
/// `depth` mutations deep) through [`Target::check`], catching panics.
pub fn run(target: Target, corpus: &[Vec<u8>], cases: u64, seed: u64) -> Report {
    let mut rng = Rng::new(seed ^ (target as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut report = Report::default();
    let start = Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..cases {
        let input = mutate(&mut rng, corpus);
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(|| target.check(&input));
        let took = t.elapsed();
        report.slowest = report.slowest.max(took);
        if took > HANG {
            report.hangs.push(input.clone());
        }
        if let Err(p) = outcome {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            report.crashes.push((input, msg));
        }
        report.cases += 1;
    }
    std::panic::set_hook(hook);
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// The files of `fuzz/regressions/TARGET/`: inputs that once crashed or hung, kept so
/// that every run (CI's included) feeds them first.
pub fn regressions(target: Target) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target.name());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}
