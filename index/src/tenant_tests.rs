//! Tests of a repository serving many tenants: where their files go, what reads of tenants
//! without charts cost, start-up from a ChartMuseum bucket, state per tenant, resync, and peers'
//! records from before tenants.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chartroom_chart::package::{self, SourceFile};
use chartroom_storage::{ObjectInfo, Storage};
use sha2::{Digest, Sha256};

use crate::entry::RenderConfig;
use crate::error::RepoError;
use crate::files::FileError;
use crate::options::RepoOptions;
use crate::repo::Repository;
use crate::tenancy::Tenancy;
use crate::tenant::Tenant;

fn chart(name: &str, version: &str, description: &str) -> Bytes {
    let yaml = format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: {description}\n");
    let files = vec![SourceFile { path: "Chart.yaml".into(), data: yaml.into_bytes() }];
    Bytes::from(package::package(files, &Default::default()).unwrap().bytes)
}

fn t(path: &str) -> Tenant {
    Tenant::parse(path).unwrap()
}

fn options(tenancy: Tenancy) -> RepoOptions {
    RepoOptions {
        tenancy,
        poll_interval: None,
        resync_interval: None,
        statefiles: false,
        persist_idle: Duration::from_millis(5),
        persist_max_delay: Duration::from_millis(20),
        ..Default::default()
    }
}

async fn open(storage: &Storage, options: RepoOptions) -> Repository {
    Repository::open(storage.clone(), options).await.unwrap().0
}

/// Every key in the store, relative to the storage's prefix, but the change log's.
async fn keys(storage: &Storage) -> Vec<String> {
    storage.list_tree(|key| !key.starts_with(".chartroom/log/")).await.unwrap().into_iter().map(|o| o.file).collect()
}

fn versions(repo: &Repository, tenant: &str) -> Vec<(String, String)> {
    let index = repo.index(&t(tenant)).unwrap();
    index.entries().map(|e| (e.name().to_owned(), e.description())).collect()
}

impl crate::entry::Entry {
    /// The `description` of the entry, read back from its JSON.
    fn description(&self) -> String {
        let value: serde_json::Value = serde_json::from_str(&self.json()).unwrap();
        format!("{}@{}", self.version(), value["description"].as_str().unwrap_or_default())
    }
}

#[tokio::test]
async fn tenants_are_folders_with_their_own_index_and_snapshot() {
    let storage = Storage::memory();
    let mut opts = options(Tenancy::Depth(1));
    opts.render = RenderConfig { chart_url: Some("https://charts.example/helm".into()), ..Default::default() };
    let repo = open(&storage, opts).await;
    assert!(repo.tenants().is_empty());
    let (a, b) = (t("team-a"), t("team-b"));
    // The same version of the same chart in two tenants: two independent charts.
    repo.publish(&a, chart("demo", "1.0.0", "of a"), None, false).await.unwrap();
    repo.publish(&b, chart("demo", "1.0.0", "of b"), None, false).await.unwrap();
    repo.publish(&a, chart("other", "0.1.0", "x"), None, false).await.unwrap();
    assert_eq!(keys(&storage).await, ["team-a/demo-1.0.0.tgz", "team-a/other-0.1.0.tgz", "team-b/demo-1.0.0.tgz"]);
    assert_eq!(repo.tenants(), [a.clone(), b.clone()]);
    assert_eq!(versions(&repo, "team-a"), [("demo".into(), "1.0.0@of a".into()), ("other".into(), "0.1.0@x".into())]);
    assert_eq!(versions(&repo, "team-b"), [("demo".into(), "1.0.0@of b".into())]);
    let (snap_a, snap_b) = (repo.snapshot(&a).unwrap(), repo.snapshot(&b).unwrap());
    assert_ne!(snap_a.primary().etag, snap_b.primary().etag);
    let body = String::from_utf8(snap_a.primary().chunks.concat()).unwrap();
    assert!(body.contains("- \"https://charts.example/helm/team-a/charts/demo-1.0.0.tgz\"\n"), "{body}");
    // A conflict is per tenant: b's copy does not make a's upload exist, and vice versa.
    let again = repo.publish(&b, chart("demo", "1.0.0", "again"), None, false).await;
    assert!(matches!(again, Err(crate::PublishError::Exists(_))), "{again:?}");

    // A delete in one tenant leaves the other; a tenant's last chart takes the tenant with it.
    repo.unpublish(&a, "demo", "1.0.0").await.unwrap();
    assert_eq!(versions(&repo, "team-b").len(), 1);
    repo.unpublish_chart(&a, "other").await.unwrap();
    assert_eq!(repo.tenants(), [t("team-b")]);
    assert!(repo.index(&a).unwrap().is_empty());
    let empty = repo.snapshot(&a).unwrap();
    assert!(Arc::ptr_eq(&empty, &repo.snapshot(&t("never-seen")).unwrap()), "one shared empty snapshot");
    assert_eq!(keys(&storage).await, ["team-b/demo-1.0.0.tgz"]);
    assert!(Arc::ptr_eq(&repo.snapshot(&b).unwrap(), &snap_b), "batches that changed only a never re-render b");
}

#[tokio::test]
async fn a_layout_refuses_tenants_of_other_depths() {
    let storage = Storage::memory();
    let depth1 = open(&storage, options(Tenancy::Depth(1))).await;
    for bad in ["", "a/b"] {
        let err = depth1.snapshot(&t(bad)).unwrap_err();
        assert!(matches!(&err, RepoError::NotServed { .. }), "{err}");
        assert!(err.to_string().contains("exactly 1 path segment"), "{err}");
        let refused = depth1.publish(&t(bad), chart("a", "1.0.0", "x"), None, false).await;
        assert!(refused.is_err());
        assert!(matches!(depth1.open_file(&t(bad), "a-1.0.0.tgz").await, Err(FileError::Repo(_))));
    }
    assert!(keys(&storage).await.is_empty(), "nothing written");
    let dynamic = open(&storage, options(Tenancy::Dynamic)).await;
    for ok in ["", "a", "a/b/c"] {
        dynamic.publish(&t(ok), chart("a", "1.0.0", ok), None, false).await.unwrap();
    }
    assert_eq!(dynamic.tenants(), [t(""), t("a"), t("a/b/c")]);
    assert_eq!(keys(&storage).await, ["a-1.0.0.tgz", "a/a-1.0.0.tgz", "a/b/c/a-1.0.0.tgz"]);
    // The root of a dynamic layout is a tenant like the others: gone with its last chart.
    dynamic.unpublish(&t(""), "a", "1.0.0").await.unwrap();
    assert_eq!(dynamic.tenants(), [t("a"), t("a/b/c")]);
}

/// A name of 1 to 3 segments of the allowed characters, never starting with `.`.
fn random_tenant(seed: &mut u64) -> Tenant {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
    let mut next = |n: usize| {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 33) as usize) % n
    };
    let segments = 1 + next(3);
    let mut path = String::new();
    for s in 0..segments {
        if s > 0 {
            path.push('/');
        }
        let len = 1 + next(64);
        path.push(FIRST[next(FIRST.len())] as char);
        for _ in 1..len {
            path.push(REST[next(REST.len())] as char);
        }
    }
    Tenant::parse(&path).unwrap()
}

#[tokio::test]
async fn reads_of_tenants_without_charts_cost_nothing() {
    let storage = Storage::memory();
    let repo = open(&storage, options(Tenancy::Dynamic)).await;
    repo.publish(&t("real"), chart("demo", "1.0.0", "x"), None, false).await.unwrap();
    let tenants_before = repo.tenants();
    let map_before = repo.shared.tenants.len();
    let requests_before = storage.request_counts();
    let empty = repo.snapshot(&t("nobody")).unwrap();
    let mut seed = 7;
    for i in 0..100_000 {
        let tenant = random_tenant(&mut seed);
        if tenant == t("real") {
            continue;
        }
        let snapshot = repo.snapshot(&tenant).unwrap();
        assert!(Arc::ptr_eq(&snapshot, &empty), "{tenant}");
        assert!(repo.index(&tenant).unwrap().is_empty());
        if i % 10 == 0 {
            // Only indexed files are served: a miss is answered from memory.
            assert!(matches!(repo.open_file(&tenant, "demo-1.0.0.tgz").await, Err(FileError::NotFound(_))));
            assert!(matches!(repo.file_info(&tenant, "demo-1.0.0.tgz").await, Err(FileError::NotFound(_))));
        }
    }
    assert_eq!(repo.tenants(), tenants_before);
    assert_eq!(repo.shared.tenants.len(), map_before, "the tenant map did not grow");
    let requests = storage.request_counts();
    assert_eq!((requests.put, requests.delete), (requests_before.put, requests_before.delete), "no writes");
    assert_eq!(requests.total(), requests_before.total(), "snapshot, index and file reads cost no request");
    let body = String::from_utf8(empty.primary().chunks.concat()).unwrap();
    assert!(body.starts_with("apiVersion: v1\nentries: {}\n"), "a valid empty index: {body}");
}

/// The sha256 of an archive, as `index-cache.yaml` records it.
fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn start_serves_a_chartmuseum_bucket_per_tenant() {
    let storage = Storage::memory();
    let put = |folder: &str, file: &str, bytes: Bytes| {
        let storage = storage.scoped(folder).unwrap();
        let file = file.to_owned();
        async move { storage.put_new(&file, bytes).await.unwrap() }
    };
    let x1 = chart("x", "1.0.0", "x1");
    put("", "root-1.0.0.tgz", chart("root", "1.0.0", "r")).await;
    put("a", "x-1.0.0.tgz", x1.clone()).await;
    put("a", "x-1.1.0.tgz", chart("x", "1.1.0", "x2")).await;
    put("a", "x-1.1.0.tgz.prov", Bytes::from_static(b"not read")).await;
    let cache = format!(
        "apiVersion: v1\nentries:\n  x:\n  - name: x\n    version: 1.0.0\n    digest: {}\n    created: \"2020-01-02T03:04:05.5Z\"\n",
        digest(&x1)
    );
    put("a", "index-cache.yaml", Bytes::from(cache)).await;
    put("a/deeper", "y-1.0.0.tgz", chart("y", "1.0.0", "y")).await;
    put("b", "index-cache.yaml", Bytes::from_static(b"apiVersion: v1\nentries: {}\n")).await;
    put("c", "broken-1.0.0.tgz", Bytes::from_static(b"not a chart")).await;
    put("a/.chartroom", "hidden-1.0.0.tgz", chart("hidden", "1.0.0", "h")).await;
    put(".chartroom/log/gone", "00000000000000000001.json", Bytes::from_static(b"{}")).await;

    let (depth1, report) = Repository::open(storage.clone(), options(Tenancy::Depth(1))).await.unwrap();
    assert_eq!(depth1.tenants(), [t("a")], "b has no chart, c no valid one; the rest is at other depths");
    assert_eq!((report.added, report.skipped), (2, 1));
    assert_eq!(versions(&depth1, "a"), [("x".into(), "1.1.0@x2".into()), ("x".into(), "1.0.0@x1".into())]);
    let created = depth1.index(&t("a")).unwrap().get("x", "1.0.0").map(|e| e.created.to_string());
    assert_eq!(created.as_deref(), Some("2020-01-02T03:04:05.5Z"), "the tenant's index-cache.yaml keeps created");
    assert!(depth1.index(&t("a")).unwrap().get("hidden", "1.0.0").is_none());

    let dynamic = open(&storage, options(Tenancy::Dynamic)).await;
    assert_eq!(dynamic.tenants(), [t(""), t("a"), t("a/deeper")]);
    assert_eq!(versions(&dynamic, "a/deeper"), [("y".into(), "1.0.0@y".into())]);

    let single = open(&storage, options(Tenancy::Single)).await;
    assert_eq!(single.tenants(), [Tenant::root()]);
    assert_eq!(versions(&single, ""), [("root".into(), "1.0.0@r".into())], "folders are not the root's charts");
}

#[tokio::test]
async fn each_tenant_keeps_its_own_state_and_a_restart_reads_no_archive() {
    let storage = Storage::memory();
    let mut opts = options(Tenancy::Depth(1));
    opts.statefiles = true;
    let repo = open(&storage, opts.clone()).await;
    for (tenant, name) in [("a", "one"), ("a", "two"), ("b", "one"), ("c", "three")] {
        repo.publish(&t(tenant), chart(name, "1.0.0", tenant), None, false).await.unwrap();
    }
    let before: Vec<_> = ["a", "b", "c"].iter().map(|x| (versions(&repo, x), repo.snapshot(&t(x)).unwrap())).collect();
    repo.shutdown().await;
    let state_keys: Vec<String> = keys(&storage).await.into_iter().filter(|k| k.contains(".chartroom/index")).collect();
    assert_eq!(
        state_keys,
        ["a/.chartroom/index-state.bin", "b/.chartroom/index-state.bin", "c/.chartroom/index-state.bin"]
    );

    let requests = storage.request_counts();
    let (again, report) = Repository::open(storage.clone(), opts.clone()).await.unwrap();
    let cost = storage.request_counts();
    assert_eq!((report.unchanged, report.added, report.removed), (4, 0, 0));
    assert_eq!(cost.get - requests.get, 3, "one state file per tenant, no archive");
    for (x, (entries, snapshot)) in ["a", "b", "c"].iter().zip(&before) {
        assert_eq!(&versions(&again, x), entries);
        assert_eq!(
            again.snapshot(&t(x)).unwrap().primary().etag,
            snapshot.primary().etag,
            "the same bytes after a restart: {x}"
        );
    }

    // Out-of-band changes are found against each tenant's state.
    again.shutdown().await;
    storage.scoped("b").unwrap().delete("one-1.0.0.tgz").await.unwrap();
    storage.scoped("d").unwrap().put_new("four-1.0.0.tgz", chart("four", "1.0.0", "d")).await.unwrap();
    let (third, report) = Repository::open(storage.clone(), opts.clone()).await.unwrap();
    assert_eq!((report.unchanged, report.added, report.removed), (3, 1, 0));
    assert_eq!(third.tenants(), [t("a"), t("c"), t("d")]);

    // A tenant's last chart gone: its state file goes too (nothing would ever read it).
    third.unpublish(&t("c"), "three", "1.0.0").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while keys(&storage).await.iter().any(|k| k.starts_with("c/")) {
        assert!(Instant::now() < deadline, "c's state file stays: {:?}", keys(&storage).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    third.shutdown().await;
    assert!(keys(&storage).await.contains(&"d/.chartroom/index-state.bin".to_owned()), "a fresh tenant's state");
}

#[tokio::test]
async fn resync_one_tenant_or_all() {
    let storage = Storage::memory();
    let repo = open(&storage, options(Tenancy::Depth(1))).await;
    repo.publish(&t("a"), chart("one", "1.0.0", "a"), None, false).await.unwrap();
    repo.publish(&t("b"), chart("one", "1.0.0", "b"), None, false).await.unwrap();
    let put = |folder: &str, name: &str| {
        let storage = storage.scoped(folder).unwrap();
        let (file, bytes) = (format!("{name}-1.0.0.tgz"), chart(name, "1.0.0", folder));
        async move { storage.put_new(&file, bytes).await.unwrap() }
    };
    put("a", "new").await;
    put("c", "other").await;
    put("d", "more").await;
    storage.scoped("b").unwrap().delete("one-1.0.0.tgz").await.unwrap();

    let report = repo.resync(&t("a")).await.unwrap();
    assert_eq!((report.added, report.removed, report.unchanged), (1, 0, 1));
    assert_eq!(repo.tenants(), [t("a"), t("b")], "only a was looked at");
    let report = repo.resync(&t("d")).await.unwrap();
    assert_eq!(report.added, 1, "a resync brings in a tenant storage has charts for");
    assert_eq!(repo.tenants(), [t("a"), t("b"), t("d")]);
    assert_eq!(repo.resync(&t("nothing-here")).await.unwrap(), Default::default());
    assert_eq!(repo.tenants(), [t("a"), t("b"), t("d")], "and not one it has none for");

    let report = repo.resync_all().await.unwrap();
    assert_eq!((report.added, report.removed, report.unchanged), (1, 1, 3));
    assert_eq!(repo.tenants(), [t("a"), t("c"), t("d")]);
    assert_eq!(versions(&repo, "c"), [("other".into(), "1.0.0@c".into())]);
}

#[tokio::test]
async fn peers_records_name_their_tenant_and_old_ones_mean_the_root() {
    let storage = Storage::memory();
    let mut opts = options(Tenancy::Dynamic);
    opts.poll_interval = Some(Duration::from_millis(10));
    let repo = open(&storage, opts).await;
    let raw = |folder: &str, name: &str, description: &str| {
        let storage = storage.scoped(folder).unwrap();
        let (file, bytes) = (format!("{name}-1.0.0.tgz"), chart(name, "1.0.0", description));
        async move { storage.put_new(&file, bytes).await.unwrap() }
    };
    // What the version before tenants wrote: no tenant field.
    let stored: ObjectInfo = raw("", "old", "from an old peer").await;
    let record = format!(
        r#"{{"format":1,"replica":"old-peer","seq":1,"time":"2024-05-01T10:00:00Z","changes":[{{"op":"put","file":"old-1.0.0.tgz","size":{},"etag":{},"digest":"00","created":"2024-05-01T10:00:00Z","metadata":{{"name":"old","version":"1.0.0","apiVersion":"v2","description":"from an old peer"}}}}]}}"#,
        stored.size,
        serde_json::to_string(&stored.e_tag).unwrap()
    );
    storage.put_log_record("old-peer", 1, Bytes::from(record)).await.unwrap();
    raw("org/team", "new", "from a new peer").await;
    let record = r#"{"format":1,"replica":"new-peer","seq":1,"time":"2024-05-01T10:00:00Z","changes":[{"op":"delete","tenant":"org/team","file":"new-1.0.0.tgz","name":"new","version":"1.0.0"},{"op":"delete","tenant":"../evil","file":"x-1.0.0.tgz","name":"x","version":"1.0.0"}]}"#;
    storage.put_log_record("new-peer", 1, Bytes::from_static(record.as_bytes())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while repo.tenants() != [t(""), t("org/team")] {
        assert!(Instant::now() < deadline, "peers' records not applied: {:?}", repo.tenants());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(versions(&repo, ""), [("old".into(), "1.0.0@from an old peer".into())]);
    // The record said delete; storage holds the chart: storage wins.
    assert_eq!(versions(&repo, "org/team"), [("new".into(), "1.0.0@from a new peer".into())]);
}

#[tokio::test]
async fn a_busy_tenant_does_not_hold_back_another_tenants_state() {
    let storage = Storage::memory();
    let mut opts = options(Tenancy::Depth(1));
    opts.statefiles = true;
    opts.persist_idle = Duration::from_millis(300);
    opts.persist_max_delay = Duration::from_secs(60);
    let repo = open(&storage, opts).await;
    repo.publish(&t("quiet"), chart("q", "1.0.0", "q"), None, false).await.unwrap();
    let quiet_state = storage.scoped("quiet").unwrap();
    // Another tenant changes without pause; the quiet one's state is due 300 ms after its change
    // all the same (one debounce for all tenants would wait for a pause, or a minute).
    let started = Instant::now();
    let mut patch = 0;
    while quiet_state.read_state("index-state.bin").await.unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "the quiet tenant's state was never written");
        patch += 1;
        repo.publish(&t("busy"), chart("b", &format!("1.0.{patch}"), "b"), None, false).await.unwrap();
    }
    repo.shutdown().await;
}
