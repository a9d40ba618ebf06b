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
