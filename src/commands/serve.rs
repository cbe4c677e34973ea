//! `chartroom serve`: resolve the configuration, set up logging, load the auth configuration,
//! open storage and the index, then serve until SIGINT or SIGTERM (SIGHUP reloads the auth
//! configuration).

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
    // The auth files are read before anything else is opened: a malformed one stops the start
    // with its line and problem.
    let auth = config.auth().context("loading the authentication configuration")?;
    log_auth(&config, &auth);
    // Fails fast (bucket reachable, credentials work, create-only writes honoured) before the
    // index is built or the port is opened.
    let storage = chartroom_storage::backend::open(&config.storage.backend)
        .await
        .with_context(|| format!("opening the {} storage backend", config.storage.backend.name()))?;
    let started = Instant::now();
    let (repo, report) = chartroom_index::Repository::open(storage.clone(), config.repo_options())
        .await
        .with_context(|| format!("building the index from {}", storage.describe()))?;
    let tenants = repo.tenants();
    let (versions, charts) = tenants
        .iter()
        .filter_map(|t| repo.snapshot(t).ok())
        .fold((0, 0), |(v, c), snapshot| (v + snapshot.versions, c + snapshot.charts));
    tracing::info!(
        target: LOG_TARGET,
        storage = storage.describe(),
        tenancy = ?config.repository.tenancy,
        tenants = tenants.len(),
        versions,
        charts,
        opened = report.added + report.updated,
        reused = report.unchanged,
        skipped = report.skipped,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "index ready"
    );
    let address = config.listen.addr();
    let listener = tokio::net::TcpListener::bind(&address).await.with_context(|| format!("listening on {address}"))?;
    tracing::info!(target: LOG_TARGET, address = %listener.local_addr()?, context_path = %config.http.context_path, "serving");
    let _watcher = config.auth.config_poll_interval.and_then(|every| auth.spawn_watcher(every));
    #[cfg(unix)]
    tokio::spawn(reload_on_sighup(auth.clone()));
    let state = AppState::new(repo, &config, auth);
    chartroom_server::run(listener, state, shutdown_signal()).await.context("serving HTTP")?;
    tracing::info!(target: LOG_TARGET, "stopped");
    Ok(())
}

/// What decides access, once at start (names and counts, never a secret).
fn log_auth(config: &chartroom_server::Config, auth: &chartroom_auth::Auth) {
    let settings = &config.auth;
    if !auth.is_enabled() {
        if settings.anonymous_get {
            tracing::warn!(
                target: LOG_TARGET,
                "AUTH_ANONYMOUS_GET is set but no authentication is configured (no BASIC_AUTH_USER, \
                 --auth-config or BEARER_AUTH): everyone may pull, push and delete"
            );
        } else {
            tracing::info!(target: LOG_TARGET, "no authentication configured: everyone may pull, push and delete");
        }
        return;
    }
    tracing::info!(
        target: LOG_TARGET,
        chartmuseum_user = settings.chartmuseum_user.as_ref().map_or("", |u| u.user.as_str()),
        auth_config = %settings.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        bearer_jwt = settings.bearer.is_some(),
        anonymous_get = settings.anonymous_get,
        "authentication on"
    );
}

/// SIGHUP re-reads the auth config; an invalid file keeps the one in force and says why.
#[cfg(unix)]
async fn reload_on_sighup(auth: chartroom_auth::Auth) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!(target: LOG_TARGET, "cannot listen for SIGHUP: the auth config is reloaded only when it changes");
        return;
    };
    while hangups.recv().await.is_some() {
        let reloading = auth.clone();
        match tokio::task::spawn_blocking(move || reloading.reload()).await {
            Ok(Ok(summary)) => tracing::info!(
                target: LOG_TARGET,
                users = summary.users,
                tokens = summary.tokens,
                grants = summary.grants,
                "SIGHUP: auth config reloaded"
            ),
            Ok(Err(error)) => tracing::error!(
                target: LOG_TARGET,
                %error,
                "SIGHUP: auth config not reloaded; the previous configuration stays in force"
            ),
            Err(error) => tracing::error!(target: LOG_TARGET, %error, "SIGHUP: auth config reload failed"),
        }
    }
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
