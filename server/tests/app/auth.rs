//! The gate: who may do what, decided once for every route; 401 with the challenge, 403, open
//! routes, credentials ignored without authentication.

use super::*;
use base64::Engine;

pub(super) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A server at depth 1 with an auth config: alice (push to team-a, pull everywhere), bob (pull
/// team-b), token `ci` (push and delete team-a), anonymous pull of `public`.
pub(super) struct Secured {
    pub(super) app: TestApp,
    _dir: tempfile::TempDir,
}

pub(super) async fn secured(extra: ArgValues) -> Secured {
    let dir = tempfile::tempdir().unwrap();
    let alice = bcrypt::hash("alice-pw", 4).unwrap();
    let bob = bcrypt::hash("bob-pw", 4).unwrap();
    let config = format!(
        "users:\n  alice: \"{alice}\"\n  bob: \"{bob}\"\ntokens:\n  ci: \"sha256:{}\"\ngrants:\n\
         \x20 - to: [alice]\n    tenants: [\"*\"]\n    actions: [pull]\n\
         \x20 - to: [alice]\n    tenants: [team-a]\n    actions: [push]\n\
         \x20 - to: [bob]\n    tenants: [team-b]\n    actions: [pull]\n\
         \x20 - to: [ci]\n    tenants: [team-a]\n    actions: [pull, push, delete]\n\
         \x20 - to: [anonymous]\n    tenants: [public]\n    actions: [pull]\n",
        sha256_hex("ci-token")
    );
    let path = dir.path().join("auth.yaml");
    std::fs::write(&path, config).unwrap();
    let mut args = extra.with(&options::DEPTH, "1").with(&options::AUTH_CONFIG, path.as_os_str());
    if args.get(&options::AUTH_CONFIG_POLL_INTERVAL).is_none() {
        args.set(&options::AUTH_CONFIG_POLL_INTERVAL, "0");
    }
    Secured { app: test_app(args).await, _dir: dir }
}

async fn status(app: &TestApp, method: Method, path: &str, auth: Option<&str>) -> StatusCode {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let body = if method == Method::POST { chart("demo", "1.0.0", "x") } else { Vec::new() };
    app.send_with(method, path, &headers, body).await.status()
}

#[tokio::test]
async fn grants_decide_every_route() {
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    let ci_bearer = "Bearer ci-token";
    let ci_basic = basic("ci", "ci-token");

    // Pushes: alice and the token to team-a; nobody else, nowhere else.
    assert_eq!(status(app, Method::POST, "/api/team-a/charts", Some(&alice)).await, StatusCode::CREATED);
    assert_eq!(status(app, Method::POST, "/api/team-b/charts", Some(&alice)).await, StatusCode::FORBIDDEN);
    assert_eq!(status(app, Method::POST, "/api/team-b/charts", Some(&bob)).await, StatusCode::FORBIDDEN);
    assert_eq!(status(app, Method::POST, "/api/team-a/charts", None).await, StatusCode::UNAUTHORIZED);
    let r = app.send_with(Method::POST, "/api/public/charts", &[("authorization", ci_bearer)], vec![]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_text(r).await, r#"{"error":"forbidden: \"ci\" may not push charts to tenant public"}"#);

    // Reads.
    for (who, tenant, want) in [
        (Some(alice.as_str()), "team-b", StatusCode::OK),
        (Some(bob.as_str()), "team-b", StatusCode::OK),
        (Some(bob.as_str()), "team-a", StatusCode::FORBIDDEN),
        (Some(ci_bearer), "team-a", StatusCode::OK),
        (Some(ci_basic.as_str()), "team-a", StatusCode::OK),
        (Some(ci_basic.as_str()), "team-b", StatusCode::FORBIDDEN),
        (None, "public", StatusCode::OK),
        (None, "team-a", StatusCode::UNAUTHORIZED),
    ] {
        for path in [format!("/{tenant}/index.yaml"), format!("/api/{tenant}/charts")] {
            assert_eq!(status(app, Method::GET, &path, who).await, want, "{who:?} GET {path}");
        }
    }
    assert_eq!(status(app, Method::GET, "/team-a/charts/demo-1.0.0.tgz", Some(&bob)).await, StatusCode::FORBIDDEN);
    assert_eq!(status(app, Method::GET, "/team-a/charts/demo-1.0.0.tgz", Some(ci_bearer)).await, StatusCode::OK);

    // Deletes: only the token may; alice may push but not delete.
    let version = "/api/team-a/charts/demo/1.0.0";
    assert_eq!(status(app, Method::DELETE, version, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(app, Method::DELETE, version, Some(&alice)).await, StatusCode::FORBIDDEN);
    assert_eq!(status(app, Method::DELETE, version, Some(ci_bearer)).await, StatusCode::OK);
    // Resync is a write.
    assert_eq!(status(app, Method::POST, "/api/team-a/resync", Some(&bob)).await, StatusCode::FORBIDDEN);
    assert_eq!(status(app, Method::POST, "/api/team-a/resync", Some(ci_bearer)).await, StatusCode::OK);
    assert_eq!(status(app, Method::POST, "/api/resync", Some(ci_bearer)).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refusals_carry_the_challenge_and_a_json_error() {
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    let r = app.send(Method::GET, "/team-a/index.yaml", Vec::new()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"ChartMuseum\"");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json; charset=utf-8");
    assert_eq!(body_text(r).await, r#"{"error":"unauthorized"}"#);
    for bad in [
        basic("alice", "wrong"),
        basic("nobody", "x"),
        basic("ci", "wrong-token"),
        "Bearer wrong-token".to_owned(),
        "Bearer".to_owned(),
        "Digest x=1".to_owned(),
        "Basic !!!".to_owned(),
    ] {
        // Even where anonymous access is allowed: a client learns its credentials are wrong.
        let r = app.send_with(Method::GET, "/public/index.yaml", &[("authorization", &bad)], vec![]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE), "{bad}");
        let body = body_text(r).await;
        assert!(body.starts_with(r#"{"error":"unauthorized"#), "{bad}: {body}");
        assert!(!body.contains("alice") && !body.contains("nobody"), "no user names in answers: {body}");
    }
    // A refused upload is never read: the connection is closed after the answer, so that the
    // client does not send its next request into the rest of the body.
    let r = app.send_with(Method::POST, "/api/team-a/charts", &[("content-length", "9")], b"123456789".to_vec()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()[header::CONNECTION], "close");
    let r = app.send(Method::GET, "/team-a/index.yaml", Vec::new()).await;
    assert!(!r.headers().contains_key(header::CONNECTION), "requests without a body keep their connection");
    // Not even a header of bytes: 401 too.
    let req = Request::builder()
        .uri("/public/index.yaml")
        .header("authorization", axum::http::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap())
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.router.clone().oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_and_info_are_always_open_and_unknown_paths_stay_404() {
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    for auth in [None, Some("Basic garbage"), Some("Bearer nope")] {
        assert_eq!(status(app, Method::GET, "/health", auth).await, StatusCode::OK, "{auth:?}");
        assert_eq!(status(app, Method::GET, "/info", auth).await, StatusCode::OK, "{auth:?}");
    }
    // No route: 404 before any credentials are asked for.
    assert_eq!(status(app, Method::PUT, "/api/team-a/charts", None).await, StatusCode::NOT_FOUND);
    assert_eq!(status(app, Method::GET, "/nothing/here/at/all", None).await, StatusCode::NOT_FOUND);
    // An invalid tenant: 400 before any credentials are asked for.
    assert_eq!(status(app, Method::GET, "/../index.yaml", None).await, StatusCode::BAD_REQUEST);
}

/// The tenant names `/api/tenants` lists for a caller.
async fn listed(app: &TestApp, auth: Option<&str>) -> Vec<String> {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let r = app.send_with(Method::GET, "/api/tenants", &headers, vec![]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
    v["tenants"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn tenants_listing_shows_what_the_caller_may_pull() {
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    for tenant in ["team-a", "team-b", "public"] {
        let tenant = Tenant::parse(tenant).unwrap();
        app.repo.publish(&tenant, chart("x", "1.0.0", "x").into(), None, false).await.unwrap();
    }
    assert_eq!(listed(app, None).await, ["public"]);
    assert_eq!(listed(app, Some("Bearer ci-token")).await, ["team-a"]);
    assert_eq!(listed(app, Some(&basic("bob", "bob-pw"))).await, ["team-b"]);
    assert_eq!(listed(app, Some(&basic("alice", "alice-pw"))).await, ["public", "team-a", "team-b"]);
    let r = app.send_with(Method::GET, "/api/tenants", &[("authorization", "Bearer wrong")], vec![]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "bad credentials are refused here too");
}

#[tokio::test]
async fn chartmuseum_single_user_and_anonymous_get() {
    let app = test_app(
        ArgValues::new()
            .with(&options::BASIC_AUTH_USER, "admin")
            .with(&options::BASIC_AUTH_PASS, "s3cret")
            .with(&options::AUTH_ANONYMOUS_GET, "true"),
    )
    .await;
    let admin = basic("admin", "s3cret");
    assert_eq!(status(&app, Method::POST, "/api/charts", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, Method::POST, "/api/charts", Some(&basic("admin", "x"))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, Method::POST, "/api/charts", Some(&admin)).await, StatusCode::CREATED);
    assert_eq!(status(&app, Method::GET, "/index.yaml", None).await, StatusCode::OK);
    assert_eq!(status(&app, Method::GET, "/api/charts/demo/1.0.0", None).await, StatusCode::OK);
    assert_eq!(status(&app, Method::DELETE, "/api/charts/demo/1.0.0", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&app, Method::DELETE, "/api/charts/demo/1.0.0", Some(&admin)).await, StatusCode::OK);
    // Without AUTH_ANONYMOUS_GET, reads need the user too.
    let closed =
        test_app(ArgValues::new().with(&options::BASIC_AUTH_USER, "admin").with(&options::BASIC_AUTH_PASS, "s3cret"))
            .await;
    assert_eq!(status(&closed, Method::GET, "/index.yaml", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&closed, Method::GET, "/", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&closed, Method::GET, "/index.yaml", Some(&admin)).await, StatusCode::OK);
}

#[tokio::test]
async fn without_authentication_credentials_are_ignored() {
    let app = test_app(ArgValues::default()).await;
    for auth in [None, Some("Basic garbage"), Some("Bearer whatever")] {
        assert_eq!(status(&app, Method::POST, "/api/charts?force", auth).await, StatusCode::CREATED, "{auth:?}");
        assert_eq!(status(&app, Method::GET, "/index.yaml", auth).await, StatusCode::OK, "{auth:?}");
    }
}

#[tokio::test]
async fn a_changed_auth_config_is_picked_up_and_a_bad_one_keeps_the_old() {
    let s = secured(ArgValues::new().with(&options::AUTH_CONFIG_POLL_INTERVAL, "0")).await;
    let app = &s.app;
    let path = s._dir.path().join("auth.yaml");
    let carol = bcrypt::hash("carol-pw", 4).unwrap();
    let alice_state = status(app, Method::GET, "/team-b/index.yaml", Some(&basic("alice", "alice-pw"))).await;
    assert_eq!(alice_state, StatusCode::OK);
    std::fs::write(
        &path,
        format!("users:\n  carol: \"{carol}\"\ngrants:\n  - to: [carol]\n    tenants: [team-b]\n    actions: [pull]\n"),
    )
    .unwrap();
    // The server reloads on SIGHUP or its watcher; here the application's Auth directly.
    let auth = app.auth.clone();
    auth.reload().unwrap();
    assert_eq!(status(app, Method::GET, "/team-b/index.yaml", Some(&basic("carol", "carol-pw"))).await, StatusCode::OK);
    assert_eq!(
        status(app, Method::GET, "/team-b/index.yaml", Some(&basic("alice", "alice-pw"))).await,
        StatusCode::UNAUTHORIZED
    );
    std::fs::write(&path, "users:\n  dave: plaintext\n").unwrap();
    assert!(auth.reload().is_err());
    assert_eq!(
        status(app, Method::GET, "/team-b/index.yaml", Some(&basic("carol", "carol-pw"))).await,
        StatusCode::OK,
        "a bad file keeps the configuration in force"
    );
}

/// What the gate learned is in the request's labels for the access log and the metrics (which
/// the access log also puts on the response): the route template, the tenant and the identity;
/// unmatched paths share one template.
#[tokio::test]
async fn responses_carry_route_template_tenant_and_identity() {
    use chartroom_server::request_info::{RequestLabels, UNMATCHED};
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    let facts = |r: &Response| {
        let labels = r.extensions().get::<RequestLabels>().expect("the access log's labels");
        (Some(labels.route().to_string()), labels.tenant(), labels.identity())
    };
    let alice = basic("alice", "alice-pw");
    let r = app.send_with(Method::GET, "/api/team-a/charts/x/1.0.0", &[("authorization", &alice)], vec![]).await;
    assert_eq!(
        facts(&r),
        (Some("/api/:repo/charts/:name/:version".into()), Some("team-a".into()), Some("alice".into()))
    );
    let r = app.send_with(Method::POST, "/api/team-b/charts", &[("authorization", &alice)], vec![]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(facts(&r), (Some("/api/:repo/charts".into()), Some("team-b".into()), Some("alice".into())));
    let r = app.send(Method::GET, "/team-a/index.yaml", vec![]).await;
    assert_eq!(
        facts(&r),
        (Some("/:repo/index.yaml".into()), Some("team-a".into()), None),
        "refused before an identity"
    );
    let r = app.send(Method::GET, "/public/index.yaml", vec![]).await;
    assert_eq!(facts(&r).2.as_deref(), Some("anonymous"));
    let r = app.send(Method::GET, "/no/such/route/here", vec![]).await;
    assert_eq!(facts(&r), (Some(UNMATCHED.into()), None, None));
    let r = app.send(Method::GET, "/health", vec![]).await;
    assert_eq!(facts(&r), (Some("/health".into()), Some(String::new()), None));
}

/// The provenance re-verification report reads and changes nothing: `pull` on the tenant is
/// enough, and without it the gate refuses before any provenance file is read.
#[tokio::test]
async fn the_provenance_report_needs_pull_on_its_tenant() {
    let keyring = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/helm-test-key.pub");
    let s = secured(ArgValues::new().with(&options::PROVENANCE_KEYRING, keyring)).await;
    let app = &s.app;
    let bob = basic("bob", "bob-pw");
    for (who, tenant, want) in [
        (Some(bob.as_str()), "team-b", StatusCode::OK),
        (Some(bob.as_str()), "team-a", StatusCode::FORBIDDEN),
        (Some("Bearer ci-token"), "team-a", StatusCode::OK),
        (None, "public", StatusCode::OK),
        (None, "team-a", StatusCode::UNAUTHORIZED),
    ] {
        let path = format!("/api/{tenant}/provenance/verify");
        assert_eq!(status(app, Method::POST, &path, who).await, want, "{who:?} {path}");
    }
}
