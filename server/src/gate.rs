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
//! 4. The request goes on with its canonical path (the endpoint's depth-0 path) and, as
//!    extensions, the [`Tenant`], the [`Route`], the [`Identity`] and the facts of
//!    [`crate::request_info`], which are copied onto the response for the outer layers.

use axum::extract::{Request, State};
use axum::http::{Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chartroom_auth::{Action, Decision, Identity, Reason};
use chartroom_index::Tenant;

use crate::AppState;
use crate::error::{ChartMuseumError, CommonError};
use crate::request_info::{RequestIdentity, RequestTenant, RouteTemplate, copy_facts};
use crate::routing::{MatchError, Route};

/// Routes, authenticates and authorizes one request, then hands it to the handlers.
pub(crate) async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let unread_body = has_body(&req);
    let table = state.routes();
    let matched = match table.find(req.method(), req.uri().path()) {
        Ok(matched) => matched,
        Err(error) => {
            let refusal = match error {
                MatchError::NotFound => ChartMuseumError::RouteNotFound,
                MatchError::InvalidTenant(e) => ChartMuseumError::InvalidTenant(e),
            };
            let mut response = refuse(refusal, unread_body);
            response.extensions_mut().insert(RouteTemplate::UNMATCHED);
            return response;
        }
    };
    let (route, tenant) = (matched.route, matched.tenant);
    req.extensions_mut().insert(RouteTemplate(route.template(table.has_tenants())));
    req.extensions_mut().insert(RequestTenant(tenant.clone()));

    let checked = if route.is_open() {
        Ok(None)
    } else {
        // Owned: a borrowed request cannot be held across the authentication's await.
        let header = req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned).map_err(|_| ()));
        check_access(&state, header, route, &tenant).await.map(Some)
    };
    let identity = match checked {
        Ok(identity) => identity,
        Err(refusal) => {
            let mut response = refuse(refusal, unread_body);
            copy_facts(req.extensions(), response.extensions_mut());
            return response;
        }
    };
    if let Some(identity) = identity {
        req.extensions_mut().insert(RequestIdentity(identity.name().to_owned()));
        req.extensions_mut().insert(identity);
    }
    if let Err(refusal) = set_path(&mut req, &matched.canonical_path) {
        return refuse(refusal, unread_body);
    }
    req.extensions_mut().insert(route);
    req.extensions_mut().insert(tenant);
    let facts = req.extensions().clone();
    let mut response = next.run(req).await;
    copy_facts(&facts, response.extensions_mut());
    response
}

/// Whether the request carries a body (which a refusal leaves unread).
fn has_body(req: &Request) -> bool {
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
) -> Result<Identity, ChartMuseumError> {
    let auth = state.auth();
    if !auth.is_enabled() {
        // ChartMuseum without auth settings ignores credentials; so does Chartroom.
        return Ok(Identity::anonymous());
    }
    let authorizer = auth.authorizer();
    // The challenge of a refusal asks for the route's action (a read for `/api/tenants`).
    let asked = route.action().unwrap_or(Action::Pull);
    let unauthorized =
        |reason| ChartMuseumError::Unauthorized { reason, challenge: authorizer.challenge(tenant.as_str(), asked) };
    let header = match header {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(())) => return Err(refused(unauthorized(Reason::MalformedHeader), route, tenant, None)),
    };
    let identity = match auth.authenticator().authenticate_async(header.as_deref()).await {
        Ok(identity) => identity,
        Err(e) if e.reason == Reason::Internal => {
            return Err(CommonError::Internal("authentication did not complete".to_owned()).into());
        }
        Err(e) => return Err(refused(unauthorized(e.reason), route, tenant, None)),
    };
    let Some(action) = route.action() else { return Ok(identity) };
    match authorizer.allowed(&identity, tenant.as_str(), action) {
        Decision::Allow => Ok(identity),
        Decision::Unauthenticated => {
            Err(refused(unauthorized(Reason::MissingCredentials), route, tenant, Some(&identity)))
        }
        Decision::Forbidden => {
            let forbidden =
                ChartMuseumError::Forbidden { identity: identity.name().to_owned(), action, tenant: tenant.clone() };
            Err(refused(forbidden, route, tenant, Some(&identity)))
        }
    }
}

/// Logs a refusal with its fixed reason label (never the credentials) and returns it.
fn refused(error: ChartMuseumError, route: Route, tenant: &Tenant, identity: Option<&Identity>) -> ChartMuseumError {
    let reason = match &error {
        ChartMuseumError::Unauthorized { reason, .. } => reason.as_str(),
        _ => Reason::Forbidden.as_str(),
    };
    tracing::info!(
        identity = identity.map_or("", Identity::name),
        tenant = tenant.as_str(),
        route = route.template(true),
        reason,
        "access refused"
    );
    error
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
