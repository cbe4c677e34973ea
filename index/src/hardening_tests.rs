//! Issue 17's rules at the repository level: what storage holds out of band is checked like an
//! upload, a bad persisted entry costs that entry only, a version is a conflict whatever file
//! holds it, names must fit the backend, and only indexed files are served.

use bytes::Bytes;
use chartroom_chart::testing::ChartBuilder;
use chartroom_storage::{NameLimits, Storage, StorageError};

use crate::files::FileError;
use crate::options::RepoOptions;
use crate::publish::PublishError;
use crate::repo::Repository;
use crate::tenant::Tenant;
use crate::{RepoError, ingest};

fn options(statefiles: bool) -> RepoOptions {
    RepoOptions { poll_interval: None, resync_interval: None, statefiles, ..Default::default() }
}

async fn open(storage: &Storage, statefiles: bool) -> Repository {
    Repository::open(storage.clone(), options(statefiles)).await.expect("the repository opens").0
}

fn indexed(repo: &Repository, name: &str, version: &str) -> Option<(String, String)> {
    let index = repo.index(&Tenant::root()).unwrap();
    index.get(name, version).map(|e| (e.file().to_owned(), e.digest().to_string()))
}

fn hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Cut in half, the archive still starts with a readable `Chart.yaml`.
fn truncated(name: &str) -> Bytes {
    let mut bytes = ChartBuilder::chart(name, "1.0.0").file("README.md", noise(40_000)).build();
    bytes.truncate(bytes.len() / 2);
    bytes.into()
}

fn noise(n: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

#[tokio::test]
async fn archives_stored_out_of_band_pass_the_upload_checks() {
    let storage = Storage::memory();
    let good = Bytes::from(ChartBuilder::chart("good", "1.0.0").build());
    storage.put_new("good-1.0.0.tgz", good.clone()).await.unwrap();
    storage.put_new("cut-1.0.0.tgz", truncated("cut")).await.unwrap();
    let repo = open(&storage, false).await;
    assert_eq!(indexed(&repo, "good", "1.0.0"), Some(("good-1.0.0.tgz".into(), hex(&good))));
    assert_eq!(indexed(&repo, "cut", "1.0.0"), None, "a truncated archive is not indexed");
    // The same at a resync.
    storage.put_new("cut2-1.0.0.tgz", truncated("cut2")).await.unwrap();
    let report = repo.resync(&Tenant::root()).await.unwrap();
    assert_eq!((report.added, report.skipped), (0, 2), "{report:?}");
    assert_eq!(indexed(&repo, "cut2", "1.0.0"), None);
}

#[tokio::test]
async fn a_trusted_digest_takes_the_fast_path_and_anything_else_the_full_check() {
    let storage = Storage::memory();
    let cut = truncated("cut");
    storage.put_new("cut-1.0.0.tgz", cut.clone()).await.unwrap();
    let limits = chartroom_chart::archive::Limits::default();
    let read = |trusted: Vec<String>| {
        let storage = storage.clone();
        let limits = limits.clone();
        async move {
            let trusted: ingest::Trusted = std::sync::Arc::new(trusted.into_iter().collect());
            ingest::read_archive(&storage, "cut-1.0.0.tgz", 1, &limits, &trusted).await.unwrap()
        }
    };
    assert!(matches!(read(vec![]).await, ingest::Archive::Invalid(_)));
    assert!(matches!(read(vec!["00".repeat(32)]).await, ingest::Archive::Invalid(_)));
    // Only Chart.yaml is read for bytes this server validated before (here: claimed to).
    assert!(matches!(read(vec![hex(&cut)]).await, ingest::Archive::Loaded(_)));
}

#[tokio::test]
async fn names_storage_keys_encode_are_skipped_saying_why() {
    let storage = Storage::memory();
    let chart = Bytes::from(ChartBuilder::chart("pct", "1.0.0").build());
    for file in ["pct%41-1.0.0.tgz", "pct#1-1.0.0.tgz"] {
        let trusted = ingest::Trusted::default();
        let read = ingest::read_archive(&storage, file, chart.len() as u64, &Default::default(), &trusted).await;
        match read.unwrap() {
            ingest::Archive::Invalid(reason) => assert!(reason.contains("rename it"), "{reason}"),
            _ => panic!("{file} is not readable under its listed name"),
        }
    }
}

#[tokio::test]
async fn a_bad_persisted_entry_is_dropped_and_its_chart_read_again() {
    let storage = Storage::memory();
    let a = Bytes::from(ChartBuilder::chart("a", "1.0.0").build());
    let b = Bytes::from(ChartBuilder::chart("b", "2.0.0").build());
    let info_a = storage.put_new("a-1.0.0.tgz", a.clone()).await.unwrap();
    let info_b = storage.put_new("b-2.0.0.tgz", b.clone()).await.unwrap();
    let entry = |file: &str, size: u64, etag: &Option<String>, digest: &str, name: &str, version: &str| {
        serde_json::json!({
            "file": file, "size": size, "etag": etag, "digest": digest, "created": "2024-05-01T10:00:00Z",
            "metadata": {"apiVersion": "v2", "name": name, "version": version},
        })
    };
    let state = serde_json::json!({
        "format": 1,
        "generated": "2024-05-01T10:00:00Z",
        "entries": [
            // Valid JSON, invalid version: the start went no further.
            entry("a-1.0.0.tgz", info_a.size, &info_a.e_tag, &hex(&a), "a", "not-a-version"),
            entry("b-2.0.0.tgz", info_b.size, &info_b.e_tag, &hex(&b), "b", "2.0.0"),
            {"file": "c-1.0.0.tgz", "size": "three"},
        ],
    });
    storage.write_state("index-state.json", serde_json::to_vec(&state).unwrap().into()).await.unwrap();
    let repo = open(&storage, true).await;
    assert_eq!(indexed(&repo, "a", "1.0.0"), Some(("a-1.0.0.tgz".into(), hex(&a))), "read again from storage");
    assert_eq!(indexed(&repo, "b", "2.0.0"), Some(("b-2.0.0.tgz".into(), hex(&b))));
}

#[tokio::test]
async fn a_version_is_a_conflict_whatever_file_holds_it() {
    let storage = Storage::memory();
    let first = Bytes::from(ChartBuilder::chart("oddc", "1.0.0").build());
    storage.put_new("odd.tgz", first.clone()).await.unwrap();
    let overwrite = RepoOptions {
        overwrite: crate::OverwritePolicy { allow_overwrite: false, disable_force_overwrite: false },
        ..options(false)
    };
    let (repo, _) = Repository::open(storage.clone(), overwrite).await.unwrap();
    let root = Tenant::root();
    assert_eq!(indexed(&repo, "oddc", "1.0.0"), Some(("odd.tgz".into(), hex(&first))));
    let second = Bytes::from(ChartBuilder::chart("oddc", "1.0.0").file("README.md", "other\n").build());
    let refused = repo.publish(&root, second.clone(), None, false).await;
    assert!(matches!(&refused, Err(PublishError::Exists(f)) if f == "odd.tgz"), "{refused:?}");
    assert_eq!(indexed(&repo, "oddc", "1.0.0"), Some(("odd.tgz".into(), hex(&first))));
    assert!(matches!(storage.head("oddc-1.0.0.tgz").await, Err(StorageError::NotFound(_))), "nothing stored");

    repo.publish(&root, second.clone(), None, true).await.unwrap();
    assert_eq!(indexed(&repo, "oddc", "1.0.0"), Some(("oddc-1.0.0.tgz".into(), hex(&second))));
    assert!(matches!(storage.head("odd.tgz").await, Err(StorageError::NotFound(_))), "the old copy went");
    let report = repo.resync(&root).await.unwrap();
    assert_eq!((report.added, report.removed, report.skipped), (0, 0, 0), "{report:?}");
}

#[tokio::test]
async fn names_that_do_not_fit_the_backend_are_refused_before_any_write() {
    let storage = Storage::memory().with_name_limits(NameLimits::local(std::path::Path::new("/srv/charts")));
    let repo = open(&storage, false).await;
    let before = storage.request_counts();
    // A 250-byte name is valid; with "-1.0.0.tgz.prov" it is not a file name Linux allows.
    let long = ChartBuilder::chart(&"n".repeat(250), "1.0.0").build();
    let refused = repo.publish(&Tenant::root(), long.into(), None, false).await;
    match refused {
        Err(PublishError::Repo(RepoError::Storage(StorageError::NameTooLong(e)))) => {
            assert_eq!((e.len, e.limit), (265, 255), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(storage.request_counts(), before, "no request at all");
    let fits = ChartBuilder::chart(&"n".repeat(240), "1.0.0").build();
    repo.publish(&Tenant::root(), fits.into(), None, false).await.unwrap();
}

#[tokio::test]
async fn only_indexed_files_are_served() {
    let storage = Storage::memory();
    let repo = open(&storage, false).await;
    let root = Tenant::root();
    storage.put_new("later-1.0.0.tgz", ChartBuilder::chart("later", "1.0.0").build().into()).await.unwrap();
    storage.put_new("later-1.0.0.tgz.prov", Bytes::from_static(b"prov")).await.unwrap();
    for file in ["later-1.0.0.tgz", "later-1.0.0.tgz.prov"] {
        assert!(matches!(repo.open_file(&root, file).await, Err(FileError::NotFound(_))), "{file}");
        assert!(matches!(repo.file_info(&root, file).await, Err(FileError::NotFound(_))), "{file}");
    }
    repo.resync(&root).await.unwrap();
    for file in ["later-1.0.0.tgz", "later-1.0.0.tgz.prov"] {
        assert!(repo.open_file(&root, file).await.is_ok(), "{file}");
        assert!(repo.file_info(&root, file).await.is_ok(), "{file}");
    }
}

/// A cold start reads a local folder's archives in batches on the blocking pool (each batch
/// reading its own files) and an object store's through object_store: both index the same
/// versions and refuse the same archives, whatever batch an archive falls in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_folder_and_an_object_store_index_the_same_archives() {
    let dir = tempfile::tempdir().unwrap();
    let local = Storage::local(dir.path()).unwrap();
    let memory = Storage::memory();
    let mut files: Vec<(String, Bytes)> = (0..150)
        .map(|i| {
            let (name, version) = (format!("c{}", i % 20), format!("1.0.{}", i / 20));
            let chart = ChartBuilder::chart(&name, &version).file("values.yaml", format!("n: {i}\n")).build();
            (format!("{name}-{version}.tgz"), Bytes::from(chart))
        })
        .collect();
    files.push(("cut-1.0.0.tgz".into(), truncated("cut")));
    files.push(("plain-1.0.0.tgz".into(), Bytes::from_static(b"not a gzip stream")));
    files
        .push(("bad-1.0.0.tgz".into(), ChartBuilder::chart("bad", "1.0.0").file("values.yaml", "a: [").build().into()));
    files.push(("copy-of-c1-1.0.0.tgz".into(), files[1].1.clone()));
    // Over 64 KiB: an object store's large archives are checked as they arrive, not in batches.
    let big = Bytes::from(ChartBuilder::chart("big", "1.0.0").file("README.md", noise(200_000)).build());
    assert!(big.len() > 64 * 1024, "{}", big.len());
    files.push(("big-1.0.0.tgz".into(), big.clone()));
    files.push(("bigcut-1.0.0.tgz".into(), big.slice(..big.len() - 1000)));
    for (file, bytes) in &files {
        local.put_new(file, bytes.clone()).await.unwrap();
        memory.put_new(file, bytes.clone()).await.unwrap();
    }
    std::fs::create_dir(dir.path().join("folder-1.0.0.tgz")).unwrap();

    let mut seen = Vec::new();
    for storage in [&local, &memory] {
        let gets = storage.request_counts().get;
        let (repo, report) = Repository::open(storage.clone(), options(false)).await.unwrap();
        let index = repo.index(&Tenant::root()).unwrap();
        let entries: Vec<String> =
            index.entries().map(|e| format!("{} {} {} {}", e.file(), e.name(), e.version(), e.digest())).collect();
        seen.push((entries, report.added, report.skipped, storage.request_counts().get - gets));
        repo.shutdown().await;
    }
    let (entries, added, skipped, gets) = &seen[0];
    assert_eq!((entries.len(), *added), (151, 151), "{entries:?}");
    assert_eq!(*skipped, 5, "four broken archives and the second copy of c1 1.0.0");
    // Every archive read once, and counted as a GET like an object store's (the start's other
    // reads, ChartMuseum's state file, are the same on both).
    assert!((156..=158).contains(gets), "{gets}");
    assert!(entries.contains(&format!("big-1.0.0.tgz big 1.0.0 {}", hex(&big))), "{entries:?}");
    assert!(entries.contains(&format!("c1-1.0.0.tgz c1 1.0.0 {}", hex(&files[1].1))), "{entries:?}");
    assert_eq!(seen[0], seen[1], "local folder against object store");
}
