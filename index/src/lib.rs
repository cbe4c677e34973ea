//! The Helm repository index of one repository.
//!
//! * [`model`]: entries keyed by Chart.yaml name and version, each with pre-serialized YAML and
//!   JSON fragments; the served body is their concatenation, in Helm's order.
//! * [`snapshot`]: immutable served bodies with strong ETag, Last-Modified and a gzip variant.
//! * [`state`]: persisted state for fast restarts (a validated cache, never the truth).
//! * [`repo`]: the running repository: one writer task, lock-free snapshot reads, resync.
//! * [`changelog`] and `peers`: replicas on one bucket announce their changes in per-replica
//!   change logs and follow each other's.

pub mod changelog;
pub mod model;
mod peers;
pub mod repo;
pub mod snapshot;
pub mod state;

pub use model::{Entry, EntryError, Index, RenderConfig, StoredObject};
pub use repo::{RepoError, RepoOptions, Repository, ResyncReport};
pub use snapshot::Snapshot;
