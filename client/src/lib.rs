//! Chartroom's client library: the functions behind `chartroom search`, `pull` and `push`,
//! usable from any Rust tool. It speaks the classic Helm repository protocol (`index.yaml` plus
//! chart URLs) and ChartMuseum's upload API, so it works with Chartroom and any compatible server.
//!
//! * [`error`]: one error type whose kind maps to a process exit code.
//! * [`helm_env`]: Helm's configuration files and environment variables (`repositories.yaml`,
//!   credentials, cache folders), so repositories added with `helm repo add` are usable by name.
//! * [`repo`]: a repository given by URL or by configured name, with its credentials.
//! * [`index`]: fetching and caching `index.yaml` (ETag revalidation), version selection.
//! * [`pull`]: downloading a chart while hashing it, refusing a digest mismatch, writing atomically.
//! * [`package`]: packaging chart folders (Helm's directory rules, reproducible archives).
//! * [`push`]: uploading a chart with ChartMuseum's protocol (the one `helm cm-push` speaks).
//! * [`tls`]: a repository's TLS options (CA, client certificate, skipping verification).
//! * [`deps`]: `dependency update` / `build` with Helm's semantics: `Chart.yaml` dependencies
//!   resolved into `charts/`, `Chart.lock` with Helm's digest, so each tool accepts the other's lock.
//! * [`install`]: a chart and, recursively, its dependencies as a self-contained folder that
//!   `helm template`/`helm install` accept with no network, every download digest-verified.
//! * [`sign`], [`verify`]: provenance files like `helm package --sign` and `helm verify`
//!   (OpenPGP with `chartroom-signing`); [`pull`] with a keyring verifies before writing.

pub mod deps;
pub mod error;
mod gosort;
pub mod helm_env;
pub mod index;
pub mod install;
pub mod oci;
pub mod package;
pub mod pull;
pub mod push;
pub mod registry_auth;
pub mod repo;
pub mod sign;
pub mod tls;
pub mod verify;

pub use error::{ClientError, ErrorKind};
