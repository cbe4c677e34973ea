//! Configuration errors: each names the option (flag, environment variable, config key) and the
//! offending value or file.

use std::path::{Path, PathBuf};

use chartroom_storage::backend;

/// A configuration error. Messages name the option (flag, environment variable, config key)
/// and the offending value or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("invalid value {value:?} for {}: {reason}", origin(flag, env, key, file.as_deref()))]
    Invalid {
        /// The long flag, e.g. `--port`.
        flag: &'static str,
        /// The environment variable, e.g. `PORT`.
        env: &'static str,
        /// The config file key, e.g. `port`.
        key: &'static str,
        /// The config file, when the value came from it.
        file: Option<PathBuf>,
        value: String,
        reason: String,
    },
    /// The config file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML.
    #[error("config file {} is not valid YAML: {source}", path.display())]
    ParseFile {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// The config file's top level is not a mapping.
    #[error("config file {}: the top level must be a mapping of keys to values", path.display())]
    FileNotMapping { path: PathBuf },
    /// A key Chartroom does not know (most likely a typo).
    #[error("config file {}: unknown key `{key}`{hint}", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        /// A suggestion, starting with a separator, or empty.
        hint: String,
    },
    /// A ChartMuseum key that Chartroom does not implement yet.
    #[error("config file {}: key `{key}` is a ChartMuseum option that Chartroom does not support yet", path.display())]
    UnsupportedKey { path: PathBuf, key: String },
    /// A ChartMuseum environment variable whose feature Chartroom lacks is set: starting anyway
    /// could, for example, serve without the authentication the operator asked for.
    #[error(
        "environment variable {name} is set, but Chartroom does not support that ChartMuseum option yet; \
         refusing to start (unset it to run without that feature)"
    )]
    UnsupportedEnv { name: String },
    /// A required option is missing.
    #[error(
        "missing required option {flag} (env {env}, config key `{key}`{}): {reason}",
        file.as_ref().map(|p| format!(" in config file {}", p.display())).unwrap_or_default()
    )]
    Missing {
        flag: &'static str,
        env: &'static str,
        key: &'static str,
        /// The config file, when one was given (it lacks the key too).
        file: Option<PathBuf>,
        reason: String,
    },
    /// A storage credential variable is unusable (a `<NAME>_FILE` secret, an AWS profile).
    #[error("storage credentials: {0}")]
    StorageEnv(#[source] backend::OpenError),
    /// A `BASIC_AUTH_PASS_FILE` secret is unusable (unreadable, empty, or set beside
    /// `BASIC_AUTH_PASS`).
    #[error("authentication secret: {0}")]
    AuthSecret(#[source] backend::OpenError),
    /// Options that cannot be used together, or one that needs another.
    #[error("inconsistent options: {0}")]
    Inconsistent(String),
    /// The same key twice (for example nested and dotted, or in different letter case).
    #[error("config file {}: key `{key}` is set more than once", path.display())]
    DuplicateKey { path: PathBuf, key: String },
}

fn origin(flag: &str, env: &str, key: &str, file: Option<&Path>) -> String {
    match file {
        Some(path) => format!("key `{key}` in config file {} (flag {flag}, env {env})", path.display()),
        None => format!("{flag} (env {env})"),
    }
}
