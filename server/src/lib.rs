//! The Chartroom HTTP server: ChartMuseum's API and repository routes over one repository and
//! its tenants.
//!
//! `app(state)` builds the router; `run(listener, state, shutdown)` serves it until `shutdown`
//! resolves, lets in-flight requests finish, then persists the index state. Every request passes
//! the gate (`gate.rs`: the route table of `routing`, authentication and authorization, one
//! place); handlers parse requests and call the repository (`chartroom-index`), which owns every
//! write; their errors leave through one wire-error type per protocol (`error`). What the gate
//! learned (route template, tenant, identity) is in `request_info`, for logs and metrics.

pub mod access_log;
pub mod audit;
mod body_budget;
pub mod config;
mod cors;
mod error;
mod events;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod handlers;
mod http_util;
mod lifecycle;
mod limits;
pub mod metrics;
mod oci;
pub mod request_info;
pub mod routing;
pub mod serve;
mod ui;
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
use chartroom_auth::Auth;
use chartroom_index::Repository;
use chartroom_index::oci::{UploadLimits, Uploads};
use tokio::net::TcpListener;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

pub use config::{Config, HttpSettings};
pub use error::{ChartMuseumError, CommonError};
pub use metrics::Metrics;
pub use request_info::RequestLabels;
use routing::RouteTable;

/// How long an OCI registry token (`/v2/token`) is valid: five minutes, as docker's registry
/// tokens; clients fetch a new one when it runs out.
const REGISTRY_TOKEN_LIFETIME_SECONDS: u64 = 300;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    repo: Repository,
    settings: HttpSettings,
    auth: Auth,
    routes: RouteTable,
    /// OCI upload sessions; `None` with `--disable-oci`.
    uploads: Option<Arc<Uploads>>,
    /// The OCI registry tokens, once their key has been read from storage.
    registry_tokens: Arc<tokio::sync::OnceCell<Arc<chartroom_auth::RegistryTokens>>>,
    /// `--bearer-auth`: the distribution API challenges with `Bearer` (its token endpoint) and
    /// this service name (`--auth-service`; empty: the request's host).
    oci_bearer_service: Option<String>,
    /// Whether the port serves HTTPS (the scheme of the token realm).
    tls: bool,
    limits: config::ClientLimits,
    connections: config::ConnectionSettings,
    metrics: Option<Arc<Metrics>>,
    /// The web catalogue's chart summaries, per tenant and index snapshot.
    ui_cache: Arc<ui::Cache>,
    /// The webhooks' delivery report (`GET /api/webhooks/deliveries`), when any are configured.
    webhooks: Option<Arc<chartroom_webhooks::Webhooks>>,
    /// Retention, limits, Artifact Hub, audit log.
    lifecycle: Arc<config::LifecycleSettings>,
    /// `--audit-log`, once opened ([`AppState::with_audit`]).
    audit: Option<Arc<audit::AuditLog>>,
    /// `--max-upload-memory`: request bodies held at once.
    body_budget: body_budget::BodyBudget,
}

impl AppState {
    /// The state for `repo`, served with `config`'s HTTP settings and `auth` deciding access
    /// (`config.auth()`, or `Auth::new(AuthSettings::default())` for an open server). The
    /// tenants served are the repository's (`Repository::tenancy`).
    pub fn new(repo: Repository, config: &Config, auth: Auth) -> Self {
        let settings = config.http.clone();
        let routes =
            RouteTable::new(&settings.context_path, repo.tenancy(), !settings.disable_api, !settings.disable_delete)
                .with_ui(!settings.disable_ui);
        let uploads = (!settings.disable_oci)
            .then(|| Arc::new(Uploads::new(repo.clone(), UploadLimits::with_max_size(settings.max_upload_size))));
        Self {
            inner: Arc::new(Inner {
                repo,
                settings,
                auth,
                routes,
                uploads,
                registry_tokens: Arc::default(),
                oci_bearer_service: config.auth.bearer.as_ref().map(|b| b.service.clone()),
                tls: config.tls.is_some(),
                limits: config.limits.clone(),
                connections: config.connections.clone(),
                metrics: None,
                ui_cache: Arc::default(),
                webhooks: None,
                lifecycle: Arc::new(config.lifecycle.clone()),
                audit: None,
                body_budget: body_budget::BodyBudget::new(config.http.max_upload_memory),
            }),
        }
    }

    /// Serves `/metrics` from this recorder.
    pub fn with_metrics(self, metrics: Option<Arc<Metrics>>) -> Self {
        let inner = Inner { metrics, ..Inner::clone(&self.inner) };
        Self { inner: Arc::new(inner) }
    }

    /// Writes the audit log to `log` (`--audit-log`, opened by whoever serves this state).
    pub fn with_audit(self, log: Option<audit::AuditLog>) -> Self {
        let inner = Inner { audit: log.map(Arc::new), ..Inner::clone(&self.inner) };
        Self { inner: Arc::new(inner) }
    }

    pub fn repo(&self) -> &Repository {
        &self.inner.repo
    }

    /// The repository, its writes attributed to the request's identity in chart events.
    pub(crate) fn repo_as(&self, identity: &Option<axum::Extension<chartroom_auth::Identity>>) -> Repository {
        match identity {
            Some(axum::Extension(identity)) => self.inner.repo.acting_as(identity.name()),
            None => self.inner.repo.clone(),
        }
    }

    /// Serves the delivery report of these webhooks.
    pub fn with_webhooks(self, webhooks: Option<Arc<chartroom_webhooks::Webhooks>>) -> Self {
        let inner = Inner { webhooks, ..Inner::clone(&self.inner) };
        Self { inner: Arc::new(inner) }
    }

    pub(crate) fn webhooks(&self) -> Option<&Arc<chartroom_webhooks::Webhooks>> {
        self.inner.webhooks.as_ref()
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
        self.inner.uploads.as_deref()
    }
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.metrics.as_ref()
    }
    pub(crate) fn body_budget(&self) -> &body_budget::BodyBudget {
        &self.inner.body_budget
    }
    pub(crate) fn ui_cache(&self) -> &ui::Cache {
        &self.inner.ui_cache
    }
    pub(crate) fn lifecycle(&self) -> &config::LifecycleSettings {
        &self.inner.lifecycle
    }

    /// The signer and verifier of OCI registry tokens (its key is shared through storage, read
    /// once).
    pub(crate) async fn registry_tokens(
        &self,
    ) -> Result<&chartroom_auth::RegistryTokens, chartroom_index::oci::OciError> {
        let tokens = self
            .inner
            .registry_tokens
            .get_or_try_init(|| async {
                let key = self.inner.repo.oci_token_key().await?;
                Ok::<_, chartroom_index::oci::OciError>(Arc::new(chartroom_auth::RegistryTokens::new(
                    &key,
                    REGISTRY_TOKEN_LIFETIME_SECONDS,
                )))
            })
            .await?;
        Ok(tokens)
    }

    /// `Some(service)` when the distribution API challenges with `Bearer` (`--bearer-auth`).
    pub(crate) fn oci_bearer_service(&self) -> Option<&str> {
        self.inner.oci_bearer_service.as_deref()
    }

    /// Whether the port serves HTTPS.
    pub(crate) fn serves_tls(&self) -> bool {
        self.inner.tls
    }

    /// Starts the task that removes abandoned OCI upload sessions (none with `--disable-oci`);
    /// whoever serves this state starts it once the application is in place, and aborts it at
    /// shutdown.
    pub fn spawn_upload_sweeper(&self) -> Option<tokio::task::JoinHandle<()>> {
        let uploads = Arc::clone(self.inner.uploads.as_ref()?);
        Some(tokio::spawn(sweep_uploads(uploads)))
    }
}

/// The `route_layer` that records the matched route's template (`access_log::record_route`):
/// for the routes outside the gate only (`/metrics`, the start-up answers).
macro_rules! record_route {
    ($context:expr) => {{
        let context = Arc::clone(&$context);
        middleware::from_fn(move |req, next| access_log::record_route(Arc::clone(&context), req, next))
    }};
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let settings = state.settings().clone();
    // Canonical (depth-0) paths only: the gate has routed, checked and rewritten the request,
    // and recorded its route template, tenant and identity in the `RequestLabels`.
    let handlers = Router::new()
        .route("/", get(ui::home))
        .route("/health", get(handlers::health))
        .route("/health/ready", get(handlers::ready))
        .route("/info", get(handlers::info))
        .route("/index.yaml", get(handlers::index_yaml))
        .route("/charts/{file}", get(handlers::chart_file).head(handlers::chart_file_head))
        .route("/api/tenants", get(handlers::tenants))
        .route("/api/events", get(events::events))
        .route("/api/webhooks/deliveries", get(events::deliveries))
        .route("/api/charts", get(handlers::list_charts).post(upload::upload_chart))
        .route("/api/charts/{name}", get(handlers::get_chart).delete(handlers::delete_chart))
        .route("/api/charts/{name}/{version}", get(handlers::get_version).delete(handlers::delete_version))
        .route("/api/charts/{name}/{version}/templates", get(handlers::templates))
        .route("/api/charts/{name}/{version}/values", get(handlers::values))
        .route("/api/prov", post(upload::upload_prov))
        .route("/api/provenance/verify", post(handlers::reverify_provenance))
        .route("/api/resync", post(handlers::resync))
        .route("/artifacthub-repo.yml", get(lifecycle::artifact_hub))
        .route("/api/retention", get(lifecycle::retention_preview).post(lifecycle::apply_retention))
        .route("/ui/", get(ui::catalogue))
        .route("/ui/charts/{name}", get(ui::chart))
        .route("/ui/.assets/{file}", get(ui::asset))
        .fallback(not_found)
        .with_state(state.clone());
    let mut gated =
        Router::new().fallback_service(handlers).layer(middleware::from_fn_with_state(state.clone(), gate::gate));
    if let Some(log) = &state.inner.audit {
        let log = Arc::clone(log);
        gated = gated.layer(middleware::from_fn(move |req, next| audit::audit(Arc::clone(&log), req, next)));
    }
    // `/metrics` is outside the context path (as in ChartMuseum) and outside the gate: the auth
    // crate has no `metrics` action to grant, so a private `/metrics` is served on its own
    // listener (`--metrics-listen`), which then replaces this route.
    let app = match state.metrics() {
        Some(_) => {
            let context: Arc<str> = Arc::from(settings.context_path.as_str());
            Router::new()
                .route("/metrics", get(metrics::metrics_handler))
                .route_layer(record_route!(context))
                .with_state(state.clone())
                .fallback_service(gated)
        }
        None => gated,
    };
    layers(app, &settings, &state.inner.limits)
}

/// What the port answers while the index is being built: `/health` 200 (the process is alive),
/// `/health/ready` 503, `/metrics`, and 503 with `Retry-After` for everything else. Tenants'
/// paths are no exception: nothing is routed until the index is ready.
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
/// the access log and request metrics, and outermost the marking of credentials as sensitive
/// (so no tracing layer ever prints them).
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
        let context_path: Arc<str> = Arc::from(settings.context_path.as_str());
        app = app.layer(middleware::from_fn(move |req, next| {
            limits::limit(Arc::clone(&limiter), Arc::clone(&context_path), req, next)
        }));
    }
    if let Some(origins) = &client_limits.cors {
        let origins = Arc::new(origins.clone());
        app = app.layer(middleware::from_fn(move |req, next| cors::cors(Arc::clone(&origins), req, next)));
    }
    app.layer(middleware::from_fn(move |req, next| access_log::access_log(log_health, req, next)))
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
    // The web catalogue's pages answer browsers in HTML, errors included.
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
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
    let sweeper = state.spawn_upload_sweeper();
    serve::Server::new(listener, connections, app(state)).run(shutdown).await?;
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    repo.shutdown().await;
    Ok(())
}

/// Removes abandoned OCI upload sessions (of every replica) every few minutes.
async fn sweep_uploads(uploads: Arc<Uploads>) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        match uploads.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "removed abandoned OCI upload sessions"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep OCI upload sessions"),
        }
    }
}
