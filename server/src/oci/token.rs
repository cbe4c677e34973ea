//! `GET|POST /v2/token`: Chartroom's registry-token endpoint, the realm of the `Bearer`
//! challenge (`--bearer-auth`; reachable in every mode, for clients that ask for a token).
//!
//! The docker token protocol, as Helm's two clients speak it (helm-client.md §12.6):
//! * `GET ?service=&scope=repository:<name>:<actions>[&scope=...]`, with `Basic` credentials (a
//!   user, or a token as the password), a `Bearer` JWT or static token, or none (anonymous);
//! * `POST` `grant_type=password&username=&password=&scope=...` (containerd, Helm 3.17, tries it
//!   first): the same with the form's credentials; `grant_type=refresh_token` is refused with 400
//!   (no refresh tokens are issued), so the client falls back to `GET` with `Basic`.
//!
//! The answer is `{"token", "access_token", "expires_in", "issued_at"}`: a short-lived token
//! (`RegistryTokens`) with each requested scope cut to what the grants allow now (possibly
//! nothing). Wrong credentials are 401 with a `Basic` challenge.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chartroom_auth::{Action, Decision, Identity, Reason, RegistryAccess};
use chartroom_index::oci::OciError;

use super::access::scope_action;
use super::body;
use super::route::repository;
use crate::AppState;
use crate::error::{CommonError, OciWireError};
use crate::metrics::auth_failure;

/// Largest token request form.
const MAX_FORM: u64 = 16 * 1024;

pub(super) async fn token(state: &AppState, req: Request) -> Result<Response, OciWireError> {
    let (parts, body) = req.into_parts();
    let (credentials, params) = if parts.method == Method::POST {
        let (form, _reserved) = body::read(state, &parts.headers, body, MAX_FORM).await?;
        let params: Vec<(String, String)> = form_urlencoded::parse(&form).into_owned().collect();
        let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        match field("grant_type").as_deref() {
            Some("password") => {}
            Some(other) => return Ok(oauth_error(&format!("grant_type {other:?} is not supported; use password"))),
            None => return Ok(oauth_error("grant_type is missing")),
        }
        let user = field("username").unwrap_or_default();
        let password = field("password").unwrap_or_default();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        (Some(Ok(format!("Basic {basic}"))), params)
    } else {
        let header = parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned).map_err(|_| ()));
        let params = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).into_owned().collect();
        (header, params)
    };
    let auth = state.auth();
    let identity = if auth.is_enabled() {
        let header = match credentials {
            None => None,
            Some(Ok(value)) => Some(value),
            Some(Err(())) => return Err(refused(state, Reason::MalformedHeader)),
        };
        match auth.authenticator().authenticate_async(header.as_deref()).await {
            Ok(identity) => identity,
            Err(e) if e.reason == Reason::Internal => {
                auth_failure(e.reason.as_str());
                return Err(CommonError::Internal("authentication did not complete".into()).into());
            }
            Err(e) => return Err(refused(state, e.reason)),
        }
    } else {
        Identity::anonymous()
    };
    let access: Vec<RegistryAccess> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|scope| granted(state, &identity, &scope))
        .collect();
    let tokens = state.registry_tokens().await?;
    let token = tokens.issue(&identity, access).map_err(|_| OciError::Internal("cannot sign a token".into()))?;
    let issued_at = jiff::Timestamp::now().to_string();
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": tokens.lifetime_seconds(),
        "issued_at": issued_at,
    });
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `repository:<name>:<actions>` cut to what `identity` may do now; `None` when nothing is left
/// or the scope is not a repository of this server.
fn granted(state: &AppState, identity: &Identity, scope: &str) -> Option<RegistryAccess> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    let repo = repository(name, state.repo().tenancy()).ok()?;
    let authorizer = state.auth().authorizer();
    let may = |action: Action| {
        !state.auth().is_enabled() || authorizer.allowed(identity, repo.tenant.as_str(), action) == Decision::Allow
    };
    let mut granted: Vec<String> = Vec::new();
    for word in actions.split(',') {
        let wanted: &[Action] = match word {
            "pull" => &[Action::Pull],
            "push" => &[Action::Push],
            "delete" => &[Action::Delete],
            "*" => &[Action::Pull, Action::Push, Action::Delete],
            _ => &[],
        };
        for action in wanted.iter().copied().filter(|a| may(*a)) {
            let word = scope_action(action).to_owned();
            if !granted.contains(&word) {
                granted.push(word);
            }
        }
    }
    (!granted.is_empty()).then(|| RegistryAccess { kind: "repository".into(), name: repo.label(), actions: granted })
}

/// Wrong credentials: 401 with the `Basic` challenge (the token endpoint takes passwords).
fn refused(state: &AppState, reason: Reason) -> OciWireError {
    tracing::info!(route = "/v2/token", reason = reason.as_str(), "access refused");
    auth_failure(reason.as_str());
    let challenge = state.auth().authorizer().basic_challenge();
    OciWireError::Unauthorized { reason, challenge }
}

/// An OAuth2 error answer (RFC 6749 §5.2).
fn oauth_error(description: &str) -> Response {
    let body = serde_json::json!({ "error": "unsupported_grant_type", "error_description": description });
    let mut response = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
