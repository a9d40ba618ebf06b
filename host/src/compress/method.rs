//! What a compression method is to the pipeline: a way to find what a trained network can
//! lose, returning the smaller network and what the report should say about it.
use super::config::CompressConfig;
use super::report::Counting;
use super::search::{SearchConfig, SearchOutcome};
use super::setup::Setup;
use crate::models::Net;
use anyhow::Result;

/// A way to find what a trained network can lose.
pub trait CompressionMethod {
    /// Returns the compressed network, before the common fine-tuning. `setup.net` is the
    /// original and must be left as it is (work on [`Net::weights`] copies).
    fn compress(&self, setup: &Setup, cfg: &CompressConfig) -> Result<Found>;
}

/// What a method found.
pub struct Found {
    pub net: Net,
    /// Structured results are counted as stored, unstructured ones by their nonzeros.
    pub counting: Counting,
    /// DeepIoT's search, or a baseline's pruning in the same shape
    /// ([`SearchOutcome::of_pruning`]).
    pub search: SearchOutcome,
    /// The search settings the report records.
    pub search_config: SearchConfig,
    /// The method's own settings and figures, written as the report's `baseline`.
    pub details: Option<serde_json::Value>,
    /// Set when the method retrained the result itself (magnitude pruning retrains
    /// with its mask fixed): the common fine-tuning is then skipped.
    pub retrained: Option<Retrained>,
    /// Write a sparse (CSR) copy beside the dense file, storing weights at or below this
    /// density in CSR.
    pub sparse_copy: Option<f64>,
    /// Entries added to the model file's provenance.
    pub provenance: Vec<(&'static str, String)>,
}

/// A method's own retraining.
pub struct Retrained {
    /// Test accuracy before it (with `--print-test` only).
    pub accuracy_before: Option<f64>,
    pub seconds: f64,
}
