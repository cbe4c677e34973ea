//! Soak test (`cargo bench --bench soak`, normally via `scripts/soak.sh [minutes]`): a bounded
//! run of mixed load on local storage and on S3 at once, then the checks that a long-running
//! server needs to pass.
//!
//! * **Sites**: one server on local storage; two replicas on one s3s-fs bucket (change-log
//!   polling every second). Every server resyncs with storage every 10 s (`--cache-interval`).
//! * **Load** (`load.rs`): per site, `--clients` workers doing uploads (raw, and multipart with a
//!   provenance file), `?force` overwrites, deletes, `index.yaml`, chart, API and templates
//!   GETs and resync requests, each on a random server of the site; every response is counted by
//!   operation and status; a status outside the operation's expected set (2xx, and the conflicts
//!   that two replicas and deletes make: 409 for an upload, 404 for a delete or a GET of
//!   something deleted) or a transport error is a violation.
//! * **Clients** (`clients.rs`): slow clients on every server (a partial header dribbled a byte
//!   every 2 s; a POST body dribbled likewise), and real Helm (`helm repo update`, `helm pull`)
//!   on every site once a minute.
//! * **Samples** (`check.rs`): RSS (`VmRSS`) and open file descriptors (`/proc/<pid>/fd`) of
//!   every server every `--sample-secs`.
//! * **Checks** at the end (`check.rs`): storage and index agree on every server (every listed
//!   version's file exists with the listed digest; every archive in storage is listed once), and
//!   memory and descriptors are flat: after a warm-up (the first 10 % of the samples, at least
//!   two), the last quarter's average RSS is at most `--rss-tolerance` (relative) plus
//!   `--rss-slack-mb` above the first quarter's, and the last quarter's average descriptor count
//!   at most `--fd-slack` above the first quarter's.
//!
//! Prints a Markdown report; exits 1 on any violation.

mod check;
mod clients;
mod load;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chartroom_testkit::{Helm, HelmVersion, Launch, S3Server, Server, StorageTarget};
use clap::Parser;

pub type Res<T> = Result<T, String>;

/// Options (all optional). `cargo bench` adds `--bench`, which is accepted and ignored.
#[derive(Parser, Debug, Clone)]
#[command(about = "Chartroom soak test (see DEVELOPERS.md)")]
pub struct Opts {
    /// How long the load runs, in minutes
    #[arg(long, default_value_t = 20.0)]
    minutes: f64,
    /// chartroom binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/chartroom"))]
    server: PathBuf,
    /// s3s-fs binary
    #[arg(long = "s3s-fs", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/s3s-fs"))]
    s3s_fs: PathBuf,
    /// Helm 4 binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/helm4"))]
    helm: PathBuf,
    /// Load workers per site
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Slow clients per server at any time
    #[arg(long, default_value_t = 8)]
    slow_clients: usize,
    /// Seconds between RSS and descriptor samples
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
    /// Seconds between Helm runs (`helm repo update` and `helm pull` on every site)
    #[arg(long, default_value_t = 60)]
    helm_secs: u64,
    /// Allowed relative RSS growth, last quarter over first quarter
    #[arg(long, default_value_t = 0.25)]
    rss_tolerance: f64,
    /// Allowed absolute RSS growth on top of the relative one, in MiB
    #[arg(long, default_value_t = 16)]
    rss_slack_mb: u64,
    /// Allowed growth of the average open descriptor count, last quarter over first quarter
    #[arg(long, default_value_t = 16.0)]
    fd_slack: f64,
    #[arg(long, hide = true)]
    bench: bool,
}

const BUCKET: &str = "soak";

/// A group of servers on one storage: the load spreads over them, the checks cover each.
pub struct Site {
    pub name: &'static str,
    pub servers: Vec<Server>,
}

impl Site {
    pub fn bases(&self) -> Vec<String> {
        self.servers.iter().map(Server::repo_url).collect()
    }
}

async fn start(target: StorageTarget, extra: &[&str]) -> Server {
    let mut launch = Launch::new(target).args(&["--cache-interval", "10s"]).args(extra);
    launch.ready_within = Duration::from_secs(60);
    Server::launch(launch).await
}

async fn run(opts: Opts) -> Res<bool> {
    chartroom_testkit::use_chartroom_binary(&opts.server);
    let helm = Helm::with_binary(HelmVersion::V4, opts.helm.clone());
    let s3 = S3Server::start_binary(opts.s3s_fs.clone());
    s3.create_bucket(BUCKET);
    let s3_target = StorageTarget::S3 { s3: Arc::clone(&s3), bucket: BUCKET.to_owned(), prefix: "charts".to_owned() };
    let replica_args = ["--storage-poll-interval", "1s"];
    let sites = Arc::new(vec![
        Site { name: "local", servers: vec![start(StorageTarget::Local, &[]).await] },
        Site {
            name: "s3",
            servers: vec![start(s3_target.clone(), &replica_args).await, start(s3_target, &replica_args).await],
        },
    ]);
    let duration = Duration::from_secs_f64(opts.minutes * 60.0);
    println!(
        "## Soak: {:.1} min, {} workers per site, {} slow clients per server, samples every {} s\n",
        opts.minutes, opts.clients, opts.slow_clients, opts.sample_secs
    );
    let started = Instant::now();
    let deadline = started + duration;

    let stable = clients::prepare_helm(&helm, &sites).await?;
    let sampler = tokio::spawn(check::sample(check::pids(&sites), Duration::from_secs(opts.sample_secs), deadline));
    let mut tasks = Vec::new();
    for site in sites.iter() {
        for w in 0..opts.clients {
            tasks.push(tokio::spawn(load::worker(site.name, site.bases(), w, deadline)));
        }
        for base in site.bases() {
            for s in 0..opts.slow_clients {
                tasks.push(tokio::spawn(clients::slow_client(base.clone(), s, deadline)));
            }
        }
    }
    let helm_task = {
        let every = Duration::from_secs(opts.helm_secs);
        tokio::task::spawn_blocking(move || clients::helm_loop(&helm, &stable, every, deadline))
    };

    let mut tally = load::Tally::default();
    for t in tasks {
        tally.merge(t.await.map_err(|e| format!("a load task failed: {e}"))?);
    }
    tally.merge(helm_task.await.map_err(|e| format!("the Helm task failed: {e}"))?);
    let samples = sampler.await.map_err(|e| format!("the sampler failed: {e}"))?;
    let ran = started.elapsed();

    let agreement = check::agreement(&sites).await;
    let flat = check::flatness(&samples, &opts);
    let ok = tally.report(ran) & check::report_samples(&samples, &flat) & check::report_agreement(&agreement);
    println!("\n**{}**", if ok { "PASS" } else { "FAIL" });
    if !ok {
        for site in sites.iter() {
            for (i, server) in site.servers.iter().enumerate() {
                let log = server.log();
                // The whole log beside the report (target/soak/), for what the tail misses.
                let kept = format!("{}/target/soak/{}-server-{i}.log", env!("CARGO_MANIFEST_DIR"), site.name);
                let kept = match std::fs::write(&kept, &log) {
                    Ok(()) => kept,
                    Err(e) => format!("(not kept: {e})"),
                };
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- {} server {i}, whole log in {kept}, last log lines:", site.name);
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(opts)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}
