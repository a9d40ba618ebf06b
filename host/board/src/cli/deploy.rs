//! The flags of `deploy`. Defaults come from [`DeployConfig::default`].
use super::flags::{SendFlags, SshFlags, TargetFlags};
use crate::board::deploy::DeployConfig;
use clap::Args;
use std::path::PathBuf;

/// `deploy MODEL...`.
#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// Model files (.safetensors) to install; each goes to models/NAME.safetensors.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub ssh: SshFlags,
    #[command(flatten)]
    pub target: TargetFlags,
    /// Use this runtime binary instead of building deepiot-run for the target.
    #[arg(long, value_name = "BIN")]
    pub runtime: Option<PathBuf>,
    /// A version label recorded on the board (default: deploy-HASH of the files).
    #[arg(long)]
    pub label: Option<String>,
    #[command(flatten)]
    pub send: SendFlags,
}

impl From<DeployArgs> for DeployConfig {
    fn from(a: DeployArgs) -> Self {
        DeployConfig {
            models: a.models,
            ssh: a.ssh.into(),
            transfer: a.send.transfer.into(),
            print: a.send.print.into(),
            target: a.target.into(),
            runtime: a.runtime,
            label: a.label,
        }
    }
}
