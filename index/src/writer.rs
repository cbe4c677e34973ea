//! The writer task: the one owner of index changes, for every tenant.
//!
//! Uploads, deletes, resyncs and peers' changes arrive as [`Command`]s, each naming its tenant.
//! The writer drains its queue in batches, applies a batch, publishes one new [`Snapshot`] for
//! each tenant the batch changed (and no other), adds tenants that got their first chart and
//! drops those that lost their last, appends the batch's changes to this replica's one change
//! log, and only then acknowledges: a 201 means the served index has the chart and the other
//! replicas will learn of it. Index state is persisted in the background, debounced per tenant
//! (`persist`), never on the upload path.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chartroom_storage::{ChartFiles, StorageError};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::changelog::{self, Change};
use crate::entry::Entry;
use crate::error::RepoError;
use crate::index::{Admission, Index};
use crate::persist::Persister;
use crate::reconcile::{self, ResyncReport, Skipped, Target};
use crate::snapshot::Snapshot;
use crate::tenancy;
use crate::tenant::Tenant;
use crate::tenants::{Place, Shared, TenantState};

/// What the writer is asked to do.
pub(crate) enum Command {
    Upsert(Arc<Place>, Box<Entry>, oneshot::Sender<()>),
    /// A version deleted from storage (name, version, its file): out of the index, into the log.
    Remove(Arc<Place>, Removal, oneshot::Sender<Option<Arc<Entry>>>),
    /// Resync one tenant, or all (`None`).
    Resync(Option<Arc<Place>>, Option<oneshot::Sender<Result<ResyncReport, RepoError>>>),
    /// Peers' changes, checked against storage by the poller.
    Apply(Vec<Resolved>),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Removal {
    pub name: String,
    pub version: String,
    pub file: String,
}

/// What storage held for a file a peer changed, and when that was observed.
pub(crate) struct Resolved {
    pub place: Arc<Place>,
    pub file: String,
    pub observed_at: Instant,
    pub observed: Observed,
}

pub(crate) enum Observed {
    Present(Box<Entry>),
    Absent,
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

/// Local changes remembered beyond this many are pruned of those older than [`LOCAL_SHIELD`].
const RECENT_LOCAL_PRUNE: usize = 4096;

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    /// Per tenant, the archives it could not index.
    skipped: HashMap<Tenant, Skipped>,
    persister: Persister,
    log: LogAppender,
    /// When each file of each tenant last changed through this replica, so a peer change
    /// checked against storage before that moment cannot undo it.
    recent_local: HashMap<(Tenant, String), Instant>,
    /// When a peer's change of each file was last applied (its observation's start), so that a
    /// local write committed soon after has its file looked at again: the local write may have
    /// landed before the peer's, which storage then keeps.
    recent_peer: HashMap<(Tenant, String), Instant>,
    /// Tenants that got their first chart in the batch being applied (in the map once published).
    created: HashMap<Tenant, Arc<TenantState>>,
    /// Tenants the batch being applied changed.
    changed: BTreeSet<Tenant>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, rx: mpsc::Receiver<Command>, skipped: HashMap<Tenant, Skipped>) -> Self {
        let persister = Persister::new(&shared.options);
        Self {
            shared,
            rx,
            skipped,
            persister,
            log: LogAppender { next_seq: 1, pending: Vec::new() },
            recent_local: HashMap::new(),
            recent_peer: HashMap::new(),
            created: HashMap::new(),
            changed: BTreeSet::new(),
        }
    }

    /// `persist_now`: tenants whose state is due at once (built afresh at start).
    pub(crate) async fn run(mut self, persist_now: Vec<Arc<Place>>) {
        if self.shared.options.statefiles {
            for place in &persist_now {
                self.persister.changed(place, true);
            }
        }
        let mut resync_tick = self.shared.options.resync_interval.map(|every| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        loop {
            let persist_at = self.persister.deadline();
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
                    self.process(vec![Command::Resync(None, None)]).await;
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
            let at = self.recent_local.entry((change.tenant.clone(), change.file().to_owned())).or_insert(listed_at);
            *at = (*at).max(listed_at);
        }
        self.log.pending.extend(touched);
    }

    /// Applies a batch, publishes once, then acknowledges. Returns false on shutdown.
    async fn process(&mut self, batch: Vec<Command>) -> bool {
        let mut acks: Vec<Box<dyn FnOnce() + Send>> = Vec::with_capacity(batch.len());
        let mut keep_running = true;
        for cmd in batch {
            match cmd {
                Command::Upsert(place, entry, ack) => {
                    let tenant = &place.tenant;
                    let file = entry.file().to_owned();
                    if let Some(skipped) = self.skipped.get_mut(tenant) {
                        skipped.remove(&file);
                    }
                    let state = self.state_for_write(&place);
                    let inserted = {
                        let mut index = state.index.write();
                        index.insert(*entry);
                        index.by_file(&file).cloned()
                    };
                    self.log.pending.extend(inserted.map(|e| Change::put(tenant, e)));
                    self.local_change(tenant, file);
                    self.changed.insert(tenant.clone());
                    acks.push(Box::new(move || {
                        let _ = ack.send(());
                    }));
                }
                Command::Remove(place, removal, ack) => {
                    let removed =
                        self.state(&place.tenant).and_then(|s| s.index.write().remove(&removal.name, &removal.version));
                    if removed.is_some() {
                        self.changed.insert(place.tenant.clone());
                    }
                    self.local_removal(&place.tenant, removal);
                    acks.push(Box::new(move || {
                        let _ = ack.send(removed);
                    }));
                }
                Command::Resync(place, ack) => {
                    let result = self.resync(place).await;
                    if let Some(ack) = ack {
                        acks.push(Box::new(move || {
                            let _ = ack.send(result);
                        }));
                    }
                }
                Command::Apply(resolved) => self.apply_peer_changes(resolved),
                Command::Shutdown(ack) => {
                    keep_running = false;
                    acks.push(Box::new(move || {
                        let _ = ack.send(());
                    }));
                }
            }
        }
        self.publish();
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
        if self.recent_local.len() > RECENT_LOCAL_PRUNE {
            self.recent_local.retain(|_, at| at.elapsed() < LOCAL_SHIELD);
        }
        if self.recent_peer.len() > RECENT_LOCAL_PRUNE {
            self.recent_peer.retain(|_, at| at.elapsed() < LOCAL_SHIELD);
        }
        keep_running
    }

    /// A tenant's state as this batch sees it: created by it, or in the map.
    fn state(&self, tenant: &Tenant) -> Option<Arc<TenantState>> {
        self.created.get(tenant).cloned().or_else(|| self.shared.tenants.get(tenant))
    }

    /// A tenant's state, created (empty, serving the shared empty snapshot) if it has none.
    fn state_for_write(&mut self, place: &Arc<Place>) -> Arc<TenantState> {
        if let Some(state) = self.state(&place.tenant) {
            return state;
        }
        let index = Index::new(place.render.clone());
        let state = Arc::new(TenantState::new(Arc::clone(place), index, self.shared.tenants.empty_snapshot()));
        self.created.insert(place.tenant.clone(), Arc::clone(&state));
        state
    }

    /// Resyncs one tenant (a delimiter listing of its folder) or all of them (one listing of the
    /// whole tree, or of the root's folder on a single-repository server).
    async fn resync(&mut self, place: Option<Arc<Place>>) -> Result<ResyncReport, RepoError> {
        let started = Instant::now();
        let scope = place.as_ref().map_or_else(|| "all".to_owned(), |p| p.tenant.to_string());
        let mut touched = Vec::new();
        let result = match self.resync_targets(place).await {
            Ok(mut targets) => {
                let result = reconcile::reconcile(&self.shared.options, &mut targets, &mut touched).await;
                let mut report = ResyncReport::default();
                for target in targets {
                    report += &target.report;
                    if target.report.changed() {
                        self.changed.insert(target.tenant().clone());
                    }
                    self.keep_skipped(target.tenant().clone(), target.skipped);
                }
                result.map(|()| report)
            }
            Err(e) => Err(e.into()),
        };
        self.announce(touched, started);
        metrics::histogram!("chartroom_resync_duration_seconds").record(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("chartroom_resyncs_total", "outcome" => outcome).increment(1);
        if let Ok(r) = &result {
            for (change, n) in [("added", r.added), ("updated", r.updated), ("removed", r.removed)] {
                metrics::counter!("chartroom_resync_changes_total", "change" => change).increment(n as u64);
            }
        }
        match &result {
            Ok(report) if report.changed() => tracing::info!(
                tenants = %scope,
                ?report,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "resynced index with storage"
            ),
            Ok(report) => tracing::debug!(tenants = %scope, ?report, "resync found no change"),
            Err(e) => tracing::warn!(tenants = %scope, error = %e, "resync with storage failed"),
        }
        result
    }

    async fn resync_targets(&mut self, place: Option<Arc<Place>>) -> Result<Vec<Target>, StorageError> {
        let tenancy = self.shared.options.tenancy;
        let single_root = || self.shared.tenants.get(&Tenant::root()).map(|s| Arc::clone(&s.place));
        let place = if tenancy.is_single() { place.or_else(single_root) } else { place };
        if let Some(place) = place {
            let files = place.storage.list_chart_files().await?;
            let state = self.state_for_write(&place);
            let skipped = self.skipped.remove(&place.tenant).unwrap_or_default();
            return Ok(vec![Target::new(state, files, skipped)]);
        }
        let mut listed = tenancy::group(
            self.shared.storage.list_tree(|key| tenancy::classify(key, tenancy).is_some()).await?,
            tenancy,
        );
        let mut targets = Vec::with_capacity(listed.len());
        // Tenants in memory that storage no longer lists lose every entry (and are dropped).
        for state in self.shared.tenants.all() {
            let files = listed.remove(&state.place.tenant).map(found_files).unwrap_or_default();
            let skipped = self.skipped.remove(&state.place.tenant).unwrap_or_default();
            targets.push(Target::new(state, files, skipped));
        }
        for (tenant, found) in listed {
            let place = match self.shared.place(&tenant) {
                Ok(place) => Arc::new(place),
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "cannot resync a tenant");
                    continue;
                }
            };
            let state = self.state_for_write(&place);
            let skipped = self.skipped.remove(&tenant).unwrap_or_default();
            targets.push(Target::new(state, found_files(found), skipped));
        }
        // What is left was skipped in folders that hold no archive any more.
        self.skipped.clear();
        Ok(targets)
    }

    fn keep_skipped(&mut self, tenant: Tenant, skipped: Skipped) {
        if !skipped.is_empty() {
            self.skipped.insert(tenant, skipped);
        }
    }

    /// A version deleted through this replica: announced whether or not this replica had indexed
    /// it (a peer may have, if it was stored there moments ago).
    fn local_removal(&mut self, tenant: &Tenant, removal: Removal) {
        self.local_change(tenant, removal.file.clone());
        self.log.pending.push(Change::delete(tenant, removal.file, removal.name, removal.version));
    }

    /// Remembers a change through this replica. When a peer's change of the same file was
    /// applied moments ago, which of the two storage kept cannot be told from here (this
    /// replica's write may have landed first and its index update come after the peer's), so
    /// the file is looked at again.
    fn local_change(&mut self, tenant: &Tenant, file: String) {
        let key = (tenant.clone(), file);
        if self.recent_peer.get(&key).is_some_and(|at| at.elapsed() < LOCAL_SHIELD) {
            self.shared.rechecks.lock().push((key.0.as_str().to_owned(), key.1.clone()));
        }
        self.recent_local.insert(key, Instant::now());
    }

    /// Applies what storage held for files that peers changed.
    fn apply_peer_changes(&mut self, resolved: Vec<Resolved>) {
        self.recent_local.retain(|_, at| at.elapsed() < LOCAL_SHIELD);
        self.recent_peer.retain(|_, at| at.elapsed() < LOCAL_SHIELD);
        for r in resolved {
            let tenant = &r.place.tenant;
            if self.recent_local.get(&(tenant.clone(), r.file.clone())).is_some_and(|at| *at > r.observed_at) {
                // Observed before the local change was indexed, which says nothing of the order
                // of the two writes in storage: look again, after the local change.
                self.shared.rechecks.lock().push((tenant.as_str().to_owned(), r.file));
                continue;
            }
            self.recent_peer.insert((tenant.clone(), r.file.clone()), r.observed_at);
            match r.observed {
                Observed::Absent => {
                    let Some(state) = self.state(tenant) else { continue };
                    let mut index = state.index.write();
                    if let Some(e) = index.by_file(&r.file).cloned() {
                        index.remove(e.name(), e.version());
                        self.changed.insert(tenant.clone());
                    }
                }
                Observed::Present(entry) => {
                    let entry = *entry;
                    let known = self.state(tenant);
                    if let Some(state) = &known {
                        let index = state.index.read();
                        let same = index.by_file(&r.file).is_some_and(|e| {
                            e.file() == entry.file()
                                && e.size() == entry.size()
                                && e.etag() == entry.etag()
                                && e.same_digest(&entry)
                                && e.provenance() == entry.provenance()
                        });
                        let duplicate = matches!(
                            index.admission(entry.name(), entry.version(), &r.file),
                            Admission::Duplicate { .. }
                        );
                        if same || duplicate {
                            continue;
                        }
                    }
                    if let Some(skipped) = self.skipped.get_mut(tenant) {
                        skipped.remove(&r.file);
                    }
                    let state = self.state_for_write(&r.place);
                    state.index.write().admit(entry);
                    self.changed.insert(tenant.clone());
                }
            }
        }
    }

    /// Publishes a new snapshot for every tenant the batch changed; adds the tenants it created,
    /// drops those it emptied (the root of a single-repository server stays).
    fn publish(&mut self) {
        let changed = std::mem::take(&mut self.changed);
        let mut created = std::mem::take(&mut self.created);
        let mut dropped = Vec::new();
        for tenant in changed {
            let Some(state) = created.get(&tenant).cloned().or_else(|| self.shared.tenants.get(&tenant)) else {
                continue;
            };
            let snapshot = {
                let mut index = state.index.write();
                if index.is_empty() && !self.shared.tenants.is_pinned(&tenant) {
                    None
                } else {
                    // Strictly increasing, so every change yields new bytes and a new ETag.
                    let mut now = Timestamp::now();
                    if now <= index.generated() {
                        now = index.generated() + Duration::from_nanos(1);
                    }
                    index.set_generated(now);
                    Some(Snapshot::build(&mut index))
                }
            };
            match snapshot {
                Some(snapshot) => {
                    state.snapshot.store(Arc::new(snapshot));
                    metrics::counter!("chartroom_index_etag_changes_total", "repo" => tenant.as_str().to_owned())
                        .increment(1);
                }
                None => {
                    if created.remove(&tenant).is_none() {
                        dropped.push(tenant);
                    }
                }
            }
            if self.shared.options.statefiles {
                self.persister.changed(&state.place, false);
            }
        }
        // Created tenants that ended the batch empty were never visible: nothing to drop.
        created.retain(|_, state| !state.index.read().is_empty());
        self.shared.tenants.update(created.into_values().collect(), &dropped);
    }
}

/// A tenant's share of a listing of the whole bucket, as a reconciliation takes it.
fn found_files(found: tenancy::Found) -> ChartFiles {
    ChartFiles { charts: found.charts, provenance: found.provenance }
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
                    shared.feed.notify();
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
