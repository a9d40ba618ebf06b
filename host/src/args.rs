//! Building a command's arguments from a command line inside the program.
//!
//! Why: `quickstart` and `compare` call `train` and `compress` as functions. Parsing an
//! argument list (instead of filling every field of the struct) gives every setting they
//! do not choose the very default the user would get on the command line, including
//! settings added later.
use anyhow::Result;
use std::ffi::OsString;

/// Parses `args` (without the program name) as the flags of `T`.
pub fn parse<T, I, S>(args: I) -> Result<T>
where
    T: clap::Args + clap::FromArgMatches,
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let cmd = T::augment_args(clap::Command::new("deepiot"));
    let argv = std::iter::once(OsString::from("deepiot")).chain(args.into_iter().map(Into::into));
    let matches = cmd.try_get_matches_from(argv)?;
    Ok(T::from_arg_matches(&matches)?)
}

/// A flag value that must be a finite number above 0 (a Beta parameter, a rate): checked
/// when the command line is read, so a typo fails before hours of search, not after.
pub fn positive_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(v) => Err(format!("must be a finite number above 0, got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

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
