//! How an archive in storage becomes an index entry. One rule for every path that indexes what
//! storage holds: the start-up build and resync (a listing) and the peers' poller (a change
//! another replica announced). Uploads build their entry from the archive they just validated.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use chartroom_chart::archive::{self, Limits, LoadedChart};
use chartroom_storage::{BlockingReader, ObjectInfo, Storage, StorageError};
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};
use crate::error::RepoError;

/// Archives up to this size are parsed on the runtime thread that read them: a typical chart
/// parses in tens of microseconds, cheaper than a hop to the blocking pool.
const INLINE_PARSE_MAX: usize = 64 * 1024;

/// Archives checked one after the other by one blocking task of [`read_archives`]: enough to
/// make the hand-off's cost (a thread woken, twice) small against the checks, few enough to
/// keep every core busy until the end.
const BATCH: usize = 32;

/// `created` times from a ChartMuseum state file, by (name, version, digest).
pub(crate) type ChartMuseumTimes = HashMap<(String, String, String), Timestamp>;

/// What reading an archive from storage gave.
pub(crate) enum Archive {
    Loaded(Box<LoadedChart>),
    /// Gone between the listing (or HEAD) and the read.
    Missing,
    /// Not an archive this repository can index, and why.
    Invalid(String),
}

/// Digests (lowercase hex sha256) of archives this server validated in full before: uploads it
/// took, archives it indexed, as its index or persisted state records them.
pub(crate) type Trusted = Arc<HashSet<String>>;

/// Reads an archive's metadata and digest. `size` is what a listing or HEAD reported: an archive
/// too big to ever pass the decompression limit is refused without a download.
///
/// An archive whose digest is `trusted` takes the fast path (`Chart.yaml` only); any other one
/// was put in storage by other tools and passes the full check an upload does (every entry read
/// to the end, gzip and tar integrity, every chart rule), so a truncated or broken archive is
/// never served.
pub(crate) async fn read_archive(
    storage: &Storage,
    file: &str,
    size: u64,
    limits: &Limits,
    trusted: &Trusted,
) -> Result<Archive, StorageError> {
    if let Some(refused) = unreadable(file, size, limits) {
        return Ok(refused);
    }
    let bytes = match storage.read(file).await {
        Ok(bytes) => bytes,
        Err(StorageError::NotFound(_)) => return Ok(Archive::Missing),
        Err(e) => return Err(e),
    };
    if bytes.len() <= INLINE_PARSE_MAX {
        return Ok(check_archive(&bytes, limits, trusted));
    }
    let (limits, trusted) = (limits.clone(), Arc::clone(trusted));
    let checked = tokio::task::spawn_blocking(move || check_archive(&bytes, &limits, &trusted)).await;
    Ok(checked.unwrap_or_else(|e| Archive::Invalid(e.to_string())))
}

/// [`read_archive`] for many archives at once, spread over the cores: the archives are checked
/// in batches on the blocking pool, several batches at a time (one more than there are cores,
/// at most `read_concurrency`); a local storage's batch also reads its own files, so a start pays
/// one hand-off per batch instead of two per archive (and holds one archive's bytes at a time).
/// Remote stores are read with `read_concurrency` requests at once; small archives are then
/// checked as above, large ones (over 64 KiB) as soon as they arrive, one per request slot. Each archive comes with the index
/// of its storage and trusted digests, the listed object and what the caller keeps with it; the
/// batches come as they are done. A storage failure (other than the archive being gone) ends
/// the stream.
pub(crate) fn read_archives<K: Send + 'static>(
    archives: Vec<(usize, ObjectInfo, K)>,
    storages: &[&Storage],
    trusted: Arc<[Trusted]>,
    limits: &Limits,
    read_concurrency: usize,
) -> impl Stream<Item = Result<Vec<(usize, ObjectInfo, K, Archive)>, RepoError>> + use<K> {
    /// An archive on its way to a batch.
    enum Fetched {
        /// Local storage: the batch reads it.
        Later,
        Read(Result<Bytes, StorageError>),
        Answered(Archive),
    }
    let readers: Arc<[Option<BlockingReader>]> = storages.iter().map(|s| s.blocking_reader()).collect();
    let remote: Vec<Option<Storage>> =
        storages.iter().zip(readers.iter()).map(|(s, r)| r.is_none().then(|| (*s).clone())).collect();
    let remote = Arc::new(remote);
    let read_concurrency = read_concurrency.max(1);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let limits = limits.clone();
    let (fetch_limits, fetch_trusted) = (limits.clone(), Arc::clone(&trusted));
    futures::stream::iter(archives)
        .map(move |(at, obj, keep)| {
            let (remote, limits, trusted) = (Arc::clone(&remote), fetch_limits.clone(), Arc::clone(&fetch_trusted));
            async move {
                let fetched = if let Some(refused) = unreadable(&obj.file, obj.size, &limits) {
                    Fetched::Answered(refused)
                } else if let Some(storage) = &remote[at] {
                    match storage.read(&obj.file).await {
                        // A large archive is checked as soon as it arrives, as `read_archive`
                        // does: batches hold only small archives' bytes, so no more than
                        // `read_concurrency` large ones are in memory at once.
                        Ok(bytes) if bytes.len() > INLINE_PARSE_MAX => {
                            let check = move || check_archive(&bytes, &limits, &trusted[at]);
                            let checked = tokio::task::spawn_blocking(check).await;
                            Fetched::Answered(checked.unwrap_or_else(|e| Archive::Invalid(e.to_string())))
                        }
                        read => Fetched::Read(read),
                    }
                } else {
                    Fetched::Later
                };
                (at, obj, keep, fetched)
            }
        })
        .buffer_unordered(read_concurrency)
        .chunks(BATCH)
        .map(move |batch| {
            let (readers, trusted, limits) = (Arc::clone(&readers), Arc::clone(&trusted), limits.clone());
            let check = move || {
                let mut checked = Vec::with_capacity(batch.len());
                for (at, obj, keep, fetched) in batch {
                    let read = match fetched {
                        Fetched::Answered(archive) => {
                            checked.push((at, obj, keep, archive));
                            continue;
                        }
                        Fetched::Read(read) => read,
                        Fetched::Later => match &readers[at] {
                            Some(reader) => reader.read(&obj.file),
                            // (Not reached: a storage without a reader was read above.)
                            None => Err(StorageError::NotFound(obj.file.clone())),
                        },
                    };
                    let archive = match read {
                        // A check that panics (a bug) costs its archive, not the whole batch.
                        Ok(bytes) => std::panic::catch_unwind(|| check_archive(&bytes, &limits, &trusted[at]))
                            .unwrap_or_else(|_| Archive::Invalid("checking the archive failed".to_owned())),
                        Err(StorageError::NotFound(_)) => Archive::Missing,
                        Err(e) => return Err(e),
                    };
                    checked.push((at, obj, keep, archive));
                }
                Ok(checked)
            };
            // Not finished: the runtime is shutting down.
            async move { tokio::task::spawn_blocking(check).await.map_err(|_| RepoError::Closed)?.map_err(RepoError::from) }
        })
        // One batch more than there are cores, so that no core waits for the next batch to be
        // handed out; unordered, so that no core waits for an earlier, slower batch.
        .buffer_unordered((cores + 1).min(read_concurrency))
}

/// Why an archive listed at `size` is not read at all, if it is not: a name that storage keys
/// encode, or a size no archive that passes the decompression limit can have (refused without
/// a download).
fn unreadable(file: &str, size: u64, limits: &Limits) -> Option<Archive> {
    if !Storage::addressable(file) {
        return Some(Archive::Invalid(
            "its name has characters that storage keys encode ('%', '#', '\\', '{', ...), so it cannot be \
             read or served under that name; rename it"
                .to_owned(),
        ));
    }
    // A gzip archive cannot be larger than what it may decompress to (plus slack).
    (size > limits.max_decompressed + (1 << 20))
        .then(|| Archive::Invalid("archive is larger than the decompressed size limit".to_owned()))
}

/// An archive's bytes checked: the fast path (`Chart.yaml` only) when its digest is `trusted`,
/// else the full check of an upload.
fn check_archive(bytes: &[u8], limits: &Limits, trusted: &Trusted) -> Archive {
    let known = !trusted.is_empty() && trusted.contains(&hex::encode(Sha256::digest(bytes)));
    let loaded = if known { archive::read_metadata(bytes, limits) } else { archive::load_archive(bytes, limits) };
    match loaded {
        Ok(loaded) => Archive::Loaded(Box::new(loaded)),
        Err(e) => Archive::Invalid(e.to_string()),
    }
}

/// The index entry for an archive read from storage.
///
/// `known`: the digest and `created` of the entry the index has for this chart now, if any;
/// `chartmuseum`: `created` times of a repository migrated from ChartMuseum.
pub(crate) fn archive_entry(
    loaded: LoadedChart,
    object: StoredObject,
    last_modified: SystemTime,
    known: Option<(&str, Timestamp)>,
    chartmuseum: Option<&ChartMuseumTimes>,
    render: &RenderConfig,
) -> Result<Entry, EntryError> {
    let (name, version, digest) = (&loaded.metadata.name, &loaded.metadata.version, &loaded.digest);
    let migrated = || chartmuseum?.get(&(name.clone(), version.clone(), digest.clone())).copied();
    let created = created_time(known, digest, migrated, last_modified);
    Entry::new(loaded.metadata, loaded.digest, created, object, render)
}

/// When a chart version was published: `created` survives anything but a content change; a new
/// digest takes ChartMuseum's time for those bytes if there is one, else the object's last
/// modification.
fn created_time(
    known: Option<(&str, Timestamp)>,
    digest: &str,
    migrated: impl FnOnce() -> Option<Timestamp>,
    last_modified: SystemTime,
) -> Timestamp {
    known
        .filter(|(known_digest, _)| *known_digest == digest)
        .map(|(_, created)| created)
        .or_else(migrated)
        .unwrap_or_else(|| to_timestamp(last_modified))
}

pub(crate) fn to_timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or_else(|_| Timestamp::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chartroom_chart::metadata::Metadata;

    use super::*;

    #[test]
    fn created_survives_anything_but_a_content_change() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(30);
        // (known entry, ChartMuseum's time, created)
        for (known, migrated, created) in [
            (Some(("d1", t(10))), None, t(10)),
            (Some(("d1", t(10))), Some(t(20)), t(10)),
            (Some(("d0", t(10))), Some(t(20)), t(20)),
            (Some(("d0", t(10))), None, t(30)),
            (None, Some(t(20)), t(20)),
            (None, None, t(30)),
        ] {
            assert_eq!(created_time(known, "d1", || migrated, modified), created, "{known:?} {migrated:?}");
        }
    }

    #[test]
    fn an_archive_becomes_an_entry() {
        let loaded = |digest: &str| LoadedChart {
            metadata: Metadata {
                name: "a".into(),
                version: "1.0.0".into(),
                api_version: "v2".into(),
                ..Default::default()
            },
            digest: digest.into(),
            size: 3,
        };
        let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 3, etag: Some("\"e\"".into()) };
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(30);
        let render = RenderConfig::default();
        let migrated: ChartMuseumTimes =
            HashMap::from([(("a".into(), "1.0.0".into(), "d1".into()), Timestamp::from_second(20).unwrap())]);

        let e = archive_entry(loaded("d1"), object.clone(), modified, None, Some(&migrated), &render).unwrap();
        assert_eq!((e.name(), e.version(), &*e.digest()), ("a", "1.0.0", "d1"));
        assert_eq!((e.created.as_second(), e.object()), (20, object.clone()));
        let e = archive_entry(loaded("d2"), object.clone(), modified, None, Some(&migrated), &render).unwrap();
        assert_eq!(e.created.as_second(), 30);
        let known = Some(("d2", Timestamp::from_second(5).unwrap()));
        let e = archive_entry(loaded("d2"), object.clone(), modified, known, None, &render).unwrap();
        assert_eq!(e.created.as_second(), 5);
        let mut bad = loaded("d1");
        bad.metadata.version = "not-a-version".into();
        assert!(archive_entry(bad, object, modified, None, None, &render).is_err());
    }
}
