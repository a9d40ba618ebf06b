//! The flags of `board status`. Defaults come from [`StatusConfig::default`].
use super::flags::{SshFlags, TargetFlags};
use crate::board::status::StatusConfig;
use clap::{Args, Subcommand};

/// `board ...`.
#[derive(Args, Debug)]
pub struct BoardArgs {
    #[command(subcommand)]
    pub command: BoardCommand,
}

/// The subcommands of `board`.
#[derive(Subcommand, Debug)]
pub enum BoardCommand {
    /// Shows the active slot, the versions installed and the last operation's result.
    Status(StatusArgs),
}

/// `board status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub ssh: SshFlags,
    #[command(flatten)]
    pub target: TargetFlags,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl From<StatusArgs> for StatusConfig {
    fn from(a: StatusArgs) -> Self {
        StatusConfig {
            ssh: a.ssh.into(),
            target: a.target.into(),
            json: a.json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No flags: exactly the config's defaults.
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: StatusArgs = crate::cli::parse(Vec::<String>::new()).unwrap();
        assert_eq!(StatusConfig::from(a), StatusConfig::default());
        let a: StatusArgs = crate::cli::parse(["--targets-dir", "t", "-i", "k", "--json"]).unwrap();
        let c = StatusConfig::from(a);
        assert_eq!(c.target.targets_dir, Some("t".into()));
        assert_eq!(c.ssh.identity, Some("k".into()));
        assert!(c.json);
    }
}
