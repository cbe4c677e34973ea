//! Bringing the index in line with a storage listing (at start and at each resync), and rendering
//! persisted entries at start.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use chartroom_storage::{ObjectInfo, Storage, StorageError};
use futures::StreamExt;

use crate::changelog::Change;
use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};
use crate::error::RepoError;
use crate::index::{Admission, Index};
use crate::ingest::{self, Archive, ChartMuseumTimes};
use crate::options::RepoOptions;
use crate::state;

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
    pub(crate) fn changed(&self) -> bool {
        self.added + self.updated + self.removed > 0
    }
}

/// Archives that could not be indexed, with the listing data they had (size, ETag), so a resync
/// does not re-read them until they change.
pub(crate) type Skipped = HashMap<String, (u64, Option<String>)>;

/// An archive read for the index: its listing, whether the index knew its file, what reading gave.
type Read = (ObjectInfo, bool, Result<chartroom_chart::archive::LoadedChart, String>);

/// Brings `index` in line with `listing`: archives it does not know (or that changed) are read,
/// Chart.yaml only, with bounded concurrency; entries whose archive is gone are removed. What
/// changed is added to `touched`, for the change log.
pub(crate) async fn reconcile(
    storage: &Storage,
    options: &RepoOptions,
    index: &RwLock<Index>,
    listing: Vec<ObjectInfo>,
    skipped: &mut Skipped,
    chartmuseum: &ChartMuseumTimes,
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

    let limits = &options.limits;
    let mut loaded = futures::stream::iter(to_read)
        .map(|(obj, known)| async move {
            let result = match ingest::read_archive(storage, &obj.file, obj.size, limits).await? {
                Archive::Loaded(loaded) => Ok(*loaded),
                Archive::Missing => Err("disappeared while reading".to_owned()),
                Archive::Invalid(reason) => Err(reason),
            };
            Ok::<Read, StorageError>((obj, known, result))
        })
        .buffer_unordered(options.read_concurrency.max(1))
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
        let batch: Vec<Read> = batch.into_iter().collect::<Result<_, StorageError>>()?;
        let mut index = index.write().unwrap_or_else(|p| p.into_inner());
        let mut apply = Apply { index: &mut index, skipped, report: &mut report, touched };
        for read in batch {
            apply.one(read, &options.render, chartmuseum);
        }
    }
    Ok(report)
}

/// Applies archives read during a reconciliation to the index.
struct Apply<'a> {
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
                tracing::warn!(file = %obj.file, %reason, "invalid package in storage; not indexed");
                if let Some(e) = self.index.by_file(&obj.file).cloned() {
                    self.index.remove(e.name(), e.version());
                    self.report.removed += 1;
                    self.touched.push(Change::Delete {
                        file: obj.file.clone(),
                        name: e.name().to_owned(),
                        version: e.version().to_owned(),
                    });
                }
                return self.skip(&obj);
            }
        };
        let (name, version) = (loaded.metadata.name.clone(), loaded.metadata.version.clone());
        if let Admission::Duplicate { kept } = self.index.admission(&name, &version, &obj.file) {
            tracing::warn!(file = %obj.file, other = %kept, "archive duplicates an indexed chart version; not indexed");
            return self.skip(&obj);
        }
        let indexed = self.index.get(&name, &version).map(|e| (e.digest.clone(), e.created));
        let object = StoredObject { file: obj.file.clone(), size: obj.size, etag: obj.e_tag.clone() };
        let known = indexed.as_ref().map(|(digest, created)| (digest.as_str(), *created));
        let entry = match ingest::archive_entry(loaded, object, obj.last_modified, known, Some(chartmuseum), render) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(file = %obj.file, error = %e, "invalid package in storage; not indexed");
                return self.skip(&obj);
            }
        };
        self.index.admit(entry);
        self.touched.extend(self.index.by_file(&obj.file).cloned().map(Change::Put));
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

/// Renders persisted entries, spread over the available cores (rendering is the bulk of a restart).
pub(crate) fn render_entries(stored: Vec<state::StoredEntry>, render: &RenderConfig) -> Result<Vec<Entry>, EntryError> {
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

/// Whether a listed object is still the archive an entry was read from: same size, and the same
/// ETag when the listing reports one. Some S3 servers (s3s-fs among them) list objects without
/// ETags although their PUT answers carry one; for those the recorded ETag cannot be checked and
/// the size decides, or every uploaded chart would be re-read at each start and resync.
pub(crate) fn still_the_same(recorded: &StoredObject, listed: &ObjectInfo) -> bool {
    recorded.size == listed.size && (listed.e_tag.is_none() || listed.e_tag == recorded.etag)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

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
