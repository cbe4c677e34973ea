//! An image index is stored only when every manifest it lists is in the repository.

use reqwest::Method;

use super::{digest_of, oci_code, push_blob, send};
use crate::support::*;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn index_of(children: &[(&str, usize)]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|(digest, size)| serde_json::json!({"mediaType": MANIFEST, "digest": digest, "size": size}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}))
        .expect("json")
}

#[tokio::test]
async fn an_image_index_needs_its_manifests() {
    let server = Server::start(&[]).await;
    let config = push_blob(&server, "multi", b"{}").await;
    let layer = push_blob(&server, "multi", b"linux/amd64 bits").await;
    let child = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": 16}],
    }))
    .expect("json");
    let child_digest = digest_of(&child);
    let missing = digest_of(b"a manifest never pushed");

    // A child that is not there: 400 MANIFEST_BLOB_UNKNOWN naming it, nothing stored.
    let refused = send(
        &server,
        Method::PUT,
        "/v2/multi/manifests/v1",
        &[("Content-Type", INDEX)],
        index_of(&[(&child_digest, child.len())]),
    )
    .await;
    refused.assert_status(400);
    assert_eq!(oci_code(&refused), "MANIFEST_BLOB_UNKNOWN");
    assert!(refused.text().contains(&child_digest), "{}", refused.text());
    server.get("/v2/multi/manifests/v1").await.assert_status(404);

    // Children first, then the index.
    send(
        &server,
        Method::PUT,
        &format!("/v2/multi/manifests/{child_digest}"),
        &[("Content-Type", MANIFEST)],
        child.clone(),
    )
    .await
    .assert_status(201);
    let index = index_of(&[(&child_digest, child.len())]);
    send(&server, Method::PUT, "/v2/multi/manifests/v1", &[("Content-Type", INDEX)], index.clone())
        .await
        .assert_status(201);
    let got = server.get("/v2/multi/manifests/v1").await;
    got.assert_status(200);
    assert_eq!(got.body, index);

    // One known child and one unknown: still refused.
    let mixed = index_of(&[(&child_digest, child.len()), (&missing, 10)]);
    let refused = send(&server, Method::PUT, "/v2/multi/manifests/v2", &[("Content-Type", INDEX)], mixed).await;
    refused.assert_status(400);
    assert_eq!(oci_code(&refused), "MANIFEST_BLOB_UNKNOWN");
    assert!(refused.text().contains(&missing), "{}", refused.text());
}
