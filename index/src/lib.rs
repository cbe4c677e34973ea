//! The Helm repository index of a running repository, and the one write path to it.
//!
//! * [`Repository`] (`repo`): the handle: opening (`startup`: one listing, every tenant's state,
//!   reconciliation), lock-free snapshot reads, resync, shutdown.
//! * Tenants: [`Tenant`] (a validated path), [`Tenancy`] (which tenants are served, and the pure
//!   rules mapping storage keys to tenants, `tenancy`), `tenants` (each tenant's index and
//!   snapshot in one map; tenants without charts share one empty index).
//! * `publish`: every change to the charts: [`Repository::publish`],
//!   [`Repository::put_provenance`], [`Repository::unpublish`], [`Repository::unpublish_chart`].
//! * `provenance`: the provenance policy ([`ProvenancePolicy`], per tenant), the checks of
//!   provenance files, what the index records of them ([`ProvenanceRecord`]); `reverify`:
//!   [`Repository::reverify_provenance`], which reports stored charts that no longer verify.
//! * `files`: reading chart files and archive contents.
//! * `writer`: the one task that owns every index change of every tenant, publishes snapshots,
//!   appends the change log and persists state (`persist`, debounced per tenant); `reconcile`
//!   (listing → index) and `ingest` (archive → entry) are its rules; `peers` follows the other
//!   replicas' change logs.
//! * [`Index`] (`index`) and [`Entry`] (`entry`): entries keyed by Chart.yaml name and version,
//!   each with pre-serialized YAML and JSON fragments; the served body is their concatenation.
//! * [`Snapshot`]: immutable served bodies (YAML, JSON or both, [`IndexFormat`]) with strong
//!   ETags, Last-Modified and gzip variants; `format` says which one a client gets.
//! * `events`: committed changes handed to an [`EventSink`] (the webhooks) by the write path.
//! * `feed`: the change feed over the replicas' change logs ([`Repository::changes`], [`Cursor`]).
//! * `statefile` (persisted state for fast restarts, a validated cache, binary), `state` (entries
//!   as JSON: the state before issue 16, read once to migrate) and `changelog` (the replicas'
//!   record format) are private formats.

mod changelog;
mod entry;
mod error;
mod events;
mod feed;
mod files;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
#[cfg(test)]
mod hardening_tests;
mod index;
mod ingest;
mod key_order;
mod locks;
pub mod oci;
mod options;
mod peers;
mod persist;
mod provenance;
#[cfg(test)]
mod provenance_tests;
mod publish;
mod publish_provenance;
mod reconcile;
mod repo;
mod retention;
mod reverify;
mod settled;
mod snapshot;
mod startup;
mod state;
mod statefile;
#[cfg(test)]
mod statefile_tests;
mod tenancy;
mod tenant;
#[cfg(test)]
mod tenant_tests;
mod tenants;
#[cfg(test)]
mod test_fixtures;
#[cfg(test)]
mod write_faults_tests;
mod writer;

/// Measures what a test's inputs cost (`chartroom_chart::testing::PeakMeter`, per thread).
#[cfg(test)]
#[global_allocator]
static ALLOC: chartroom_chart::testing::PeakMeter = chartroom_chart::testing::PeakMeter;

pub use entry::{Entry, EntryError, RenderConfig, StoredObject};
pub use error::RepoError;
pub use events::{ChartEvent, EventKind, EventSink};
pub use feed::{Cursor, FeedChange, FeedError, FeedOp, FeedPage, FeedRecord, SETTLE as FEED_SETTLE};
pub use files::{ArchiveReadError, FileError, FileKind, MAX_ARCHIVE_READS, MAX_EXTRACTED};
pub use format::{IndexFormat, helm_reads_json};
pub use gate::GateRefusal;
pub use index::Index;
pub use options::{OverwritePolicy, RepoOptions};
pub use provenance::{PolicyError, ProvenanceMode, ProvenancePolicy, ProvenanceRecord, Signature};
pub use publish::{ProvenanceRejected, PublishError, Published, StoredProvenance, UnpublishError};
pub use reconcile::ResyncReport;
pub use repo::Repository;
pub use retention::{PerTenant, Retention, RetentionOutcome, rank as retention_rank};
pub use reverify::{ReverifyError, ReverifyReport, VerifyFailure, VersionRef};
pub use snapshot::Snapshot;
pub use tenancy::Tenancy;
pub use tenant::{Tenant, TenantError};
pub use tenants::IndexGuard;
