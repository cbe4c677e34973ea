//! Tenants over HTTP: `--depth N` and `--depth-dynamic` routes, storage keys as ChartMuseum
//! writes them, tenant names refused before storage is touched, `/api/tenants`, resync.

use super::*;

async fn depth_app(depth: &str) -> TestApp {
    test_app(ArgValues::new().with(&options::DEPTH, depth)).await
}

/// Every stored object but Chartroom's own (`.chartroom/`: change log, state).
async fn chart_keys(app: &TestApp) -> Vec<String> {
    let listed = app.storage.list_tree(|key| !key.starts_with(".chartroom/") && !key.contains("/.chartroom/"));
    listed.await.unwrap().into_iter().map(|o| o.file).collect()
}

async fn upload(app: &TestApp, path: &str, name: &str, version: &str) -> StatusCode {
    app.send(Method::POST, path, chart(name, version, "d")).await.status()
}

#[tokio::test]
async fn each_tenant_has_its_own_index_and_files() {
    let app = depth_app("1").await;
    assert_eq!(upload(&app, "/api/team-a/charts", "demo", "1.0.0").await, StatusCode::CREATED);
    assert_eq!(upload(&app, "/api/team-b/charts", "demo", "2.0.0").await, StatusCode::CREATED);
    // The same version in another tenant is no conflict.
    assert_eq!(upload(&app, "/api/team-b/charts", "demo", "1.0.0").await, StatusCode::CREATED);
    assert_eq!(upload(&app, "/api/team-a/charts", "demo", "1.0.0").await, StatusCode::CONFLICT);

    let (status, a) = app.get("/team-a/index.yaml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(a.contains("version: 1.0.0") && !a.contains("version: 2.0.0"), "{a}");
    assert!(a.contains("    - charts/demo-1.0.0.tgz\n"), "chart URLs are relative to the tenant: {a}");
    let (_, b) = app.get("/team-b/index.yaml").await;
    assert!(b.contains("version: 1.0.0") && b.contains("version: 2.0.0"), "{b}");

    // ChartMuseum's keys: <tenant>/<name>-<version>.tgz.
    let keys = chart_keys(&app).await;
    for key in ["team-a/demo-1.0.0.tgz", "team-b/demo-1.0.0.tgz", "team-b/demo-2.0.0.tgz"] {
        assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
    }

    let r = app.send(Method::GET, "/team-a/charts/demo-1.0.0.tgz", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get("/team-a/charts/demo-2.0.0.tgz").await.0, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/api/team-b/charts/demo").await;
    assert!(status == StatusCode::OK && body.matches("\"version\"").count() == 2, "{body}");
    assert_eq!(app.get("/api/team-a/charts/demo/1.0.0/values").await.1, "replicas: 1\n");
    assert!(app.get("/api/team-a/charts/demo/1.0.0/templates").await.1.contains("templates/cm.yaml"));

    let r = app.send(Method::DELETE, "/api/team-b/charts/demo/1.0.0", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get("/api/team-b/charts/demo/1.0.0").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/team-a/charts/demo/1.0.0").await.0, StatusCode::OK, "other tenants keep theirs");

    // At depth 1 the root is no repository: its paths are no routes.
    assert_eq!(app.get("/index.yaml").await, (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned()));
    assert_eq!(app.get("/a/b/index.yaml").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/health").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_tenant_without_charts_reads_as_an_empty_repository_and_creates_nothing() {
    let app = depth_app("2").await;
    let (status, body) = app.get("/org/nobody/index.yaml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("apiVersion: v1\nentries: {}\n"), "{body}");
    assert_eq!(app.get("/api/org/nobody/charts").await, (StatusCode::OK, "{}".to_owned()));
    assert_eq!(app.get("/api/org/nobody/charts/x").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/org/nobody/charts/x-1.0.0.tgz").await.0, StatusCode::NOT_FOUND);
    assert!(app.repo.tenants().is_empty(), "{:?}", app.repo.tenants());
    assert!(chart_keys(&app).await.is_empty());
}

#[tokio::test]
async fn invalid_tenant_names_are_400_and_write_nothing() {
    for depth in ["1", "2"] {
        let app = depth_app(depth).await;
        let prefix = if depth == "1" { "" } else { "org/" };
        for tenant in ["..", ".", ".chartroom", "a%2Fb", "%2e%2e", "a%2e", "a%20b", "a:b", &"x".repeat(65)] {
            let tenant = format!("{prefix}{tenant}");
            for (method, path) in [
                (Method::POST, format!("/api/{tenant}/charts")),
                (Method::POST, format!("/api/{tenant}/prov")),
                (Method::GET, format!("/{tenant}/index.yaml")),
                (Method::GET, format!("/{tenant}/charts/demo-1.0.0.tgz")),
                (Method::DELETE, format!("/api/{tenant}/charts/demo/1.0.0")),
            ] {
                let r = app.send(method.clone(), &path, chart("demo", "1.0.0", "x")).await;
                assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{method} {path}");
                let body = body_text(r).await;
                assert!(body.starts_with(r#"{"error":"invalid repository path"#), "{path}: {body}");
            }
        }
        // Empty segments.
        for path in ["//index.yaml", "/api//charts"] {
            let path = if depth == "1" { path.to_owned() } else { path.replacen("//", "/org//", 1) };
            let r = app.send(Method::POST, &path, chart("demo", "1.0.0", "x")).await;
            let get = app.get(&path).await;
            assert!(
                r.status() == StatusCode::BAD_REQUEST || get.0 == StatusCode::BAD_REQUEST,
                "{path}: {} / {get:?}",
                r.status()
            );
        }
        assert!(chart_keys(&app).await.is_empty(), "nothing written at depth {depth}");
        assert!(app.repo.tenants().is_empty());
    }
}

#[tokio::test]
async fn tenants_listing_and_resync_of_every_tenant() {
    let app = depth_app("1").await;
    assert_eq!(app.get("/api/tenants").await, (StatusCode::OK, r#"{"tenants":[]}"#.to_owned()));
    upload(&app, "/api/beta/charts", "b", "1.0.0").await;
    upload(&app, "/api/alpha/charts", "a", "1.0.0").await;
    upload(&app, "/api/alpha/charts", "a", "1.1.0").await;
    let (status, body) = app.get("/api/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"tenants": [
            {"name": "alpha", "charts": 1, "versions": 2},
            {"name": "beta", "charts": 1, "versions": 1},
        ]})
    );

    // A tenant put into storage behind the server's back appears with a resync of all.
    let bytes = chart("c", "3.0.0", "d");
    app.storage.scoped("gamma").unwrap().put_new("c-3.0.0.tgz", bytes.into()).await.unwrap();
    assert_eq!(app.get("/gamma/index.yaml").await.1.matches("version:").count(), 0);
    let (status, body) = app.request(Method::POST, "/api/resync", Vec::new()).await;
    assert!(status == StatusCode::OK && body.contains("\"resynced\":true"), "{body}");
    assert!(app.get("/gamma/index.yaml").await.1.contains("version: 3.0.0"));
    // One tenant's resync.
    app.storage.scoped("gamma").unwrap().put_new("c-3.1.0.tgz", chart("c", "3.1.0", "d").into()).await.unwrap();
    assert_eq!(app.request(Method::POST, "/api/gamma/resync", Vec::new()).await.0, StatusCode::OK);
    assert!(app.get("/gamma/index.yaml").await.1.contains("version: 3.1.0"));
}

#[tokio::test]
async fn dynamic_depth_serves_the_root_and_tenants_at_any_depth() {
    let app = test_app(ArgValues::new().with(&options::DEPTH_DYNAMIC, "true")).await;
    assert_eq!(upload(&app, "/api/charts", "root", "1.0.0").await, StatusCode::CREATED);
    assert_eq!(upload(&app, "/api/org/charts", "one", "1.0.0").await, StatusCode::CREATED);
    assert_eq!(upload(&app, "/api/org/team/app/charts", "three", "1.0.0").await, StatusCode::CREATED);
    assert!(app.get("/index.yaml").await.1.contains("root"));
    let (_, org) = app.get("/org/index.yaml").await;
    assert!(org.contains("one") && !org.contains("three") && !org.contains("root"), "{org}");
    assert!(app.get("/org/team/app/index.yaml").await.1.contains("three"));
    let r = app.send(Method::GET, "/org/team/app/charts/three-1.0.0.tgz", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let keys = chart_keys(&app).await;
    assert!(keys.contains(&"org/team/app/three-1.0.0.tgz".to_owned()), "{keys:?}");
    assert_eq!(app.get("/a/../index.yaml").await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn context_path_and_tenants() {
    let app = test_app(ArgValues::new().with(&options::DEPTH, "1").with(&options::CONTEXT_PATH, "/helm")).await;
    assert_eq!(upload(&app, "/helm/api/team/charts", "demo", "1.0.0").await, StatusCode::CREATED);
    let (status, index) = app.get("/helm/team/index.yaml").await;
    assert_eq!(status, StatusCode::OK);
    // `helm cm-push` builds the upload URL from this: <contextPath>/api/<tenant>/charts.
    assert!(index.contains("contextPath: \"/helm\""), "{index}");
    assert_eq!(app.get("/team/index.yaml").await.0, StatusCode::NOT_FOUND);
    let (status, welcome) = app.get("/helm/").await;
    assert!(status == StatusCode::OK && welcome.contains("1 tenants"), "{welcome}");
}

/// Readiness with tenants: while the index is being built (`starting_app`, what the port
/// answers from the server's `AppSlot` before `app`), tenant paths are 503 with `Retry-After`
/// and `/health/ready` 503 under the context path; once ready, `/health/ready` is a root route
/// at every depth, open without credentials while authentication is on.
#[tokio::test]
async fn readiness_holds_with_tenants() {
    let args = ArgValues::new()
        .with(&options::DEPTH, "2")
        .with(&options::CONTEXT_PATH, "/ctx")
        .with(&options::BASIC_AUTH_USER, "admin")
        .with(&options::BASIC_AUTH_PASS, "admin-pw");
    let config = config(args);
    let starting = chartroom_server::starting_app(&config, None);
    let send = |router: axum::Router, uri: &'static str| async move {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        router.oneshot(req).await.unwrap()
    };
    let r = send(starting.clone(), "/ctx/org/team/index.yaml").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
    assert_eq!(send(starting.clone(), "/ctx/api/org/team/charts").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send(starting.clone(), "/ctx/health/ready").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send(starting, "/ctx/health").await.status(), StatusCode::OK);

    let ready = TestApp::open(&config, Storage::memory(), config.repo_options()).await;
    let (status, body) = ready.get("/ctx/health/ready").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"ready":true}"#));
    assert_eq!(
        ready.get("/ctx/org/team/index.yaml").await.0,
        StatusCode::UNAUTHORIZED,
        "tenants still need credentials"
    );
}
