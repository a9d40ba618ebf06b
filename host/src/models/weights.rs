//! A network's weights as plain values: what surgery cuts, the baselines prune, reports
//! count and the model file stores, with no candle types in the way.
use super::{ModelError, Net};
use candle_core::{Device, Tensor};
use deepiot_format::Graph;
use std::collections::{BTreeMap, HashMap};

/// Tensors by name: shape and row-major values. Sorted by name, so that anything
/// computed by walking it (sums, hashes) is the same in every run.
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

impl Net {
    /// A copy of every weight.
    pub fn weights(&self) -> candle_core::Result<Weights> {
        Ok(self
            .tensors()?
            .into_iter()
            .map(|(name, shape, values)| (name, (shape, values)))
            .collect())
    }

    /// A network for `graph` holding `weights` (one per parameter of the graph, by name).
    pub fn from_weights(graph: &Graph, weights: &Weights) -> Result<Net, ModelError> {
        let tensors = weights
            .iter()
            .map(|(name, (shape, values))| {
                let t = Tensor::from_vec(values.clone(), shape.as_slice(), &Device::Cpu)?;
                Ok((name.clone(), t))
            })
            .collect::<Result<HashMap<String, Tensor>, ModelError>>()?;
        Net::from_tensors(graph, tensors)
    }
}
