//! Following the other replicas: poll their change logs, check what they name against storage,
//! hand the result to the writer. Runs beside the writer so network round trips never delay the
//! local upload path.
//!
//! One poller for all tenants: records name each change's tenant. Cost while nothing changes:
//! one LIST (which replicas have logs) plus one GET per peer (its next record, usually a 404) per
//! poll interval, however many tenants there are. Per change made by a peer: its share of one
//! record GET, one HEAD of the chart and (with a provenance keyring) one of its provenance file, and a GET of the archive
//! only when the record's metadata does not describe the object storage now holds (of the
//! provenance file only when neither the record nor this replica describe the one stored and
//! the tenant's policy verifies).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chartroom_storage::{LogRecordInfo, ObjectInfo, StorageError};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::changelog::{self, PeerChange, PeerOp};
use crate::entry::{Entry, StoredObject};
use crate::ingest::{self, Archive};
use crate::provenance::{self, ChartIdentity, ProvenanceRecord};
use crate::state::StoredEntry;
use crate::tenant::Tenant;
use crate::tenants::{Located, Shared};
use crate::writer::{Command, Observed, Resolved};

/// How often old change-log records are pruned, at most (a tenth of the retention when that is
/// shorter).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// The newest record of a log is kept (it marks the log's head) unless it is this old: its
/// replica has been gone that long.
const DEAD_LOG_AGE: Duration = Duration::from_secs(24 * 3600);
/// Files checked against storage at once.
const CHECK_CONCURRENCY: usize = 32;
/// Records read from one peer per round, so a busy peer's changes arrive in steady steps instead
/// of one long catch-up; the next round starts at once when a peer had more.
const RECORDS_PER_ROUND: u64 = 64;
/// Records of one peer fetched concurrently while catching up.
const READ_WINDOW: usize = 8;

pub(crate) fn replica_count(records: &[LogRecordInfo]) -> usize {
    records.iter().map(|r| r.replica.as_str()).collect::<HashSet<_>>().len()
}

pub(crate) struct Poller {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    /// Next sequence number to read, per peer.
    peers: HashMap<String, u64>,
    failing: bool,
    last_prune: Instant,
    /// The prune in progress: it lists every record of every log, which on a large or slow
    /// store takes long, so it runs beside the polls instead of delaying them.
    pruning: Option<tokio::task::JoinHandle<()>>,
    /// Per replica, its lowest record the last prune left (shared with the pruning task): a
    /// peer position below it means records were pruned before this replica read them.
    pruned_below: Arc<parking_lot::Mutex<HashMap<String, u64>>>,
}

impl Poller {
    /// `heads`: the records that existed when the index was built from a listing; the poller
    /// starts after them.
    pub(crate) fn new(shared: Arc<Shared>, tx: mpsc::Sender<Command>, heads: &[LogRecordInfo]) -> Self {
        let mut peers = HashMap::new();
        for r in heads {
            let next = peers.entry(r.replica.clone()).or_insert(0);
            *next = (*next).max(r.seq + 1);
        }
        Self {
            shared,
            tx,
            peers,
            failing: false,
            last_prune: Instant::now(),
            pruning: None,
            pruned_below: Arc::default(),
        }
    }

    pub(crate) async fn run(mut self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut more = false;
        loop {
            if !more {
                tick.tick().await;
            }
            more = false;
            if self.tx.is_closed() {
                return;
            }
            match self.poll().await {
                Ok(Polled { resolved, unread, missed }) => {
                    more = unread;
                    let recovered = std::mem::take(&mut self.failing);
                    if recovered {
                        // Records may have been pruned while this replica could not read them.
                        tracing::info!("object store reachable again; resyncing the index with storage");
                    }
                    if (recovered || missed) && self.tx.send(Command::Resync(None, None)).await.is_err() {
                        return;
                    }
                    if !resolved.is_empty() && self.tx.send(Command::Apply(resolved)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(error = %e, "cannot poll the other replicas' change logs; serving the index from memory");
                    }
                    self.failing = true;
                }
            }
            let pruning = self.pruning.as_ref().is_some_and(|task| !task.is_finished());
            let prune_every = (self.shared.options.log_retention / 10).min(PRUNE_EVERY);
            if !self.failing && !pruning && self.last_prune.elapsed() >= prune_every {
                self.last_prune = Instant::now();
                let (shared, floors) = (Arc::clone(&self.shared), Arc::clone(&self.pruned_below));
                self.pruning = Some(tokio::spawn(async move { prune(&shared, &floors).await }));
            }
        }
    }

    /// Reads every peer record not seen yet and checks the files they name. Positions advance
    /// only when everything succeeded, so a failed poll is simply repeated.
    async fn poll(&mut self) -> Result<Polled, StorageError> {
        let started = Instant::now();
        let storage = &self.shared.storage;
        let replicas = storage.list_log_replicas().await?;
        let mut next = HashMap::with_capacity(replicas.len());
        let mut changes: Vec<PeerChange> = Vec::new();
        let mut unread = false;
        let mut missed = false;
        // When the records read were written, for the replica lag metric.
        let mut written: Vec<jiff::Timestamp> = Vec::new();
        for replica in replicas.into_iter().filter(|r| *r != self.shared.replica) {
            let mut seq = match self.peers.get(&replica) {
                Some(seq) => *seq,
                // A replica that started after us: everything it wrote is new to us. Its log
                // starts at 1; a later first record means some were pruned unread.
                None => {
                    let first = storage.list_log_records(Some(&replica)).await?.first().map_or(1, |r| r.seq);
                    if first > 1 {
                        tracing::warn!(%replica, first, "a new peer's first change-log records were pruned before this replica read them; resyncing with storage");
                        missed = true;
                    }
                    first
                }
            };
            // Records pruned before this replica read them (it lagged behind the peer by more
            // than the retention): their changes are lost to it, so it goes on from the oldest
            // record left and has the writer resync with storage.
            let floor = self.pruned_below.lock().get(&replica).copied();
            if let Some(floor) = floor.filter(|floor| seq < *floor) {
                tracing::warn!(
                    %replica,
                    from = seq,
                    to = floor,
                    "a peer's change-log records were pruned before this replica read them; resyncing with storage"
                );
                seq = floor;
                missed = true;
            }
            // One GET when nothing is new (the idle cost); while a peer has more, its following
            // records are fetched in growing windows, concurrently.
            let mut window = 1;
            let start = seq;
            let end = seq + RECORDS_PER_ROUND;
            'read: while seq < end {
                let wanted: Vec<u64> = (seq..(seq + window).min(end)).collect();
                let fetched: Vec<Result<Option<bytes::Bytes>, StorageError>> = futures::stream::iter(wanted)
                    .map(|n| {
                        let replica = replica.clone();
                        async move { storage.get_log_record(&replica, n).await }
                    })
                    .buffered(READ_WINDOW)
                    .collect()
                    .await;
                for got in fetched {
                    let Some(bytes) = got? else { break 'read };
                    match changelog::decode(&bytes) {
                        Ok(record) => {
                            written.push(record.time);
                            changes.extend(record.changes);
                        }
                        Err(e) => tracing::warn!(%replica, seq, error = %e, "skipping an unreadable change-log record"),
                    }
                    seq += 1;
                }
                // Widen with what this round found so far: a peer writing now and then costs one
                // GET per record plus the one 404 that ends the round (the idle poll's GET).
                window = (seq - start).clamp(1, READ_WINDOW as u64);
            }
            unread |= seq == end;
            next.insert(replica, seq);
        }
        tracing::trace!(?next, "polled peers");
        let records: u64 = next.iter().map(|(r, seq)| seq - self.peers.get(r).copied().unwrap_or(*seq)).sum();
        let named = changes.len();
        let read_ms = started.elapsed().as_millis() as u64;
        // Files the writer wants looked at again; kept for the next round if this one fails.
        let rechecks = std::mem::take(&mut *self.shared.rechecks.lock());
        changes.extend(rechecks.iter().map(|(tenant, file)| PeerChange::recheck(tenant.clone(), file.clone())));
        let resolved = match self.check(changes).await {
            Ok(resolved) => resolved,
            Err(e) => {
                self.shared.rechecks.lock().extend(rechecks);
                return Err(e);
            }
        };
        let now = jiff::Timestamp::now();
        for time in written {
            let lag = now.duration_since(time).as_secs_f64().max(0.0);
            metrics::histogram!("chartroom_replica_lag_seconds").record(lag);
        }
        if named > 0 {
            tracing::debug!(
                records,
                named,
                applied = resolved.len(),
                read_ms,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "read peers' change-log records"
            );
        }
        self.peers = next;
        if records > 0 {
            // Followers of the change feed waiting on this replica look again.
            self.shared.feed.notify();
        }
        Ok(Polled { resolved, unread, missed })
    }

    /// Checks each named file against storage; the latest change per file carries the metadata.
    async fn check(&self, changes: Vec<PeerChange>) -> Result<Vec<Resolved>, StorageError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let mut latest: HashMap<(String, String), PeerChange> = HashMap::with_capacity(changes.len());
        for change in changes {
            latest.insert((change.tenant.clone(), change.file().to_owned()), change);
        }
        let shared = &self.shared;
        let results: Vec<Result<Option<Resolved>, StorageError>> = futures::stream::iter(latest)
            .filter_map(|((tenant, file), change)| {
                std::future::ready(locate(shared, &tenant).map(|l| (l, file, change)))
            })
            .map(|(located, file, change)| async move {
                let observed_at = Instant::now();
                let observed = observe(shared, &located, &file, change.op).await?;
                Ok(observed.map(|observed| Resolved { place: located.place, file, observed_at, observed }))
            })
            .buffer_unordered(CHECK_CONCURRENCY)
            .collect()
            .await;
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }
}

/// What one poll found: the changes to apply, whether a peer has more records than one round
/// reads, and whether records were pruned before this replica read them.
struct Polled {
    resolved: Vec<Resolved>,
    unread: bool,
    missed: bool,
}

/// Deletes records older than the retention, except each log's newest (its head), which goes
/// only when its replica has been silent for a day. Every replica prunes; deleting a record twice
/// is harmless. Leaves in `floors` each replica's lowest record kept.
async fn prune(shared: &Shared, floors: &parking_lot::Mutex<HashMap<String, u64>>) {
    let storage = &shared.storage;
    let Ok(records) = storage.list_log_records(None).await else { return };
    let now = SystemTime::now();
    let age = |r: &LogRecordInfo| now.duration_since(r.last_modified).unwrap_or_default();
    let mut newest: HashMap<&str, u64> = HashMap::new();
    for r in &records {
        let seq = newest.entry(r.replica.as_str()).or_insert(0);
        *seq = (*seq).max(r.seq);
    }
    let is_doomed = |r: &LogRecordInfo| {
        let is_head = newest.get(r.replica.as_str()) == Some(&r.seq);
        if is_head {
            r.replica != shared.replica && age(r) > DEAD_LOG_AGE
        } else {
            age(r) > shared.options.log_retention
        }
    };
    let (doomed, kept): (Vec<&LogRecordInfo>, Vec<&LogRecordInfo>) = records.iter().partition(|r| is_doomed(r));
    let mut lowest: HashMap<String, u64> = HashMap::new();
    for r in kept {
        let seq = lowest.entry(r.replica.clone()).or_insert(r.seq);
        *seq = (*seq).min(r.seq);
    }
    if doomed.is_empty() {
        *floors.lock() = lowest;
        return;
    }
    let doomed: Vec<(String, u64)> = doomed.into_iter().map(|r| (r.replica.clone(), r.seq)).collect();
    let deleted = futures::stream::iter(doomed)
        .map(|(replica, seq)| async move { storage.delete_log_record(&replica, seq).await.is_ok() })
        .buffer_unordered(8)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    // Only once they are gone: a reader below a floor has lost records for certain.
    *floors.lock() = lowest;
    tracing::debug!(deleted, "pruned old change-log records");
}

/// The tenant a peer's change names, if this server serves it: a peer configured with another
/// layout (or a damaged record) names tenants this one ignores.
fn locate(shared: &Shared, tenant: &str) -> Option<Located> {
    let parsed = Tenant::parse(tenant).map_err(|e| e.to_string());
    match parsed.and_then(|t| shared.locate(&t).map_err(|e| e.to_string())) {
        Ok(located) => Some(located),
        Err(reason) => {
            tracing::debug!(%tenant, %reason, "ignoring a peer's change to a tenant this server does not serve");
            None
        }
    }
}

/// What storage holds for `file` now, as an index entry (with its provenance file's record);
/// `None` when the index already has exactly that (archive and provenance file) or it cannot be
/// indexed (left to the periodic resync, which logs why).
async fn observe(
    shared: &Shared,
    located: &Located,
    file: &str,
    change: PeerOp,
) -> Result<Option<Observed>, StorageError> {
    let storage = &located.place.storage;
    let info = match storage.head(file).await {
        Ok(info) => info,
        Err(StorageError::NotFound(_)) => return Ok(Some(Observed::Absent)),
        Err(e) => return Err(e),
    };
    // Stricter than the start-up listing check (`still_the_same`, which falls back to the size
    // when a listing carries no ETag): a HEAD always has the ETag on S3, GCS, Azure and local
    // files, and without one the archive is read rather than trusting a size match.
    let same_object =
        |object: &StoredObject| object.size == info.size && info.e_tag.is_some() && object.etag == info.e_tag;
    let indexed: Option<Arc<Entry>> = located.state.as_ref().and_then(|s| s.index.read().by_file(file).cloned());
    let recorded = match change {
        PeerOp::Put(stored) if same_object(&stored.object) => Some(*stored),
        _ => None,
    };
    let record_provenance = recorded.as_ref().and_then(|r| r.provenance.clone());
    let (mut entry, unchanged) = match &indexed {
        Some(e) if same_object(&e.object()) => (Entry::clone(e), true),
        _ => {
            let entry = match recorded {
                Some(stored) => chart_entry(located, file, &info, stored),
                None => read_entry(shared, located, file, &info, indexed.as_deref()).await?,
            };
            match entry {
                Some(Ok(entry)) => (entry, false),
                Some(Err(observed)) => return Ok(Some(observed)),
                None => return Ok(None),
            }
        }
    };
    let indexed_provenance = indexed.as_ref().filter(|e| e.same_digest(&entry)).and_then(|e| e.provenance().cloned());
    let provenance = observe_provenance(shared, located, file, &entry, record_provenance, indexed_provenance).await?;
    if unchanged && entry.provenance() == provenance.as_ref() {
        return Ok(None);
    }
    entry.set_provenance(provenance);
    Ok(Some(Observed::Present(Box::new(entry))))
}

/// The entry a peer's record describes (its archive is the one storage holds now).
fn chart_entry(
    located: &Located,
    file: &str,
    info: &ObjectInfo,
    stored: StoredEntry,
) -> Option<Result<Entry, Observed>> {
    let object = StoredObject { file: file.to_owned(), size: info.size, etag: info.e_tag.clone() };
    match Entry::new(stored.metadata, stored.digest, stored.created, object, &located.place.render) {
        Ok(entry) => Some(Ok(entry)),
        Err(e) => {
            tracing::warn!(tenant = %located.place.tenant, %file, error = %e, "a peer announced a chart this replica cannot index");
            None
        }
    }
}

/// The entry of the archive storage holds now, read (the record does not describe it: it
/// changed again since). `Err(Absent)` when it disappeared meanwhile.
async fn read_entry(
    shared: &Shared,
    located: &Located,
    file: &str,
    info: &ObjectInfo,
    indexed: Option<&Entry>,
) -> Result<Option<Result<Entry, Observed>>, StorageError> {
    let storage = &located.place.storage;
    tracing::trace!(%file, head_etag = ?info.e_tag, "reading an archive a peer changed");
    // What the index had for this file was validated here; anything else gets the full check.
    let trusted: ingest::Trusted = std::sync::Arc::new(indexed.iter().map(|e| e.digest().to_string()).collect());
    let loaded = match ingest::read_archive(storage, file, info.size, &shared.options.limits, &trusted).await? {
        Archive::Loaded(loaded) => *loaded,
        Archive::Missing => return Ok(Some(Err(Observed::Absent))),
        Archive::Invalid(reason) => {
            tracing::warn!(tenant = %located.place.tenant, %file, %reason, "invalid package in storage; not indexed");
            return Ok(None);
        }
    };
    let object = StoredObject { file: file.to_owned(), size: info.size, etag: info.e_tag.clone() };
    let indexed_digest = indexed.map(|e| (e.digest(), e.created));
    let known = indexed_digest.as_ref().map(|(digest, created)| (&**digest, *created));
    Ok(match ingest::archive_entry(loaded, object, info.last_modified, known, None, &located.place.render) {
        Ok(entry) => Some(Ok(entry)),
        Err(e) => {
            tracing::warn!(tenant = %located.place.tenant, %file, error = %e, "invalid package in storage; not indexed");
            None
        }
    })
}

/// The record of `file`'s provenance file as storage holds it now (one HEAD): the peer's record
/// when it describes that file, else this replica's own record of it for the same archive, else
/// judged afresh ([`provenance::judge_stored`]); `None` when there is no provenance file, or
/// without a keyring (nothing is recorded then, and nothing is asked of storage).
async fn observe_provenance(
    shared: &Shared,
    located: &Located,
    file: &str,
    entry: &Entry,
    recorded: Option<ProvenanceRecord>,
    indexed: Option<ProvenanceRecord>,
) -> Result<Option<ProvenanceRecord>, StorageError> {
    let storage = &located.place.storage;
    if !shared.options.provenance.records() {
        return Ok(None);
    }
    let prov_file = provenance::provenance_file_of(file);
    let info = match storage.head(&prov_file).await {
        Ok(info) => info,
        Err(StorageError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(record) = recorded.into_iter().chain(indexed).find(|r| r.describes(&info)) {
        return Ok(Some(record));
    }
    let keyring = shared.options.provenance.verifier(&located.place.tenant);
    provenance::judge_stored(storage, &prov_file, &info, keyring, ChartIdentity::of(entry)).await
}
