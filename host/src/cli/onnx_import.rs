//! The flags of `deepiot import`. Defaults come from [`ImportConfig::default`].
use crate::onnx_import::ImportConfig;
use std::path::PathBuf;

/// `deepiot import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The ONNX model (a PyTorch or TensorFlow export, opsets 11 to 21).
    pub model: PathBuf,
    /// The model file to write (.safetensors).
    #[arg(short, long)]
    pub out: PathBuf,
    /// The per-example input shape without the batch axis, e.g. 3,64: needed when the
    /// model's input has dynamic axes other than the batch.
    #[arg(long, value_name = "D1,D2,...", value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
}

impl From<ImportArgs> for ImportConfig {
    fn from(a: ImportArgs) -> Self {
        ImportConfig {
            model: a.model,
            out: a.out,
            input_shape: a.input_shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_left_out_mean_the_configs_defaults() {
        let a: ImportArgs = crate::cli::parse(["m.onnx", "-o", "m.safetensors"]).unwrap();
        let want = ImportConfig {
            model: PathBuf::from("m.onnx"),
            out: PathBuf::from("m.safetensors"),
            ..ImportConfig::default()
        };
        assert_eq!(ImportConfig::from(a), want);
        let a: ImportArgs =
            crate::cli::parse(["m.onnx", "-o", "o", "--input-shape", "3,64"]).unwrap();
        assert_eq!(ImportConfig::from(a).input_shape, Some(vec![3, 64]));
        assert!(crate::cli::parse::<ImportArgs, _, _>([
            "m.onnx",
            "-o",
            "o",
            "--input-shape",
            "3,x"
        ])
        .is_err());
    }
}
