//! Several `chartroom` processes on one S3 bucket (s3s-fs): propagation, concurrency, a replica
//! killed with SIGKILL mid-upload, and an object-store outage.
//!
//! The simultaneous same-version race (exactly one 201) needs a store whose create-only writes
//! are atomic; s3s-fs checks and writes in two steps, so that race runs on `InMemory` with
//! complete apps (`server/tests/app.rs`, `replicas::simultaneous_uploads_…`). Here the
//! cross-process conflict is checked sequentially: a version stored through one replica is a
//! 409 through another before it has propagated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

const BUCKET: &str = "shared";

/// `n` replicas on one fresh bucket (prefix `repo`).
pub(crate) async fn replicas(n: usize) -> (Arc<S3Server>, StorageTarget, Vec<Server>) {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let target = StorageTarget::S3 { s3: s3.clone(), bucket: BUCKET.to_owned(), prefix: "repo".to_owned() };
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(Server::start_with(target.clone(), &[], &[]).await);
    }
    (s3, target, servers)
}

/// (name, version) → digest, from a replica's served index.
async fn listed(server: &Server) -> BTreeMap<(String, String), String> {
    let index = server.index().await;
    let mut out = BTreeMap::new();
    for (name, versions) in &index.entries {
        for e in versions {
            let previous = out.insert((name.clone(), e.version().to_owned()), e.digest().to_owned());
            assert!(previous.is_none(), "{name} {} listed twice", e.version());
        }
    }
    out
}

/// Waits until every server's index satisfies `check`; returns how long that took. Fails after
/// `limit`, naming what each replica had.
async fn converge(
    servers: &[&Server],
    limit: Duration,
    what: &str,
    check: impl Fn(&BTreeMap<(String, String), String>) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for s in servers {
            let l = listed(s).await;
            all &= check(&l);
            seen.push(l.len());
        }
        if all {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not converged within {limit:?} ({what}); versions per replica: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `.tgz` objects in the bucket, read straight from s3s-fs's folder.
fn stored_charts(target: &StorageTarget) -> BTreeSet<String> {
    let StorageTarget::S3 { s3, bucket, prefix } = target else { panic!("an S3 target") };
    let dir = s3.bucket_dir(bucket).join(prefix);
    std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
                .filter(|n| n.ends_with(".tgz"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_uploads_from_24_clients_over_three_replicas_are_all_listed_once_everywhere_within_2s() {
    let (_s3, target, servers) = replicas(3).await;
    let servers = Arc::new(servers);
    let total = 600;
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for client_no in 0..24 {
        let (servers, next) = (servers.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            let client = new_client();
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return failures;
                }
                let server = &servers[(i + client_no) % servers.len()];
                let bytes = ChartBuilder::chart(&format!("app{:02}", i % 30), &format!("1.{}.0", i / 30)).build();
                let r = client
                    .post(server.url("/api/charts"))
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes)
                    .send()
                    .await
                    .expect("upload");
                if r.status().as_u16() != 201 {
                    failures.push(format!("upload {i} via replica {}: {}", server.port(), r.status()));
                }
            }
        }));
    }
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.expect("client task"));
    }
    let last_response = Instant::now();
    assert!(failures.is_empty(), "{failures:?}");
    let refs: Vec<&Server> = servers.iter().collect();
    let took = converge(&refs, Duration::from_secs(2), "600 uploads", |l| l.len() == total).await;
    let elapsed = last_response.elapsed();
    assert!(elapsed <= Duration::from_secs(2), "converged {took:?} after the last 201, {elapsed:?} counting reads");
    let first = listed(&servers[0]).await;
    for s in servers.iter() {
        assert_eq!(listed(s).await, first, "every replica lists the same versions and digests");
    }
    assert_eq!(stored_charts(&target).len(), total, "one object per version in the bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_deletes_propagate_between_replicas_within_2s() {
    let (_s3, _target, servers) = replicas(3).await;
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    let bytes = ChartBuilder::chart("prop", "1.0.0").build();
    a.upload_ok(bytes.clone()).await;
    converge(&[b, c], Duration::from_secs(2), "upload through a", |l| l.len() == 1).await;
    let entry = b.index().await.expect_entry("prop", "1.0.0").clone();
    assert_eq!(entry.digest(), sha256_hex(&bytes));
    // b serves the chart a stored.
    let got = b.get("/charts/prop-1.0.0.tgz").await;
    got.assert_status(200);
    assert_eq!(got.body, bytes);
    // The version exists in the bucket: through any replica, a second upload is a 409.
    c.upload_raw(ChartBuilder::chart("prop", "1.0.0").file("README.md", "other bytes").build())
        .await
        .assert_status(409);

    b.delete("/api/charts/prop/1.0.0").await.assert_status(200);
    converge(&[a, c], Duration::from_secs(2), "delete through b", |l| l.is_empty()).await;
    a.get("/charts/prop-1.0.0.tgz").await.assert_status(404);
    // Uploaded again through c after the delete: everywhere again.
    c.upload_ok(bytes).await;
    converge(&[a, b], Duration::from_secs(2), "re-upload through c", |l| l.len() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_upload_leaves_no_partial_chart_and_converges_when_restarted() {
    let (_s3, target, mut servers) = replicas(3).await;
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let urls: Vec<String> = servers.iter().map(|s| s.url("/api/charts")).collect();
    let mut clients = Vec::new();
    for client_no in 0..9 {
        let (stop, counter, url) = (stop.clone(), counter.clone(), urls[client_no % 3].clone());
        clients.push(tokio::spawn(async move {
            let client = new_client();
            let mut acknowledged = Vec::new();
            let mut refused = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let i = counter.fetch_add(1, Ordering::SeqCst);
                let (name, version) = (format!("kill{}", i % 10), format!("2.{i}.0"));
                // Big enough that some uploads are in flight when the process dies.
                let noise = noise_text(200_000, i as u64);
                let bytes = ChartBuilder::chart(&name, &version).file("blob.txt", noise.as_str()).build();
                match client.post(&url).body(bytes.clone()).send().await {
                    Ok(r) if r.status().as_u16() == 201 => acknowledged.push(((name, version), sha256_hex(&bytes))),
                    Ok(r) => panic!("upload {i}: unexpected {}", r.status()),
                    Err(_) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (client_no % 3, acknowledged, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = servers[0].kill9();
    assert!(!killed.success(), "SIGKILL: {killed}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = BTreeMap::new();
    let mut survivors_refused = 0;
    let mut through_killed = 0;
    for c in clients {
        let (replica, acks, refused) = c.await.expect("client");
        if replica == 0 {
            through_killed += acks.len();
        } else {
            survivors_refused += refused;
        }
        acknowledged.extend(acks);
    }
    assert_eq!(survivors_refused, 0, "the surviving replicas kept serving");
    assert!(through_killed > 0, "the killed replica acknowledged uploads before dying");
    let (b, c) = (&servers[1], &servers[2]);
    // Every acknowledged upload is on the survivors, whichever replica took it.
    converge(&[b, c], Duration::from_secs(2), "acknowledged uploads", |l| {
        acknowledged.iter().all(|(k, digest)| l.get(k) == Some(digest))
    })
    .await;
    // Nothing partial anywhere: every stored object is a complete chart, and every listed
    // entry downloads with its digest.
    for file in stored_charts(&target) {
        let StorageTarget::S3 { s3, bucket, prefix } = &target else { unreachable!() };
        let bytes = std::fs::read(s3.bucket_dir(bucket).join(prefix).join(&file)).expect("read object");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let entries = archive.entries().expect("tar").count();
        assert!(entries >= 3, "{file} is a complete chart ({entries} entries)");
    }
    for ((name, version), digest) in listed(b).await {
        let got = b.get(&format!("/charts/{name}-{version}.tgz")).await;
        got.assert_status(200);
        assert_eq!(sha256_hex(&got.body), digest, "{name} {version}");
    }

    // Restarted, the killed replica converges with the others, and what it had stored without
    // announcing (uploads cut off between the object and its record) reaches them too: all
    // three list exactly the charts in the bucket.
    servers[0].spawn_and_wait().await;
    let in_bucket: BTreeSet<(String, String)> = stored_charts(&target)
        .iter()
        .map(|f| {
            let stem = f.strip_suffix(".tgz").expect("tgz");
            let (name, version) = stem.rsplit_once('-').expect("name-version");
            (name.to_owned(), version.to_owned())
        })
        .collect();
    let refs: Vec<&Server> = servers.iter().collect();
    converge(&refs, Duration::from_secs(2), "after restart", |l| {
        l.keys().cloned().collect::<BTreeSet<_>>() == in_bucket
    })
    .await;
    let first = listed(&servers[0]).await;
    assert_eq!(listed(&servers[1]).await, first);
    assert_eq!(listed(&servers[2]).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_an_object_store_outage_uploads_get_503_reads_are_served_and_everything_recovers() {
    let (s3, _target, servers) = replicas(2).await;
    let (a, b) = (&servers[0], &servers[1]);
    for v in 0..5 {
        a.upload_ok(ChartBuilder::chart("steady", &format!("1.{v}.0")).build()).await;
    }
    converge(&[b], Duration::from_secs(2), "before the outage", |l| l.len() == 5).await;
    let index_before = b.index_bytes().await;

    s3.kill();
    let r = a.upload_raw(ChartBuilder::chart("steady", "9.0.0").build()).await;
    r.assert_status(503);
    let message = r.error_message();
    assert!(message.contains("unavailable"), "a clear message: {message}");
    // Reads of the index are served from memory, byte for byte.
    assert_eq!(b.index_bytes().await, index_before);
    assert_eq!(a.index().await.total_versions(), 5);
    a.get("/api/charts/steady").await.assert_status(200);
    // Both replicas report the outage (b notices through its polling).
    for s in [a, b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let health = s.get("/health").await;
            health.assert_status(200);
            let h = health.json();
            if h["status"] == json!("degraded") {
                assert_eq!(h["storage"]["reachable"], json!(false), "{h}");
                assert!(h["storage"]["lastError"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
                break;
            }
            assert!(Instant::now() < deadline, "replica {} never reported degraded: {h}", s.port());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    s3.start_again();
    // Recovery needs nobody: both report ok again, uploads work, peers converge.
    for s in [a, b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.get("/health").await.json()["status"] != json!("ok") {
            assert!(Instant::now() < deadline, "replica {} did not recover", s.port());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    b.upload_ok(ChartBuilder::chart("steady", "9.0.0").build()).await;
    converge(&[a, b], Duration::from_secs(2), "after the outage", |l| l.len() == 6).await;
    // Nothing lost: the five from before the outage are intact on both.
    for s in [a, b] {
        let l = listed(s).await;
        for v in 0..5 {
            assert!(l.contains_key(&("steady".to_owned(), format!("1.{v}.0"))));
        }
    }
}
