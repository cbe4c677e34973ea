//! Wire errors: one type per protocol, each choosing status code and body in one `match`.
//!
//! * [`CommonError`] (`common.rs`): what every protocol reports alike (storage unavailable,
//!   shutting down, timeouts, a body too large, internal failures).
//! * [`ChartMuseumError`] (`chartmuseum.rs`): ChartMuseum's API, `{"error": "<message>"}`.
//!
//! Handlers return domain errors (`PublishError`, `RepoError`, `StorageError`, ...), converted by
//! `From`, or a variant; none picks a status code. A new protocol (OCI's
//! `{"errors":[{"code","message","detail"}]}`) gets its own enum in its own file here, wrapping
//! [`CommonError`] as [`ChartMuseumError::Common`] does.

mod chartmuseum;
mod common;
mod oci;

pub use chartmuseum::ChartMuseumError;
pub use common::CommonError;
pub use oci::{API_VERSION_HEADER, OciWireError};
