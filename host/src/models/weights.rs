//! A network's weights as plain values: what surgery cuts, the baselines prune, reports
//! count and the model file stores, with no candle types in the way.
use super::{ModelError, Net};
use candle_core::{Device, Tensor};
use deepiot_format::Graph;
use std::collections::{BTreeMap, HashMap};

/// Tensors by name: shape and row-major values. Sorted by name, so that anything
/// computed by walking it (sums, hashes) is the same in every run.
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Weights as candle tensors by name: what training keeps of an epoch (the best one, a
/// running mean) without leaving the tensor world, and what [`Net::set_tensors`] takes.
pub type Tensors = HashMap<String, Tensor>;

impl Net {
    /// A copy of every weight.
    pub fn weights(&self) -> candle_core::Result<Weights> {
        Ok(self
            .tensors()?
            .into_iter()
            .map(|(name, shape, values)| (name, (shape, values)))
            .collect())
    }

    /// A copy of every weight as a tensor, detached from the network's variables, so that
    /// training on does not change it.
    pub fn snapshot(&self) -> candle_core::Result<Tensors> {
        self.vars()
            .into_iter()
            .zip(self.info().params.iter().flatten())
            .map(|(v, s)| Ok((s.name.clone(), v.as_tensor().copy()?)))
            .collect()
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
