//! A chunked upload larger than one multipart part (5 MiB) is copied into the blob store chunk
//! by chunk (a streamed write), on local storage and on S3 alike, and served back whole.

use reqwest::Method;

use super::{at, digest_of, send};
use crate::support::*;

#[tokio::test]
async fn a_large_chunked_upload_is_streamed_into_the_blob_store() {
    let server = Server::start(&["--max-upload-size", "16777216"]).await;
    let blob = noise(7 << 20, 11);
    let digest = digest_of(&blob);
    let started = send(&server, Method::POST, "/v2/big/blobs/uploads/", &[], vec![]).await;
    started.assert_status(202);
    let location = started.header("location").expect("Location");
    let chunk = 1 << 20;
    for start in (0..blob.len() - chunk).step_by(chunk) {
        let end = start + chunk;
        let patch = at(&server, Method::PATCH, &location)
            .header("Content-Range", format!("{start}-{}", end - 1))
            .header("Content-Type", "application/octet-stream")
            .body(blob[start..end].to_vec());
        server.send(format!("PATCH {start}"), patch).await.assert_status(202);
    }
    let last = blob.len() - chunk;
    // A wrong digest: refused, nothing stored.
    let wrong = digest_of(b"not it");
    let refused = server
        .send(
            "PUT wrong".into(),
            at(&server, Method::PUT, &format!("{location}?digest={wrong}")).body(blob[last..].to_vec()),
        )
        .await;
    refused.assert_status(400);
    send(&server, Method::HEAD, &format!("/v2/big/blobs/{digest}"), &[], vec![]).await.assert_status(404);

    // Again, with the right digest.
    let started = send(&server, Method::POST, "/v2/big/blobs/uploads/", &[], vec![]).await;
    let location = started.header("location").expect("Location");
    for start in (0..last).step_by(chunk) {
        let patch = at(&server, Method::PATCH, &location).body(blob[start..start + chunk].to_vec());
        server.send(format!("PATCH {start}"), patch).await.assert_status(202);
    }
    let done = server
        .send(
            "PUT".into(),
            at(&server, Method::PUT, &format!("{location}?digest={digest}")).body(blob[last..].to_vec()),
        )
        .await;
    done.assert_status(201);
    let got = server.get(&format!("/v2/big/blobs/{digest}")).await;
    got.assert_status(200);
    assert_eq!(got.body.len(), blob.len());
    assert!(got.body == blob, "the blob comes back byte for byte");
}
