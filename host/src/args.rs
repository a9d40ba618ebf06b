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
