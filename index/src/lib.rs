//! The Helm repository index of a running repository, and the one write path to it.
//!
//! * [`Repository`] (`repo`): the handle: opening (state, listing, reconciliation), lock-free
//!   snapshot reads, resync, shutdown.
//! * `publish`: every change to the charts: [`Repository::publish`],
//!   [`Repository::put_provenance`], [`Repository::unpublish`], [`Repository::unpublish_chart`].
//! * `files`: reading chart files and archive contents.
//! * `writer`: the task that owns every index change, publishes snapshots, appends the change
//!   log and persists state; `reconcile` (listing → index) and `ingest` (archive → entry) are
//!   its rules; `peers` follows the other replicas' change logs.
//! * [`Index`] (`index`) and [`Entry`] (`entry`): entries keyed by Chart.yaml name and version,
//!   each with pre-serialized YAML and JSON fragments; the served body is their concatenation.
//! * [`Snapshot`]: immutable served bodies with strong ETag, Last-Modified and a gzip variant.
//! * `state` (persisted state for fast restarts, a validated cache) and `changelog` (the
//!   replicas' record format) are private formats.

mod changelog;
mod entry;
mod error;
mod files;
mod index;
mod ingest;
mod locks;
mod options;
mod peers;
mod publish;
mod reconcile;
mod repo;
mod snapshot;
mod state;
mod tenant;
mod writer;

pub use entry::{Entry, EntryError, RenderConfig, StoredObject};
pub use error::RepoError;
pub use files::{ArchiveReadError, FileError, FileKind};
pub use index::Index;
pub use options::{OverwritePolicy, RepoOptions};
pub use publish::{ProvenanceRejected, PublishError, Published, UnpublishError};
pub use reconcile::ResyncReport;
pub use repo::Repository;
pub use snapshot::Snapshot;
pub use tenant::{Tenant, TenantError};
