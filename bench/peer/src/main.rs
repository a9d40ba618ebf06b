//! `deepiot-peer-bench [--rounds R] [--iterations N] NAME=MODEL.safetensors,MODEL.onnx[,MODEL.int8.safetensors] ...`
//!
//! Times deepiot's runtime and tract on the same model, in this one process, alternating:
//! every round runs N single inferences of each engine on each model, so both see the same
//! machine state; the medians are over all rounds. Build it for the board's instruction set
//! (`scripts/peer-bench.sh` does: static i686 musl, `target-cpu=silvermont`) so the two
//! engines compete on the CPU deepiot ships for.
//!
//! tract is timed as `SimpleState::run` alone (its plan and state made once, the input
//! tensor cloned outside the timed call), deepiot as `Model::run`. Both get the same
//! deterministic inputs, and their outputs are compared before timing starts.
//!
//! Given a third file, the model's int8 form (`deepiot quantize`), deepiot's runtime runs
//! it too, in the same rounds, and the table adds its p50 and its ratio to the f32 model.
use deepiot_runtime::format::rng::fill_symmetric;
use deepiot_runtime::Model;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::prelude::*;

struct Case {
    name: String,
    deepiot: Model,
    int8: Option<Model>,
    tract: Arc<TypedSimplePlan>,
    input_shape: Vec<usize>,
    input: Vec<f32>,
    output_len: usize,
}

struct Options {
    rounds: usize,
    iterations: usize,
    cases: Vec<(String, String, String, Option<String>)>,
}

fn usage() -> String {
    "usage: deepiot-peer-bench [--rounds R] [--iterations N] NAME=MODEL.safetensors,MODEL.onnx[,MODEL.int8.safetensors] ..."
        .into()
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        rounds: 9,
        iterations: 200,
        cases: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> Result<usize, String> {
            let v = args.next().ok_or(format!("{what} needs a value"))?;
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{what} needs a whole number above 0, got `{v}`"))
        };
        match a.as_str() {
            "--rounds" => o.rounds = number("--rounds")?,
            "--iterations" => o.iterations = number("--iterations")?,
            "-h" | "--help" => return Err(usage()),
            case => {
                let (name, files) = case.split_once('=').ok_or(format!(
                    "`{case}`: expected NAME=MODEL.safetensors,MODEL.onnx"
                ))?;
                let (st, rest) = files.split_once(',').ok_or(format!(
                    "`{case}`: expected NAME=MODEL.safetensors,MODEL.onnx"
                ))?;
                let (onnx, int8) = match rest.split_once(',') {
                    Some((onnx, int8)) => (onnx, Some(int8.to_string())),
                    None => (rest, None),
                };
                o.cases.push((name.into(), st.into(), onnx.into(), int8));
            }
        }
    }
    if o.cases.is_empty() {
        return Err(usage());
    }
    Ok(o)
}

fn load(name: &str, st: &str, onnx: &str, int8: Option<&str>) -> Result<Case, String> {
    let bytes = std::fs::read(st).map_err(|e| format!("{st}: {e}"))?;
    let deepiot = Model::load(&bytes).map_err(|e| format!("{st}: {e}"))?;
    if deepiot.input_count() != 1 || deepiot.output_count() != 1 {
        return Err(format!(
            "{st}: the peer bench takes single-input, single-output models"
        ));
    }
    let input_shape: Vec<usize> = deepiot.input_shape(0).to_vec();
    let mut batch_shape = vec![1usize];
    batch_shape.extend(&input_shape);
    let tract = tract_onnx::onnx()
        .model_for_path(onnx)
        .and_then(|m| m.with_input_fact(0, f32::fact(&batch_shape).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("{onnx}: tract: {e:?}"))?;
    let mut input = vec![0f32; deepiot.input_len(0)];
    fill_symmetric(42, &mut input);
    let output_len = deepiot.output_len(0);
    let int8 = match int8 {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            let m = Model::load(&bytes).map_err(|e| format!("{path}: {e}"))?;
            if m.input_len(0) != input.len() || m.output_len(0) != output_len {
                return Err(format!("{path}: not the same model as {st}"));
            }
            Some(m)
        }
        None => None,
    };
    Ok(Case {
        name: name.into(),
        deepiot,
        int8,
        tract,
        input_shape: batch_shape,
        input,
        output_len,
    })
}

impl Case {
    fn tensor(&self) -> Result<Tensor, String> {
        Tensor::from_shape(&self.input_shape, &self.input).map_err(|e| format!("{e:?}"))
    }

    /// The largest difference between the two engines' outputs, relative to the largest
    /// output: timing two engines that disagree would compare different work.
    fn check_agreement(&mut self) -> Result<f32, String> {
        let mut ours = vec![0f32; self.output_len];
        self.deepiot
            .run(&self.input, &mut ours)
            .map_err(|e| format!("{}: deepiot: {e}", self.name))?;
        if let Some(m) = &mut self.int8 {
            let mut q = vec![0f32; self.output_len];
            m.run(&self.input, &mut q)
                .map_err(|e| format!("{}: int8: {e}", self.name))?;
            let scale = ours.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            let diff = ours
                .iter()
                .zip(&q)
                .map(|(a, b)| (a - b).abs() / scale)
                .fold(0.0, f32::max);
            eprintln!("{}: int8 differs from f32 by {diff:.1e} (relative)", self.name);
        }
        let out = self
            .tract
            .run(tvec!(self.tensor()?.into()))
            .map_err(|e| format!("{}: tract: {e:?}", self.name))?;
        let theirs = out[0]
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
            .map_err(|e| format!("{}: tract output: {e:?}", self.name))?;
        if theirs.len() != ours.len() {
            return Err(format!(
                "{}: tract gives {} outputs, deepiot {}",
                self.name,
                theirs.len(),
                ours.len()
            ));
        }
        let scale = ours.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        Ok(ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0, f32::max))
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run() -> Result<(), String> {
    let o = parse_args()?;
    let mut cases = Vec::new();
    for (name, st, onnx, int8) in &o.cases {
        let mut c = load(name, st, onnx, int8.as_deref())?;
        let diff = c.check_agreement()?;
        if diff > 1e-4 {
            return Err(format!(
                "{name}: deepiot and tract disagree by {diff:.2e} (relative); not timing different computations"
            ));
        }
        eprintln!("{name}: engines agree to {diff:.1e} (relative)");
        cases.push(c);
    }
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut quant: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..o.rounds {
        for (k, c) in cases.iter_mut().enumerate() {
            let mut out = vec![0f32; c.output_len];
            for _ in 0..o.iterations {
                let t = Instant::now();
                c.deepiot
                    .run(std::hint::black_box(&c.input), &mut out)
                    .map_err(|e| e.to_string())?;
                ours[k].push(t.elapsed().as_secs_f64() * 1e6);
            }
            if let Some(m) = &mut c.int8 {
                for _ in 0..o.iterations {
                    let t = Instant::now();
                    m.run(std::hint::black_box(&c.input), &mut out)
                        .map_err(|e| e.to_string())?;
                    quant[k].push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            let mut state = c.tract.spawn().map_err(|e| format!("{e:?}"))?;
            for _ in 0..o.iterations {
                let input = tvec!(c.tensor()?.into());
                let t = Instant::now();
                let r = state.run(input).map_err(|e| format!("{e:?}"))?;
                theirs[k].push(t.elapsed().as_secs_f64() * 1e6);
                std::hint::black_box(r);
            }
        }
        eprintln!("round {}/{} done", round + 1, o.rounds);
    }
    println!(
        "{} rounds x {} runs per engine and model, alternating; p50 in µs",
        o.rounds, o.iterations
    );
    println!(
        "| model | deepiot-run p50 | tract p50 | deepiot / tract | deepiot int8 p50 | int8 / f32 |\n|---|---|---|---|---|---|"
    );
    for (k, c) in cases.iter().enumerate() {
        let (a, b) = (median(&mut ours[k]), median(&mut theirs[k]));
        let int8 = match quant[k].is_empty() {
            true => "| - | - |".to_string(),
            false => {
                let q = median(&mut quant[k]);
                format!("| {q:.1} | {:.2} |", q / a)
            }
        };
        println!("| {} | {a:.1} | {b:.1} | {:.2} {int8}", c.name, a / b);
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deepiot-peer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
