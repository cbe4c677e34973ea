//! Webhooks: a receiver written in Python verifies every request with the Standard Webhooks
//! reference library (PyPI `standardwebhooks`, `.tools/bin/webhooks-python`, or
//! `CHARTROOM_WEBHOOKS_PYTHON`; installed by `scripts/install-test-tools.sh`; missing = failure):
//! retries after failures with one `webhook-id`, the three event kinds with their payload, the
//! delivery report and metric, delivery after a restart, and uploads that do not wait for a
//! receiver that takes a second per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chartroom_testkit::process::free_port;
use chartroom_testkit::{WEBHOOK_SECRET as SECRET, WebhookReceiver as Receiver};
use serde_json::Value;

use crate::support::*;

fn webhook_args(port: u16) -> Vec<String> {
    vec![
        "--webhook".into(),
        format!("rx=http://127.0.0.1:{port}/hook"),
        "--webhook-secret".into(),
        format!("rx={SECRET}"),
        "--enable-metrics".into(),
    ]
}

async fn start_server(port: u16, extra: &[&str]) -> Server {
    let args = webhook_args(port);
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    Server::start(&all).await
}

fn body(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().expect("body")).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_twice_gets_the_event_three_times_with_one_id_and_every_kind_follows() {
    let port = free_port();
    let receiver = Receiver::start(port, 2, 0.0).await;
    let server = start_server(port, &[]).await;
    let first = ChartBuilder::chart("hooked", "1.0.0").build();
    server.upload_ok(first.clone()).await;

    let got = receiver.wait_for(3).await;
    let ids: Vec<&str> = got.iter().map(|r| r["id"].as_str().expect("webhook-id")).collect();
    assert!(ids[0].starts_with("msg_"), "{ids:?}");
    assert_eq!(ids, [ids[0]; 3], "one webhook-id for every attempt");
    assert!(got.iter().all(|r| r["verified"] == true), "standardwebhooks verified every signature: {got:#?}");
    let statuses: Vec<i64> = got.iter().map(|r| r["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 204]);
    assert!(got.iter().all(|r| r["body"] == got[0]["body"]), "every attempt sends the same body");
    let event = body(&got[0]);
    assert_eq!(event["type"], "chart.pushed");
    let data = &event["data"];
    assert_eq!(
        (data["tenant"].as_str(), data["name"].as_str(), data["version"].as_str()),
        (Some(""), Some("hooked"), Some("1.0.0"))
    );
    assert_eq!(data["digest"].as_str(), Some(sha256_hex(&first).as_str()));
    assert_eq!(data["urls"], serde_json::json!(["charts/hooked-1.0.0.tgz"]));
    assert!(data["identity"].is_string() && data["time"].is_string(), "{data}");

    // The report and the metric show the two failures and the delivery.
    let report = server.get("/api/webhooks/deliveries").await;
    report.assert_status(200);
    let report = report.json();
    assert_eq!(report["pending"], serde_json::json!([]));
    let outcomes: Vec<&str> = report["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["id"] == ids[0])
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["delivered", "failed", "failed"], "newest first: {report}");
    assert_eq!(report["endpoints"][0]["url"], format!("http://127.0.0.1:{port}/hook"));
    assert!(!report.to_string().contains("whsec_"), "no secret in the report");
    let metrics = server.send("scrape".into(), server.client.get(server.root_url("/metrics"))).await.text();
    assert!(metrics.contains("chartroom_webhook_deliveries_total{endpoint=\"rx\",outcome=\"failed\"} 2"), "{metrics}");
    assert!(
        metrics.contains("chartroom_webhook_deliveries_total{endpoint=\"rx\",outcome=\"delivered\"} 1"),
        "{metrics}"
    );

    // Overwritten (?force) and deleted, in that order, each with its own id.
    let second = ChartBuilder::chart("hooked", "1.0.0").file("README.md", "new bytes").build();
    server.upload_raw_query(second.clone(), "?force").await.assert_status(201);
    server.delete("/api/charts/hooked/1.0.0").await.assert_status(200);
    // A refused write is no event.
    server
        .upload_raw(ChartBuilder::chart("hooked", "9.9.9").entry(TarEntry::symlink("hooked/x", "/etc/passwd")).build())
        .await
        .assert_status(400);
    let got = receiver.wait_for(5).await;
    let kinds: Vec<String> = got[3..].iter().map(|r| body(r)["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["chart.overwritten", "chart.deleted"]);
    assert_eq!(body(&got[3])["data"]["digest"].as_str(), Some(sha256_hex(&second).as_str()));
    assert_eq!(body(&got[4])["data"]["digest"].as_str(), Some(sha256_hex(&second).as_str()));
    assert!(got[3..].iter().all(|r| r["verified"] == true && r["status"] == 204));
    assert_ne!(got[3]["id"], got[4]["id"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests().len(), 5, "nothing more: {:#?}", receiver.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_accepted_before_a_restart_is_delivered_after_it() {
    let port = free_port();
    // No receiver yet: every attempt fails (connection refused).
    let mut server = start_server(port, &[]).await;
    server.upload_ok(ChartBuilder::chart("later", "1.0.0").build()).await;
    let pending = server.get("/api/webhooks/deliveries").await.json();
    let id = pending["pending"][0]["id"].as_str().expect("one pending event").to_owned();
    let stopped = server.stop();
    assert!(stopped.success(), "{stopped}");

    let receiver = Receiver::start(port, 0, 0.0).await;
    server.spawn_and_wait().await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0]["id"].as_str(), Some(id.as_str()), "the same webhook-id after the restart");
    assert_eq!(got[0]["verified"], true);
    assert_eq!(body(&got[0])["data"]["name"], "later");
    let pending = eventually(Duration::from_secs(10), || async {
        server.get("/api/webhooks/deliveries").await.json()["pending"] == serde_json::json!([])
    });
    assert!(pending.await, "nothing left pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_uploads_do_not_wait_for_a_receiver_taking_a_second_per_request() {
    let port = free_port();
    let receiver = Receiver::start(port, 0, 1.0).await;
    let server = Arc::new(start_server(port, &[]).await);
    let total = 1000;
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (server, next) = (server.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        return;
                    }
                    server
                        .upload_ok(ChartBuilder::chart(&format!("load{}", i % 10), &format!("1.{i}.0")).build())
                        .await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    // Every upload has its answer; the receiver, one request a second, has seen a few events at
    // most: the uploads did not wait for delivery. All the others are queued.
    let delivered = receiver.requests().len();
    let report = server.get("/api/webhooks/deliveries").await.json();
    let pending = report["pending"].as_array().expect("pending").len();
    assert!(delivered < total / 10, "{delivered} of {total} delivered while uploading");
    assert!(pending + delivered + 1 >= total, "{pending} pending and {delivered} delivered of {total}");
    let metrics = server.send("scrape".into(), server.client.get(server.root_url("/metrics"))).await.text();
    let depth = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chartroom_webhook_queue_depth{endpoint=\"rx\"} "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("queue depth metric");
    assert!(depth >= (total / 2) as f64, "queue depth {depth}");
    assert!(receiver.requests().iter().all(|r| r["verified"] == true));
}
