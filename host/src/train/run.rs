//! `deepiot train` as a library function: resolves a [`TrainConfig`] against the model's
//! recipe, loads the data (and any `init` or teacher models), runs [`fit`], and writes the
//! model file and its JSON report.
use super::checkpoint::Checkpoint;
use super::config::{Hyper, TrainConfig};
use super::distill::Distill;
use super::fit::{fit, FitOptions, History};
use super::malloc::tune_malloc;
use super::recipe::Recipe;
use super::validation::validation_split;
use crate::data::augment::{augment_name, augment_named};
use crate::data::Dataset;
use crate::export;
use crate::models::{zoo, Net};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The JSON report written beside a trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub data: String,
    pub data_root: String,
    pub file: String,
    pub seed: u64,
    pub hyper: Hyper,
    pub dropout: f32,
    pub threads: usize,
    pub params: usize,
    pub macs: u64,
    pub flops: u64,
    pub train_examples: usize,
    pub val_examples: usize,
    pub test_examples: usize,
    pub test_accuracy: f64,
    pub test_error: f64,
    pub val_accuracy: f64,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub wall_seconds: f64,
    pub history: History,
}

/// The path of the report beside a model file.
pub fn report_path(out: &Path) -> PathBuf {
    out.with_extension("report.json")
}

/// Number of threads candle's matmuls use.
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Fails unless `net` takes the data set's examples and has one output per class.
fn check_fits(net: &Net, ds: &Dataset, what: &str) -> Result<()> {
    let info = net.info();
    if info.input_shapes.first() != Some(&ds.shape) {
        bail!(
            "{what} takes inputs {:?}, but the `{}` examples are {:?}",
            info.input_shapes.first(),
            ds.name,
            ds.shape
        );
    }
    let out: usize = info
        .outputs
        .first()
        .map_or(0, |&s| info.shape_of(s).iter().product());
    if out != ds.num_classes() {
        bail!(
            "{what} has {out} outputs, but `{}` has {} classes",
            ds.name,
            ds.num_classes()
        );
    }
    Ok(())
}

/// Runs `deepiot train`.
pub fn run(cfg: &TrainConfig) -> Result<Report> {
    if cfg.out.as_os_str().is_empty() {
        bail!("no output file: set TrainConfig::out (--out) to where the trained model goes");
    }
    if cfg.reinit && cfg.init.is_none() {
        bail!("--reinit needs --init: it redraws the weights of that model's layers");
    }
    tune_malloc();
    let t0 = Instant::now();
    let task = Some(cfg.task.as_str()).filter(|t| !t.is_empty());
    let recipe = Recipe::resolve(task, cfg.data.as_deref(), None, &cfg.label_column)?;
    let mut hyper = recipe.hyper();
    if let Some(e) = cfg.epochs {
        hyper.epochs = e;
    }
    if let Some(b) = cfg.batch {
        hyper.batch = b;
    }
    if let Some(lr) = cfg.lr {
        hyper.lr = lr;
    }
    if let Some(d) = cfg.lr_decay {
        hyper.lr_decay = d;
    }
    if let Some(w) = cfg.weight_decay {
        hyper.weight_decay = w;
    }
    if let Some(p) = cfg.patience {
        hyper.patience = p;
    }
    let init = match &cfg.init {
        Some(path) => {
            Some(export::load(path).with_context(|| format!("loading --init {}", path.display()))?)
        }
        None if recipe.is_user() => bail!(
            "a user data folder has no built-in model: pass --init MODEL (a model file, e.g. \
             from `deepiot import`) to train it on {}",
            cfg.data.as_deref().unwrap_or(Path::new("")).display()
        ),
        None => None,
    };
    let (ds, root_path, root_origin) = recipe.load(
        cfg.data.as_deref(),
        cfg.max_train,
        init.as_ref().map(|(n, _)| n),
    )?;
    eprintln!(
        "{}: {} train / {} test examples of {:?} from {} ({})",
        ds.name,
        ds.train_len(),
        ds.test_len(),
        ds.shape,
        root_path.display(),
        root_origin
    );
    let (net, init_prov) = match init {
        Some((net, prov)) => {
            let net = if cfg.reinit {
                Net::new(net.graph(), cfg.seed)?
            } else {
                net
            };
            (net, Some(prov))
        }
        None => {
            let mut graph = zoo::build(recipe.model_name(), &ds.shape, ds.num_classes())
                .map_err(anyhow::Error::msg)?;
            graph.classes = ds.classes.clone();
            (Net::new(&graph, cfg.seed)?, None)
        }
    };
    let graph = net.graph().clone();
    check_fits(&net, &ds, "the model")?;
    let distill = if cfg.teacher.is_empty() {
        None
    } else {
        if !(0.0..=1.0).contains(&cfg.distill_alpha) || cfg.temperature <= 0.0 {
            bail!("--distill-alpha must be in [0, 1] and --temperature above 0");
        }
        let mut teachers = Vec::with_capacity(cfg.teacher.len());
        for path in &cfg.teacher {
            let (teacher, _) = export::load(path)
                .with_context(|| format!("loading --teacher {}", path.display()))?;
            check_fits(&teacher, &ds, "--teacher")?;
            teachers.push(std::sync::Arc::new(teacher));
        }
        Some(Distill::new(teachers, cfg.temperature, cfg.distill_alpha))
    };
    let dropout = cfg.dropout.unwrap_or_else(|| recipe.dropout());
    if !(0.0..0.9).contains(&cfg.val_fraction) {
        bail!(
            "--val-fraction must be in [0, 0.9), got {}",
            cfg.val_fraction
        );
    }
    if !(0.0..1.0).contains(&dropout) {
        bail!("--dropout must be in [0, 1), got {dropout}");
    }
    net.set_dropout(dropout, cfg.seed);
    let info = net.info().clone();
    let macs = info.total_macs(&graph);
    let augment = augment_name(recipe.data_task(), &cfg.augment)?;
    eprintln!(
        "{}: {} parameters, {} MACs per example; {} epochs, batch {}, lr {} x{}/epoch, \
         weight decay {}, dropout {dropout}, {} threads",
        recipe.model_name(),
        info.param_count(),
        macs,
        hyper.epochs,
        hyper.batch,
        hyper.lr,
        hyper.lr_decay,
        hyper.weight_decay,
        threads()
    );
    let opts = FitOptions {
        hyper: hyper.clone(),
        seed: cfg.seed,
        progress: true,
        verbose: true,
        checkpoint: Some(Checkpoint::beside(&cfg.out)),
        resume: cfg.resume,
        augment: augment_named(augment)?,
        max_steps_per_epoch: cfg.max_steps,
        val_fraction: cfg.val_fraction,
        model: recipe.model_name().to_string(),
        data: recipe.data_task().to_string(),
        distill,
        average_from: cfg.average_from,
        mixup: cfg.mixup,
        print_test: cfg.print_test,
    };
    let (train_idx, val_idx) = validation_split(&ds, opts.val_fraction, cfg.seed);
    eprintln!(
        "{}: held out {} of the {} training examples ({}) to pick the best epoch; \
         augmentation {augment}{}",
        recipe.model_name(),
        val_idx.len(),
        ds.train_len(),
        if val_idx.is_empty() {
            "none: the last epoch is kept".to_string()
        } else {
            format!("--val-fraction {}", cfg.val_fraction)
        },
        if recipe.is_user() {
            "; a user data folder has no built-in recipe, so these are the user-data \
             defaults unless set by flags"
        } else {
            ""
        }
    );
    let history = fit(&net, &ds, &opts)?;
    // The test split, once, for the model that is written.
    let test_idx: Vec<usize> = (0..ds.test_len()).collect();
    let test_accuracy = super::batch::accuracy(&net, &ds.test_x, &ds.test_y, &test_idx)?;
    let mut prov = init_prov.unwrap_or_default();
    if recipe.is_user() {
        // Whatever zoo task an --init model came from, this one learnt the user's data.
        prov.remove("task");
    } else {
        prov.insert("task".to_string(), recipe.model_name().to_string());
    }
    prov.insert("data".to_string(), recipe.data_task().to_string());
    prov.entry("method".to_string())
        .or_insert_with(|| "original".to_string());
    if !cfg.teacher.is_empty() {
        let names: Vec<String> = cfg
            .teacher
            .iter()
            .map(|t| t.display().to_string())
            .collect();
        prov.insert("teacher".to_string(), names.join(", "));
    }
    if let Some(alpha) = cfg.mixup {
        prov.insert("mixup".to_string(), alpha.to_string());
    }
    prov.insert("accuracy".to_string(), format!("{test_accuracy:.4}"));
    prov.insert(
        "val_accuracy".to_string(),
        format!("{:.4}", history.best_val_accuracy),
    );
    prov.insert("seed".to_string(), cfg.seed.to_string());
    prov.insert("epochs".to_string(), history.epochs.len().to_string());
    prov.insert("best_epoch".to_string(), history.best_epoch.to_string());
    prov.insert(
        "trainer".to_string(),
        "deepiot train (candle 0.11, AdamW)".to_string(),
    );
    export::save(&net, &prov, &cfg.out)
        .with_context(|| format!("writing {}", cfg.out.display()))?;
    let report = Report {
        model: recipe.model_name().to_string(),
        data: recipe.data_task().to_string(),
        data_root: root_path.display().to_string(),
        file: cfg.out.display().to_string(),
        seed: cfg.seed,
        hyper,
        dropout,
        threads: threads(),
        params: info.param_count(),
        macs,
        flops: 2 * macs,
        train_examples: train_idx.len(),
        val_examples: val_idx.len(),
        test_examples: ds.test_len(),
        test_accuracy,
        test_error: 1.0 - test_accuracy,
        val_accuracy: history.best_val_accuracy,
        best_epoch: history.best_epoch,
        epochs_run: history.epochs.len(),
        stopped_early: history.stopped_early,
        wall_seconds: t0.elapsed().as_secs_f64(),
        history,
    };
    let rp = report_path(&cfg.out);
    crate::paths::write_atomic(&rp, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", rp.display()))?;
    Checkpoint::beside(&cfg.out).remove();
    if cfg.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: test accuracy {:.4} (error {:.2} %) at epoch {} of {}; {} parameters; {:.0} s training ({:.0} s wall)",
            recipe.model_name(),
            test_accuracy,
            100.0 * (1.0 - test_accuracy),
            report.best_epoch,
            report.epochs_run,
            report.params,
            report.history.seconds,
            report.wall_seconds
        );
        println!("wrote {} and {}", cfg.out.display(), rp.display());
    }
    Ok(report)
}
