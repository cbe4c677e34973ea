//! `chartroom serve`: resolve the configuration, set up logging, load the auth configuration,
//! open storage and the index, then serve until SIGINT or SIGTERM (SIGHUP reloads the auth
//! configuration).

use std::time::Instant;

use anyhow::Context;
use chartroom_server::config::{LogSettings, Resolved};
use chartroom_server::{AppState, Metrics, app, metrics, serve, starting_app};
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
    if let Some((before, after)) = serve::raise_open_files_limit()
        && after > before
    {
        tracing::debug!(target: LOG_TARGET, before, after, "raised the open-file limit");
    }
    let metrics = match config.metrics.enabled {
        true => Some(Metrics::install()?),
        false => None,
    };
    // A bad or mismatched certificate stops the start before anything else happens.
    let certificates = match &config.tls {
        Some(tls) => Some(
            serve::Certificates::start(serve::TlsFiles::from_settings(tls), tls.reload_interval)
                .context("loading the TLS certificate and key (--tls-cert, --tls-key, --tls-ca-cert)")?,
        ),
        None => None,
    };
    // Fails fast (bucket reachable, credentials work, create-only writes honoured) before the
    // index is built or the port is opened.
    let storage = chartroom_storage::backend::open(&config.storage.backend)
        .await
        .with_context(|| format!("opening the {} storage backend", config.storage.backend.name()))?;
    let address = config.listen.addr();
    let listener = tokio::net::TcpListener::bind(&address).await.with_context(|| format!("listening on {address}"))?;
    // With --metrics-listen, /metrics is served there only, over plain HTTP.
    let metrics_listener = match (config.metrics.listen, &metrics) {
        (Some(address), Some(metrics)) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address} (--metrics-listen)"))?;
            let server = serve::Server::new(
                listener,
                config.connections.clone(),
                metrics::metrics_app(std::sync::Arc::clone(metrics), None),
            );
            Some((server, std::sync::Arc::clone(metrics)))
        }
        _ => None,
    };
    let main_metrics = if metrics_listener.is_some() { None } else { metrics.clone() };
    // The port answers from now on: /health 200, /health/ready 503 until the index is built.
    let mut server =
        serve::Server::new(listener, config.connections.clone(), starting_app(&config, main_metrics.clone()));
    let scheme = if certificates.is_some() { "https" } else { "http" };
    if let Some(certificates) = certificates {
        server = server.with_tls(certificates);
    }
    let local = server.local_addr()?;
    let app_slot = server.app();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let serving = tokio::spawn(server.run(stopped(stop_rx.clone())));
    tracing::info!(target: LOG_TARGET, address = %local, scheme, "listening; not ready until the index is built");
    let metrics_serving = match metrics_listener {
        Some((server, metrics)) => {
            let address = server.local_addr()?;
            let slot = server.app();
            let task = tokio::spawn(server.run(stopped(stop_rx.clone())));
            tracing::info!(target: LOG_TARGET, %address, "serving /metrics on its own listener");
            Some((task, slot, metrics))
        }
        None => None,
    };

    let started = Instant::now();
    let opened = tokio::select! {
        opened = chartroom_index::Repository::open(storage.clone(), config.repo_options()) => opened,
        _ = stopped(stop_rx) => {
            serving.await.context("serving HTTP")?.context("serving HTTP")?;
            tracing::info!(target: LOG_TARGET, "stopped before the index was ready");
            return Ok(());
        }
    };
    let (repo, report) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            serving.abort();
            return Err(e).with_context(|| format!("building the index from {}", storage.describe()));
        }
    };
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
    let _watcher = config.auth.config_poll_interval.and_then(|every| auth.spawn_watcher(every));
    #[cfg(unix)]
    tokio::spawn(reload_on_sighup(auth.clone()));
    let audit = match &config.lifecycle.audit {
        Some(target) => Some(chartroom_server::audit::AuditLog::open(target).context("cannot open the --audit-log")?),
        None => None,
    };
    // Chart events go to the webhooks from now on; each replica delivers its own writes' events.
    let webhooks = (!config.webhooks.is_empty()).then(|| {
        let hooks =
            chartroom_webhooks::Webhooks::start(storage.clone(), repo.replica_id().to_owned(), config.webhooks.clone());
        repo.set_event_sink(hooks.clone());
        hooks
    });
    let state = AppState::new(repo.clone(), &config, auth)
        .with_metrics(main_metrics)
        .with_webhooks(webhooks.clone())
        .with_audit(audit);
    let upload_sweeper = state.spawn_upload_sweeper();
    state.spawn_catalogue_warmup();
    app_slot.set(app(state));
    if let Some((_, slot, metrics)) = &metrics_serving {
        slot.set(metrics::metrics_app(std::sync::Arc::clone(metrics), Some(repo.clone())));
    }
    tracing::info!(target: LOG_TARGET, address = %local, scheme, context_path = %config.http.context_path, "serving");
    serving.await.context("serving HTTP")?.context("serving HTTP")?;
    if let Some((task, _, _)) = metrics_serving {
        task.await.context("serving metrics")?.context("serving metrics")?;
    }
    if let Some(sweeper) = upload_sweeper {
        sweeper.abort();
    }
    repo.shutdown().await;
    if let Some(hooks) = webhooks {
        hooks.shutdown().await;
    }
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

/// Resolves once the shutdown signal has been seen.
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
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
