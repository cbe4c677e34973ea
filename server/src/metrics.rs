//! Prometheus metrics (`--enable-metrics`): the `metrics` facade's global recorder, rendered at
//! `GET /metrics` (outside the context path, as ChartMuseum serves it).
//!
//! Code anywhere emits through the facade (`metrics::counter!`), with no registry to thread:
//! the serving loop (connections), the access log (requests), the upload handler, storage
//! (`chartroom_storage::instrumented::MetricsObserver`) and the index (ETag changes, resyncs,
//! replica lag). Without `--enable-metrics` no recorder is installed and every emission is a
//! no-op. Gauges that describe tenants are set here, at scrape time, from the repository's
//! snapshots, for the tenants that exist: a label value is never taken from a request.
//!
//! Every metric, its type and labels are listed in [`DESCRIPTIONS`] (the README's table).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chartroom_index::Repository;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;

/// Histogram buckets of request and storage durations (Prometheus' defaults, ChartMuseum's).
const DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets of slower things: resyncs, replica lag.
const SLOW_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// (name, type, labels, meaning) of every metric Chartroom emits.
pub const DESCRIPTIONS: &[(&str, &str, &str, &str)] = &[
    ("chartmuseum_charts_served_total", "gauge", "repo", "Chart names in the tenant's index (`\"\"` is the root)"),
    ("chartmuseum_chart_versions_served_total", "gauge", "repo", "Chart versions in the tenant's index"),
    (
        "chartmuseum_requests_total",
        "counter",
        "code, method, url",
        "HTTP requests answered; `url` is the route template",
    ),
    (
        "chartmuseum_request_duration_seconds",
        "histogram",
        "code, method, url",
        "Time to answer, until the last body byte",
    ),
    ("chartroom_http_connections_total", "counter", "", "Connections accepted"),
    ("chartroom_http_connections_open", "gauge", "", "Connections open now"),
    (
        "chartroom_http_connections_closed_total",
        "counter",
        "reason",
        "Connections closed: closed, idle, header_timeout, stalled, shutdown, tls_handshake_failed",
    ),
    ("chartroom_http_rejected_total", "counter", "reason", "Requests refused by a per-client limit: rate, uploads"),
    (
        "chartroom_storage_requests_total",
        "counter",
        "operation, outcome",
        "Object-store requests: get, head, put, delete, list; ok, not_found, conflict, error",
    ),
    ("chartroom_storage_request_duration_seconds", "histogram", "operation", "Object-store request time"),
    (
        "chartroom_uploads_total",
        "counter",
        "outcome",
        "Chart and provenance uploads: stored, conflict, invalid, too_large, error",
    ),
    ("chartroom_upload_bytes_total", "counter", "", "Bytes of uploads stored"),
    ("chartroom_index_body_bytes", "gauge", "repo", "Size of the tenant's served index body"),
    ("chartroom_index_etag_changes_total", "counter", "repo", "New index bodies (ETags) published for the tenant"),
    ("chartroom_resyncs_total", "counter", "outcome", "Resyncs with storage: ok, failed"),
    ("chartroom_resync_duration_seconds", "histogram", "", "Time a resync took"),
    ("chartroom_resync_changes_total", "counter", "change", "Changes resyncs found: added, updated, removed"),
    ("chartroom_replica_lag_seconds", "histogram", "", "From a peer replica's change-log write to its reading here"),
    (
        "chartroom_webhook_deliveries_total",
        "counter",
        "endpoint, outcome",
        "Webhook delivery attempts by outcome: `delivered`, `failed` (retried), `gave_up`, `dropped` (queue full)",
    ),
    ("chartroom_webhook_queue_depth", "gauge", "endpoint", "Webhook events waiting for delivery by this replica"),
    ("chartroom_tls_reloads_total", "counter", "outcome", "Certificate reloads: loaded, refused (the old one stays)"),
    (
        "chartroom_oci_upload_sessions_open",
        "gauge",
        "",
        "OCI blob upload sessions open on this replica (not yet finished, cancelled or expired)",
    ),
    (
        "chartroom_auth_failures_total",
        "counter",
        "reason",
        "Requests refused by authentication (401) or authorization (`forbidden`, 403), by the auth crate's fixed reasons",
    ),
];

/// Whether a recorder is installed: per-request emitters skip building labels otherwise.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether metrics are being recorded (`--enable-metrics`).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The installed recorder and what the scrape-time gauges last reported.
pub struct Metrics {
    handle: PrometheusHandle,
    /// Tenants whose gauges were set: a tenant that disappeared gets zeros, not stale values.
    reported: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Why metrics cannot be enabled.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct MetricsError(String);

impl Metrics {
    /// Installs the process-wide recorder (once per process) and its upkeep task.
    pub fn install() -> Result<Arc<Metrics>, MetricsError> {
        let err = |e: metrics_exporter_prometheus::BuildError| MetricsError(e.to_string());
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), DURATION_BUCKETS)
            .map_err(err)?
            .set_buckets_for_metric(Matcher::Full("chartroom_resync_duration_seconds".into()), SLOW_BUCKETS)
            .map_err(err)?
            .set_buckets_for_metric(Matcher::Full("chartroom_replica_lag_seconds".into()), SLOW_BUCKETS)
            .map_err(err)?
            .install_recorder()
            .map_err(err)?;
        for (name, kind, _, help) in DESCRIPTIONS {
            match *kind {
                "counter" => metrics::describe_counter!(*name, *help),
                "gauge" => metrics::describe_gauge!(*name, *help),
                _ => metrics::describe_histogram!(*name, *help),
            }
        }
        ENABLED.store(true, Ordering::Relaxed);
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Arc::new(Metrics { handle, reported: Mutex::new(BTreeSet::new()) }))
    }

    /// The text exposition, with the tenants' gauges taken from `repo` now.
    pub fn render(&self, repo: Option<&Repository>) -> String {
        if let Some(repo) = repo {
            let mut reported = self.reported.lock();
            let mut now = BTreeSet::new();
            for tenant in repo.tenants() {
                let Ok(snapshot) = repo.snapshot(&tenant) else { continue };
                let repo_label = tenant.as_str().to_owned();
                metrics::gauge!("chartmuseum_charts_served_total", "repo" => repo_label.clone())
                    .set(snapshot.charts as f64);
                metrics::gauge!("chartmuseum_chart_versions_served_total", "repo" => repo_label.clone())
                    .set(snapshot.versions as f64);
                metrics::gauge!("chartroom_index_body_bytes", "repo" => repo_label.clone())
                    .set(snapshot.primary().len as f64);
                now.insert(repo_label);
            }
            for gone in reported.difference(&now) {
                for name in [
                    "chartmuseum_charts_served_total",
                    "chartmuseum_chart_versions_served_total",
                    "chartroom_index_body_bytes",
                ] {
                    metrics::gauge!(name, "repo" => gone.clone()).set(0.0);
                }
            }
            *reported = now;
        }
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// `GET /metrics`.
pub async fn metrics_handler(State(state): State<crate::AppState>) -> Response {
    match state.metrics() {
        Some(metrics) => exposition(metrics.render(Some(state.repo()))),
        None => crate::ChartMuseumError::RouteNotFound.into_response(),
    }
}

/// The application of the separate metrics listener (`--metrics-listen`): `GET /metrics` and 404
/// for anything else; `repo` is `None` while the index is being built (no tenant gauges yet).
pub fn metrics_app(metrics: Arc<Metrics>, repo: Option<Repository>) -> axum::Router {
    let scrape = move || {
        let metrics = Arc::clone(&metrics);
        let repo = repo.clone();
        async move { exposition(metrics.render(repo.as_ref())) }
    };
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .fallback(|| async { crate::ChartMuseumError::RouteNotFound })
}

/// The Prometheus text format response.
pub(crate) fn exposition(text: String) -> Response {
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Counts a refused request (the gate calls it for every 401 and 403); `reason` is one of the
/// auth crate's fixed reasons (`chartroom_auth::Reason::as_str`), never text from the request.
pub fn auth_failure(reason: &'static str) {
    metrics::counter!("chartroom_auth_failures_total", "reason" => reason).increment(1);
}
