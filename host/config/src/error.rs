//! [`ConfigError`]: what `kumo check` prints. One [`Problem`] per thing to fix, each naming the
//! key path and, when known, the line and column.

use std::fmt;
use std::path::PathBuf;

use crate::path::{KeyPath, Location};

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key the problem is about; `None` for TOML syntax errors, which precede any key.
    pub path: Option<KeyPath>,
    /// What is wrong and, where it helps, what is expected instead.
    pub message: String,
    /// Where in the file, when known.
    pub location: Option<Location>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Compiler-style `LINE:COLUMN: PATH: MESSAGE`, so editors and grep can jump to it.
        if let Some(location) = self.location {
            write!(f, "{location}: ")?;
        }
        match &self.path {
            Some(path) => write!(f, "{path}: {}", self.message),
            None => write!(f, "TOML syntax error: {}", self.message),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read configuration: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid configuration. `problems` is never empty.
    #[error("{}", Problems { file: file.as_ref(), problems })]
    Invalid {
        /// The file the text came from, when it came from a file.
        file: Option<PathBuf>,
        /// Everything found wrong, in file order where practical.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The individual problems (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }

    pub(crate) fn with_file(self, path: PathBuf) -> Self {
        match self {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                file: Some(path),
                problems,
            },
            read @ ConfigError::Read { .. } => read,
        }
    }
}

/// Renders problems one per line, each prefixed by the file name when there is one.
struct Problems<'a> {
    file: Option<&'a PathBuf>,
    problems: &'a [Problem],
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if let Some(file) = self.file {
                // `FILE:LINE:COL: ...` when the line is known, `FILE: ...` otherwise.
                let separator = if problem.location.is_some() { ":" } else { ": " };
                write!(f, "{}{separator}", file.display())?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(location: Option<Location>) -> Problem {
        Problem {
            path: Some(KeyPath::root().key("server").key("asn")),
            message: "must not be 0".into(),
            location,
        }
    }

    #[test]
    fn display_is_compiler_style_with_file_line_column_and_path() {
        let error = ConfigError::Invalid {
            file: Some(PathBuf::from("kumo.toml")),
            problems: vec![problem(Some(Location { line: 2, column: 7 })), problem(None)],
        };
        assert_eq!(
            error.to_string(),
            "kumo.toml:2:7: server.asn: must not be 0\nkumo.toml: server.asn: must not be 0"
        );
        let error = ConfigError::Invalid {
            file: None,
            problems: vec![Problem {
                path: None,
                message: "invalid key".into(),
                location: Some(Location { line: 1, column: 3 }),
            }],
        };
        assert_eq!(error.to_string(), "1:3: TOML syntax error: invalid key");
    }
}
