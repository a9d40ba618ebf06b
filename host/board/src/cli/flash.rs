//! The flags of `flash`. Defaults come from [`FlashConfig::default`].
use super::flags::{SendFlags, SshFlags};
use crate::board::flash::FlashConfig;
use clap::Args;
use std::path::PathBuf;

/// `flash IMAGE`.
#[derive(Args, Debug, Clone)]
pub struct FlashArgs {
    /// The image (from `deepiot image build`).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    #[command(flatten)]
    pub ssh: SshFlags,
    /// Board description to use for the default address and install directory (default:
    /// the image's target).
    #[arg(short = 't', long)]
    pub target: Option<String>,
    /// Folder of target descriptions (also $DEEPIOT_TARGETS_DIR).
    #[arg(long, value_name = "DIR")]
    pub targets_dir: Option<PathBuf>,
    #[command(flatten)]
    pub send: SendFlags,
}

impl From<FlashArgs> for FlashConfig {
    fn from(a: FlashArgs) -> Self {
        FlashConfig {
            image: a.image,
            ssh: a.ssh.into(),
            transfer: a.send.transfer.into(),
            print: a.send.print.into(),
            target: a.target,
            targets_dir: a.targets_dir,
        }
    }
}
