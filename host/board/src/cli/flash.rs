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
            target: a.target,
            targets_dir: a.targets_dir,
            transfer: a.send.transfer.into(),
            json: a.send.json,
            quiet: a.send.quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the image given: exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: FlashArgs = crate::cli::parse(["s.img"]).unwrap();
        let want = FlashConfig {
            image: "s.img".into(),
            ..FlashConfig::default()
        };
        assert_eq!(FlashConfig::from(a), want);
        let a: FlashArgs = crate::cli::parse(["s.img", "-t", "edison", "--dir", "/d"]).unwrap();
        let c = FlashConfig::from(a);
        assert_eq!(
            (c.target.as_deref(), c.ssh.dir.as_deref()),
            (Some("edison"), Some("/d"))
        );
    }
}
