//! Cancelled writes (issue 17, item 3): a write, once started, finishes or rolls back whatever
//! happens to the request. Here `WRITE_TIMEOUT` answers the client while storage stalls in the
//! middle of the write; the write completes once storage answers, and storage and index agree.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chartroom_server::config::{ArgValues, options};
use chartroom_storage::Storage;
use chartroom_storage::faulty::{Fault, Faulty, Op};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use sha2::Digest;

use super::{TestApp, body_text, chart, config};

async fn faulty_app(args: ArgValues) -> (TestApp, Arc<Faulty<InMemory>>) {
    let faulty = Arc::new(Faulty::new(InMemory::new()));
    let storage = Storage::new(Arc::clone(&faulty) as Arc<dyn ObjectStore>, "", "faulty".into());
    let config = config(args);
    (TestApp::open(&config, storage, config.repo_options()).await, faulty)
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
