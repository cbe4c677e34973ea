//! The Chartroom HTTP server: ChartMuseum's API and repository routes over one repository and
//! its tenants.
//!
//! `app(state)` builds the router; `run(listener, state, shutdown)` serves it until `shutdown`
//! resolves, lets in-flight requests finish, then persists the index state. Every request passes
//! the gate (`gate.rs`: the route table of `routing`, authentication and authorization, one
//! place); handlers parse requests and call the repository (`chartroom-index`), which owns every
//! write; their errors leave through one wire-error type per protocol (`error`). What the gate
//! learned (route template, tenant, identity) is in `request_info`, for logs and metrics.

pub mod config;
mod error;
mod gate;
mod handlers;
mod http_util;
mod oci;
pub mod request_info;
pub mod routing;
mod upload;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use chartroom_auth::Auth;
use chartroom_index::Repository;
use chartroom_index::oci::{UploadLimits, Uploads};
use tokio::net::TcpListener;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

pub use config::{Config, HttpSettings};
pub use error::{ChartMuseumError, CommonError};
use request_info::{RequestIdentity, RequestTenant, RouteTemplate};
use routing::RouteTable;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repository,
    settings: HttpSettings,
    auth: Auth,
    routes: RouteTable,
    /// OCI upload sessions; `None` with `--disable-oci`.
    uploads: Option<Uploads>,
}

impl AppState {
    /// The state for `repo`, served with `config`'s HTTP settings and `auth` deciding access
    /// (`config.auth()`, or `Auth::new(AuthSettings::default())` for an open server). The
    /// tenants served are the repository's (`Repository::tenancy`).
    pub fn new(repo: Repository, config: &Config, auth: Auth) -> Self {
        let settings = config.http.clone();
        let routes =
            RouteTable::new(&settings.context_path, repo.tenancy(), !settings.disable_api, !settings.disable_delete);
        let uploads = (!settings.disable_oci)
            .then(|| Uploads::new(repo.clone(), UploadLimits::with_max_size(settings.max_upload_size)));
        Self { inner: Arc::new(Inner { repo, settings, auth, routes, uploads }) }
    }
    pub fn repo(&self) -> &Repository {
        &self.inner.repo
    }
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }
    pub fn routes(&self) -> &RouteTable {
        &self.inner.routes
    }
    /// The OCI upload sessions, unless the OCI API is off.
    pub fn uploads(&self) -> Option<&Uploads> {
        self.inner.uploads.as_ref()
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let settings = state.settings().clone();
    // Canonical (depth-0) paths only: the gate has routed, checked and rewritten the request.
    let handlers = Router::new()
        .route("/", get(handlers::welcome))
        .route("/health", get(handlers::health))
        .route("/info", get(handlers::info))
        .route("/index.yaml", get(handlers::index_yaml))
        .route("/charts/{file}", get(handlers::chart_file).head(handlers::chart_file_head))
        .route("/api/tenants", get(handlers::tenants))
        .route("/api/charts", get(handlers::list_charts).post(upload::upload_chart))
        .route("/api/charts/{name}", get(handlers::get_chart).delete(handlers::delete_chart))
        .route("/api/charts/{name}/{version}", get(handlers::get_version).delete(handlers::delete_version))
        .route("/api/charts/{name}/{version}/templates", get(handlers::templates))
        .route("/api/charts/{name}/{version}/values", get(handlers::values))
        .route("/api/prov", post(upload::upload_prov))
        .route("/api/resync", post(handlers::resync))
        .fallback(not_found)
        .with_state(state.clone());
    let write_timeout = settings.write_timeout;
    Router::new()
        .fallback_service(handlers)
        .layer(middleware::from_fn_with_state(state, gate::gate))
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ChartMuseumError::from(CommonError::Internal("internal server error".to_owned())).into_response()
        }))
        .layer(middleware::from_fn(move |req, next| request_timeout(write_timeout, req, next)))
        .layer(middleware::from_fn(move |req, next| access_log(settings.log_health, req, next)))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::PROXY_AUTHORIZATION]))
}

async fn not_found() -> ChartMuseumError {
    ChartMuseumError::RouteNotFound
}

/// Every error leaves as JSON `{"error": ...}`: ChartMuseum answers a method mismatch with 404
/// `{"error":"not found"}` (never 405), and the framework's own rejections (an undecodable path
/// parameter, for example) are plain text that is wrapped here.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    // The distribution API words its own errors.
    if response.headers().contains_key(error::API_VERSION_HEADER) {
        return response;
    }
    let status = response.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return ChartMuseumError::RouteNotFound.into_response();
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || is_json || status == StatusCode::NOT_MODIFIED {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = if text.trim().is_empty() { status.canonical_reason().unwrap_or("error") } else { text.trim() };
    ChartMuseumError::Rejected { status, message: message.to_owned() }.into_response()
}

async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ChartMuseumError::from(CommonError::WriteTimeout(limit)).into_response(),
    }
}

/// One log line per request, with a request id echoed in `X-Request-Id`.
async fn access_log(log_health: bool, req: Request, next: Next) -> Response {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("{:08x}{:08x}", std::process::id(), n)
        });
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    if path.ends_with("/health") && !log_health {
        return response;
    }
    let facts = response.extensions();
    let route = facts.get::<RouteTemplate>().map_or("", |t| t.0);
    let tenant = facts.get::<RequestTenant>().map_or("", |t| t.0.as_str());
    let identity = facts.get::<RequestIdentity>().map_or("", |i| i.0.as_str());
    if status >= 500 {
        tracing::error!(%method, %path, route, tenant, identity, status, latency_us, request_id = %id, "request served");
    } else if status >= 400 && status != 404 {
        tracing::warn!(%method, %path, route, tenant, identity, status, latency_us, request_id = %id, "request served");
    } else {
        tracing::info!(%method, %path, route, tenant, identity, status, latency_us, request_id = %id, "request served");
    }
    response
}

/// Serves `app` on `listener` until `shutdown` resolves; in-flight requests finish, then the
/// index state is persisted.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let repo = state.repo().clone();
    let sweeper = state.inner.uploads.is_some().then(|| tokio::spawn(sweep_uploads(state.clone())));
    // No Nagle: a streamed body's first chunk would otherwise wait for the client's delayed
    // ACK of the headers (40 ms per download on Linux; Go servers, docker-registry included,
    // disable it by default).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await?;
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    repo.shutdown().await;
    Ok(())
}

/// Removes abandoned OCI upload sessions (of every replica) every few minutes.
async fn sweep_uploads(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        let Some(uploads) = state.uploads() else { return };
        match uploads.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "removed abandoned OCI upload sessions"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep OCI upload sessions"),
        }
    }
}
