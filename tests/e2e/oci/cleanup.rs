//! What goes with a deleted chart or blob, and one chart pushed to two repositories at once:
//! deleting through `/api` removes the pushed manifest (a re-upload of the same bytes serves the
//! derived one), blob `DELETE` (202 when no manifest uses the blob, 405 `UNSUPPORTED` when one
//! does or it is a chart's), and the second of two pushes of the same chart layer still finds it.

use reqwest::Method;

use super::{digest_of, oci_code, push_blob, send};
use crate::support::*;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes `chart` to repository `repo` as Helm does (config and layer blobs, manifest by tag);
/// returns the manifest's digest.
async fn push_chart(server: &Server, repo: &str, tag: &str, chart: &[u8], annotation: &str) -> String {
    push_blob(server, repo, CONFIG).await;
    push_blob(server, repo, chart).await;
    put_chart_manifest(server, repo, tag, chart, annotation).await
}

const CONFIG: &[u8] = br#"{"name":"twin","version":"1.0.0","apiVersion":"v2"}"#;

/// The manifest of a chart whose blobs were pushed.
async fn put_chart_manifest(server: &Server, repo: &str, tag: &str, chart: &[u8], annotation: &str) -> String {
    let (config, config_digest, layer) = (CONFIG, digest_of(CONFIG), digest_of(chart));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer, "size": chart.len()}],
        "annotations": {"org.opencontainers.image.description": annotation},
    });
    let body = serde_json::to_vec(&manifest).expect("json");
    let digest = digest_of(&body);
    let put =
        send(server, Method::PUT, &format!("/v2/{repo}/manifests/{tag}"), &[("Content-Type", MANIFEST)], body).await;
    put.assert_status(201);
    digest
}

#[tokio::test]
async fn a_chart_deleted_through_the_api_takes_its_pushed_manifest_along() {
    let server = Server::start(&[]).await;
    let chart = ChartBuilder::chart("twin", "1.0.0").build();
    let pushed = push_chart(&server, "twin", "1.0.0", &chart, "pushed").await;
    let served = server.get("/v2/twin/manifests/1.0.0").await;
    assert_eq!(served.header("docker-content-digest"), Some(pushed.clone()), "the pushed manifest, byte for byte");

    server.delete("/api/charts/twin/1.0.0").await.assert_status(200);
    server.get("/v2/twin/manifests/1.0.0").await.assert_status(404);
    server.get(&format!("/v2/twin/manifests/{pushed}")).await.assert_status(404);
    let leftovers: Vec<String> = walk(&server.storage_dir())
        .into_iter()
        .filter(|p| p.contains("oci/repos/twin/charts") || p.contains(&pushed[7..]))
        .collect();
    assert!(leftovers.is_empty(), "pushed manifest files left: {leftovers:?}");

    // The same bytes uploaded over HTTP: the derived manifest, not the old pushed one.
    server.upload_ok(chart).await;
    let again = server.get("/v2/twin/manifests/1.0.0").await;
    again.assert_status(200);
    assert_ne!(again.header("docker-content-digest"), Some(pushed.clone()));
    server.get(&format!("/v2/twin/manifests/{pushed}")).await.assert_status(404);
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn blob_delete_unlinks_unused_blobs_and_refuses_used_ones() {
    let server = Server::start(&[]).await;
    // An unused blob: 202, then gone from the repository.
    let unused = push_blob(&server, "art", b"nobody uses me").await;
    let deleted = send(&server, Method::DELETE, &format!("/v2/art/blobs/{unused}"), &[], vec![]).await;
    deleted.assert_status(202);
    send(&server, Method::HEAD, &format!("/v2/art/blobs/{unused}"), &[], vec![]).await.assert_status(404);
    let again = send(&server, Method::DELETE, &format!("/v2/art/blobs/{unused}"), &[], vec![]).await;
    again.assert_status(404);
    assert_eq!(oci_code(&again), "BLOB_UNKNOWN");

    // A blob an artifact's manifest uses: 405 UNSUPPORTED, still there.
    let config = b"{}".to_vec();
    let config_digest = push_blob(&server, "art", &config).await;
    let layer = push_blob(&server, "art", b"layer bytes").await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": "application/vnd.example.thing",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": 11}],
    });
    send(
        &server,
        Method::PUT,
        "/v2/art/manifests/v1",
        &[("Content-Type", MANIFEST)],
        serde_json::to_vec(&manifest).unwrap(),
    )
    .await
    .assert_status(201);
    let used = send(&server, Method::DELETE, &format!("/v2/art/blobs/{layer}"), &[], vec![]).await;
    used.assert_status(405);
    assert_eq!(oci_code(&used), "UNSUPPORTED");
    send(&server, Method::HEAD, &format!("/v2/art/blobs/{layer}"), &[], vec![]).await.assert_status(200);

    // A chart's layer: 405, it goes with the chart.
    let chart = ChartBuilder::chart("art", "1.0.0").build();
    server.upload_ok(chart.clone()).await;
    let chart_layer = send(&server, Method::DELETE, &format!("/v2/art/blobs/{}", digest_of(&chart)), &[], vec![]).await;
    chart_layer.assert_status(405);
    assert_eq!(oci_code(&chart_layer), "UNSUPPORTED");
    server.get("/v2/art/manifests/1.0.0").await.assert_status(200);
}

#[tokio::test]
async fn one_chart_pushed_to_two_repositories_at_once() {
    let server = Server::start(&["--depth", "1"]).await;
    let chart = ChartBuilder::chart("twin", "1.0.0").build();
    // Both pushes upload their blobs before either manifest arrives (the race's order).
    for repo in ["team-a/twin", "team-b/twin"] {
        push_blob(&server, repo, CONFIG).await;
        push_blob(&server, repo, &chart).await;
    }
    put_chart_manifest(&server, "team-a/twin", "1.0.0", &chart, "a").await;
    // The first publish dropped the blob copy; the second push still finds its layer.
    put_chart_manifest(&server, "team-b/twin", "1.0.0", &chart, "b").await;
    for tenant in ["team-a", "team-b"] {
        let index = server.get(&format!("/{tenant}/index.yaml")).await;
        index.assert_status(200);
        let index = Index::parse(&index.body);
        assert_eq!(index.expect_entry("twin", "1.0.0").digest(), sha256_hex(&chart), "{tenant}");
        let blob = server.get(&format!("/v2/{tenant}/twin/blobs/{}", digest_of(&chart))).await;
        blob.assert_status(200);
        assert_eq!(blob.body, chart, "{tenant}");
    }
}
