//! What a comparison runs: its settings as plain data, the `compress` configuration of
//! each of its runs, and the cache key of each.
use crate::compress::{CompressConfig, MagnitudeSettings, Method};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Compare compression methods on one trained model. `Default` holds the command line's
/// defaults; `task` and `out` must be set.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    /// The zoo model / task (its data set is the test set of every row); empty with a
    /// user data folder as `data`.
    pub task: String,
    /// The trained model (default: OUT/original.safetensors).
    pub model: Option<PathBuf>,
    pub methods: Vec<Method>,
    /// Target kept fractions of the parameters.
    pub targets: Vec<f64>,
    /// Existing results used instead of running their method: `METHOD=MODEL`.
    pub reuse: Vec<String>,
    pub data: Option<PathBuf>,
    /// The label column of a user folder's CSV form.
    pub label_column: String,
    pub max_train: Option<usize>,
    /// Fine-tuning (retraining) epochs of every method.
    pub finetune_epochs: usize,
    /// Settings every run gets when set; `None` leaves `compress`'s default.
    pub finetune_lr: Option<f64>,
    pub finetune_lr_decay: Option<f64>,
    pub finetune_dropout: Option<f32>,
    pub finetune_mixup: Option<f32>,
    pub distill_alpha: Option<f32>,
    /// DeepIoT's FLOPs-aware search weight (DeepIoT runs only).
    pub flops_weight: Option<f64>,
    /// DeepIoT's latency-aware search weight and the latency file that prices it
    /// (DeepIoT runs only; `deepiot compress --latency-weight/--latency-model`).
    pub latency_weight: Option<f64>,
    pub latency_model: Option<PathBuf>,
    pub finetune_augment: Option<String>,
    /// DeepIoT search iterations at most.
    pub max_iterations: usize,
    pub magnitude: MagnitudeSettings,
    /// One run of every method at every target per seed (search and fine-tuning); the
    /// report gives each run and the mean ± std per method and target.
    pub seeds: Vec<u64>,
    /// Runtime bench iterations and warm-up runs per model.
    pub iterations: usize,
    pub warmup: usize,
    /// "Equal accuracy": at most this many points below the original's test accuracy.
    pub within: f64,
    /// Skip the runtime timings.
    pub no_bench: bool,
    /// A built `deepiot-run` to time with (default: find or build it).
    pub runtime: Option<PathBuf>,
    /// Only redraw report.md and the figures from OUT/report.json.
    pub report_only: bool,
    /// Report the runs already in the cache and run nothing new (a sweep still going in
    /// other processes, or cut short, reported as far as it got).
    pub cached_only: bool,
    /// Output folder: report.md, report.json, plots, cached runs.
    pub out: PathBuf,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            task: String::new(),
            model: None,
            methods: Method::ALL.to_vec(),
            targets: vec![0.05, 0.02],
            reuse: vec![],
            data: None,
            label_column: crate::data::user::DEFAULT_LABEL_COLUMN.to_string(),
            max_train: None,
            finetune_epochs: 4,
            finetune_lr: None,
            finetune_lr_decay: None,
            finetune_dropout: None,
            finetune_mixup: None,
            distill_alpha: None,
            flops_weight: None,
            latency_weight: None,
            latency_model: None,
            finetune_augment: None,
            max_iterations: 20_000,
            magnitude: MagnitudeSettings::default(),
            seeds: vec![1],
            iterations: 1000,
            warmup: 50,
            within: 0.1,
            no_bench: false,
            runtime: None,
            report_only: false,
            cached_only: false,
            out: PathBuf::new(),
        }
    }
}

impl CompareConfig {
    /// The `compress` run of `method` at `target` with `seed` on `model`: its defaults
    /// with the comparison's choices on top.
    pub fn compress_config(
        &self,
        model: &Path,
        method: Method,
        target: f64,
        seed: u64,
        out: &Path,
    ) -> CompressConfig {
        let d = CompressConfig::default();
        CompressConfig {
            model: model.to_path_buf(),
            out: out.to_path_buf(),
            task: Some(self.task.clone()).filter(|t| !t.is_empty()),
            data: self.data.clone(),
            label_column: self.label_column.clone(),
            method,
            target_kept: target,
            max_iterations: self.max_iterations,
            finetune_epochs: Some(self.finetune_epochs),
            seed,
            max_train: self.max_train,
            magnitude: self.magnitude.clone(),
            finetune_lr: self.finetune_lr.or(d.finetune_lr),
            finetune_lr_decay: self.finetune_lr_decay.or(d.finetune_lr_decay),
            finetune_augment: self
                .finetune_augment
                .clone()
                .unwrap_or(d.finetune_augment.clone()),
            finetune_dropout: self.finetune_dropout.unwrap_or(d.finetune_dropout),
            finetune_mixup: self.finetune_mixup.or(d.finetune_mixup),
            distill_alpha: self.distill_alpha.or(d.distill_alpha),
            flops_weight: match (method, self.flops_weight) {
                (Method::Deepiot, Some(w)) => w,
                _ => d.flops_weight,
            },
            latency_weight: match (method, self.latency_weight) {
                (Method::Deepiot, Some(w)) => w,
                _ => d.latency_weight,
            },
            latency_model: self
                .latency_model
                .clone()
                .filter(|_| method == Method::Deepiot),
            ..d
        }
    }

    /// The settings a comparison passes only when the user sets them, by their
    /// `compress` flag: they enter the cache key only when set, so that earlier caches
    /// stay valid.
    fn optional_settings(&self, method: Method) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::Value;
        [
            ("--finetune-lr", self.finetune_lr.map(Value::from)),
            (
                "--finetune-lr-decay",
                self.finetune_lr_decay.map(Value::from),
            ),
            (
                "--finetune-augment",
                self.finetune_augment.clone().map(Value::from),
            ),
            ("--finetune-dropout", self.finetune_dropout.map(Value::from)),
            ("--finetune-mixup", self.finetune_mixup.map(Value::from)),
            ("--distill-alpha", self.distill_alpha.map(Value::from)),
            (
                "--flops-weight",
                self.flops_weight
                    .filter(|_| method == Method::Deepiot)
                    .map(Value::from),
            ),
            (
                "--latency-weight",
                self.latency_weight
                    .filter(|_| method == Method::Deepiot)
                    .map(Value::from),
            ),
            // The file's contents, not its name: a re-profiled file prices differently.
            (
                "--latency-model",
                self.latency_model
                    .as_ref()
                    .filter(|_| method == Method::Deepiot)
                    .map(|p| match std::fs::read(p) {
                        Ok(bytes) => Value::from(crate::data::sha256_hex(&bytes)),
                        Err(_) => Value::from(p.display().to_string()),
                    }),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, value)| value.map(|v| (flag, v)))
        .collect()
    }

    /// The cache key of one run: everything that changes its result.
    pub fn cache_key(&self, method: Method, target: f64, seed: u64, model_sha: &str) -> String {
        let mut settings = serde_json::json!({
            "method": method.name(),
            "target": target,
            "model": model_sha,
            "task": self.task,
            "data": self.data.as_ref().map(|d| d.display().to_string()),
            "max_train": self.max_train,
            "finetune_epochs": self.finetune_epochs,
            "max_iterations": self.max_iterations,
            "seed": seed,
            "baseline": if method == Method::Magnitude { serde_json::to_value(&self.magnitude).ok() } else { None },
        });
        if self.label_column != d_label() {
            settings["label_column"] = self.label_column.clone().into();
        }
        for (flag, value) in self.optional_settings(method) {
            settings[flag.trim_start_matches("--").replace('-', "_")] = value;
        }
        let h = Sha256::digest(settings.to_string().as_bytes());
        format!("{:x}", h)[..12].to_string()
    }
}

/// The default CSV label column, which stays out of the cache key.
fn d_label() -> &'static str {
    crate::data::user::DEFAULT_LABEL_COLUMN
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fine-tuning setting given to `compare` reaches every `compress` run and changes
    /// the cache key (a cached result made without it is not reused); left out, neither.
    #[test]
    fn fine_tuning_settings_reach_compress_and_the_cache_key() {
        let plain = CompareConfig {
            task: "mnist-lenet5".into(),
            ..CompareConfig::default()
        };
        let mixed = CompareConfig {
            finetune_mixup: Some(0.4),
            finetune_dropout: Some(0.1),
            distill_alpha: Some(1.0),
            ..plain.clone()
        };
        let key = |c: &CompareConfig| c.cache_key(Method::L1Structured, 0.02, 1, "sha");
        assert_ne!(key(&plain), key(&mixed));
        assert_eq!(key(&plain), key(&plain.clone()));
        // The key of the settings before the redesign, so that earlier caches stay valid.
        assert_eq!(key(&plain), PLAIN_KEY);
        assert_ne!(
            plain.cache_key(Method::L1Structured, 0.02, 2, "sha"),
            PLAIN_KEY
        );
        let run = |c: &CompareConfig| {
            c.compress_config(
                Path::new("m.safetensors"),
                Method::L1Structured,
                0.02,
                1,
                Path::new("o"),
            )
        };
        assert_eq!(run(&mixed).finetune_mixup, Some(0.4));
        assert_eq!(run(&mixed).finetune_dropout, 0.1);
        assert_eq!(run(&mixed).distill_alpha, Some(1.0));
        assert_eq!(run(&plain).finetune_mixup, None);
        assert_eq!(run(&plain).distill_alpha, None);
        assert_eq!(run(&plain).finetune_dropout, 0.0);
        assert_eq!(
            run(&plain),
            CompressConfig {
                model: "m.safetensors".into(),
                out: "o".into(),
                task: Some("mnist-lenet5".into()),
                method: Method::L1Structured,
                target_kept: 0.02,
                finetune_epochs: Some(4),
                ..CompressConfig::default()
            }
        );
    }

    const PLAIN_KEY: &str = "118cfa9900ba";
}
