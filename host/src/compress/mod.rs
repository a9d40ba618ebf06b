//! DeepIoT compression: where masks go, and cutting a masked model down to smaller dense
//! layers.
pub mod baseline;
pub mod cli;
pub mod compressor;
pub mod cost;
pub mod l1;
pub mod magnitude;
pub mod masks;
pub mod search;
pub mod sites;
pub mod surgery;

pub use sites::{Site, SiteError, SiteMap};
pub use surgery::{cut, mask_weights, Weights};
