//! Cancelled writes (issue 17, item 3): a write, once started, finishes or rolls back whatever
//! happens to the request. Here `WRITE_TIMEOUT` answers the client while storage stalls in the
//! middle of the write; the write completes once storage answers, and storage and index agree.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chartroom_server::config::{ArgValues, options};
use chartroom_storage::faulty::{Fault, Faulty, Op};
use object_store::memory::InMemory;
use sha2::Digest;

use super::{TestApp, body_text, chart, faulty_app_with};

async fn faulty_app(args: ArgValues) -> (TestApp, Arc<Faulty<InMemory>>) {
    faulty_app_with(args, |_| {}).await
}

/// The write-timeout answer, then the write's own end: stored and indexed with the digest of
/// the stored bytes, so a retry is the right conflict and `helm pull` verifies.
#[tokio::test]
async fn a_write_timeout_answers_the_client_and_the_write_still_completes() {
    for (uri, nth_put, what) in [
        ("/api/charts", 0, "the chart write stalls"),
        ("/api/charts?force", 0, "a forced overwrite's chart write stalls"),
        ("/api/charts", 1, "the change-log write stalls after the chart is stored"),
    ] {
        let args = ArgValues::new().with(&options::WRITE_TIMEOUT, "1");
        let (app, faulty) = faulty_app(args).await;
        if uri.contains("force") {
            let r = app.send(Method::POST, "/api/charts", chart("demo", "1.0.0", "old")).await;
            assert_eq!(r.status(), StatusCode::CREATED, "{what}");
        }
        let bytes = chart("demo", "1.0.0", "new");
        faulty.inject(Some(Op::Put), nth_put, Fault::Hang);
        let r = app.send(Method::POST, uri, bytes.clone()).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert_eq!(body_text(r).await, r#"{"error":"request not completed within 1s (--write-timeout)"}"#);
        assert_eq!(faulty.hanging(), 1, "{what}: the write is still waiting for storage");

        faulty.release();
        app.repo.writes_settled().await;
        let stored = app.storage.read("demo-1.0.0.tgz").await.unwrap();
        assert_eq!(stored, bytes, "{what}");
        let (status, json) = app.get("/api/charts/demo/1.0.0").await;
        assert_eq!(status, StatusCode::OK, "{what}");
        let digest = hex::encode(sha2::Sha256::digest(&stored));
        assert!(json.contains(&format!("\"digest\":\"{digest}\"")), "{what}: the index lists the stored bytes: {json}");
        let retry = app.send(Method::POST, "/api/charts", bytes).await;
        assert_eq!(retry.status(), StatusCode::CONFLICT, "{what}: a retry is the right conflict");
    }
}

// ---- every storage step ------------------------------------------------------------------
//
// Each write request (raw upload, upload with provenance, `?force` overwrite, OCI manifest PUT)
// runs once cleanly to count its storage calls, then once per call with that call stalled and
// the request given up on at that point: by `WRITE_TIMEOUT` (the client gets 503), or by the
// client going away (the request's future dropped). Storage then comes back; storage and index
// must agree, and a retry must succeed or get the right conflict.

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/");

fn signtest() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}signtest-0.1.0.tgz")).unwrap()
}

fn signtest_prov() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}signtest-0.1.0.tgz.prov")).unwrap()
}

/// A request: method, path, headers, body.
type Sent = (Method, String, Vec<(&'static str, String)>, Vec<u8>);

struct Write {
    name: &'static str,
    setup: fn() -> Vec<Sent>,
    request: fn() -> Sent,
}

fn with_prov() -> Sent {
    let (content_type, body) = super::multipart(&[("chart", &signtest()), ("prov", &signtest_prov())]);
    (Method::POST, "/api/charts".into(), vec![("content-type", content_type)], body)
}

fn oci_blob(bytes: Vec<u8>) -> Sent {
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    (Method::POST, format!("/v2/signtest/blobs/uploads/?digest={digest}"), vec![], bytes)
}

fn config_blob() -> Vec<u8> {
    let loaded =
        chartroom_chart::archive::load_archive(&signtest(), &chartroom_chart::archive::Limits::default()).unwrap();
    chartroom_chart::oci::config_json(&loaded.metadata).unwrap().into_bytes()
}

fn manifest_put() -> Sent {
    use chartroom_chart::oci::{self, Descriptor};
    let descriptor = |media_type: &str, bytes: &[u8]| Descriptor {
        media_type: media_type.into(),
        digest: format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes))),
        size: bytes.len() as u64,
    };
    let config = descriptor(oci::CONFIG_MEDIA_TYPE, &config_blob());
    let layer = descriptor(oci::CHART_LAYER_MEDIA_TYPE, &signtest());
    let manifest = oci::manifest_json(&config, &[layer], &Default::default()).unwrap();
    let content_type = oci::MANIFEST_MEDIA_TYPE.to_owned();
    (Method::PUT, "/v2/signtest/manifests/0.1.0".into(), vec![("content-type", content_type)], manifest)
}

fn writes() -> Vec<Write> {
    vec![
        Write {
            name: "raw upload",
            setup: Vec::new,
            request: || (Method::POST, "/api/charts".into(), vec![], signtest()),
        },
        Write { name: "upload with provenance", setup: Vec::new, request: with_prov },
        Write {
            name: "?force overwrite dropping a stale provenance file",
            setup: || vec![with_prov()],
            request: || (Method::POST, "/api/charts?force".into(), vec![], chart("signtest", "0.1.0", "other")),
        },
        Write {
            name: "OCI manifest PUT publishing the chart",
            setup: || vec![oci_blob(config_blob()), oci_blob(signtest())],
            request: manifest_put,
        },
    ]
}

async fn send(app: &TestApp, (method, uri, headers, body): Sent) -> axum::response::Response {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    app.send_with(method, &uri, &headers, body).await
}

/// Storage and index agree on `signtest-0.1.0`: indexed exactly when stored, with the digest of
/// the stored bytes, and a provenance file beside it only if it vouches for those bytes.
async fn agree(app: &TestApp) -> Result<(), String> {
    use chartroom_chart::provenance::{self, Vouch};
    let files = app.storage.list_chart_files().await.map_err(|e| e.to_string())?;
    let index = app.repo.index(&chartroom_index::Tenant::root()).map_err(|e| e.to_string())?;
    let indexed: Vec<(String, String)> =
        index.entries().map(|e| (e.file().to_owned(), e.digest().to_string())).collect();
    let stored: Vec<&str> = files.charts.iter().map(|c| c.file.as_str()).collect();
    let listed: Vec<&str> = indexed.iter().map(|(f, _)| f.as_str()).collect();
    if stored != listed {
        return Err(format!("storage holds {stored:?}, the index lists {listed:?}"));
    }
    for (file, digest) in &indexed {
        let bytes = app.storage.read(file).await.map_err(|e| e.to_string())?;
        if hex::encode(sha2::Sha256::digest(&bytes)) != *digest {
            return Err(format!("{file}: the index lists {digest}, storage holds other bytes"));
        }
    }
    for prov in &files.provenance {
        let chart = prov.file.trim_end_matches(".prov");
        let Some((_, digest)) = indexed.iter().find(|(f, _)| f == chart) else {
            return Err(format!("{} is stored without its chart", prov.file));
        };
        let bytes = app.storage.read(&prov.file).await.map_err(|e| e.to_string())?;
        let parsed = provenance::parse(&bytes).map_err(|e| e.to_string())?;
        if let Vouch::Differs { recorded } = parsed.vouches_for(chart, digest) {
            return Err(format!("{} records {recorded} beside a chart of {digest}", prov.file));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum GiveUp {
    WriteTimeout,
    Disconnect,
}

/// Runs `write` with storage call `at` stalled and given up on (`None`: cleanly); returns the
/// number of storage calls the request made.
async fn run(write: &Write, at: Option<(usize, GiveUp)>) -> Result<usize, String> {
    // No state file and no change-log polling: every storage call is the request's.
    let args = ArgValues::new()
        .with(&options::WRITE_TIMEOUT, "1")
        .with(&options::DISABLE_STATEFILES, "true")
        .with(&options::STORAGE_POLL_INTERVAL, "1h");
    let (app, faulty) = faulty_app(args).await;
    for sent in (write.setup)() {
        let r = send(&app, sent).await;
        assert!(r.status().is_success(), "{}: setup: {}", write.name, r.status());
    }
    // The setup's background calls (the change log's listing after its first record) are over.
    app.repo.writes_settled().await;
    let mut seen = faulty.call_count();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if faulty.call_count() == seen {
            break;
        }
        seen = faulty.call_count();
    }
    let before = faulty.call_count();
    let context = |e: String| {
        let calls: Vec<String> = faulty.calls()[before..].iter().map(|c| format!("{:?} {}", c.op, c.key)).collect();
        format!("{} (stalled call {at:?}): {e}; storage calls: {calls:?}", write.name)
    };
    match at {
        None => {
            let r = send(&app, (write.request)()).await;
            if !r.status().is_success() {
                return Err(context(format!("clean run: {}", r.status())));
            }
        }
        Some((i, GiveUp::WriteTimeout)) => {
            faulty.inject(None, i, Fault::Hang);
            let r = send(&app, (write.request)()).await;
            // A call after the answer (none is expected) would not stall the request.
            if r.status() != StatusCode::SERVICE_UNAVAILABLE && faulty.hanging() == 0 {
                return Err(context(format!("not stalled: {}", r.status())));
            }
        }
        Some((i, GiveUp::Disconnect)) => {
            faulty.inject(None, i, Fault::Hang);
            let request = send(&app, (write.request)());
            let stalled = async {
                while faulty.hanging() == 0 {
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                // Answered: the stalled call was one the request does not wait for (the change
                // log's listing after a record), which is no failure; the checks below still run.
                r = request => if faulty.hanging() == 0 {
                    return Err(context(format!("answered {} although storage stalled", r.status())));
                },
                () = stalled => {}
            }
        }
    }
    let calls = faulty.call_count() - before;
    faulty.clear();
    faulty.release();
    app.repo.writes_settled().await;
    agree(&app).await.map_err(|e| context(format!("after the request: {e}")))?;
    let retry = send(&app, (write.request)()).await;
    if !matches!(retry.status(), StatusCode::CREATED | StatusCode::CONFLICT) {
        let status = retry.status();
        return Err(context(format!("retry: {status} {}", body_text(retry).await)));
    }
    app.repo.writes_settled().await;
    agree(&app).await.map_err(|e| context(format!("after the retry: {e}")))?;
    let (status, _) = app.get("/api/charts/signtest/0.1.0").await;
    if status != StatusCode::OK {
        return Err(context(format!("after the retry the chart is {status}")));
    }
    Ok(calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_timeout_or_disconnect_at_every_storage_step_leaves_storage_and_index_agreeing() {
    let mut failures = Vec::new();
    for write in writes() {
        let calls = run(&write, None).await.unwrap();
        assert!(calls > 0, "{}: no storage call", write.name);
        // The timeouts wait one second each: all steps of a write at once.
        let timeouts = futures::future::join_all((0..calls).map(|i| run(&write, Some((i, GiveUp::WriteTimeout)))));
        for result in timeouts.await {
            failures.extend(result.err());
        }
        for i in 0..calls {
            failures.extend(run(&write, Some((i, GiveUp::Disconnect))).await.err());
        }
        eprintln!("{}: {calls} storage calls, each stalled under WRITE_TIMEOUT and a disconnect", write.name);
    }
    assert!(failures.is_empty(), "{} runs failed:\n{}", failures.len(), failures.join("\n"));
}
