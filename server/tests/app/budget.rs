//! The upload memory budget (`--max-upload-memory`, issue 17 item 2): request bodies held at
//! once are bounded in total, whatever the number of connections. A body that does not fit is
//! refused before it is read (503, `Retry-After`), nothing is stored, and the budget is whole
//! again once the body that held it is answered.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bytes::Bytes;
use chartroom_server::config::{ArgValues, options};
use tower::ServiceExt;

use super::{body_text, chart, test_app};

#[tokio::test]
async fn bodies_beyond_the_upload_memory_budget_get_503_and_store_nothing() {
    // The budget is raised to the largest upload: one body of unknown length reserves ahead up
    // to that size, so it holds the whole budget while it arrives.
    let args = ArgValues::new().with(&options::MAX_UPLOAD_SIZE, "4096").with(&options::MAX_UPLOAD_MEMORY, "1024");
    let app = test_app(args).await;
    let slow = chart("slow", "1.0.0", "arrives in two parts");
    assert!(slow.len() < 4096);
    let (half, rest) = slow.split_at(slow.len() / 2);

    // A body without Content-Length, sent in two chunks; the channel holds one chunk, so once the
    // second is accepted the server has read the first (and reserved before reading it).
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let req = Request::builder().method(Method::POST).uri("/api/charts").body(Body::from_stream(stream)).unwrap();
    let router = app.router.clone();
    let slow_upload = tokio::spawn(async move { router.oneshot(req).await.unwrap() });
    tx.send(Ok(Bytes::copy_from_slice(half))).await.unwrap();
    tx.send(Ok(Bytes::new())).await.unwrap();
    tx.send(Ok(Bytes::new())).await.unwrap();

    let other = chart("other", "1.0.0", "waits for room");
    let length = other.len().to_string();
    let r = app.send_with(Method::POST, "/api/charts", &[("content-length", &length)], other.clone()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "1");
    assert_eq!(
        body_text(r).await,
        r#"{"error":"server busy: request bodies in progress fill the upload memory budget of 4096 bytes (--max-upload-memory / MAX_UPLOAD_MEMORY); retry after the time in Retry-After"}"#
    );
    // A body without a declared length is refused as it arrives, and so is an OCI blob.
    let r = app.send(Method::POST, "/api/charts", other.clone()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let r = app
        .send_with(
            Method::POST,
            &format!("/v2/other/blobs/uploads/?digest={digest}"),
            &[("content-length", "3")],
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "1");
    assert!(body_text(r).await.contains(r#""code":"UNAVAILABLE""#));
    // Nothing of the refused uploads is stored or listed.
    let stored = app.storage.list_tree(|_| true).await.unwrap();
    assert!(
        stored.iter().all(|o| !o.file.contains("other")),
        "{:?}",
        stored.iter().map(|o| &o.file).collect::<Vec<_>>()
    );
    assert_eq!(app.get("/api/charts/other").await.0, StatusCode::NOT_FOUND);

    // The body that holds the budget completes; then there is room again.
    tx.send(Ok(Bytes::copy_from_slice(rest))).await.unwrap();
    drop(tx);
    let r = slow_upload.await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", body_text(r).await);
    let r = app.send_with(Method::POST, "/api/charts", &[("content-length", &length)], other).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.get("/api/charts/other/1.0.0").await.0, StatusCode::OK);
}
