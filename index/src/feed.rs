//! The change feed (`GET /api/events`): the replicas' change logs (`changelog`) read back as one
//! ordered stream of changes, with a cursor a follower keeps.
//!
//! # Why the cursor is a vector, and how the order is fixed
//!
//! Each replica appends numbered records to its own log in the bucket; there is no global
//! sequence number (that would need a coordinator or contended conditional writes). A cursor is
//! therefore a *vector*: for every replica log, the last record number the follower has seen,
//! plus the time up to which the feed had been read (`made`). It is computed from the bucket
//! alone, never from a replica's memory, so:
//!
//! * every replica of one bucket hands out and accepts the same cursors (a follower may switch
//!   replicas between requests), and a cursor stays valid across restarts (a restarted process
//!   gets a new replica id and a new log; the old log stays in the bucket until it is pruned);
//! * a record is delivered exactly once per follower: a cursor position only moves past records
//!   that were delivered, and per-replica logs are append-only and gap-free (record `n + 1` is
//!   written after `n` is stored).
//!
//! The order across logs is a deterministic merge: records ordered by (record time, replica id,
//! record number). For every follower to see the *same* order, a record must not become visible
//! after a record that sorts after it has been delivered. The feed therefore only delivers
//! records older than a watermark, `now - SETTLE`: a record is written right after its time is
//! taken, so once it is `SETTLE` old it is in the bucket (when a write takes longer than `SETTLE`,
//! or replicas' clocks disagree by more, a late record is still delivered exactly once, only
//! after records that sort after it: the order guarantee is bounded by `SETTLE`, the exactly-once
//! guarantee is not). Within one log, records are delivered in number order and a log's
//! delivery stops at its first record newer than the watermark.
//!
//! # Window
//!
//! The logs are pruned (`RepoOptions::log_retention`, 10 minutes): the feed's history is that
//! window. A cursor whose `made` time is older than the window, or that points before the first
//! record a log still holds, may have missed pruned records: [`FeedError::Expired`] (410), and the
//! follower resyncs from the index. Replicas whose logs are gone drop out of new cursors; a log
//! unknown to a cursor is read from its first record.
//!
//! # Cost
//!
//! One LIST of the log folder per read (the window's records), plus one GET per record not read
//! before by this process (records never change, so decoded records are cached while they are
//! listed). Waiting followers are woken by this process's own log appends and by its poller
//! reading peers' records: no request per waiting follower.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chartroom_storage::StorageError;
use jiff::Timestamp;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::changelog::{self, PeerOp};
use crate::repo::Repository;

/// How old a record must be before the feed delivers it (see the module comment).
pub const SETTLE: Duration = Duration::from_millis(300);
/// The cursor format's version, its first field.
const CURSOR_FORMAT: &str = "1";

/// What the feed keeps per process: decoded records, and the signal that wakes long polls.
pub(crate) struct FeedState {
    cache: Mutex<HashMap<(String, u64), Arc<Decoded>>>,
    signal: watch::Sender<u64>,
}

impl Default for FeedState {
    fn default() -> Self {
        Self { cache: Mutex::default(), signal: watch::Sender::new(0) }
    }
}

impl FeedState {
    /// A log record was written or read: long polls look again.
    pub(crate) fn notify(&self) {
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }
}

struct Decoded {
    time: Timestamp,
    changes: Vec<FeedChange>,
}

/// One change of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedChange {
    /// The tenant's path (`""`: the root repository).
    pub tenant: String,
    pub op: FeedOp,
    pub name: String,
    pub version: String,
    /// The archive's file name in the tenant's folder.
    pub file: String,
    /// The archive's SHA-256 (hex) for a put.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOp {
    /// A version stored or replaced.
    Put,
    /// A version deleted.
    Delete,
}

/// A record's changes as delivered, with where they come from.
#[derive(Debug, Clone)]
pub struct FeedRecord {
    pub replica: String,
    pub seq: u64,
    pub time: Timestamp,
    pub changes: Vec<FeedChange>,
}

/// One answer of the feed.
#[derive(Debug)]
pub struct FeedPage {
    pub records: Vec<FeedRecord>,
    /// The cursor to read on from.
    pub next: Cursor,
    /// Records exist that are not old enough to deliver yet (or did not fit the page).
    pub pending: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("invalid cursor: {0}")]
    InvalidCursor(&'static str),
    #[error("cursor expired: changes after it may have been pruned from the change log (history window {0:?})")]
    Expired(Duration),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where a follower is: per replica log, the last record delivered, and up to when the feed was
/// read. Written as `1.<unix ms>[.<replica>-<seq>]*`; opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    made: Timestamp,
    seen: BTreeMap<String, u64>,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{CURSOR_FORMAT}.{}", self.made.as_millisecond())?;
        for (replica, seq) in &self.seen {
            write!(f, ".{replica}-{seq}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Cursor {
    type Err = FeedError;

    fn from_str(s: &str) -> Result<Cursor, FeedError> {
        let mut parts = s.split('.');
        if parts.next() != Some(CURSOR_FORMAT) {
            return Err(FeedError::InvalidCursor("unknown format"));
        }
        let made = parts
            .next()
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .ok_or(FeedError::InvalidCursor("bad time"))?;
        let mut seen = BTreeMap::new();
        for part in parts {
            let (replica, seq) = part.rsplit_once('-').ok_or(FeedError::InvalidCursor("bad position"))?;
            let seq = seq.parse::<u64>().map_err(|_| FeedError::InvalidCursor("bad position"))?;
            if !valid_replica(replica) || seen.insert(replica.to_owned(), seq).is_some() {
                return Err(FeedError::InvalidCursor("bad position"));
            }
        }
        Ok(Cursor { made, seen })
    }
}

/// Replica ids this feed can name in a cursor (what `changelog::new_replica_id` makes, and more).
fn valid_replica(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Repository {
    /// A receiver that changes whenever this process wrote or read change-log records.
    pub fn feed_signal(&self) -> watch::Receiver<u64> {
        self.shared.feed.signal.subscribe()
    }

    /// The records after `since` (from the start of the window without one), oldest first, at
    /// most `limit` of them.
    pub async fn changes(&self, since: Option<&Cursor>, limit: usize) -> Result<FeedPage, FeedError> {
        let now = Timestamp::now();
        let window = self.shared.options.log_retention;
        if let Some(cursor) = since
            && now.duration_since(cursor.made).as_secs_f64() > window.as_secs_f64()
        {
            return Err(FeedError::Expired(window));
        }
        let watermark = now - SETTLE;
        let storage = &self.shared.storage;
        let mut logs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for r in storage.list_log_records(None).await? {
            if valid_replica(&r.replica) {
                logs.entry(r.replica).or_default().push(r.seq);
            }
        }
        // Which records each log has after the cursor (contiguous: logs have no gaps but at
        // their pruned beginning).
        let mut wanted: Vec<(String, Vec<u64>)> = Vec::with_capacity(logs.len());
        for (replica, seqs) in &logs {
            let first = seqs[0];
            let start = match since.and_then(|c| c.seen.get(replica)) {
                Some(&seen) if first > seen + 1 => return Err(FeedError::Expired(window)),
                Some(&seen) => seen + 1,
                None => first,
            };
            let mut run = Vec::new();
            for &seq in seqs.iter().filter(|&&s| s >= start) {
                if seq != start + run.len() as u64 {
                    break;
                }
                run.push(seq);
            }
            wanted.push((replica.clone(), run));
        }
        // Decoded once per process: records never change.
        {
            let mut cache = self.shared.feed.cache.lock();
            cache.retain(|(replica, seq), _| logs.get(replica).is_some_and(|s| s.binary_search(seq).is_ok()));
        }
        let mut candidates: Vec<(Timestamp, String, u64, Arc<Decoded>)> = Vec::new();
        let mut pending = false;
        for (replica, seqs) in wanted {
            for seq in seqs {
                let Some(decoded) = self.record(&replica, seq).await? else { break };
                if decoded.time > watermark {
                    pending = true;
                    break;
                }
                candidates.push((decoded.time, replica.clone(), seq, decoded));
            }
        }
        candidates.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        let limit = limit.max(1);
        let truncated = candidates.len() > limit;
        candidates.truncate(limit);
        pending |= truncated;
        // Positions of logs still in the bucket; a log that is gone will never grow again.
        let mut seen: BTreeMap<String, u64> = since
            .map(|c| c.seen.iter().filter(|(r, _)| logs.contains_key(*r)).map(|(r, s)| (r.clone(), *s)).collect())
            .unwrap_or_default();
        let mut records = Vec::with_capacity(candidates.len());
        for (time, replica, seq, decoded) in candidates {
            seen.insert(replica.clone(), seq);
            records.push(FeedRecord { replica, seq, time, changes: decoded.changes.clone() });
        }
        // A truncated page was read up to its last record only: a cursor must not claim more
        // (its time decides expiry).
        let made = match records.last() {
            Some(last) if truncated => last.time,
            _ => since.map_or(watermark, |c| c.made.max(watermark)),
        };
        Ok(FeedPage { records, next: Cursor { made, seen }, pending })
    }

    /// Record `seq` of `replica`'s log, decoded (an unreadable one has no changes); `None` if it
    /// is gone.
    async fn record(&self, replica: &str, seq: u64) -> Result<Option<Arc<Decoded>>, StorageError> {
        let key = (replica.to_owned(), seq);
        if let Some(hit) = self.shared.feed.cache.lock().get(&key) {
            return Ok(Some(Arc::clone(hit)));
        }
        let Some(bytes) = self.shared.storage.get_log_record(replica, seq).await? else { return Ok(None) };
        let decoded = match changelog::decode(&bytes) {
            Ok(record) => Decoded { time: record.time, changes: record.changes.into_iter().map(feed_change).collect() },
            Err(e) => {
                tracing::warn!(%replica, seq, error = %e, "the change feed skips an unreadable change-log record");
                Decoded { time: Timestamp::UNIX_EPOCH, changes: Vec::new() }
            }
        };
        let decoded = Arc::new(decoded);
        self.shared.feed.cache.lock().insert(key, Arc::clone(&decoded));
        Ok(Some(decoded))
    }
}

fn feed_change(change: changelog::PeerChange) -> FeedChange {
    let tenant = change.tenant;
    match change.op {
        PeerOp::Put(e) => FeedChange {
            tenant,
            op: FeedOp::Put,
            name: e.metadata.name,
            version: e.metadata.version,
            file: e.object.file,
            digest: Some(e.digest),
        },
        PeerOp::Delete { file, name, version } => {
            FeedChange { tenant, op: FeedOp::Delete, name, version, file, digest: None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back() {
        let made = Timestamp::from_millisecond(1_700_000_000_123).unwrap();
        let seen = BTreeMap::from([("0123456789abcdef".to_owned(), 7), ("ffff".to_owned(), 0)]);
        let cursor = Cursor { made, seen };
        let text = cursor.to_string();
        assert_eq!(text, "1.1700000000123.0123456789abcdef-7.ffff-0");
        assert_eq!(text.parse::<Cursor>().unwrap(), cursor);
        assert_eq!("1.5".parse::<Cursor>().unwrap().seen.len(), 0);
        for bad in ["", "2.5", "1", "1.x", "1.5.r", "1.5.r-x", "1.5.r-1.r-2", "1.5.a/b-1", "1.5.-1"] {
            assert!(matches!(bad.parse::<Cursor>(), Err(FeedError::InvalidCursor(_))), "{bad}");
        }
    }
}
