//! One compression, whatever the method: set up (the model, its data, its accuracy), let
//! the method find what to remove, fine-tune the result, write it, report it.
//!
//! A method is one file implementing [`CompressionMethod`]; it sees the trained model
//! and returns the smaller network. Everything else — what is scored, how the result
//! recovers, what is written and how it is counted — is here, the same for all.
use super::config::{CompressConfig, Method};
use super::finetune::finetune;
use super::method::CompressionMethod;
use super::report::{
    count_params, layer_reports, print_summary, report_path, total_macs, CompressReport, Counting,
};
use super::setup::Setup;
use crate::export;
use anyhow::{bail, Context, Result};
use std::time::Instant;

/// The implementation of `method`.
pub fn method_of(method: Method) -> Box<dyn CompressionMethod> {
    match method {
        Method::Deepiot => Box::new(super::deepiot::DeepIot),
        Method::Magnitude => Box::new(super::magnitude::MagnitudePruning),
        Method::L1Structured => Box::new(super::l1::L1Structured),
    }
}

/// `deepiot compress`: compresses `cfg.model` with `cfg.method`, writes the smaller model
/// to `cfg.out` and its report beside it.
pub fn run(cfg: &CompressConfig) -> Result<CompressReport> {
    let t0 = Instant::now();
    let setup = Setup::load(cfg)?;
    print_settings(cfg, &setup)?;
    let original = setup.net.weights()?;
    let graph = setup.net.graph();
    let found = method_of(cfg.method).compress(&setup, cfg)?;

    // The test split is scored once, for the final model, unless --print-test asks for
    // the cut network's score too.
    let (acc_cut, finetune_seconds) = match &found.retrained {
        Some(r) => (r.accuracy_before, r.seconds),
        None => {
            let acc_cut = match cfg.print_test {
                true => Some(setup.test_accuracy(&found.net)?),
                false => None,
            };
            (acc_cut, finetune(cfg, &setup, &found.net, cfg.method)?)
        }
    };
    let acc_after = setup.test_accuracy(&found.net)?;
    let result = found.net.weights()?;
    let result_graph = found.net.graph();

    let params_before = count_params(&original, Counting::Stored);
    let params_after = count_params(&result, found.counting);
    let kept_fraction = params_after as f64 / params_before.max(1) as f64;
    let mut prov = setup.provenance.clone();
    prov.insert("method".into(), cfg.method.name().into());
    prov.insert("accuracy".into(), format!("{acc_after:.4}"));
    prov.insert(
        "original_accuracy".into(),
        format!("{:.4}", setup.acc_before),
    );
    prov.insert("kept_fraction".into(), format!("{kept_fraction:.5}"));
    prov.insert("compress_seed".into(), cfg.seed.to_string());
    for (k, v) in &found.provenance {
        prov.insert((*k).into(), v.clone());
    }
    export::save(&found.net, &prov, &cfg.out)?;
    if let Some(density) = found.sparse_copy {
        // Which of the two runs faster depends on the density and the board, so
        // `compare` times both.
        export::save_sparse(&found.net, &prov, &sparse_path(&cfg.out), density)?;
    }

    let report = CompressReport {
        task: setup.recipe.model_name().to_string(),
        method: cfg.method.name().into(),
        seed: cfg.seed,
        params_before,
        params_after,
        kept_fraction,
        macs_before: total_macs(graph, &original, Counting::Stored)?,
        macs_after: total_macs(result_graph, &result, found.counting)?,
        test_accuracy_before: setup.acc_before,
        test_accuracy_after_cut: acc_cut,
        held_out_accuracy_after_cut: found.search.evaluations.last().map(|e| e.val_accuracy),
        test_accuracy_after: acc_after,
        stopping_rule_met: found.search.missed.is_none(),
        layers: layer_reports(graph, &original, result_graph, &result, found.counting)?,
        search_seconds: found.search.seconds,
        seconds_per_iteration: found.search.seconds_per_iteration,
        search: found.search,
        finetune_seconds,
        wall_seconds: t0.elapsed().as_secs_f64(),
        config: found.search_config,
    };
    let mut json = serde_json::to_value(&report)?;
    if let (Some(obj), Some(details)) = (json.as_object_mut(), found.details) {
        obj.insert("baseline".into(), details);
    }
    let path = report_path(&cfg.out);
    crate::paths::write_atomic(&path, &serde_json::to_vec_pretty(&json)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    print_summary(&report, &cfg.out, &path);
    // The run is complete: its checkpoints go (a kill before this line leaves them, and
    // `--resume` then writes the same files again).
    let _ = std::fs::remove_dir_all(crate::train::checkpoint_dir(&cfg.out));
    if let (true, Some(gap)) = (cfg.strict, &report.search.missed) {
        bail!("--strict: {gap}; the model and report were written all the same");
    }
    Ok(report)
}

/// Prints, before anything runs, the settings a run uses: for a user's data they are
/// defaults nobody tuned, so the user should see them.
fn print_settings(cfg: &CompressConfig, setup: &Setup) -> Result<()> {
    let recipe = &setup.recipe;
    eprintln!(
        "compress: {} to at most {:.2} % of the parameters ({}: {}); fine-tuning {}, \
         batch {}, weight decay {}, augmentation {}, distillation weight {}; the test split \
         ({} examples) is only reported",
        cfg.method.name(),
        100.0 * cfg.target_kept,
        recipe.model_name(),
        if recipe.is_user() {
            "a user data folder, no built-in recipe: these are the defaults unless set by flags"
        } else {
            "the built-in task's recipe"
        },
        super::finetune::Schedule::of(cfg, recipe).describe(),
        cfg.batch,
        recipe.hyper().weight_decay,
        super::finetune::finetune_augment(cfg, recipe.data_task())?,
        cfg.distill_weight(recipe),
        setup.ds.test_len()
    );
    Ok(())
}

/// Where the sparse copy of a model written to `out` goes.
pub fn sparse_path(out: &std::path::Path) -> std::path::PathBuf {
    out.with_extension("sparse.safetensors")
}
