//! The OCI distribution API at `/v2/` (under the context path), on the same repository.
//!
//! * `route.rs`: (method, path) → endpoint, repository (tenant, chart name), action; pure.
//! * `access.rs`: authentication and authorization with the same `Auth` as the ChartMuseum
//!   API (users, tokens, JWTs, grants per tenant: `pull`, `push`, `delete`), a `Basic`
//!   challenge on `/v2/` so that `helm registry login` checks the credentials.
//! * `handlers.rs`: parse headers and queries, call the repository's OCI operations
//!   (`chartroom_index::oci`), shape the answers (`Docker-Content-Digest`, `Location`, `Range`).
//!
//! The gate hands every request whose path is a distribution API path to [`serve`]; others
//! (`/v2/index.yaml` of a tenant called `v2`) go on to the ChartMuseum routes.

mod access;
mod body;
mod handlers;
pub mod route;
mod token;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use chartroom_index::Tenant;

use crate::AppState;
use crate::error::{API_VERSION_HEADER, OciWireError};
use crate::request_info::RequestLabels;
use route::{OciRoute, OciRouteError};

/// The route of a request if it is one of the distribution API (`None`: not an OCI path, or
/// OCI is off).
pub(crate) fn route_of(state: &AppState, req: &Request) -> Option<Result<OciRoute, OciRouteError>> {
    state.uploads()?;
    // Under the context path, and at the root too: OCI clients always look for `/v2/` at the
    // host's root.
    let path = req.uri().path();
    let context = state.settings().context_path.as_str();
    let (prefix, path) = match path.strip_prefix(context) {
        Some(rest) if !context.is_empty() && rest.starts_with("/v2") => (context, rest),
        _ => ("", path),
    };
    let mut route = OciRoute::parse(req.method(), path, state.repo().tenancy())?;
    if let Ok(route) = route.as_mut() {
        route.prefix = prefix.to_owned();
    }
    Some(route)
}

/// Answers one request of the distribution API.
pub(crate) async fn serve(state: AppState, route: Result<OciRoute, OciRouteError>, req: Request) -> Response {
    let unread_body = crate::gate::has_body(&req);
    // Filled in for the access log and the request metrics (outside): the route template is
    // one of the API's few, the repository name never becomes a label.
    let labels = req.extensions().get::<RequestLabels>().cloned().unwrap_or_default();
    let route = match route {
        Ok(route) => route,
        Err(error) => {
            let error = match error {
                OciRouteError::NameInvalid(m) => OciWireError::NameInvalid(m),
                OciRouteError::NameUnknown(m) => OciWireError::NameUnknown(m),
                OciRouteError::MethodNotAllowed => {
                    OciWireError::Unsupported(format!("{} is not supported on this path", req.method()))
                }
            };
            // No template: counted as `unmatched`, like any path no route knows.
            return finish(error.into_response(), unread_body);
        }
    };
    let tenant = route.repo().map_or_else(Tenant::root, |r| r.tenant.clone());
    labels.set_route(route.template());
    labels.set_tenant(tenant.as_str());
    // A manifest push or delete is a chart write (blob uploads only stage bytes).
    if let route::Endpoint::Manifest(..) = route.endpoint {
        match route.method {
            Method::PUT => labels.set_write("push"),
            Method::DELETE => labels.set_write("delete"),
            _ => {}
        }
    }
    if route.endpoint == route::Endpoint::Token {
        let mut response = match token::token(&state, req).await {
            Ok(response) => response,
            Err(error) => finish(error.into_response(), false),
        };
        response.headers_mut().insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
        return response;
    }
    let realm = state.oci_bearer_service().map(|service| realm(&state, &req, &route.prefix, service));
    let authorization = req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned).map_err(|_| ()));
    let (mut response, identity) = match access::check(&state, authorization, &route, realm.as_ref()).await {
        Ok(identity) => {
            let name = identity.name().to_owned();
            let response = match handlers::handle(&state, &route, &identity, req).await {
                Ok(response) => response,
                Err(error) => finish(error.into_response(), false),
            };
            (response, Some(name))
        }
        Err(refusal) => (finish(refusal.error.into_response(), unread_body), refusal.identity),
    };
    response.headers_mut().insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
    if let Some(identity) = identity {
        labels.set_identity(&identity);
    }
    response
}

/// The token endpoint as the client reached this server: the scheme it used (a proxy's
/// `X-Forwarded-Proto`, else the port's), its `Host`, the context path. OCI clients refuse a
/// realm on another host than the registry's when it is a loopback or private address.
fn realm(state: &AppState, req: &Request, prefix: &str, service: &str) -> access::Realm {
    let headers = req.headers();
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).map(str::trim);
    let scheme = match forwarded {
        Some("https") => "https",
        Some("http") => "http",
        _ if state.serves_tls() => "https",
        _ => "http",
    };
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
        .unwrap_or_else(|| "localhost".to_owned());
    let service = if service.is_empty() { host.clone() } else { service.to_owned() };
    access::Realm { url: format!("{scheme}://{host}{prefix}/v2/token"), service }
}

/// A refusal of a request whose body is unread closes the connection.
fn finish(mut response: Response, unread_body: bool) -> Response {
    if unread_body {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
