//! Configuration errors: every one names the file, the line where it knows it, and the rule.

use std::fmt;
use std::path::{Path, PathBuf};

/// The auth configuration cannot be used. Startup stops with it; a reload keeps the previous
/// configuration and returns it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is read but its content is wrong: malformed YAML, an unknown key, a refused hash,
    /// an unknown grant name, a bad key file...
    #[error("{location}: {message}")]
    Invalid {
        /// Where.
        location: FileLocation,
        /// What is wrong, naming the entry (never a secret value).
        message: String,
    },
    /// A setting (flag or environment variable) is missing or inconsistent. The bearer settings
    /// use ChartMuseum's exact texts (`Missing Auth Realm`, ...).
    #[error("{0}")]
    Setting(String),
}

impl ConfigError {
    pub(crate) fn invalid(path: &Path, line: Option<u64>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { location: FileLocation { path: path.to_owned(), line }, message: message.into() }
    }

    pub(crate) fn read(path: &Path, source: std::io::Error) -> ConfigError {
        ConfigError::Read { path: path.to_owned(), source }
    }

    /// The line the error points at, when it points at one.
    pub fn line(&self) -> Option<u64> {
        match self {
            ConfigError::Invalid { location, .. } => location.line,
            _ => None,
        }
    }
}

/// A file and, when known, a 1-based line: displayed as `path:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLocation {
    /// The file.
    pub path: PathBuf,
    /// The line, 1-based.
    pub line: Option<u64>,
}

impl fmt::Display for FileLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}
