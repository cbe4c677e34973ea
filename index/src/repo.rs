//! A repository at run time: the handle every caller holds.
//!
//! Reads are lock-free ([`Repository::snapshot`]) or short ([`Repository::index`]); every change
//! goes through the writer task, and every write that touches storage goes through the write
//! operations ([`Repository::publish`] and its siblings), which take the per-version lock. Tenants: every
//! operation names the repository it is about ([`Tenant`]); today one repository, the root, is
//! served, and [`Repository::tenant`] is the one place that resolves a tenant to its state.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Instant;

use arc_swap::ArcSwap;
use chartroom_storage::{ObjectInfo, RequestCounts, Storage, StorageError, StorageHealth};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::changelog;
use crate::entry::Entry;
use crate::error::RepoError;
use crate::index::Index;
use crate::locks::KeyLocks;
use crate::options::RepoOptions;
use crate::peers;
use crate::reconcile::{self, ResyncReport, Skipped};
use crate::snapshot::Snapshot;
use crate::state;
use crate::tenant::Tenant;
use crate::writer::{Command, Shared, Writer};

/// Handle to a running repository (cheap to clone).
#[derive(Clone)]
pub struct Repository {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    /// Per-version locks of the write path.
    pub(crate) locks: Arc<KeyLocks>,
}

impl Repository {
    /// Loads persisted state, reconciles it with storage (opening only archives it does not know),
    /// publishes the first snapshot and starts the writer task.
    pub async fn open(storage: Storage, options: RepoOptions) -> Result<(Repository, ResyncReport), RepoError> {
        let mut index = Index::new(options.render.clone());
        let started = Instant::now();
        // The listing and the state are independent: fetch both at once, decode off the runtime.
        let read_state = async {
            if !options.statefiles {
                return None;
            }
            match storage.read_state(state::STATE_FILE).await {
                Ok(Some(bytes)) => match tokio::task::spawn_blocking(move || state::decode(&bytes)).await {
                    Ok(Ok(saved)) => Some(saved),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "ignoring persisted index state; rebuilding from storage");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot decode persisted index state; rebuilding from storage");
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read persisted index state; rebuilding from storage");
                    None
                }
            }
        };
        // Peers' log heads are taken before the chart listing: every record after them describes
        // a change the listing may miss, and is polled; anything before is in the listing.
        let heads_then_listing = async {
            let heads = storage.list_log_records(None).await?;
            Ok::<_, StorageError>((heads, storage.list_charts().await?))
        };
        let (listed, saved) = tokio::join!(heads_then_listing, read_state);
        let (log_heads, listing) = listed?;
        let loaded_ms = started.elapsed().as_millis() as u64;
        let mut generated = None;
        let from_state = saved.is_some();
        if let Some(saved) = saved {
            let listed: HashMap<&str, &ObjectInfo> = listing.iter().map(|o| (o.file.as_str(), o)).collect();
            let total = saved.entries.len();
            let valid: Vec<state::StoredEntry> = saved
                .entries
                .into_iter()
                .filter(|e| listed.get(e.object.file.as_str()).is_some_and(|o| reconcile::still_the_same(&e.object, o)))
                .collect();
            for entry in reconcile::render_entries(valid, &options.render)? {
                index.insert(entry);
            }
            if index.len() == total {
                generated = Some(saved.generated);
            }
        }
        tracing::debug!(
            listed = listing.len(),
            from_state = index.len(),
            list_and_state_ms = loaded_ms,
            total_ms = started.elapsed().as_millis() as u64,
            "loaded persisted index state"
        );
        let cm_created = if from_state {
            HashMap::new()
        } else {
            match storage.read_chartmuseum_statefile().await {
                Ok(Some(bytes)) => state::chartmuseum_created(&bytes),
                _ => HashMap::new(),
            }
        };
        let index = RwLock::new(index);
        let mut skipped = Skipped::new();
        let mut touched = Vec::new();
        let report =
            reconcile::reconcile(&storage, &options, &index, listing, &mut skipped, &cm_created, &mut touched).await?;
        let mut index = index.into_inner().unwrap_or_else(|p| p.into_inner());
        match generated {
            Some(t) if !report.changed() => index.set_generated(t),
            _ => index.set_generated(Timestamp::now()),
        }
        let snapshot = ArcSwap::from_pointee(Snapshot::build(&mut index));
        let replica = changelog::new_replica_id();
        let shared = Arc::new(Shared { replica, storage, index: RwLock::new(index), snapshot, options });
        let (tx, rx) = mpsc::channel(4096);
        let mut writer = Writer::new(Arc::clone(&shared), rx, skipped);
        // What this start found that the bucket's state did not record (an upload interrupted by
        // a crash, files copied in by hand) is announced, so running peers converge too.
        writer.announce(touched, Instant::now());
        // A fresh build (no usable state) is persisted right away, so the next start is fast.
        let persist_now = shared.options.statefiles && report.changed();
        tokio::spawn(writer.run(persist_now));
        if let Some(every) = shared.options.poll_interval {
            let poller = peers::Poller::new(Arc::clone(&shared), tx.clone(), &log_heads);
            tokio::spawn(poller.run(every));
        }
        tracing::info!(replica = %shared.replica, peers = peers::replica_count(&log_heads), "replica change log ready");
        Ok((Repository { shared, tx, locks: Arc::default() }, report))
    }

    /// The state of `tenant`'s repository. With tenants this resolves the path to its own index,
    /// snapshot and storage prefix; today only the root exists.
    pub(crate) fn tenant(&self, tenant: &Tenant) -> Result<&Shared, RepoError> {
        if tenant.is_root() { Ok(&self.shared) } else { Err(RepoError::UnknownTenant(tenant.clone())) }
    }

    /// The current served snapshot (lock-free).
    pub fn snapshot(&self, tenant: &Tenant) -> Result<Arc<Snapshot>, RepoError> {
        Ok(self.tenant(tenant)?.snapshot.load_full())
    }

    /// Read access to the index for API queries (short critical sections only).
    pub fn index(&self, tenant: &Tenant) -> Result<RwLockReadGuard<'_, Index>, RepoError> {
        Ok(self.tenant(tenant)?.index())
    }

    /// This process's replica id (the folder of its change log).
    pub fn replica_id(&self) -> &str {
        &self.shared.replica
    }

    /// Whether the object store answers, as seen by this repository's requests.
    pub fn storage_health(&self) -> StorageHealth {
        self.shared.storage.health()
    }

    /// Object-store requests issued so far.
    pub fn storage_requests(&self) -> RequestCounts {
        self.shared.storage.request_counts()
    }

    /// Whether a stored chart's bytes can never change (decides its caching headers).
    pub fn charts_immutable(&self) -> bool {
        self.shared.options.overwrite.charts_immutable()
    }

    /// Reconciles the index with storage now; returns once the snapshot reflects storage.
    pub async fn resync(&self, tenant: &Tenant) -> Result<ResyncReport, RepoError> {
        self.tenant(tenant)?;
        let (ack, done) = oneshot::channel();
        self.send(Command::Resync(Some(ack))).await?;
        done.await.map_err(|_| RepoError::Closed)?
    }

    /// Persists pending state and stops the writer.
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.send(Command::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Adds or replaces an entry; returns once the served snapshot contains it.
    pub(crate) async fn upsert(&self, entry: Entry) -> Result<(), RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Upsert(Box::new(entry), ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    /// Removes one version; returns the removed entry once the snapshot no longer has it.
    pub(crate) async fn remove(&self, name: &str, version: &str) -> Result<Option<Arc<Entry>>, RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Remove(name.to_owned(), version.to_owned(), ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    async fn send(&self, cmd: Command) -> Result<(), RepoError> {
        self.tx.send(cmd).await.map_err(|_| RepoError::Closed)
    }
}
