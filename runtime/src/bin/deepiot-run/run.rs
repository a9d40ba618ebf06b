//! `deepiot-run MODEL --input FILE`: scores and class for every example.
use crate::args::RunOpts;
use crate::prelude::*;
use crate::{emit, input, load_model, shown, Failure, Result};
use core::fmt::Write;
use deepiot_runtime::format::report::{NamedShape, RunExample, RunInput, RunReport};

/// Index of the largest score; NaN never wins. `None` only if every score is NaN.
pub fn argmax(scores: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in scores.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

pub fn main(opts: &RunOpts) -> Result<()> {
    let (_, mut model) = load_model(&opts.model)?;
    let n_in = model.input_count();
    if opts.inputs.len() != n_in {
        return Err(Failure::usage(format!(
            "the model has {n_in} input(s) ({}) but {} --input file(s) were given; give one per input, in this order",
            model
                .graph()
                .inputs
                .iter()
                .map(|i| format!("{} {:?}", i.name, i.shape))
                .collect::<Vec<_>>()
                .join(", "),
            opts.inputs.len()
        )));
    }
    let mut files = Vec::with_capacity(n_in);
    for (i, path) in opts.inputs.iter().enumerate() {
        files.push(input::load(
            path,
            model.input_shape(i),
            model.input_len(i),
            opts.allow_nonfinite,
        )?);
    }
    let count = files[0].count;
    if let Some((i, f)) = files.iter().enumerate().find(|(_, f)| f.count != count) {
        return Err(Failure::input(format!(
            "{} holds {} example(s) but {} holds {count}; every input needs the same number",
            shown(&opts.inputs[i]),
            f.count,
            shown(&opts.inputs[0])
        )));
    }

    let n_out = model.output_count();
    let mut outputs: Vec<Vec<f32>> = (0..n_out).map(|o| vec![0.0; model.output_len(o)]).collect();
    let graph = model.graph().clone();
    let label = |class: Option<usize>| class.and_then(|c| graph.classes.get(c));

    let mut report = opts.json.then(|| RunReport {
        model: shown(&opts.model),
        inputs: graph
            .inputs
            .iter()
            .zip(&opts.inputs)
            .map(|(inp, file)| RunInput {
                name: inp.name.clone(),
                shape: inp.shape.clone(),
                file: shown(file),
            })
            .collect(),
        outputs: graph
            .outputs
            .iter()
            .enumerate()
            .map(|(o, name)| NamedShape {
                name: name.clone(),
                shape: model.output_shape(o).to_vec(),
            })
            .collect(),
        classes: graph.classes.clone(),
        examples: Vec::with_capacity(count),
    });
    let mut text = String::new();
    for e in 0..count {
        let ins: Vec<&[f32]> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let len = model.input_len(i);
                &f.values[e * len..(e + 1) * len]
            })
            .collect();
        let mut outs: Vec<&mut [f32]> = outputs.iter_mut().map(|v| v.as_mut_slice()).collect();
        model
            .run_multi(&ins, &mut outs)
            .map_err(|err| Failure::runtime(format!("inference on example {e} failed: {err}")))?;
        let scores = &outputs[0];
        let class = argmax(scores);
        if let Some(report) = report.as_mut() {
            report.examples.push(RunExample {
                index: e as u64,
                scores: json_values(scores),
                class: class.map(|c| c as u64),
                label: label(class).cloned(),
                other_outputs: (n_out > 1)
                    .then(|| outputs[1..].iter().map(|v| json_values(v)).collect()),
            });
        } else {
            let _ = write!(text, "example {e}: class ");
            match (class, label(class)) {
                (Some(c), Some(l)) => {
                    let _ = write!(text, "{c} ({l})");
                }
                (Some(c), None) => {
                    let _ = write!(text, "{c}");
                }
                (None, _) => text.push_str("none (all scores are NaN)"),
            }
            text.push('\n');
            for (o, v) in outputs.iter().enumerate() {
                let name = if n_out > 1 {
                    format!("{}: ", graph.outputs[o])
                } else {
                    String::new()
                };
                let _ = write!(text, "  {name}scores:");
                for s in v {
                    let _ = write!(text, " {s:.6}");
                }
                text.push('\n');
            }
        }
        // Flush large batches as they go rather than holding every line.
        if text.len() > 1 << 16 {
            emit(&text)?;
            text.clear();
        }
    }
    if let Some(report) = &report {
        text = serde_json::to_string(report)
            .map_err(|e| Failure::runtime(format!("cannot write the report: {e}")))?;
        text.push('\n');
    }
    emit(&text)
}

/// The values as the report holds them: JSON has no NaN or infinity, so those are `None`
/// (printed as `null`).
fn json_values(values: &[f32]) -> Vec<Option<f32>> {
    values.iter().map(|v| v.is_finite().then_some(*v)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_skips_nan_and_takes_the_first_maximum() {
        assert_eq!(super::argmax(&[1.0, 3.0, 3.0, -1.0]), Some(1));
        assert_eq!(super::argmax(&[f32::NAN, -5.0, f32::NAN]), Some(1));
        assert_eq!(super::argmax(&[f32::NAN]), None);
        assert_eq!(super::argmax(&[]), None);
    }
}
