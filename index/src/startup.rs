//! Opening a repository: one listing of storage for every tenant, each tenant's persisted state
//! read and validated against its share of the listing, then one reconciliation of them all.
//!
//! A single-repository server lists the root folder with one delimiter LIST and reads the root's
//! state meanwhile, as before tenants. With tenants, one recursive LIST of the prefix finds every
//! tenant's charts and which tenants have state files; the state files are read concurrently
//! (bounded by `read_concurrency`) and decoded, checked and rendered on the blocking pool, so
//! start time grows with the number of files, not with round trips per tenant. The archives that
//! the states do not describe are read with the same bound across all tenants.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chartroom_storage::{ChartFiles, LogRecordInfo, ObjectInfo, Storage, StorageError};
use futures::StreamExt;
use jiff::Timestamp;

use crate::changelog::Change;
use crate::entry::{Entry, RenderConfig};
use crate::error::RepoError;
use crate::index::Index;
use crate::ingest::ChartMuseumTimes;
use crate::options::RepoOptions;
use crate::reconcile::{self, ResyncReport, Skipped, Target};
use crate::snapshot::Snapshot;
use crate::state;
use crate::statefile::{self, Reader};
use crate::tenancy::{self, Found};
use crate::tenant::Tenant;
use crate::tenants::{Place, TenantState, render_for};

/// States up to this size are restored on the runtime's thread (about 40 entries: tens of
/// microseconds).
const INLINE_RESTORE_BYTES: usize = 32 * 1024;

/// No saved entry is shorter than this (its fixed-size fields alone take more).
const MIN_ENTRY_BYTES: usize = 64;

/// Tenants' snapshots built per blocking task at start.
const SNAPSHOTS_PER_TASK: usize = 64;

/// What opening found.
pub(crate) struct Loaded {
    /// Tenants with charts (on a single-repository server: none; the root is `pinned`).
    pub states: Vec<Arc<TenantState>>,
    pub pinned: Option<Arc<TenantState>>,
    /// The index and snapshot of tenants without charts.
    pub empty: (Index, Arc<Snapshot>),
    pub skipped: HashMap<Tenant, Skipped>,
    pub report: ResyncReport,
    /// What storage held that the states did not record, for the change log.
    pub touched: Vec<Change>,
    /// Tenants whose state must be written at once (built afresh).
    pub fresh: Vec<Arc<Place>>,
    /// Peers' change-log records that existed before the listing.
    pub log_heads: Vec<LogRecordInfo>,
}

/// One tenant restored from its state, before reconciliation.
struct Prepared {
    place: Arc<Place>,
    index: Index,
    listing: Vec<ObjectInfo>,
    /// Its provenance files, as listed.
    provenance: Vec<ObjectInfo>,
    /// The state's `generated`, when every entry it recorded is still in storage.
    generated: Option<Timestamp>,
    chartmuseum: ChartMuseumTimes,
    /// Digests the state recorded (validated by this server when it indexed them).
    trusted: HashSet<String>,
    /// Its state was the JSON one of an older Chartroom (then it is written anew at once).
    migrated: bool,
}

pub(crate) async fn load(storage: &Storage, options: &RepoOptions) -> Result<Loaded, RepoError> {
    let started = Instant::now();
    let tenancy = options.tenancy;
    let place = |tenant: &Tenant| -> Result<Arc<Place>, RepoError> {
        Ok(Arc::new(Place {
            tenant: tenant.clone(),
            storage: storage.scoped(tenant.as_str())?,
            render: render_for(&options.render, tenant),
        }))
    };
    let prepared: Vec<Prepared>;
    let log_heads;
    if tenancy.is_single() {
        let root = place(&Tenant::root())?;
        // Peers' log heads are taken before the chart listing: every record after them describes
        // a change the listing may miss, and is polled; anything before is in the listing. The
        // state is independent of both: read meanwhile.
        let heads_then_listing = async {
            let heads = storage.list_log_records(None).await?;
            Ok::<_, StorageError>((heads, storage.list_chart_files().await?))
        };
        // A binary state is restored while storage is listed: the reconciliation that follows
        // reads again whatever the listing shows changed.
        let restoring = async {
            let saved = read_state(&root, options.statefiles).await;
            restore_unlisted(saved, &root).await
        };
        let (listed, early) = tokio::join!(heads_then_listing, restoring);
        let (heads, files) = listed?;
        log_heads = heads;
        let found = Found { charts: files.charts, provenance: files.provenance, state: true, chartmuseum: true };
        prepared = vec![prepare(root, found, early?).await?];
    } else {
        log_heads = storage.list_log_records(None).await?;
        let listing = storage.list_tree(|key| tenancy::classify(key, tenancy).is_some()).await?;
        let grouped = tenancy::group(listing, tenancy);
        let places: Vec<(Arc<Place>, Found)> = grouped
            .into_iter()
            .map(|(tenant, found)| Ok((place(&tenant)?, found)))
            .collect::<Result<_, RepoError>>()?;
        prepared = futures::stream::iter(places)
            .map(|(place, found)| async move {
                let saved = if found.state { read_state(&place, options.statefiles).await } else { None };
                let early = restore_unlisted(saved, &place).await?;
                prepare(place, found, early).await
            })
            .buffer_unordered(options.read_concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, RepoError>>()?;
    }
    let listed: usize = prepared.iter().map(|p| p.listing.len()).sum();
    let from_state: usize = prepared.iter().map(|p| p.index.len()).sum();
    tracing::debug!(
        tenants = prepared.len(),
        listed,
        from_state,
        list_and_state_ms = started.elapsed().as_millis() as u64,
        "loaded persisted index state"
    );

    let mut targets = Vec::with_capacity(prepared.len());
    let mut generated = Vec::with_capacity(prepared.len());
    let mut migrated = HashSet::new();
    let mut empty_index = Index::new(options.render.clone());
    let empty_snapshot = Arc::new(Snapshot::build(&mut empty_index));
    for p in prepared {
        if p.migrated {
            migrated.insert(p.place.tenant.clone());
        }
        let state = Arc::new(TenantState::new(p.place, p.index, Arc::clone(&empty_snapshot)));
        let files = ChartFiles { charts: p.listing, provenance: p.provenance };
        let mut target = Target::new(state, files, Skipped::new());
        target.chartmuseum = p.chartmuseum;
        target.trusted = p.trusted;
        targets.push(target);
        generated.push(p.generated);
    }
    let mut touched = Vec::new();
    reconcile::reconcile(options, &mut targets, &mut touched).await?;
    let reconciled_ms = started.elapsed().as_millis() as u64;

    let mut loaded = Loaded {
        states: Vec::with_capacity(targets.len()),
        pinned: None,
        empty: (empty_index, empty_snapshot),
        skipped: HashMap::new(),
        report: ResyncReport::default(),
        touched,
        fresh: Vec::new(),
        log_heads,
    };
    let now = Timestamp::now();
    for (target, generated) in targets.into_iter().zip(generated) {
        loaded.report += &target.report;
        let mut index = target.state.index.write();
        match generated {
            Some(t) if !target.report.changed() => index.set_generated(t),
            _ => index.set_generated(now),
        }
        let empty = index.is_empty();
        drop(index);
        if target.report.changed() || migrated.contains(target.tenant()) {
            loaded.fresh.push(Arc::clone(&target.state.place));
        }
        if !target.skipped.is_empty() {
            loaded.skipped.insert(target.tenant().clone(), target.skipped);
        }
        if tenancy.is_single() {
            loaded.pinned = Some(target.state);
        } else if !empty {
            loaded.states.push(target.state);
        }
    }
    build_snapshots(loaded.states.iter().chain(&loaded.pinned).cloned().collect()).await;
    tracing::debug!(reconciled_ms, snapshots_ms = started.elapsed().as_millis() as u64, "built the first snapshots");
    Ok(loaded)
}

/// A tenant's persisted state as read from storage.
enum Saved {
    Binary(Bytes),
    /// The JSON state of a Chartroom before issue 16, read once (then deleted).
    Legacy(Bytes),
}

/// Reads a tenant's persisted state (the JSON one of an older Chartroom when there is no
/// binary one); `None` (and a warning) when it cannot be read.
async fn read_state(place: &Place, statefiles: bool) -> Option<Saved> {
    if !statefiles {
        return None;
    }
    let read = |file: &'static str| async move {
        place.storage.read_state(file).await.unwrap_or_else(|e| {
            tracing::warn!(tenant = %place.tenant, %file, error = %e, "cannot read persisted index state; rebuilding from storage");
            None
        })
    };
    match read(statefile::STATE_FILE).await {
        Some(bytes) => Some(Saved::Binary(bytes)),
        None => read(state::LEGACY_STATE_FILE).await.map(Saved::Legacy),
    }
}

/// A tenant's state as far as it is restored before storage is listed.
enum Early {
    /// A binary state (or none), restored whole: its entries are checked against the listing
    /// by the reconciliation.
    Restored(Box<Restored>),
    /// The JSON state of an older Chartroom: rendering an entry costs its metadata's parse,
    /// so only the entries that the listing shows unchanged are restored.
    Legacy(Bytes),
}

/// Restores a binary state off the runtime, without the listing.
async fn restore_unlisted(saved: Option<Saved>, place: &Place) -> Result<Early, RepoError> {
    let bytes = match saved {
        Some(Saved::Legacy(bytes)) => return Ok(Early::Legacy(bytes)),
        Some(Saved::Binary(bytes)) => bytes,
        None => return Ok(Early::Restored(Box::new(Restored::none(&place.render)))),
    };
    let small = bytes.len() <= INLINE_RESTORE_BYTES;
    let render = place.render.clone();
    let tenant = place.tenant.clone();
    let restore = move || {
        guarded(&render, &tenant, || {
            let mut restored = restore_binary(bytes, &render, &tenant);
            // Rendered while storage is still listed: the first snapshot renders only the pages
            // of what the reconciliation changes.
            restored.index.refresh_pages();
            restored
        })
    };
    // A small state (a tenant's few versions) costs less to restore than the hand-off to the
    // blocking pool and back: 10,000 tenants' hand-offs kept the cores busy waking threads.
    let restored =
        if small { restore() } else { tokio::task::spawn_blocking(restore).await.map_err(|_| RepoError::Closed)? };
    Ok(Early::Restored(Box::new(restored)))
}

/// Runs a restore; a panic in it costs the state (rebuilt from storage), never the start.
fn guarded(render: &RenderConfig, tenant: &Tenant, restore: impl FnOnce() -> Restored) -> Restored {
    let started = Instant::now();
    let restored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(restore)).unwrap_or_else(|_| {
        tracing::warn!(%tenant, "cannot decode persisted index state; rebuilding from storage");
        Restored::none(render)
    });
    let (entries, restore_ms) = (restored.index.len(), started.elapsed().as_millis() as u64);
    tracing::debug!(%tenant, entries, restore_ms, "restored the persisted index state");
    restored
}

/// Finishes restoring a tenant's index (an older Chartroom's JSON state, against the listing),
/// and reads its ChartMuseum state file when there is no usable state of ours and it has one.
async fn prepare(place: Arc<Place>, found: Found, early: Early) -> Result<Prepared, RepoError> {
    let listing = found.charts;
    let provenance = found.provenance;
    let (restored, listing) = match early {
        Early::Restored(restored) => (*restored, listing),
        Early::Legacy(bytes) => {
            let render = place.render.clone();
            let tenant = place.tenant.clone();
            tokio::task::spawn_blocking(move || {
                let restored = guarded(&render, &tenant, || {
                    let mut restored = restore_legacy(bytes, &listing, &render, &tenant);
                    restored.migrated = true;
                    tracing::info!(%tenant, restored = restored.index.len(), "read the JSON index state of an older Chartroom; it is replaced by the binary one");
                    restored
                });
                (restored, listing)
            })
            .await
            .map_err(|_| RepoError::Closed)?
        }
    };
    if restored.migrated {
        // Read once: from now on the binary state is written (this tenant is persisted at once).
        if let Err(e) = place.storage.delete_state(state::LEGACY_STATE_FILE).await {
            tracing::warn!(tenant = %place.tenant, error = %e, "cannot delete the JSON index state of an older Chartroom");
        }
    }
    let chartmuseum = if restored.from_state || !found.chartmuseum {
        ChartMuseumTimes::new()
    } else {
        match place.storage.read_chartmuseum_statefile().await {
            Ok(Some(bytes)) => state::chartmuseum_created(&bytes),
            _ => ChartMuseumTimes::new(),
        }
    };
    Ok(Prepared {
        place,
        index: restored.index,
        listing,
        provenance,
        generated: restored.generated,
        migrated: restored.migrated,
        chartmuseum,
        trusted: restored.trusted,
    })
}

struct Restored {
    index: Index,
    /// The digests of the state's entries (also of those storage no longer holds as recorded).
    trusted: HashSet<String>,
    generated: Option<Timestamp>,
    /// Whether a state was decoded (then ChartMuseum's state file is not needed).
    from_state: bool,
    /// Whether the state read was the JSON one of an older Chartroom.
    migrated: bool,
    /// Files that two entries of the state claim (see [`Restored::keep`]).
    contested: HashSet<String>,
}

impl Restored {
    fn none(render: &RenderConfig) -> Restored {
        Restored {
            index: Index::new(render.clone()),
            trusted: HashSet::new(),
            generated: None,
            from_state: false,
            migrated: false,
            contested: HashSet::new(),
        }
    }

    /// Indexes an entry of the state, unless another entry of the state (another name or
    /// version) claims the same file. A state this server wrote never does, so one of the two
    /// is wrong, and only the file can tell which: both are dropped and the file is read from
    /// storage. `Err` holds the contested file.
    fn keep(&mut self, entry: Entry) -> Result<(), String> {
        if self.contested.contains(entry.file()) {
            return Err(entry.file().to_owned());
        }
        let (_, displaced) = self.index.insert_claiming(entry);
        let Some(other) = displaced else { return Ok(()) };
        let file = other.file().to_owned();
        // The lookup finds the entry just indexed; it goes with the other.
        let claimant = self.index.by_file(&file).cloned();
        self.index.remove(other.name(), other.version());
        if let Some(claimant) = claimant {
            self.index.remove(claimant.name(), claimant.version());
        }
        self.contested.insert(file.clone());
        Err(file)
    }
}

/// The entries a start keeps of a state (binary, or the JSON of an older Chartroom `legacy`)
/// against `listing` (those storage still holds as recorded), in index order: the fuzz targets'
/// view of a restart.
pub(crate) fn restored_entries(
    bytes: Bytes,
    listing: &[ObjectInfo],
    render: &RenderConfig,
    legacy: bool,
) -> Vec<Entry> {
    let tenant = Tenant::root();
    if legacy {
        let restored = restore_legacy(bytes, listing, render, &tenant);
        return restored.index.entries().map(|e| Entry::clone(e)).collect();
    }
    let restored = restore_binary(bytes, render, &tenant);
    let listed: HashMap<&str, &ObjectInfo> = listing.iter().map(|o| (o.file.as_str(), o)).collect();
    restored
        .index
        .entries()
        .filter(|e| listed.get(e.file()).is_some_and(|o| reconcile::still_the_same(e.size(), e.etag(), o)))
        .map(|e| Entry::clone(e))
        .collect()
}

/// Streams a binary state into the index: each entry is made from its saved parts as it is
/// read, so the decoded state is never held beside the index. Whether storage still holds each
/// entry's file as recorded is the reconciliation's to check (it reads again what changed, with
/// the entry's digest trusted and its `created` kept when the bytes are the same).
///
/// A large state is decoded on a second thread while this one indexes what it decoded (a
/// bounded queue of blocks between them): decoding and indexing each took about half of a
/// restore at 1,000,000 versions.
fn restore_binary(bytes: Bytes, render: &RenderConfig, tenant: &Tenant) -> Restored {
    let mut restored = Restored::none(render);
    let mut reader = match Reader::open(bytes) {
        Ok(reader) => reader,
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "ignoring persisted index state; rebuilding from storage");
            return restored;
        }
    };
    let header = reader.header().clone();
    let fits = header.fits(render);
    // The header's count, unless the file is too short to hold that many entries (damage).
    let room = usize::try_from(header.entries).unwrap_or(usize::MAX).min(reader.len() / MIN_ENTRY_BYTES);
    restored.index.reserve(room);
    let mut complete = true;
    let mut index = |decoded: Vec<Decoded>| {
        for decoded in decoded {
            match decoded {
                Decoded::Entry(entry) => {
                    if let Err(file) = restored.keep(entry) {
                        tracing::warn!(%tenant, %file, "dropping entries of the persisted index state that claim the same file; reading it from storage");
                        complete = false;
                    }
                }
                Decoded::Lost { digest } => {
                    complete = false;
                    // Validated when it was indexed: if storage holds these bytes, reading
                    // their `Chart.yaml` is enough.
                    restored.trusted.extend(digest);
                }
            }
        }
    };
    if room < PIPELINE_FROM_ENTRIES {
        while let Some(block) = reader.next_block() {
            index(decode_block(block, render, fits, tenant));
        }
    } else {
        std::thread::scope(|scope| {
            let (blocks, decoded) = std::sync::mpsc::sync_channel(PIPELINE_BLOCKS);
            scope.spawn(move || {
                while let Some(block) = reader.next_block() {
                    if blocks.send(decode_block(block, render, fits, tenant)).is_err() {
                        break;
                    }
                }
            });
            decoded.into_iter().for_each(&mut index);
        });
    }
    if complete && restored.index.len() as u64 == header.entries {
        restored.generated = Some(header.generated);
    }
    restored.from_state = true;
    restored
}

/// States with at least this many entries are decoded on a second thread (in the tests, the
/// states of 10 entries and more; smaller ones are decoded inline).
const PIPELINE_FROM_ENTRIES: usize = if cfg!(test) { 8 } else { 8192 };
/// Decoded blocks (of up to 1,024 entries) waiting to be indexed.
const PIPELINE_BLOCKS: usize = 8;

/// One saved entry, decoded.
enum Decoded {
    Entry(Entry),
    /// Not restored (its chart is read from storage); the digest it recorded, if readable.
    Lost {
        digest: Option<String>,
    },
}

/// The entries of one block of the state, in order; what cannot be restored is logged.
fn decode_block(
    block: Result<statefile::Block, statefile::BlockError>,
    render: &RenderConfig,
    fits: bool,
    tenant: &Tenant,
) -> Vec<Decoded> {
    let block = match block {
        Ok(block) => block,
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "dropping a damaged block of the persisted index state; reading its charts from storage");
            return vec![Decoded::Lost { digest: None }];
        }
    };
    let mut out = Vec::new();
    for saved in block.entries() {
        let saved = match saved {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "dropping the rest of a malformed block of the persisted index state; reading its charts from storage");
                out.push(Decoded::Lost { digest: None });
                break;
            }
        };
        out.push(match block.to_entry(&saved, render, fits) {
            Ok(entry) => Decoded::Entry(entry),
            Err(error) => {
                tracing::warn!(%tenant, file = %saved.file, %error, "dropping an invalid entry of the persisted index state; reading its chart from storage");
                Decoded::Lost { digest: Some(saved.digest.to_owned()) }
            }
        });
    }
    out
}

/// The JSON state of an older Chartroom: decoded whole, every entry rendered from its metadata.
fn restore_legacy(bytes: Bytes, listing: &[ObjectInfo], render: &RenderConfig, tenant: &Tenant) -> Restored {
    let mut restored = Restored::none(render);
    let saved = match state::decode(&bytes) {
        Ok(saved) => saved,
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "ignoring persisted index state; rebuilding from storage");
            return restored;
        }
    };
    drop(bytes);
    for (file, reason) in &saved.dropped {
        let file = file.as_deref().unwrap_or("(no file)");
        tracing::warn!(%tenant, %file, %reason, "dropping a malformed entry of the persisted index state; reading its chart from storage");
    }
    let listed: HashMap<&str, &ObjectInfo> = listing.iter().map(|o| (o.file.as_str(), o)).collect();
    let total = saved.entries.len() + saved.dropped.len();
    restored.trusted = saved.entries.iter().map(|e| e.digest.clone()).collect();
    let valid: Vec<state::StoredEntry> = saved
        .entries
        .into_iter()
        .filter(|e| {
            listed
                .get(e.object.file.as_str())
                .is_some_and(|o| reconcile::still_the_same(e.object.size, e.object.etag.as_deref(), o))
        })
        .collect();
    let (entries, invalid) = reconcile::render_entries(valid, render);
    for (file, error) in &invalid {
        tracing::warn!(%tenant, %file, %error, "dropping an invalid entry of the persisted index state; reading its chart from storage");
    }
    for entry in entries {
        if let Err(file) = restored.keep(entry) {
            tracing::warn!(%tenant, %file, "dropping entries of the persisted index state that claim the same file; reading it from storage");
        }
    }
    if restored.index.len() == total {
        restored.generated = Some(saved.generated);
    }
    restored.from_state = true;
    restored
}

/// Builds every tenant's first snapshot, spread over the blocking pool.
async fn build_snapshots(states: Vec<Arc<TenantState>>) {
    let build = |chunk: Vec<Arc<TenantState>>| {
        for state in chunk {
            let snapshot = Snapshot::build(&mut state.index.write());
            state.snapshot.store(Arc::new(snapshot));
        }
    };
    if states.len() <= 1 {
        return build(states);
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    let chunks: Vec<Vec<Arc<TenantState>>> = states.chunks(SNAPSHOTS_PER_TASK).map(<[_]>::to_vec).collect();
    futures::stream::iter(chunks)
        .map(|chunk| tokio::task::spawn_blocking(move || build(chunk)))
        .buffer_unordered(threads)
        .for_each(|done| async move {
            if let Err(e) = done {
                tracing::error!(error = %e, "building a snapshot failed");
            }
        })
        .await;
}
