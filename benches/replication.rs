//! Replication benchmark (`cargo bench --bench replication`, normally via `scripts/bench.sh`):
//! Chartroom on a real S3 protocol server (s3s-fs on loopback), one and three replicas on one
//! bucket. Prints a Markdown report (see BENCHMARKS.md). The replicas and s3s-fs are the test
//! toolkit's (`chartroom-testkit`: `Server`, `S3Server`), the charts come from `ChartBuilder`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chartroom_testkit::{ChartBuilder, Launch, S3Server, Server, StorageTarget, load_client};
use clap::Parser;
use serde_json::Value;

type Res<T> = Result<T, String>;

const BUCKET: &str = "bench";

/// Options (all optional). `cargo bench` adds `--bench`, which is accepted and ignored.
#[derive(Parser, Debug)]
#[command(about = "Chartroom replication benchmark on S3 (see BENCHMARKS.md)")]
struct Opts {
    /// chartroom binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/chartroom"))]
    server: PathBuf,
    /// s3s-fs binary
    #[arg(long = "s3s-fs", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/s3s-fs"))]
    s3s_fs: PathBuf,
    /// Sequential uploads per measurement (at least 10)
    #[arg(long, default_value_t = 100)]
    uploads: usize,
    /// Uploads in the concurrent run
    #[arg(long, default_value_t = 600)]
    conc_uploads: usize,
    /// Clients in the concurrent run (at least 1)
    #[arg(long, default_value_t = 24)]
    conc_clients: usize,
    /// --storage-poll-interval of the replicas, in milliseconds (at least 10)
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    #[arg(long, hide = true)]
    bench: bool,
}

/// A replica of the bucket's repository, polling its peers every `poll_ms`, periodic resync off.
async fn start_replica(target: &StorageTarget, poll_ms: u64) -> Server {
    let poll = format!("{poll_ms}ms");
    let mut launch = Launch::new(target.clone()).args(&["--cache-interval", "0", "--storage-poll-interval", &poll]);
    launch.ready_within = Duration::from_secs(30);
    launch.poll_every = Duration::from_millis(10);
    Server::launch(launch).await
}

fn chart(name: &str, version: &str) -> Vec<u8> {
    ChartBuilder::new()
        .top_folder(name)
        .file(
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: replication bench\n"),
        )
        .file("values.yaml", "replicaCount: 1\nimage: nginx\n")
        .file("templates/deployment.yaml", "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n")
        .build()
}

async fn upload(http: &reqwest::Client, base: &str, bytes: Vec<u8>) -> Res<()> {
    let r = http.post(format!("{base}/api/charts")).body(bytes).send().await.map_err(|e| e.to_string())?;
    if r.status() != 201 {
        return Err(format!("upload: {} {}", r.status(), r.text().await.unwrap_or_default()));
    }
    Ok(())
}

async fn has_version(http: &reqwest::Client, base: &str, name: &str, version: &str) -> bool {
    http.get(format!("{base}/api/charts/{name}/{version}")).send().await.is_ok_and(|r| r.status() == 200)
}

async fn get_json(http: &reqwest::Client, url: String) -> Res<Value> {
    http.get(url).send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())
}

async fn requests(http: &reqwest::Client, base: &str) -> Res<[u64; 5]> {
    let h = get_json(http, format!("{base}/health")).await?;
    let r = &h["storageRequests"];
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    Ok([n("get"), n("head"), n("put"), n("delete"), n("list")])
}

fn diff(a: [u64; 5], b: [u64; 5]) -> [f64; 5] {
    [0, 1, 2, 3, 4].map(|i| b[i].saturating_sub(a[i]) as f64)
}

fn fmt_requests(r: [f64; 5], per: f64) -> String {
    let names = ["GET", "HEAD", "PUT", "DELETE", "LIST"];
    let total: f64 = r.iter().sum::<f64>() / per;
    let parts: Vec<String> =
        names.iter().zip(r).filter(|(_, v)| *v > 0.0).map(|(n, v)| format!("{n} {:.2}", v / per)).collect();
    format!("{total:.2} ({})", parts.join(", "))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run(opts: Opts) -> Res<()> {
    chartroom_testkit::use_chartroom_binary(&opts.server);
    let http = load_client();
    let s3 = S3Server::start_binary(opts.s3s_fs.clone());
    s3.create_bucket(BUCKET);
    let target = StorageTarget::S3 { s3, bucket: BUCKET.to_owned(), prefix: "repo".to_owned() };
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start_replica(&target, opts.poll_ms).await);
    }
    let bases: Vec<String> = replicas.iter().map(Server::repo_url).collect();
    println!("## Replication on S3 (s3s-fs 0.14.1 on loopback, 3 replicas, poll interval {} ms)\n", opts.poll_ms);

    // Idle polling cost, per replica per second, once every replica has a change log.
    for (i, base) in bases.iter().enumerate() {
        upload(&http, base, chart("warmup", &format!("0.0.{i}"))).await?;
    }
    // Past the persisted state's debounce, so only polling remains.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let idle_secs = 5.0;
    let before = requests(&http, &bases[0]).await?;
    tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
    let idle = diff(before, requests(&http, &bases[0]).await?);
    let idle_rate = idle.map(|v| v / idle_secs);

    // Sequential uploads through replica 0; each followed by polling replicas 1 and 2.
    let mut upload_latency = Vec::new();
    let mut convergence = Vec::new();
    let before_up = requests(&http, &bases[0]).await?;
    let before_peer = requests(&http, &bases[1]).await?;
    let started = Instant::now();
    for i in 0..opts.uploads {
        // Uploads arrive at random moments relative to the peers' poll ticks (a fixed rhythm
        // would lock onto them and measure one phase only).
        let jitter = (i as u64).wrapping_mul(2_654_435_761) % (opts.poll_ms * 1000);
        tokio::time::sleep(Duration::from_micros(jitter)).await;
        let (name, version) = (format!("seq{}", i % 20), format!("1.{i}.0"));
        let bytes = chart(&name, &version);
        let t = Instant::now();
        upload(&http, &bases[0], bytes).await?;
        let acked = Instant::now();
        upload_latency.push(acked - t);
        if !has_version(&http, &bases[0], &name, &version).await {
            return Err(format!("{name} {version} not visible on the replica that answered 201"));
        }
        for peer in &bases[1..] {
            loop {
                if has_version(&http, peer, &name, &version).await {
                    convergence.push(acked.elapsed());
                    break;
                }
                if acked.elapsed() > Duration::from_secs(10) {
                    return Err(format!("{name} {version} not on a peer after 10 s"));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let up = diff(before_up, requests(&http, &bases[0]).await?);
    let peer = diff(before_peer, requests(&http, &bases[1]).await?);
    // Polling went on meanwhile; take its idle share out.
    let up_net = [0, 1, 2, 3, 4].map(|i| (up[i] - idle_rate[i] * elapsed).max(0.0));
    let peer_net = [0, 1, 2, 3, 4].map(|i| (peer[i] - idle_rate[i] * elapsed).max(0.0));
    upload_latency.sort();
    convergence.sort();
    let n = opts.uploads as f64;
    println!("| measurement | result |\n|---|---|");
    println!(
        "| upload → 201 (visible on that replica), {} sequential uploads | p50 {}, p99 {}, max {} |",
        opts.uploads,
        ms(pct(&upload_latency, 0.5)),
        ms(pct(&upload_latency, 0.99)),
        ms(*upload_latency.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| 201 → visible on another replica ({} samples, 2 peers) | p50 {}, p99 {}, max {} |",
        convergence.len(),
        ms(pct(&convergence, 0.5)),
        ms(pct(&convergence, 0.99)),
        ms(*convergence.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| store requests per upload, uploading replica (idle polling subtracted) | {} |",
        fmt_requests(up_net, n)
    );
    println!(
        "| store requests per upload, each other replica (idle polling subtracted) | {} |",
        fmt_requests(peer_net, n)
    );
    println!(
        "| store requests per second per replica while idle (polling 2 peers) | {} |",
        fmt_requests(idle, idle_secs)
    );

    // Concurrent uploads spread over the three replicas.
    let next = Arc::new(AtomicUsize::new(0));
    let shared_bases = Arc::new(bases.clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..opts.conc_clients {
        let (next, bases, http, total) = (next.clone(), shared_bases.clone(), http.clone(), opts.conc_uploads);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return Ok::<(), String>(());
                }
                upload(&http, &bases[(i + c) % bases.len()], chart(&format!("conc{}", i % 30), &format!("2.{i}.0")))
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let last_201 = Instant::now();
    let upload_secs = (last_201 - started).as_secs_f64();
    let expected = opts.uploads + opts.conc_uploads + replicas.len();
    let mut all_listed = Duration::ZERO;
    for base in &bases {
        loop {
            let body = get_json(&http, format!("{base}/api/charts")).await?;
            let count: usize =
                body.as_object().map_or(0, |m| m.values().filter_map(Value::as_array).map(Vec::len).sum());
            if count == expected {
                break;
            }
            if last_201.elapsed() > Duration::from_secs(30) {
                return Err(format!("replica {base} lists {count} of {expected} after 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        all_listed = last_201.elapsed();
    }
    println!(
        "| {} uploads from {} clients over 3 replicas | {:.0} uploads/s; every replica listed all {expected} versions {} after the last 201 |",
        opts.conc_uploads,
        opts.conc_clients,
        opts.conc_uploads as f64 / upload_secs,
        ms(all_listed)
    );
    println!();
    Ok(())
}

fn main() {
    let mut opts = Opts::parse();
    opts.uploads = opts.uploads.max(10);
    opts.conc_clients = opts.conc_clients.max(1);
    opts.poll_ms = opts.poll_ms.max(10);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(opts)) {
        eprintln!("bench: FAILED: {e}");
        std::process::exit(1);
    }
}
