//! The Chartroom HTTP server: ChartMuseum's API and repository routes over one repository.
//!
//! `app(state)` builds the router; `run(listener, state, shutdown)` serves it until `shutdown`
//! resolves, lets in-flight requests finish, then persists the index state. Handlers parse
//! requests and call the repository (`chartroom-index`), which owns every write; their errors
//! leave through one wire-error type per protocol (`error`).

pub mod access_log;
pub mod config;
mod cors;
mod error;
mod handlers;
mod http_util;
mod limits;
pub mod metrics;
pub mod serve;
mod upload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chartroom_index::Repository;
use tokio::net::TcpListener;

pub use access_log::RequestLabels;
pub use config::{Config, HttpSettings};
pub use error::{ChartMuseumError, CommonError};
pub use metrics::Metrics;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repository,
    settings: HttpSettings,
    limits: config::ClientLimits,
    connections: config::ConnectionSettings,
    metrics: Option<Arc<Metrics>>,
}

impl AppState {
    /// The state for `repo`, served with `config`'s HTTP settings.
    pub fn new(repo: Repository, config: &Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                settings: config.http.clone(),
                limits: config.limits.clone(),
                connections: config.connections.clone(),
                metrics: None,
            }),
        }
    }

    /// Serves `/metrics` from this recorder.
    pub fn with_metrics(self, metrics: Option<Arc<Metrics>>) -> Self {
        let inner = Inner {
            repo: self.inner.repo.clone(),
            settings: self.inner.settings.clone(),
            limits: self.inner.limits.clone(),
            connections: self.inner.connections.clone(),
            metrics,
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn repo(&self) -> &Repository {
        &self.inner.repo
    }
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.metrics.as_ref()
    }
}

/// The `route_layer` that records the matched route's template (`access_log::record_route`).
macro_rules! record_route {
    ($context:expr) => {{
        let context = Arc::clone(&$context);
        middleware::from_fn(move |req, next| access_log::record_route(Arc::clone(&context), req, next))
    }};
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let settings = state.settings().clone();
    let mut routes = Router::new()
        .route("/", get(handlers::welcome))
        .route("/health", get(handlers::health))
        .route("/health/ready", get(handlers::ready))
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
            .route("/api/resync", post(handlers::resync));
    }
    let context: Arc<str> = Arc::from(settings.context_path.as_str());
    let routes = routes.route_layer(record_route!(context)).fallback(not_found).with_state(state.clone());
    // Outside the context path: `/metrics` (as in ChartMuseum) and, under a context path, the
    // path with a trailing `/` (ChartMuseum maps both the bare prefix and that one to `/`).
    let mut outer = Router::new();
    if state.metrics().is_some() {
        outer = outer.route("/metrics", get(metrics::metrics_handler));
    }
    if !settings.context_path.is_empty() {
        outer = outer.route(&format!("{}/", settings.context_path), get(handlers::welcome));
    }
    let outer = if outer.has_routes() { outer.route_layer(record_route!(context)) } else { outer };
    let outer = outer.with_state(state.clone());
    let app = if settings.context_path.is_empty() {
        outer.merge(routes)
    } else {
        outer.nest(&settings.context_path, routes).fallback(not_found)
    };
    layers(app, &settings, &state.inner.limits)
}

/// What the port answers while the index is being built: `/health` 200 (the process is alive),
/// `/health/ready` 503, `/metrics`, and 503 with `Retry-After` for everything else.
pub fn starting_app(config: &Config, metrics: Option<Arc<Metrics>>) -> Router {
    let context: Arc<str> = Arc::from(config.http.context_path.as_str());
    let health = Router::new()
        .route("/health", get(handlers::health_starting))
        .route("/health/ready", get(|| async { ChartMuseumError::from(CommonError::Starting) }));
    let mut app = Router::new();
    if let Some(metrics) = metrics {
        app = app.route("/metrics", get(move || async move { metrics::exposition(metrics.render(None)) }));
    }
    let app = if config.http.context_path.is_empty() {
        app.merge(health)
    } else {
        app.nest(&config.http.context_path, health)
    };
    let app = app.route_layer(record_route!(context)).fallback(|| async {
        let mut response = ChartMuseumError::from(CommonError::Starting).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response
    });
    layers(app, &config.http, &config.limits)
}

/// The middleware every application gets, innermost first: JSON errors, no framework body
/// limit (uploads bound their own), panics as 500, the write timeout, per-client limits, CORS,
/// and outermost the access log and request metrics.
fn layers(app: Router, settings: &HttpSettings, client_limits: &config::ClientLimits) -> Router {
    let write_timeout = settings.write_timeout;
    let log_health = settings.log_health;
    let mut app = app
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ChartMuseumError::from(CommonError::Internal("internal server error".to_owned())).into_response()
        }))
        .layer(middleware::from_fn(move |req, next| request_timeout(write_timeout, req, next)));
    if let Some(limiter) = limits::Limiter::new(client_limits) {
        app = app.layer(middleware::from_fn(move |req, next| limits::limit(Arc::clone(&limiter), req, next)));
    }
    if let Some(origins) = &client_limits.cors {
        let origins = Arc::new(origins.clone());
        app = app.layer(middleware::from_fn(move |req, next| cors::cors(Arc::clone(&origins), req, next)));
    }
    app.layer(middleware::from_fn(move |req, next| access_log::access_log(log_health, req, next)))
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

/// Serves `app(state)` on `listener` (plain HTTP, the state's connection settings) until
/// `shutdown` resolves; in-flight requests finish, then the index state is persisted. The binary
/// uses [`serve::Server`] directly (TLS, readiness during start-up).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let repo = state.repo().clone();
    let connections = state.inner.connections.clone();
    serve::Server::new(listener, connections, app(state)).run(shutdown).await?;
    repo.shutdown().await;
    Ok(())
}
