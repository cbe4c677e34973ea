//! The change feed over HTTP (`GET /api/events`): cursors, the history window, grants, a long
//! poll, and several replicas over one store agreeing on cursors and order.

use std::time::Duration;

use super::auth::{basic, secured};
use super::*;

/// One answer of the feed: (op, tenant, name, version) per event, and the next cursor.
async fn feed(app: &TestApp, query: &str, auth: Option<&str>) -> (Vec<(String, String, String, String)>, String) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let r = app.send_with(Method::GET, &format!("/api/events{query}"), &headers, vec![]).await;
    let status = r.status();
    let body = body_text(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_owned();
            (s("op"), s("tenant"), s("name"), s("version"))
        })
        .collect();
    (events, v["next"].as_str().unwrap().to_owned())
}

fn ev(op: &str, tenant: &str, name: &str, version: &str) -> (String, String, String, String) {
    (op.into(), tenant.into(), name.into(), version.into())
}

/// Reads the feed from `since` until `want` events arrived (records become visible once they
/// are `FEED_SETTLE` old), with long polls.
async fn follow(
    app: &TestApp,
    since: &str,
    want: usize,
    auth: Option<&str>,
) -> (Vec<(String, String, String, String)>, String) {
    let mut cursor = since.to_owned();
    let mut seen = Vec::new();
    while seen.len() < want {
        let (events, next) = feed(app, &format!("?wait=5s&limit=2&since={cursor}"), auth).await;
        assert!(!events.is_empty(), "a 5 s long poll ended with nothing; have {seen:?}");
        seen.extend(events);
        cursor = next;
    }
    (seen, cursor)
}

#[tokio::test]
async fn bad_queries_are_400_and_an_old_cursor_is_410() {
    let app = test_app(ArgValues::default()).await;
    for (query, says) in [
        ("?since=nonsense", "invalid cursor: unknown format"),
        ("?since=1.5.r-x", "invalid cursor: bad position"),
        ("?wait=soon", "wait: "),
        ("?limit=0", "limit: expected 1 to 1000"),
        ("?limit=1001", "limit: expected 1 to 1000"),
    ] {
        let (status, body) = app.get(&format!("/api/events{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
    // A cursor made before the history window (ten minutes of change log).
    let old = jiff::Timestamp::now().as_millisecond() - 11 * 60 * 1000;
    let (status, body) = app.get(&format!("/api/events?since=1.{old}")).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("resync"), "{body}");
    // A recent one is fine.
    let recent = jiff::Timestamp::now().as_millisecond() - 60 * 1000;
    assert_eq!(app.get(&format!("/api/events?since=1.{recent}")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_cursor_pointing_before_the_first_record_left_is_410() {
    let app = test_app(ArgValues::default()).await;
    for v in ["1.0.0", "2.0.0"] {
        app.send(Method::POST, "/api/charts", chart("demo", v, "d")).await;
    }
    let (seen, _) = follow(&app, "", 2, None).await;
    assert_eq!(seen, [ev("put", "", "demo", "1.0.0"), ev("put", "", "demo", "2.0.0")]);
    let replica = app.repo.replica_id().to_owned();
    let seqs: Vec<u64> = app.storage.list_log_records(Some(&replica)).await.unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), 2, "one record per upload: {seqs:?}");
    let now = jiff::Timestamp::now().as_millisecond();
    // A follower that has seen the first record reads the second.
    let (events, _) = feed(&app, &format!("?since=1.{now}.{replica}-{}", seqs[0]), None).await;
    assert_eq!(events, [ev("put", "", "demo", "2.0.0")]);
    // Once the first record is pruned, a follower that has not seen it has missed it.
    app.storage.delete_log_record(&replica, seqs[0]).await.unwrap();
    let (status, body) = app.get(&format!("/api/events?since=1.{now}.{replica}-{}", seqs[0] - 1)).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let (events, _) = feed(&app, &format!("?since=1.{now}.{replica}-{}", seqs[0]), None).await;
    assert_eq!(events, [ev("put", "", "demo", "2.0.0")]);
}

#[tokio::test]
async fn the_feed_shows_puts_and_deletes_in_order_and_a_long_poll_returns_with_the_next_push() {
    let app = test_app(ArgValues::default()).await;
    let (events, start) = feed(&app, "", None).await;
    assert!(events.is_empty());
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(app.send(Method::POST, "/api/charts", chart("demo", v, "d")).await.status(), StatusCode::CREATED);
    }
    assert_eq!(app.send(Method::DELETE, "/api/charts/demo/1.0.0", vec![]).await.status(), StatusCode::OK);
    let (seen, cursor) = follow(&app, &start, 3, None).await;
    assert_eq!(
        seen,
        [ev("put", "", "demo", "1.0.0"), ev("put", "", "demo", "1.1.0"), ev("delete", "", "demo", "1.0.0")]
    );
    // Nothing new: an immediate answer is empty and keeps the position.
    let (events, _) = feed(&app, &format!("?since={cursor}"), None).await;
    assert!(events.is_empty(), "{events:?}");

    // A long poll started before the push returns with it (not after its 30 s).
    let poll = {
        let router = app.router.clone();
        let uri = format!("/api/events?wait=30s&since={cursor}");
        tokio::spawn(async move {
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            body_text(router.oneshot(req).await.unwrap()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished(), "the long poll waits while nothing changes");
    app.send(Method::POST, "/api/charts", chart("demo", "2.0.0", "d")).await;
    let body = poll.await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!((events[0]["op"].as_str(), events[0]["version"].as_str()), (Some("put"), Some("2.0.0")));
    assert_eq!(events[0]["digest"].as_str().unwrap().len(), 64, "{body}");
}

#[tokio::test]
async fn followers_see_only_the_tenants_they_may_pull_from() {
    let s = secured(ArgValues::new()).await;
    let app = &s.app;
    for tenant in ["team-a", "team-b", "public"] {
        let tenant = Tenant::parse(tenant).unwrap();
        app.repo.publish(&tenant, chart("x", "1.0.0", "x").into(), None, false).await.unwrap();
    }
    let alice = basic("alice", "alice-pw");
    let (all, _) = follow(app, "", 3, Some(&alice)).await;
    let mut tenants: Vec<String> = all.iter().map(|e| e.1.clone()).collect();
    tenants.sort();
    assert_eq!(tenants, ["public", "team-a", "team-b"]);
    let (bobs, _) = feed(app, "", Some(&basic("bob", "bob-pw"))).await;
    assert_eq!(bobs, [ev("put", "team-b", "x", "1.0.0")]);
    let (anonymous, _) = feed(app, "", None).await;
    assert_eq!(anonymous, [ev("put", "public", "x", "1.0.0")]);
    let (only, _) = feed(app, "?tenant=team-a", Some(&alice)).await;
    assert_eq!(only, [ev("put", "team-a", "x", "1.0.0")]);
    let r = app
        .send_with(Method::GET, "/api/events?tenant=team-a", &[("authorization", &basic("bob", "bob-pw"))], vec![])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.send(Method::GET, "/api/events?tenant=team-a", vec![]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    let r = app.send(Method::GET, "/api/events?tenant=..", vec![]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
