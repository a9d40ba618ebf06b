//! `runtime`: prints the path of the board runtime the board commands use. Both binaries
//! have this command.
use crate::board::TargetConfig;
use crate::runtime_build::locate_runtime;
use clap::Args;

/// `runtime [--target T]`.
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// The board: a name in targets/ (its Rust triple and CPU) or a .toml path.
    #[arg(long, default_value_t = TargetConfig::default().target)]
    pub target: String,
}

/// Finds (or builds) the runtime for the target and prints its path.
pub fn run(a: &RuntimeArgs) -> anyhow::Result<()> {
    let target = crate::board::target::load(&a.target, None)?;
    let bin = locate_runtime(None, target.build_target())?;
    println!("{}", bin.display());
    Ok(())
}
