//! `deepiot export`: the command line of [`crate::onnx_export::run`].
use crate::onnx_export::OnnxExportConfig;
use std::path::PathBuf;

/// `deepiot export`.
#[derive(Debug, Clone, clap::Args)]
pub struct OnnxExportArgs {
    /// The deepiot model file (.safetensors), original or compressed.
    pub model: PathBuf,
    /// Where the ONNX model goes (e.g. model.onnx).
    #[arg(short, long)]
    pub out: PathBuf,
}

impl From<OnnxExportArgs> for OnnxExportConfig {
    fn from(a: OnnxExportArgs) -> Self {
        OnnxExportConfig {
            model: a.model,
            out: a.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two required arguments are the whole config (it has no other settings).
    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: OnnxExportArgs = crate::cli::parse(["m.safetensors", "-o", "m.onnx"]).unwrap();
        let want = OnnxExportConfig {
            model: PathBuf::from("m.safetensors"),
            out: PathBuf::from("m.onnx"),
        };
        assert_eq!(OnnxExportConfig::from(a), want);
        assert!(crate::cli::parse::<OnnxExportArgs, _, _>(["m.safetensors"]).is_err());
    }
}
