//! The masks a network multiplies in its forward pass. They belong to the network: the
//! compressor ([`crate::compress::masks::MaskPlan`]) decides their values, the network only
//! applies them.
use candle_core::Tensor;

/// Masks ready for a forward pass.
#[derive(Debug, Clone)]
pub struct NodeMasks {
    /// Multiplies node `i`'s output (same shape, batch first).
    pub node: Vec<Option<Tensor>>,
    /// Multiplies the state of each direction of recurrent node `i` (`[B, H]`).
    pub rnn: Vec<Option<Vec<Tensor>>>,
}
