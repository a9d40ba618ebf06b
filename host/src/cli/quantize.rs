//! `deepiot quantize`: the command line of [`crate::quantize::run`].
use crate::quantize::QuantizeConfig;
use std::path::PathBuf;

/// `deepiot quantize`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "The int8 file has the same layers; its accuracy as the board computes \
it: `deepiot eval MODEL.int8.safetensors` (int8 files are scored in the runtime's own kernels). \
Time both on the runtime: `deepiot-run bench MODEL`."
)]
pub struct QuantizeArgs {
    /// The f32 model file (.safetensors), original or compressed.
    pub model: PathBuf,
    /// Where the int8 model goes (e.g. model.int8.safetensors).
    #[arg(short, long)]
    pub out: PathBuf,
}

impl From<QuantizeArgs> for QuantizeConfig {
    fn from(a: QuantizeArgs) -> Self {
        QuantizeConfig {
            model: a.model,
            out: a.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_arguments_are_the_whole_config() {
        let a: QuantizeArgs = crate::cli::parse(["m.safetensors", "-o", "q.safetensors"]).unwrap();
        let want = QuantizeConfig {
            model: PathBuf::from("m.safetensors"),
            out: PathBuf::from("q.safetensors"),
        };
        assert_eq!(QuantizeConfig::from(a), want);
        assert!(crate::cli::parse::<QuantizeArgs, _, _>(["m.safetensors"]).is_err());
    }
}
