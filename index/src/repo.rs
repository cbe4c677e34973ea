//! A repository at run time: one writer task per repository owns every index change, readers
//! take lock-free snapshots.
//!
//! Handlers store chart objects themselves (create-only), then hand the new entry to the writer
//! and wait for its acknowledgement, which comes only after the served snapshot contains the
//! change (read-your-writes). The writer drains its queue in batches, so a burst of uploads costs
//! one re-render. Index state is persisted in the background, debounced, never on the upload path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use chartroom_chart::archive::{self, Limits, LoadedChart};
use chartroom_storage::{ObjectInfo, Storage, StorageError};
use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::changelog::{self, Change};
use crate::model::{Entry, EntryError, Index, RenderConfig, StoredObject};
use crate::snapshot::Snapshot;
use crate::state;

/// How a repository is served and maintained.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    pub render: RenderConfig,
    /// Persist index state under `.chartroom/` (and read it at start).
    pub statefiles: bool,
    /// Maximum archives read in parallel when (re)building.
    pub read_concurrency: usize,
    pub limits: Limits,
    /// Periodic resync with storage; `None` disables it.
    pub resync_interval: Option<Duration>,
    /// Persist state once no change has happened for this long...
    pub persist_idle: Duration,
    /// ...or at the latest this long after the first unpersisted change.
    pub persist_max_delay: Duration,
    /// How often peers' change logs are polled; `None` disables polling (a lone replica).
    pub poll_interval: Option<Duration>,
    /// Change-log records older than this are pruned (every replica polls far more often).
    pub log_retention: Duration,
}

impl Default for RepoOptions {
    fn default() -> Self {
        Self {
            render: RenderConfig::default(),
            statefiles: true,
            read_concurrency: 16,
            limits: Limits::default(),
            resync_interval: Some(Duration::from_secs(300)),
            persist_idle: Duration::from_secs(1),
            persist_max_delay: Duration::from_secs(10),
            poll_interval: Some(Duration::from_millis(500)),
            log_retention: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Entry(#[from] EntryError),
    #[error("the repository is shutting down")]
    Closed,
}

/// What a resync (or the initial build) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResyncReport {
    /// Archives in storage that the index did not know, now indexed.
    pub added: usize,
    /// Indexed archives whose object changed in storage, re-read.
    pub updated: usize,
    /// Index entries whose archive disappeared from storage.
    pub removed: usize,
    /// Archives matched without being opened.
    pub unchanged: usize,
    /// Archives in storage that cannot be indexed (invalid, or a duplicate name and version).
    pub skipped: usize,
}

impl ResyncReport {
    fn changed(&self) -> bool {
        self.added + self.updated + self.removed > 0
    }
}

pub(crate) enum Command {
    Upsert(Box<Entry>, oneshot::Sender<()>),
    Remove(String, String, oneshot::Sender<Option<Arc<Entry>>>),
    RemoveChart(String, oneshot::Sender<Vec<Arc<Entry>>>),
    Resync(Option<oneshot::Sender<Result<ResyncReport, RepoError>>>),
    /// Peers' changes, checked against storage by the poller.
    Apply(Vec<crate::peers::Resolved>),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Shared {
    pub(crate) replica: String,
    pub(crate) storage: Storage,
    pub(crate) index: RwLock<Index>,
    snapshot: ArcSwap<Snapshot>,
    pub(crate) options: RepoOptions,
}

/// Handle to a running repository (cheap to clone).
#[derive(Clone)]
pub struct Repository {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
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
                .filter(|e| listed.get(e.object.file.as_str()).is_some_and(|o| still_the_same(&e.object, o)))
                .collect();
            for entry in render_entries(valid, &options.render)? {
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
        let mut skipped = HashMap::new();
        let mut touched = Vec::new();
        let report = reconcile(&storage, &options, &index, listing, &mut skipped, &cm_created, &mut touched).await?;
        let mut index = index.into_inner().unwrap_or_else(|p| p.into_inner());
        match generated {
            Some(t) if !report.changed() => index.set_generated(t),
            _ => index.set_generated(Timestamp::now()),
        }
        let snapshot = ArcSwap::from_pointee(Snapshot::build(&mut index));
        let replica = changelog::new_replica_id();
        let shared = Arc::new(Shared { replica, storage, index: RwLock::new(index), snapshot, options });
        let (tx, rx) = mpsc::channel(4096);
        let mut writer = Writer {
            shared: Arc::clone(&shared),
            rx,
            skipped,
            dirty_since: None,
            last_change: Instant::now(),
            persist_task: None,
            next_seq: 1,
            pending: Vec::new(),
            recent_local: HashMap::new(),
        };
        // What this start found that the bucket's state did not record (an upload interrupted by
        // a crash, files copied in by hand) is announced, so running peers converge too.
        writer.announce(touched, Instant::now());
        // A fresh build (no usable state) is persisted right away, so the next start is fast.
        let persist_now = shared.options.statefiles && report.changed();
        tokio::spawn(writer.run(persist_now));
        if let Some(every) = shared.options.poll_interval {
            let poller = crate::peers::Poller::new(Arc::clone(&shared), tx.clone(), &log_heads);
            tokio::spawn(poller.run(every));
        }
        tracing::info!(replica = %shared.replica, peers = crate::peers::replica_count(&log_heads), "replica change log ready");
        Ok((Repository { shared, tx }, report))
    }

    /// The current served snapshot (lock-free).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// Read access to the index for API queries (short critical sections only).
    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.shared.index.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    /// This process's replica id (the folder of its change log).
    pub fn replica_id(&self) -> &str {
        &self.shared.replica
    }

    pub fn options(&self) -> &RepoOptions {
        &self.shared.options
    }

    /// Builds the entry for a chart just stored by an upload.
    pub fn entry_for_upload(&self, loaded: LoadedChart, object: &ObjectInfo) -> Result<Entry, EntryError> {
        Entry::new(
            loaded.metadata,
            loaded.digest,
            Timestamp::now(),
            StoredObject { file: object.file.clone(), size: object.size, etag: object.e_tag.clone() },
            &self.shared.options.render,
        )
    }

    /// Adds or replaces an entry; returns once the served snapshot contains it.
    pub async fn upsert(&self, entry: Entry) -> Result<(), RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Upsert(Box::new(entry), ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    /// Removes one version; returns the removed entry once the snapshot no longer has it.
    pub async fn remove(&self, name: &str, version: &str) -> Result<Option<Arc<Entry>>, RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Remove(name.to_owned(), version.to_owned(), ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    /// Removes every version of a chart.
    pub async fn remove_chart(&self, name: &str) -> Result<Vec<Arc<Entry>>, RepoError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::RemoveChart(name.to_owned(), ack)).await?;
        done.await.map_err(|_| RepoError::Closed)
    }

    /// Reconciles the index with storage now; returns once the snapshot reflects storage.
    pub async fn resync(&self) -> Result<ResyncReport, RepoError> {
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

    async fn send(&self, cmd: Command) -> Result<(), RepoError> {
        self.tx.send(cmd).await.map_err(|_| RepoError::Closed)
    }
}

struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    /// Archives that could not be indexed, with the listing data they had, so a resync does not
    /// re-read them until they change.
    skipped: HashMap<String, (u64, Option<String>)>,
    dirty_since: Option<Instant>,
    last_change: Instant,
    persist_task: Option<JoinHandle<()>>,
    /// Sequence number of this replica's next change-log record.
    next_seq: u64,
    /// Changes applied here but not yet announced in the change log (retried until written).
    pending: Vec<Change>,
    /// When each file last changed through this replica, so a peer change checked against
    /// storage before that moment cannot undo it.
    recent_local: HashMap<String, Instant>,
}

const MAX_BATCH: usize = 1024;
/// How soon a failed change-log append is retried.
const LOG_RETRY: Duration = Duration::from_millis(500);
/// Changes per change-log record.
const MAX_RECORD_CHANGES: usize = 1000;
/// A resync that finds more than this is not announced: peers find the same at their own resync.
const MAX_ANNOUNCED: usize = 1000;
/// How long a local change shields its file from older peer observations.
const LOCAL_SHIELD: Duration = Duration::from_secs(60);

/// Archives up to this size are parsed on the runtime thread that read them.
const INLINE_PARSE_MAX: usize = 64 * 1024;

impl Writer {
    async fn run(mut self, persist_now: bool) {
        if persist_now {
            self.dirty_since = Some(Instant::now() - self.shared.options.persist_max_delay);
        }
        let mut resync_tick = self.shared.options.resync_interval.map(|every| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        loop {
            let persist_at = self.persist_deadline();
            tokio::select! {
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    let mut batch = vec![cmd];
                    while batch.len() < MAX_BATCH {
                        match self.rx.try_recv() {
                            Ok(cmd) => batch.push(cmd),
                            Err(_) => break,
                        }
                    }
                    if !self.process(batch).await {
                        return;
                    }
                }
                _ = async { resync_tick.as_mut().map(|t| t.tick()).expect("guarded").await }, if resync_tick.is_some() => {
                    self.process(vec![Command::Resync(None)]).await;
                }
                _ = tokio::time::sleep_until(persist_at.unwrap_or_else(Instant::now).into()), if persist_at.is_some() => {
                    self.persist(false).await;
                }
                _ = tokio::time::sleep(LOG_RETRY), if !self.pending.is_empty() => {
                    self.flush_log().await;
                }
            }
        }
        self.persist(true).await;
    }

    /// Queues changes found by a resync (or at start) for the change log.
    fn announce(&mut self, touched: Vec<Change>, listed_at: Instant) {
        if touched.len() > MAX_ANNOUNCED {
            tracing::info!(
                changes = touched.len(),
                "not announcing a large resync in the change log; peers find the same changes at their own resync"
            );
            return;
        }
        for change in &touched {
            let at = self.recent_local.entry(change.file().to_owned()).or_insert(listed_at);
            *at = (*at).max(listed_at);
        }
        self.pending.extend(touched);
    }

    /// Writes pending changes to this replica's change log. On failure they stay pending and are
    /// retried: the changes themselves are already in storage and in this replica's index.
    async fn flush_log(&mut self) {
        while !self.pending.is_empty() {
            let take = self.pending.len().min(MAX_RECORD_CHANGES);
            let seq = self.next_seq;
            let bytes = match changelog::encode(&self.shared.replica, seq, Timestamp::now(), &self.pending[..take]) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a change-log record; dropping it");
                    self.pending.drain(..take);
                    continue;
                }
            };
            match self.shared.storage.put_log_record(&self.shared.replica, seq, bytes.into()).await {
                Ok(()) => {
                    self.next_seq += 1;
                    self.pending.drain(..take);
                }
                // An earlier attempt that timed out did land: its changes are these (or a prefix
                // of them); writing them again under the next number is harmless.
                Err(StorageError::AlreadyExists(_)) => self.next_seq += 1,
                Err(e) => {
                    tracing::warn!(error = %e, pending = self.pending.len(), "cannot append to the change log; will retry");
                    return;
                }
            }
        }
    }

    fn persist_deadline(&self) -> Option<Instant> {
        let since = self.dirty_since?;
        let opts = &self.shared.options;
        Some((self.last_change + opts.persist_idle).min(since + opts.persist_max_delay))
    }

    /// Applies a batch, publishes once, then acknowledges. Returns false on shutdown.
    async fn process(&mut self, batch: Vec<Command>) -> bool {
        let mut changed = false;
        let mut acks: Vec<Box<dyn FnOnce() + Send>> = Vec::with_capacity(batch.len());
        let mut keep_running = true;
        for cmd in batch {
            match cmd {
                Command::Upsert(entry, ack) => {
                    let file = entry.object.file.clone();
                    self.skipped.remove(&file);
                    let inserted = {
                        let mut index = self.write();
                        index.insert(*entry);
                        index.by_file(&file).cloned()
                    };
                    self.pending.extend(inserted.map(Change::Put));
                    self.recent_local.insert(file, Instant::now());
                    changed = true;
                    acks.push(Box::new(move || {
                        let _ = ack.send(());
                    }));
                }
                Command::Remove(name, version, ack) => {
                    let removed = self.write().remove(&name, &version);
                    changed |= removed.is_some();
                    self.local_removals(removed.iter());
                    acks.push(Box::new(move || {
                        let _ = ack.send(removed);
                    }));
                }
                Command::RemoveChart(name, ack) => {
                    let removed = self.write().remove_chart(&name);
                    changed |= !removed.is_empty();
                    self.local_removals(removed.iter());
                    acks.push(Box::new(move || {
                        let _ = ack.send(removed);
                    }));
                }
                Command::Resync(ack) => {
                    let started = Instant::now();
                    let listing = self.shared.storage.list_charts().await;
                    let mut touched = Vec::new();
                    let result = match listing {
                        Ok(listing) => {
                            reconcile(
                                &self.shared.storage,
                                &self.shared.options,
                                &self.shared.index,
                                listing,
                                &mut self.skipped,
                                &HashMap::new(),
                                &mut touched,
                            )
                            .await
                        }
                        Err(e) => Err(e.into()),
                    };
                    self.announce(touched, started);
                    match &result {
                        Ok(report) => {
                            changed |= report.changed();
                            if report.changed() {
                                tracing::info!(
                                    ?report,
                                    elapsed_ms = started.elapsed().as_millis() as u64,
                                    "resynced index with storage"
                                );
                            } else {
                                tracing::debug!(?report, "resync found no change");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "resync with storage failed"),
                    }
                    if let Some(ack) = ack {
                        acks.push(Box::new(move || {
                            let _ = ack.send(result);
                        }));
                    }
                }
                Command::Apply(resolved) => {
                    changed |= self.apply_peer_changes(resolved);
                }
                Command::Shutdown(ack) => {
                    keep_running = false;
                    acks.push(Box::new(move || {
                        let _ = ack.send(());
                    }));
                }
            }
        }
        if changed {
            self.publish();
        }
        // Acknowledged only once announced (or queued for retry): a 201 from any replica means
        // the others learn of the chart within a poll interval while the store is reachable.
        if !self.pending.is_empty() {
            self.flush_log().await;
        }
        if !keep_running {
            self.persist(true).await;
        }
        for ack in acks {
            ack();
        }
        keep_running
    }

    fn local_removals<'a>(&mut self, removed: impl Iterator<Item = &'a Arc<Entry>>) {
        let now = Instant::now();
        for e in removed {
            self.recent_local.insert(e.object.file.clone(), now);
            self.pending.push(Change::Delete {
                file: e.object.file.clone(),
                name: e.name().to_owned(),
                version: e.version().to_owned(),
            });
        }
    }

    /// Applies what storage held for files that peers changed. Returns whether the index changed.
    fn apply_peer_changes(&mut self, resolved: Vec<crate::peers::Resolved>) -> bool {
        use crate::peers::Observed;
        self.recent_local.retain(|_, at| at.elapsed() < LOCAL_SHIELD);
        let mut changed = false;
        let mut index = self.shared.index.write().unwrap_or_else(|p| p.into_inner());
        for r in resolved {
            if self.recent_local.get(&r.file).is_some_and(|at| *at > r.observed_at) {
                continue;
            }
            match r.observed {
                Observed::Absent => {
                    if let Some(e) = index.by_file(&r.file).cloned() {
                        index.remove(e.name(), e.version());
                        changed = true;
                    }
                }
                Observed::Present(entry) => {
                    let entry = *entry;
                    if index.by_file(&r.file).is_some_and(|e| e.object == entry.object && e.digest == entry.digest) {
                        continue;
                    }
                    let canonical = chartroom_storage::chart_file(entry.name(), entry.version());
                    if let Some(existing) = index.get(entry.name(), entry.version())
                        && existing.object.file != r.file
                        && (existing.object.file == canonical || r.file != canonical)
                    {
                        continue;
                    }
                    if let Some(old) = index.by_file(&r.file).cloned()
                        && (old.name() != entry.name() || old.version() != entry.version())
                    {
                        index.remove(old.name(), old.version());
                    }
                    self.skipped.remove(&r.file);
                    index.insert(entry);
                    changed = true;
                }
            }
        }
        changed
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.shared.index.write().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&mut self) {
        let snapshot = {
            let mut index = self.write();
            // Strictly increasing, so every change yields new bytes and a new ETag.
            let mut now = Timestamp::now();
            if now <= index.generated() {
                now = index.generated() + Duration::from_nanos(1);
            }
            index.set_generated(now);
            Snapshot::build(&mut index)
        };
        self.shared.snapshot.store(Arc::new(snapshot));
        self.last_change = Instant::now();
        if self.shared.options.statefiles {
            self.dirty_since.get_or_insert(self.last_change);
        }
    }

    async fn persist(&mut self, wait: bool) {
        if let Some(task) = self.persist_task.take() {
            if !task.is_finished() && !wait {
                // One write at a time; try again shortly.
                self.persist_task = Some(task);
                self.last_change = Instant::now();
                return;
            }
            let _ = task.await;
        }
        if self.dirty_since.take().is_none() {
            return;
        }
        let (generated, entries) = {
            let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
            (index.generated(), index.entries().cloned().collect::<Vec<_>>())
        };
        let storage = self.shared.storage.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let count = entries.len();
            let encoded = tokio::task::spawn_blocking(move || state::encode(generated, &entries)).await;
            let bytes = match encoded {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(e)) => return tracing::error!(error = %e, "cannot encode index state"),
                Err(e) => return tracing::error!(error = %e, "index state encoder failed"),
            };
            let size = bytes.len();
            match storage.write_state(state::STATE_FILE, bytes.into()).await {
                Ok(()) => tracing::debug!(
                    entries = count,
                    bytes = size,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "persisted index state"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot persist index state (the next start rebuilds what it must)")
                }
            }
        });
        if wait {
            let _ = task.await;
        } else {
            self.persist_task = Some(task);
        }
    }
}

/// Renders persisted entries, spread over the available cores (rendering is the bulk of a restart).
fn render_entries(stored: Vec<state::StoredEntry>, render: &RenderConfig) -> Result<Vec<Entry>, EntryError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    if threads == 1 || stored.len() < 2048 {
        return stored.into_iter().map(|e| Entry::new(e.metadata, e.digest, e.created, e.object, render)).collect();
    }
    let per_thread = stored.len().div_ceil(threads);
    let mut parts: Vec<Vec<state::StoredEntry>> = Vec::with_capacity(threads);
    let mut rest = stored;
    while rest.len() > per_thread {
        let tail = rest.split_off(per_thread);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|e| Entry::new(e.metadata, e.digest, e.created, e.object, render))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

/// Brings `index` in line with `listing`: archives it does not know (or that changed) are read,
/// Chart.yaml only, with bounded concurrency; entries whose archive is gone are removed.
async fn reconcile(
    storage: &Storage,
    options: &RepoOptions,
    index: &RwLock<Index>,
    listing: Vec<ObjectInfo>,
    skipped: &mut HashMap<String, (u64, Option<String>)>,
    cm_created: &HashMap<(String, String, String), Timestamp>,
    touched: &mut Vec<Change>,
) -> Result<ResyncReport, RepoError> {
    let mut report = ResyncReport::default();
    let mut to_read = Vec::new();
    let mut gone = Vec::new();
    {
        let index = index.read().unwrap_or_else(|p| p.into_inner());
        let listed: HashSet<&str> = listing.iter().map(|o| o.file.as_str()).collect();
        for obj in &listing {
            match index.by_file(&obj.file) {
                Some(e) if still_the_same(&e.object, obj) => report.unchanged += 1,
                known => {
                    if known.is_none() && skipped.get(&obj.file) == Some(&(obj.size, obj.e_tag.clone())) {
                        report.skipped += 1;
                    } else {
                        to_read.push((obj.clone(), known.is_some()));
                    }
                }
            }
        }
        for e in index.entries() {
            if !listed.contains(e.object.file.as_str()) {
                gone.push((e.name().to_owned(), e.version().to_owned(), e.object.file.clone()));
            }
        }
        skipped.retain(|file, _| listed.contains(file.as_str()));
    }

    let limits = options.limits.clone();
    let concurrency = options.read_concurrency.max(1);
    let mut loaded = futures::stream::iter(to_read)
        .map(|(obj, known)| {
            let storage = storage.clone();
            let limits = limits.clone();
            async move {
                // A gzip archive cannot be larger than what it may decompress to (plus slack).
                if obj.size > limits.max_decompressed + (1 << 20) {
                    return Ok((obj, known, Err("archive is larger than the decompressed size limit".to_owned())));
                }
                let result = match storage.read(&obj.file).await {
                    // A typical chart parses in tens of microseconds: inline on the runtime is
                    // cheaper than a hop to the blocking pool. Big archives still move off it.
                    Ok(bytes) if bytes.len() <= INLINE_PARSE_MAX => {
                        archive::read_metadata(&bytes, &limits).map_err(|e| e.to_string())
                    }
                    Ok(bytes) => tokio::task::spawn_blocking(move || {
                        archive::read_metadata(&bytes, &limits).map_err(|e| e.to_string())
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
                    Err(StorageError::NotFound(_)) => Err("disappeared while reading".to_owned()),
                    Err(e) => return Err(e),
                };
                Ok((obj, known, result))
            }
        })
        .buffer_unordered(concurrency)
        // Applied in batches as archives arrive, so a cold build never holds every parsed chart.
        .chunks(256);

    {
        let mut index = index.write().unwrap_or_else(|p| p.into_inner());
        for (name, version, file) in gone {
            if index.get(&name, &version).is_some_and(|e| e.object.file == file) {
                index.remove(&name, &version);
                report.removed += 1;
                touched.push(Change::Delete { file, name, version });
            }
        }
    }
    while let Some(batch) = loaded.next().await {
        let batch: Vec<(ObjectInfo, bool, Result<LoadedChart, String>)> =
            batch.into_iter().collect::<Result<_, StorageError>>()?;
        let mut index = index.write().unwrap_or_else(|p| p.into_inner());
        apply_loaded(&mut index, batch, options, skipped, cm_created, &mut report, touched);
    }
    Ok(report)
}

fn apply_loaded(
    index: &mut Index,
    batch: Vec<(ObjectInfo, bool, Result<LoadedChart, String>)>,
    options: &RepoOptions,
    skipped: &mut HashMap<String, (u64, Option<String>)>,
    cm_created: &HashMap<(String, String, String), Timestamp>,
    report: &mut ResyncReport,
    touched: &mut Vec<Change>,
) {
    for (obj, known, result) in batch {
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(reason) => {
                tracing::warn!(file = %obj.file, %reason, "invalid package in storage; not indexed");
                if let Some(e) = index.by_file(&obj.file).cloned() {
                    index.remove(e.name(), e.version());
                    report.removed += 1;
                    touched.push(Change::Delete {
                        file: obj.file.clone(),
                        name: e.name().to_owned(),
                        version: e.version().to_owned(),
                    });
                }
                skipped.insert(obj.file.clone(), (obj.size, obj.e_tag.clone()));
                report.skipped += 1;
                continue;
            }
        };
        let (name, version) = (loaded.metadata.name.clone(), loaded.metadata.version.clone());
        let canonical = chartroom_storage::chart_file(&name, &version);
        if let Some(existing) = index.get(&name, &version)
            && existing.object.file != obj.file
            && (existing.object.file == canonical || obj.file != canonical)
        {
            tracing::warn!(file = %obj.file, other = %existing.object.file, "archive duplicates an indexed chart version; not indexed");
            skipped.insert(obj.file.clone(), (obj.size, obj.e_tag.clone()));
            report.skipped += 1;
            continue;
        }
        // `created` survives anything but a content change.
        let created = index
            .get(&name, &version)
            .filter(|e| e.digest == loaded.digest)
            .map(|e| e.created)
            .or_else(|| cm_created.get(&(name.clone(), version.clone(), loaded.digest.clone())).copied())
            .unwrap_or_else(|| to_timestamp(obj.last_modified));
        let object = StoredObject { file: obj.file.clone(), size: obj.size, etag: obj.e_tag.clone() };
        let entry = match Entry::new(loaded.metadata, loaded.digest, created, object, &options.render) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(file = %obj.file, error = %e, "invalid package in storage; not indexed");
                skipped.insert(obj.file.clone(), (obj.size, obj.e_tag.clone()));
                report.skipped += 1;
                continue;
            }
        };
        if let Some(old) = index.by_file(&obj.file).cloned()
            && (old.name() != name || old.version() != version)
        {
            index.remove(old.name(), old.version());
        }
        index.insert(entry);
        touched.extend(index.by_file(&obj.file).cloned().map(Change::Put));
        if known {
            report.updated += 1;
        } else {
            report.added += 1;
        }
    }
}

fn to_timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or_else(|_| Timestamp::now())
}

/// Whether a listed object is still the archive an entry was read from: same size, and the same
/// ETag when the listing reports one. Some S3 servers (s3s-fs among them) list objects without
/// ETags although their PUT answers carry one; for those the recorded ETag cannot be checked and
/// the size decides, or every uploaded chart would be re-read at each start and resync.
fn still_the_same(recorded: &StoredObject, listed: &ObjectInfo) -> bool {
    recorded.size == listed.size && (listed.e_tag.is_none() || listed.e_tag == recorded.etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_object_compares_etag_only_when_listed() {
        let recorded = StoredObject { file: "a-1.0.0.tgz".into(), size: 3, etag: Some("\"e1\"".into()) };
        let listed = |size, e_tag: Option<&str>| ObjectInfo {
            file: "a-1.0.0.tgz".into(),
            size,
            e_tag: e_tag.map(str::to_owned),
            last_modified: SystemTime::UNIX_EPOCH,
        };
        assert!(still_the_same(&recorded, &listed(3, Some("\"e1\""))));
        assert!(!still_the_same(&recorded, &listed(3, Some("\"e2\""))), "another ETag is another archive");
        assert!(!still_the_same(&recorded, &listed(4, Some("\"e1\""))));
        assert!(still_the_same(&recorded, &listed(3, None)), "a listing without ETags is checked on size");
        assert!(!still_the_same(&recorded, &listed(4, None)));
        let unknown = StoredObject { etag: None, ..recorded };
        assert!(!still_the_same(&unknown, &listed(3, Some("\"e1\""))), "a store that now lists ETags is re-read");
    }
}
