//! Helm 3.17 and Helm 4.1 against a real Chartroom: every scenario runs for both clients.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Asserts that `file` holds exactly `expected` and that its sha256 is the index digest.
#[track_caller]
fn assert_pulled(file_dir: &Path, file: &str, expected: &[u8], index_digest: &str) {
    let got = read_single(file_dir, file);
    assert_eq!(sha256_hex(&got), index_digest, "sha256 of pulled {file} differs from the index digest");
    assert!(got == expected, "pulled {file} differs from the uploaded bytes");
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).expect("read_dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// 1. The main user flow
// ---------------------------------------------------------------------------------------------

async fn repository_flows(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    let url = server.repo_url();

    // An empty repository can be added and has nothing to offer.
    helm.repo_add("cr", &url);
    assert!(helm.search_versions("cr/", true).is_empty(), "empty repository should list nothing");

    // Uploads: raw (curl --data-binary) and multipart (curl -F chart=@...).
    let a100 = ChartBuilder::chart("alpha", "1.0.0").build();
    let a120 = ChartBuilder::chart("alpha", "1.2.0").build();
    let a130rc = ChartBuilder::chart("alpha", "1.3.0-rc.1").build();
    let a200 = ChartBuilder::chart("alpha", "2.0.0").build();
    server.upload_ok(a100.clone()).await;
    server
        .upload_multipart(Some(("alpha-1.2.0.tgz", a120.clone())), None, "")
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    server.upload_ok(a130rc.clone()).await;
    server
        .upload_multipart(Some(("whatever-name.tgz", a200.clone())), None, "")
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));

    // A realistic chart made by this very Helm: `helm create` + `helm package`.
    let work = helm.work_dir("create");
    helm.run_in(Some(&work), &["create", "webapp"]);
    helm.run_in(Some(&work), &["package", "webapp", "--version", "0.1.0", "--app-version", "9.9.9", "-d", "out"]);
    let webapp = read_single(&work.join("out"), "webapp-0.1.0.tgz");
    server.upload_multipart(Some(("webapp-0.1.0.tgz", webapp.clone())), None, "").await.assert_status(201);

    // Read-your-writes: the index already lists everything, newest first, with sha256 digests.
    let idx = server.index().await;
    assert_eq!(
        idx.versions("alpha"),
        ["2.0.0", "1.3.0-rc.1", "1.2.0", "1.0.0"],
        "alpha versions in the index, newest first"
    );
    assert_eq!(idx.versions("webapp"), ["0.1.0"]);
    for (ver, bytes) in [("1.0.0", &a100), ("1.2.0", &a120), ("1.3.0-rc.1", &a130rc), ("2.0.0", &a200)] {
        let e = idx.expect_entry("alpha", ver);
        assert_eq!(e.digest(), sha256_hex(bytes), "digest of alpha {ver}");
        assert_eq!(e.urls, [format!("charts/alpha-{ver}.tgz")], "urls of alpha {ver}");
        assert!(!e.created().is_empty(), "created of alpha {ver}");
    }
    assert_eq!(idx.expect_entry("webapp", "0.1.0").get("appVersion"), Some("9.9.9"));

    helm.repo_update();

    // helm search: prereleases only with --devel.
    assert_eq!(helm.searched_versions("cr", "alpha", false), ["2.0.0", "1.2.0", "1.0.0"]);
    assert_eq!(helm.searched_versions("cr", "alpha", true), ["2.0.0", "1.3.0-rc.1", "1.2.0", "1.0.0"]);
    assert_eq!(helm.searched_versions("cr", "webapp", false), ["0.1.0"]);

    // helm pull: exact version, constraint (prerelease excluded), prerelease constraint, latest.
    let d = helm.work_dir("pull-exact");
    helm.run(&["pull", "cr/alpha", "--version", "1.2.0", "-d", p(&d)]);
    assert_pulled(&d, "alpha-1.2.0.tgz", &a120, idx.expect_entry("alpha", "1.2.0").digest());

    let d = helm.work_dir("pull-caret");
    helm.run(&["pull", "cr/alpha", "--version", "^1.0", "-d", p(&d)]);
    assert_eq!(files_in(&d), ["alpha-1.2.0.tgz"], "^1.0 selects 1.2.0, not the rc");
    assert_pulled(&d, "alpha-1.2.0.tgz", &a120, idx.expect_entry("alpha", "1.2.0").digest());

    let d = helm.work_dir("pull-pre");
    helm.run(&["pull", "cr/alpha", "--version", "~1.3.0-0", "-d", p(&d)]);
    assert_pulled(&d, "alpha-1.3.0-rc.1.tgz", &a130rc, idx.expect_entry("alpha", "1.3.0-rc.1").digest());

    let d = helm.work_dir("pull-latest");
    helm.run(&["pull", "cr/alpha", "-d", p(&d)]);
    assert_pulled(&d, "alpha-2.0.0.tgz", &a200, idx.expect_entry("alpha", "2.0.0").digest());

    let d = helm.work_dir("pull-webapp");
    helm.run(&["pull", "cr/webapp", "--version", "0.1.0", "-d", p(&d)]);
    assert_pulled(&d, "webapp-0.1.0.tgz", &webapp, idx.expect_entry("webapp", "0.1.0").digest());

    // helm pull --repo <url> without a configured repository.
    let d = helm.work_dir("pull-repo-flag");
    helm.run(&["pull", "alpha", "--repo", &url, "--version", "1.0.0", "-d", p(&d)]);
    assert_pulled(&d, "alpha-1.0.0.tgz", &a100, idx.expect_entry("alpha", "1.0.0").digest());

    // helm show chart / values.
    let out = helm.run(&["show", "chart", "cr/alpha", "--version", "1.0.0"]);
    assert!(out.contains("name: alpha"), "show chart: {out}");
    assert!(out.contains("version: 1.0.0"), "show chart: {out}");
    let out = helm.run(&["show", "values", "cr/alpha", "--version", "1.0.0"]);
    assert!(out.contains("marker: alpha-1.0.0-values"), "show values: {out}");
    let out = helm.run(&["show", "chart", "cr/webapp", "--version", "0.1.0"]);
    assert!(out.contains("appVersion: 9.9.9"), "show chart webapp: {out}");

    // helm template straight from the repository.
    let out = helm.run(&["template", "rel", "cr/alpha", "--version", "2.0.0"]);
    assert!(out.contains("name: rel-alpha"), "template: {out}");
    assert!(out.contains("marker: \"alpha-2.0.0-values\""), "template: {out}");
    assert!(out.contains("chartVersion: \"2.0.0\""), "template: {out}");
    let out = helm.run(&["template", "rel", "cr/webapp", "--version", "0.1.0"]);
    assert!(out.contains("kind: Deployment"), "template webapp: {out}");
    assert!(out.contains("name: rel-webapp"), "template webapp: {out}");

    // helm dependency update of a local chart whose dependency lives in Chartroom.
    dependency_update(&helm, &url, &a120, idx.expect_entry("alpha", "1.2.0").digest());
}

/// Creates `parent/` depending on `alpha ^1.0` from `repo_url`, runs `helm dependency update`
/// and checks `charts/alpha-1.2.0.tgz`, `Chart.lock` and the rendered subchart.
fn dependency_update(helm: &Helm, repo_url: &str, expected: &[u8], digest: &str) {
    let parent = helm.work_dir(&format!("deps-{}", sha256_hex(repo_url.as_bytes()))).join("parent");
    fs::create_dir_all(parent.join("templates")).expect("mkdir");
    fs::write(
        parent.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: alpha\n    version: \"^1.0\"\n    repository: \"{repo_url}\"\n"
        ),
    )
    .expect("write Chart.yaml");
    fs::write(parent.join("values.yaml"), "alpha:\n  replicaCount: 2\n").expect("values");
    helm.run(&["dependency", "update", p(&parent)]);
    assert_pulled(&parent.join("charts"), "alpha-1.2.0.tgz", expected, digest);
    let lock = String::from_utf8(read_single(&parent, "Chart.lock")).expect("utf8");
    assert!(lock.contains("name: alpha"), "Chart.lock: {lock}");
    assert!(lock.contains("version: 1.2.0"), "Chart.lock: {lock}");
    assert!(lock.contains(&format!("repository: {repo_url}")), "Chart.lock should name {repo_url}: {lock}");
    let out = helm.run(&["template", "p", p(&parent)]);
    assert!(out.contains("marker: \"alpha-1.2.0-values\""), "rendered subchart: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_repository_flows() {
    repository_flows(HelmVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_repository_flows() {
    repository_flows(HelmVersion::V4).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Context path
// ---------------------------------------------------------------------------------------------

async fn context_path_flows(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&["--context-path", "/helm/v1"]).await;
    let url = server.repo_url();
    assert!(url.ends_with("/helm/v1"));

    // Outside the prefix nothing is served.
    let r =
        server.send("GET /health without the context path".into(), server.client.get(server.root_url("/health"))).await;
    r.assert_status(404);
    let r = server
        .send("GET /index.yaml without the context path".into(), server.client.get(server.root_url("/index.yaml")))
        .await;
    r.assert_status(404);

    let c100 = ChartBuilder::chart("ctxchart", "1.0.0").build();
    let c110 = ChartBuilder::chart("ctxchart", "1.1.0").build();
    server.upload_ok(c100.clone()).await; // POST /helm/v1/api/charts
    server.upload_multipart(Some(("ctxchart-1.1.0.tgz", c110.clone())), None, "").await.assert_status(201);

    let idx = server.index().await;
    assert_eq!(idx.context_path.as_deref(), Some("/helm/v1"), "index must carry serverInfo.contextPath");
    assert_eq!(idx.versions("ctxchart"), ["1.1.0", "1.0.0"]);
    assert_eq!(idx.expect_entry("ctxchart", "1.0.0").urls, ["charts/ctxchart-1.0.0.tgz"]);
    let r = server.get("/charts/ctxchart-1.0.0.tgz").await;
    r.assert_status(200);
    assert!(r.body == c100, "GET /helm/v1/charts/ctxchart-1.0.0.tgz bytes");

    helm.repo_add("ctx", &url);
    assert_eq!(helm.searched_versions("ctx", "ctxchart", false), ["1.1.0", "1.0.0"]);

    let d = helm.work_dir("ctx-pull");
    helm.run(&["pull", "ctx/ctxchart", "--version", "1.0.0", "-d", p(&d)]);
    assert_pulled(&d, "ctxchart-1.0.0.tgz", &c100, idx.expect_entry("ctxchart", "1.0.0").digest());
    let out = helm.run(&["show", "values", "ctx/ctxchart", "--version", "1.1.0"]);
    assert!(out.contains("marker: ctxchart-1.1.0-values"), "{out}");
    let out = helm.run(&["template", "r", "ctx/ctxchart"]);
    assert!(out.contains("chartVersion: \"1.1.0\""), "{out}");

    // Dependency on a chart under the context path.
    let a120 = ChartBuilder::chart("alpha", "1.2.0").build();
    server.upload_ok(ChartBuilder::chart("alpha", "1.0.0").build()).await;
    server.upload_ok(a120.clone()).await;
    let digest = server.index().await.expect_entry("alpha", "1.2.0").digest().to_owned();
    helm.repo_update();
    dependency_update(&helm, &url, &a120, &digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_context_path() {
    context_path_flows(HelmVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_context_path() {
    context_path_flows(HelmVersion::V4).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Provenance: real PGP verification by Helm
// ---------------------------------------------------------------------------------------------

async fn verify_provenance(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    let tgz = read_testdata(SIGNTEST_TGZ);
    let prov = read_testdata(SIGNTEST_PROV);
    let keyring = testdata(SIGNTEST_KEYRING);
    assert_eq!(sha256_hex(&tgz), SIGNTEST_SHA256, "fixture checksum");

    // Chart and provenance in one multipart request.
    server
        .upload_multipart(
            Some(("signtest-0.1.0.tgz", tgz.clone())),
            Some(("signtest-0.1.0.tgz.prov", prov.clone())),
            "",
        )
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    let r = server.get("/charts/signtest-0.1.0.tgz.prov").await;
    r.assert_status(200);
    assert!(r.body == prov, "served .prov differs from the uploaded one");
    assert!(
        server.storage_dir().join("signtest-0.1.0.tgz.prov").is_file(),
        "storage must hold signtest-0.1.0.tgz.prov; it holds {:?}",
        server.storage_files()
    );
    // An unsigned chart next to it.
    server.upload_ok(ChartBuilder::chart("unsigned", "1.0.0").build()).await;

    helm.repo_add("cr", &server.repo_url());
    let d = helm.work_dir("verify");
    let out =
        helm.run(&["pull", "cr/signtest", "--version", "0.1.0", "--verify", "--keyring", p(&keyring), "-d", p(&d)]);
    assert!(out.contains("Signed by"), "pull --verify output: {out}");
    assert!(out.contains(&format!("sha256:{SIGNTEST_SHA256}")), "pull --verify output: {out}");
    assert_eq!(files_in(&d), ["signtest-0.1.0.tgz", "signtest-0.1.0.tgz.prov"]);
    assert_pulled(&d, "signtest-0.1.0.tgz", &tgz, SIGNTEST_SHA256);
    assert!(read_single(&d, "signtest-0.1.0.tgz.prov") == prov);

    // Without a .prov, --verify must fail.
    let d2 = helm.work_dir("verify-unsigned");
    helm.run_fail(&["pull", "cr/unsigned", "--version", "1.0.0", "--verify", "--keyring", p(&keyring), "-d", p(&d2)]);

    // Delete, then upload again with raw POST /api/charts + raw POST /api/prov.
    server.delete("/api/charts/signtest/0.1.0").await.assert_status(200).assert_json(json!({"deleted": true}));
    assert!(!server.storage_dir().join("signtest-0.1.0.tgz.prov").exists(), "DELETE must remove the .prov too");
    server.get("/charts/signtest-0.1.0.tgz.prov").await.assert_status(404);
    server.upload_ok(tgz.clone()).await;
    server
        .post("/api/prov", "application/x-www-form-urlencoded", prov.clone())
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    helm.repo_update();
    let d3 = helm.work_dir("verify-raw");
    let out =
        helm.run(&["pull", "cr/signtest", "--version", "0.1.0", "--verify", "--keyring", p(&keyring), "-d", p(&d3)]);
    assert!(out.contains("Signed by"), "pull --verify output: {out}");
    assert_pulled(&d3, "signtest-0.1.0.tgz", &tgz, SIGNTEST_SHA256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_verify_provenance() {
    verify_provenance(HelmVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_verify_provenance() {
    verify_provenance(HelmVersion::V4).await;
}

// ---------------------------------------------------------------------------------------------
// 4. --json-index: the JSON body at /index.yaml is accepted by Helm
// ---------------------------------------------------------------------------------------------

async fn json_index(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&["--json-index"]).await;
    let j100 = ChartBuilder::chart("jsonchart", "1.0.0").build();
    let j200 = ChartBuilder::chart("jsonchart", "2.0.0").build();
    server.upload_ok(j100.clone()).await;
    server.upload_ok(j200.clone()).await;

    let body = server.index_bytes().await;
    let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!("--json-index must serve JSON at /index.yaml ({e}): {}", String::from_utf8_lossy(&body))
    });
    assert_eq!(v["apiVersion"], "v1", "{v}");
    assert!(v["generated"].is_string(), "{v}");
    let list = v["entries"]["jsonchart"].as_array().expect("entries.jsonchart");
    let versions: Vec<&str> = list.iter().filter_map(|e| e["version"].as_str()).collect();
    assert_eq!(versions, ["2.0.0", "1.0.0"]);
    assert_eq!(list[1]["digest"], sha256_hex(&j100));
    assert_eq!(list[1]["urls"], json!(["charts/jsonchart-1.0.0.tgz"]));

    helm.repo_add("js", &server.repo_url());
    assert_eq!(helm.searched_versions("js", "jsonchart", false), ["2.0.0", "1.0.0"]);
    // An upload after `repo add` shows up after `repo update`.
    server.upload_ok(ChartBuilder::chart("jsonchart", "3.0.0").build()).await;
    helm.repo_update();
    assert_eq!(helm.searched_versions("js", "jsonchart", false), ["3.0.0", "2.0.0", "1.0.0"]);
    let d = helm.work_dir("json-pull");
    helm.run(&["pull", "js/jsonchart", "--version", "1.0.0", "-d", p(&d)]);
    assert_pulled(&d, "jsonchart-1.0.0.tgz", &j100, &sha256_hex(&j100));
    let out = helm.run(&["template", "x", "js/jsonchart", "--version", "2.0.0"]);
    assert!(out.contains("marker: \"jsonchart-2.0.0-values\""), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_json_index() {
    json_index(HelmVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_json_index() {
    json_index(HelmVersion::V4).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Helm's own fixture charts (v1 charts, dependencies, nested subcharts, BOM)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_fixture_charts_both_helms() {
    let server = Server::start(&[]).await;
    const LOADER: &str = "helm/pkg/chart/v2/loader/testdata";
    let fixtures: Vec<(String, &str, &str)> = vec![
        (format!("{LOADER}/frobnitz-1.2.3.tgz"), "frobnitz", "1.2.3"),
        (format!("{LOADER}/frobnitz/charts/mariner-4.3.2.tgz"), "mariner", "4.3.2"),
        (format!("{LOADER}/frobnitz/charts/alpine/charts/mast2-0.1.0.tgz"), "mast2", "0.1.0"),
        (format!("{LOADER}/mariner/charts/albatross-0.1.0.tgz"), "albatross", "0.1.0"),
        ("helm/pkg/repo/v1/testdata/repository/sprocket-1.1.0.tgz".to_owned(), "sprocket", "1.1.0"),
        ("helm/pkg/repo/v1/testdata/repository/sprocket-1.2.0.tgz".to_owned(), "sprocket", "1.2.0"),
        ("helm/pkg/repo/v1/repotest/testdata/examplechart-0.1.0.tgz".to_owned(), "examplechart", "0.1.0"),
    ];
    let mut bytes = Vec::new();
    for (path, name, version) in &fixtures {
        let b = read_testdata(path);
        server.upload_ok(b.clone()).await;
        let idx = server.index().await;
        assert_eq!(idx.expect_entry(name, version).digest(), sha256_hex(&b), "{path}: indexed as {name} {version}");
        bytes.push(b);
    }
    let idx = server.index().await;
    assert_eq!(idx.versions("sprocket"), ["1.2.0", "1.1.0"]);
    let frob = idx.expect_entry("frobnitz", "1.2.3");
    assert_eq!(frob.get("apiVersion"), Some("v1"));
    assert_eq!(frob.urls, ["charts/frobnitz-1.2.3.tgz"]);

    // The same chart packaged differently replaces it with ?force: Helm 2 layout with
    // requirements.yaml in a folder not named after the chart, then a copy with UTF-8 BOMs.
    for variant in ["frobnitz.v1.tgz", "frobnitz_with_bom.tgz"] {
        let b = read_testdata(&format!("{LOADER}/{variant}"));
        server.upload_raw_query(b.clone(), "?force").await.assert_status(201);
        let idx = server.index().await;
        assert_eq!(idx.versions("frobnitz"), ["1.2.3"], "{variant}");
        assert_eq!(idx.expect_entry("frobnitz", "1.2.3").digest(), sha256_hex(&b), "{variant}");
        assert!(server.storage_snapshot()["frobnitz-1.2.3.tgz"] == b);
    }
    let bom = read_testdata(&format!("{LOADER}/frobnitz_with_bom.tgz"));

    for v in BOTH_HELMS {
        let helm = Helm::new(v);
        helm.repo_add("fx", &server.repo_url());
        let rows = helm.search_versions("fx/", false);
        for (_, name, version) in &fixtures {
            assert!(
                rows.iter().any(|(n, ver)| *n == format!("fx/{name}") && ver == version),
                "{}: search lacks {name} {version}: {rows:?}",
                helm.label()
            );
        }
        let d = helm.work_dir("fixtures");
        helm.run(&["pull", "fx/frobnitz", "--version", "1.2.3", "-d", p(&d)]);
        assert_pulled(&d, "frobnitz-1.2.3.tgz", &bom, &sha256_hex(&bom));
        helm.run(&["pull", "fx/mariner", "-d", p(&d)]);
        assert_pulled(&d, "mariner-4.3.2.tgz", &bytes[1], &sha256_hex(&bytes[1]));
        let out = helm.run(&["show", "chart", "fx/frobnitz", "--version", "1.2.3"]);
        assert!(out.contains("name: frobnitz"), "{}: {out}", helm.label());
        let out = helm.run(&["show", "chart", "fx/sprocket", "--version", "1.1.0"]);
        assert!(out.contains("version: 1.1.0"), "{}: {out}", helm.label());
        let out = helm.run(&["template", "x", "fx/mariner"]);
        assert!(out.contains("# Source: mariner/"), "{}: template mariner: {out}", helm.label());
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Index entries are what `helm repo index` writes for the same archives
// ---------------------------------------------------------------------------------------------

async fn index_matches_helm_repo_index(v: HelmVersion) {
    let helm = Helm::new(v);
    let server = Server::start(&[]).await;
    let rich = "apiVersion: v2\nname: rich\nversion: 1.2.3\nappVersion: \"2024.1\"\ndescription: \"Quotes \\\" <tags> & ampersands, ünïcödé\"\nhome: https://example.invalid/rich\nicon: https://example.invalid/icon.png\nsources:\n  - https://example.invalid/src\nkeywords:\n  - one\n  - two\nmaintainers:\n  - name: Jane Doe\n    email: jane@example.invalid\nannotations:\n  example.invalid/key: value with spaces\nkubeVersion: \">=1.20.0-0\"\ndeprecated: true\ntype: application\ndependencies:\n  - name: alpha\n    version: \"^1.0\"\n    repository: https://example.invalid/charts\n    condition: alpha.enabled\n";
    let archives: Vec<(String, Vec<u8>)> = vec![
        ("rich-1.2.3.tgz".into(), ChartBuilder::chart("rich", "1.2.3").file("Chart.yaml", rich).build()),
        ("plain-0.1.0.tgz".into(), ChartBuilder::chart("plain", "0.1.0").build()),
        ("plain-0.2.0-rc.1.tgz".into(), ChartBuilder::chart("plain", "0.2.0-rc.1").build()),
        ("frobnitz-1.2.3.tgz".into(), read_testdata("helm/pkg/chart/v2/loader/testdata/frobnitz-1.2.3.tgz")),
    ];
    let dir = helm.work_dir("repo-index");
    for (file, bytes) in &archives {
        server.upload_ok(bytes.clone()).await;
        fs::write(dir.join(file), bytes).expect("write archive");
    }
    helm.run(&["repo", "index", p(&dir)]);
    let helm_idx = Index::parse(&fs::read(dir.join("index.yaml")).expect("helm index"));
    let ours = server.index().await;
    assert_eq!(ours.entries.keys().collect::<Vec<_>>(), helm_idx.entries.keys().collect::<Vec<_>>(), "chart names");
    for (name, list) in &helm_idx.entries {
        assert_eq!(ours.versions(name), helm_idx.versions(name), "{}: version order of {name}", helm.label());
        for he in list {
            let oe = ours.expect_entry(name, he.version());
            let mut hf = he.fields.clone();
            let mut of = oe.fields.clone();
            for f in [&mut hf, &mut of] {
                f.remove("created");
            }
            assert_eq!(
                of,
                hf,
                "{}: scalar fields of {name} {} differ from `helm repo index`",
                helm.label(),
                he.version()
            );
            assert_eq!(oe.urls, [format!("charts/{}", he.urls[0])]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_index_matches_helm_repo_index() {
    index_matches_helm_repo_index(HelmVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_index_matches_helm_repo_index() {
    index_matches_helm_repo_index(HelmVersion::V4).await;
}
