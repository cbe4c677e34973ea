//! OCI benchmark (`cargo bench --bench oci`, normally via `scripts/bench.sh oci`): Chartroom's
//! distribution API against Debian's `docker-registry` (the CNCF distribution registry 2.8)
//! serving the same chart, side by side in one run, both on local disk on loopback:
//! `helm pull oci://` (Helm 4.1), concurrent blob `GET`s of the chart layer, and `helm push`
//! latency. Prints a Markdown report (see BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chartroom_testkit::process::Process;
use chartroom_testkit::{ChartBuilder, Launch, Server, StorageTarget, free_port, load_client, noise};
use clap::Parser;

type Res<T> = Result<T, String>;

#[derive(Parser, Debug)]
#[command(about = "Chartroom OCI benchmark against docker-registry (see BENCHMARKS.md)")]
struct Opts {
    /// chartroom binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/chartroom"))]
    server: PathBuf,
    /// Helm 4 binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/helm4"))]
    helm: PathBuf,
    /// The distribution registry (Debian package docker-registry)
    #[arg(long, default_value = "/usr/bin/docker-registry")]
    registry: PathBuf,
    /// Sequential `helm pull oci://` per registry (at least 3)
    #[arg(long, default_value_t = 30)]
    pulls: usize,
    /// Sequential `helm push` per registry (at least 3)
    #[arg(long, default_value_t = 20)]
    pushes: usize,
    /// Seconds of concurrent blob GETs per registry
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent clients of the blob GETs
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Quick mode: 5 pulls, 5 pushes, 2 s of GETs
    #[arg(long)]
    quick: bool,
    #[arg(long, hide = true)]
    bench: bool,
}

/// Helm with its own homes in `home`.
fn helm(opts: &Opts, home: &Path, args: &[&str]) -> Res<String> {
    let out = Command::new(&opts.helm)
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HOME", home)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run helm: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(format!("helm {args:?} failed: {text}")) }
}

/// docker-registry on a free port, storing in `dir`.
async fn start_registry(opts: &Opts, dir: &Path) -> Res<(Process, u16)> {
    let port = free_port();
    let config = dir.join("config.yml");
    let root = dir.join("data");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let process = Process::spawn(
        Command::new(&opts.registry).arg("serve").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()),
    )
    .map_err(|e| format!("cannot start {}: {e}", opts.registry.display()))?;
    let client = load_client();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if client.get(format!("http://127.0.0.1:{port}/v2/")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok((process, port));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("docker-registry did not answer within 20 s".into())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn p90_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[(samples.len() * 9 / 10).min(samples.len() - 1)].as_secs_f64() * 1000.0
}

/// A chart with `extra` bytes of incompressible data, so that the layer is a realistic blob.
fn chart(version: &str, extra: usize) -> Vec<u8> {
    ChartBuilder::chart("bench", version).file("files/blob.bin", noise(extra, 9)).build()
}

struct Row {
    what: String,
    registry: String,
    chartroom: String,
}

async fn pulls(opts: &Opts, home: &Path, reference: &str, n: usize) -> Res<Vec<Duration>> {
    let mut samples = Vec::new();
    for i in 0..n {
        let out = home.join(format!("pull-{i}"));
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        let started = Instant::now();
        helm(
            opts,
            home,
            &["pull", reference, "--version", "1.0.0", "--plain-http", "-d", out.to_str().unwrap_or(".")],
        )?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

async fn pushes(opts: &Opts, home: &Path, host: &str, n: usize) -> Res<Vec<Duration>> {
    let mut samples = Vec::new();
    for i in 0..n {
        let file = home.join(format!("bench-2.0.{i}.tgz"));
        std::fs::write(&file, chart(&format!("2.0.{i}"), 64 * 1024)).map_err(|e| e.to_string())?;
        let started = Instant::now();
        helm(opts, home, &["push", file.to_str().unwrap_or("."), &format!("oci://{host}"), "--plain-http"])?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Concurrent GETs of `url` for `seconds`: (requests per second, MB/s).
async fn blob_gets(url: &str, clients: usize, seconds: u64) -> Res<(f64, f64)> {
    let client = load_client();
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, requests, bytes) = (client.clone(), url.to_owned(), requests.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("GET {url}: {}", r.status()));
                }
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                requests.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = requests.load(Ordering::Relaxed) as f64;
    Ok((n / elapsed, bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6))
}

async fn run(mut opts: Opts) -> Res<()> {
    if opts.quick {
        (opts.pulls, opts.pushes, opts.seconds) = (5, 5, 2);
    }
    opts.pulls = opts.pulls.max(3);
    opts.pushes = opts.pushes.max(3);
    chartroom_testkit::use_chartroom_binary(&opts.server);
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_registry, registry_port) = start_registry(&opts, work.path()).await?;
    let registry = format!("127.0.0.1:{registry_port}");
    let mut launch = Launch::new(StorageTarget::Local).args(&["--cache-interval", "0"]);
    launch.ready_within = Duration::from_secs(30);
    let server = Server::launch(launch).await;
    let chartroom = format!("127.0.0.1:{}", server.port());

    // The same chart (1.0.0, about 256 KiB of layer) pushed by the same Helm to both.
    let home = work.path().join("helm");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let file = home.join("bench-1.0.0.tgz");
    let archive = chart("1.0.0", 256 * 1024);
    std::fs::write(&file, &archive).map_err(|e| e.to_string())?;
    for host in [&registry, &chartroom] {
        helm(&opts, &home, &["push", file.to_str().unwrap_or("."), &format!("oci://{host}"), "--plain-http"])?;
    }
    // And a curl-uploaded chart on Chartroom, served with a derived manifest.
    let upload = load_client()
        .post(server.url("/api/charts"))
        .body(chart("1.0.0-derived", 256 * 1024).to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !upload.status().is_success() {
        return Err(format!("upload: {}", upload.status()));
    }

    let mut rows = Vec::new();
    let reg_pull = pulls(&opts, &home, &format!("oci://{registry}/bench"), opts.pulls).await?;
    let cr_pull = pulls(&opts, &home, &format!("oci://{chartroom}/bench"), opts.pulls).await?;
    rows.push(Row {
        what: format!("`helm pull oci://` (Helm 4.1, {} sequential), median / p90 ms", opts.pulls),
        registry: format!("{:.1} / {:.1}", median_ms(reg_pull.clone()), p90_ms(reg_pull)),
        chartroom: format!("{:.1} / {:.1}", median_ms(cr_pull.clone()), p90_ms(cr_pull)),
    });
    let mut derived = Vec::new();
    for i in 0..opts.pulls {
        let out = home.join(format!("derived-{i}"));
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let reference = format!("oci://{chartroom}/bench");
        helm(
            &opts,
            &home,
            &["pull", &reference, "--version", "1.0.0-derived", "--plain-http", "-d", out.to_str().unwrap_or(".")],
        )?;
        derived.push(started.elapsed());
    }
    rows.push(Row {
        what: "`helm pull oci://` of a curl-uploaded chart (derived manifest), median / p90 ms".into(),
        registry: "n/a".into(),
        chartroom: format!("{:.1} / {:.1}", median_ms(derived.clone()), p90_ms(derived)),
    });

    let digest = format!("sha256:{}", chartroom_testkit::sha256_hex(&archive));
    let (reg_rps, reg_mbs) =
        blob_gets(&format!("http://{registry}/v2/bench/blobs/{digest}"), opts.clients, opts.seconds).await?;
    let (cr_rps, cr_mbs) =
        blob_gets(&format!("http://{chartroom}/v2/bench/blobs/{digest}"), opts.clients, opts.seconds).await?;
    rows.push(Row {
        what: format!(
            "blob `GET` of the chart layer ({} KiB), {} clients, {} s: requests/s (MB/s)",
            archive.len() / 1024,
            opts.clients,
            opts.seconds
        ),
        registry: format!("{reg_rps:.0} ({reg_mbs:.0})"),
        chartroom: format!("{cr_rps:.0} ({cr_mbs:.0})"),
    });

    let reg_push = pushes(&opts, &home, &registry, opts.pushes).await?;
    let cr_push = pushes(&opts, &home, &chartroom, opts.pushes).await?;
    rows.push(Row {
        what: format!("`helm push` of a new version (64 KiB, {} sequential), median / p90 ms", opts.pushes),
        registry: format!("{:.1} / {:.1}", median_ms(reg_push.clone()), p90_ms(reg_push)),
        chartroom: format!("{:.1} / {:.1}", median_ms(cr_push.clone()), p90_ms(cr_push)),
    });

    println!("### OCI: Chartroom vs docker-registry\n");
    println!("| Measurement | docker-registry 2.8 | Chartroom |");
    println!("|---|---:|---:|");
    for row in rows {
        println!("| {} | {} | {} |", row.what, row.registry, row.chartroom);
    }
    println!();
    Ok(())
}

fn main() {
    let opts = Opts::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(opts)) {
        eprintln!("bench: FAILED: {e}");
        std::process::exit(1);
    }
}
