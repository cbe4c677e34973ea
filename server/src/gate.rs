//! The one place every request is routed and allowed or refused.
//!
//! 1. The route table ([`crate::routing`]) names the endpoint, the tenant and the action: no
//!    route is 404 `{"error":"not found"}`, a tenant name that breaks the rules is 400 naming the
//!    rule. Nothing has touched storage yet.
//! 2. `/health` and `/info` go through whatever the request carries. Every other route
//!    authenticates the `Authorization` header (password hashes on the blocking pool, through
//!    the auth crate's async API) when any authentication is configured; credentials that do
//!    not check out are 401 with the challenge, even where anonymous access would do.
//! 3. Routes with an action ask the authorizer about (identity, tenant, action): an anonymous
//!    caller without the permission gets 401 with the challenge, valid credentials without it
//!    403. `/api/tenants` needs no permission: its handler lists what the caller may pull.
//!    Every refusal of credentials or permission counts in `chartroom_auth_failures_total`
//!    under the auth crate's fixed `Reason` (`forbidden` for a 403), never a request's text.
//! 4. The request goes on with its canonical path (the endpoint's depth-0 path) and, as
//!    extensions, the [`Tenant`], the [`Route`] and the [`Identity`]. What the gate learned
//!    (route template, tenant, identity name) is written into the request's
//!    [`RequestLabels`] as soon as it is known, for the access log and the request metrics.

use axum::extract::{Request, State};
use axum::http::{Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chartroom_auth::{Action, Decision, Identity, Reason};
use chartroom_index::Tenant;

use crate::AppState;
use crate::error::{ChartMuseumError, CommonError};
use crate::metrics::auth_failure;
use crate::request_info::RequestLabels;
use crate::routing::{MatchError, Route};

/// Routes, authenticates and authorizes one request, then hands it to the handlers.
pub(crate) async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(route) = crate::oci::route_of(&state, &req) {
        return crate::oci::serve(state, route, req).await;
    }
    let unread_body = has_body(&req);
    // Filled in as the gate learns; the access log (outside) reads it. Absent only when the
    // application runs without its layers.
    let labels = req.extensions().get::<RequestLabels>().cloned().unwrap_or_default();
    let table = state.routes();
    let matched = match table.find(req.method(), req.uri().path()) {
        Ok(matched) => matched,
        Err(error) => {
            // No template: the request counts as `unmatched`, whatever its path.
            let refusal = match error {
                MatchError::NotFound => ChartMuseumError::RouteNotFound,
                MatchError::InvalidTenant(e) => ChartMuseumError::InvalidTenant(e),
            };
            return refuse(refusal, unread_body);
        }
    };
    let (route, tenant) = (matched.route, matched.tenant);
    labels.set_route(route.template(table.has_tenants()));
    labels.set_tenant(tenant.as_str());
    if let Some(write) = route.audited_write() {
        labels.set_write(write);
    }

    let identity = if route.is_open() {
        None
    } else {
        // Owned: a borrowed request cannot be held across the authentication's await.
        let header = req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned).map_err(|_| ()));
        match check_access(&state, header, route, &tenant).await {
            Ok(identity) => Some(identity),
            Err(Refusal { error, identity }) => {
                if let Some(identity) = identity {
                    labels.set_identity(&identity);
                }
                return refuse(error, unread_body);
            }
        }
    };
    if let Some(identity) = &identity {
        labels.set_identity(identity.name());
    }
    if let Err(refusal) = set_path(&mut req, &matched.canonical_path) {
        return refuse(refusal, unread_body);
    }
    req.extensions_mut().insert(route);
    req.extensions_mut().insert(tenant);
    if let Some(identity) = identity {
        req.extensions_mut().insert(identity);
    }
    next.run(req).await
}

/// A refused request: the answer, and who asked when the credentials were valid.
struct Refusal {
    error: ChartMuseumError,
    identity: Option<String>,
}

impl From<ChartMuseumError> for Refusal {
    fn from(error: ChartMuseumError) -> Self {
        Refusal { error, identity: None }
    }
}

/// Whether the request carries a body (which a refusal leaves unread).
pub(crate) fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().parse::<u64>().map_or(true, |n| n > 0))
}

/// The refusal as a response. A body the client is still sending is never read (an
/// unauthenticated upload is not worth receiving), so the connection cannot serve another
/// request: `Connection: close` tells the client not to reuse it.
fn refuse(refusal: ChartMuseumError, unread_body: bool) -> Response {
    let mut response = refusal.into_response();
    if unread_body {
        response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

/// Who is asking, if they may do what `route` does on `tenant`.
/// `header` is the `Authorization` header: absent, text, or not text (`Err`).
async fn check_access(
    state: &AppState,
    header: Option<Result<String, ()>>,
    route: Route,
    tenant: &Tenant,
) -> Result<Identity, Refusal> {
    let auth = state.auth();
    if !auth.is_enabled() {
        // ChartMuseum without auth settings ignores credentials; so does Chartroom.
        return Ok(Identity::anonymous());
    }
    let authorizer = auth.authorizer();
    // The challenge of a refusal asks for the route's action (a read for `/api/tenants`).
    let action = state.routes().action(route);
    let asked = action.unwrap_or(Action::Pull);
    let unauthorized = |reason: Reason| {
        log_refusal(reason, route, tenant, None);
        auth_failure(reason.as_str());
        ChartMuseumError::Unauthorized { reason, challenge: authorizer.challenge(tenant.as_str(), asked) }
    };
    let header = match header {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(())) => return Err(unauthorized(Reason::MalformedHeader).into()),
    };
    let identity = match auth.authenticator().authenticate_async(header.as_deref()).await {
        Ok(identity) => identity,
        Err(e) if e.reason == Reason::Internal => {
            auth_failure(e.reason.as_str());
            return Err(ChartMuseumError::from(CommonError::Internal("authentication did not complete".into())).into());
        }
        Err(e) => return Err(unauthorized(e.reason).into()),
    };
    let Some(action) = action else { return Ok(identity) };
    match authorizer.allowed(&identity, tenant.as_str(), action) {
        Decision::Allow => Ok(identity),
        Decision::Unauthenticated => Err(unauthorized(Reason::MissingCredentials).into()),
        Decision::Forbidden => {
            log_refusal(Reason::Forbidden, route, tenant, Some(&identity));
            auth_failure(Reason::Forbidden.as_str());
            let name = identity.name().to_owned();
            let error = ChartMuseumError::Forbidden { identity: name.clone(), action, tenant: tenant.clone() };
            Err(Refusal { error, identity: Some(name) })
        }
    }
}

/// Logs a refusal with its fixed reason label (never the credentials).
fn log_refusal(reason: Reason, route: Route, tenant: &Tenant, identity: Option<&Identity>) {
    tracing::info!(
        identity = identity.map_or("", Identity::name),
        tenant = tenant.as_str(),
        route = route.template(true),
        reason = reason.as_str(),
        "access refused"
    );
}

/// Replaces the request's path with `path`, keeping its query.
fn set_path(req: &mut Request, path: &str) -> Result<(), ChartMuseumError> {
    let target = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(target.parse().map_err(|_| invalid_path())?);
    *req.uri_mut() = Uri::from_parts(parts).map_err(|_| invalid_path())?;
    Ok(())
}

fn invalid_path() -> ChartMuseumError {
    ChartMuseumError::Rejected { status: axum::http::StatusCode::BAD_REQUEST, message: "invalid request path".into() }
}
