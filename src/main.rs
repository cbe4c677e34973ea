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
    }
}

/// `chartroom package`: walk the folder (following symbolic links, honouring `.helmignore`
/// like Helm's directory loader), package it with `chartroom_chart::package`, and write
/// `<name>-<version>.tgz` atomically.
fn package(args: &PackageArgs) -> anyhow::Result<()> {
    use chartroom_chart::helmignore::HelmIgnore;
    use chartroom_chart::package::{PackageOptions, package};

    if args.dependency_update {
        eprintln!("Error: --dependency-update is not implemented yet: run `helm dependency update` first");
        std::process::exit(2);
    }
    let root = &args.chart_dir;
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
