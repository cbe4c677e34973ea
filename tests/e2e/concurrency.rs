//! Many concurrent writers: nothing lost, nothing duplicated, and every 201 is immediately
//! visible to readers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::future::join_all;
use tokio::sync::Mutex;

use crate::support::*;

const CHARTS: usize = 40;
const VERSIONS: usize = 10;
const CLIENTS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_lose_and_duplicate_nothing() {
    let server = Arc::new(Server::start(&[]).await);

    // 400 distinct (name, version) pairs; half raw, half multipart.
    let mut work: Vec<(String, String, Vec<u8>)> = Vec::new();
    for c in 0..CHARTS {
        for v in 0..VERSIONS {
            let name = format!("conc{c:02}");
            let version = format!("1.{v}.0");
            let bytes = ChartBuilder::chart(&name, &version).build();
            work.push((name, version, bytes));
        }
    }
    let expected_digests: BTreeMap<(String, String), String> =
        work.iter().map(|(n, v, b)| ((n.clone(), v.clone()), sha256_hex(b))).collect();
    // Interleave charts so that clients write to the same chart at the same time.
    work.sort_by_key(|(n, v, _)| (v.clone(), n.clone()));
    let queue = Arc::new(Mutex::new(work));
    let completed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));

    // A reader checking read-your-writes under load: every index it gets holds at least as
    // many versions as uploads had completed (201) before it asked.
    let reader = {
        let server = server.clone();
        let completed = completed.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let client = new_client();
            let mut reads = 0usize;
            let mut violations = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let before = completed.load(Ordering::SeqCst);
                let r = client.get(server.url("/index.yaml")).send().await.expect("GET index");
                assert_eq!(r.status().as_u16(), 200);
                let body = r.bytes().await.expect("body");
                let idx = Index::parse(&body);
                if idx.total_versions() < before {
                    violations.push(format!(
                        "index had {} versions after {before} uploads had been answered 201",
                        idx.total_versions()
                    ));
                }
                reads += 1;
            }
            (reads, violations)
        })
    };

    let mut tasks = Vec::new();
    for client_no in 0..CLIENTS {
        let server = server.clone();
        let queue = queue.clone();
        let completed = completed.clone();
        tasks.push(tokio::spawn(async move {
            let client = new_client();
            let mut results = Vec::new();
            loop {
                let Some((name, version, bytes)) = queue.lock().await.pop() else {
                    break;
                };
                let multipart = (client_no + results.len()) % 2 == 0;
                let rb = if multipart {
                    let part = reqwest::multipart::Part::bytes(bytes).file_name(format!("{name}-{version}.tgz"));
                    client
                        .post(server.url("/api/charts"))
                        .multipart(reqwest::multipart::Form::new().part("chart", part))
                } else {
                    client
                        .post(server.url("/api/charts"))
                        .header("Content-Type", "application/octet-stream")
                        .body(bytes)
                };
                let r = rb.send().await;
                let outcome = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        (status, body)
                    }
                    Err(e) => (0, format!("request error: {e:?}")),
                };
                if outcome.0 == 201 {
                    completed.fetch_add(1, Ordering::SeqCst);
                }
                results.push((name, version, outcome.0, outcome.1));
            }
            results
        }));
    }
    let results: Vec<_> = join_all(tasks).await.into_iter().flat_map(|r| r.expect("upload task")).collect();
    done.store(true, Ordering::SeqCst);
    let (reads, violations) = reader.await.expect("reader task");

    assert_eq!(results.len(), CHARTS * VERSIONS);
    let failed: Vec<_> = results.iter().filter(|r| r.2 != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of {} concurrent uploads did not get 201, e.g. {:?}",
        failed.len(),
        results.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
    assert!(reads > 0);
    assert!(
        violations.is_empty(),
        "read-your-writes violated under load ({} of {reads} reads), e.g. {:?}",
        violations.len(),
        violations.first()
    );

    // Every version exactly once, with the right digest.
    let idx = server.index().await;
    assert_eq!(idx.entries.len(), CHARTS, "number of charts in the index");
    for c in 0..CHARTS {
        let name = format!("conc{c:02}");
        let versions = idx.versions(&name);
        let want: Vec<String> = (0..VERSIONS).rev().map(|v| format!("1.{v}.0")).collect();
        assert_eq!(versions, want, "versions of {name}, each exactly once, newest first");
        for e in &idx.entries[&name] {
            assert_eq!(
                Some(e.digest()),
                expected_digests.get(&(name.clone(), e.version().to_owned())).map(String::as_str),
                "digest of {name} {}",
                e.version()
            );
        }
    }
    assert_eq!(idx.total_versions(), CHARTS * VERSIONS);

    // The JSON view agrees.
    let api = server.get("/api/charts").await;
    api.assert_status(200);
    let v = api.json();
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), CHARTS);
    let total: usize = obj.values().map(|l| l.as_array().map(Vec::len).unwrap_or(0)).sum();
    assert_eq!(total, CHARTS * VERSIONS);

    // Storage holds exactly the 400 archives.
    let files = server.storage_files();
    let tgz: Vec<_> = files.iter().filter(|f| f.ends_with(".tgz")).collect();
    assert_eq!(tgz.len(), CHARTS * VERSIONS, "number of .tgz files in storage");
    assert_eq!(files.len(), CHARTS * VERSIONS, "no other files in storage: {files:?}");
}

/// 16 clients upload the same version at once: exactly one 201, the others 409, one entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_of_the_same_version_have_one_winner() {
    let server = Arc::new(Server::start(&[]).await);
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let server = server.clone();
        let bytes = ChartBuilder::chart("race", "1.0.0").file("README.md", format!("client {i}\n")).build();
        tasks.push(tokio::spawn(async move {
            let client = new_client();
            let r = client
                .post(server.url("/api/charts"))
                .header("Content-Type", "application/octet-stream")
                .body(bytes.clone())
                .send()
                .await
                .expect("upload");
            (r.status().as_u16(), bytes)
        }));
    }
    let results: Vec<(u16, Vec<u8>)> = join_all(tasks).await.into_iter().map(|r| r.expect("task")).collect();
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert_eq!(winners.len(), 1, "exactly one 201; statuses {statuses:?}");
    assert!(results.iter().all(|(s, _)| *s == 201 || *s == 409), "the others get 409; statuses {statuses:?}");
    let idx = server.index().await;
    assert_eq!(idx.versions("race"), ["1.0.0"]);
    assert_eq!(
        idx.expect_entry("race", "1.0.0").digest(),
        sha256_hex(&winners[0].1),
        "the index describes the winner's bytes"
    );
    assert!(server.storage_snapshot()["race-1.0.0.tgz"] == winners[0].1, "storage holds the winner's bytes");
}
