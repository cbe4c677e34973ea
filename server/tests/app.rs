//! Handler tests through `app(state)` with `oneshot`, on in-memory storage.
//!
//! Modules: `tenants` (routing by `--depth`/`--depth-dynamic`, tenant names, `/api/tenants`),
//! `auth` (the gate: 401/403, challenges, users, tokens, open routes), `budget` (the upload
//! memory budget), `cancelled` (writes the client gave up on), `index_format` (`--index-format`:
//! which client gets which body, validators per representation), `ui` (the web catalogue's pages:
//! content negotiation, escaping, headers, grants), `events` (the change feed), `lifecycle`
//! (retention, storage limits, Artifact Hub), `archive_reads` (the queue of requests that unpack
//! archives), `replicas` (below).

#[path = "app/archive_reads.rs"]
mod archive_reads;
#[path = "app/auth.rs"]
mod auth;
#[path = "app/budget.rs"]
mod budget;
#[path = "app/cancelled.rs"]
mod cancelled;
#[path = "app/events.rs"]
mod events;
#[path = "app/index_format.rs"]
mod index_format;
#[path = "app/lifecycle.rs"]
mod lifecycle;
#[path = "app/tenants.rs"]
mod tenants;
#[path = "app/ui.rs"]
mod ui;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use chartroom_chart::testing::ChartBuilder;
use chartroom_index::{RepoOptions, Repository, Tenancy, Tenant};
use chartroom_server::config::{ArgValues, options};
use chartroom_server::{AppState, Config, app};
use chartroom_storage::Storage;
use chartroom_storage::faulty::Faulty;
use http_body_util::BodyExt;
use object_store::ObjectStore;
use object_store::memory::InMemory;
use std::sync::Arc;
use tower::ServiceExt;

fn chart(name: &str, version: &str, description: &str) -> Vec<u8> {
    ChartBuilder::new()
        // The top folder need not match the chart name (Helm strips it whatever it is).
        .top_folder("src")
        .file("Chart.yaml", format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: {description}\n"))
        .file("values.yaml", "replicas: 1\n")
        .file("templates/cm.yaml", "kind: ConfigMap\n")
        .build()
}

struct TestApp {
    router: axum::Router,
    storage: Storage,
    repo: Repository,
    /// The application's access control (shared state: a reload here is the application's).
    auth: chartroom_auth::Auth,
}

/// The configuration of `chartroom serve` given these flags (and nothing from the environment).
fn config(args: ArgValues) -> Config {
    chartroom_server::config::resolve(&args, []).unwrap().config
}

async fn test_app(args: ArgValues) -> TestApp {
    let config = config(args);
    TestApp::open(&config, Storage::memory(), config.repo_options()).await
}

/// An app over `InMemory` behind [`Faulty`] (chosen storage calls fail, hang or wait), with its
/// repository options adjusted by `adjust`.
async fn faulty_app_with(args: ArgValues, adjust: impl FnOnce(&mut RepoOptions)) -> (TestApp, Arc<Faulty<InMemory>>) {
    let faulty = Arc::new(Faulty::new(InMemory::new()));
    let storage = Storage::new(Arc::clone(&faulty) as Arc<dyn ObjectStore>, "", "faulty".into());
    let config = config(args);
    let mut options = config.repo_options();
    adjust(&mut options);
    (TestApp::open(&config, storage, options).await, faulty)
}

impl TestApp {
    async fn open(config: &Config, storage: Storage, options: RepoOptions) -> TestApp {
        let (repo, _) = Repository::open(storage.clone(), options).await.unwrap();
        let auth = config.auth().unwrap();
        TestApp { router: app(AppState::new(repo.clone(), config, auth.clone())), storage, repo, auth }
    }
    async fn send(&self, method: Method, uri: &str, body: Vec<u8>) -> Response {
        let req = Request::builder().method(method).uri(uri).body(Body::from(body)).unwrap();
        self.router.clone().oneshot(req).await.unwrap()
    }
    async fn send_with(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Response {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap()
    }
    async fn request(&self, method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, String) {
        let r = self.send(method, uri, body).await;
        let status = r.status();
        (status, body_text(r).await)
    }
    async fn get(&self, uri: &str) -> (StatusCode, String) {
        self.request(Method::GET, uri, Vec::new()).await
    }
}

async fn body_text(r: Response) -> String {
    String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn upload_is_visible_before_the_201_and_conflicts_follow_the_overwrite_matrix() {
    let app = test_app(ArgValues::default()).await;
    let r = app.send(Method::POST, "/api/charts", chart("demo", "1.0.0", "first")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(body_text(r).await, r#"{"saved":true}"#);
    let (_, index) = app.get("/index.yaml").await;
    assert!(index.contains("    - charts/demo-1.0.0.tgz\n"), "{index}");

    let r = app.send(Method::POST, "/api/charts", chart("demo", "1.0.0", "second")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(body_text(r).await, r#"{"error":"file already exists"}"#);
    assert_eq!(app.get("/index.yaml").await.1, index, "a refused upload changes nothing");

    let r = app.send(Method::POST, "/api/charts?force", chart("demo", "1.0.0", "second")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, after) = app.get("/index.yaml").await;
    assert!(after.contains("description: second"), "{after}");
    assert_eq!(after.matches("version: 1.0.0").count(), 1, "no duplicate entry: {after}");
    assert_eq!(app.storage.list_charts().await.unwrap().len(), 1);
}

/// Found by the `values` fuzz target: an upload accepts a `values.yaml` of several documents
/// (Helm does), with a byte order mark or with keys that are not strings, but the templates API answered 500 "stored
/// values.yaml is unreadable" for it.
#[tokio::test]
async fn templates_api_reads_every_values_yaml_an_upload_accepts() {
    let app = test_app(ArgValues::default()).await;
    for (version, values, shown) in [
        ("1.0.0", "a: 1\n---\nb: 2\n", r#"{"a":1}"#),
        ("1.0.1", "\u{feff}a: 1\n", r#"{"a":1}"#),
        // Keys that are not strings (found by the fuzz target: `: 2`, a null key).
        ("1.0.3", ": 2\n1: a\ntrue: [x]\n", r#"{"1":"a","null":2,"true":["x"]}"#),
    ] {
        let tgz = ChartBuilder::chart("vals", version).file("values.yaml", values).build();
        assert_eq!(app.send(Method::POST, "/api/charts", tgz).await.status(), StatusCode::CREATED, "{values:?}");
        let (status, body) = app.get(&format!("/api/charts/vals/{version}/templates")).await;
        assert_eq!(status, StatusCode::OK, "{values:?}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["values"], serde_json::from_str::<serde_json::Value>(shown).unwrap(), "{values:?}");
    }
}

#[tokio::test]
async fn force_is_refused_when_disabled() {
    let app = test_app(ArgValues::new().with(&options::DISABLE_FORCE_OVERWRITE, "true")).await;
    assert_eq!(app.send(Method::POST, "/api/charts", chart("a", "1.0.0", "x")).await.status(), StatusCode::CREATED);
    assert_eq!(
        app.send(Method::POST, "/api/charts?force", chart("a", "1.0.0", "y")).await.status(),
        StatusCode::CONFLICT
    );
    let r = app.send(Method::GET, "/charts/a-1.0.0.tgz", Vec::new()).await;
    assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
}

#[tokio::test]
async fn bad_uploads_are_400_and_change_nothing() {
    let app = test_app(ArgValues::default()).await;
    let (_, before) = app.get("/index.yaml").await;
    for (body, needle) in [
        (Vec::new(), "empty"),
        (b"not a chart".to_vec(), "gzip"),
        (chart("../evil", "1.0.0", "x"), "name"),
        (chart("ok", "not-a-version", "x"), "version"),
    ] {
        let r = app.send(Method::POST, "/api/charts", body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let text = body_text(r).await.to_lowercase();
        assert!(text.starts_with("{\"error\":") && text.contains(needle), "{needle}: {text}");
    }
    assert_eq!(app.get("/index.yaml").await.1, before);
    assert!(app.storage.list_charts().await.unwrap().is_empty());
}

#[tokio::test]
async fn lookups_delete_and_routing() {
    let app = test_app(ArgValues::new().with(&options::CONTEXT_PATH, "/helm")).await;
    for v in ["1.0.0", "1.2.0", "2.0.0-rc.1"] {
        assert_eq!(
            app.send(Method::POST, "/helm/api/charts", chart("demo", v, "d")).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.send(Method::POST, "/helm/api/charts", chart("zeta", "0.1.0", "z")).await.status(),
        StatusCode::CREATED
    );
    let (s, body) = app.get("/helm/api/charts/demo/latest").await;
    assert_eq!((s, body.contains(r#""version":"1.2.0""#)), (StatusCode::OK, true), "{body}");
    let (s, body) = app.get("/helm/api/charts/demo/%5E1.0").await;
    assert!(s == StatusCode::OK && body.contains(r#""version":"1.2.0""#), "{body}");
    let (s, body) = app.get("/helm/api/charts/demo/%3E%3D2.0.0-0").await;
    assert!(s == StatusCode::OK && body.contains(r#""version":"2.0.0-rc.1""#), "{body}");
    assert_eq!(app.get("/helm/api/charts/demo/%3E%3Dfoo").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/helm/api/charts/demo/9.9.9").await.0, StatusCode::NOT_FOUND);
    let (_, page) = app.get("/helm/api/charts?offset=1").await;
    assert!(page.starts_with(r#"{"zeta":"#), "{page}");
    assert_eq!(app.get("/helm/api/charts?limit=1").await.1.matches("\"demo\":").count(), 1);
    assert_eq!(app.get("/helm/api/charts?limit=0").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/helm/api/charts/demo/1.0.0/values").await.1, "replicas: 1\n");
    assert_eq!(app.get("/api/charts").await.0, StatusCode::NOT_FOUND, "routes live under the context path only");
    let r = app.send(Method::GET, "/helm/api/charts/%FF", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/json; charset=utf-8",
        "framework rejections are JSON too"
    );
    assert!(body_text(r).await.starts_with(r#"{"error":"#));
    let r = app.send(Method::PUT, "/helm/index.yaml", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(r).await, r#"{"error":"not found"}"#);

    let r = app.send(Method::DELETE, "/helm/api/charts/demo/1.0.0", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get("/helm/api/charts/demo/1.0.0").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.send(Method::DELETE, "/helm/api/charts/demo/1.0.0", Vec::new()).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.send(Method::DELETE, "/helm/api/charts/demo", Vec::new()).await.status(), StatusCode::OK);
    let (_, index) = app.get("/helm/index.yaml").await;
    assert!(!index.contains("demo") && index.contains("zeta") && index.contains("contextPath: \"/helm\""), "{index}");
    assert_eq!(app.storage.list_charts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn index_validators_and_head() {
    let app = test_app(ArgValues::default()).await;
    app.send(Method::POST, "/api/charts", chart("a", "1.0.0", "x")).await;
    let get = app.send(Method::GET, "/index.yaml", Vec::new()).await;
    let etag = get.headers()[header::ETAG].clone();
    let len = get.headers()[header::CONTENT_LENGTH].clone();
    let head = app.send(Method::HEAD, "/index.yaml", Vec::new()).await;
    assert_eq!(
        (head.headers()[header::ETAG].clone(), head.headers()[header::CONTENT_LENGTH].clone()),
        (etag.clone(), len)
    );
    assert!(body_text(head).await.is_empty());
    let req = Request::get("/index.yaml").header(header::IF_NONE_MATCH, etag.clone()).body(Body::empty()).unwrap();
    let r = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    app.send(Method::POST, "/api/charts", chart("b", "1.0.0", "x")).await;
    let req = Request::get("/index.yaml").header(header::IF_NONE_MATCH, etag).body(Body::empty()).unwrap();
    assert_eq!(app.router.clone().oneshot(req).await.unwrap().status(), StatusCode::OK, "a change changes the ETag");
}

fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "chartroom-test-boundary";
    let mut body = Vec::new();
    for (field, data) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"f\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn replacing_a_chart_drops_a_provenance_file_that_no_longer_matches() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/");
    let tgz = std::fs::read(format!("{fixtures}signtest-0.1.0.tgz")).unwrap();
    let prov = std::fs::read(format!("{fixtures}signtest-0.1.0.tgz.prov")).unwrap();
    let app = test_app(ArgValues::default()).await;
    let upload = |query: &'static str, parts: Vec<(&'static str, Vec<u8>)>| {
        let router = app.router.clone();
        async move {
            let borrowed: Vec<(&str, &[u8])> = parts.iter().map(|(f, d)| (*f, d.as_slice())).collect();
            let (content_type, body) = multipart(&borrowed);
            let req = Request::post(format!("/api/charts{query}"))
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }
    };
    let has_prov = || async { app.storage.head("signtest-0.1.0.tgz.prov").await.is_ok() };

    assert_eq!(upload("", vec![("chart", tgz.clone()), ("prov", prov.clone())]).await, StatusCode::CREATED);
    assert!(has_prov().await);
    // The same bytes again: the provenance file still vouches for them.
    assert_eq!(upload("?force", vec![("chart", tgz.clone())]).await, StatusCode::CREATED);
    assert!(has_prov().await);
    // Different bytes under the same name and version: the old provenance would fail --verify.
    assert_eq!(upload("?force", vec![("chart", chart("signtest", "0.1.0", "other"))]).await, StatusCode::CREATED);
    assert!(!has_prov().await, "a provenance file for other bytes must not survive the replacement");
}

#[path = "app/provenance.rs"]
mod provenance;

// ---- several replicas on one store ---------------------------------------------------------
//
// `InMemory` makes create-only writes atomic, as S3, GCS and Azure do; these tests run several
// complete apps (their own index, writer, poller and change log) over one shared store.

mod replicas {
    use std::time::{Duration, Instant};

    use super::*;

    const POLL: Duration = Duration::from_millis(50);

    /// One replica: a complete app with its own index, writer, poller and change log.
    type Replica = TestApp;

    async fn replica(store: &Arc<InMemory>, args: ArgValues) -> Replica {
        let config = config(args);
        let mut options = config.repo_options();
        options.poll_interval = Some(POLL);
        TestApp::open(&config, Storage::new(store.clone(), "", "shared memory".into()), options).await
    }

    /// A replica whose calls to the shared store go through [`Faulty`], with `adjust`ed options.
    async fn faulty_replica(
        store: &Arc<InMemory>,
        adjust: impl FnOnce(&mut RepoOptions),
    ) -> (Replica, Arc<Faulty<Arc<InMemory>>>) {
        let faulty = Arc::new(Faulty::new(Arc::clone(store)));
        let config = config(ArgValues::default());
        let mut options = config.repo_options();
        options.poll_interval = Some(POLL);
        adjust(&mut options);
        let storage = Storage::new(Arc::clone(&faulty) as Arc<dyn ObjectStore>, "", "faulty".into());
        (TestApp::open(&config, storage, options).await, faulty)
    }

    impl TestApp {
        async fn upload(&self, bytes: Vec<u8>) -> StatusCode {
            self.request(Method::POST, "/api/charts", bytes).await.0
        }
        fn versions(&self) -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = self
                .repo
                .index(&Tenant::root())
                .unwrap()
                .entries()
                .map(|e| (e.name().to_owned(), e.version().to_owned()))
                .collect();
            v.sort();
            v
        }
    }

    /// Waits until `check` holds for every replica; panics after `limit`.
    async fn converge(
        replicas: &[&Replica],
        limit: Duration,
        what: &str,
        check: impl Fn(&Replica) -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            if replicas.iter().all(|r| check(r)) {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "replicas did not converge within {limit:?}: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uploads_and_deletes_propagate_to_every_replica() {
        let store = Arc::new(InMemory::new());
        let (a, b, c) = (
            replica(&store, ArgValues::default()).await,
            replica(&store, ArgValues::default()).await,
            replica(&store, ArgValues::default()).await,
        );
        assert_eq!(a.upload(chart("demo", "1.0.0", "one")).await, StatusCode::CREATED);
        converge(&[&b, &c], Duration::from_secs(2), "upload through a", |r| r.versions().len() == 1).await;
        let (status, body) = b.request(Method::GET, "/api/charts/demo/1.0.0", Vec::new()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"description\":\"one\""), "metadata travels with the record: {body}");
        // The index served by b is the same document as a's apart from `generated`.
        let strip = |s: String| s.lines().filter(|l| !l.starts_with("generated:")).collect::<Vec<_>>().join("\n");
        assert_eq!(
            strip(b.request(Method::GET, "/index.yaml", vec![]).await.1),
            strip(a.request(Method::GET, "/index.yaml", vec![]).await.1)
        );

        // A replica that starts later sees everything.
        let d = replica(&store, ArgValues::default()).await;
        assert_eq!(d.versions(), a.versions());

        let (status, _) = c.request(Method::DELETE, "/api/charts/demo/1.0.0", Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        converge(&[&a, &b, &d], Duration::from_secs(2), "delete through c", |r| r.versions().is_empty()).await;

        // A version uploaded through one replica conflicts through another even before it has
        // propagated: storage, not the local index, decides.
        assert_eq!(d.upload(chart("demo", "2.0.0", "two")).await, StatusCode::CREATED);
        assert_eq!(a.upload(chart("demo", "2.0.0", "other")).await, StatusCode::CONFLICT);
        converge(&[&a, &b, &c], Duration::from_secs(2), "second upload", |r| r.versions().len() == 1).await;
        let (_, body) = a.request(Method::GET, "/api/charts/demo/2.0.0", Vec::new()).await;
        assert!(body.contains("\"description\":\"two\""), "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simultaneous_uploads_of_one_version_through_two_replicas_give_one_201_and_one_409() {
        let store = Arc::new(InMemory::new());
        let (a, b) = (replica(&store, ArgValues::default()).await, replica(&store, ArgValues::default()).await);
        let (a, b) = (Arc::new(a), Arc::new(b));
        for i in 0..40 {
            let version = format!("1.0.{i}");
            let (one, two) = (chart("race", &version, "from a"), chart("race", &version, "from b"));
            let (ra, rb) = tokio::join!(
                tokio::spawn({
                    let a = a.clone();
                    async move { a.upload(one).await }
                }),
                tokio::spawn({
                    let b = b.clone();
                    async move { b.upload(two).await }
                })
            );
            let mut got = [ra.unwrap(), rb.unwrap()];
            got.sort();
            assert_eq!(got, [StatusCode::CREATED, StatusCode::CONFLICT], "version {version}");
        }
        converge(&[&a, &b], Duration::from_secs(2), "40 raced versions", |r| r.versions().len() == 40).await;
        // Both replicas index the bytes that won, whichever replica took them.
        for i in 0..40 {
            let uri = format!("/api/charts/race/1.0.{i}");
            assert_eq!(a.request(Method::GET, &uri, vec![]).await.1, b.request(Method::GET, &uri, vec![]).await.1);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uploads_across_replicas_are_never_lost_or_duplicated() {
        let store = Arc::new(InMemory::new());
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(Arc::new(replica(&store, ArgValues::default()).await));
        }
        let total = 300;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut clients = Vec::new();
        for client in 0..24 {
            let (replicas, next) = (replicas.clone(), next.clone());
            clients.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        return statuses;
                    }
                    let target = &replicas[(i + client) % replicas.len()];
                    statuses.push(target.upload(chart(&format!("c{}", i % 7), &format!("1.{i}.0"), "x")).await);
                }
            }));
        }
        for c in clients {
            assert!(c.await.unwrap().iter().all(|s| *s == StatusCode::CREATED));
        }
        let refs: Vec<&Replica> = replicas.iter().map(|r| r.as_ref()).collect();
        converge(&refs, Duration::from_secs(2), "300 uploads", |r| r.versions().len() == total).await;
        let first = replicas[0].versions();
        let unique: std::collections::BTreeSet<_> = first.iter().collect();
        assert_eq!(unique.len(), total, "no duplicates");
        for r in &replicas {
            assert_eq!(r.versions(), first);
        }
    }

    /// A replica that hears of its peers' changes only when told (no poll, no resync).
    async fn lagging_replica(store: &Arc<InMemory>) -> Replica {
        let config = config(ArgValues::default());
        let mut options = config.repo_options();
        options.poll_interval = None;
        options.resync_interval = None;
        TestApp::open(&config, Storage::new(store.clone(), "", "shared memory".into()), options).await
    }

    /// The soak on two S3 replicas (issue 17): a replica that had not indexed a version a peer
    /// stored with its provenance file took that file for one sent ahead of the chart and
    /// answered 400 "does not match the chart" to a plain upload (the answer is 409: the version
    /// exists) and to a `?force` overwrite (which replaces the chart and drops the file that no
    /// longer vouches for the stored bytes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lagging_replica_treats_a_peers_provenance_file_as_the_stored_charts() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/");
        let tgz = std::fs::read(format!("{fixtures}signtest-0.1.0.tgz")).unwrap();
        let prov = std::fs::read(format!("{fixtures}signtest-0.1.0.tgz.prov")).unwrap();
        let store = Arc::new(InMemory::new());
        let (a, b) = (replica(&store, ArgValues::default()).await, lagging_replica(&store).await);
        let c = lagging_replica(&store).await;
        let (content_type, body) = multipart(&[("chart", &tgz), ("prov", &prov)]);
        let r = a.send_with(Method::POST, "/api/charts", &[("content-type", &content_type)], body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert!(b.versions().is_empty(), "b has not heard of it");
        let stored = |app: &Replica| {
            let storage = app.storage.clone();
            async move {
                let mut files = Vec::new();
                for file in ["signtest-0.1.0.tgz", "signtest-0.1.0.tgz.prov"] {
                    files.push(storage.read(file).await.ok().map(|b| b.to_vec()));
                }
                files
            }
        };
        let before = stored(&b).await;

        // Other bytes of the same version, through b: a conflict, and nothing changes.
        let (status, body) = b.request(Method::POST, "/api/charts", chart("signtest", "0.1.0", "other")).await;
        assert_eq!((status, body.as_str()), (StatusCode::CONFLICT, r#"{"error":"file already exists"}"#));
        assert_eq!(stored(&b).await, before);

        // Forced through b: the chart is replaced, and the provenance file of the old bytes goes.
        let other = chart("signtest", "0.1.0", "forced");
        let (status, body) = b.request(Method::POST, "/api/charts?force", other.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(stored(&b).await, [Some(other.clone()), None]);
        let (_, body) = b.get("/api/charts/signtest/0.1.0").await;
        assert!(body.contains("\"description\":\"forced\""), "{body}");
        converge(&[&a], Duration::from_secs(2), "overwrite through b", |r| {
            r.repo.index(&Tenant::root()).unwrap().get("signtest", "0.1.0").is_some_and(|e| e.json().contains("forced"))
        })
        .await;

        // The old provenance file sent again through c, which has heard of neither chart: it
        // does not vouch for the stored bytes, so it is refused and nothing is stored.
        let (status, message) = c.request(Method::POST, "/api/prov", prov).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        assert!(message.contains("provenance file does not match the stored chart"), "{message}");
        assert_eq!(stored(&c).await, [Some(other), None]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_local_overwrite_indexed_after_a_later_peer_overwrite_gives_way_to_what_storage_kept() {
        use chartroom_storage::faulty::{Fault, Op};
        use sha2::Digest;
        // a stores its bytes, then stalls before indexing them; meanwhile b replaces them and a
        // applies b's change. Storage keeps b's bytes (the later write): both replicas must end
        // up listing their digest, not the one a indexes last (the soak's stale digests on S3).
        let store = Arc::new(InMemory::new());
        let (a, faulty) = faulty_replica(&store, |_| {}).await;
        let b = replica(&store, ArgValues::default()).await;
        assert_eq!(a.upload(chart("race", "1.0.0", "first")).await, StatusCode::CREATED);
        converge(&[&b], Duration::from_secs(2), "the first upload", |r| r.versions().len() == 1).await;
        let indexed =
            |r: &Replica| r.repo.index(&Tenant::root()).unwrap().get("race", "1.0.0").map(|e| e.digest().to_string());

        // a's overwrite stalls after its chart write, where it looks for a stale provenance file.
        faulty.inject_on(Op::Get, "race-1.0.0.tgz.prov", 0, Fault::Hang);
        let later = chart("race", "1.0.0", "from b, later");
        let later_digest = hex::encode(sha2::Sha256::digest(&later));
        let a_write = a.request(Method::POST, "/api/charts?force", chart("race", "1.0.0", "from a, first"));
        let meanwhile = async {
            let stalled = Instant::now();
            while faulty.hanging() == 0 {
                assert!(stalled.elapsed() < Duration::from_secs(5), "a's overwrite never reached its stall");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (status, body) = b.request(Method::POST, "/api/charts?force", later.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            converge(&[&a], Duration::from_secs(2), "a applies b's overwrite", |r| {
                indexed(r).as_deref() == Some(later_digest.as_str())
            })
            .await;
            faulty.release();
        };
        let ((status, body), ()) = tokio::join!(a_write, meanwhile);
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(b.storage.read("race-1.0.0.tgz").await.unwrap().to_vec(), later, "storage keeps the later write");
        converge(&[&a, &b], Duration::from_secs(2), "both list what storage holds", |r| {
            indexed(r).as_deref() == Some(later_digest.as_str())
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_that_lagged_past_the_log_retention_resyncs_instead_of_stalling() {
        use chartroom_storage::faulty::{Fault, Op};
        // a's poller stalls while b overwrites a chart and adds another; b prunes the records
        // a has not read. a must notice the gap and resync, not wait forever for a record that
        // is gone (the 20-minute soak: pollers that fell ten minutes behind never caught up).
        let store = Arc::new(InMemory::new());
        let short_retention = |o: &mut RepoOptions| o.log_retention = Duration::from_millis(300);
        let (a, faulty) = faulty_replica(&store, short_retention).await;
        let config = config(ArgValues::default());
        let mut options = config.repo_options();
        options.poll_interval = Some(POLL);
        short_retention(&mut options);
        let b = TestApp::open(&config, Storage::new(store.clone(), "", "shared memory".into()), options).await;
        assert_eq!(b.upload(chart("lag", "1.0.0", "first")).await, StatusCode::CREATED);
        converge(&[&a], Duration::from_secs(2), "the first upload", |r| r.versions().len() == 1).await;

        // a's next read of b's log hangs; meanwhile b changes two charts and prunes.
        faulty.inject_on(Op::Get, &format!("/{}/", b.repo.replica_id()), 0, Fault::Hang);
        let stalled = Instant::now();
        while faulty.hanging() == 0 {
            assert!(stalled.elapsed() < Duration::from_secs(5), "a's poller never read b's log");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let replaced = chart("lag", "1.0.0", "second");
        let (status, body) = b.request(Method::POST, "/api/charts?force", replaced.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(b.upload(chart("other", "1.0.0", "o")).await, StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(900)).await;
        faulty.release();

        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&replaced));
        converge(&[&a], Duration::from_secs(3), "a resyncs after the gap", |r| {
            let index = r.repo.index(&Tenant::root()).unwrap();
            index.get("other", "1.0.0").is_some() && index.get("lag", "1.0.0").is_some_and(|e| e.digest() == digest)
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chart_stored_without_a_record_is_announced_by_the_next_start() {
        // What a replica killed between storing a chart and writing its record leaves behind.
        let store = Arc::new(InMemory::new());
        let a = replica(&store, ArgValues::default()).await;
        let raw = Storage::new(store.clone(), "", "raw".into());
        raw.put_new("orphan-1.0.0.tgz", chart("orphan", "1.0.0", "o").into()).await.unwrap();
        tokio::time::sleep(POLL * 4).await;
        assert!(a.versions().is_empty(), "nothing announced it yet");
        let restarted = replica(&store, ArgValues::default()).await;
        assert_eq!(restarted.versions(), vec![("orphan".to_owned(), "1.0.0".to_owned())]);
        converge(&[&a], Duration::from_secs(2), "orphan announced at start", |r| r.versions().len() == 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_announcement_never_resurrects_a_deleted_chart() {
        let store = Arc::new(InMemory::new());
        let a = replica(&store, ArgValues::default()).await;
        let b = replica(&store, ArgValues::default()).await;
        assert_eq!(a.upload(chart("gone", "1.0.0", "g")).await, StatusCode::CREATED);
        converge(&[&b], Duration::from_secs(2), "upload", |r| r.versions().len() == 1).await;
        // The chart is deleted behind everyone's back, then a record announcing it arrives late
        // (a replay of a's own record under another replica's log).
        let raw = Storage::new(store.clone(), "", "raw".into());
        raw.delete("gone-1.0.0.tgz").await.unwrap();
        let record = raw.get_log_record(a.repo.replica_id(), 1).await.unwrap().expect("a's first record");
        assert!(String::from_utf8_lossy(&record).contains("gone-1.0.0.tgz"));
        raw.put_log_record("late-peer", 1, record).await.unwrap();
        // Both check storage instead of trusting the record: the chart is gone everywhere.
        converge(&[&a, &b], Duration::from_secs(2), "stale record", |r| r.versions().is_empty()).await;
    }

    // ---- tenants (ChartMuseum's --depth 1): one writer, one change log, one poller per replica
    // for all tenants. Uploads and deletes go through the repository's write path, as the
    // handlers do (tenant routes are wired separately).

    async fn tenant_replica(store: &Arc<InMemory>) -> Replica {
        let config = config(ArgValues::default());
        let mut options = config.repo_options();
        options.poll_interval = Some(POLL);
        options.tenancy = Tenancy::Depth(1);
        TestApp::open(&config, Storage::new(store.clone(), "", "shared memory".into()), options).await
    }

    fn tenant(name: &str) -> Tenant {
        Tenant::parse(name).unwrap()
    }

    /// Per tenant: (name, version, description) of every indexed version.
    type Catalogue = Vec<(String, Vec<(String, String, String)>)>;

    impl TestApp {
        async fn push(&self, to: &str, name: &str, version: &str, description: &str) -> Result<(), String> {
            let bytes = chart(name, version, description).into();
            self.repo.publish(&tenant(to), bytes, None, false).await.map(|_| ()).map_err(|e| e.to_string())
        }
        fn catalogue(&self) -> Catalogue {
            self.repo
                .tenants()
                .into_iter()
                .map(|t| {
                    let index = self.repo.index(&t).unwrap();
                    let versions = index
                        .entries()
                        .map(|e| {
                            let json: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
                            let description = json["description"].as_str().unwrap_or_default().to_owned();
                            (e.name().to_owned(), e.version().to_owned(), description)
                        })
                        .collect();
                    (t.as_str().to_owned(), versions)
                })
                .collect()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uploads_to_tenants_through_different_replicas_converge_per_tenant() {
        let store = Arc::new(InMemory::new());
        let replicas = [tenant_replica(&store).await, tenant_replica(&store).await, tenant_replica(&store).await];
        let teams = ["team-0", "team-1", "team-2", "team-3", "team-4"];
        // The same version of the same chart in every tenant, each through another replica, at once.
        let pushes = teams.iter().enumerate().map(|(i, team)| {
            let replica = &replicas[i % replicas.len()];
            async move { replica.push(team, "demo", "1.0.0", &format!("demo of {team}")).await }
        });
        for result in futures::future::join_all(pushes).await {
            result.unwrap();
        }
        replicas[1].push("team-0", "extra", "0.1.0", "only in team-0").await.unwrap();
        let expected = |without_team_0_demo: bool| -> Catalogue {
            teams
                .iter()
                .map(|team| {
                    let mut versions = Vec::new();
                    if !(without_team_0_demo && *team == "team-0") {
                        versions.push(("demo".to_owned(), "1.0.0".to_owned(), format!("demo of {team}")));
                    }
                    if *team == "team-0" {
                        versions.push(("extra".to_owned(), "0.1.0".to_owned(), "only in team-0".to_owned()));
                    }
                    (team.to_string(), versions)
                })
                .collect()
        };
        let refs: Vec<&Replica> = replicas.iter().collect();
        converge(&refs, Duration::from_secs(2), "uploads to five tenants", |r| r.catalogue() == expected(false)).await;
        // Another tenant's copy is no conflict; the same tenant's is, through any replica.
        let again = replicas[2].push("team-1", "demo", "1.0.0", "again").await;
        assert!(again.is_err_and(|e| e.contains("already exists")));

        // A replica that starts later sees every tenant.
        let late = tenant_replica(&store).await;
        assert_eq!(late.catalogue(), expected(false));

        // A delete in one tenant leaves the same chart in the others.
        replicas[2].repo.unpublish(&tenant("team-0"), "demo", "1.0.0").await.unwrap();
        let all: Vec<&Replica> = replicas.iter().chain([&late]).collect();
        converge(&all, Duration::from_secs(2), "delete in team-0", |r| r.catalogue() == expected(true)).await;
        // A tenant's last chart takes the tenant with it, everywhere.
        late.repo.unpublish_chart(&tenant("team-0"), "extra").await.unwrap();
        converge(&all, Duration::from_secs(2), "team-0 emptied", |r| {
            r.repo.tenants() == teams[1..].iter().map(|t| tenant(t)).collect::<Vec<_>>()
        })
        .await;
        for r in &all {
            assert!(r.repo.index(&tenant("team-0")).unwrap().is_empty());
            assert_eq!(r.repo.index(&tenant("team-1")).unwrap().len(), 1);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_record_never_resurrects_a_tenants_chart() {
        let store = Arc::new(InMemory::new());
        let (a, b) = (tenant_replica(&store).await, tenant_replica(&store).await);
        a.push("team-a", "gone", "1.0.0", "a").await.unwrap();
        a.push("team-b", "gone", "1.0.0", "b").await.unwrap();
        converge(&[&b], Duration::from_secs(2), "uploads", |r| r.repo.tenants().len() == 2).await;
        // team-a's copy is deleted behind everyone's back; a's record announcing both arrives
        // again, late, under another replica's log.
        let raw = Storage::new(store.clone(), "", "raw".into());
        raw.scoped("team-a").unwrap().delete("gone-1.0.0.tgz").await.unwrap();
        let mut seq = 1;
        while let Some(record) = raw.get_log_record(a.repo.replica_id(), seq).await.unwrap() {
            raw.put_log_record("late-peer", seq, record).await.unwrap();
            seq += 1;
        }
        assert!(seq > 1, "a wrote records");
        converge(&[&a, &b], Duration::from_secs(2), "stale record", |r| r.repo.tenants() == [tenant("team-b")]).await;
        for r in [&a, &b] {
            assert_eq!(r.catalogue(), [("team-b".to_owned(), vec![("gone".into(), "1.0.0".into(), "b".into())])]);
        }
    }

    #[tokio::test]
    async fn an_upload_costs_three_store_requests_and_index_reads_cost_none() {
        let store = Arc::new(InMemory::new());
        let config = config(ArgValues::default());
        let storage = Storage::new(store.clone(), "", "shared memory".into());
        let mut options = config.repo_options();
        options.poll_interval = None;
        // No background state writes in the middle of the counting.
        options.statefiles = false;
        let lone = TestApp::open(&config, storage.clone(), options).await;
        for i in 0..50 {
            let before = storage.request_counts();
            assert_eq!(lone.upload(chart("cost", &format!("1.0.{i}"), "c")).await, StatusCode::CREATED);
            let after = storage.request_counts();
            // The chart (create-only), this replica's change-log record and one GET for a
            // provenance file sent ahead of the chart (issue 17: it must vouch for the chart);
            // nothing else, however many versions the repository holds.
            assert_eq!((after.put - before.put, after.total() - before.total()), (2, 3), "upload {i}");
        }
        let before = storage.request_counts();
        for _ in 0..20 {
            assert_eq!(lone.request(Method::GET, "/index.yaml", vec![]).await.0, StatusCode::OK);
            assert_eq!(lone.request(Method::GET, "/api/charts", vec![]).await.0, StatusCode::OK);
        }
        assert_eq!(storage.request_counts(), before, "index reads are served from memory");
    }
}
