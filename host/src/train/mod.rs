//! `deepiot train` and `deepiot eval`: training the zoo's models on candle.
//!
//! - AdamW ([`AdamW`]: its moments are plain buffers a checkpoint holds) with a learning
//!   rate that decays by a constant factor per epoch.
//! - Batches in an order drawn from `Rng::derive(seed, epoch)`, so every epoch's order
//!   depends only on the seed and the epoch number (a resumed run draws the same).
//! - A validation split (`--val-fraction`, default 10 % of the training split, at most
//!   5,000 examples; seeded random, or the tail of every recording run for the
//!   accelerometer tasks, see [`validation_split`]) picks the best epoch and drives early
//!   stopping; the test split is only reported. With `--val-fraction 0` the whole training
//!   split trains and the last epoch is kept.
//! - Training-time dropout ([`Net::set_dropout`](crate::models::Net::set_dropout)) and
//!   augmentation (`--augment`), both seeded; neither changes the exported graph.
//! - After every epoch: a checkpoint, one file `OUT.ckpt/train.safetensors` written
//!   atomically, with the last and best weights, AdamW's moments and step count, and (in
//!   its metadata) the epoch, best accuracy, history and the settings it must be resumed
//!   with. The generators need no saved state: each epoch's batch order, augmentation,
//!   mixup and dropout are drawn from the seed and the epoch number. So `--resume`
//!   continues as if never stopped: the final file is byte-identical to an uninterrupted
//!   run's with the same seed and threads (`host/tests/kill_resume.rs`).
//! - At the end: the best weights exported to `OUT` and a JSON report beside it
//!   (`OUT` with extension `.report.json`).
//!
//! Determinism: weights, batch order, dropout masks and augmentation come from our own
//! seeded generator, and the CPU kernels involved (gemm, our convolution, pooling and
//! recurrence ops, candle's element-wise and reduction ops) do not depend on thread
//! timing; our weight-gradient sums run in fixed chunks and a fixed order. The same seed
//! and thread count give the same file, byte for byte (checked on full MNIST: two LeNet-5
//! runs, different builds, same sha256). Different `RAYON_NUM_THREADS` values may change
//! the last bits of gemm's sums. No thread setting is forced: candle uses all cores
//! unless `RAYON_NUM_THREADS` says otherwise.
//!
//! Layout: `config.rs` (what a run is told), `fit.rs` (the loop), `adamw.rs`,
//! `checkpoint.rs`,
//! `distill.rs` and `mixup.rs` (what the loss can add), `recipe.rs` (a zoo task's data and
//! settings, or a user data folder's), `batch.rs` and `validation.rs`
//! (which examples go where), `run.rs` and `eval.rs` (the library side of the two
//! commands; their flags are in [`crate::cli::train`]), `malloc.rs`. The augmentations
//! live with the data ([`crate::data::augment`]). Every item is re-exported here, so
//! callers keep one path: `train::fit`, `train::Hyper`, `train::accuracy`, ...
mod adamw;
mod batch;
mod checkpoint;
mod config;
mod distill;
mod eval;
mod fit;
mod history;
mod malloc;
mod mixup;
mod recipe;
mod run;
mod step;
mod teacher_memo;
mod validation;

pub use self::adamw::{AdamParams, AdamW};
pub use self::batch::{accuracy, gather, gather_augmented, gather_labels, predict};
pub use self::checkpoint::{checkpoint_dir, Checkpoint, CheckpointState, Resumed, RunKey};
pub use self::config::{Engine, EvalConfig, Hyper, TrainConfig};
pub use self::distill::Distill;
pub use self::eval::eval;
pub use self::fit::{fit, EpochRecord, FitOptions, History};
pub use self::malloc::tune_malloc;
pub use self::mixup::Mixing;
pub use self::recipe::{expect_of, Recipe};
pub use self::run::{report_path, run, threads, Report};
pub use self::step::{keep_elementwise_inline, should_split, train_step};
pub(crate) use self::step::{split_batch, Shard};
pub use self::validation::{split_validation, validation_split};
pub use crate::data::augment::{augment_name, augment_named, augmentation, Augment};
