//! DeepIoT's method: the compressor-critic search ([`super::search`]) learns which
//! elements every layer can lose, and surgery ([`super::surgery::cut`]) cuts them out of
//! the critic's weights, trained under the masks, so that every layer becomes a smaller
//! dense matrix.
use super::config::CompressConfig;
use super::method::{CompressionMethod, Found};
use super::report::Counting;
use super::search::{search, SearchConfig};
use super::setup::Setup;
use super::surgery::cut;
use crate::models::Net;
use crate::train::{self, checkpoint_dir};
use anyhow::Result;

/// `deepiot compress --method deepiot`.
pub struct DeepIot;

impl DeepIot {
    /// The search settings `cfg` asks for.
    pub fn search_config(setup: &Setup, cfg: &CompressConfig) -> Result<SearchConfig> {
        Ok(SearchConfig {
            target_kept: cfg.target_kept,
            max_drop: cfg.max_drop,
            batch: cfg.batch,
            period: cfg.period,
            delta: cfg.delta,
            tau_max: cfg.tau_max,
            gamma: cfg.gamma,
            eval_every: cfg.eval_every,
            max_iterations: cfg.max_iterations,
            hold_epochs: cfg.hold_epochs,
            critic_lr: cfg.critic_lr,
            compressor_lr: cfg.compressor_lr,
            hidden: cfg.hidden,
            augment: train::augment_name(setup.recipe.data_task(), &cfg.search_augment)?
                .to_string(),
            flops_weight: cfg.flops_weight,
            latency_weight: cfg.latency_weight,
            latency_model: cfg.latency_model.clone(),
            target_latency_us: cfg.target_latency_us,
            size_pressure: cfg.size_pressure,
            fresh_compressor_batch: cfg.fresh_compressor_batch,
            seed: cfg.seed,
            ..SearchConfig::default()
        })
    }
}

impl CompressionMethod for DeepIot {
    fn compress(&self, setup: &Setup, cfg: &CompressConfig) -> Result<Found> {
        let search_config = Self::search_config(setup, cfg)?;
        let (train_idx, val_idx) = train::split_validation(setup.ds.train_len(), 0.1, cfg.seed);
        let val_idx: Vec<usize> = val_idx
            .into_iter()
            .take(search_config.val_examples)
            .collect();
        eprintln!(
            "search: held-out scoring on {} of the {} training examples (seeded, 10 % at \
             most {}; never the test split); batch {}, critic lr {}, compressor lr {}, \
             augmentation {}, threshold +{} every {} iterations, at most {} iterations",
            val_idx.len(),
            setup.ds.train_len(),
            search_config.val_examples,
            search_config.batch,
            search_config.critic_lr,
            search_config.compressor_lr,
            search_config.augment,
            search_config.delta,
            search_config.period,
            search_config.max_iterations
        );
        // The critic: a copy of the original that trains under the sampled masks.
        let critic = Net::from_weights(setup.net.graph(), &setup.net.weights()?)?;
        let outcome = search(
            &critic,
            &setup.ds,
            &train_idx,
            &val_idx,
            &search_config,
            Some(&checkpoint_dir(&cfg.out)),
            cfg.resume,
        )?;
        let (small_graph, small_w) = cut(critic.graph(), &critic.weights()?, &outcome.keep)?;
        Ok(Found {
            net: Net::from_weights(&small_graph, &small_w)?,
            counting: Counting::Stored,
            provenance: vec![("search_iterations", outcome.iterations.to_string())],
            search: outcome,
            search_config,
            details: None,
            retrained: None,
            sparse_copy: None,
        })
    }
}
