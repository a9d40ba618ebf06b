//! The command line: one file per command, each a clap struct that only converts into
//! its library config (and takes its defaults from that config's `Default`), so that
//! every command can be called as a library function with the same settings.
pub mod bench_train;
pub mod compare;
pub mod compress;
pub mod data;
pub mod onnx_export;
pub mod onnx_import;
pub mod quantize;
pub mod quickstart;
pub mod train;

/// A flag value that must be a finite number above 0 (a Beta parameter, a rate): checked
/// when the command line is read, so a typo fails before hours of search, not after.
pub fn positive_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(v) => Err(format!("must be a finite number above 0, got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses `args` (without the program name) as the flags of `T`: how tests check that a
/// command line gives the config they expect (the board crate's, one for both).
#[cfg(test)]
pub use deepiot_board::cli::parse;

#[cfg(test)]
mod tests {
    #[test]
    fn positive_f32_takes_only_finite_numbers_above_zero() {
        assert_eq!(super::positive_f32("0.4"), Ok(0.4));
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(super::positive_f32(bad).is_err(), "{bad}");
        }
    }
}
