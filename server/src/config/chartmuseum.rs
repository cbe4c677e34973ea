//! ChartMuseum options Chartroom does not implement (yet), refused instead of ignored: a
//! migrated deployment must not run without, say, the authentication it asked for.
//!
//! When one of them becomes an option, its entry moves from [`UNSUPPORTED`] to the option table
//! (`options.rs`); a test checks that no name is in both.

use super::error::ConfigError;
use chartroom_storage::backend::parse_bool;

/// One ChartMuseum option Chartroom lacks: its config-file key, and its environment variable
/// when setting that variable must stop the start.
pub(crate) struct Unsupported {
    pub key: &'static str,
    /// Refused variables are those whose silent absence would be unsafe (auth, TLS) or wrong
    /// (tenancy depth, limits, the cache store); the others are ignored, as before.
    pub env: Option<&'static str>,
}

const fn key(key: &'static str) -> Unsupported {
    Unsupported { key, env: None }
}

const fn key_env(key: &'static str, env: &'static str) -> Unsupported {
    Unsupported { key, env: Some(env) }
}

/// ChartMuseum options Chartroom does not implement yet.
pub(crate) const UNSUPPORTED: &[Unsupported] = &[
    key("genindex"),
    key("loglatencyinteger"),
    key("disablemetrics"),
    key_env("cache.store", "CACHE"),
    key("cache.redis.addr"),
    key("cache.redis.password"),
    key("cache.redis.db"),
    key("always-regenerate-chart-index"),
    key("web-template-path"),
    key("enforce-semver2"),
    key("storage.timestamptolerance"),
];

/// ChartMuseum storage backends Chartroom does not implement (yet).
pub(crate) const UNSUPPORTED_BACKENDS: &[&str] = &["alibaba", "openstack", "oracle", "baidu", "tencent", "etcd"];

/// Whether a config-file key belongs to an unsupported ChartMuseum option or backend.
pub(crate) fn is_unsupported_key(key: &str) -> bool {
    UNSUPPORTED.iter().any(|u| u.key == key)
        || UNSUPPORTED_BACKENDS.iter().any(|b| key.starts_with(&format!("storage.{b}.")))
}

/// The environment variables that stop the start when set.
pub fn unsupported_env() -> impl Iterator<Item = &'static str> {
    UNSUPPORTED.iter().filter_map(|u| u.env)
}

/// Fails if a refused variable ([`unsupported_env`]) is set to a value that would enable its
/// feature: non-empty and not a false boolean (`0`, `false`, `no`, `off`, ...).
pub fn check_unsupported_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (name, value) in vars {
        let off = parse_bool(&value) == Some(false);
        if !off && unsupported_env().any(|e| e == name) {
            return Err(ConfigError::UnsupportedEnv { name });
        }
    }
    Ok(())
}
