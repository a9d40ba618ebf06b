//! Where a run's data comes from and what it trains with when the user says nothing: a
//! built-in task's tuned recipe ([`Recipe::Zoo`]) or, for a user's own data folder, plain
//! defaults that assume nothing about the data ([`Recipe::User`]).
//!
//! `train`, `eval`, `compress` and `compare` all resolve one of these first, so the zoo
//! path stays exactly what it was and the user path differs only here.
use super::config::Hyper;
use crate::data::user::{self, Expect, USER_TASK};
use crate::data::{self, DataRoot, Dataset};
use crate::models::{zoo, Net};
use crate::rng::Rng;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A built-in task or a user's data folder.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    /// A zoo model: its data set, its architecture and its tuned settings.
    Zoo(&'static zoo::ModelSpec),
    /// A folder of `.npy` or CSV files given with `--data`: the model comes from a file
    /// (`--init`, or the one being compressed), the settings are [`Hyper::for_user_data`].
    User {
        dir: PathBuf,
        /// The label column of the CSV form.
        label_column: String,
    },
}

impl Recipe {
    /// The recipe of a run: a user folder when `data` is one (then `task` must not be
    /// given), else the zoo model of `task` or, failing that, of the model file's
    /// provenance (`provenance_task`).
    pub fn resolve(
        task: Option<&str>,
        data: Option<&Path>,
        provenance_task: Option<&str>,
        label_column: &str,
    ) -> Result<Recipe> {
        if let Some(dir) = data.filter(|d| user::is_user_folder(d)) {
            if let Some(t) = task {
                bail!(
                    "--task {t} names a built-in data set, but {} is a user data folder \
                     (train_x.npy or train.csv); leave out --task",
                    dir.display()
                );
            }
            return Ok(Recipe::User {
                dir: dir.to_path_buf(),
                label_column: label_column.to_string(),
            });
        }
        let Some(task) = task.or(provenance_task) else {
            bail!(
                "no data: pass --data DIR, a folder holding train_x.npy, train_y.npy, test_x.npy \
                 and test_y.npy (or train.csv and test.csv), or --task for a built-in data set{}",
                data.map(|d| format!(" ({} holds neither form)", d.display()))
                    .unwrap_or_default()
            );
        };
        let spec = zoo::find(task).with_context(|| {
            let names: Vec<&str> = zoo::MODELS.iter().map(|m| m.name).collect();
            format!("unknown task `{task}`; known: {}", names.join(", "))
        })?;
        Ok(Recipe::Zoo(spec))
    }

    /// The model's name in messages and reports: the zoo model, or `user`.
    pub fn model_name(&self) -> &str {
        match self {
            Recipe::Zoo(spec) => spec.name,
            Recipe::User { .. } => USER_TASK,
        }
    }

    /// The data task ([`crate::data::load`]'s name, or `user`): what augmentations and
    /// provenance are keyed on.
    pub fn data_task(&self) -> &str {
        match self {
            Recipe::Zoo(spec) => spec.data,
            Recipe::User { .. } => USER_TASK,
        }
    }

    pub fn is_user(&self) -> bool {
        matches!(self, Recipe::User { .. })
    }

    /// The training settings when none are given.
    pub fn hyper(&self) -> Hyper {
        match self {
            Recipe::Zoo(spec) => Hyper::for_model(spec.name),
            Recipe::User { .. } => Hyper::for_user_data(),
        }
    }

    /// The training-time dropout when none is given.
    pub fn dropout(&self) -> f32 {
        match self {
            Recipe::Zoo(spec) => Hyper::dropout_for_model(spec.name),
            Recipe::User { .. } => 0.0,
        }
    }

    /// Loads the data, with at most `max_train` training examples (a seeded sample).
    /// `root` is `--data` for a zoo task; `model`, when known, is checked against a user
    /// folder's shapes and class count as it loads. Returns the data, the folder it came
    /// from and how that folder was found.
    pub fn load(
        &self,
        root: Option<&Path>,
        max_train: Option<usize>,
        model: Option<&Net>,
    ) -> Result<(Dataset, PathBuf, String)> {
        let (mut ds, path, origin) = match self {
            Recipe::Zoo(spec) => {
                let root = DataRoot::resolve_for(root, spec.data)?;
                let ds = data::load(spec.data, &root).with_context(|| {
                    format!("loading the `{}` data for {}", spec.data, spec.name)
                })?;
                (ds, root.path, root.origin.to_string())
            }
            Recipe::User { dir, label_column } => {
                let expect = model.map(expect_of);
                let ds = user::load(dir, label_column, expect.as_ref())
                    .with_context(|| format!("loading the user data folder {}", dir.display()))?;
                (
                    ds,
                    dir.clone(),
                    "a user data folder, taken as it is".to_string(),
                )
            }
        };
        if let Some(m) = max_train.filter(|&m| m < ds.train_len()) {
            subsample_train(&mut ds, m);
        }
        Ok((ds, path, origin))
    }
}

/// The input shape and class count of `net`.
pub fn expect_of(net: &Net) -> Expect {
    let info = net.info();
    Expect {
        input: info.input_shapes.first().cloned().unwrap_or_default(),
        classes: info
            .outputs
            .first()
            .map_or(0, |&s| info.shape_of(s).iter().product()),
    }
}

/// Keeps a seeded sample of `m` training examples (not the first `m`: those may be
/// sorted by class), in their stored order.
fn subsample_train(ds: &mut Dataset, m: usize) {
    let mut idx = Rng::derive(0x5eed, 0).permutation(ds.train_len());
    idx.truncate(m);
    idx.sort_unstable();
    let len = ds.example_len();
    ds.train_x = idx
        .iter()
        .flat_map(|&i| ds.train_x[i * len..(i + 1) * len].to_vec())
        .collect();
    ds.train_y = idx.iter().map(|&i| ds.train_y[i]).collect();
}
