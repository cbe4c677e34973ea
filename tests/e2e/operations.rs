//! Running Chartroom in production (issue 13): exact Prometheus metrics after a known sequence
//! (and no new series from random paths), readiness during a slow cold start and a storage
//! outage, per-client rate and upload limits, and CORS checked against the Fetch standard.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;

use crate::support::*;

/// A scrape: series (name with labels, as printed) → value.
async fn scrape(server: &Server) -> BTreeMap<String, f64> {
    let r = server.send("scrape".into(), server.client.get(server.root_url("/metrics"))).await;
    r.assert_status(200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    r.text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_owned(), v.parse::<f64>().unwrap_or(f64::NAN))))
        .collect()
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_a_known_sequence_exactly_and_random_paths_add_no_series() {
    // On S3 in both modes: stopping the S3 server is how this test makes one storage call fail.
    let target = StorageTarget::fresh_s3("charts");
    let s3 = target.s3().expect("an S3 target").clone();
    let flags = ["--enable-metrics", "--storage-poll-interval", "1h", "--cache-interval", "0", "--disable-statefiles"];
    let server = Server::start_with(target, &flags, &[]).await;
    let before = scrape(&server).await;

    server.upload_raw(ChartBuilder::chart("alpha", "1.0.0").build()).await.assert_status(201);
    server.upload_raw(ChartBuilder::chart("beta", "1.0.0").build()).await.assert_status(201);
    server.upload_raw(ChartBuilder::chart("alpha", "1.0.0").build()).await.assert_status(409);
    server.upload_raw(b"not a chart".to_vec()).await.assert_status(400);
    server.delete("/api/charts/beta/1.0.0").await.assert_status(200);
    for _ in 0..3 {
        server.get("/index.yaml").await.assert_status(200);
    }
    server.get("/api/charts/alpha").await.assert_status(200);
    server.get("/charts/alpha-1.0.0.tgz").await.assert_status(200);
    s3.kill();
    server.get("/charts/alpha-1.0.0.tgz").await.assert_status(503);
    s3.start_again();
    let after = scrape(&server).await;

    let requests = |code: &str, method: &str, url: &str| {
        delta(
            &before,
            &after,
            &format!("chartmuseum_requests_total{{code=\"{code}\",method=\"{method}\",url=\"{url}\"}}"),
        )
    };
    assert_eq!(requests("201", "POST", "/api/charts"), 2.0);
    assert_eq!(requests("409", "POST", "/api/charts"), 1.0);
    assert_eq!(requests("400", "POST", "/api/charts"), 1.0);
    assert_eq!(requests("200", "DELETE", "/api/charts/:name/:version"), 1.0);
    assert_eq!(requests("200", "GET", "/index.yaml"), 3.0);
    assert_eq!(requests("200", "GET", "/api/charts/:name"), 1.0);
    assert_eq!(requests("200", "GET", "/charts/:filename"), 1.0);
    assert_eq!(requests("503", "GET", "/charts/:filename"), 1.0);
    let count = |series: &str| delta(&before, &after, series);
    assert_eq!(
        count("chartmuseum_request_duration_seconds_count{code=\"200\",method=\"GET\",url=\"/index.yaml\"}"),
        3.0
    );
    assert_eq!(count("chartroom_uploads_total{outcome=\"stored\"}"), 2.0);
    assert_eq!(count("chartroom_uploads_total{outcome=\"conflict\"}"), 1.0);
    assert_eq!(count("chartroom_uploads_total{outcome=\"invalid\"}"), 1.0);
    // Two uploads (chart + change-log record each) and the delete's record; the 409's
    // create-only write refused by the store; the download during the outage.
    assert_eq!(count("chartroom_storage_requests_total{operation=\"put\",outcome=\"ok\"}"), 5.0);
    assert_eq!(count("chartroom_storage_requests_total{operation=\"put\",outcome=\"conflict\"}"), 1.0);
    assert_eq!(count("chartroom_storage_requests_total{operation=\"delete\",outcome=\"ok\"}"), 1.0);
    assert_eq!(count("chartroom_storage_requests_total{operation=\"get\",outcome=\"error\"}"), 1.0);
    assert_eq!(count("chartroom_index_etag_changes_total{repo=\"\"}"), 3.0);
    assert_eq!(after.get("chartmuseum_charts_served_total{repo=\"\"}"), Some(&1.0));
    assert_eq!(after.get("chartmuseum_chart_versions_served_total{repo=\"\"}"), Some(&1.0));
    let body = server.index_bytes().await.len() as f64;
    assert_eq!(after.get("chartroom_index_body_bytes{repo=\"\"}"), Some(&body));

    // Random paths and tenant names: after one request of each shape, 10,000 more add no series.
    let shapes = |n: u64| {
        [
            (Method::GET, format!("/team-{n}/index.yaml")),
            (Method::GET, format!("/api/org-{n}/charts")),
            (Method::GET, format!("/charts/random-{n}.tgz")),
            (Method::GET, format!("/api/charts/random-{n}")),
            (Method::POST, format!("/x{n}/api/charts")),
            (Method::GET, format!("/{n}/{n}/{n}")),
        ]
    };
    for (method, path) in shapes(0) {
        server.send(path.clone(), server.client.request(method, server.url(&path))).await;
    }
    let settled = scrape(&server).await;
    let statuses: Vec<u16> = futures::stream::iter(1..=10_000u64)
        .map(|n| {
            let (method, path) = shapes(n)[(n % 6) as usize].clone();
            let rb = server.client.request(method, server.url(&path));
            async move { rb.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| (400..500).contains(s)), "random paths are client errors");
    let finally = scrape(&server).await;
    let new: Vec<&String> = finally.keys().filter(|k| !settled.contains_key(*k)).collect();
    assert!(new.is_empty(), "10,000 random requests created series: {new:?}");
}

#[tokio::test]
async fn a_metrics_listener_serves_metrics_apart_from_the_repository() {
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let server = Server::start(&["--enable-metrics", "--metrics-listen", &listen, "--context-path", "/ctx"]).await;
    server.upload_ok(ChartBuilder::chart("apart", "1.0.0").build()).await;
    server.get("/index.yaml").await.assert_status(200);
    // Not on the repository's port: neither outside nor inside the context path.
    server.send("main /metrics".into(), server.client.get(server.root_url("/metrics"))).await.assert_status(404);
    server.get("/metrics").await.assert_status(404);
    let apart = |path: &str| server.client.get(format!("http://{listen}{path}"));
    let r = server.send("metrics listener".into(), apart("/metrics")).await;
    r.assert_status(200);
    let text = r.text();
    assert!(text.contains("chartmuseum_chart_versions_served_total{repo=\"\"} 1"), "{text}");
    assert!(
        text.contains("chartmuseum_requests_total{code=\"200\",method=\"GET\",url=\"/index.yaml\"} 1"),
        "requests on the main port are counted: {text}"
    );
    // The listener serves nothing else.
    server.send("index on the metrics listener".into(), apart("/ctx/index.yaml")).await.assert_status(404);
    server.send("health on the metrics listener".into(), apart("/ctx/health")).await.assert_status(404);
}

#[tokio::test]
async fn readiness_is_503_during_a_slow_cold_start() {
    let mut server = Server::start(&["--disable-statefiles", "--index-limit", "1"]).await;
    server.stop();
    for n in 0..3000 {
        let tgz = ChartBuilder::chart("many", &format!("1.0.{n}")).build();
        std::fs::write(server.storage_dir().join(format!("many-1.0.{n}.tgz")), tgz).unwrap();
    }
    server.launch_mut().ready_path = "/health";
    server.spawn_and_wait().await;
    // The port answers before the index is built: alive, not ready, everything else 503.
    let ready = server.get("/health/ready").await;
    ready.assert_status(503);
    assert!(ready.error_message().contains("starting"), "{}", ready.text());
    let other = server.get("/index.yaml").await;
    other.assert_status(503);
    assert_eq!(other.header("retry-after").as_deref(), Some("5"));
    let health = server.get("/health").await;
    health.assert_status(200);
    assert_eq!(health.json()["status"], "starting");
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.get("/health/ready").await.status != 200 {
        assert!(Instant::now() < deadline, "the index is built eventually");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.index().await.entries.get("many").map(Vec::len), Some(3000));
}

#[tokio::test]
async fn readiness_is_503_during_a_storage_outage_and_recovers() {
    let target = StorageTarget::fresh_s3("charts");
    let s3 = target.s3().expect("S3").clone();
    let server = Server::start_with(target, &["--storage-poll-interval", "100ms"], &[]).await;
    server.upload_ok(ChartBuilder::chart("kept", "1.0.0").build()).await;
    s3.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    let not_ready = loop {
        let r = server.get("/health/ready").await;
        if r.status == 503 {
            break r;
        }
        assert!(Instant::now() < deadline, "readiness turns 503 when the store stops answering");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(not_ready.error_message().contains("storage is unreachable"), "{}", not_ready.text());
    // Liveness stays 200 and the index is still served from memory.
    server.get("/health").await.assert_status(200);
    server.get("/index.yaml").await.assert_status(200);
    s3.start_again();
    while server.get("/health/ready").await.status != 200 {
        assert!(Instant::now() < deadline, "ready again once the store answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_recovers() {
    let server = Server::start(&["--rate-limit", "1", "--rate-limit-burst", "3"]).await;
    for _ in 0..3 {
        server.get("/index.yaml").await.assert_status(200);
    }
    let limited = server.get("/index.yaml").await;
    limited.assert_status(429);
    assert!(limited.error_message().contains("--rate-limit"), "{}", limited.text());
    let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    // The distribution API's clients get its own error body.
    let oci = server.get("/v2/").await;
    oci.assert_status(429);
    assert_eq!(oci.json()["errors"][0]["code"], "TOOMANYREQUESTS", "{}", oci.text());
    assert!(oci.header("retry-after").is_some());
    // Probes are never limited.
    server.get("/health").await.assert_status(200);
    server.get("/health/ready").await.assert_status(200);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    server.get("/index.yaml").await.assert_status(200);
}

#[tokio::test]
async fn concurrent_uploads_per_client_are_bounded() {
    let server = Server::start(&["--max-concurrent-uploads", "1"]).await;
    let tgz = ChartBuilder::chart("slow", "1.0.0").build();
    let mut sock = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /api/charts HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        tgz.len()
    );
    sock.write_all(head.as_bytes()).unwrap();
    sock.write_all(&tgz[..tgz.len() / 2]).unwrap();
    // Give the server time to read the head: from then on the first upload is in progress
    // (the same wait as the graceful-shutdown test's).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let refused = server.upload_raw(ChartBuilder::chart("other", "1.0.0").build()).await;
    refused.assert_status(429);
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    sock.write_all(&tgz[tgz.len() / 2..]).unwrap();
    let mut response = String::new();
    sock.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    server.upload_raw(ChartBuilder::chart("other", "1.0.0").build()).await.assert_status(201);
}

/// The Fetch standard's CORS-preflight fetch, as a browser runs it: an ok status, the origin
/// allowed by `Access-Control-Allow-Origin` (exactly, or `*` without credentials), the method
/// safelisted or in `Access-Control-Allow-Methods`, and every non-safelisted request header in
/// `Access-Control-Allow-Headers` (`*` never covers `authorization`).
fn preflight_allows(r: &Resp, origin: &str, method: &str, headers: &[&str]) -> bool {
    let list = |name: &str| -> Vec<String> {
        r.header_all(name)
            .unwrap_or_default()
            .split(',')
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let ok = (200..300).contains(&r.status);
    let origin_ok = r.header("access-control-allow-origin").is_some_and(|o| o == origin || o == "*");
    let methods = list("access-control-allow-methods");
    let method_ok =
        ["GET", "HEAD", "POST"].contains(&method) || methods.iter().any(|m| m.eq_ignore_ascii_case(method) || m == "*");
    let allowed = list("access-control-allow-headers");
    let headers_ok = headers.iter().all(|h| {
        let h = h.to_ascii_lowercase();
        allowed.contains(&h) || (h != "authorization" && allowed.iter().any(|a| a == "*"))
    });
    ok && origin_ok && method_ok && headers_ok
}

#[tokio::test]
async fn cors_preflight_and_simple_requests_follow_the_fetch_standard() {
    let ui = "https://ui.example.com";
    let server = Server::start(&["--cors-alloworigin", "https://ui.example.com, https://other.example"]).await;
    let options = |origin: &str, method: &str, headers: &str| {
        let mut rb = server
            .client
            .request(Method::OPTIONS, server.url("/api/charts/demo/1.0.0"))
            .header("origin", origin)
            .header("access-control-request-method", method);
        if !headers.is_empty() {
            rb = rb.header("access-control-request-headers", headers);
        }
        rb
    };
    let r = server.send("preflight".into(), options(ui, "DELETE", "authorization,content-type")).await;
    assert!(preflight_allows(&r, ui, "DELETE", &["authorization", "content-type"]), "{:?}", r.headers);
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some(ui), "the origin, not *");
    assert!(r.header_all("vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
    let r = server.send("preflight for PUT".into(), options(ui, "PUT", "")).await;
    assert!(!preflight_allows(&r, ui, "PUT", &[]), "PUT is not an allowed method");
    let r = server.send("preflight, unknown header".into(), options(ui, "POST", "x-custom")).await;
    assert!(!preflight_allows(&r, ui, "POST", &["x-custom"]));
    let r = server.send("preflight, other origin".into(), options("https://evil.example", "GET", "")).await;
    r.assert_status(403);
    assert!(r.header("access-control-allow-origin").is_none());
    // An OPTIONS that is not a preflight is routed as usual (no OPTIONS routes: 404).
    let plain = server.client.request(Method::OPTIONS, server.url("/index.yaml")).header("origin", ui);
    server.send("plain OPTIONS".into(), plain).await.assert_status(404);

    // Simple requests: the origin is allowed on the index, the API and errors alike.
    for (path, status) in [("/index.yaml", 200), ("/api/charts", 200), ("/api/charts/missing", 404)] {
        let r = server.get_with(path, &[("origin", ui)]).await;
        r.assert_status(status);
        assert_eq!(r.header("access-control-allow-origin").as_deref(), Some(ui), "{path}");
        let exposed = r.header("access-control-expose-headers").unwrap_or_default();
        assert!(exposed.contains("etag") && exposed.contains("x-request-id"), "{exposed}");
        assert!(r.header_all("vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")), "{path}");
    }
    let r = server.get_with("/index.yaml", &[("origin", "https://evil.example")]).await;
    assert!(r.header("access-control-allow-origin").is_none());
    let r = server.get("/index.yaml").await;
    assert!(r.header("access-control-allow-origin").is_none(), "no Origin, no CORS headers");

    let any = Server::start(&["--cors-alloworigin", "*"]).await;
    let r = any.get_with("/index.yaml", &[("origin", "https://anyone.example")]).await;
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none(), "* never goes with credentials");
}

/// With tenants (`--depth 1`) and authentication on: a known sequence across two tenants with
/// one 401 and one 403 gives exact `chartroom_auth_failures_total` values and request counters
/// under the route templates (no tenant name in a label value); the access log names the route,
/// the tenant and the identity; readiness is open at depth 1; random tenant names (refused,
/// unmatched or invalid) add no series.
#[tokio::test]
async fn tenant_metrics_use_route_templates_and_count_auth_failures_exactly() {
    const ALICE_PASS: &str = "alice-metrics-pw";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth.yaml");
    let grants = format!(
        "users:\n  alice: \"{}\"\ngrants:\n  - to: [alice]\n    tenants: [team-a]\n    actions: [pull, push]\n  \
         - to: [alice]\n    tenants: [team-b]\n    actions: [pull]\n",
        bcrypt_hash(ALICE_PASS)
    );
    std::fs::write(&config, grants).unwrap();
    let flags = [
        "--enable-metrics",
        "--depth",
        "1",
        "--auth-config",
        config.to_str().unwrap(),
        "--storage-poll-interval",
        "1h",
        "--cache-interval",
        "0",
        "--disable-statefiles",
    ];
    let server = Server::start_with(StorageTarget::from_env(), &flags, &[]).await;
    let alice = basic("alice", ALICE_PASS);
    server.get("/health/ready").await.assert_status(200);
    let before = scrape(&server).await;

    let tgz = ChartBuilder::chart("alpha", "1.0.0").build();
    server.cm_push("/api/team-a/charts", tgz.clone(), "alpha.tgz", Some(&alice)).await.assert_status(201);
    server.cm_push("/api/team-b/charts", tgz, "alpha.tgz", Some(&alice)).await.assert_status(403);
    server.get_as("/team-a/index.yaml", None).await.assert_status(401);
    for _ in 0..2 {
        server.get_as("/team-a/index.yaml", Some(&alice)).await.assert_status(200);
    }
    server.get_as("/team-b/index.yaml", Some(&alice)).await.assert_status(200);
    server.get_as("/team-a/charts/alpha-1.0.0.tgz", Some(&alice)).await.assert_status(200);
    server.get_as("/api/team-a/charts/alpha", Some(&alice)).await.assert_status(200);
    let after = scrape(&server).await;

    let count = |series: &str| delta(&before, &after, series);
    let failures: Vec<(&String, f64)> = after
        .keys()
        .filter(|k| k.starts_with("chartroom_auth_failures_total{"))
        .map(|k| (k, count(k)))
        .filter(|(_, d)| *d != 0.0)
        .collect();
    assert_eq!(
        failures,
        [
            (&"chartroom_auth_failures_total{reason=\"forbidden\"}".to_owned(), 1.0),
            (&"chartroom_auth_failures_total{reason=\"missing_credentials\"}".to_owned(), 1.0),
        ],
        "exactly one 403 and one 401"
    );
    let requests = |code: &str, method: &str, url: &str| {
        count(&format!("chartmuseum_requests_total{{code=\"{code}\",method=\"{method}\",url=\"{url}\"}}"))
    };
    assert_eq!(requests("201", "POST", "/api/:repo/charts"), 1.0);
    assert_eq!(requests("403", "POST", "/api/:repo/charts"), 1.0);
    assert_eq!(requests("401", "GET", "/:repo/index.yaml"), 1.0);
    assert_eq!(requests("200", "GET", "/:repo/index.yaml"), 3.0);
    assert_eq!(requests("200", "GET", "/:repo/charts/:filename"), 1.0);
    assert_eq!(requests("200", "GET", "/api/:repo/charts/:name"), 1.0);
    // Tenants appear only as `repo` of the tenants that exist: team-a holds a chart, team-b none.
    let with_tenant: Vec<&String> = after.keys().filter(|k| k.contains("team-")).collect();
    assert_eq!(
        with_tenant,
        [
            "chartmuseum_chart_versions_served_total{repo=\"team-a\"}",
            "chartmuseum_charts_served_total{repo=\"team-a\"}",
            "chartroom_index_body_bytes{repo=\"team-a\"}",
            "chartroom_index_etag_changes_total{repo=\"team-a\"}",
        ],
        "tenant names only as the repo label of existing tenants"
    );
    assert_eq!(after.get("chartmuseum_charts_served_total{repo=\"team-a\"}"), Some(&1.0));
    assert_eq!(after.get("chartmuseum_chart_versions_served_total{repo=\"team-a\"}"), Some(&1.0));

    // The access log: one line per request with its route template, tenant and identity.
    let log = server.log();
    let served: Vec<&str> = log.lines().filter(|l| l.contains("request served")).collect();
    let line_with = |parts: &[&str]| served.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(
        line_with(&["route=/api/:repo/charts", "tenant=\"team-b\"", "identity=\"alice\"", "status=403"]),
        "{served:#?}"
    );
    assert!(
        line_with(&["route=/api/:repo/charts", "tenant=\"team-a\"", "identity=\"alice\"", "status=201"]),
        "{served:#?}"
    );
    assert!(line_with(&["route=/:repo/index.yaml", "tenant=\"team-a\"", "identity=\"\"", "status=401"]), "{served:#?}");
    assert!(!log.contains(ALICE_PASS) && !log.contains(&alice[6..]), "no credentials in the log");

    // Random tenant names, refused (401, 403), unmatched (404) or invalid (400): after one request
    // of each shape, 2,000 more add no series.
    let shapes = |n: u64| -> [(Option<String>, String); 5] {
        [
            (None, format!("/team-{n}/index.yaml")),
            (Some(alice.clone()), format!("/team-{n}/index.yaml")),
            (Some(alice.clone()), format!("/api/org-{n}/charts/x")),
            (None, format!("/{n}/{n}/index.yaml")),
            (None, format!("/.t{n}/index.yaml")),
        ]
    };
    for (auth, path) in shapes(0) {
        let mut rb = server.client.get(server.url(&path));
        if let Some(auth) = auth {
            rb = rb.header("authorization", auth);
        }
        server.send(path.clone(), rb).await;
    }
    let settled = scrape(&server).await;
    let statuses: Vec<u16> = futures::stream::iter(1..=2_000u64)
        .map(|n| {
            let (auth, path) = shapes(n)[(n % 5) as usize].clone();
            let mut rb = server.client.get(server.url(&path));
            if let Some(auth) = auth {
                rb = rb.header("authorization", auth);
            }
            async move { rb.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| [400, 401, 403, 404].contains(s)), "{:?}", &statuses[..10]);
    let finally = scrape(&server).await;
    let new: Vec<&String> = finally.keys().filter(|k| !settled.contains_key(*k)).collect();
    assert!(new.is_empty(), "random tenant names created series: {new:?}");
    assert_eq!(
        delta(&settled, &finally, "chartroom_auth_failures_total{reason=\"forbidden\"}"),
        800.0,
        "every refused grant counted"
    );
}

/// `--statefile-delay` puts the state write off while it has not passed (a tenth of it after the
/// changes pause): the state on disk stays as it was after an upload; a clean shutdown writes it,
/// and the next start serves the upload from it without opening the archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefile_delay_puts_the_state_write_off_until_shutdown() {
    let mut server = Server::start(&["--statefile-delay", "1h"]).await;
    let state = server.storage_dir().join(".chartroom/index-state.bin");
    let before = std::fs::read(&state).ok();
    server.upload_ok(ChartBuilder::chart("later", "1.0.0").build()).await;
    // With the default (10 s) the state is written about 1 s after this upload.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(std::fs::read(&state).ok(), before, "the state was written before the delay passed");
    let status = server.stop();
    assert!(status.success(), "clean shutdown: {status}");
    let written = std::fs::read(&state).expect("the shutdown writes the state");
    assert!(written.windows(b"later-1.0.0.tgz".len()).any(|w| w == b"later-1.0.0.tgz"), "the upload is in the state");
    server.spawn_and_wait().await;
    assert_eq!(server.index().await.versions("later"), ["1.0.0"]);
    let log = server.log();
    assert!(log.contains("opened=0") && log.contains("reused=1"), "restart reads the state, no archive:\n{log}");
}
