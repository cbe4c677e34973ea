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
//! * [`push`]: uploading a chart with ChartMuseum's protocol (the one `helm cm-push` speaks).

pub mod error;
pub mod helm_env;
pub mod index;
pub mod pull;
pub mod push;
pub mod repo;

pub use error::{ClientError, ErrorKind};
