//! The ChartMuseum-compatible HTTP API, over raw HTTP.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Sends a raw HTTP/1.1 request with `Connection: close` and returns (status line, headers
/// lower-cased, bytes after the header block). Used to prove that HEAD and 304 send no body.
fn raw_http(
    port: u16,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap_or_else(|e| panic!("{method} {path}: reading raw response: {e}"));
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no header terminator in {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let rest = buf[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    (status, headers, rest)
}

fn hdr<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[track_caller]
fn assert_files(server: &Server, expected: &[&str]) {
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(server.storage_files(), want, "storage folder contents (without .chartroom/)");
}

// ---------------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_and_multipart_uploads() {
    let server = Server::start(&[]).await;
    let empty = server.index().await;
    assert_eq!(empty.api_version.as_deref(), Some("v1"));
    assert!(empty.entries.is_empty(), "fresh repository has no entries");
    assert!(empty.generated.is_some(), "index has `generated`");
    assert!(server.storage_files().is_empty());
    server.get("/api/charts").await.assert_status(200).assert_json(json!({}));

    // Raw body, curl's default content type.
    let raw1 = ChartBuilder::chart("upl", "1.0.0").build();
    server.upload_ok(raw1.clone()).await;
    // Read-your-writes, no sleep.
    let idx = server.index().await;
    assert_eq!(idx.expect_entry("upl", "1.0.0").digest(), sha256_hex(&raw1));

    // Raw body, application/octet-stream.
    let raw2 = ChartBuilder::chart("upl", "1.1.0").build();
    server
        .post("/api/charts", "application/octet-stream", raw2.clone())
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    assert_eq!(server.index().await.versions("upl"), ["1.1.0", "1.0.0"]);

    // Multipart with chart only.
    let mp = ChartBuilder::chart("upl", "2.0.0").build();
    server
        .upload_multipart(Some(("upl-2.0.0.tgz", mp.clone())), None, "")
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    assert_eq!(server.index().await.versions("upl"), ["2.0.0", "1.1.0", "1.0.0"]);

    // Like `helm cm-push`: chunked multipart (no Content-Length), the part's file name is a
    // full temporary path that must not be trusted.
    let pushed = ChartBuilder::chart("upl", "3.0.0").build();
    let stream = futures::stream::iter(
        pushed.chunks(100).map(|c| Ok::<Vec<u8>, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream))
        .file_name("/tmp/helm-push-1234/upl-3.0.0.tgz")
        .mime_str("application/octet-stream")
        .expect("mime");
    let rb =
        server.req(reqwest::Method::POST, "/api/charts").multipart(reqwest::multipart::Form::new().part("chart", part));
    let r = server.send("POST /api/charts (chunked multipart, cm-push style)".into(), rb).await;
    r.assert_status(201);
    assert_eq!(server.index().await.expect_entry("upl", "3.0.0").digest(), sha256_hex(&pushed));
    assert!(server.storage_dir().join("upl-3.0.0.tgz").is_file());
    server.delete("/api/charts/upl/3.0.0").await.assert_status(200);

    // Multipart with chart and provenance.
    let st = read_testdata(SIGNTEST_TGZ);
    let prov = read_testdata(SIGNTEST_PROV);
    server
        .upload_multipart(Some(("signtest-0.1.0.tgz", st.clone())), Some(("signtest-0.1.0.tgz.prov", prov.clone())), "")
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    let idx = server.index().await;
    assert_eq!(idx.expect_entry("signtest", "0.1.0").digest(), SIGNTEST_SHA256);

    // Storage layout: <name>-<version>.tgz and .tgz.prov, exactly the uploaded bytes.
    assert_files(
        &server,
        &["signtest-0.1.0.tgz", "signtest-0.1.0.tgz.prov", "upl-1.0.0.tgz", "upl-1.1.0.tgz", "upl-2.0.0.tgz"],
    );
    let snap = server.storage_snapshot();
    assert!(snap["upl-1.0.0.tgz"] == raw1);
    assert!(snap["upl-1.1.0.tgz"] == raw2);
    assert!(snap["upl-2.0.0.tgz"] == mp);
    assert!(snap["signtest-0.1.0.tgz"] == st);
    assert!(snap["signtest-0.1.0.tgz.prov"] == prov);

    // Served back byte for byte.
    for (file, bytes) in [
        ("upl-1.0.0.tgz", &raw1),
        ("upl-2.0.0.tgz", &mp),
        ("signtest-0.1.0.tgz", &st),
        ("signtest-0.1.0.tgz.prov", &prov),
    ] {
        let r = server.get(&format!("/charts/{file}")).await;
        r.assert_status(200);
        assert!(r.body == *bytes, "GET /charts/{file} returns the stored bytes");
    }

    // The multipart-uploaded chart is fully indexed (not only after a rescan).
    let r = server.get("/api/charts/upl/2.0.0").await;
    r.assert_status(200);
    assert_eq!(r.json()["digest"], sha256_hex(&mp));

    // POST /api/prov (raw) for a chart uploaded without one.
    let hashtest = read_testdata("helm/pkg/provenance/testdata/hashtest-1.2.3.tgz");
    let hashprov = read_testdata("helm/pkg/provenance/testdata/hashtest-1.2.3.tgz.prov");
    server.upload_ok(hashtest).await;
    server
        .post("/api/prov", "application/octet-stream", hashprov.clone())
        .await
        .assert_status(201)
        .assert_json(json!({"saved": true}));
    let r = server.get("/charts/hashtest-1.2.3.tgz.prov").await;
    r.assert_status(200);
    assert!(r.body == hashprov);
    // Re-posting the same prov conflicts.
    let r = server.post("/api/prov", "application/octet-stream", hashprov).await;
    r.assert_status(409);
    assert_eq!(r.error_message(), "file already exists");
}

/// Default flags: 409 on re-upload, 201 with ?force, the digest follows, no duplicate entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reupload_conflict_and_force() {
    let server = Server::start(&[]).await;
    let v1 = ChartBuilder::chart("ow", "1.0.0").build();
    let v2 = ChartBuilder::chart("ow", "1.0.0").file("README.md", "second build\n").build();
    let v3 = ChartBuilder::chart("ow", "1.0.0").file("README.md", "third build\n").build();
    assert_ne!(sha256_hex(&v1), sha256_hex(&v2));
    server.upload_ok(v1.clone()).await;
    server.upload_ok(ChartBuilder::chart("ow", "0.9.0").build()).await;
    let before = server.index_bytes().await;
    let snap = server.storage_snapshot();

    let r = server.upload_raw(v2.clone()).await;
    r.assert_status(409);
    assert_eq!(r.error_message(), "file already exists");
    let r = server.upload_multipart(Some(("ow-1.0.0.tgz", v2.clone())), None, "").await;
    r.assert_status(409);
    assert_eq!(r.error_message(), "chart already exists");
    assert!(server.index_bytes().await == before, "a 409 must not change the index");
    assert!(server.storage_snapshot() == snap, "a 409 must not change storage");

    // ?force overwrites (raw).
    server.upload_raw_query(v2.clone(), "?force").await.assert_status(201).assert_json(json!({"saved": true}));
    let idx = server.index().await;
    assert_eq!(idx.versions("ow"), ["1.0.0", "0.9.0"], "no duplicate entry after ?force");
    assert_eq!(idx.expect_entry("ow", "1.0.0").digest(), sha256_hex(&v2));
    assert!(server.storage_snapshot()["ow-1.0.0.tgz"] == v2);
    let r = server.get("/charts/ow-1.0.0.tgz").await;
    assert!(r.body == v2, "served bytes follow the overwrite");

    // ?force overwrites (multipart).
    server.upload_multipart(Some(("ow-1.0.0.tgz", v3.clone())), None, "?force").await.assert_status(201);
    let idx = server.index().await;
    assert_eq!(idx.versions("ow"), ["1.0.0", "0.9.0"], "no duplicate entry after ?force");
    assert_eq!(idx.expect_entry("ow", "1.0.0").digest(), sha256_hex(&v3));
    let api = server.get("/api/charts/ow").await;
    api.assert_status(200);
    assert_eq!(api.json().as_array().expect("array").len(), 2);
}

/// `--allow-overwrite` × `--disable-force-overwrite` × `?force`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_flag_matrix() {
    // (flags, status without ?force, status with ?force)
    let cases: [(&[&str], u16, u16); 4] = [
        (&[], 409, 201),
        (&["--allow-overwrite"], 201, 201),
        (&["--disable-force-overwrite"], 409, 409),
        (&["--allow-overwrite", "--disable-force-overwrite"], 201, 201),
    ];
    for (flags, plain, forced) in cases {
        let server = Server::start(flags).await;
        let builds: Vec<Vec<u8>> = (0..3)
            .map(|i| ChartBuilder::chart("mx", "1.0.0").file("README.md", format!("build {i}\n")).build())
            .collect();
        server.upload_ok(builds[0].clone()).await;
        let mut current = builds[0].clone();
        for (attempt, (query, expected)) in [("", plain), ("?force", forced)].into_iter().enumerate() {
            let body = builds[attempt + 1].clone();
            let r = server.upload_raw_query(body.clone(), query).await;
            assert_eq!(r.status, expected, "flags {flags:?}, re-upload with query {query:?}: body {}", r.text());
            if expected == 201 {
                current = body;
            } else {
                assert_eq!(r.error_message(), "file already exists", "flags {flags:?}");
            }
            let idx = server.index().await;
            assert_eq!(idx.versions("mx"), ["1.0.0"], "flags {flags:?} query {query:?}: one entry");
            assert_eq!(
                idx.expect_entry("mx", "1.0.0").digest(),
                sha256_hex(&current),
                "flags {flags:?} query {query:?}: digest"
            );
            assert!(
                server.storage_snapshot()["mx-1.0.0.tgz"] == current,
                "flags {flags:?} query {query:?}: stored bytes"
            );
        }
        // Multipart follows the same rules.
        let mp = ChartBuilder::chart("mx", "1.0.0").file("README.md", "multipart\n").build();
        let r = server.upload_multipart(Some(("mx-1.0.0.tgz", mp.clone())), None, "").await;
        assert_eq!(r.status, plain, "flags {flags:?}, multipart re-upload: {}", r.text());
        if plain == 409 {
            assert_eq!(r.error_message(), "chart already exists");
        } else {
            current = mp;
        }
        let idx = server.index().await;
        assert_eq!(idx.versions("mx"), ["1.0.0"]);
        assert_eq!(idx.expect_entry("mx", "1.0.0").digest(), sha256_hex(&current));
    }
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_version_and_all_versions() {
    let server = Server::start(&[]).await;
    let helms: Vec<Helm> = BOTH_HELMS.iter().map(|v| Helm::new(*v)).collect();
    server.upload_signtest().await;
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        server.upload_ok(ChartBuilder::chart("del", v).build()).await;
    }
    server.upload_ok(ChartBuilder::chart("other", "1.0.0").build()).await;
    for h in &helms {
        h.repo_add("cr", &server.repo_url());
        assert_eq!(h.searched_versions("cr", "del", false), ["2.0.0", "1.1.0", "1.0.0"]);
        assert_eq!(h.searched_versions("cr", "signtest", false), ["0.1.0"]);
    }

    // One version with its provenance file.
    server.delete("/api/charts/signtest/0.1.0").await.assert_status(200).assert_json(json!({"deleted": true}));
    assert!(server.index().await.versions("signtest").is_empty());
    assert!(!server.storage_dir().join("signtest-0.1.0.tgz").exists());
    assert!(!server.storage_dir().join("signtest-0.1.0.tgz.prov").exists(), "the .prov is deleted with its chart");
    server.get("/charts/signtest-0.1.0.tgz").await.assert_status(404);
    server.get("/charts/signtest-0.1.0.tgz.prov").await.assert_status(404);

    // One version of several.
    server.delete("/api/charts/del/1.1.0").await.assert_status(200).assert_json(json!({"deleted": true}));
    assert_eq!(server.index().await.versions("del"), ["2.0.0", "1.0.0"]);
    let r = server.get("/api/charts/del/1.1.0").await;
    r.assert_status(404);
    r.error_message();
    server.get("/charts/del-1.1.0.tgz").await.assert_status(404);
    assert_files(&server, &["del-1.0.0.tgz", "del-2.0.0.tgz", "other-1.0.0.tgz"]);
    let r = server.delete("/api/charts/del/1.1.0").await;
    r.assert_status(404);
    r.error_message();

    for h in &helms {
        h.repo_update();
        assert_eq!(
            h.searched_versions("cr", "del", true),
            ["2.0.0", "1.0.0"],
            "{}: deleted version still offered",
            h.label()
        );
        assert!(h.searched_versions("cr", "signtest", true).is_empty());
        let d = h.work_dir("pull-deleted");
        h.run_fail(&["pull", "cr/del", "--version", "1.1.0", "-d", d.to_str().expect("UTF-8 path")]);
    }

    // All versions of a chart.
    server.delete("/api/charts/del").await.assert_status(200).assert_json(json!({"deleted": true}));
    let idx = server.index().await;
    assert!(idx.versions("del").is_empty(), "all versions of del removed from the index");
    assert_eq!(idx.versions("other"), ["1.0.0"], "other charts are untouched");
    assert_files(&server, &["other-1.0.0.tgz"]);
    let r = server.get("/api/charts/del").await;
    r.assert_status(404);
    r.error_message();
    let r = server.delete("/api/charts/del").await;
    r.assert_status(404);
    r.error_message();
    for h in &helms {
        h.repo_update();
        assert!(h.searched_versions("cr", "del", true).is_empty(), "{}", h.label());
        assert_eq!(h.searched_versions("cr", "other", false), ["1.0.0"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_delete() {
    let server = Server::start(&["--disable-delete"]).await;
    server.upload_ok(ChartBuilder::chart("keep", "1.0.0").build()).await;
    let before = server.index_bytes().await;
    for path in ["/api/charts/keep/1.0.0", "/api/charts/keep"] {
        let r = server.delete(path).await;
        r.assert_status(404);
        r.error_message();
    }
    assert!(server.index_bytes().await == before);
    assert_files(&server, &["keep-1.0.0.tgz"]);
}

// ---------------------------------------------------------------------------------------------
// Out-of-band storage changes, persistence
// ---------------------------------------------------------------------------------------------

/// Puts `bytes` into the storage folder as `name` atomically (write elsewhere, then rename).
fn copy_into_storage(server: &Server, name: &str, bytes: &[u8]) {
    let tmp = server.temp_dir().join(format!("staging-{name}"));
    fs::write(&tmp, bytes).expect("write staging file");
    fs::rename(&tmp, server.storage_dir().join(name)).expect("rename into storage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_picks_up_out_of_band_changes() {
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("kept", "1.0.0").build()).await;
    server.upload_ok(ChartBuilder::chart("gone", "1.0.0").build()).await;

    let oob = ChartBuilder::chart("oob", "1.0.0").build();
    copy_into_storage(&server, "oob-1.0.0.tgz", &oob);
    // A file name that is ambiguous to parse: chart `xxxx`, version `3.0.0-12`.
    let amb = ChartBuilder::chart("xxxx", "3.0.0-12").build();
    copy_into_storage(&server, "xxxx-3.0.0-12.tgz", &amb);
    // Something that is not a chart at all must not break the resync.
    copy_into_storage(&server, "broken-1.0.0.tgz", b"definitely not a gzip file");
    fs::remove_file(server.storage_dir().join("gone-1.0.0.tgz")).expect("remove");

    let r = server.post("/api/resync", "application/json", Vec::new()).await;
    r.assert_status(200);
    r.json();

    let idx = server.index().await;
    assert_eq!(idx.versions("oob"), ["1.0.0"], "copied chart appears after resync");
    assert_eq!(idx.expect_entry("oob", "1.0.0").digest(), sha256_hex(&oob));
    assert_eq!(idx.expect_entry("oob", "1.0.0").urls, ["charts/oob-1.0.0.tgz"]);
    assert_eq!(
        idx.versions("xxxx"),
        ["3.0.0-12"],
        "name and version come from Chart.yaml, not from the file name; entries {:?}",
        idx.entries.keys().collect::<Vec<_>>()
    );
    assert!(idx.versions("xxxx-3.0.0").is_empty());
    assert!(idx.versions("gone").is_empty(), "removed chart disappears after resync");
    assert_eq!(idx.versions("kept"), ["1.0.0"]);
    assert!(idx.versions("broken").is_empty());

    let r = server.get("/charts/oob-1.0.0.tgz").await;
    r.assert_status(200);
    assert!(r.body == oob);
    server.get("/api/charts/oob/1.0.0").await.assert_status(200);
    server.get("/api/charts/gone").await.assert_status(404);
    server.get("/api/charts/xxxx/3.0.0-12").await.assert_status(200);

    // The API still works on a resynchronised chart.
    server.delete("/api/charts/oob/1.0.0").await.assert_status(200);
    assert!(!server.storage_dir().join("oob-1.0.0.tgz").exists());
    assert!(server.index().await.versions("oob").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_resync_with_cache_interval() {
    let server = Server::start(&["--cache-interval", "1s"]).await;
    server.upload_ok(ChartBuilder::chart("anchor", "1.0.0").build()).await;
    let tick = ChartBuilder::chart("tick", "1.0.0").build();
    copy_into_storage(&server, "tick-1.0.0.tgz", &tick);
    let appeared =
        eventually(Duration::from_secs(10), || async { server.index().await.entry("tick", "1.0.0").is_some() }).await;
    assert!(appeared, "a .tgz copied into storage must appear within 10 s with --cache-interval 1s");
    assert_eq!(server.index().await.expect_entry("tick", "1.0.0").digest(), sha256_hex(&tick));

    fs::remove_file(server.storage_dir().join("tick-1.0.0.tgz")).expect("remove");
    let gone =
        eventually(Duration::from_secs(10), || async { server.index().await.entry("tick", "1.0.0").is_none() }).await;
    assert!(gone, "a .tgz removed from storage must disappear within 10 s with --cache-interval 1s");
    assert_eq!(server.index().await.versions("anchor"), ["1.0.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_index_byte_identical() {
    let mut server = Server::start(&[]).await;
    let rich_chart_yaml = "apiVersion: v2\nname: rich\nversion: 1.2.3\nappVersion: \"2024.1\"\ndescription: \"Quotes \\\" <tags> & ampersands, ünïcödé\"\nhome: https://example.invalid/rich\nkeywords:\n  - one\n  - two\nmaintainers:\n  - name: Jane Doe\n    email: jane@example.invalid\nannotations:\n  example.invalid/key: value with spaces\nkubeVersion: \">=1.20.0-0\"\ndeprecated: false\ntype: application\n";
    server.upload_ok(ChartBuilder::chart("rich", "1.2.3").file("Chart.yaml", rich_chart_yaml).build()).await;
    server.upload_ok(ChartBuilder::chart("plain", "0.1.0").build()).await;
    server.upload_ok(ChartBuilder::chart("plain", "0.2.0-alpha.1").build()).await;
    server.upload_signtest().await;
    // One chart that arrived out of band, picked up by a resync.
    copy_into_storage(&server, "scanned-1.0.0.tgz", &ChartBuilder::chart("scanned", "1.0.0").build());
    server.post("/api/resync", "application/json", Vec::new()).await.assert_status(200);

    let before = server.index_bytes().await;
    let before_api = server.get("/api/charts").await;
    before_api.assert_status(200);
    let idx = Index::parse(&before);
    assert_eq!(idx.total_versions(), 5, "{}", String::from_utf8_lossy(&before));

    server.restart().await;
    let after = server.index_bytes().await;
    assert!(
        after == before,
        "index.yaml must be byte-identical after a restart\n--- before ---\n{}\n--- after ---\n{}",
        String::from_utf8_lossy(&before),
        String::from_utf8_lossy(&after)
    );
    let after_api = server.get("/api/charts").await;
    assert_eq!(after_api.json(), before_api.json(), "/api/charts after restart");

    // And the restarted server keeps working incrementally; old entries keep `created`.
    server.upload_ok(ChartBuilder::chart("plain", "0.3.0").build()).await;
    let idx2 = server.index().await;
    assert_eq!(idx2.versions("plain"), ["0.3.0", "0.2.0-alpha.1", "0.1.0"]);
    for (name, list) in &idx.entries {
        for e in list {
            assert_eq!(
                idx2.expect_entry(name, e.version()).created(),
                e.created(),
                "created of {name} {} preserved",
                e.version()
            );
        }
    }

    // A second restart after the change is byte-identical again.
    let before2 = server.index_bytes().await;
    server.restart().await;
    assert!(server.index_bytes().await == before2, "second restart: index changed");
}

/// A crash (SIGKILL: no graceful shutdown, the persisted state is older than the last changes)
/// loses no acknowledged upload or delete: the next start reconciles the stale state with storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_change() {
    use std::os::unix::process::ExitStatusExt;
    let mut server = Server::start(&[]).await;
    let kept = ChartBuilder::chart("crash", "1.0.0").build();
    server.upload_ok(kept.clone()).await;
    server.upload_ok(ChartBuilder::chart("crash", "1.1.0").build()).await;
    // The state is persisted in the background shortly after a change.
    let state = server.storage_dir().join(".chartroom/index-state.bin");
    let persisted = eventually(Duration::from_secs(10), || async { state.is_file() }).await;
    assert!(persisted, "{} written after the uploads", state.display());
    server.delete("/api/charts/crash/1.1.0").await.assert_status(200);
    let last = ChartBuilder::chart("crash", "2.0.0").build();
    server.upload_ok(last.clone()).await;

    let st = server.kill9();
    assert_eq!(st.signal(), Some(9), "killed by SIGKILL: {st}");
    server.spawn_and_wait().await;
    let idx = server.index().await;
    assert_eq!(idx.versions("crash"), ["2.0.0", "1.0.0"], "every 201 and 200 survives the crash");
    assert_eq!(idx.expect_entry("crash", "1.0.0").digest(), sha256_hex(&kept));
    assert_eq!(idx.expect_entry("crash", "2.0.0").digest(), sha256_hex(&last));
    assert_files(&server, &["crash-1.0.0.tgz", "crash-2.0.0.tgz"]);
    server.get("/charts/crash-2.0.0.tgz").await.assert_status(200);
}

// ---------------------------------------------------------------------------------------------
// HTTP caching, HEAD, gzip
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_etag_and_conditional_get() {
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("etag", "1.0.0").build()).await;
    let r1 = server.get("/index.yaml").await;
    r1.assert_status(200);
    let etag = r1.header("etag").expect("GET /index.yaml has an ETag");
    assert!(!etag.starts_with("W/"), "ETag must be strong: {etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "ETag must be quoted: {etag}");
    let lm = r1.header("last-modified").expect("GET /index.yaml has Last-Modified");
    assert!(lm.ends_with("GMT"), "Last-Modified is an HTTP date: {lm}");

    let r2 = server.get("/index.yaml").await;
    assert_eq!(r2.header("etag").as_deref(), Some(etag.as_str()), "ETag is stable");
    assert!(r2.body == r1.body);

    let r = server.get_with("/index.yaml", &[("If-None-Match", &etag)]).await;
    r.assert_status(304);
    assert!(r.body.is_empty(), "304 has no body");
    assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()), "304 repeats the ETag");
    let r = server.get_with("/index.yaml", &[("If-None-Match", &format!("\"nope\", {etag}"))]).await;
    r.assert_status(304);
    let r = server.get_with("/index.yaml", &[("If-None-Match", "\"something-else\"")]).await;
    r.assert_status(200);
    assert!(r.body == r1.body);

    // 304 really carries no body on the wire.
    let (status, _, rest) = raw_http(server.port(), "GET", "/index.yaml", &[("If-None-Match", &etag)]);
    assert!(status.contains(" 304"), "raw conditional GET: {status}");
    assert!(rest.is_empty(), "raw 304 carried {} body bytes", rest.len());

    // A change produces a new ETag; the old one no longer matches.
    server.upload_ok(ChartBuilder::chart("etag", "1.1.0").build()).await;
    let r3 = server.get_with("/index.yaml", &[("If-None-Match", &etag)]).await;
    r3.assert_status(200);
    let etag3 = r3.header("etag").expect("ETag");
    assert_ne!(etag3, etag, "ETag changes with the content");
    assert_eq!(Index::parse(&r3.body).versions("etag"), ["1.1.0", "1.0.0"]);
    let r = server.head("/index.yaml").await;
    r.assert_status(200);
    assert_eq!(r.header("etag").as_deref(), Some(etag3.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_matches_get() {
    let server = Server::start(&[]).await;
    let tgz = ChartBuilder::chart("headc", "1.0.0").build();
    server.upload_ok(tgz.clone()).await;
    server.upload_signtest().await;

    for path in ["/index.yaml", "/charts/headc-1.0.0.tgz", "/charts/signtest-0.1.0.tgz.prov"] {
        let g = server.get(path).await;
        g.assert_status(200);
        let (status, headers, rest) = raw_http(server.port(), "HEAD", path, &[]);
        assert!(status.contains(" 200"), "HEAD {path}: {status}");
        assert!(rest.is_empty(), "HEAD {path} sent {} body bytes", rest.len());
        assert_eq!(
            hdr(&headers, "content-length"),
            Some(g.body.len().to_string().as_str()),
            "HEAD {path}: Content-Length must equal the GET body length"
        );
        assert_eq!(hdr(&headers, "etag").map(str::to_owned), g.header("etag"), "HEAD {path}: ETag must equal GET's");
        assert_eq!(
            hdr(&headers, "content-type").map(str::to_owned),
            g.header("content-type"),
            "HEAD {path}: Content-Type must equal GET's"
        );
    }
    // Missing files: 404 for both.
    server.get("/charts/nope-1.0.0.tgz").await.assert_status(404);
    server.head("/charts/nope-1.0.0.tgz").await.assert_status(404);

    // HEAD on the API lookups.
    server.head("/api/charts/headc").await.assert_status(200);
    server.head("/api/charts/headc/1.0.0").await.assert_status(200);
    server.head("/api/charts/headc/latest").await.assert_status(200);
    server.head("/api/charts/nope").await.assert_status(404);
    server.head("/api/charts/headc/9.9.9").await.assert_status(404);
    let (_, _, rest) = raw_http(server.port(), "HEAD", "/api/charts/headc/1.0.0", &[]);
    assert!(rest.is_empty(), "HEAD /api/charts/headc/1.0.0 sent a body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_only_when_asked() {
    let server = Server::start(&[]).await;
    for i in 0..20 {
        server.upload_ok(ChartBuilder::chart("gz", &format!("1.{i}.0")).build()).await;
    }
    let tgz = ChartBuilder::chart("gzc", "1.0.0").build();
    server.upload_ok(tgz.clone()).await;

    let plain = server.get("/index.yaml").await;
    plain.assert_status(200);
    assert_eq!(plain.header("content-encoding"), None, "no gzip unless asked");
    assert!(plain.text().contains("apiVersion"), "plain index is YAML text");

    // The very first request that asks for gzip after a change. Checked at the end, so that
    // the remaining checks run and report independently.
    let first_gz = server.get_with("/index.yaml", &[("Accept-Encoding", "gzip")]).await;
    first_gz.assert_status(200);

    let gz = server.get_with("/index.yaml", &[("Accept-Encoding", "gzip")]).await;
    gz.assert_status(200);
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    let vary = gz.header_all("vary").unwrap_or_default().to_ascii_lowercase();
    assert!(vary.contains("accept-encoding"), "gzip response must carry Vary: Accept-Encoding, got {vary:?}");
    assert!(gz.body.len() < plain.body.len(), "gzip variant is smaller");
    assert!(gunzip(&gz.body) == plain.body, "gzip variant decompresses to the same bytes");

    let gz2 = server.get_with("/index.yaml", &[("Accept-Encoding", "deflate, gzip;q=0.8, br")]).await;
    assert_eq!(gz2.header("content-encoding").as_deref(), Some("gzip"));
    assert!(gunzip(&gz2.body) == plain.body);

    let r = server.get_with("/index.yaml", &[("Accept-Encoding", "identity")]).await;
    r.assert_status(200);
    assert_eq!(r.header("content-encoding"), None, "Accept-Encoding: identity");
    assert!(r.body == plain.body);
    for ae in ["br", "deflate"] {
        let r = server.get_with("/index.yaml", &[("Accept-Encoding", ae)]).await;
        r.assert_status(200);
        assert_ne!(r.header("content-encoding").as_deref(), Some("gzip"), "Accept-Encoding: {ae} must not get gzip");
        if r.header("content-encoding").is_none() {
            assert!(r.body == plain.body);
        }
    }

    // HEAD of the gzip variant: same length as its GET.
    let (status, headers, rest) = raw_http(server.port(), "HEAD", "/index.yaml", &[("Accept-Encoding", "gzip")]);
    assert!(status.contains(" 200"));
    assert!(rest.is_empty());
    if hdr(&headers, "content-encoding") == Some("gzip") {
        assert_eq!(
            hdr(&headers, "content-length"),
            Some(gz.body.len().to_string().as_str()),
            "HEAD with gzip: Content-Length of the gzip body"
        );
    }

    // Charts are never gzip-encoded (they are gzip already).
    let r = server.get_with("/charts/gzc-1.0.0.tgz", &[("Accept-Encoding", "gzip")]).await;
    r.assert_status(200);
    assert_eq!(r.header("content-encoding"), None, ".tgz must not be Content-Encoding: gzip");
    assert!(r.body == tgz, ".tgz bytes are served unchanged");

    // The gzip variant's validator works for conditional requests too.
    if let Some(etag) = gz.header("etag") {
        let r = server.get_with("/index.yaml", &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)]).await;
        r.assert_status(304);
        assert!(r.body.is_empty());
    }

    assert_eq!(
        first_gz.header("content-encoding").as_deref(),
        Some("gzip"),
        "the first GET /index.yaml with Accept-Encoding: gzip after a change must already be \
         gzip (got identity: the gzip variant is not precomputed)"
    );
    assert!(gunzip(&first_gz.body) == plain.body);
}

// ---------------------------------------------------------------------------------------------
// API reads
// ---------------------------------------------------------------------------------------------

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap_or_else(|| panic!("expected an object, got {v}")).keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_charts_listing_and_pagination() {
    let server = Server::start(&[]).await;
    // Uploaded out of alphabetical order.
    for name in ["echo", "alpha", "delta", "charlie", "bravo"] {
        server.upload_ok(ChartBuilder::chart(name, "1.0.0").build()).await;
        server.upload_ok(ChartBuilder::chart(name, "1.10.0").build()).await;
        server.upload_ok(ChartBuilder::chart(name, "1.9.0").build()).await;
    }
    let all = server.get("/api/charts").await;
    all.assert_status(200);
    let v = all.json();
    let mut k = keys(&v);
    k.sort();
    assert_eq!(k, ["alpha", "bravo", "charlie", "delta", "echo"]);
    let versions: Vec<&str> =
        v["alpha"].as_array().expect("array").iter().filter_map(|e| e["version"].as_str()).collect();
    assert_eq!(versions, ["1.10.0", "1.9.0", "1.0.0"], "newest first, semver order");
    let e = &v["alpha"][0];
    assert_eq!(e["name"], "alpha");
    assert_eq!(e["apiVersion"], "v2");
    assert_eq!(e["urls"], json!(["charts/alpha-1.10.0.tgz"]));
    assert_eq!(e["digest"], sha256_hex(&ChartBuilder::chart("alpha", "1.10.0").build()));
    assert!(e["created"].is_string());

    let page = |q: &'static str| {
        let server = &server;
        async move {
            let r = server.get(&format!("/api/charts{q}")).await;
            r.assert_status(200);
            let mut k = keys(&r.json());
            k.sort();
            k
        }
    };
    assert_eq!(page("?offset=1&limit=2").await, ["bravo", "charlie"]);
    assert_eq!(page("?limit=2").await, ["alpha", "bravo"]);
    assert_eq!(page("?offset=0&limit=1").await, ["alpha"]);
    assert_eq!(page("?offset=3").await, ["delta", "echo"], "offset without limit goes to the end");
    assert_eq!(page("?offset=4&limit=10").await, ["echo"]);
    assert!(page("?offset=5&limit=2").await.is_empty());
    assert!(page("?offset=50").await.is_empty());
    let r = server.get("/api/charts?offset=1&limit=2").await;
    assert_eq!(r.json()["bravo"].as_array().map(Vec::len), Some(3));

    for q in ["?limit=0", "?limit=-1", "?limit=abc", "?offset=-1", "?offset=abc", "?offset=1.5&limit=2"] {
        let r = server.get(&format!("/api/charts{q}")).await;
        r.assert_status(400);
        let msg = r.error_message().to_ascii_lowercase();
        let param = if q.contains("limit=") && !q.contains("offset") { "limit" } else { "offset" };
        assert!(msg.contains(param), "GET /api/charts{q}: error {msg:?} should name {param}");
    }

    let r = server.get("/api/charts/alpha").await;
    r.assert_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
    let r = server.get("/api/charts/zulu").await;
    r.assert_status(404);
    r.error_message();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_version_lookup_latest_and_constraints() {
    let server = Server::start(&[]).await;
    for v in ["0.9.0", "1.0.0", "1.1.0", "1.2.0-beta.1", "2.0.0-rc.1"] {
        server.upload_ok(ChartBuilder::chart("look", v).build()).await;
    }
    let version_of = |path: String| {
        let server = &server;
        async move {
            let r = server.get(&path).await;
            r.assert_status(200);
            r.json()["version"].as_str().unwrap_or_else(|| panic!("GET {path}: no version in {}", r.text())).to_owned()
        }
    };
    let exact = server.get("/api/charts/look/1.0.0").await;
    exact.assert_status(200);
    let e = exact.json();
    assert_eq!(e["name"], "look");
    assert_eq!(e["version"], "1.0.0");
    assert_eq!(e["urls"], json!(["charts/look-1.0.0.tgz"]));
    assert_eq!(e["digest"], sha256_hex(&ChartBuilder::chart("look", "1.0.0").build()));
    assert_eq!(e["description"], "Test chart look");

    assert_eq!(version_of("/api/charts/look/latest".into()).await, "1.1.0", "latest skips prereleases");
    assert_eq!(version_of("/api/charts/look/%5E1.0".into()).await, "1.1.0", "^1.0");
    assert_eq!(version_of("/api/charts/look/%7E0.9".into()).await, "0.9.0", "~0.9");
    assert_eq!(version_of("/api/charts/look/%3E%3D1.0.0%2C%20%3C1.1.0".into()).await, "1.0.0", ">=1.0.0, <1.1.0");
    assert_eq!(version_of("/api/charts/look/1.2.0-beta.1".into()).await, "1.2.0-beta.1");
    assert_eq!(
        version_of("/api/charts/look/~1.2.0-0".into()).await,
        "1.2.0-beta.1",
        "a prerelease constraint selects prereleases"
    );
    assert_eq!(version_of("/api/charts/look/1.x".into()).await, "1.1.0", "1.x");

    let r = server.get("/api/charts/look/%5E3.0").await;
    r.assert_status(404);
    r.error_message();
    let r = server.get("/api/charts/look/1.0.1").await;
    r.assert_status(404);
    r.error_message();
    let r = server.get("/api/charts/nope/1.0.0").await;
    r.assert_status(404);
    r.error_message();
    let r = server.get("/api/charts/nope/latest").await;
    r.assert_status(404);

    // A `v` prefix is kept as written, and still orders and matches as semver.
    let vtgz = ChartBuilder::chart("look", "v3.1.0").build();
    server.upload_ok(vtgz.clone()).await;
    let idx = server.index().await;
    assert_eq!(idx.versions("look")[0], "v3.1.0", "indexed exactly as written, newest first");
    assert_eq!(idx.expect_entry("look", "v3.1.0").urls, ["charts/look-v3.1.0.tgz"]);
    assert!(server.storage_dir().join("look-v3.1.0.tgz").is_file());
    assert_eq!(version_of("/api/charts/look/latest".into()).await, "v3.1.0");
    assert_eq!(version_of("/api/charts/look/%5E3".into()).await, "v3.1.0");
    assert_eq!(version_of("/api/charts/look/v3.1.0".into()).await, "v3.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_values() {
    let server = Server::start(&[]).await;
    let values = "marker: tv-values\nnested:\n  key: 42\nlist:\n  - a\n  - b\n";
    let helpers = "{{- define \"tv.name\" -}}tv{{- end -}}\n";
    server
        .upload_ok(
            ChartBuilder::chart("tv", "1.0.0")
                .file("values.yaml", values)
                .file("templates/_helpers.tpl", helpers)
                .build(),
        )
        .await;
    server.upload_ok(ChartBuilder::chart("tv", "0.1.0").build()).await;

    let r = server.get("/api/charts/tv/1.0.0/templates").await;
    r.assert_status(200);
    let v = r.json();
    let templates = v["templates"].as_array().expect("templates array");
    let mut names: Vec<&str> = templates.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["templates/_helpers.tpl", "templates/configmap.yaml"]);
    for t in templates {
        let want = if t["name"] == "templates/configmap.yaml" { CONFIGMAP_TEMPLATE } else { helpers };
        let data = base64_decode(t["data"].as_str().expect("data is base64 text"));
        assert_eq!(String::from_utf8_lossy(&data), want, "template {}", t["name"]);
    }
    assert_eq!(v["values"]["marker"], "tv-values");
    assert_eq!(v["values"]["nested"]["key"], 42);
    assert_eq!(v["values"]["list"], json!(["a", "b"]));

    let r = server.get("/api/charts/tv/1.0.0/values").await;
    r.assert_status(200);
    assert_eq!(r.text(), values, "/values returns values.yaml verbatim");
    let r = server.get("/api/charts/tv/latest/values").await;
    r.assert_status(200);
    assert_eq!(r.text(), values);
    let r = server.get("/api/charts/tv/%7E0.1/values").await;
    r.assert_status(200);
    assert_eq!(r.text(), default_values_yaml("tv", "0.1.0"));

    for path in ["/api/charts/tv/9.9.9/templates", "/api/charts/tv/9.9.9/values", "/api/charts/none/1.0.0/values"] {
        let r = server.get(path).await;
        r.assert_status(404);
        r.error_message();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_routes() {
    let server = Server::start(&[]).await;
    let r = server.get("/").await;
    r.assert_status(200);
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/html"), "welcome page is HTML");
    assert!(r.text().contains("helm repo add"), "welcome page mentions helm repo add");
    let health = server.get("/health").await;
    health.assert_status(200);
    let health = health.json();
    assert_eq!(health["healthy"], json!(true), "{health}");
    assert_eq!(health["status"], json!("ok"), "{health}");
    assert_eq!(health["storage"]["reachable"], json!(true), "{health}");
    let r = server.get("/info").await;
    r.assert_status(200);
    assert!(r.json()["version"].as_str().is_some_and(|s| !s.is_empty()), "/info has a version: {}", r.text());
    for path in ["/nope", "/api/nope", "/health/", "/api/charts/"] {
        let r = server.get(path).await;
        r.assert_status(404);
        r.error_message();
    }
    let r = server.get("/index.yaml").await;
    assert!(
        r.header("content-type").unwrap_or_default().contains("yaml"),
        "index content type: {:?}",
        r.header("content-type")
    );
    let r = server.get("/api/charts").await;
    assert!(
        r.header("content-type").unwrap_or_default().starts_with("application/json"),
        "API content type: {:?}",
        r.header("content-type")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_url_option() {
    let server = Server::start(&["--chart-url", "http://cdn.example.invalid/base/"]).await;
    let tgz = ChartBuilder::chart("cu", "1.0.0").build();
    server.upload_ok(tgz.clone()).await;
    let idx = server.index().await;
    assert_eq!(idx.expect_entry("cu", "1.0.0").urls, ["http://cdn.example.invalid/base/charts/cu-1.0.0.tgz"]);
    let r = server.get("/api/charts/cu/1.0.0").await;
    assert_eq!(r.json()["urls"], json!(["http://cdn.example.invalid/base/charts/cu-1.0.0.tgz"]));
    // The files are still served locally, and /templates and /values still work.
    let r = server.get("/charts/cu-1.0.0.tgz").await;
    r.assert_status(200);
    assert!(r.body == tgz);
    server.get("/api/charts/cu/1.0.0/templates").await.assert_status(200);
    let r = server.get("/api/charts/cu/1.0.0/values").await;
    r.assert_status(200);
    assert_eq!(r.text(), default_values_yaml("cu", "1.0.0"));
}

/// The served index of one chart, in full (fields, order, quoting), with the two times that
/// change from run to run replaced by placeholders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_of_one_chart_snapshot() {
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("snap", "1.0.0").build()).await;
    let index = String::from_utf8(server.index_bytes().await).expect("UTF-8 index");
    let stable: String = index
        .lines()
        .map(|l| match l.split_once(": ") {
            Some((key, _)) if key.trim_start() == "created" || key == "generated" => format!("{key}: <time>\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    insta::assert_snapshot!(stable, @r#"
    apiVersion: v1
    entries:
      snap:
      - apiVersion: v2
        appVersion: "1.0"
        created: <time>
        description: Test chart snap
        digest: c1547adc5b92fdb45d61c4f9835ecbdceed287c2820dbca456ca8d44c6d7fa94
        name: snap
        type: application
        urls:
        - charts/snap-1.0.0.tgz
        version: 1.0.0
    generated: <time>
    serverInfo: {}
    "#);
}
