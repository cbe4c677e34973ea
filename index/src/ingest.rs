//! How an archive in storage becomes an index entry. One rule for every path that indexes what
//! storage holds: the start-up build and resync (a listing) and the peers' poller (a change
//! another replica announced). Uploads build their entry from the archive they just validated.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use chartroom_chart::archive::{self, Limits, LoadedChart};
use chartroom_storage::{Storage, StorageError};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};

/// Archives up to this size are parsed on the runtime thread that read them: a typical chart
/// parses in tens of microseconds, cheaper than a hop to the blocking pool.
const INLINE_PARSE_MAX: usize = 64 * 1024;

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
    if !Storage::addressable(file) {
        return Ok(Archive::Invalid(
            "its name has characters that storage keys encode ('%', '#', '\\', '{', ...), so it cannot be \
             read or served under that name; rename it"
                .to_owned(),
        ));
    }
    // A gzip archive cannot be larger than what it may decompress to (plus slack).
    if size > limits.max_decompressed + (1 << 20) {
        return Ok(Archive::Invalid("archive is larger than the decompressed size limit".to_owned()));
    }
    let bytes = match storage.read(file).await {
        Ok(bytes) => bytes,
        Err(StorageError::NotFound(_)) => return Ok(Archive::Missing),
        Err(e) => return Err(e),
    };
    let inline = bytes.len() <= INLINE_PARSE_MAX;
    let check = {
        let (limits, trusted) = (limits.clone(), Arc::clone(trusted));
        move || {
            let known = !trusted.is_empty() && trusted.contains(&hex::encode(Sha256::digest(&bytes)));
            let loaded =
                if known { archive::read_metadata(&bytes, &limits) } else { archive::load_archive(&bytes, &limits) };
            loaded.map_err(|e| e.to_string())
        }
    };
    let parsed =
        if inline { check() } else { tokio::task::spawn_blocking(check).await.unwrap_or_else(|e| Err(e.to_string())) };
    Ok(match parsed {
        Ok(loaded) => Archive::Loaded(Box::new(loaded)),
        Err(reason) => Archive::Invalid(reason),
    })
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
