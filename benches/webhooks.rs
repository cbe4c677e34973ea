//! Webhook benchmark (`cargo bench --bench webhooks`): upload throughput and latency on local
//! storage without webhooks, and with one endpoint whose receiver (the test toolkit's
//! `WebhookReceiver`, verifying with `standardwebhooks`) takes a second per request. Delivery is
//! a background task, so the second run should match the first; the report also shows how many
//! events had been delivered and how many waited when the last upload was answered.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chartroom_testkit::process::free_port;
use chartroom_testkit::{ChartBuilder, Launch, Server, StorageTarget, WEBHOOK_SECRET, WebhookReceiver};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Chartroom webhook benchmark (see BENCHMARKS.md)")]
struct Opts {
    /// chartroom binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/chartroom"))]
    server: PathBuf,
    /// Uploads per run
    #[arg(long, default_value_t = 1000)]
    uploads: usize,
    /// Concurrent clients
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds the receiver takes per request
    #[arg(long, default_value_t = 1.0)]
    receiver_sleep: f64,
    #[arg(long, hide = true)]
    bench: bool,
}

struct Run {
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn uploads(server: &Arc<Server>, opts: &Opts, tag: &str) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..opts.clients)
        .map(|_| {
            let (server, next, total, tag) = (server.clone(), next.clone(), opts.uploads, tag.to_owned());
            tokio::spawn(async move {
                let mut times = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        return times;
                    }
                    let chart = ChartBuilder::chart(&format!("{tag}{}", i % 10), &format!("1.{i}.0")).build();
                    let t = Instant::now();
                    server.upload_ok(chart).await;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            })
        })
        .collect();
    let mut times = Vec::new();
    for c in clients {
        times.extend(c.await.expect("client"));
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Run { seconds, p50_ms: at(0.5), p99_ms: at(0.99) }
}

async fn start(args: &[&str]) -> Arc<Server> {
    Arc::new(Server::launch(Launch::new(StorageTarget::Local).args(args)).await)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let opts = Opts::parse();
    chartroom_testkit::use_chartroom_binary(&opts.server);

    let plain = start(&["--cache-interval", "0"]).await;
    let without = uploads(&plain, &opts, "plain").await;
    drop(plain);

    let port = free_port();
    let receiver = WebhookReceiver::start(port, 0, opts.receiver_sleep).await;
    let url = format!("rx=http://127.0.0.1:{port}/hook");
    let secret = format!("rx={WEBHOOK_SECRET}");
    let hooked = start(&["--cache-interval", "0", "--webhook", &url, "--webhook-secret", &secret]).await;
    let with = uploads(&hooked, &opts, "hooked").await;
    let delivered = receiver.requests().len();
    let report = hooked.get("/api/webhooks/deliveries").await.json();
    let pending = report["pending"].as_array().map_or(0, Vec::len);

    println!("| run | uploads | clients | uploads/s | p50 ms | p99 ms | delivered at the end | waiting at the end |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, run, delivered, pending) in [
        ("no webhook", &without, "-".to_owned(), "-".to_owned()),
        ("webhook, receiver 1 s/request", &with, delivered.to_string(), pending.to_string()),
    ] {
        println!(
            "| {name} | {} | {} | {:.0} | {:.1} | {:.1} | {delivered} | {pending} |",
            opts.uploads,
            opts.clients,
            opts.uploads as f64 / run.seconds,
            run.p50_ms,
            run.p99_ms
        );
    }
}
