//! The Chartroom HTTP server: ChartMuseum's API and repository routes over one repository.
//!
//! `app(state)` builds the router; `run(listener, state, shutdown)` serves it until `shutdown`
//! resolves, lets in-flight requests finish, then persists the index state.

pub mod config;
mod error;
mod handlers;
mod http_util;
mod upload;

use std::collections::HashMap;
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
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use config::{Config, HttpSettings, OverwritePolicy};
pub use error::ApiError;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repository,
    settings: HttpSettings,
    overwrite: OverwritePolicy,
    key_locks: KeyLocks,
}

impl AppState {
    /// The state for `repo`, served with `config`'s HTTP settings and overwrite policy.
    pub fn new(repo: Repository, config: &Config) -> Self {
        let inner = Inner {
            repo,
            settings: config.http.clone(),
            overwrite: config.repository.overwrite,
            key_locks: KeyLocks::default(),
        };
        Self { inner: Arc::new(inner) }
    }
    pub fn repo(&self) -> &Repository {
        &self.inner.repo
    }
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }
    pub fn overwrite(&self) -> OverwritePolicy {
        self.inner.overwrite
    }
    /// Serializes writes to one storage key (upload vs delete of the same version), so storage
    /// and index change together for that key.
    pub(crate) async fn lock_key(&self, key: &str) -> OwnedMutexGuard<()> {
        self.inner.key_locks.lock(key).await
    }
}

/// Striped per-key locks: bounded memory, no cleanup needed.
struct KeyLocks {
    stripes: Vec<Arc<Mutex<()>>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self { stripes: (0..256).map(|_| Arc::new(Mutex::new(()))).collect() }
    }
}

impl KeyLocks {
    async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let stripe = (h.finish() as usize) % self.stripes.len();
        Arc::clone(&self.stripes[stripe]).lock_owned().await
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
            error::error_body(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }))
        .layer(middleware::from_fn(move |req, next| request_timeout(write_timeout, req, next)))
        .layer(middleware::from_fn(move |req, next| access_log(settings.log_health, req, next)))
}

async fn not_found() -> ApiError {
    ApiError::route_not_found()
}

/// Every error leaves as JSON `{"error": ...}`: ChartMuseum answers a method mismatch with 404
/// `{"error":"not found"}` (never 405), and the framework's own rejections (an undecodable path
/// parameter, for example) are plain text that is wrapped here.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return ApiError::route_not_found().into_response();
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
    error::error_body(status, message)
}

async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("request not completed within {}s (--write-timeout)", limit.as_secs()),
        )
        .into_response(),
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

/// Parses a raw query string into a map (last value wins); keys without `=` map to "".
pub(crate) fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(http_util::percent_decode(k), http_util::percent_decode(v));
    }
    out
}
