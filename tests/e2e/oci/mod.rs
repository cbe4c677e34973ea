//! OCI distribution on the same store (issue 11), with real Helm 3.17 and 4.1: a chart uploaded
//! with curl is pulled with `helm pull oci://` (same bytes, digest = index digest), a chart
//! pushed with `helm push oci://` is in `index.yaml` and `helm search repo`, deletes through
//! either API remove both views, `helm registry login` with a user and a token, and a raw-HTTP
//! suite of the endpoints in the spirit of the distribution spec's conformance tests.

use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::support::*;

mod cleanup;
mod image_index;
mod large_upload;
mod metrics;
mod registry_config;
mod token;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port())
}

/// The `Digest: sha256:...` line Helm prints after a push or pull.
fn printed_digest(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no Digest line in {output}"))
        .trim()
        .to_owned()
}

fn oci_code(resp: &Resp) -> String {
    let v = resp.json();
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no OCI error in {}", resp.what, resp.text()))
        .to_owned()
}

async fn pull_of_curl_uploaded_charts(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    let v100 = ChartBuilder::chart("demo", "1.0.0").build();
    let v110 = ChartBuilder::chart("demo", "1.1.0").build();
    let build = ChartBuilder::chart("demo", "1.2.0+build.7").build();
    for chart in [&v100, &v110, &build] {
        server.upload_ok(chart.clone()).await;
    }
    let reference = format!("oci://{}/demo", host(&server));
    let out = helm.work_dir("pulled");

    // Exact version: the very bytes uploaded, whose sha256 is the index digest.
    helm.run(&["pull", &reference, "--version", "1.0.0", "--plain-http", "-d", p(&out)]);
    let pulled = read_single(&out, "demo-1.0.0.tgz");
    assert_eq!(pulled, v100, "{}: pulled bytes", v.label());
    assert_eq!(sha256_hex(&pulled), server.index().await.expect_entry("demo", "1.0.0").digest());

    // No version: the newest stable one, chosen from the tag list.
    let latest = helm.run(&["pull", &reference, "--plain-http", "-d", p(&out)]);
    assert!(latest.contains("1.2.0+build.7") || latest.contains("1.2.0_build.7"), "{latest}");
    assert_eq!(read_single(&out, "demo-1.2.0+build.7.tgz"), build);

    let shown = helm.run(&["show", "chart", &reference, "--version", "1.1.0", "--plain-http"]);
    assert!(shown.contains("name: demo") && shown.contains("version: 1.1.0"), "{shown}");
    let rendered = helm.run(&["template", "rel", &reference, "--version", "1.1.0", "--plain-http"]);
    assert!(rendered.contains("kind: ConfigMap"), "{rendered}");

    // The manifest is derived the same way every time, restarts included.
    let first = server.get("/v2/demo/manifests/1.0.0").await;
    first.assert_status(200);
    assert_eq!(first.header("content-type").as_deref(), Some("application/vnd.oci.image.manifest.v1+json"));
    let digest = first.header("docker-content-digest").expect("Docker-Content-Digest");
    assert_eq!(digest, format!("sha256:{}", sha256_hex(&first.body)));
    let mut server = server;
    server.restart().await;
    let again = server.get("/v2/demo/manifests/1.0.0").await;
    assert_eq!(again.body, first.body, "derived manifest after a restart");
    let by_digest = server.get(&format!("/v2/demo/manifests/{digest}")).await;
    by_digest.assert_status(200);
    assert_eq!(by_digest.body, first.body);
}

#[tokio::test]
async fn helm3_pulls_charts_uploaded_with_curl() {
    pull_of_curl_uploaded_charts(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_pulls_charts_uploaded_with_curl() {
    pull_of_curl_uploaded_charts(HelmVersion::V4).await;
}

async fn push_then_both_views(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    let work = helm.work_dir("push");
    let chart = ChartBuilder::chart("pushed", "2.0.0").build();
    let file = work.join("pushed-2.0.0.tgz");
    std::fs::write(&file, &chart).expect("write chart");

    let pushed = helm.run(&["push", p(&file), &format!("oci://{}", host(&server)), "--plain-http"]);
    let manifest_digest = printed_digest(&pushed);

    // In the index, with the archive's digest, found by `helm search repo`, pulled through it.
    let index = server.index().await;
    assert_eq!(index.expect_entry("pushed", "2.0.0").digest(), sha256_hex(&chart));
    helm.repo_add("cr", &server.repo_url());
    assert_eq!(helm.searched_versions("cr", "pushed", false), ["2.0.0"]);
    let out = helm.work_dir("via-index");
    helm.run(&["pull", "cr/pushed", "--version", "2.0.0", "-d", p(&out)]);
    assert_eq!(read_single(&out, "pushed-2.0.0.tgz"), chart);
    // Stored once, as the ChartMuseum file.
    assert_eq!(std::fs::read(server.storage_dir().join("pushed-2.0.0.tgz")).expect("stored archive"), chart);

    // The manifest Helm pushed is served byte for byte, by tag and by digest.
    let by_tag = server.get("/v2/pushed/manifests/2.0.0").await;
    by_tag.assert_status(200);
    assert_eq!(by_tag.header("docker-content-digest"), Some(manifest_digest.clone()));
    assert_eq!(format!("sha256:{}", sha256_hex(&by_tag.body)), manifest_digest);
    let oci_out = helm.work_dir("via-oci");
    let pulled = helm.run(&[
        "pull",
        &format!("oci://{}/pushed", host(&server)),
        "--version",
        "2.0.0",
        "--plain-http",
        "-d",
        p(&oci_out),
    ]);
    assert_eq!(printed_digest(&pulled), manifest_digest);

    // The manifest derived for the same archive uploaded with curl is what Helm wrote, but for
    // the creation time: same config blob, same layers, same other annotations.
    let other = Server::start(&[]).await;
    other.upload_ok(chart.clone()).await;
    let derived: Value = other.get("/v2/pushed/manifests/2.0.0").await.json();
    let helms: Value = serde_json::from_slice(&by_tag.body).expect("pushed manifest");
    assert_eq!(derived["config"], helms["config"], "config descriptor");
    assert_eq!(derived["layers"], helms["layers"], "layers");
    let without_created = |m: &Value| {
        let mut a = m["annotations"].as_object().expect("annotations").clone();
        a.remove("org.opencontainers.image.created");
        a
    };
    assert_eq!(without_created(&derived), without_created(&helms));
    let config_digest = helms["config"]["digest"].as_str().expect("config digest");
    assert_eq!(
        other.get(&format!("/v2/pushed/blobs/{config_digest}")).await.body,
        server.get(&format!("/v2/pushed/blobs/{config_digest}")).await.body
    );

    // A re-push of the same bytes is not a conflict.
    helm.run(&["push", p(&file), &format!("oci://{}", host(&server)), "--plain-http"]);

    // Deleted through the ChartMuseum API: gone from OCI too.
    server.delete("/api/charts/pushed/2.0.0").await.assert_status(200);
    let gone = helm.run_fail(&[
        "pull",
        &format!("oci://{}/pushed", host(&server)),
        "--version",
        "2.0.0",
        "--plain-http",
        "-d",
        p(&oci_out),
    ]);
    assert!(gone.contains("not found") || gone.contains("404") || gone.contains("MANIFEST_UNKNOWN"), "{gone}");
    server.get("/v2/pushed/manifests/2.0.0").await.assert_status(404);

    // Pushed again, deleted through OCI: gone from the index.
    helm.run(&["push", p(&file), &format!("oci://{}", host(&server)), "--plain-http"]);
    assert_eq!(server.index().await.versions("pushed"), ["2.0.0"]);
    server.delete("/v2/pushed/manifests/2.0.0").await.assert_status(202);
    assert!(server.index().await.versions("pushed").is_empty());
    assert!(!server.storage_dir().join("pushed-2.0.0.tgz").exists());
}

#[tokio::test]
async fn helm3_push_lands_in_the_index() {
    push_then_both_views(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_push_lands_in_the_index() {
    push_then_both_views(HelmVersion::V4).await;
}

async fn push_to_a_tenant(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&["--depth", "1"]).await;
    let work = helm.work_dir("tenant");
    let chart = ChartBuilder::chart("svc", "0.3.0").build();
    let file = work.join("svc-0.3.0.tgz");
    std::fs::write(&file, &chart).expect("write chart");
    helm.run(&["push", p(&file), &format!("oci://{}/team", host(&server)), "--plain-http"]);
    let index = Index::parse(&server.get("/team/index.yaml").await.body);
    assert_eq!(index.expect_entry("svc", "0.3.0").digest(), sha256_hex(&chart));
    assert!(server.storage_dir().join("team/svc-0.3.0.tgz").exists());
    // Depth 1: a repository needs its tenant.
    let wrong = server.get("/v2/svc/tags/list").await;
    wrong.assert_status(404);
    assert_eq!(oci_code(&wrong), "NAME_UNKNOWN");
    let tags = server.get("/v2/team/svc/tags/list").await;
    assert_eq!(tags.json()["tags"], serde_json::json!(["0.3.0"]));
}

#[tokio::test]
async fn helm3_pushes_to_a_tenant() {
    push_to_a_tenant(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_pushes_to_a_tenant() {
    push_to_a_tenant(HelmVersion::V4).await;
}

/// An OCI dependency on Chartroom, resolved by `helm dependency update`.
async fn oci_dependency(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("lib", "1.4.0").build()).await;
    let work = helm.work_dir("deps");
    let parent = work.join("parent");
    std::fs::create_dir_all(parent.join("templates")).expect("mkdir");
    std::fs::write(
        parent.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: \"^1.0.0\"\n    repository: oci://{}\n",
            host(&server)
        ),
    )
    .expect("Chart.yaml");
    let out = helm.run(&["dependency", "update", p(&parent), "--plain-http"]);
    assert!(out.contains("lib"), "{out}");
    let fetched = read_single(&parent.join("charts"), "lib-1.4.0.tgz");
    assert_eq!(sha256_hex(&fetched), server.index().await.expect_entry("lib", "1.4.0").digest());
}

#[tokio::test]
async fn helm3_dependency_update_from_oci() {
    oci_dependency(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_dependency_update_from_oci() {
    oci_dependency(HelmVersion::V4).await;
}

const ALICE_PASS: &str = "alice-oci-pass";
const CI_TOKEN: &str = "ci-oci-token-5b2e";

async fn registry_login(v: HelmVersion) {
    let helm = Helm::new(v);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "users:\n  alice: \"{}\"\ntokens:\n  ci: \"{}\"\ngrants:\n  - to: [alice, ci]\n    tenants: [\"\"]\n    actions: [pull, push, delete]\n",
        bcrypt_hash(ALICE_PASS),
        token_digest(CI_TOKEN)
    );
    let auth = dir.path().join("auth.yaml");
    std::fs::write(&auth, config).expect("write auth config");
    let server = Server::start(&["--auth-config", p(&auth)]).await;
    let registry = host(&server);
    // Helm 4 logs in over HTTPS unless told otherwise; Helm 3.17 uses HTTP for loopback hosts.
    let plain = match v {
        HelmVersion::V3 => "--insecure",
        HelmVersion::V4 => "--plain-http",
    };

    // Without credentials: a Basic challenge.
    let ping = server.get("/v2/").await;
    ping.assert_status(401);
    assert!(ping.header("www-authenticate").is_some_and(|c| c.starts_with("Basic realm=")), "{:?}", ping.headers);

    let wrong = helm.run_fail(&["registry", "login", &registry, "--username", "alice", "--password", "nope", plain]);
    assert!(wrong.to_lowercase().contains("401") || wrong.to_lowercase().contains("unauthorized"), "{wrong}");

    helm.run(&["registry", "login", &registry, "--username", "alice", "--password", ALICE_PASS, plain]);
    let work = helm.work_dir("login");
    let file = work.join("locked-1.0.0.tgz");
    std::fs::write(&file, ChartBuilder::chart("locked", "1.0.0").build()).expect("write chart");
    helm.run(&["push", p(&file), &format!("oci://{registry}"), "--plain-http"]);
    helm.run(&["registry", "logout", &registry]);

    // A token as the password.
    helm.run(&["registry", "login", &registry, "--username", "ci", "--password", CI_TOKEN, plain]);
    let out = helm.work_dir("pulled");
    helm.run(&["pull", &format!("oci://{registry}/locked"), "--version", "1.0.0", "--plain-http", "-d", p(&out)]);
    helm.run(&["registry", "logout", &registry]);

    // Logged out: refused.
    let refused = helm.run_fail(&[
        "pull",
        &format!("oci://{registry}/locked"),
        "--version",
        "1.0.0",
        "--plain-http",
        "-d",
        p(&out),
    ]);
    let refused = refused.to_lowercase();
    assert!(
        refused.contains("unauthorized") || refused.contains("authoriz") || refused.contains("credential"),
        "{refused}"
    );
}

#[tokio::test]
async fn helm3_registry_login_with_user_and_token() {
    registry_login(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_registry_login_with_user_and_token() {
    registry_login(HelmVersion::V4).await;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP, endpoint by endpoint
// ---------------------------------------------------------------------------------------------

async fn send(server: &Server, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let mut rb = server.req(method.clone(), path).body(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    server.send(format!("{method} {path}"), rb).await
}

/// A request to a `Location` the server gave (a path that includes the context path).
fn at(server: &Server, method: Method, location: &str) -> reqwest::RequestBuilder {
    server.client.request(method, server.root_url(location))
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// Pushes a blob monolithically (POST, then PUT with the digest).
async fn push_blob(server: &Server, repo: &str, data: &[u8]) -> String {
    let started = send(server, Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], vec![]).await;
    started.assert_status(202);
    let location = started.header("location").expect("Location");
    let digest = digest_of(data);
    let put = server
        .send("PUT upload".into(), at(server, Method::PUT, &format!("{location}?digest={digest}")).body(data.to_vec()))
        .await;
    put.assert_status(201);
    assert_eq!(put.header("docker-content-digest"), Some(digest.clone()));
    digest
}

#[tokio::test]
async fn chunked_uploads_digests_and_ranges() {
    let server = Server::start(&[]).await;
    let blob: Vec<u8> = noise(10_000, 7);
    let digest = digest_of(&blob);

    let started = send(&server, Method::POST, "/v2/art/blobs/uploads/", &[], vec![]).await;
    started.assert_status(202);
    assert_eq!(started.header("docker-distribution-api-version").as_deref(), Some("registry/2.0"));
    let location = started.header("location").expect("Location");
    let patch = |range: &str, data: &[u8]| {
        at(&server, Method::PATCH, &location)
            .header("Content-Range", range)
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
    };
    let first = server.send("PATCH 1".into(), patch("0-3999", &blob[..4000])).await;
    first.assert_status(202);
    assert_eq!(first.header("range").as_deref(), Some("0-3999"));
    // Out of order: 416, the session keeps its bytes.
    let skipped = server.send("PATCH skip".into(), patch("5000-9999", &blob[5000..])).await;
    skipped.assert_status(416);
    assert_eq!(skipped.header("range").as_deref(), Some("0-3999"));
    let status = server.send("GET status".into(), at(&server, Method::GET, &location)).await;
    status.assert_status(204);
    assert_eq!(status.header("range").as_deref(), Some("0-3999"));
    server.send("PATCH 2".into(), patch("4000-9999", &blob[4000..])).await.assert_status(202);
    // Nothing is visible before the end.
    send(&server, Method::HEAD, &format!("/v2/art/blobs/{digest}"), &[], vec![]).await.assert_status(404);
    let done = server.send("PUT".into(), at(&server, Method::PUT, &format!("{location}?digest={digest}"))).await;
    done.assert_status(201);

    let head = send(&server, Method::HEAD, &format!("/v2/art/blobs/{digest}"), &[], vec![]).await;
    head.assert_status(200);
    assert_eq!(head.header("content-length"), Some("10000".into()));
    let got = server.get(&format!("/v2/art/blobs/{digest}")).await;
    assert_eq!(got.body, blob);
    let ranged = server.get_with(&format!("/v2/art/blobs/{digest}"), &[("Range", "bytes=100-199")]).await;
    ranged.assert_status(206);
    assert_eq!(ranged.body, &blob[100..200]);
    assert_eq!(ranged.header("content-range").as_deref(), Some("bytes 100-199/10000"));
    let unsatisfiable = server.get_with(&format!("/v2/art/blobs/{digest}"), &[("Range", "bytes=20000-")]).await;
    unsatisfiable.assert_status(416);

    // Digest mismatch: 400 DIGEST_INVALID, nothing stored.
    let wrong = digest_of(b"something else");
    let single =
        send(&server, Method::POST, &format!("/v2/art/blobs/uploads/?digest={wrong}"), &[], blob.clone()).await;
    single.assert_status(400);
    assert_eq!(oci_code(&single), "DIGEST_INVALID");
    send(&server, Method::HEAD, &format!("/v2/art/blobs/{wrong}"), &[], vec![]).await.assert_status(404);

    // Single-request upload.
    let small = b"small blob".to_vec();
    let one = send(
        &server,
        Method::POST,
        &format!("/v2/art/blobs/uploads/?digest={}", digest_of(&small)),
        &[],
        small.clone(),
    )
    .await;
    one.assert_status(201);

    // Unknown things: their codes.
    let unknown_blob = server.get(&format!("/v2/art/blobs/{}", digest_of(b"never"))).await;
    unknown_blob.assert_status(404);
    assert_eq!(oci_code(&unknown_blob), "BLOB_UNKNOWN");
    let unknown_manifest = server.get("/v2/art/manifests/9.9.9").await;
    unknown_manifest.assert_status(404);
    assert_eq!(oci_code(&unknown_manifest), "MANIFEST_UNKNOWN");
    let unknown_upload =
        send(&server, Method::GET, "/v2/art/blobs/uploads/0123456789abcdef0123456789abcdef", &[], vec![]).await;
    unknown_upload.assert_status(404);
    assert_eq!(oci_code(&unknown_upload), "BLOB_UPLOAD_UNKNOWN");
    let bad_name = server.get("/v2/Art/tags/list").await;
    bad_name.assert_status(400);
    assert_eq!(oci_code(&bad_name), "NAME_INVALID");

    // Mount into another repository of the same tenant: 201, and the blob is there.
    let mounted =
        send(&server, Method::POST, &format!("/v2/other/blobs/uploads/?mount={digest}&from=art"), &[], vec![]).await;
    mounted.assert_status(201);
    assert_eq!(server.get(&format!("/v2/other/blobs/{digest}")).await.body, blob);
    // A blob the source does not have: a session instead.
    let fallback = send(
        &server,
        Method::POST,
        &format!("/v2/other/blobs/uploads/?mount={}&from=art", digest_of(b"never")),
        &[],
        vec![],
    )
    .await;
    fallback.assert_status(202);
    // Cancelled: gone.
    let cancel_at = fallback.header("location").expect("Location");
    server.send("DELETE upload".into(), at(&server, Method::DELETE, &cancel_at)).await.assert_status(204);
    server.send("GET cancelled".into(), at(&server, Method::GET, &cancel_at)).await.assert_status(404);
}

#[tokio::test]
async fn artifacts_tags_pagination_and_referrers() {
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("app", "1.0.0").build()).await;
    let subject = server.get("/v2/app/manifests/1.0.0").await;
    let subject_digest = subject.header("docker-content-digest").expect("digest");

    // A signature-like artifact attached to the chart's manifest.
    let config = b"{}".to_vec();
    let config_digest = push_blob(&server, "app", &config).await;
    let layer = b"signature bytes".to_vec();
    let layer_digest = push_blob(&server, "app", &layer).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest, "size": layer.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject_digest, "size": subject.body.len()},
    });
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let sig_digest = digest_of(&bytes);
    let put = send(
        &server,
        Method::PUT,
        &format!("/v2/app/manifests/{sig_digest}"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        bytes.clone(),
    )
    .await;
    put.assert_status(201);
    assert_eq!(put.header("oci-subject"), Some(subject_digest.clone()));
    let referrers = server.get(&format!("/v2/app/referrers/{subject_digest}")).await;
    referrers.assert_status(200);
    let listed: Value = referrers.json();
    assert_eq!(listed["manifests"][0]["digest"], sig_digest.as_str());
    assert_eq!(listed["manifests"][0]["artifactType"], "application/vnd.example.signature");
    let filtered = server.get(&format!("/v2/app/referrers/{subject_digest}?artifactType=other")).await;
    assert_eq!(filtered.json()["manifests"], serde_json::json!([]));
    // Not a chart: the index is unchanged.
    assert_eq!(server.index().await.versions("app"), ["1.0.0"]);

    // Tags: chart versions and artifact tags, lexical, paginated with Link.
    for tag in ["sig-a", "sig-b"] {
        send(
            &server,
            Method::PUT,
            &format!("/v2/app/manifests/{tag}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            bytes.clone(),
        )
        .await
        .assert_status(201);
    }
    let all = server.get("/v2/app/tags/list").await;
    assert_eq!(all.json()["tags"], serde_json::json!(["1.0.0", "sig-a", "sig-b"]));
    let page = server.get("/v2/app/tags/list?n=2").await;
    assert_eq!(page.json()["tags"], serde_json::json!(["1.0.0", "sig-a"]));
    let link = page.header("link").expect("Link");
    assert!(link.contains("/v2/app/tags/list?n=2&last=sig-a") && link.contains("rel=\"next\""), "{link}");
    let next = server.get("/v2/app/tags/list?n=2&last=sig-a").await;
    assert_eq!(next.json()["tags"], serde_json::json!(["sig-b"]));
    assert!(next.header("link").is_none());
    // The chart's tag belongs to the chart.
    let stolen = send(
        &server,
        Method::PUT,
        "/v2/app/manifests/1.0.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        bytes.clone(),
    )
    .await;
    stolen.assert_status(400);
    // Deleting the artifact by digest removes its tags and its referrer entry.
    send(&server, Method::DELETE, &format!("/v2/app/manifests/{sig_digest}"), &[], vec![]).await.assert_status(202);
    assert_eq!(server.get("/v2/app/tags/list").await.json()["tags"], serde_json::json!(["1.0.0"]));
    assert_eq!(
        server.get(&format!("/v2/app/referrers/{subject_digest}")).await.json()["manifests"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn bad_chart_manifests_store_nothing() {
    let server = Server::start(&["--max-upload-size", "4096"]).await;
    let before = server.storage_snapshot();

    // Oversized upload: refused, nothing kept.
    let big = noise(5000, 3);
    let too_big =
        send(&server, Method::POST, &format!("/v2/c/blobs/uploads/?digest={}", digest_of(&big)), &[], big).await;
    too_big.assert_status(413);
    assert_eq!(oci_code(&too_big), "SIZE_INVALID");

    // A chart layer whose archive is invalid: 400 MANIFEST_INVALID with Chartroom's message.
    let not_a_chart = b"definitely not gzip".to_vec();
    let layer = push_blob(&server, "c", &not_a_chart).await;
    let config = br#"{"name":"c","version":"1.0.0","apiVersion":"v2"}"#.to_vec();
    let config_digest = push_blob(&server, "c", &config).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer, "size": not_a_chart.len()}],
    });
    let put = send(
        &server,
        Method::PUT,
        "/v2/c/manifests/1.0.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
    put.assert_status(400);
    assert_eq!(oci_code(&put), "MANIFEST_INVALID");
    assert!(server.index().await.versions("c").is_empty());
    assert!(!server.storage_dir().join("c-1.0.0.tgz").exists());

    // Chart API v3 (Helm 4 renders v1 and v2 only): 400 naming the field, nothing stored.
    let v3 = ChartBuilder::chart("c", "1.0.0").file("Chart.yaml", "apiVersion: v3\nname: c\nversion: 1.0.0\n").build();
    let v3_layer = push_blob(&server, "c", &v3).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": v3_layer, "size": v3.len()}],
    });
    let put = send(
        &server,
        Method::PUT,
        "/v2/c/manifests/1.0.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
    put.assert_status(400);
    assert_eq!(oci_code(&put), "MANIFEST_INVALID");
    assert!(put.text().contains("apiVersion") && put.text().contains("v3"), "{}", put.text());
    assert!(server.index().await.versions("c").is_empty());
    assert!(!server.storage_dir().join("c-1.0.0.tgz").exists());

    // A valid chart under the wrong repository name or tag.
    let chart = ChartBuilder::chart("real", "1.0.0").build();
    let chart_digest = push_blob(&server, "c", &chart).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": chart_digest, "size": chart.len()}],
    });
    let put = send(
        &server,
        Method::PUT,
        "/v2/c/manifests/1.0.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
    put.assert_status(400);
    assert!(put.json()["errors"][0]["message"].as_str().unwrap().contains("named \"real\""), "{}", put.text());
    // Manifest naming a blob that was never pushed.
    let missing = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": digest_of(b"nope"), "size": 4},
        "layers": [],
    });
    let put = send(
        &server,
        Method::PUT,
        "/v2/c/manifests/1.0.0",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        serde_json::to_vec(&missing).unwrap(),
    )
    .await;
    put.assert_status(400);
    assert_eq!(oci_code(&put), "MANIFEST_BLOB_UNKNOWN");
    // No chart file appeared anywhere.
    let after = server.storage_snapshot();
    let charts = |s: &std::collections::BTreeMap<String, Vec<u8>>| {
        s.keys().filter(|k| k.ends_with(".tgz")).cloned().collect::<Vec<_>>()
    };
    assert_eq!(charts(&after), charts(&before));
}

#[tokio::test]
async fn disable_oci_removes_the_api() {
    let server = Server::start(&["--disable-oci"]).await;
    server.get("/v2/").await.assert_status(404);
}

/// Three replicas on one S3 bucket: a chart pushed through one is pulled through another within
/// 2 s, derived manifests have the same digest everywhere, and an upload session started on one
/// replica takes chunks on a second and is finished on the third.
#[tokio::test]
async fn three_replicas_on_one_bucket() {
    let s3 = S3Server::start();
    s3.create_bucket("oci");
    let target = StorageTarget::S3 { s3: s3.clone(), bucket: "oci".to_owned(), prefix: "repo".to_owned() };
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Server::start_with(target.clone(), &[], &[]).await);
    }
    let helm = Helm::new(HelmVersion::V4);
    let work = helm.work_dir("replicas");
    let chart = ChartBuilder::chart("spread", "1.0.0").build();
    let file = work.join("spread-1.0.0.tgz");
    std::fs::write(&file, &chart).expect("write chart");
    let pushed = helm.run(&["push", p(&file), &format!("oci://{}", host(&servers[0])), "--plain-http"]);
    let manifest_digest = printed_digest(&pushed);

    let reader = &servers[1];
    let visible = eventually(std::time::Duration::from_secs(2), || async {
        reader.head("/v2/spread/manifests/1.0.0").await.status == 200
    })
    .await;
    assert!(visible, "the pushed chart is not served by another replica within 2 s");
    let out = helm.work_dir("pulled");
    let pulled = helm.run(&[
        "pull",
        &format!("oci://{}/spread", host(reader)),
        "--version",
        "1.0.0",
        "--plain-http",
        "-d",
        p(&out),
    ]);
    assert_eq!(printed_digest(&pulled), manifest_digest);
    assert_eq!(read_single(&out, "spread-1.0.0.tgz"), chart);

    // A chart uploaded over HTTP: every replica derives the same manifest.
    servers[0].upload_ok(ChartBuilder::chart("derived", "0.1.0").build()).await;
    let mut digests = Vec::new();
    for server in &servers {
        let seen = eventually(std::time::Duration::from_secs(2), || async {
            server.head("/v2/derived/manifests/0.1.0").await.status == 200
        })
        .await;
        assert!(seen, "replica on port {} does not serve the derived manifest", server.port());
        digests.push(server.head("/v2/derived/manifests/0.1.0").await.header("docker-content-digest"));
    }
    assert!(digests[0].is_some() && digests.iter().all(|d| *d == digests[0]), "{digests:?}");

    // One upload session through three replicas.
    let blob = noise(3000, 11);
    let digest = digest_of(&blob);
    let started = send(&servers[0], Method::POST, "/v2/spread/blobs/uploads/", &[], vec![]).await;
    started.assert_status(202);
    let location = started.header("location").expect("Location");
    let chunk = |server: &Server, range: &str, data: &[u8]| {
        at(server, Method::PATCH, &location).header("Content-Range", range).body(data.to_vec())
    };
    servers[0].send("PATCH on 0".into(), chunk(&servers[0], "0-999", &blob[..1000])).await.assert_status(202);
    servers[1].send("PATCH on 1".into(), chunk(&servers[1], "1000-1999", &blob[1000..2000])).await.assert_status(202);
    let finished = servers[2]
        .send(
            "PUT on 2".into(),
            at(&servers[2], Method::PUT, &format!("{location}?digest={digest}")).body(blob[2000..].to_vec()),
        )
        .await;
    finished.assert_status(201);
    for server in &servers {
        assert_eq!(server.get(&format!("/v2/spread/blobs/{digest}")).await.body, blob);
    }
}

/// The Python `oras` SDK (PyPI `oras` 0.2.43, `.tools/bin/oras-python`): a second client pushes
/// a non-chart artifact with chunked uploads (1,000-byte `PATCH`es) and pulls it back; it is
/// never indexed as a chart.
const ORAS_SCRIPT: &str = r#"
import json, sys, oras.client
host, target, mode = sys.argv[1], sys.argv[2], sys.argv[3]
client = oras.client.OrasClient(hostname=host, insecure=True)
if mode == "push":
    r = client.push(target=target, files=["notes.txt", "data.bin"], do_chunked=True, chunk_size=1000)
    print(r.status_code)
else:
    print(json.dumps(sorted(client.pull(target=target, outdir="out"))))
"#;

#[tokio::test]
async fn oras_pushes_and_pulls_an_artifact_in_chunks() {
    let python = chartroom_testkit::tools::tool("CHARTROOM_ORAS_PYTHON", "oras-python", "the Python oras SDK 0.2.43");
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("tool", "1.0.0").build()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let notes = b"release notes\n".repeat(200);
    let data = noise(4321, 5);
    std::fs::write(dir.path().join("notes.txt"), &notes).expect("write");
    std::fs::write(dir.path().join("data.bin"), &data).expect("write");
    let registry = host(&server);
    let target = format!("{registry}/tool:artifact-1");
    let run = |mode: &str| {
        let out = std::process::Command::new(&python)
            .args(["-c", ORAS_SCRIPT, &registry, &target, mode])
            .current_dir(dir.path())
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .expect("run oras");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "oras {mode} failed:\n{text}\n--- server log ---\n{}", server.log());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pushed = run("push");
    assert!(pushed.trim().ends_with("201"), "{pushed}");
    let log = server.log();
    assert!(log.matches("PATCH").count() >= 6, "chunked uploads expected (5 + 2 PATCHes), log:\n{log}");

    let tags = server.get("/v2/tool/tags/list").await.json();
    assert_eq!(tags["tags"], serde_json::json!(["1.0.0", "artifact-1"]));
    assert_eq!(server.index().await.versions("tool"), ["1.0.0"], "an artifact is not a chart version");

    let pulled = run("pull");
    assert!(pulled.contains("notes.txt") && pulled.contains("data.bin"), "{pulled}");
    assert_eq!(std::fs::read(dir.path().join("out/notes.txt")).expect("pulled notes"), notes);
    assert_eq!(std::fs::read(dir.path().join("out/data.bin")).expect("pulled data"), data);
}

/// With a context path the API answers under it and at the root, where OCI clients look.
#[tokio::test]
async fn context_path_and_root() {
    let server = Server::start(&["--context-path", "/charts"]).await;
    let helm = Helm::new(HelmVersion::V4);
    let work = helm.work_dir("ctx");
    let file = work.join("ctx-1.0.0.tgz");
    std::fs::write(&file, ChartBuilder::chart("ctx", "1.0.0").build()).expect("write chart");
    helm.run(&["push", p(&file), &format!("oci://{}", host(&server)), "--plain-http"]);
    assert_eq!(server.index().await.versions("ctx"), ["1.0.0"]);
    let under = server.get("/v2/ctx/tags/list").await;
    under.assert_status(200);
    let started = send(&server, Method::POST, "/v2/ctx/blobs/uploads/", &[], vec![]).await;
    assert!(
        started.header("location").is_some_and(|l| l.starts_with("/charts/v2/ctx/blobs/uploads/")),
        "{:?}",
        started.headers
    );
    let at_root = server.send("root".into(), server.client.post(server.root_url("/v2/ctx/blobs/uploads/"))).await;
    assert!(
        at_root.header("location").is_some_and(|l| l.starts_with("/v2/ctx/blobs/uploads/")),
        "{:?}",
        at_root.headers
    );
}

/// The `chartroom` client with `oci://`: push to a tenant, pull (exact and by constraint, digest
/// checked), a chart Helm 3.17 pushed, and `dependency update` of an `oci://` dependency whose
/// Chart.lock Helm accepts.
#[tokio::test]
async fn chartroom_client_push_pull_and_dependencies() {
    let server = Server::start(&["--depth", "1"]).await;
    let registry = host(&server);
    let cli = Cli::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = ChartBuilder::chart("cli", "1.2.0").build();
    let file = dir.path().join("cli-1.2.0.tgz");
    std::fs::write(&file, &chart).expect("write chart");

    let pushed = cli.ok(&["push", p(&file), &format!("oci://{registry}/team")]);
    assert!(pushed.contains(&format!("Pushed: {registry}/team/cli:1.2.0")), "{pushed}");
    let index = Index::parse(&server.get("/team/index.yaml").await.body);
    assert_eq!(index.expect_entry("cli", "1.2.0").digest(), sha256_hex(&chart));
    // Helm reads what the client pushed.
    let helm = Helm::new(HelmVersion::V3);
    let helm_out = helm.work_dir("from-cli");
    helm.run(&["pull", &format!("oci://{registry}/team/cli"), "--version", "1.2.0", "-d", p(&helm_out)]);
    assert_eq!(read_single(&helm_out, "cli-1.2.0.tgz"), chart);

    // Pull: exact, and by constraint among the tags.
    std::fs::write(dir.path().join("cli-1.3.0.tgz"), ChartBuilder::chart("cli", "1.3.0").build()).expect("write");
    cli.ok(&["push", p(&dir.path().join("cli-1.3.0.tgz")), &format!("oci://{registry}/team")]);
    let out = dir.path().join("pulled");
    let pulled = cli.ok(&["pull", &format!("oci://{registry}/team/cli"), "--version", "1.2.0", "-d", p(&out)]);
    assert!(pulled.contains("Pulled: cli-1.2.0"), "{pulled}");
    assert_eq!(std::fs::read(out.join("cli-1.2.0.tgz")).expect("pulled"), chart);
    let newest = cli.ok(&["pull", &format!("oci://{registry}/team/cli"), "--version", "^1.0.0", "-d", p(&out)]);
    assert!(newest.contains("Pulled: cli-1.3.0"), "{newest}");
    cli.fail(&["pull", &format!("oci://{registry}/team/cli"), "--version", "9.9.9", "-d", p(&out)], 3);

    // A dependency on the registry: resolved from the tags, Chart.lock accepted by Helm.
    let parent = dir.path().join("parent");
    std::fs::create_dir_all(parent.join("templates")).expect("mkdir");
    std::fs::write(
        parent.join("Chart.yaml"),
        format!("apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: cli\n    version: \"~1.2\"\n    repository: oci://{registry}/team\n"),
    )
    .expect("Chart.yaml");
    cli.ok(&["dependency", "update", p(&parent)]);
    assert_eq!(read_single(&parent.join("charts"), "cli-1.2.0.tgz"), chart);
    let lock = std::fs::read_to_string(parent.join("Chart.lock")).expect("Chart.lock");
    assert!(lock.contains("version: 1.2.0") && lock.contains(&format!("repository: oci://{registry}/team")), "{lock}");
    std::fs::remove_dir_all(parent.join("charts")).expect("rm charts");
    helm.run(&["dependency", "build", p(&parent)]);
    assert_eq!(read_single(&parent.join("charts"), "cli-1.2.0.tgz"), chart);
}

/// Grants per tenant, through the distribution API: anonymous pulls where allowed, 401 with the
/// challenge where credentials are needed, 403 `DENIED` for valid credentials without the grant.
#[tokio::test]
async fn grants_per_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "users:\n  alice: \"{}\"\ngrants:\n  - to: [anonymous, authenticated]\n    tenants: [public]\n    actions: [pull]\n  - to: [alice]\n    tenants: [team-a]\n    actions: [pull, push, delete]\n",
        bcrypt_hash(ALICE_PASS)
    );
    let auth = dir.path().join("auth.yaml");
    std::fs::write(&auth, config).expect("write auth config");
    let server = Server::start(&["--depth", "1", "--auth-config", p(&auth)]).await;
    let alice = basic("alice", ALICE_PASS);
    let as_alice = |method: Method, path: &'static str| server.request_as(method, path, Some(&alice), None);

    // Anonymous pull of the public tenant: allowed (the repository is empty: 404, not 401).
    let public = server.get("/v2/public/demo/tags/list").await;
    public.assert_status(404);
    assert_eq!(oci_code(&public), "NAME_UNKNOWN");
    // Anonymous push: 401 with the challenge.
    let anonymous_push = send(&server, Method::POST, "/v2/public/demo/blobs/uploads/", &[], vec![]).await;
    anonymous_push.assert_status(401);
    assert_eq!(oci_code(&anonymous_push), "UNAUTHORIZED");
    assert!(anonymous_push.header("www-authenticate").is_some_and(|c| c.starts_with("Basic ")));
    // Alice may push to team-a, not to public; nobody anonymous reads team-a.
    as_alice(Method::POST, "/v2/team-a/demo/blobs/uploads/").await.assert_status(202);
    let denied = as_alice(Method::POST, "/v2/public/demo/blobs/uploads/").await;
    denied.assert_status(403);
    assert_eq!(oci_code(&denied), "DENIED");
    server.get("/v2/team-a/demo/tags/list").await.assert_status(401);
    // Wrong password: 401 even on /v2/.
    server.request_as(Method::GET, "/v2/", Some(&basic("alice", "wrong")), None).await.assert_status(401);
    as_alice(Method::GET, "/v2/").await.assert_status(200);
}

/// `helm push` of a signed chart (its `.prov` beside the archive): the provenance layer becomes
/// the repository's `.tgz.prov`, and both `helm pull --verify` through the index and
/// `helm pull --verify oci://` check the signature; a signed chart uploaded over HTTP gets the
/// same layers in its derived manifest.
async fn signed_push(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    let work = helm.work_dir("signed");
    let (tgz, prov) = (read_testdata(SIGNTEST_TGZ), read_testdata(SIGNTEST_PROV));
    std::fs::write(work.join("signtest-0.1.0.tgz"), &tgz).expect("write tgz");
    std::fs::write(work.join("signtest-0.1.0.tgz.prov"), &prov).expect("write prov");
    let keyring = work.join("key.pub");
    std::fs::write(&keyring, read_testdata(SIGNTEST_KEYRING)).expect("write keyring");
    helm.run(&["push", p(&work.join("signtest-0.1.0.tgz")), &format!("oci://{}", host(&server)), "--plain-http"]);
    assert_eq!(std::fs::read(server.storage_dir().join("signtest-0.1.0.tgz.prov")).expect("stored .prov"), prov);

    helm.repo_add("cr", &server.repo_url());
    let via_index = helm.work_dir("via-index");
    let out = helm.run(&[
        "pull",
        "cr/signtest",
        "--version",
        "0.1.0",
        "--verify",
        "--keyring",
        p(&keyring),
        "-d",
        p(&via_index),
    ]);
    assert!(out.contains("Signed by"), "{out}");
    let via_oci = helm.work_dir("via-oci");
    let reference = format!("oci://{}/signtest", host(&server));
    let out = helm.run(&[
        "pull",
        &reference,
        "--version",
        "0.1.0",
        "--verify",
        "--keyring",
        p(&keyring),
        "--plain-http",
        "-d",
        p(&via_oci),
    ]);
    assert!(out.contains("Signed by"), "{out}");
    assert_eq!(read_single(&via_oci, "signtest-0.1.0.tgz"), tgz);

    // Uploaded over HTTP with its `.prov`: the derived manifest has the provenance layer too.
    let uploaded = Server::start(&[]).await;
    uploaded.upload_signtest().await;
    let derived: Value = uploaded.get("/v2/signtest/manifests/0.1.0").await.json();
    let helms: Value = serde_json::from_slice(&server.get("/v2/signtest/manifests/0.1.0").await.body).expect("json");
    assert_eq!(derived["layers"], helms["layers"], "the same two layers as helm push");
    let via_derived = helm.work_dir("via-derived");
    let reference = format!("oci://{}/signtest", host(&uploaded));
    let out = helm.run(&[
        "pull",
        &reference,
        "--version",
        "0.1.0",
        "--verify",
        "--keyring",
        p(&keyring),
        "--plain-http",
        "-d",
        p(&via_derived),
    ]);
    assert!(out.contains("Signed by"), "{out}");
}

#[tokio::test]
async fn helm3_signed_push_keeps_the_provenance() {
    signed_push(HelmVersion::V3).await;
}

#[tokio::test]
async fn helm4_signed_push_keeps_the_provenance() {
    signed_push(HelmVersion::V4).await;
}

/// The OCI door is held to the provenance policy like the others (issue 12): under `required`, a
/// `helm push` of a chart signed by a trusted key is stored with its `.prov`; an unsigned chart,
/// or one whose provenance layer was altered, is refused with the failed check and nothing stored.
#[tokio::test]
async fn helm_push_is_held_to_the_provenance_policy() {
    let helm = Helm::new(HelmVersion::V4);
    let work = helm.work_dir("policy");
    let keyring = work.join("trusted.pub");
    std::fs::write(&keyring, read_testdata(SIGNTEST_KEYRING)).expect("write keyring");
    let server = Server::start(&["--provenance", "required", "--provenance-keyring", p(&keyring)]).await;
    let (tgz, prov) = (read_testdata(SIGNTEST_TGZ), read_testdata(SIGNTEST_PROV));
    let push = |archive: &Path| {
        helm.output_in(None, &["push", p(archive), &format!("oci://{}", host(&server)), "--plain-http"])
    };

    // Unsigned: refused, nothing stored.
    let unsigned = work.join("unsigned");
    std::fs::create_dir_all(&unsigned).expect("mkdir");
    std::fs::write(unsigned.join("signtest-0.1.0.tgz"), &tgz).expect("write tgz");
    let before = snapshot_dir(&server.storage_dir());
    let out = push(&unsigned.join("signtest-0.1.0.tgz"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("a provenance file is required"), "{stderr}");
    // Altered provenance layer: refused with the failed check.
    let altered = work.join("altered");
    std::fs::create_dir_all(&altered).expect("mkdir");
    std::fs::write(altered.join("signtest-0.1.0.tgz"), &tgz).expect("write tgz");
    let forged = String::from_utf8(prov.clone()).expect("utf-8").replacen("name: signtest", "name: signtesx", 1);
    std::fs::write(altered.join("signtest-0.1.0.tgz.prov"), forged).expect("write prov");
    let out = push(&altered.join("signtest-0.1.0.tgz"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("bad provenance signature"), "{stderr}");
    let index = server.index().await;
    assert!(index.versions("signtest").is_empty(), "nothing indexed after the refusals");
    let after: Vec<String> =
        snapshot_dir(&server.storage_dir()).into_keys().filter(|k| !k.starts_with(".chartroom/")).collect();
    let before: Vec<String> = before.into_keys().filter(|k| !k.starts_with(".chartroom/")).collect();
    assert_eq!(after, before, "no chart or provenance file stored");

    // Signed by the trusted key: stored with its provenance and shown as verified.
    let signed = work.join("signed");
    std::fs::create_dir_all(&signed).expect("mkdir");
    std::fs::write(signed.join("signtest-0.1.0.tgz"), &tgz).expect("write tgz");
    std::fs::write(signed.join("signtest-0.1.0.tgz.prov"), &prov).expect("write prov");
    let out = push(&signed.join("signtest-0.1.0.tgz"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let version = server.get("/api/charts/signtest/0.1.0").await.json();
    assert_eq!(version["provenance"]["verified"], Value::Bool(true), "{version}");
}
