//! A repository at run time: the handle every caller holds.
//!
//! Reads are lock-free ([`Repository::snapshot`]) or short ([`Repository::index`]); every change
//! goes through the writer task, and every write that touches storage goes through the write
//! operations ([`Repository::publish`] and its siblings), which take the per-version lock.
//! Every operation names the repository it is about ([`Tenant`]); which tenants exist is the
//! layout's ([`Tenancy`](crate::Tenancy)) and storage's business: a tenant the layout serves but
//! that has no charts reads as an empty repository and costs nothing.

use std::sync::Arc;
use std::time::Instant;

use chartroom_storage::{RequestCounts, Storage, StorageHealth};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::changelog;
use crate::entry::Entry;
use crate::error::RepoError;
use crate::gate::Gate;
use crate::locks::KeyLocks;
use crate::options::RepoOptions;
use crate::peers;
use crate::reconcile::ResyncReport;
use crate::snapshot::Snapshot;
use crate::startup;
use crate::tenant::Tenant;
use crate::tenants::{IndexGuard, Located, Place, Shared, Tenants};
use crate::writer::{Command, Removal, Writer};

/// Handle to a running repository (cheap to clone).
#[derive(Clone)]
pub struct Repository {
    pub(crate) shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    /// Per-version locks of the write path.
    pub(crate) locks: Arc<KeyLocks>,
    /// Writes in flight: each holds one permit while it runs; [`Repository::shutdown`] takes
    /// them all (waiting for every write to end) and closes the semaphore (refusing new ones).
    writes: Arc<Semaphore>,
    /// Requests unpacking archives now ([`crate::files::MAX_ARCHIVE_READS`] permits), and those
    /// waiting for a turn.
    pub(crate) archive_reads: Arc<Gate>,
    /// Uploads validating their archive now ([`MAX_VALIDATIONS`] permits; the others wait).
    pub(crate) validations: Arc<Semaphore>,
    /// Who this handle's writes are attributed to in events ([`Repository::acting_as`]).
    pub(crate) actor: Option<Arc<str>>,
}

/// How many uploads validate their archive at once: what a hostile archive may cost while it
/// is refused (YAML bounded by its size, files by the archive limits) is paid this many times at
/// most, however many uploads arrive together; the others wait their turn.
pub(crate) const MAX_VALIDATIONS: usize = 2;

/// More permits than there can ever be concurrent writes (the upload limits come first).
const WRITE_PERMITS: u32 = 1 << 24;

impl Repository {
    /// Lists storage once for every tenant, loads their persisted state, reconciles it with the
    /// listing (opening only archives it does not know), publishes the first snapshots and
    /// starts the writer task and the poller.
    pub async fn open(storage: Storage, options: RepoOptions) -> Result<(Repository, ResyncReport), RepoError> {
        let started = Instant::now();
        let loaded = startup::load(&storage, &options).await?;
        let tenants = Tenants::new(loaded.states, loaded.pinned, loaded.empty);
        tracing::debug!(
            tenants = tenants.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened the repository"
        );
        let replica = changelog::new_replica_id();
        let shared = Arc::new(Shared {
            replica,
            storage,
            options,
            tenants,
            feed: Default::default(),
            events: Default::default(),
            rechecks: Default::default(),
        });
        let (tx, rx) = mpsc::channel(4096);
        let mut writer = Writer::new(Arc::clone(&shared), rx, loaded.skipped);
        // What this start found that the bucket's state did not record (an upload interrupted by
        // a crash, files copied in by hand) is announced, so running peers converge too.
        writer.announce(loaded.touched, Instant::now());
        // A fresh build (no usable state) is persisted right away, so the next start is fast.
        tokio::spawn(writer.run(loaded.fresh));
        let log_heads = loaded.log_heads;
        if let Some(every) = shared.options.poll_interval {
            let poller = peers::Poller::new(Arc::clone(&shared), tx.clone(), &log_heads);
            tokio::spawn(poller.run(every));
        }
        tracing::info!(replica = %shared.replica, peers = peers::replica_count(&log_heads), "replica change log ready");
        let writes = Arc::new(Semaphore::new(WRITE_PERMITS as usize));
        let archive_reads = Arc::new(Gate::new(
            crate::files::MAX_ARCHIVE_READS,
            shared.options.archive_read_queue,
            shared.options.archive_read_wait,
        ));
        let validations = Arc::new(Semaphore::new(MAX_VALIDATIONS));
        Ok((
            Repository { shared, tx, locks: Arc::default(), writes, archive_reads, validations, actor: None },
            loaded.report,
        ))
    }

    /// Where `tenant`'s files are, and its state if it has charts.
    pub(crate) fn locate(&self, tenant: &Tenant) -> Result<Located, RepoError> {
        self.shared.locate(tenant)
    }

    /// The current served snapshot (lock-free). A tenant without charts gets the one shared
    /// empty snapshot.
    pub fn snapshot(&self, tenant: &Tenant) -> Result<Arc<Snapshot>, RepoError> {
        self.shared.check(tenant)?;
        Ok(self.shared.tenants.snapshot(tenant))
    }

    /// Read access to the index for API queries (short critical sections only). A tenant
    /// without charts reads the one shared empty index.
    pub fn index(&self, tenant: &Tenant) -> Result<IndexGuard, RepoError> {
        self.shared.check(tenant)?;
        Ok(self.shared.tenants.index(tenant))
    }

    /// The tenants that exist (hold charts), sorted. A single-repository server has one, the
    /// root, charts or not.
    pub fn tenants(&self) -> Vec<Tenant> {
        self.shared.tenants.names()
    }

    /// Which tenants this repository serves.
    pub fn tenancy(&self) -> crate::Tenancy {
        self.shared.options.tenancy
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

    /// Reconciles one tenant's index with its folder in storage now (one delimiter LIST);
    /// returns once the snapshot reflects storage. A tenant without charts in memory that has
    /// some in storage comes into existence.
    pub async fn resync(&self, tenant: &Tenant) -> Result<ResyncReport, RepoError> {
        let place = self.locate(tenant)?.place;
        self.resync_command(Some(place)).await
    }

    /// Reconciles every tenant with storage now (one listing of the whole bucket): new tenants
    /// appear, tenants whose charts are all gone are dropped. The report sums all tenants.
    pub async fn resync_all(&self) -> Result<ResyncReport, RepoError> {
        self.resync_command(None).await
    }

    /// Asks the writer to reconcile `place`'s tenant with storage soon, without waiting: after a
    /// write whose outcome storage may know better than this replica (a conflict on a version
    /// not indexed here, a write whose answer was lost).
    pub(crate) fn request_resync(&self, place: &Arc<Place>) {
        if self.tx.try_send(Command::Resync(Some(Arc::clone(place)), None)).is_err() {
            tracing::debug!("writer busy or closed: the periodic resync will reconcile");
        }
    }

    async fn resync_command(&self, place: Option<Arc<Place>>) -> Result<ResyncReport, RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Resync(place, Some(ack))).await?;
        done.await.map_err(|_| RepoError::Closed)?
    }

    /// Runs a write operation of the write path as its own task, detached from the caller: once
    /// started, it runs to its end (stored and indexed, or rolled back) even when the caller's
    /// future is dropped (the client went away, `WRITE_TIMEOUT` answered it). Shutdown waits for
    /// it. A panic in the operation resumes in the caller (the server answers 500 for it).
    pub(crate) async fn detached<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        F: FnOnce(Repository) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        let permit = Arc::clone(&self.writes).acquire_owned().await.map_err(|_| RepoError::Closed)?;
        let work = op(self.clone());
        let task = tokio::spawn(async move {
            let result = work.await;
            drop(permit);
            result
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(RepoError::Closed.into()),
        }
    }

    /// Waits until no write of the write path is running (those started meanwhile included).
    /// For tests that check storage and index after a caller gave up on a write.
    pub async fn writes_settled(&self) {
        if let Ok(all) = self.writes.acquire_many(WRITE_PERMITS).await {
            drop(all);
        }
    }

    /// Waits for the writes in flight (new ones are refused with [`RepoError::Closed`]), then
    /// persists pending state and stops the writer.
    pub async fn shutdown(&self) {
        if let Ok(all) = self.writes.acquire_many(WRITE_PERMITS).await {
            self.writes.close();
            drop(all);
        }
        let (ack, done) = oneshot::channel();
        if self.send(Command::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Adds or replaces an entry of `place`'s tenant; returns once its served snapshot contains it.
    pub(crate) async fn upsert(&self, place: &Arc<Place>, entry: Entry) -> Result<(), RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Upsert(Arc::clone(place), Box::new(entry), ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    /// Removes one version whose files were deleted from storage; returns the removed entry once
    /// the snapshot no longer has it.
    pub(crate) async fn remove(
        &self,
        place: &Arc<Place>,
        name: &str,
        version: &str,
        file: &str,
    ) -> Result<Option<Arc<Entry>>, RepoError> {
        let (ack, done) = oneshot::channel();
        let removal = Removal { name: name.to_owned(), version: version.to_owned(), file: file.to_owned() };
        self.send(Command::Remove(Arc::clone(place), removal, ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    async fn send(&self, cmd: Command) -> Result<(), RepoError> {
        self.tx.send(cmd).await.map_err(|_| RepoError::Closed)
    }
}
