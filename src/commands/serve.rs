//! `chartroom serve`: resolve the configuration, set up logging, open storage and the index,
//! then serve until SIGINT or SIGTERM.

use std::time::Instant;

use anyhow::Context;
use chartroom_server::AppState;
use chartroom_server::config::{LogSettings, Resolved};
use tracing_subscriber::EnvFilter;

use super::{Flavor, runtime};
use crate::cli::ServeArgs;

/// The target of the server's own log lines: the program's name, as log filters
/// (`CHARTROOM_LOG=chartroom=debug`) and JSON log readers know it, not this module's path.
const LOG_TARGET: &str = "chartroom";

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let resolved = chartroom_server::config::resolve(&args.values, process_env())?;
    init_logging(&resolved.config.log);
    runtime(Flavor::Server)?.block_on(serve(resolved))
}

/// The process environment, for what the server reads beside its options (storage credentials,
/// refused ChartMuseum variables); variables that are not valid UTF-8 are skipped, as the storage
/// backends skip them.
fn process_env() -> Vec<(String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

fn init_logging(log: &LogSettings) {
    let default = if log.debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("CHARTROOM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if log.json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn serve(resolved: Resolved) -> anyhow::Result<()> {
    for (key, value, source) in resolved.describe() {
        tracing::debug!(target: LOG_TARGET, key, value, source, "configuration");
    }
    let config = resolved.config;
    // Fails fast (bucket reachable, credentials work, create-only writes honoured) before the
    // index is built or the port is opened.
    let storage = chartroom_storage::backend::open(&config.storage.backend)
        .await
        .with_context(|| format!("opening the {} storage backend", config.storage.backend.name()))?;
    let started = Instant::now();
    let (repo, report) = chartroom_index::Repository::open(storage.clone(), config.repo_options())
        .await
        .with_context(|| format!("building the index from {}", storage.describe()))?;
    let snapshot = repo.snapshot(&chartroom_index::Tenant::root())?;
    tracing::info!(
        target: LOG_TARGET,
        storage = storage.describe(),
        versions = snapshot.versions,
        charts = snapshot.charts,
        opened = report.added + report.updated,
        reused = report.unchanged,
        skipped = report.skipped,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "index ready"
    );
    let address = config.listen.addr();
    let listener = tokio::net::TcpListener::bind(&address).await.with_context(|| format!("listening on {address}"))?;
    tracing::info!(target: LOG_TARGET, address = %listener.local_addr()?, context_path = %config.http.context_path, "serving");
    let state = AppState::new(repo, &config);
    chartroom_server::run(listener, state, shutdown_signal()).await.context("serving HTTP")?;
    tracing::info!(target: LOG_TARGET, "stopped");
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
    tracing::info!(target: LOG_TARGET, "shutting down: finishing in-flight requests");
}
