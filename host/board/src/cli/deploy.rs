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
            target: a.target.into(),
            runtime: a.runtime,
            label: a.label,
            transfer: a.send.transfer.into(),
            json: a.send.json,
            quiet: a.send.quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the models given: exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: DeployArgs = crate::cli::parse(["a.safetensors", "b.safetensors"]).unwrap();
        let want = DeployConfig {
            models: vec!["a.safetensors".into(), "b.safetensors".into()],
            ..DeployConfig::default()
        };
        assert_eq!(DeployConfig::from(a), want);
    }

    /// Every flag reaches its field of the config.
    #[test]
    fn flags_reach_the_config() {
        let a: DeployArgs = crate::cli::parse([
            "m.safetensors",
            "-b",
            "root@h:2222",
            "-o",
            "A=1",
            "-o",
            "B=2",
            "--connect-timeout",
            "3",
            "-t",
            "x.toml",
            "--label",
            "v1",
            "--chunk-size",
            "8192",
            "--retries",
            "0",
            "--json",
            "-q",
        ])
        .unwrap();
        let c = DeployConfig::from(a);
        assert_eq!(c.ssh.board.as_deref(), Some("root@h:2222"));
        assert_eq!(c.ssh.ssh_options, ["A=1", "B=2"]);
        assert_eq!(c.ssh.connect_timeout, 3);
        assert_eq!(c.target.target, "x.toml");
        assert_eq!(c.label.as_deref(), Some("v1"));
        assert_eq!((c.transfer.chunk_size, c.transfer.retries), (8192, 0));
        assert!(c.json && c.quiet);
        assert!(crate::cli::parse::<DeployArgs, _, _>(["--json"]).is_err());
    }
}
