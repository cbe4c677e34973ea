//! `chartroom`: a Helm chart repository server.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chartroom_server::{AppState, Config, ServeArgs, Settings, StorageConfig};
use chartroom_storage::Storage;
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
    /// Update dependencies from Chart.yaml into charts/ before packaging (not implemented yet).
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
    }
}

/// `chartroom package`: walk the folder (following symbolic links, honouring `.helmignore`
/// like Helm's directory loader), package it with `chartroom_chart::package`, and write
/// `<name>-<version>.tgz` atomically.
fn package(args: &PackageArgs) -> anyhow::Result<()> {
    use chartroom_chart::package::{PackageOptions, package};

    if args.dependency_update {
        eprintln!("Error: --dependency-update is not implemented yet: run `helm dependency update` first");
        std::process::exit(2);
    }
    let root = &args.chart_dir;
    let files = read_chart_dir(root)?;

    let options = PackageOptions { version: args.version.clone(), app_version: args.app_version.clone() };
    let packaged = package(files, &options).with_context(|| format!("packaging {}", root.display()))?;

    let dest = match &args.destination {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("reading the current folder")?,
    };
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let path = dest.join(&packaged.file_name);
    write_atomically(&path, &packaged.bytes)?;
    println!("Successfully packaged chart and saved it to: {}", path.display());
    Ok(())
}

/// The files of a chart folder as Helm's directory loader sees them (`.helmignore` honoured,
/// symbolic links followed): the input of `chartroom_chart::package`.
fn read_chart_dir(root: &Path) -> anyhow::Result<Vec<chartroom_chart::package::SourceFile>> {
    use chartroom_chart::helmignore::HelmIgnore;

    let meta = std::fs::metadata(root).with_context(|| format!("reading {}", root.display()))?;
    anyhow::ensure!(meta.is_dir(), "{} is not a chart folder", root.display());
    let ignore_file = root.join(".helmignore");
    let ignore = match std::fs::read(&ignore_file) {
        Ok(bytes) => HelmIgnore::parse(&String::from_utf8_lossy(&bytes))
            .with_context(|| format!("reading {}", ignore_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HelmIgnore::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", ignore_file.display())),
    };
    let mut files = Vec::new();
    let mut ancestors = vec![std::fs::canonicalize(root).with_context(|| format!("reading {}", root.display()))?];
    walk_chart(root, "", &ignore, &mut ancestors, &mut files)?;
    Ok(files)
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
    let path = &args.chart;
    let meta = std::fs::metadata(path)
        .unwrap_or_else(|e| fail(ClientError::usage(format!("cannot read {}: {e}", path.display()))));
    let tgz = if meta.is_dir() {
        let packaged = read_chart_dir(path)
            .and_then(|files| {
                let options = chartroom_chart::package::PackageOptions::default();
                Ok(chartroom_chart::package::package(files, &options)?)
            })
            .with_context(|| format!("packaging {}", path.display()))
            .unwrap_or_else(|e| fail(ClientError::usage(format!("{e:#}"))));
        packaged.bytes
    } else {
        std::fs::read(path).unwrap_or_else(|e| fail(ClientError::usage(format!("cannot read {}: {e}", path.display()))))
    };
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

/// Helm's `LoadDir` walk: names in lexical order, symbolic links followed (a loop is an
/// error), ignored directories skipped whole, irregular files refused.
fn walk_chart(
    dir: &Path,
    rel: &str,
    ignore: &chartroom_chart::helmignore::HelmIgnore,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<chartroom_chart::package::SourceFile>,
) -> anyhow::Result<()> {
    const MAX_FILE: u64 = 5 * 1024 * 1024;
    let mut names = std::fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading {}", dir.display()))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let lossy = name.to_string_lossy();
        let rel_path = if rel.is_empty() { lossy.to_string() } else { format!("{rel}/{lossy}") };
        // Follows symbolic links; a dangling one is an error, as in Helm.
        let meta = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if ignore.ignored(&rel_path, meta.is_dir()) {
            continue;
        }
        anyhow::ensure!(name.to_str().is_some(), "{}: file name is not valid UTF-8", path.display());
        if meta.is_dir() {
            let real = std::fs::canonicalize(&path).with_context(|| format!("reading {}", path.display()))?;
            anyhow::ensure!(!ancestors.contains(&real), "{}: symbolic link loop", path.display());
            ancestors.push(real);
            walk_chart(&path, &rel_path, ignore, ancestors, out)?;
            ancestors.pop();
        } else {
            anyhow::ensure!(
                meta.is_file(),
                "cannot load irregular file {} as it has file mode type bits set",
                path.display()
            );
            anyhow::ensure!(
                meta.len() <= MAX_FILE,
                "chart file {rel_path:?} is larger than the maximum file size {MAX_FILE}"
            );
            let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            out.push(chartroom_chart::package::SourceFile { path: rel_path, data });
        }
    }
    Ok(())
}

/// Write to a temporary file in the same folder, then rename it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
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
    let storage = match &config.storage {
        StorageConfig::Local { root } => {
            Storage::local(root).with_context(|| format!("opening local storage at {}", root.display()))?
        }
    };
    let started = Instant::now();
    let (repo, report) = chartroom_index::Repository::open(storage.clone(), chartroom_server::repo_options(&config))
        .await
        .with_context(|| format!("building the index from {}", storage.describe()))?;
    let snapshot = repo.snapshot();
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
    use chartroom_client::{ClientError, helm_env::HelmEnv, index::Client, repo};
    let env = HelmEnv::from_env()?;
    let (repository, chart) = match &args.repo {
        Some(r) => {
            if args.chart.is_empty() || args.chart.contains('/') {
                return Err(ClientError::usage(format!(
                    "with --repo, give the chart name alone (got {:?})",
                    args.chart
                )));
            }
            (repo::Repository::resolve(r, &env)?, args.chart.as_str())
        }
        None => {
            let (name, chart) = repo::split_chart_ref(&args.chart)?;
            (repo::Repository::resolve(name, &env)?, chart)
        }
    };
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
