//! Replication benchmark (`cargo bench --bench replication`, normally via `scripts/bench.sh`):
//! Chartroom on a real S3 protocol server (s3s-fs on loopback), one and three replicas on one
//! bucket. Prints a Markdown report (see BENCHMARKS.md).
//!
//! Options (all optional):
//!   --server PATH      chartroom binary                     [target/release/chartroom]
//!   --s3s-fs PATH      s3s-fs binary                        [.tools/bin/s3s-fs]
//!   --uploads N        sequential uploads per measurement   [100]
//!   --conc-uploads N   uploads in the concurrent run        [600]
//!   --conc-clients N   clients in the concurrent run        [24]
//!   --poll-ms N        --storage-poll-interval of replicas  [500]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

type Res<T> = Result<T, String>;

const ACCESS_KEY: &str = "bench-access";
const SECRET_KEY: &str = "bench-secret";
const BUCKET: &str = "bench";

struct Opts {
    server: PathBuf,
    s3s_fs: PathBuf,
    uploads: usize,
    conc_uploads: usize,
    conc_clients: usize,
    poll_ms: u64,
}

fn parse_opts() -> Res<Opts> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut o = Opts {
        server: root.join("target/release/chartroom"),
        s3s_fs: root.join(".tools/bin/s3s-fs"),
        uploads: 100,
        conc_uploads: 600,
        conc_clients: 24,
        poll_ms: 500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--bench" {
            continue;
        }
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--server" => o.server = PathBuf::from(val()?),
            "--s3s-fs" => o.s3s_fs = PathBuf::from(val()?),
            "--uploads" => o.uploads = num(val()?)?.max(10),
            "--conc-uploads" => o.conc_uploads = num(val()?)?,
            "--conc-clients" => o.conc_clients = num(val()?)?.max(1),
            "--poll-ms" => o.poll_ms = num(val()?)?.max(10) as u64,
            other => return Err(format!("unknown option {other} (see the top of benches/replication.rs)")),
        }
    }
    Ok(o)
}

fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_s3(opts: &Opts, root: &Path) -> Res<(Proc, String)> {
    let port = free_port()?;
    std::fs::create_dir_all(root.join(BUCKET)).map_err(|e| e.to_string())?;
    let child = Command::new(&opts.s3s_fs)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", opts.s3s_fs.display()))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("s3s-fs did not listen within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((Proc(child), format!("http://127.0.0.1:{port}")))
}

struct Replica {
    _proc: Proc,
    base: String,
}

async fn start_replica(opts: &Opts, http: &reqwest::Client, endpoint: &str, log: &Path) -> Res<Replica> {
    let port = free_port()?;
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let child = Command::new(&opts.server)
        .args(["serve", "--listen-host", "127.0.0.1", "--port", &port.to_string(), "--storage", "amazon"])
        .args(["--cache-interval", "0", "--storage-poll-interval", &format!("{}ms", opts.poll_ms)])
        .env("STORAGE_AMAZON_BUCKET", BUCKET)
        .env("STORAGE_AMAZON_PREFIX", "repo")
        .env("STORAGE_AMAZON_REGION", "us-east-1")
        .env("STORAGE_AMAZON_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env_remove("CHARTROOM_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", opts.server.display()))?;
    let replica = Replica { _proc: Proc(child), base: format!("http://127.0.0.1:{port}") };
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{}/health", replica.base)).send().await
            && r.status() == 200
        {
            return Ok(replica);
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("replica not healthy within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn chart(name: &str, version: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let files = [
        ("Chart.yaml", format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: replication bench\n")),
        ("values.yaml", "replicaCount: 1\nimage: nginx\n".to_owned()),
        ("templates/deployment.yaml", "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n".to_owned()),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("{name}/{path}"), data.as_bytes()).expect("tar");
    }
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).expect("gzip");
    gz.finish().expect("gzip")
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
    let scratch =
        tempfile::Builder::new().prefix("chartroom-replication-bench-").tempdir().map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let (_s3, endpoint) = start_s3(&opts, &scratch.path().join("s3"))?;
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(start_replica(&opts, &http, &endpoint, &scratch.path().join(format!("replica-{i}.log"))).await?);
    }
    println!("## Replication on S3 (s3s-fs 0.14.1 on loopback, 3 replicas, poll interval {} ms)\n", opts.poll_ms);

    // Idle polling cost, per replica per second, once every replica has a change log.
    for (i, r) in replicas.iter().enumerate() {
        upload(&http, &r.base, chart("warmup", &format!("0.0.{i}"))).await?;
    }
    // Past the persisted state's debounce, so only polling remains.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let idle_secs = 5.0;
    let before = requests(&http, &replicas[0].base).await?;
    tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
    let idle = diff(before, requests(&http, &replicas[0].base).await?);
    let idle_rate = idle.map(|v| v / idle_secs);

    // Sequential uploads through replica 0; each followed by polling replicas 1 and 2.
    let mut upload_latency = Vec::new();
    let mut convergence = Vec::new();
    let before_up = requests(&http, &replicas[0].base).await?;
    let before_peer = requests(&http, &replicas[1].base).await?;
    let started = Instant::now();
    for i in 0..opts.uploads {
        // Uploads arrive at random moments relative to the peers' poll ticks (a fixed rhythm
        // would lock onto them and measure one phase only).
        let jitter = (i as u64).wrapping_mul(2_654_435_761) % (opts.poll_ms * 1000);
        tokio::time::sleep(Duration::from_micros(jitter)).await;
        let (name, version) = (format!("seq{}", i % 20), format!("1.{i}.0"));
        let bytes = chart(&name, &version);
        let t = Instant::now();
        upload(&http, &replicas[0].base, bytes).await?;
        let acked = Instant::now();
        upload_latency.push(acked - t);
        if !has_version(&http, &replicas[0].base, &name, &version).await {
            return Err(format!("{name} {version} not visible on the replica that answered 201"));
        }
        for peer in &replicas[1..] {
            loop {
                if has_version(&http, &peer.base, &name, &version).await {
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
    let up = diff(before_up, requests(&http, &replicas[0].base).await?);
    let peer = diff(before_peer, requests(&http, &replicas[1].base).await?);
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
    let bases: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.base.clone()).collect());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..opts.conc_clients {
        let (next, bases, http, total) = (next.clone(), bases.clone(), http.clone(), opts.conc_uploads);
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
    for r in &replicas {
        loop {
            let body = get_json(&http, format!("{}/api/charts", r.base)).await?;
            let count: usize =
                body.as_object().map_or(0, |m| m.values().filter_map(Value::as_array).map(Vec::len).sum());
            if count == expected {
                break;
            }
            if last_201.elapsed() > Duration::from_secs(30) {
                return Err(format!("replica {} lists {count} of {expected} after 30 s", r.base));
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
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(opts)) {
        eprintln!("bench: FAILED: {e}");
        std::process::exit(1);
    }
}
