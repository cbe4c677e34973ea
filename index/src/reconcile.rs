//! Bringing tenants' indexes in line with a storage listing (at start and at each resync), and
//! rendering persisted entries at start.

use std::collections::{HashMap, HashSet};
use std::ops::AddAssign;
use std::sync::Arc;

use chartroom_storage::{ChartFiles, ObjectInfo, Storage, StorageError};
use futures::StreamExt;

use crate::changelog::Change;
use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};
use crate::error::RepoError;
use crate::index::{Admission, Index};
use crate::ingest::{self, Archive, ChartMuseumTimes};
use crate::options::RepoOptions;
use crate::provenance::{self, ChartIdentity, ProvenanceRecord};
use crate::state;
use crate::tenant::Tenant;
use crate::tenants::{Place, TenantState};

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
    /// Indexed versions whose provenance file appeared, changed or disappeared in storage.
    pub provenance: usize,
}

impl ResyncReport {
    pub(crate) fn changed(&self) -> bool {
        self.added + self.updated + self.removed + self.provenance > 0
    }
}

impl AddAssign<&ResyncReport> for ResyncReport {
    fn add_assign(&mut self, other: &ResyncReport) {
        self.added += other.added;
        self.updated += other.updated;
        self.removed += other.removed;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.provenance += other.provenance;
    }
}

/// Archives that could not be indexed, with the listing data they had (size, ETag), so a resync
/// does not re-read them until they change.
pub(crate) type Skipped = HashMap<String, (u64, Option<String>)>;

/// An archive read for the index: its listing, whether the index knew its file, what reading gave.
type Read = (ObjectInfo, bool, Result<chartroom_chart::archive::LoadedChart, String>);

/// One tenant's part of a reconciliation: its state, what storage lists for it now (archives and
/// provenance files), the archives it could not index, and (at start) ChartMuseum's `created`
/// times; `report` is what was found.
pub(crate) struct Target {
    pub state: Arc<TenantState>,
    pub listing: Vec<ObjectInfo>,
    pub provenance: Vec<ObjectInfo>,
    pub skipped: Skipped,
    pub chartmuseum: ChartMuseumTimes,
    /// Digests validated by this server besides what the index holds (at start: those of the
    /// persisted state's entries that could not be restored; then those of entries whose
    /// archive is gone).
    pub trusted: HashSet<String>,
    pub report: ResyncReport,
}

impl Target {
    pub(crate) fn new(state: Arc<TenantState>, files: ChartFiles, skipped: Skipped) -> Target {
        Target {
            state,
            listing: files.charts,
            provenance: files.provenance,
            skipped,
            chartmuseum: ChartMuseumTimes::new(),
            trusted: HashSet::new(),
            report: ResyncReport::default(),
        }
    }

    pub(crate) fn tenant(&self) -> &Tenant {
        &self.state.place.tenant
    }
}

/// Brings each target's index in line with its listing: archives it does not know (or that
/// changed) are read, Chart.yaml only, with one bound on concurrent reads across all targets;
/// entries whose archive is gone are removed; then each entry's provenance record is checked
/// against the listed provenance files ([`reconcile_provenance`]). What changed is added to
/// `touched`, for the change log.
pub(crate) async fn reconcile(
    options: &RepoOptions,
    targets: &mut [Target],
    touched: &mut Vec<Change>,
) -> Result<(), RepoError> {
    let mut to_read = Vec::new();
    for (at, target) in targets.iter_mut().enumerate() {
        let gone = plan(target, |obj, known| to_read.push((at, obj.clone(), known)));
        let tenant = target.state.place.tenant.clone();
        let mut index = target.state.index.write();
        for (name, version, file) in gone {
            if let Some(e) = index.get(&name, &version).filter(|e| e.file() == file) {
                // Validated by this server: the same bytes found under another name (a rename
                // while it was down) take the fast path.
                target.trusted.insert(e.digest().to_string());
                index.remove(&name, &version);
                target.report.removed += 1;
                touched.push(Change::delete(&tenant, file, name, version));
            }
        }
    }

    let places: Vec<Arc<Place>> = targets.iter().map(|t| Arc::clone(&t.state.place)).collect();
    // Archives whose digest this server validated take the fast path; the rest the full check.
    // (Collected only for the targets that read anything: a resync that reads nothing copies no
    // digests.)
    let mut reads = vec![false; targets.len()];
    for (at, _, _) in &to_read {
        reads[*at] = true;
    }
    let trusted: Arc<[ingest::Trusted]> = targets
        .iter_mut()
        .zip(reads)
        .map(|(t, reads)| {
            let mut digests = std::mem::take(&mut t.trusted);
            if !reads {
                return ingest::Trusted::default();
            }
            digests.extend(t.state.index.read().entries().map(|e| e.digest().to_string()));
            Arc::new(digests)
        })
        .collect();
    let storages: Vec<&Storage> = places.iter().map(|p| &p.storage).collect();
    // Applied batch by batch as archives arrive, so a cold build never holds every parsed chart.
    let mut loaded =
        std::pin::pin!(ingest::read_archives(to_read, &storages, trusted, &options.limits, options.read_concurrency));
    while let Some(batch) = loaded.next().await {
        for (at, obj, known, archive) in batch? {
            let result = match archive {
                Archive::Loaded(loaded) => Ok(*loaded),
                Archive::Missing => Err("disappeared while reading".to_owned()),
                Archive::Invalid(reason) => Err(reason),
            };
            let target = &mut targets[at];
            let tenant = &target.state.place.tenant;
            let mut index = target.state.index.write();
            let mut apply = Apply {
                tenant,
                index: &mut index,
                skipped: &mut target.skipped,
                report: &mut target.report,
                touched: &mut *touched,
            };
            apply.one((obj, known, result), &target.state.place.render, &target.chartmuseum);
        }
    }
    reconcile_provenance(options, targets, touched).await
}

/// An indexed version whose provenance file must be judged: the target, the entry, the listing.
type ProvenanceCheck = (usize, Arc<Entry>, ObjectInfo);

/// Brings each entry's provenance record in line with the listed provenance files
/// (`<file>.prov`): a record whose file is gone is dropped; a file the record does not describe
/// (new, changed, or never recorded: a ChartMuseum bucket, a state written before provenance
/// records) is judged with [`provenance::judge_stored`]: verified with the keyring when the
/// tenant's policy verifies (one GET each, with the read bound), else recorded as present. A
/// recorded verification is kept as long as its file is unchanged: a keyring change never
/// re-judges stored charts by itself (`POST /api/provenance/verify` reports instead).
async fn reconcile_provenance(
    options: &RepoOptions,
    targets: &mut [Target],
    touched: &mut Vec<Change>,
) -> Result<(), RepoError> {
    let mut to_judge: Vec<ProvenanceCheck> = Vec::new();
    for (at, target) in targets.iter_mut().enumerate() {
        // Without a keyring nothing is recorded: records a state or a peer brought are dropped.
        let recorded = if options.provenance.records() { target.provenance.as_slice() } else { &[] };
        let listed: HashMap<&str, &ObjectInfo> = recorded.iter().map(|o| (o.file.as_str(), o)).collect();
        let tenant = target.state.place.tenant.clone();
        let mut index = target.state.index.write();
        let mut gone = Vec::new();
        for entry in index.entries() {
            match (entry.provenance(), listed.get(provenance::provenance_file_of(entry.file()).as_str())) {
                (None, None) => {}
                (Some(record), Some(info)) if record.describes(info) => {}
                (Some(_), None) => gone.push(Arc::clone(entry)),
                (_, Some(info)) => to_judge.push((at, Arc::clone(entry), (*info).clone())),
            }
        }
        for entry in gone {
            index.insert(entry.with_provenance(None));
            target.report.provenance += 1;
            touched.extend(index.by_file(entry.file()).cloned().map(|e| Change::put(&tenant, e)));
        }
    }
    if to_judge.is_empty() {
        return Ok(());
    }
    let places: Vec<Arc<Place>> = targets.iter().map(|t| Arc::clone(&t.state.place)).collect();
    let places = &places;
    let judged: Vec<(usize, Arc<Entry>, Option<ProvenanceRecord>)> = futures::stream::iter(to_judge)
        .map(|(at, entry, info)| async move {
            let place = &places[at];
            let keyring = options.provenance.verifier(&place.tenant);
            let record =
                provenance::judge_stored(&place.storage, &info.file, &info, keyring, ChartIdentity::of(&entry)).await?;
            Ok::<_, StorageError>((at, entry, record))
        })
        .buffer_unordered(options.read_concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, StorageError>>()?;
    for (at, entry, record) in judged {
        let target = &mut targets[at];
        let tenant = target.state.place.tenant.clone();
        let mut index = target.state.index.write();
        // Only if the index still holds that very archive (it was judged for those bytes).
        let current = index.by_file(entry.file()).filter(|e| e.same_digest(&entry)).cloned();
        let Some(current) = current else { continue };
        if current.provenance() == record.as_ref() {
            continue;
        }
        if let Some(failure) = record.as_ref().and_then(|r| r.failure.as_deref()) {
            tracing::warn!(%tenant, file = %entry.file(), %failure, "stored provenance file does not verify");
        }
        index.insert(current.with_provenance(record));
        target.report.provenance += 1;
        touched.extend(index.by_file(entry.file()).cloned().map(|e| Change::put(&tenant, e)));
    }
    Ok(())
}

/// Compares a target's index with its listing: archives to read go to `read` (with whether the
/// index knew the file); returns the entries whose archive is gone. Counts unchanged and
/// still-skipped archives, and forgets skipped files that are no longer listed.
fn plan(target: &mut Target, mut read: impl FnMut(&ObjectInfo, bool)) -> Vec<(String, String, String)> {
    let index = target.state.index.read();
    // Index entries whose file the listing holds (each file is listed once, and is one entry's).
    let mut found = 0;
    for obj in &target.listing {
        let known = index.by_file(&obj.file);
        found += usize::from(known.is_some());
        match known {
            Some(e) if still_the_same(e.size(), e.etag(), obj) => target.report.unchanged += 1,
            known => {
                if known.is_none() && target.skipped.get(&obj.file) == Some(&(obj.size, obj.e_tag.clone())) {
                    target.report.skipped += 1;
                } else {
                    read(obj, known.is_some());
                }
            }
        }
    }
    if found == index.len() && target.skipped.is_empty() {
        // Every entry's file is listed: nothing is gone (a restart of an unchanged repository
        // need not put 100,000 names in a set to find that out).
        return Vec::new();
    }
    let listed: HashSet<&str> = target.listing.iter().map(|o| o.file.as_str()).collect();
    target.skipped.retain(|file, _| listed.contains(file.as_str()));
    index
        .entries()
        .filter(|e| !listed.contains(e.file()))
        .map(|e| (e.name().to_owned(), e.version().to_owned(), e.file().to_owned()))
        .collect()
}

/// Applies archives read during a reconciliation to one tenant's index.
struct Apply<'a> {
    tenant: &'a Tenant,
    index: &'a mut Index,
    skipped: &'a mut Skipped,
    report: &'a mut ResyncReport,
    touched: &'a mut Vec<Change>,
}

impl Apply<'_> {
    fn one(&mut self, (obj, was_indexed, result): Read, render: &RenderConfig, chartmuseum: &ChartMuseumTimes) {
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(reason) => {
                tracing::warn!(tenant = %self.tenant, file = %obj.file, %reason, "invalid package in storage; not indexed");
                if let Some(e) = self.index.by_file(&obj.file).cloned() {
                    self.index.remove(e.name(), e.version());
                    self.report.removed += 1;
                    let (name, version) = (e.name().to_owned(), e.version().to_owned());
                    self.touched.push(Change::delete(self.tenant, obj.file.clone(), name, version));
                }
                return self.skip(&obj);
            }
        };
        let (name, version) = (loaded.metadata.name.clone(), loaded.metadata.version.clone());
        if let Admission::Duplicate { kept } = self.index.admission(&name, &version, &obj.file) {
            tracing::warn!(tenant = %self.tenant, file = %obj.file, other = %kept, "archive duplicates an indexed chart version; not indexed");
            return self.skip(&obj);
        }
        let indexed = self.index.get(&name, &version).map(|e| (e.digest().to_string(), e.created));
        let object = StoredObject { file: obj.file.clone(), size: obj.size, etag: obj.e_tag.clone() };
        let known = indexed.as_ref().map(|(digest, created)| (digest.as_str(), *created));
        let entry = match ingest::archive_entry(loaded, object, obj.last_modified, known, Some(chartmuseum), render) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, file = %obj.file, error = %e, "invalid package in storage; not indexed");
                return self.skip(&obj);
            }
        };
        self.index.admit(entry);
        let tenant = self.tenant;
        self.touched.extend(self.index.by_file(&obj.file).cloned().map(|e| Change::put(tenant, e)));
        if was_indexed {
            self.report.updated += 1;
        } else {
            self.report.added += 1;
        }
    }

    fn skip(&mut self, obj: &ObjectInfo) {
        self.skipped.insert(obj.file.clone(), (obj.size, obj.e_tag.clone()));
        self.report.skipped += 1;
    }
}

/// Renders persisted entries, spread over the available cores (rendering is the bulk of a
/// restart). Entries that cannot be rendered are returned apart, by file, with why: the state is a
/// cache, so the caller drops them and their charts are read again from storage.
pub(crate) fn render_entries(
    stored: Vec<state::StoredEntry>,
    render: &RenderConfig,
) -> (Vec<Entry>, Vec<(String, EntryError)>) {
    let render_part = |part: Vec<state::StoredEntry>| {
        let mut out = (Vec::with_capacity(part.len()), Vec::new());
        for e in part {
            let file = e.object.file.clone();
            match e.into_entry(render) {
                Ok(entry) => out.0.push(entry),
                Err(err) => out.1.push((file, err)),
            }
        }
        out
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    if threads == 1 || stored.len() < 2048 {
        return render_part(stored);
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
        let handles: Vec<_> = parts.into_iter().map(|part| scope.spawn(move || render_part(part))).collect();
        let mut out = (Vec::new(), Vec::new());
        for handle in handles {
            match handle.join() {
                Ok((entries, failed)) => {
                    out.0.extend(entries);
                    out.1.extend(failed);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Whether a listed object is still the archive an entry was read from: same size, and the same
/// ETag when the listing reports one. Some S3 servers (s3s-fs among them) list objects without
/// ETags although their PUT answers carry one; for those the recorded ETag cannot be checked and
/// the size decides, or every uploaded chart would be re-read at each start and resync.
pub(crate) fn still_the_same(size: u64, etag: Option<&str>, listed: &ObjectInfo) -> bool {
    size == listed.size && (listed.e_tag.is_none() || listed.e_tag.as_deref() == etag)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn listed_object_compares_etag_only_when_listed() {
        let recorded = (3, Some("\"e1\""));
        let listed = |size, e_tag: Option<&str>| ObjectInfo {
            file: "a-1.0.0.tgz".into(),
            size,
            e_tag: e_tag.map(str::to_owned),
            last_modified: SystemTime::UNIX_EPOCH,
        };
        let same = |(size, etag): (u64, Option<&str>), listed: &ObjectInfo| still_the_same(size, etag, listed);
        assert!(same(recorded, &listed(3, Some("\"e1\""))));
        assert!(!same(recorded, &listed(3, Some("\"e2\""))), "another ETag is another archive");
        assert!(!same(recorded, &listed(4, Some("\"e1\""))));
        assert!(same(recorded, &listed(3, None)), "a listing without ETags is checked on size");
        assert!(!same(recorded, &listed(4, None)));
        assert!(!same((3, None), &listed(3, Some("\"e1\""))), "a store that now lists ETags is re-read");
    }
}
