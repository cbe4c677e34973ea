//! Issue 14 through the HTTP API: the storage limit on every upload path of the chart API (the
//! OCI path is in the end-to-end `lifecycle` module), `artifacthub-repo.yml`, the retention API.

use super::*;

async fn upload_multipart(app: &TestApp, uri: &str, tgz: &[u8]) -> (StatusCode, String) {
    let (content_type, body) = multipart(&[("chart", tgz)]);
    let r = app.send_with(Method::POST, uri, &[("content-type", content_type.as_str())], body).await;
    let status = r.status();
    (status, body_text(r).await)
}

const LIMIT: &str = r#"{"error":"repo has reached storage limit"}"#;

/// ChartMuseum's 507 on raw and (unlike ChartMuseum) multipart uploads; an overwrite at the
/// cap is allowed where the overwrite policy allows it (it adds no object), a conflict stays
/// 409, and a delete makes room.
#[tokio::test]
async fn storage_limit_on_raw_and_multipart_uploads_and_overwrite_at_the_cap() {
    let app = test_app(ArgValues::new().with(&options::MAX_STORAGE_OBJECTS, "2")).await;
    assert_eq!(app.request(Method::POST, "/api/charts", chart("a", "1.0.0", "x")).await.0, StatusCode::CREATED);
    assert_eq!(upload_multipart(&app, "/api/charts", &chart("b", "1.0.0", "x")).await.0, StatusCode::CREATED);
    let index = app.get("/index.yaml").await.1;

    let raw = app.request(Method::POST, "/api/charts", chart("a", "2.0.0", "x")).await;
    assert_eq!((raw.0.as_u16(), raw.1.as_str()), (507, LIMIT));
    let form = upload_multipart(&app, "/api/charts", &chart("c", "1.0.0", "x")).await;
    assert_eq!((form.0.as_u16(), form.1.as_str()), (507, LIMIT));
    assert_eq!(app.get("/index.yaml").await.1, index, "refused uploads change nothing");
    assert_eq!(app.storage.list_charts().await.unwrap().len(), 2);

    // Overwrite at the cap: allowed with ?force (no new object); without it, the conflict.
    let same = app.request(Method::POST, "/api/charts", chart("a", "1.0.0", "y")).await;
    assert_eq!((same.0.as_u16(), same.1.as_str()), (409, r#"{"error":"file already exists"}"#));
    assert_eq!(app.request(Method::POST, "/api/charts?force", chart("a", "1.0.0", "y")).await.0, StatusCode::CREATED);
    let form = upload_multipart(&app, "/api/charts?force", &chart("b", "1.0.0", "y")).await;
    assert_eq!(form.0, StatusCode::CREATED, "{}", form.1);

    assert_eq!(app.request(Method::DELETE, "/api/charts/a/1.0.0", Vec::new()).await.0, StatusCode::OK);
    assert_eq!(app.request(Method::POST, "/api/charts", chart("a", "2.0.0", "x")).await.0, StatusCode::CREATED);
}

/// Per-tenant limits, `--provenance-tenant` style: a tenant's own value, 0 lifting the limit.
#[tokio::test]
async fn storage_limit_per_tenant() {
    let args = ArgValues::new()
        .with(&options::DEPTH, "1")
        .with(&options::MAX_STORAGE_OBJECTS, "1")
        .with(&options::MAX_STORAGE_OBJECTS_TENANT, "big=3,free=0");
    let app = test_app(args).await;
    for (tenant, allowed) in [("small", 1), ("big", 3), ("free", 5)] {
        for n in 0..5 {
            let uri = format!("/api/{tenant}/charts");
            let (status, _) = app.request(Method::POST, &uri, chart("a", &format!("1.0.{n}"), "x")).await;
            let want = if n < allowed { 201 } else { 507 };
            assert_eq!(status.as_u16(), want, "{tenant} upload {n}");
        }
    }
}

/// `artifacthub-repo.yml` at the root and per tenant (`ID` and `tenant=ID`), with the owner;
/// parsed as YAML, with Artifact Hub's field names.
#[tokio::test]
async fn artifact_hub_metadata_file_at_the_root_and_per_tenant() {
    let root_id = "f3a1b2c4-0000-4000-8000-000000000001";
    let team_id = "f3a1b2c4-0000-4000-8000-000000000002";
    let args = ArgValues::new()
        .with(&options::DEPTH_DYNAMIC, "true")
        .with(&options::ARTIFACT_HUB_REPO_ID, format!("{root_id},org/team={team_id}"))
        .with(&options::ARTIFACT_HUB_OWNER, "name=Jane Doe,email=jane@example.com");
    let app = test_app(args).await;
    for (path, id) in [("/artifacthub-repo.yml", root_id), ("/org/team/artifacthub-repo.yml", team_id)] {
        let r = app.send(Method::GET, path, Vec::new()).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/x-yaml");
        let text = body_text(r).await;
        let yaml: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let want = serde_json::json!({
            "repositoryID": id,
            "owners": [{ "name": "Jane Doe", "email": "jane@example.com" }],
        });
        assert_eq!(yaml, want, "{path}: {text}");
    }
    let (status, body) = app.get("/other/artifacthub-repo.yml").await;
    assert_eq!((status.as_u16(), body.as_str()), (404, r#"{"error":"Artifact Hub repository ID not found"}"#));

    let bare = test_app(ArgValues::default()).await;
    assert_eq!(bare.get("/artifacthub-repo.yml").await.0, StatusCode::NOT_FOUND);
}

/// The retention API: the preview lists what `POST` then removes, and `POST` leaves the
/// highest versions; an upload prunes its chart as it is stored.
#[tokio::test]
async fn retention_preview_matches_what_post_removes() {
    let app = test_app(ArgValues::default()).await;
    for v in ["1.0.0", "1.1.0-rc.1", "1.1.0", "0.9.0", "2.0.0-beta.1"] {
        assert_eq!(app.request(Method::POST, "/api/charts", chart("a", v, "x")).await.0, StatusCode::CREATED);
    }
    let config =
        config(ArgValues::new().with(&options::PER_CHART_LIMIT, "3").with(&options::RETENTION_KEEP_PRERELEASES, "1"));
    let limited = TestApp::open(&config, app.storage.clone(), config.repo_options()).await;
    let (status, preview) = limited.get("/api/retention").await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let preview: serde_json::Value = serde_json::from_str(&preview).unwrap();
    // 2.0.0-beta.1 is the one pre-release kept; of the rest, 1.1.0 and 1.0.0 with it.
    let want = serde_json::json!([
        { "name": "a", "version": "0.9.0" },
        { "name": "a", "version": "1.1.0-rc.1" },
    ]);
    assert_eq!(preview["removed"], want);
    assert_eq!(preview["dryRun"], true);
    assert_eq!(limited.storage.list_charts().await.unwrap().len(), 5, "a preview removes nothing");

    let (status, applied) = limited.request(Method::POST, "/api/retention", Vec::new()).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let applied: serde_json::Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(applied["removed"], want);
    let mut left: Vec<String> = limited.storage.list_charts().await.unwrap().into_iter().map(|o| o.file).collect();
    left.sort();
    assert_eq!(left, ["a-1.0.0.tgz", "a-1.1.0.tgz", "a-2.0.0-beta.1.tgz"]);
    let (_, again) = limited.get("/api/retention").await;
    assert!(again.contains(r#""removed":[]"#), "{again}");
}
