//! Chartroom repository benchmark (`cargo bench --bench repository`, normally via `scripts/bench.sh`).
//!
//! Drives the release binary over loopback HTTP and prints a Markdown report. What it measures
//! and why is described in `BENCHMARKS.md`. Everything talks to 127.0.0.1 only; generated charts
//! are cached in `target/bench-data/charts-v1` and reused across runs.
//!
//! The chartroom and Helm processes are the test toolkit's (`chartroom-testkit`: `Server`,
//! `Helm`), the charts come from `ChartBuilder`. Files:
//! * `main.rs`: options, the watchdog, the order of the scenarios;
//! * `scenarios.rs`: one function per measured scenario, each returning its figures;
//! * `tenancy.rs`: the scenarios of authentication and tenants (reads with credentials, starts
//!   with many tenants);
//! * `charts.rs`: the generated charts (cache, repositories of hard links, upload sets);
//! * `measure.rs`: uploads, index checks, percentiles, memory of a process;
//! * `external.rs`: wrk, nginx, `helm repo index`, the machine description;
//! * `report.rs`: the Markdown report from the scenarios' figures;
//! * `scale.rs`: issue 16: minimal charts against Helm 3.17 and 4.1, the 1,000,000-version
//!   repository (`--million`), the targets;
//! * `callgrind.rs`: instruction counts under `valgrind --tool=callgrind` (`--callgrind`).

mod callgrind;
mod charts;
mod external;
mod measure;
mod report;
mod scale;
mod scenarios;
mod tenancy;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chartroom_testkit::process::kill_all;
use clap::Parser;

type Res<T> = Result<T, String>;

/// Options (all optional). `cargo bench` adds `--bench`, which is accepted and ignored.
#[derive(Parser, Clone, Debug)]
#[command(about = "Chartroom repository benchmark (see BENCHMARKS.md)")]
struct Opts {
    /// Cache and scratch folder
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-data"))]
    data_dir: PathBuf,
    /// chartroom binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/chartroom"))]
    server: PathBuf,
    /// Helm 3.17 binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/helm3"))]
    helm: PathBuf,
    /// Helm 4.1 binary
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/helm4"))]
    helm4: PathBuf,
    /// Run only the 1,000,000-version scenario and the 10,000-tenant start (issue 16)
    #[arg(long)]
    million: bool,
    /// Versions of the `--million` repository (minimal charts)
    #[arg(long, default_value_t = 1_000_000)]
    million_versions: usize,
    /// Run only the instruction counts, under this valgrind binary
    #[arg(long)]
    callgrind: Option<PathBuf>,
    /// Charts of the callgrind cold build
    #[arg(long, default_value_t = 10_000)]
    callgrind_cold: usize,
    /// Versions of the repository the callgrind uploads go into
    #[arg(long, default_value_t = 100_000)]
    callgrind_versions: usize,
    /// Uploads counted by callgrind
    #[arg(long, default_value_t = 1000)]
    callgrind_uploads: usize,
    /// wrk binary
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// nginx binary
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    /// Versions in the main repository
    #[arg(long, default_value_t = 10_000)]
    versions: usize,
    /// Versions for the large restart test, 0 = skip
    #[arg(long, default_value_t = 100_000)]
    big_versions: usize,
    /// Skip the large test if generating its charts would exceed this many seconds
    #[arg(long = "big-budget-secs", default_value = "240", value_parser = secs)]
    big_budget: Duration,
    /// Sequential uploads per repository
    #[arg(long, default_value_t = 300)]
    seq_uploads: usize,
    /// Concurrent upload clients (at least 1)
    #[arg(long, default_value_t = 16)]
    conc_clients: usize,
    /// Concurrent uploads in total
    #[arg(long, default_value_t = 1600)]
    conc_uploads: usize,
    /// wrk duration in seconds
    #[arg(long, default_value_t = 10)]
    wrk_secs: u32,
    /// Timed restarts with persisted state (at least 1)
    #[arg(long, default_value_t = 3)]
    restarts: usize,
    /// Versions of the repository read with and without authentication
    #[arg(long, default_value_t = 100)]
    auth_versions: usize,
    /// Tenant counts of the tenant start test (`--depth 1`), comma-separated; empty = skip
    #[arg(long, default_value = "1,100,1000", value_delimiter = ',')]
    tenant_counts: Vec<usize>,
    /// Versions in each tenant of the tenant start test
    #[arg(long, default_value_t = 100)]
    tenant_versions: usize,
    /// Hard limit for the whole run, in seconds (default 570; 5400 with `--million` or `--callgrind`)
    #[arg(long = "deadline-secs", value_parser = secs)]
    deadline: Option<Duration>,
    #[arg(long, hide = true)]
    bench: bool,
}

impl Opts {
    /// The hard limit of the run (set in `main`).
    fn deadline(&self) -> Duration {
        self.deadline.unwrap_or(Duration::from_secs(570))
    }
}

fn secs(s: &str) -> Result<Duration, String> {
    s.parse::<u64>().map(Duration::from_secs).map_err(|e| format!("{s}: {e}"))
}

fn main() {
    let mut opts = Opts::parse();
    opts.conc_clients = opts.conc_clients.max(1);
    opts.restarts = opts.restarts.max(1);
    let long = opts.million || opts.callgrind.is_some();
    let deadline = *opts.deadline.get_or_insert(Duration::from_secs(if long { 5400 } else { 570 }));
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("bench: deadline of {} s reached; killing children and exiting", deadline.as_secs());
        kill_all();
        std::process::exit(3);
    });
    // A single-threaded client runtime keeps the load generator's CPU share small: client and
    // server share the same cores.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(opts)) {
        eprintln!("bench: FAILED: {e}");
        kill_all();
        std::process::exit(1);
    }
}

static START: OnceLock<Instant> = OnceLock::new();

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench {:>7.1}s] {}", START.get_or_init(Instant::now).elapsed().as_secs_f64(), msg.as_ref());
}

async fn run(opts: Opts) -> Res<()> {
    START.get_or_init(Instant::now);
    let run_started = Instant::now();
    for (what, p) in [("server", &opts.server), ("helm", &opts.helm)] {
        if !p.exists() {
            return Err(format!("{what} binary {} not found", p.display()));
        }
    }
    if let Some(valgrind) = opts.callgrind.clone() {
        return callgrind::run(&opts, &valgrind, run_started).await;
    }
    chartroom_testkit::use_chartroom_binary(&opts.server);
    if opts.million {
        // The tenant start of issue 16: 10,000 tenants of 10 versions.
        let opts = Opts { tenant_counts: vec![10_000], tenant_versions: 10, ..opts };
        let bench = scenarios::Bench::prepare(opts)?;
        let million = bench.million().await?;
        let tenants = bench.tenant_starts().await?;
        bench.clean_up();
        return report::print_million(&million, &tenants, run_started);
    }
    let bench = scenarios::Bench::prepare(opts)?;

    // The order matters: the server cold-started in 3b serves 2, restarts in 4a and takes the
    // uploads of 1b and 6.
    let empty = bench.empty_repo_uploads().await?;
    let helm_index = bench.helm_repo_index()?;
    let (mut srv, cold) = bench.cold_starts().await?;
    let serving = bench.serving(&srv, &cold.index_body).await?;
    let restarts = bench.restarts(&mut srv).await?;
    let full = bench.full_repo_uploads(&srv).await?;
    let concurrent = bench.concurrent_uploads(srv).await?;
    let large = bench.large_repo(run_started).await?;
    let auth = bench.auth_serving().await?;
    let tenants = bench.tenant_starts().await?;
    let cold_scaffold = bench.cold_vs_helm(charts::Kind::Scaffold(&bench.scaffold), "helm-create", false).await?;
    let cold_minimal = bench.cold_vs_helm(charts::Kind::Minimal, "minimal", true).await?;
    bench.clean_up();

    let figures = report::Figures {
        empty,
        helm_index,
        cold,
        serving,
        restarts,
        full,
        concurrent,
        large,
        auth,
        tenants,
        cold_scaffold,
        cold_minimal,
    };
    report::print(&bench, &figures, run_started)
}
