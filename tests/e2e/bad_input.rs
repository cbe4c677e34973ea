//! Malformed requests: each gets its 4xx with a JSON error naming the problem, and neither the
//! storage folder (outside `.chartroom/`) nor the served index changes by a single byte.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::*;

enum Req {
    /// Raw `POST /api/charts`.
    Raw(Vec<u8>),
    /// Multipart `POST /api/charts`: (field, file name, bytes).
    Form(Vec<(&'static str, &'static str, Vec<u8>)>),
    /// Any POST with an explicit content type.
    Post {
        path: &'static str,
        content_type: &'static str,
        body: Vec<u8>,
    },
    Get(&'static str),
    Delete(&'static str),
}

struct Case {
    name: &'static str,
    req: Req,
    /// Accepted statuses (usually just 400).
    status: &'static [u16],
    /// Every group must match: at least one keyword of each group must occur in the
    /// lower-cased error message.
    keywords: &'static [&'static [&'static str]],
}

fn case(name: &'static str, req: Req, status: &'static [u16], keywords: &'static [&'static [&'static str]]) -> Case {
    Case { name, req, status, keywords }
}

/// The usual chart files under `dir/`, with `chart_yaml` as Chart.yaml, plus `extra` entries.
fn chart_entries(dir: &str, chart_yaml: &str) -> Vec<TarEntry> {
    vec![
        TarEntry::file(format!("{dir}/Chart.yaml"), chart_yaml),
        TarEntry::file(format!("{dir}/values.yaml"), "marker: bad\n"),
        TarEntry::file(format!("{dir}/templates/configmap.yaml"), CONFIGMAP_TEMPLATE),
    ]
}

fn chart_with(dir: &str, chart_yaml: &str, extra: Vec<TarEntry>) -> Vec<u8> {
    ChartBuilder::new().entries(chart_entries(dir, chart_yaml)).entries(extra).build()
}

fn yaml_for(name: &str, version: &str) -> String {
    default_chart_yaml(name, version)
}

fn billion_laughs() -> String {
    let mut s = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        let refs = vec![format!("*{prev}"); 9].join(",");
        s.push_str(&format!("{cur}: &{cur} [{refs}]\n"));
    }
    s.push_str("apiVersion: v2\nname: laughs\nversion: 1.0.0\n");
    s
}

/// A tar whose first header has a wrong checksum, gzip-compressed.
fn bad_checksum_tgz() -> Vec<u8> {
    let mut tar = ChartBuilder::new().entries(chart_entries("cks", &yaml_for("cks", "1.0.0"))).tar();
    // The checksum field is bytes 148..156 of the first header.
    tar[148..154].copy_from_slice(b"000001");
    gzip(&tar)
}

fn cases() -> Vec<Case> {
    let good = ChartBuilder::chart("base", "2.0.0").build();
    let mut truncated = ChartBuilder::chart("trunc", "1.0.0").file("README.md", noise_text(4000, 7)).build();
    truncated.truncate(truncated.len() / 2);
    let signtest_prov = read_testdata(SIGNTEST_PROV);

    // Decompression bombs, built streaming (a few hundred KB compressed).
    let bomb_total = chart_with(
        "bombt",
        &yaml_for("bombt", "1.0.0"),
        (0..26).map(|i| TarEntry::zeros(format!("bombt/files/z{i}.bin"), 4 << 20)).collect(),
    );
    let bomb_single =
        chart_with("bombs", &yaml_for("bombs", "1.0.0"), vec![TarEntry::zeros("bombs/big.bin", 101 << 20)]);
    let big_file =
        chart_with("bigf", &yaml_for("bigf", "1.0.0"), vec![TarEntry::zeros("bigf/templates/big.yaml", 6 << 20)]);

    const SIZE: &[&str] = &["size", "large", "limit", "exceed", "too big", "too much", "bomb"];
    const LINK: &[&str] = &["link"];
    const VERSION: &[&str] = &["version"];
    const NAME: &[&str] = &["name"];
    const CHART_YAML: &[&str] = &["chart.yaml"];
    const PROV: &[&str] = &["prov"];
    const B400: &[u16] = &[400];
    const B404: &[u16] = &[404];

    vec![
        // --- transport / compression ---------------------------------------------------------
        case("not gzip", Req::Raw(b"this is not a gzip stream at all".to_vec()), B400, &[&["gzip"]]),
        case("empty body", Req::Raw(Vec::new()), B400, &[&["empty", "gzip", "eof", "body"]]),
        case(
            "truncated gzip",
            Req::Raw(truncated),
            B400,
            &[&["gzip", "truncat", "eof", "end of", "corrupt", "unexpected", "incomplete"]],
        ),
        case("gzip of garbage", Req::Raw(gzip(&noise(5000, 3))), B400, &[&["tar", "archive"]]),
        case(
            "gzip of an empty tar",
            Req::Raw(ChartBuilder::new().entries([]).build()),
            B400,
            &[&["empty", "no files", "chart.yaml"]],
        ),
        case(
            "tar header with a bad checksum",
            Req::Raw(bad_checksum_tgz()),
            B400,
            &[&["checksum", "tar", "archive", "header"]],
        ),
        case("decompression bomb: 104 MiB in 4 MiB files", Req::Raw(bomb_total), B400, &[SIZE]),
        case("decompression bomb: one 101 MiB file", Req::Raw(bomb_single), B400, &[SIZE]),
        case("single file over 5 MiB", Req::Raw(big_file), B400, &[SIZE]),
        // --- archive entries ---------------------------------------------------------------
        case(
            "`..` in an entry path",
            Req::Raw(chart_with(
                "dd",
                &yaml_for("dd", "1.0.0"),
                vec![TarEntry::file("dd/templates/../../../evil.yaml", "x: 1\n")],
            )),
            B400,
            &[&["..", "parent", "travers"]],
        ),
        case(
            "absolute entry path",
            Req::Raw(chart_with("abs", &yaml_for("abs", "1.0.0"), vec![TarEntry::file("/etc/evil.yaml", "x: 1\n")])),
            B400,
            &[&["absolute"]],
        ),
        case(
            "symlink entry",
            Req::Raw(chart_with(
                "sl",
                &yaml_for("sl", "1.0.0"),
                vec![TarEntry::symlink("sl/templates/passwd.yaml", "/etc/passwd")],
            )),
            B400,
            &[LINK],
        ),
        case(
            "hardlink entry",
            Req::Raw(chart_with(
                "hl",
                &yaml_for("hl", "1.0.0"),
                vec![TarEntry::hardlink("hl/templates/hard.yaml", "hl/values.yaml")],
            )),
            B400,
            &[LINK],
        ),
        case(
            "character device entry",
            Req::Raw(chart_with("cdev", &yaml_for("cdev", "1.0.0"), vec![TarEntry::char_device("cdev/null")])),
            B400,
            &[&["device", "special", "unsupported", "regular"]],
        ),
        case(
            "fifo entry",
            Req::Raw(chart_with("ff", &yaml_for("ff", "1.0.0"), vec![TarEntry::fifo("ff/pipe")])),
            B400,
            &[&["fifo", "pipe", "device", "special", "unsupported", "regular"]],
        ),
        // --- Chart.yaml placement ------------------------------------------------------------
        case(
            "no Chart.yaml",
            Req::Raw(
                ChartBuilder::new()
                    .entries([
                        TarEntry::file("nochart/values.yaml", "a: 1\n"),
                        TarEntry::file("nochart/templates/cm.yaml", CONFIGMAP_TEMPLATE),
                    ])
                    .build(),
            ),
            B400,
            &[CHART_YAML],
        ),
        case(
            "Chart.yaml twice",
            Req::Raw(chart_with(
                "twice",
                &yaml_for("twice", "1.0.0"),
                vec![TarEntry::file("twice/Chart.yaml", yaml_for("twice", "9.9.9"))],
            )),
            B400,
            &[&["chart.yaml", "duplicate"]],
        ),
        case(
            "two top-level folders with a Chart.yaml each",
            Req::Raw(chart_with("one", &yaml_for("one", "1.0.0"), chart_entries("two", &yaml_for("two", "1.0.0")))),
            B400,
            &[&["chart.yaml", "top-level", "directory", "directories", "more than one", "multiple", "folder"]],
        ),
        case(
            "Chart.yaml at the archive root",
            Req::Raw(
                ChartBuilder::new()
                    .entries([
                        TarEntry::file("Chart.yaml", yaml_for("rootc", "1.0.0")),
                        TarEntry::file("values.yaml", "a: 1\n"),
                    ])
                    .build(),
            ),
            B400,
            &[&["chart.yaml", "directory", "base", "root", "top-level", "folder"]],
        ),
        case(
            "Chart.yaml is a directory",
            Req::Raw(
                ChartBuilder::new()
                    .entries([TarEntry::dir("dirc/Chart.yaml/"), TarEntry::file("dirc/values.yaml", "a: 1\n")])
                    .build(),
            ),
            B400,
            &[CHART_YAML],
        ),
        // --- Chart.yaml content --------------------------------------------------------------
        case(
            "invalid YAML in Chart.yaml",
            Req::Raw(chart_with("iy", "apiVersion: v2\nname: [unclosed\nversion: 1.0.0\n", vec![])),
            B400,
            &[&["yaml"]],
        ),
        case(
            "YAML alias bomb in Chart.yaml",
            Req::Raw(chart_with("laughs", &billion_laughs(), vec![])),
            B400,
            &[&["alias", "yaml"]],
        ),
        case("missing version", Req::Raw(chart_with("nov", "apiVersion: v2\nname: nov\n", vec![])), B400, &[VERSION]),
        case(
            "version not-a-version",
            Req::Raw(chart_with("nav", &yaml_for("nav", "not-a-version"), vec![])),
            B400,
            &[VERSION],
        ),
        case("version 1.2.3.4", Req::Raw(chart_with("four", &yaml_for("four", "1.2.3.4"), vec![])), B400, &[VERSION]),
        case("missing name", Req::Raw(chart_with("non", "apiVersion: v2\nversion: 1.0.0\n", vec![])), B400, &[NAME]),
        case("name with a slash", Req::Raw(chart_with("slash", &yaml_for("a/b", "1.0.0"), vec![])), B400, &[NAME]),
        case("name `..`", Req::Raw(chart_with("dots", &yaml_for("..", "1.0.0"), vec![])), B400, &[NAME]),
        case(
            "name that traverses (ChartMuseum acceptance test)",
            Req::Raw(chart_with("evil", &yaml_for("\"../../../../charts/org2/repo2/evil\"", "1.0.0"), vec![])),
            B400,
            &[NAME],
        ),
        case(
            "chart API v3 (Helm 4 renders v1 and v2 only)",
            Req::Raw(chart_with("apiv3", "apiVersion: v3\nname: apiv3\nversion: 1.0.0\n", vec![])),
            B400,
            &[&["apiversion"], &["v3"]],
        ),
        case(
            "chart API v3 in a multipart upload",
            Req::Form(vec![(
                "chart",
                "apiv3-1.0.0.tgz",
                chart_with("apiv3", "apiVersion: v3\nname: apiv3\nversion: 1.0.0\n", vec![]),
            )]),
            B400,
            &[&["apiversion"], &["v3"]],
        ),
        case(
            "name and version too long for any storage's file names or keys",
            Req::Raw(chart_with("long", &yaml_for(&"n".repeat(250), &format!("1.0.0-{}", "p".repeat(780))), vec![])),
            B400,
            &[&["too long"], &["at most 255", "at most 1024"]],
        ),
        case(
            "unknown chart type",
            Req::Raw(chart_with("ty", "apiVersion: v2\nname: ty\nversion: 1.0.0\ntype: weird\n", vec![])),
            B400,
            &[&["type"]],
        ),
        case(
            "invalid dependency name",
            Req::Raw(chart_with(
                "depn",
                "apiVersion: v2\nname: depn\nversion: 1.0.0\ndependencies:\n  - name: \"bad name!\"\n    version: 1.0.0\n    repository: https://example.invalid\n",
                vec![],
            )),
            B400,
            &[&["dependenc"]],
        ),
        case(
            "invalid YAML in values.yaml",
            Req::Raw(
                ChartBuilder::new()
                    .entries([
                        TarEntry::file("badv/Chart.yaml", yaml_for("badv", "1.0.0")),
                        TarEntry::file("badv/values.yaml", "key: [unclosed\n"),
                    ])
                    .build(),
            ),
            B400,
            &[&["values"]],
        ),
        // --- multipart and provenance --------------------------------------------------------
        case(
            "multipart with a wrong field name",
            Req::Form(vec![("file", "base-2.0.0.tgz", good.clone())]),
            B400,
            &[&["chart"], PROV],
        ),
        case(
            "multipart chart part that is not gzip",
            Req::Form(vec![("chart", "x-1.0.0.tgz", b"plain text, not a chart".to_vec())]),
            B400,
            &[&["gzip"]],
        ),
        case(
            "multipart with only a bad prov",
            Req::Form(vec![("prov", "x-1.0.0.tgz.prov", b"not a provenance file".to_vec())]),
            B400,
            &[PROV],
        ),
        case(
            "multipart prov whose name/version do not match the chart",
            Req::Form(vec![
                ("chart", "base-2.0.0.tgz", good.clone()),
                ("prov", "base-2.0.0.tgz.prov", signtest_prov.clone()),
            ]),
            B400,
            &[PROV, &["match", "differ", "signtest", "name", "version"]],
        ),
        case(
            "multipart body that is not multipart",
            Req::Post {
                path: "/api/charts",
                content_type: "multipart/form-data; boundary=XyZ",
                body: b"this is not a multipart body".to_vec(),
            },
            B400,
            &[&["multipart", "form", "boundary", "part"]],
        ),
        case(
            "multipart content type without boundary",
            Req::Post { path: "/api/charts", content_type: "multipart/form-data", body: b"--x\r\n\r\n".to_vec() },
            B400,
            &[&["multipart", "form", "boundary"]],
        ),
        case(
            "POST /api/prov with garbage",
            Req::Post {
                path: "/api/prov",
                content_type: "application/octet-stream",
                body: b"garbage that is not a provenance file".to_vec(),
            },
            B400,
            &[PROV],
        ),
        case(
            "POST /api/prov with an empty body",
            Req::Post { path: "/api/prov", content_type: "application/octet-stream", body: Vec::new() },
            B400,
            &[PROV],
        ),
        // --- reads and deletes -----------------------------------------------------------------
        case(
            "DELETE of a missing chart version",
            Req::Delete("/api/charts/missing/1.0.0"),
            B404,
            &[&["not found", "no such", "does not exist", "missing"]],
        ),
        case(
            "DELETE of a missing version of an existing chart",
            Req::Delete("/api/charts/base/7.7.7"),
            B404,
            &[&["not found", "no such", "does not exist", "missing"]],
        ),
        case(
            "GET /charts/foo.txt",
            Req::Get("/charts/foo.txt"),
            B404,
            &[&["not found", "extension", "unsupported", "no such"]],
        ),
        case("GET /api/charts?limit=0", Req::Get("/api/charts?limit=0"), B400, &[&["limit"]]),
        case("GET /api/charts?offset=-1", Req::Get("/api/charts?offset=-1"), B400, &[&["offset"]]),
        case("improper constraint", Req::Get("/api/charts/base/%3E%3Dfoo"), &[400, 404], &[&["constraint"]]),
    ]
}

async fn send(server: &Server, req: &Req) -> Result<Resp, String> {
    let (what, rb) = match req {
        Req::Raw(body) => (
            "POST /api/charts (raw)".to_owned(),
            server
                .req(Method::POST, "/api/charts")
                .header("Content-Type", "application/octet-stream")
                .body(body.clone()),
        ),
        Req::Form(parts) => {
            let mut form = reqwest::multipart::Form::new();
            for (field, fname, bytes) in parts {
                form = form.part(*field, reqwest::multipart::Part::bytes(bytes.clone()).file_name(*fname));
            }
            ("POST /api/charts (multipart)".to_owned(), server.req(Method::POST, "/api/charts").multipart(form))
        }
        Req::Post { path, content_type, body } => (
            format!("POST {path}"),
            server.req(Method::POST, path).header("Content-Type", *content_type).body(body.clone()),
        ),
        Req::Get(path) => (format!("GET {path}"), server.req(Method::GET, path)),
        Req::Delete(path) => (format!("DELETE {path}"), server.req(Method::DELETE, path)),
    };
    let r = rb.timeout(Duration::from_secs(60)).send().await.map_err(|e| format!("{what}: request failed: {e:?}"))?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.map_err(|e| format!("{what}: reading body failed: {e:?}"))?.to_vec();
    Ok(Resp { status, headers, body, what })
}

/// Checks one response; returns a description of what is wrong, if anything.
fn check(c: &Case, r: &Resp) -> Option<String> {
    let mut problems = Vec::new();
    if !c.status.contains(&r.status) {
        problems.push(format!("status {} (expected {:?})", r.status, c.status));
    }
    let ct = r.header("content-type").unwrap_or_default();
    if !ct.starts_with("application/json") {
        problems.push(format!("Content-Type {ct:?} is not application/json"));
    }
    let msg = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
    match msg {
        None => problems.push("body is not a JSON {\"error\": \"<string>\"}".to_owned()),
        Some(m) => {
            let lower = m.to_lowercase();
            for group in c.keywords {
                if !group.iter().any(|k| lower.contains(k)) {
                    problems.push(format!("error message lacks any of {group:?}"));
                }
            }
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{}: {}; body {:?}",
            r.what,
            problems.join("; "),
            truncate(&String::from_utf8_lossy(&r.body), 300)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_rejected_and_change_nothing() {
    let server = Server::start(&[]).await;
    // Some state to protect.
    server.upload_ok(ChartBuilder::chart("base", "1.0.0").build()).await;
    server.upload_ok(ChartBuilder::chart("base", "1.1.0").build()).await;
    server.upload_signtest().await;
    let index_before = server.index_bytes().await;
    let storage_before = server.storage_snapshot();

    let cases = cases();
    assert!(cases.len() >= 25, "at least 25 distinct bad-input cases");
    let mut failures = Vec::new();
    for c in &cases {
        match send(&server, &c.req).await {
            Err(e) => failures.push(format!("[{}] {e}", c.name)),
            Ok(r) => {
                // Shown with --nocapture: what the server answered to each case.
                eprintln!("bad input [{}] -> {} {}", c.name, r.status, truncate(&r.text(), 200));
                if let Some(p) = check(c, &r) {
                    failures.push(format!("[{}] {p}", c.name));
                }
            }
        }
        // Nothing changed, whatever the answer was.
        if server.storage_snapshot() != storage_before {
            let now = server.storage_snapshot();
            let added: Vec<_> = now.keys().filter(|k| !storage_before.contains_key(*k)).collect();
            let removed: Vec<_> = storage_before.keys().filter(|k| !now.contains_key(*k)).collect();
            failures.push(format!("[{}] storage changed: added {added:?}, removed {removed:?}", c.name));
            // Restore is impossible from here; later cases would all report this.
            break;
        }
        let idx = server.get("/index.yaml").await;
        if idx.status != 200 || idx.body != index_before {
            failures.push(format!(
                "[{}] GET /index.yaml changed (status {}):\n{}",
                c.name,
                idx.status,
                truncate(&idx.text(), 2000)
            ));
            break;
        }
    }

    // The server survived everything and still accepts good uploads.
    server.get("/health").await.assert_status(200);
    server.upload_ok(ChartBuilder::chart("base", "3.0.0").build()).await;
    assert_eq!(server.index().await.versions("base"), ["3.0.0", "1.1.0", "1.0.0"]);

    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Bodies over `--max-upload-size` get 413 on every upload route and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_max_upload_size_get_413() {
    let server = Server::start(&["--max-upload-size", "4096"]).await;
    let small = ChartBuilder::chart("small", "1.0.0").build();
    assert!(small.len() < 2048);
    server.upload_ok(small).await;
    let index_before = server.index_bytes().await;
    let storage_before = server.storage_snapshot();

    let big = ChartBuilder::chart("big", "1.0.0").file("README.md", noise_text(16 * 1024, 11)).build();
    assert!(big.len() > 8192, "test chart must exceed the limit clearly");
    let mut big_prov = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: big\nversion: 1.0.0\n".to_vec();
    big_prov.extend_from_slice(noise_text(16 * 1024, 5).as_bytes());

    let reqs = vec![
        ("raw chart", Req::Raw(big.clone())),
        ("multipart chart", Req::Form(vec![("chart", "big-1.0.0.tgz", big.clone())])),
        ("raw prov", Req::Post { path: "/api/prov", content_type: "application/octet-stream", body: big_prov }),
    ];
    let mut failures = Vec::new();
    for (name, req) in &reqs {
        let c =
            Case { name, req: Req::Get("/unused"), status: &[413], keywords: &[&["large", "size", "limit", "exceed"]] };
        match send(&server, req).await {
            Err(e) => failures.push(format!("[{name}] {e}")),
            Ok(r) => {
                if let Some(p) = check(&c, &r) {
                    failures.push(format!("[{name}] {p}"));
                }
            }
        }
        if server.storage_snapshot() != storage_before {
            failures.push(format!("[{name}] storage changed"));
        }
        if server.index_bytes().await != index_before {
            failures.push(format!("[{name}] index changed"));
        }
    }
    // Still serving, still accepting bodies under the limit.
    server
        .upload_multipart(Some(("small-1.1.0.tgz", ChartBuilder::chart("small", "1.1.0").build())), None, "")
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    assert!(failures.is_empty(), "413 cases failed:\n{}", failures.join("\n"));
}
