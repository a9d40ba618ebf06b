//! The flags of `image build` and `image inspect`. Defaults come from
//! [`ImageBuildConfig::default`] and [`ImageInspectConfig::default`].
use super::flags::TargetFlags;
use crate::board::image::{ImageBuildConfig, ImageInspectConfig, SelfTestSettings};
use crate::board::PrintConfig;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `image ...`.
#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// The subcommands of `image`.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Builds a firmware image: runtime, models, config and self-test data, with a
    /// manifest of sha256s. The same inputs give the same bytes.
    Build(BuildArgs),
    /// Shows an image's manifest and verifies every member's size and sha256.
    Inspect(InspectArgs),
}

/// `image build MODEL... -o FILE`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Model files (.safetensors) to put in the image.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetFlags,
    /// Where to write the image.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Use this runtime binary instead of building deepiot-run for the target.
    #[arg(long, value_name = "BIN")]
    pub runtime: Option<PathBuf>,
    /// The image's version label (default: the first 12 hex digits of its content hash).
    #[arg(long, value_name = "TEXT")]
    pub image_version: Option<String>,
    /// A setting for the board's application, KEY=VALUE (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
    pub config: Vec<(String, String)>,
    /// Self-test examples per model.
    #[arg(long, default_value_t = ImageBuildConfig::default().selftest_examples, value_name = "N")]
    pub selftest_examples: u32,
    /// Seed of the self-test inputs.
    #[arg(long, default_value_t = ImageBuildConfig::default().seed)]
    pub seed: u64,
    /// Expected outputs of a model, NAME=FILE with FILE in `deepiot-run --json` form;
    /// default: what the runtime computes on this machine.
    #[arg(long, value_name = "NAME=FILE", value_parser = key_value)]
    pub golden: Vec<(String, String)>,
    /// Self-test tolerance: absolute part.
    #[arg(long, default_value_t = ImageBuildConfig::default().tolerance.atol)]
    pub atol: f64,
    /// Self-test tolerance: relative part.
    #[arg(long, default_value_t = ImageBuildConfig::default().tolerance.rtol)]
    pub rtol: f64,
    /// Build without self-test data (flash then only checks that each model loads).
    #[arg(long)]
    pub no_selftest: bool,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[arg(short, long)]
    pub quiet: bool,
}

/// `image inspect IMAGE`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The image file.
    pub image: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `KEY=VALUE` split at the first `=` (the value may hold more).
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

impl From<BuildArgs> for ImageBuildConfig {
    fn from(a: BuildArgs) -> Self {
        ImageBuildConfig {
            models: a.models,
            target: a.target.into(),
            output: a.output,
            runtime: a.runtime,
            image_version: a.image_version,
            // A key given twice: the last value counts.
            config: a.config.into_iter().collect(),
            selftest_examples: a.selftest_examples,
            seed: a.seed,
            golden: a
                .golden
                .into_iter()
                .map(|(name, file)| (name, PathBuf::from(file)))
                .collect(),
            tolerance: SelfTestSettings {
                atol: a.atol,
                rtol: a.rtol,
            },
            selftest: !a.no_selftest,
            print: PrintConfig {
                json: a.json,
                quiet: a.quiet,
            },
        }
    }
}

impl From<InspectArgs> for ImageInspectConfig {
    fn from(a: InspectArgs) -> Self {
        ImageInspectConfig {
            image: a.image,
            json: a.json,
        }
    }
}
