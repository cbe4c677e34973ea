//! The Chartroom HTTP server: ChartMuseum's API and repository routes over one repository.
//!
//! `app(state)` builds the router; `run(listener, state, shutdown)` serves it until `shutdown`
//! resolves, lets in-flight requests finish, then persists the index state. Handlers parse
//! requests and call the repository (`chartroom-index`), which owns every write; their errors
//! leave through one wire-error type per protocol (`error`).

pub mod config;
mod error;
mod handlers;
mod http_util;
mod upload;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chartroom_index::Repository;
use tokio::net::TcpListener;

pub use config::{Config, HttpSettings};
pub use error::{ChartMuseumError, CommonError};

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repository,
    settings: HttpSettings,
}

impl AppState {
    /// The state for `repo`, served with `config`'s HTTP settings.
    pub fn new(repo: Repository, config: &Config) -> Self {
        Self { inner: Arc::new(Inner { repo, settings: config.http.clone() }) }
    }
    pub fn repo(&self) -> &Repository {
        &self.inner.repo
    }
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let settings = state.settings().clone();
    let mut routes = Router::new()
        .route("/", get(handlers::welcome))
        .route("/health", get(handlers::health))
        .route("/info", get(handlers::info))
        .route("/index.yaml", get(handlers::index_yaml))
        .route("/charts/{file}", get(handlers::chart_file).head(handlers::chart_file_head));
    if !settings.disable_api {
        let mut chart = get(handlers::get_chart);
        let mut version = get(handlers::get_version);
        if !settings.disable_delete {
            chart = chart.delete(handlers::delete_chart);
            version = version.delete(handlers::delete_version);
        }
        routes = routes
            .route("/api/charts", get(handlers::list_charts).post(upload::upload_chart))
            .route("/api/charts/{name}", chart)
            .route("/api/charts/{name}/{version}", version)
            .route("/api/charts/{name}/{version}/templates", get(handlers::templates))
            .route("/api/charts/{name}/{version}/values", get(handlers::values))
            .route("/api/prov", post(upload::upload_prov))
            .route("/api/provenance/verify", post(handlers::reverify_provenance))
            .route("/api/resync", post(handlers::resync));
    }
    let routes = routes.fallback(not_found).with_state(state.clone());
    let routes = if settings.context_path.is_empty() {
        routes
    } else {
        // ChartMuseum maps both the bare prefix and the prefix with a trailing '/' to '/'.
        let welcome_slash = format!("{}/", settings.context_path);
        Router::new()
            .route(&welcome_slash, get(handlers::welcome).with_state(state.clone()))
            .nest(&settings.context_path, routes)
            .fallback(not_found)
    };
    let write_timeout = settings.write_timeout;
    routes
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ChartMuseumError::from(CommonError::Internal("internal server error".to_owned())).into_response()
        }))
        .layer(middleware::from_fn(move |req, next| request_timeout(write_timeout, req, next)))
        .layer(middleware::from_fn(move |req, next| access_log(settings.log_health, req, next)))
}

async fn not_found() -> ChartMuseumError {
    ChartMuseumError::RouteNotFound
}

/// Every error leaves as JSON `{"error": ...}`: ChartMuseum answers a method mismatch with 404
/// `{"error":"not found"}` (never 405), and the framework's own rejections (an undecodable path
/// parameter, for example) are plain text that is wrapped here.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
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
    if status >= 500 {
        tracing::error!(%method, %path, status, latency_us, request_id = %id, "request served");
    } else if status >= 400 && status != 404 {
        tracing::warn!(%method, %path, status, latency_us, request_id = %id, "request served");
    } else {
        tracing::info!(%method, %path, status, latency_us, request_id = %id, "request served");
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
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await?;
    repo.shutdown().await;
    Ok(())
}
