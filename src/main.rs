//! `chartroom`: a Helm chart repository server.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chartroom_server::{AppState, Config, ServeArgs, Settings};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

// glibc's allocator fragments badly here: each archive read makes ~40 KB of short-lived buffers
// interleaved with small long-lived index strings, so a cold build of 10,000 charts kept 430 MB
// resident (25 MB with mimalloc, measured with the same build).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "chartroom", version, about = "A Helm chart repository server, compatible with ChartMuseum")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a chart repository over HTTP (ChartMuseum-compatible API and repository routes).
    Serve(Box<ServeArgs>),
    /// Probe a running server's /health (exit 0 when healthy): for container HEALTHCHECKs,
    /// which cannot rely on curl or a shell being present.
    Healthcheck(HealthcheckArgs),
    /// Package a chart folder into a versioned, reproducible chart archive (like `helm package`).
    Package(PackageArgs),
    /// Upload a chart to a ChartMuseum-compatible repository (the protocol of `helm cm-push`).
    Push(PushArgs),
    /// List the charts of a repository (like `helm search repo`), by URL or configured name.
    Search(SearchArgs),
    /// Download a chart from a repository, verifying its digest against the index.
    Pull(PullArgs),
    /// Manage a chart's dependencies (`Chart.yaml` `dependencies`, `charts/`, `Chart.lock`) like
    /// `helm dependency`.
    #[command(alias = "dep", alias = "dependencies")]
    Dependency(DependencyArgs),
    /// Fetch a chart and, recursively, everything it depends on (every digest verified) into a
    /// self-contained folder that `helm install`/`helm template` accept with no network.
    Install(InstallArgs),
}

#[derive(clap::Args)]
struct HealthcheckArgs {
    /// Port of the server to probe.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Context path the server runs under.
    #[arg(long, env = "CONTEXT_PATH", default_value = "")]
    context_path: String,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

#[derive(clap::Args)]
struct PackageArgs {
    /// The chart folder (the one holding Chart.yaml).
    chart_dir: PathBuf,
    /// Set the chart version (replaces `version` from Chart.yaml).
    #[arg(long)]
    version: Option<String>,
    /// Set the appVersion of the chart.
    #[arg(long)]
    app_version: Option<String>,
    /// Folder to write the archive to (created when missing; default: the current folder).
    #[arg(short = 'd', long)]
    destination: Option<PathBuf>,
    /// Run `chartroom dependency update` on the folder before packaging.
    #[arg(short = 'u', long)]
    dependency_update: bool,
}

#[derive(clap::Args)]
struct PushArgs {
    /// The chart: a packaged `.tgz`, or a chart folder (packaged first, in memory, like
    /// `chartroom package`).
    chart: PathBuf,
    /// The repository: its URL (`https://[user:pass@]host[:port]/path`) or the name given to
    /// `helm repo add` (its credentials are used too).
    repo: String,
    /// Replace the version if it already exists (sends `?force`; the server may refuse).
    #[arg(short = 'f', long)]
    force: bool,
    /// A provenance file (`<chart>.tgz.prov`) to upload with the chart.
    #[arg(long)]
    prov: Option<PathBuf>,
    /// User name for Basic authentication.
    #[arg(short = 'u', long, env = "HELM_REPO_USERNAME")]
    username: Option<String>,
    /// Password for Basic authentication.
    #[arg(short = 'p', long, env = "HELM_REPO_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Token sent as `Authorization: Bearer <token>` (or raw in --auth-header); ignored when a
    /// user name is given.
    #[arg(long, alias = "access-token", env = "HELM_REPO_ACCESS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Send the raw token in this header instead of `Authorization: Bearer`.
    #[arg(long, env = "HELM_REPO_AUTH_HEADER")]
    auth_header: Option<String>,
    /// The server's context path (default: `serverInfo.contextPath` from the repository's index).
    #[arg(long, env = "HELM_REPO_CONTEXT_PATH")]
    context_path: Option<String>,
}

#[derive(clap::Args)]
struct SearchArgs {
    /// The repository: its URL (`https://[user:pass@]host[:port]/path`) or the name given to
    /// `helm repo add`.
    repo: String,
    /// Only charts whose name or description contains this (case-insensitive).
    term: Option<String>,
    /// Show every version, not only the newest.
    #[arg(short = 'l', long)]
    versions: bool,
    /// Only versions satisfying this constraint (`^1.2`, `>=2.0.0 <3`, `1.2.3`).
    #[arg(long)]
    version: Option<String>,
    /// Include pre-release versions (`>0.0.0-0` when no --version is given).
    #[arg(long)]
    devel: bool,
    /// Output format.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    output: String,
}

#[derive(clap::Args)]
struct PullArgs {
    /// `<repo>/<chart>` (repo = a name configured with `helm repo add`), or `<chart>` with
    /// `--repo <url>`.
    chart: String,
    /// The repository URL (or configured name) to pull `<chart>` from.
    #[arg(long)]
    repo: Option<String>,
    /// A version constraint (`^1.2`, `~1.2.3`) or an exact version; default: the newest stable.
    #[arg(long)]
    version: Option<String>,
    /// Include pre-release versions when no --version is given (`>0.0.0-0`).
    #[arg(long)]
    devel: bool,
    /// Expand the chart into `<destination>/<chart name>/` instead of keeping the archive.
    #[arg(long)]
    untar: bool,
    /// Folder to write into (created when missing; default: the current folder).
    #[arg(short = 'd', long)]
    destination: Option<PathBuf>,
}

#[derive(clap::Args)]
struct InstallArgs {
    /// `<repo>/<chart>` (repo = a name configured with `helm repo add`), or `<chart>` with
    /// `--repo <url>`.
    chart: String,
    /// Folder to install into: the chart is laid out in `<dest-dir>/<chart name>/`, which must
    /// not exist yet (`<dest-dir>` is created when missing).
    dest_dir: PathBuf,
    /// The repository URL (or configured name) to install `<chart>` from.
    #[arg(long)]
    repo: Option<String>,
    /// A version constraint (`^1.2`, `~1.2.3`) or an exact version; default: the newest stable.
    #[arg(long)]
    version: Option<String>,
    /// Include pre-release versions when no --version is given (`>0.0.0-0`).
    #[arg(long)]
    devel: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            chartroom_server::config::check_unsupported_env(std::env::vars())?;
            let config = Config::from_args(&args)?;
            init_logging(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .max_blocking_threads(32)
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve(config))
        }
        Command::Healthcheck(args) => healthcheck(&args),
        Command::Package(args) => package(&args),
        Command::Push(args) => push(&args),
        Command::Search(args) => client_command(search(args)),
        Command::Pull(args) => client_command(pull(args)),
        Command::Dependency(args) => client_command(dependency(args.command)),
        Command::Install(args) => client_command(install(args)),
    }
}

/// `chartroom package`: walk the folder (following symbolic links, honouring `.helmignore`
/// like Helm's directory loader), package it with `chartroom_chart::package`, and write
/// `<name>-<version>.tgz` atomically.
fn package(args: &PackageArgs) -> anyhow::Result<()> {
    if args.dependency_update {
        client_command(dependency(DependencyCommand::Update { chart_dir: args.chart_dir.clone() }))?;
    }
    let options = chartroom_chart::package::PackageOptions {
        version: args.version.clone(),
        app_version: args.app_version.clone(),
    };
    let dest = match &args.destination {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("reading the current folder")?,
    };
    let chart_dir = args.chart_dir.clone();
    client_command(async move {
        let path = chartroom_client::package::package_to(&chart_dir, &options, &dest)?;
        println!("Successfully packaged chart and saved it to: {}", path.display());
        Ok(())
    })
}

/// `chartroom push`: package a folder in memory (or read a `.tgz`), then upload it with
/// `chartroom_client::push`. Errors print `Error: <message>` and exit with the error kind's code.
fn push(args: &PushArgs) -> anyhow::Result<()> {
    use chartroom_client::ClientError;
    use chartroom_client::push::{PushOptions, default_client, push};

    let fail = |err: ClientError| -> ! {
        eprintln!("Error: {err}");
        std::process::exit(err.exit_code())
    };
    let tgz = chartroom_client::package::chart_bytes(&args.chart).unwrap_or_else(|e| fail(e));
    let prov = args.prov.as_ref().map(|p| {
        std::fs::read(p).unwrap_or_else(|e| fail(ClientError::usage(format!("cannot read {}: {e}", p.display()))))
    });
    let options = PushOptions {
        force: args.force,
        prov,
        username: args.username.clone(),
        password: args.password.clone(),
        token: args.token.clone(),
        auth_header: args.auth_header.clone(),
        context_path: args.context_path.clone(),
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let http = default_client()?;
        push(&http, &args.repo, tgz, &options).await
    });
    match result {
        Ok(outcome) => {
            for warning in &outcome.warnings {
                eprintln!("Warning: {warning}");
            }
            println!("Pushed {}-{} to {}", outcome.name, outcome.version, outcome.url_used);
            Ok(())
        }
        Err(err) => fail(err),
    }
}

/// A minimal HTTP/1.1 GET of `/health` on the loopback interface (no client library needed).
fn healthcheck(args: &HealthcheckArgs) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let context = args.context_path.trim_end_matches('/');
    let context =
        if context.is_empty() || context.starts_with('/') { context.to_owned() } else { format!("/{context}") };
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {context}/health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", args.port)?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {status:?}")
    }
}

fn init_logging(config: &Config) {
    let default = if config.debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("CHARTROOM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if config.log_json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    for (key, value, source) in config.describe() {
        tracing::debug!(key, value, source, "configuration");
    }
    // Fails fast (bucket reachable, credentials work, create-only writes honoured) before the
    // index is built or the port is opened.
    let storage = chartroom_storage::backend::open(&config.storage)
        .await
        .with_context(|| format!("opening the {} storage backend", config.storage.name()))?;
    let started = Instant::now();
    let (repo, report) = chartroom_index::Repository::open(storage.clone(), chartroom_server::repo_options(&config))
        .await
        .with_context(|| format!("building the index from {}", storage.describe()))?;
    let snapshot = repo.snapshot(&chartroom_index::Tenant::root())?;
    tracing::info!(
        storage = storage.describe(),
        versions = snapshot.versions,
        charts = snapshot.charts,
        opened = report.added + report.updated,
        reused = report.unchanged,
        skipped = report.skipped,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "index ready"
    );
    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("listening on {}", config.listen_addr()))?;
    tracing::info!(address = %listener.local_addr()?, context_path = %config.context_path, "serving");
    let state = AppState::new(repo, Settings::from_config(&config));
    chartroom_server::run(listener, state, shutdown_signal()).await.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Runs a client command on a small runtime with warnings logged to stderr (`CHARTROOM_LOG`
/// overrides the level); a `ClientError` prints `Error: <message>` and exits with its code.
fn client_command(
    work: impl std::future::Future<Output = Result<(), chartroom_client::ClientError>>,
) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("CHARTROOM_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    if let Err(err) = runtime.block_on(work) {
        eprintln!("Error: {err}");
        std::process::exit(err.exit_code());
    }
    Ok(())
}

/// `chartroom search`: fetch (or revalidate) the index, then print `helm search repo`-style rows.
async fn search(args: SearchArgs) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{helm_env::HelmEnv, index, repo::Repository};
    let env = HelmEnv::from_env()?;
    let repo = Repository::resolve(&args.repo, &env)?;
    let client = index::Client::new(env)?;
    let idx = client.fetch_index(&repo).await?;
    let hits =
        idx.search(repo.name.as_deref(), args.term.as_deref(), args.versions, args.version.as_deref(), args.devel)?;
    if args.output == "json" {
        println!("{}", index::format_json(&hits));
    } else {
        print!("{}", index::format_table(&hits));
    }
    Ok(())
}

/// `chartroom pull`: select, download, verify and write a chart with `Client::pull`.
async fn pull(args: PullArgs) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{ClientError, helm_env::HelmEnv, index::Client};
    let env = HelmEnv::from_env()?;
    let (repository, chart) = chart_argument(&args.chart, args.repo.as_deref(), &env)?;
    let dest = match &args.destination {
        Some(d) => d.clone(),
        None => {
            std::env::current_dir().map_err(|e| ClientError::other(format!("cannot read the current folder: {e}")))?
        }
    };
    let client = Client::new(env)?;
    let pulled = client.pull(&repository, chart, args.version.as_deref(), args.devel, &dest, args.untar).await?;
    println!("Pulled: {}-{}", pulled.name, pulled.version);
    println!("Digest: {}", pulled.digest);
    Ok(())
}

/// The repository and chart name of a `<repo>/<chart>` argument, or of `<chart>` with `--repo`.
fn chart_argument<'a>(
    chart: &'a str,
    repo: Option<&str>,
    env: &chartroom_client::helm_env::HelmEnv,
) -> Result<(chartroom_client::repo::Repository, &'a str), chartroom_client::ClientError> {
    use chartroom_client::{ClientError, repo::Repository, repo::split_chart_ref};
    match repo {
        Some(r) => {
            if chart.is_empty() || chart.contains('/') {
                return Err(ClientError::usage(format!("with --repo, give the chart name alone (got {chart:?})")));
            }
            Ok((Repository::resolve(r, env)?, chart))
        }
        None => {
            let (name, chart) = split_chart_ref(chart)?;
            Ok((Repository::resolve(name, env)?, chart))
        }
    }
}

/// `chartroom install`: `Client::install`, then the installed folder, its dependencies and the
/// next commands to run.
async fn install(args: InstallArgs) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{helm_env::HelmEnv, index::Client};
    let env = HelmEnv::from_env()?;
    let (repository, chart) = chart_argument(&args.chart, args.repo.as_deref(), &env)?;
    let client = Client::new(env)?;
    let installed = client.install(&repository, chart, args.version.as_deref(), args.devel, &args.dest_dir).await?;
    let path = shell_quote(&installed.path.display().to_string());
    println!("Installed: {}-{} in {}", installed.name, installed.version, installed.path.display());
    println!("Digest: {}", installed.digest);
    if installed.dependencies.is_empty() {
        println!("Dependencies: none");
    } else {
        println!("Dependencies:");
        for (name, version) in &installed.dependencies {
            println!("  {name} {version}");
        }
    }
    let release = shell_quote(&installed.name);
    println!("Next: helm install {release} {path}");
    println!("Check offline first: helm template {release} {path}");
    Ok(())
}

/// `s` quoted for a POSIX shell when it holds anything but plain path characters.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:@,%".contains(c);
    if !s.is_empty() && s.chars().all(plain) { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

#[derive(clap::Args)]
struct DependencyArgs {
    #[command(subcommand)]
    command: DependencyCommand,
}

#[derive(Subcommand)]
enum DependencyCommand {
    /// Resolve the Chart.yaml dependencies against their repositories, download them into
    /// charts/ and write Chart.lock (only when its digest changes), like `helm dependency update`.
    #[command(alias = "up")]
    Update {
        /// The chart folder (the one holding Chart.yaml).
        chart_dir: PathBuf,
    },
    /// Download exactly the versions of Chart.lock into charts/ (refused when Chart.lock is out
    /// of sync with Chart.yaml; without Chart.lock, the same as update), like
    /// `helm dependency build`.
    Build {
        /// The chart folder (the one holding Chart.yaml).
        chart_dir: PathBuf,
    },
}

/// `chartroom dependency update|build`: `Client::dependency_update` / `dependency_build`.
async fn dependency(command: DependencyCommand) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{helm_env::HelmEnv, index::Client};
    let client = Client::new(HelmEnv::from_env()?)?;
    let (report, dir) = match &command {
        DependencyCommand::Update { chart_dir } => (client.dependency_update(chart_dir).await?, chart_dir),
        DependencyCommand::Build { chart_dir } => (client.dependency_build(chart_dir).await?, chart_dir),
    };
    if report.dependencies.is_empty() {
        println!("No dependencies in {}", dir.join("Chart.yaml").display());
        return Ok(());
    }
    println!("Saved {} dependencies into {}:", report.dependencies.len(), dir.join("charts").display());
    for d in &report.dependencies {
        let from = if d.repository.is_empty() { "charts/ (local)" } else { d.repository.as_str() };
        println!("  {} {} from {from}", d.name, d.version);
    }
    let lock = dir.join("Chart.lock");
    match (&command, report.lock_written) {
        (_, true) => println!("Wrote {}", lock.display()),
        (DependencyCommand::Update { .. }, false) => println!("{} is up to date", lock.display()),
        (DependencyCommand::Build { .. }, false) => println!("Built from {}", lock.display()),
    }
    Ok(())
}
