use core::fmt;
use deepiot_format::FormatError;

/// Why a model could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The file is not a valid model (see [`FormatError`]).
    Format(FormatError),
    /// The activations need more memory than the address space allows.
    ArenaTooLarge,
}

/// Why an inference was refused. Nothing is computed when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The number of input (or output) slices differs from the model's.
    Count {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// An input or output slice has the wrong length.
    Length {
        what: &'static str,
        index: usize,
        expected: usize,
        found: usize,
    },
}

impl From<FormatError> for LoadError {
    fn from(e: FormatError) -> Self {
        LoadError::Format(e)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Format(e) => write!(f, "{e}"),
            LoadError::ArenaTooLarge => write!(f, "the model's activations do not fit in memory"),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Count {
                what,
                expected,
                found,
            } => write!(f, "the model has {expected} {what}s, got {found}"),
            RunError::Length {
                what,
                index,
                expected,
                found,
            } => {
                write!(f, "{what} {index} needs {expected} values, got {found}")
            }
        }
    }
}

impl core::error::Error for LoadError {}
impl core::error::Error for RunError {}
