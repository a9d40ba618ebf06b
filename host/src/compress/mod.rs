//! Compression: one pipeline ([`pipeline::run`]) and interchangeable methods behind
//! [`method::CompressionMethod`], one file each: DeepIoT's compressor-critic
//! ([`deepiot`], with [`search`], [`compressor`] and [`cost`]), magnitude pruning with
//! splicing ([`magnitude`]) and L1-norm structured pruning ([`l1`]). What they share:
//! where masks go ([`sites`], [`masks`]), cutting a masked model down to smaller dense
//! layers ([`surgery`]), the setup, fine-tuning and report.
//!
//! A new method is a new file implementing `CompressionMethod`, a variant of
//! [`config::Method`] and its line in [`pipeline::method_of`].
pub mod compressor;
pub mod config;
pub mod cost;
pub mod deepiot;
pub mod finetune;
pub mod l1;
pub mod latency_cost;
pub mod magnitude;
pub mod masks;
pub mod method;
pub mod pipeline;
pub mod report;
pub mod search;
pub mod setup;
pub mod sites;
pub mod surgery;

pub use config::{CompressConfig, MagnitudeSettings, Method};
pub use pipeline::{run, sparse_path};
pub use report::{report_path, CompressReport, LayerReport};
pub use sites::{Site, SiteError, SiteMap};
pub use surgery::{cut, mask_weights};
