//! `chartroom serve` configuration.
//!
//! Every option has a long flag, the ChartMuseum environment variable name and the ChartMuseum
//! config file key (`helm/chartmuseum:pkg/config/vars.go`), declared once in [`options`].
//! Precedence: flag or environment variable (the binary's command line: the flag wins over the
//! variable) > YAML config file (`--config`) > the table's default. [`resolve`] validates
//! everything once into a [`Config`] of per-concern settings, beside where each value came from
//! ([`Resolved`]); the rest of the server only sees the typed settings.
//!
//! | file | job |
//! |---|---|
//! | `options.rs` | the option table: names, kind, default, help |
//! | `resolve.rs` | precedence, validation, sources ([`ArgValues`], [`Resolved`]) |
//! | `settings.rs` | [`Config`] and its per-concern structs, each with its `resolve` |
//! | `provenance.rs` | the provenance policy and the trusted keyring |
//! | `file.rs` | the YAML file: flattening, duplicate and unknown keys, reading values |
//! | `hints.rs` | did-you-mean hints for unknown keys |
//! | `chartmuseum.rs` | ChartMuseum options, variables and backends Chartroom refuses |
//! | `values.rs` | normalisers: host, context path, chart URL, form fields, backend names |
//! | `go_duration.rs` | Go durations |
//! | `error.rs` | [`ConfigError`] |

mod chartmuseum;
mod error;
mod file;
pub(crate) mod go_duration;
mod hints;
mod lifecycle;
pub mod options;
mod provenance;
mod resolve;
mod settings;
mod values;
mod webhooks;

#[cfg(test)]
mod tests;

pub use chartmuseum::{check_unsupported_env, unsupported_env};
pub use error::ConfigError;
pub use lifecycle::{ArtifactHub, AuditTarget, LifecycleSettings, Owner};
pub use options::{Kind, OPTIONS, OptionSpec};
pub use provenance::{ProvenanceSettings, TrustedKeyring};
pub use resolve::{ArgValues, Resolved, Source, Sources, resolve};
pub use settings::{
    AllowedOrigins, AmazonConfig, AuthSettings, BASIC_AUTH_PASS_FILE, BackendConfig, ClientLimits, Config,
    ConnectionSettings, GoogleConfig, HttpSettings, ListenSettings, LogSettings, MetricsSettings, MicrosoftConfig,
    OverwritePolicy, RateLimit, RepositorySettings, StorageSettings, Tenancy, TlsSettings,
};
