//! `deepiot eval` as a library function: a model file's test accuracy and confusion
//! matrix, run in the host's candle network or in the board runtime's library.
use super::batch::predict;
use super::config::{Engine, EvalConfig};
use super::malloc::tune_malloc;
use super::recipe::Recipe;
use crate::data::user::{is_user_folder, USER_TASK};
use crate::export;
use anyhow::{bail, Result};
use std::time::Instant;

/// Runs `deepiot eval`: test accuracy of a model file in the candle network.
pub fn eval(cfg: &EvalConfig) -> Result<f64> {
    if cfg.model.as_os_str().is_empty() {
        bail!("no model file: set EvalConfig::model to the .safetensors file to evaluate");
    }
    tune_malloc();
    let (net, prov) = export::load(&cfg.model)?;
    let recipe = match (&cfg.task, prov.get("data")) {
        (None, Some(d)) if d == USER_TASK && !cfg.data.as_deref().is_some_and(is_user_folder) => {
            bail!(
                "{} was trained on a user data folder; pass it with --data DIR",
                cfg.model.display()
            )
        }
        (task, prov_data) => Recipe::resolve(
            task.as_deref(),
            cfg.data.as_deref(),
            prov_data.map(String::as_str),
            &cfg.label_column,
        )?,
    };
    let data_task = recipe.data_task().to_string();
    let (ds, _, _) = recipe.load(cfg.data.as_deref(), None, Some(&net))?;
    if ds.shape != net.info().input_shapes[0] {
        bail!(
            "{} takes inputs {:?}, but `{data_task}` examples are {:?}",
            cfg.model.display(),
            net.info().input_shapes[0],
            ds.shape
        );
    }
    let bytes = std::fs::read(&cfg.model)?;
    let engine = match cfg.engine {
        Engine::Auto if has_int8(&bytes) => Engine::Runtime,
        Engine::Auto => Engine::Candle,
        e => e,
    };
    let t0 = Instant::now();
    let scores = match engine {
        Engine::Runtime => runtime_scores(&bytes, &ds.test_x)?,
        _ => predict(&net, &ds.test_x, 500)?,
    };
    let secs = t0.elapsed().as_secs_f64();
    let engine_name = match engine {
        Engine::Runtime => "the board runtime's kernels",
        _ => "the candle network",
    };
    let classes = ds.num_classes();
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (row, &y) in scores.iter().zip(&ds.test_y) {
        let p = row
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 {
                    (i, v)
                } else {
                    best
                }
            })
            .0;
        confusion[y as usize][p.min(classes - 1)] += 1;
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let acc = correct as f64 / ds.test_len().max(1) as f64;
    let per_class: Vec<serde_json::Value> = (0..classes)
        .map(|c| {
            let n: usize = confusion[c].iter().sum();
            serde_json::json!({
                "class": ds.classes[c], "examples": n,
                "accuracy": confusion[c][c] as f64 / n.max(1) as f64,
            })
        })
        .collect();
    if cfg.json {
        let v = serde_json::json!({
            "model": cfg.model, "data": data_task, "test_examples": ds.test_len(), "engine": engine,
            "test_accuracy": acc, "test_error": 1.0 - acc, "seconds": secs,
            "per_class": per_class, "confusion": confusion,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: test accuracy {acc:.4} (error {:.2} %) on {} `{data_task}` examples, run in {engine_name} ({secs:.1} s)",
            cfg.model.display(),
            100.0 * (1.0 - acc),
            ds.test_len()
        );
        for (c, row) in confusion.iter().enumerate() {
            let n: usize = row.iter().sum();
            println!(
                "  {:<16} {:>6} examples  accuracy {:.4}",
                ds.classes[c],
                n,
                row[c] as f64 / n.max(1) as f64
            );
        }
    }
    Ok(acc)
}

/// Whether a model file stores any weight int8.
fn has_int8(bytes: &[u8]) -> bool {
    deepiot_format::parse(bytes).is_ok_and(|f| f.quant_names().next().is_some())
}

/// Every example's scores from the board runtime's library (`deepiot_runtime::Model`), one
/// model per thread: the arithmetic the board does, int8 kernels included.
pub fn runtime_scores(bytes: &[u8], xs: &[f32]) -> Result<Vec<Vec<f32>>> {
    let model = deepiot_runtime::Model::load(bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (n_in, n_out) = (model.input_len(0), model.output_len(0));
    if model.input_count() != 1 || model.output_count() != 1 || n_in == 0 {
        bail!("the runtime engine scores models with one input and one output");
    }
    let examples: Vec<&[f32]> = xs.chunks_exact(n_in).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let per = examples.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Vec<f32>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = examples
            .chunks(per)
            .map(|chunk| {
                let mut m = model.clone();
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|x| {
                            let mut y = vec![0.0; n_out];
                            m.run(x, &mut y).map_err(|e| anyhow::anyhow!("{e}"))?;
                            Ok(y)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a scoring thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(examples.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}
