use super::*;

async fn roundtrip(storage: Storage) {
    let a = storage.put_new("a-1.0.0.tgz", Bytes::from_static(b"one")).await.unwrap();
    assert_eq!(a.size, 3);
    let again = storage.put_new("a-1.0.0.tgz", Bytes::from_static(b"two")).await;
    assert!(matches!(again, Err(StorageError::AlreadyExists(_))), "{again:?}");
    assert_eq!(storage.read("a-1.0.0.tgz").await.unwrap(), Bytes::from_static(b"one"));
    storage.write_state("state.json", Bytes::from_static(b"{}")).await.unwrap();
    storage.put_new("a-1.0.0.tgz.prov", Bytes::from_static(b"p")).await.unwrap();
    let listed = storage.list_charts().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].file, "a-1.0.0.tgz");
    assert_eq!(listed[0].e_tag, a.e_tag, "a listing's e_tag matches the put's");
    storage.put_replace("a-1.0.0.tgz", Bytes::from_static(b"three")).await.unwrap();
    assert_eq!(storage.read("a-1.0.0.tgz").await.unwrap(), Bytes::from_static(b"three"));
    assert_eq!(storage.read_state("state.json").await.unwrap().unwrap(), Bytes::from_static(b"{}"));
    assert!(storage.read_state("missing").await.unwrap().is_none());
    storage.delete("a-1.0.0.tgz").await.unwrap();
    assert!(matches!(storage.delete("a-1.0.0.tgz").await, Err(StorageError::NotFound(_))));
    assert!(storage.list_charts().await.unwrap().is_empty());
    for bad in ["", "..", "a/b", "a\\b", "x\u{0}"] {
        assert!(matches!(storage.read(bad).await, Err(StorageError::InvalidKey(_))), "{bad:?}");
    }
}

async fn log_roundtrip(storage: Storage) {
    assert!(storage.list_log_replicas().await.unwrap().is_empty());
    storage.put_log_record("r1", 1, Bytes::from_static(b"a")).await.unwrap();
    storage.put_log_record("r1", 2, Bytes::from_static(b"b")).await.unwrap();
    storage.put_log_record("r2", 7, Bytes::from_static(b"c")).await.unwrap();
    let again = storage.put_log_record("r1", 2, Bytes::from_static(b"x")).await;
    assert!(matches!(again, Err(StorageError::AlreadyExists(_))), "{again:?}");
    assert_eq!(storage.get_log_record("r1", 2).await.unwrap(), Some(Bytes::from_static(b"b")));
    assert_eq!(storage.get_log_record("r1", 3).await.unwrap(), None);
    assert_eq!(storage.list_log_replicas().await.unwrap(), vec!["r1".to_owned(), "r2".to_owned()]);
    let all: Vec<(String, u64)> =
        storage.list_log_records(None).await.unwrap().into_iter().map(|r| (r.replica, r.seq)).collect();
    assert_eq!(all, vec![("r1".into(), 1), ("r1".into(), 2), ("r2".into(), 7)]);
    let one: Vec<u64> = storage.list_log_records(Some("r2")).await.unwrap().into_iter().map(|r| r.seq).collect();
    assert_eq!(one, vec![7]);
    storage.delete_log_record("r1", 1).await.unwrap();
    storage.delete_log_record("r1", 1).await.unwrap();
    assert_eq!(storage.list_log_records(Some("r1")).await.unwrap().len(), 1);
    assert!(storage.list_charts().await.unwrap().is_empty(), "log records are not charts");
    assert!(matches!(storage.put_log_record("../x", 1, Bytes::new()).await, Err(StorageError::InvalidKey(_))));
    let before = storage.request_counts();
    storage.get_log_record("r1", 9).await.unwrap();
    assert_eq!(storage.request_counts().get, before.get + 1);
    assert_eq!(storage.request_counts().total(), before.total() + 1);
}

#[tokio::test]
async fn memory_log() {
    log_roundtrip(Storage::memory()).await;
}

#[tokio::test]
async fn local_log() {
    let dir = tempfile::tempdir().unwrap();
    log_roundtrip(Storage::local(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn prefixed_storage_keeps_everything_under_its_prefix() {
    let store = Arc::new(InMemory::new());
    let storage = Storage::new(store.clone(), "team/a", "memory".into());
    roundtrip(storage.clone()).await;
    log_roundtrip(storage.clone()).await;
    storage.put_new("b-1.0.0.tgz", Bytes::from_static(b"b")).await.unwrap();
    let raw: Vec<String> = store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
    assert!(!raw.is_empty() && raw.iter().all(|p| p.starts_with("team/a/")), "{raw:?}");
    assert!(raw.contains(&"team/a/b-1.0.0.tgz".to_owned()), "{raw:?}");
    let other = Storage::new(store, "team/b", "memory".into());
    assert!(other.list_charts().await.unwrap().is_empty());
    assert!(other.list_log_replicas().await.unwrap().is_empty());
}

#[tokio::test]
async fn scoped_storage_is_a_folder_of_the_same_store() {
    let store = Arc::new(InMemory::new());
    let root = Storage::new(store.clone(), "charts", "memory".into());
    let team = root.scoped("org/team").unwrap();
    roundtrip(team.clone()).await;
    team.put_new("b-1.0.0.tgz", Bytes::from_static(b"b")).await.unwrap();
    team.write_state("index-state.bin", Bytes::from_static(b"{}")).await.unwrap();
    root.put_new("r-1.0.0.tgz", Bytes::from_static(b"r")).await.unwrap();
    root.scoped("org").unwrap().put_new("o-1.0.0.tgz", Bytes::from_static(b"o")).await.unwrap();
    let raw: Vec<String> = store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
    assert!(raw.contains(&"charts/org/team/b-1.0.0.tgz".to_owned()), "{raw:?}");
    assert!(raw.contains(&"charts/org/team/.chartroom/index-state.bin".to_owned()), "{raw:?}");
    // The delimiter listing of a folder sees its own charts only, never deeper folders.
    let files = |l: Vec<ObjectInfo>| l.into_iter().map(|o| o.file).collect::<Vec<_>>();
    assert_eq!(files(root.list_charts().await.unwrap()), ["r-1.0.0.tgz"]);
    assert_eq!(files(root.scoped("org").unwrap().list_charts().await.unwrap()), ["o-1.0.0.tgz"]);
    assert_eq!(files(team.list_charts().await.unwrap()), ["b-1.0.0.tgz"]);
    // The tree listing sees every depth, relative to the prefix, filtered by the caller.
    let tree = root.list_tree(|key| key.ends_with(".tgz") || key.ends_with("index-state.bin")).await.unwrap();
    assert_eq!(
        files(tree),
        ["org/o-1.0.0.tgz", "org/team/.chartroom/index-state.bin", "org/team/b-1.0.0.tgz", "r-1.0.0.tgz"]
    );
    team.delete_state("index-state.bin").await.unwrap();
    team.delete_state("index-state.bin").await.unwrap();
    assert!(team.read_state("index-state.bin").await.unwrap().is_none());
    assert_eq!(team.request_counts(), root.request_counts(), "one set of statistics");
    for bad in ["/", "a/", "/a", "a//b", "..", "a/../b", "a\\b"] {
        assert!(matches!(root.scoped(bad), Err(StorageError::InvalidKey(_))), "{bad:?}");
    }
}

#[tokio::test]
async fn local_tree_listing() {
    let dir = tempfile::tempdir().unwrap();
    let root = Storage::local(dir.path()).unwrap();
    root.scoped("a/b").unwrap().put_new("x-1.0.0.tgz", Bytes::from_static(b"x")).await.unwrap();
    root.put_new("y-1.0.0.tgz", Bytes::from_static(b"y")).await.unwrap();
    let tree = root.list_tree(|key| key.ends_with(".tgz")).await.unwrap();
    let files: Vec<&str> = tree.iter().map(|o| o.file.as_str()).collect();
    assert_eq!(files, ["a/b/x-1.0.0.tgz", "y-1.0.0.tgz"]);
    assert!(dir.path().join("a/b/x-1.0.0.tgz").exists());
}

#[test]
fn names_must_fit_the_backend() {
    let local = Storage::memory().with_name_limits(NameLimits::local(FsPath::new("/srv/charts")));
    assert!(local.check_fits(&"a".repeat(255)).is_ok());
    let e = local.check_fits(&"a".repeat(256)).unwrap_err();
    assert_eq!((e.len, e.limit, e.backend), (256, 255, "local storage"));
    assert!(e.to_string().contains("the file name") && e.to_string().contains("at most 255"), "{e}");

    let s3 = Storage::new(Arc::new(InMemory::new()), "charts", "s3".into())
        .with_name_limits(NameLimits::object_store("Amazon S3"));
    let team = s3.scoped("org/team").unwrap();
    // "charts/org/team/" is 16 bytes: they count.
    assert!(team.check_fits(&"a".repeat(1024 - 16)).is_ok());
    let e = team.check_fits(&"a".repeat(1024 - 15)).unwrap_err();
    assert_eq!((e.len, e.limit), (1025, 1024), "{e}");
    assert!(e.to_string().contains("storage key") && !e.to_string().contains(&"a".repeat(100)), "{e}");
    assert!(Storage::memory().check_fits(&"a".repeat(5000)).is_ok(), "no limits configured");
}

#[test]
fn names_storage_keys_encode_are_not_addressable() {
    for ok in ["a-1.0.0.tgz", "a_b+c-1.0.0-rc.1+build.tgz"] {
        assert!(Storage::addressable(ok), "{ok}");
    }
    for bad in ["a%b-1.0.0.tgz", "a#1-1.0.0.tgz", "a{b}-1.0.0.tgz", "a\\b.tgz", ""] {
        assert!(!Storage::addressable(bad), "{bad}");
    }
}

#[tokio::test]
async fn local_failures_are_said_as_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("d-1.0.0.tgz")).unwrap();
    let e = storage.put_new("d-1.0.0.tgz", Bytes::from_static(b"d")).await.unwrap_err();
    assert!(matches!(&e, StorageError::NotAFile(f) if f == "d-1.0.0.tgz"), "{e:?}");
    let e = storage.put_replace("d-1.0.0.tgz", Bytes::from_static(b"d")).await.unwrap_err();
    assert!(matches!(&e, StorageError::NotAFile(_)), "{e:?}");
    assert!(storage.health().reachable, "a folder in the way is no outage: {:?}", storage.health());
}

#[tokio::test]
async fn memory_roundtrip() {
    roundtrip(Storage::memory()).await;
}

#[tokio::test]
async fn local_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    roundtrip(Storage::local(dir.path()).unwrap()).await;
    assert!(dir.path().join(".chartroom/state.json").exists());
}

#[tokio::test]
async fn a_blocking_reader_reads_what_read_reads() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    let root = Storage::local(dir.path()).unwrap();
    let team = root.scoped("org/team").unwrap();
    root.put_new("a-1.0.0.tgz", Bytes::from_static(b"a")).await.unwrap();
    team.put_new("b-1.0.0.tgz", Bytes::from_static(b"b")).await.unwrap();
    std::fs::create_dir(dir.path().join("d-1.0.0.tgz")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("out-1.0.0.tgz")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a-1.0.0.tgz"), dir.path().join("in-1.0.0.tgz")).unwrap();

    for storage in [&root, &team] {
        let reader = storage.blocking_reader().expect("local storage reads on the calling thread");
        for file in ["a-1.0.0.tgz", "b-1.0.0.tgz", "d-1.0.0.tgz", "out-1.0.0.tgz", "in-1.0.0.tgz", "none", "..", "a/b"]
        {
            let before = storage.request_counts().get;
            let ours = reader.read(file);
            assert_eq!(
                storage.request_counts().get,
                before + u64::from(check_file_name(file).is_ok()),
                "{file}: counted"
            );
            let theirs = storage.read(file).await;
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{file}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{file}"),
                _ => panic!("{file}: {ours:?} against {theirs:?}"),
            }
        }
    }
    assert_eq!(team.blocking_reader().unwrap().read("b-1.0.0.tgz").unwrap(), "b");
    assert!(matches!(root.blocking_reader().unwrap().read("out-1.0.0.tgz"), Err(StorageError::NotFound(_))));
    // A folder that is a link out of the root.
    std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
    let evil = root.scoped("evil").unwrap();
    assert!(matches!(evil.blocking_reader().unwrap().read("secret"), Err(StorageError::NotFound(_))));
    assert!(matches!(evil.read("secret").await, Err(StorageError::NotFound(_))));
    assert!(Storage::memory().blocking_reader().is_none(), "other stores read through object_store");
}
