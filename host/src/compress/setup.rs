//! The first step of every compression: the trained model, the data it is judged on, and
//! its accuracy before anything is removed.
use super::config::CompressConfig;
use crate::data::Dataset;
use crate::export;
use crate::models::Net;
use crate::train::{self, Distill, Recipe};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// The trained model and the data it is judged on.
pub struct Setup {
    pub net: Net,
    pub provenance: BTreeMap<String, String>,
    /// The built-in task or the user data folder the model is judged on.
    pub recipe: Recipe,
    pub ds: Dataset,
    pub test_idx: Vec<usize>,
    pub acc_before: f64,
}

impl Setup {
    /// Loads the model named by `cfg.model` and its data (a user folder given with
    /// `--data`, else the task of `--task` or of the model's provenance), and scores the
    /// original.
    pub fn load(cfg: &CompressConfig) -> Result<Setup> {
        if cfg.model.as_os_str().is_empty() || cfg.out.as_os_str().is_empty() {
            bail!("a compression needs the model file and the output path");
        }
        train::tune_malloc();
        let (net, provenance) = export::load(&cfg.model)?;
        let recipe = Recipe::resolve(
            cfg.task.as_deref(),
            cfg.data.as_deref(),
            provenance.get("task").map(String::as_str),
            &cfg.label_column,
        )
        .with_context(|| format!("compressing {}", cfg.model.display()))?;
        let (ds, path, origin) = recipe.load(cfg.data.as_deref(), cfg.max_train, Some(&net))?;
        if recipe.is_user() {
            eprintln!(
                "{}: {} train / {} test examples of {:?} from {} ({origin})",
                ds.name,
                ds.train_len(),
                ds.test_len(),
                ds.shape,
                path.display()
            );
        }
        let test_idx: Vec<usize> = (0..ds.test_len()).collect();
        let acc_before = train::accuracy(&net, &ds.test_x, &ds.test_y, &test_idx)?;
        eprintln!(
            "{}: test accuracy {:.2} % before compression",
            cfg.model.display(),
            100.0 * acc_before
        );
        Ok(Setup {
            net,
            provenance,
            recipe,
            ds,
            test_idx,
            acc_before,
        })
    }

    /// Test accuracy of `net` on this setup's data.
    pub fn test_accuracy(&self, net: &Net) -> Result<f64> {
        Ok(train::accuracy(
            net,
            &self.ds.test_x,
            &self.ds.test_y,
            &self.test_idx,
        )?)
    }
}

/// Distillation from the original file, as every method's fine-tuning does, so that the
/// methods differ in what they remove and not in how they recover.
pub fn distill(cfg: &CompressConfig, recipe: &crate::train::Recipe) -> Result<Option<Distill>> {
    let alpha = cfg.distill_weight(recipe);
    if alpha <= 0.0 {
        return Ok(None);
    }
    let (teacher, _) = export::load(&cfg.model)?;
    Ok(Some(Distill::new(
        vec![std::sync::Arc::new(teacher)],
        cfg.temperature,
        alpha,
    )))
}
