//! Errors from loading IRR files. Every error names the file, and the line where one is known.

use std::path::PathBuf;

/// Why an IRR snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum IrrError {
    /// The file could not be opened or read (including a corrupt gzip stream).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the offending line (or of the object that contains it).
        line: usize,
        /// What is wrong, in RPSL/bgpq4 terms.
        message: String,
    },
}

/// A malformed object that was skipped because the loader runs with
/// [`InvalidObjects::Skip`](crate::InvalidObjects::Skip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadWarning {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// A located problem found by a parser, before it knows which file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseProblem {
    pub line: usize,
    pub message: String,
}

impl ParseProblem {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn into_error(self, path: PathBuf) -> IrrError {
        IrrError::Parse {
            path,
            line: self.line,
            message: self.message,
        }
    }

    pub(crate) fn into_warning(self, path: PathBuf) -> LoadWarning {
        LoadWarning {
            path,
            line: self.line,
            message: self.message,
        }
    }
}
