//! The command line's argument structs: each parses flags with clap and converts into the
//! plain config its library function takes, so the library never depends on clap and
//! other commands call it without building an argument list.
pub mod train;
