//! The distribution API in the access log's metrics: route templates (never a repository name),
//! and `chartroom_oci_upload_sessions_open`.

use std::collections::BTreeMap;

use reqwest::Method;

use super::{at, digest_of, send};
use crate::support::*;

async fn scrape(server: &Server) -> BTreeMap<String, f64> {
    let r = server.send("scrape".into(), server.client.get(server.root_url("/metrics"))).await;
    r.assert_status(200);
    r.text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_owned(), v.parse::<f64>().unwrap_or(f64::NAN))))
        .collect()
}

fn requests(scrape: &BTreeMap<String, f64>, code: &str, method: &str, url: &str) -> f64 {
    let series = format!("chartmuseum_requests_total{{code=\"{code}\",method=\"{method}\",url=\"{url}\"}}");
    scrape.get(&series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn oci_requests_are_counted_by_route_template_and_open_sessions_are_a_gauge() {
    let server = Server::start(&["--enable-metrics"]).await;
    server.upload_ok(ChartBuilder::chart("secret-chart-name", "1.0.0").build()).await;

    // Two sessions left open, one finished, one cancelled.
    let mut locations = Vec::new();
    for _ in 0..4 {
        let started = send(&server, Method::POST, "/v2/hidden-repo/blobs/uploads/", &[], vec![]).await;
        started.assert_status(202);
        locations.push(started.header("location").expect("Location"));
    }
    let blob = b"a finished blob".to_vec();
    let digest = digest_of(&blob);
    server
        .send("PUT".into(), at(&server, Method::PUT, &format!("{}?digest={digest}", locations[0])).body(blob))
        .await
        .assert_status(201);
    server.send("DELETE".into(), at(&server, Method::DELETE, &locations[1])).await.assert_status(204);
    let opened = scrape(&server).await;
    assert_eq!(opened.get("chartroom_oci_upload_sessions_open"), Some(&2.0), "two sessions open");

    server.get("/v2/secret-chart-name/manifests/1.0.0").await.assert_status(200);
    server.get("/v2/secret-chart-name/manifests/9.9.9").await.assert_status(404);
    server.get("/v2/secret-chart-name/tags/list").await.assert_status(200);
    server.get(&format!("/v2/hidden-repo/blobs/{digest}")).await.assert_status(200);
    server.get("/v2/").await.assert_status(200);
    server.get("/v2/BAD/tags/list").await.assert_status(400);
    let counted = scrape(&server).await;
    for (code, method, url, n) in [
        ("202", "POST", "/v2/:name/blobs/uploads/", 4.0),
        ("201", "PUT", "/v2/:name/blobs/uploads/:id", 1.0),
        ("204", "DELETE", "/v2/:name/blobs/uploads/:id", 1.0),
        ("200", "GET", "/v2/:name/manifests/:reference", 1.0),
        ("404", "GET", "/v2/:name/manifests/:reference", 1.0),
        ("200", "GET", "/v2/:name/tags/list", 1.0),
        ("200", "GET", "/v2/:name/blobs/:digest", 1.0),
        ("200", "GET", "/v2/", 1.0),
        // An invalid repository name has no template.
        ("400", "GET", "unmatched", 1.0),
    ] {
        assert_eq!(requests(&counted, code, method, url), n, "{code} {method} {url}");
    }
    let leaked: Vec<&String> =
        counted.keys().filter(|k| k.contains("hidden-repo") || k.contains("secret-chart-name")).collect();
    assert!(leaked.is_empty(), "repository names in labels: {leaked:?}");

    // Random repository names add no series.
    for n in 0..200 {
        server.get(&format!("/v2/random-{n}/manifests/1.0.{n}")).await.assert_status(404);
    }
    let settled = scrape(&server).await;
    for n in 200..400 {
        server.get(&format!("/v2/random-{n}/manifests/1.0.{n}")).await.assert_status(404);
    }
    let finally = scrape(&server).await;
    let new: Vec<&String> = finally.keys().filter(|k| !settled.contains_key(*k)).collect();
    assert!(new.is_empty(), "random repositories created series: {new:?}");
    assert_eq!(requests(&finally, "404", "GET", "/v2/:name/manifests/:reference"), 401.0);

    // The open sessions, cancelled: none left.
    for location in &locations[2..] {
        server.send("DELETE".into(), at(&server, Method::DELETE, location)).await.assert_status(204);
    }
    assert_eq!(scrape(&server).await.get("chartroom_oci_upload_sessions_open"), Some(&0.0));
}
