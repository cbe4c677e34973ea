//! Web catalogue benchmark (`cargo bench -p chartroom-server --bench ui`, or `scripts/bench.sh ui`): server time and
//! bytes of the catalogue page and of a chart page at 10,000 versions, measured in process
//! (`app(state)` with `oneshot` on in-memory storage: the time from request to the last body
//! byte, no network), with and without gzip. Two shapes: 10,000 charts of one version, and
//! 1,000 charts of ten versions. Prints a Markdown report (see BENCHMARKS.md).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use chartroom_chart::testing::ChartBuilder;
use chartroom_index::{Repository, Tenant};
use chartroom_server::config::ArgValues;
use chartroom_server::{AppState, app};
use chartroom_storage::Storage;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// `--versions N` (versions in the repository, default 10,000) and `--requests N` (requests per
/// measured page after a first one, which builds the catalogue's summaries and is reported on
/// its own; default 200). Cargo's own `--bench` flag is ignored.
struct Opts {
    versions: usize,
    requests: usize,
}

impl Opts {
    fn parse() -> Opts {
        let mut opts = Opts { versions: 10_000, requests: 200 };
        let args: Vec<String> = std::env::args().skip(1).collect();
        for pair in args.windows(2) {
            let value = || pair[1].parse::<usize>().unwrap_or_else(|_| panic!("{} takes a number", pair[0]));
            match pair[0].as_str() {
                "--versions" => opts.versions = value(),
                "--requests" => opts.requests = value(),
                _ => {}
            }
        }
        opts
    }
}

fn chart(name: &str, version: &str) -> Vec<u8> {
    ChartBuilder::chart(name, version)
        .file(
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.{version}\"\n\
                 description: The {name} service, a chart with a description of typical length for a catalogue\n\
                 keywords: [web, service, {name}]\nhome: https://example.com/{name}\n"
            ),
        )
        .file("README.md", format!("# {name}\n\nA README of a few paragraphs.\n\n{}", "Some text. ".repeat(300)))
        .build()
}

async fn seed(charts: usize, per_chart: usize) -> Repository {
    let config = chartroom_server::config::resolve(&ArgValues::default(), []).expect("config").config;
    let (repo, _) = Repository::open(Storage::memory(), config.repo_options()).await.expect("open");
    let jobs: Vec<(String, String)> =
        (0..charts).flat_map(|c| (0..per_chart).map(move |v| (format!("chart-{c:05}"), format!("1.{v}.0")))).collect();
    let repo2 = repo.clone();
    futures::future::join_all(jobs.chunks(jobs.len().div_ceil(16)).map(|chunk| {
        let repo = repo2.clone();
        let chunk = chunk.to_vec();
        async move {
            for (name, version) in chunk {
                repo.publish(&Tenant::root(), Bytes::from(chart(&name, &version)), None, false).await.expect("publish");
            }
        }
    }))
    .await;
    repo
}

struct Measured {
    first: Duration,
    median: Duration,
    p95: Duration,
    max: Duration,
    bytes: usize,
}

async fn measure(router: &axum::Router, path: &str, gzip: bool, requests: usize) -> Measured {
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    let mut first = Duration::ZERO;
    for i in 0..=requests {
        let mut req = Request::get(path).header("accept", "text/html").header("host", "charts.example:8080");
        if gzip {
            req = req.header("accept-encoding", "gzip");
        }
        let started = Instant::now();
        let response = router.clone().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let took = started.elapsed();
        bytes = body.len();
        if i == 0 {
            first = took;
        } else {
            times.push(took);
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    Measured { first, median: at(0.5), p95: at(0.95), max: *times.last().expect("times"), bytes }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let opts = Opts::parse();
    println!("## Web catalogue at {} versions\n", opts.versions);
    println!(
        "In process (`app(state)` + `oneshot`, in-memory storage), {} requests per row after a first one;",
        opts.requests
    );
    println!("server time from request to the last body byte; bytes of the body as sent.\n");
    println!("| shape | page | encoding | first request | median | p95 | max | bytes |");
    println!("|---|---|---|---|---|---|---|---|");
    for per_chart in [1, 10] {
        let charts = opts.versions / per_chart;
        let started = Instant::now();
        let repo = seed(charts, per_chart).await;
        eprintln!("seeded {charts} charts × {per_chart} versions in {:?}", started.elapsed());
        let config = chartroom_server::config::resolve(&ArgValues::default(), []).expect("config").config;
        let auth = config.auth().expect("auth");
        let router = app(AppState::new(repo.clone(), &config, auth));
        let shape = format!("{charts} charts × {per_chart}");
        let middle = format!("chart-{:05}", charts / 2);
        let pages = [
            ("catalogue, page 1", "/ui/".to_owned()),
            ("catalogue, search \"chart-0\"", "/ui/?q=chart-0&sort=pushed".to_owned()),
            ("catalogue, last page", format!("/ui/?page={}", charts.div_ceil(50))),
            ("chart page", format!("/ui/charts/{middle}")),
        ];
        for (label, path) in pages {
            for gzip in [false, true] {
                let m = measure(&router, &path, gzip, opts.requests).await;
                println!(
                    "| {shape} | {label} | {} | {} | {} | {} | {} | {} |",
                    if gzip { "gzip" } else { "identity" },
                    ms(m.first),
                    ms(m.median),
                    ms(m.p95),
                    ms(m.max),
                    m.bytes
                );
            }
        }
        // What a visitor pays after each push: the first catalogue request after one upload
        // (only the changed chart's summary is read again), five uploads in a row.
        let mut after_upload = Vec::new();
        for i in 0..5 {
            let bytes = Bytes::from(chart(&format!("chart-{:05}", i * 7), "9.0.0"));
            repo.publish(&Tenant::root(), bytes, None, false).await.expect("publish");
            after_upload.push(measure(&router, "/ui/", false, 1).await.first);
        }
        after_upload.sort();
        println!(
            "| {shape} | catalogue, page 1, first request after an upload (5 uploads: min, median, max) | identity | min {} | {} | – | {} | – |",
            ms(after_upload[0]),
            ms(after_upload[2]),
            ms(after_upload[4])
        );
    }
}
