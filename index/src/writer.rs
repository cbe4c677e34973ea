//! The writer task: the one owner of index changes.
//!
//! Uploads, deletes, resyncs and peers' changes arrive as [`Command`]s. The writer drains its
//! queue in batches, applies a batch, publishes one new [`Snapshot`], appends the batch's changes
//! to this replica's change log, and only then acknowledges: a 201 means the served index has the
//! chart and the other replicas will learn of it. Index state is persisted in the background,
//! debounced, never on the upload path.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chartroom_storage::{Storage, StorageError};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::changelog::{self, Change};
use crate::entry::Entry;
use crate::error::RepoError;
use crate::index::{Admission, Index};
use crate::options::RepoOptions;
use crate::reconcile::{self, ResyncReport, Skipped};
use crate::snapshot::Snapshot;
use crate::state;

/// What the writer is asked to do.
pub(crate) enum Command {
    Upsert(Box<Entry>, oneshot::Sender<()>),
    Remove(String, String, oneshot::Sender<Option<Arc<Entry>>>),
    Resync(Option<oneshot::Sender<Result<ResyncReport, RepoError>>>),
    /// Peers' changes, checked against storage by the poller.
    Apply(Vec<Resolved>),
    Shutdown(oneshot::Sender<()>),
}

/// What storage held for a file a peer changed, and when that was observed.
pub(crate) struct Resolved {
    pub file: String,
    pub observed_at: Instant,
    pub observed: Observed,
}

pub(crate) enum Observed {
    Present(Box<Entry>),
    Absent,
}

/// One repository's state, shared by its handle, its writer and its poller. Only the writer
/// changes `index` and `snapshot`.
pub(crate) struct Shared {
    pub(crate) replica: String,
    pub(crate) storage: Storage,
    pub(crate) index: RwLock<Index>,
    pub(crate) snapshot: ArcSwap<Snapshot>,
    pub(crate) options: RepoOptions,
}

impl Shared {
    pub(crate) fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }
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

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    skipped: Skipped,
    persister: Persister,
    log: LogAppender,
    /// When each file last changed through this replica, so a peer change checked against
    /// storage before that moment cannot undo it.
    recent_local: HashMap<String, Instant>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, rx: mpsc::Receiver<Command>, skipped: Skipped) -> Self {
        Self {
            shared,
            rx,
            skipped,
            persister: Persister::default(),
            log: LogAppender { next_seq: 1, pending: Vec::new() },
            recent_local: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self, persist_now: bool) {
        if persist_now {
            self.persister.dirty_since = Some(Instant::now() - self.shared.options.persist_max_delay);
        }
        let mut resync_tick = self.shared.options.resync_interval.map(|every| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        loop {
            let persist_at = self.persister.deadline(&self.shared.options);
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
                    self.persister.persist(&self.shared, false).await;
                }
                _ = tokio::time::sleep(LOG_RETRY), if !self.log.pending.is_empty() => {
                    self.log.flush(&self.shared).await;
                }
            }
        }
        self.persister.persist(&self.shared, true).await;
    }

    /// Queues changes found by a resync (or at start) for the change log.
    pub(crate) fn announce(&mut self, touched: Vec<Change>, listed_at: Instant) {
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
        self.log.pending.extend(touched);
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
                        let mut index = self.shared.index_mut();
                        index.insert(*entry);
                        index.by_file(&file).cloned()
                    };
                    self.log.pending.extend(inserted.map(Change::Put));
                    self.recent_local.insert(file, Instant::now());
                    changed = true;
                    acks.push(Box::new(move || {
                        let _ = ack.send(());
                    }));
                }
                Command::Remove(name, version, ack) => {
                    let removed = self.shared.index_mut().remove(&name, &version);
                    changed |= removed.is_some();
                    self.local_removals(removed.iter());
                    acks.push(Box::new(move || {
                        let _ = ack.send(removed);
                    }));
                }
                Command::Resync(ack) => {
                    let result = self.resync().await;
                    changed |= result.as_ref().is_ok_and(ResyncReport::changed);
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
        if !self.log.pending.is_empty() {
            self.log.flush(&self.shared).await;
        }
        if !keep_running {
            self.persister.persist(&self.shared, true).await;
        }
        for ack in acks {
            ack();
        }
        keep_running
    }

    async fn resync(&mut self) -> Result<ResyncReport, RepoError> {
        let started = Instant::now();
        let shared = &self.shared;
        let mut touched = Vec::new();
        let result = match shared.storage.list_charts().await {
            Ok(listing) => {
                let (storage, options, index) = (&shared.storage, &shared.options, &shared.index);
                reconcile::reconcile(storage, options, index, listing, &mut self.skipped, &HashMap::new(), &mut touched)
                    .await
            }
            Err(e) => Err(e.into()),
        };
        self.announce(touched, started);
        match &result {
            Ok(report) if report.changed() => tracing::info!(
                ?report,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "resynced index with storage"
            ),
            Ok(report) => tracing::debug!(?report, "resync found no change"),
            Err(e) => tracing::warn!(error = %e, "resync with storage failed"),
        }
        result
    }

    fn local_removals<'a>(&mut self, removed: impl Iterator<Item = &'a Arc<Entry>>) {
        let now = Instant::now();
        for e in removed {
            self.recent_local.insert(e.object.file.clone(), now);
            self.log.pending.push(Change::Delete {
                file: e.object.file.clone(),
                name: e.name().to_owned(),
                version: e.version().to_owned(),
            });
        }
    }

    /// Applies what storage held for files that peers changed. Returns whether the index changed.
    fn apply_peer_changes(&mut self, resolved: Vec<Resolved>) -> bool {
        self.recent_local.retain(|_, at| at.elapsed() < LOCAL_SHIELD);
        let mut changed = false;
        let mut index = self.shared.index_mut();
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
                    if let Admission::Duplicate { .. } = index.admission(entry.name(), entry.version(), &r.file) {
                        continue;
                    }
                    self.skipped.remove(&r.file);
                    index.admit(entry);
                    changed = true;
                }
            }
        }
        changed
    }

    fn publish(&mut self) {
        let snapshot = {
            let mut index = self.shared.index_mut();
            // Strictly increasing, so every change yields new bytes and a new ETag.
            let mut now = Timestamp::now();
            if now <= index.generated() {
                now = index.generated() + Duration::from_nanos(1);
            }
            index.set_generated(now);
            Snapshot::build(&mut index)
        };
        self.shared.snapshot.store(Arc::new(snapshot));
        self.persister.changed(self.shared.options.statefiles);
    }
}

/// Background persistence of the index state, debounced: once no change has happened for
/// `persist_idle`, at the latest `persist_max_delay` after the first unpersisted change.
struct Persister {
    dirty_since: Option<Instant>,
    last_change: Instant,
    task: Option<JoinHandle<()>>,
}

impl Default for Persister {
    fn default() -> Self {
        Self { dirty_since: None, last_change: Instant::now(), task: None }
    }
}

impl Persister {
    fn changed(&mut self, statefiles: bool) {
        self.last_change = Instant::now();
        if statefiles {
            self.dirty_since.get_or_insert(self.last_change);
        }
    }

    fn deadline(&self, options: &RepoOptions) -> Option<Instant> {
        let since = self.dirty_since?;
        Some((self.last_change + options.persist_idle).min(since + options.persist_max_delay))
    }

    async fn persist(&mut self, shared: &Shared, wait: bool) {
        if let Some(task) = self.task.take() {
            if !task.is_finished() && !wait {
                // One write at a time; try again shortly.
                self.task = Some(task);
                self.last_change = Instant::now();
                return;
            }
            let _ = task.await;
        }
        if self.dirty_since.take().is_none() {
            return;
        }
        let (generated, entries) = {
            let index = shared.index();
            (index.generated(), index.entries().cloned().collect::<Vec<_>>())
        };
        let storage = shared.storage.clone();
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
            self.task = Some(task);
        }
    }
}

/// This replica's change log: changes applied here wait in `pending` until a record holding them
/// is written.
struct LogAppender {
    /// Sequence number of this replica's next change-log record.
    next_seq: u64,
    /// Changes applied here but not yet announced in the change log (retried until written).
    pending: Vec<Change>,
}

impl LogAppender {
    /// Writes pending changes to this replica's change log. On failure they stay pending and are
    /// retried: the changes themselves are already in storage and in this replica's index.
    async fn flush(&mut self, shared: &Shared) {
        while !self.pending.is_empty() {
            let take = self.pending.len().min(MAX_RECORD_CHANGES);
            let seq = self.next_seq;
            let bytes = match changelog::encode(&shared.replica, seq, Timestamp::now(), &self.pending[..take]) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a change-log record; dropping it");
                    self.pending.drain(..take);
                    continue;
                }
            };
            match shared.storage.put_log_record(&shared.replica, seq, bytes.into()).await {
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
}
