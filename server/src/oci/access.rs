//! Who may do what on an OCI repository: the same authenticator and authorizer as the
//! ChartMuseum API (see `gate.rs`), with the distribution API's answers.
//!
//! `/v2/` needs no permission but checks credentials: without any (when authentication is on)
//! it answers 401 with the challenge, so `helm registry login` sends its credentials and fails
//! on wrong ones instead of "succeeding" unchecked.
//!
//! The challenge is `Basic`, or with `--bearer-auth` a `Bearer` one naming Chartroom's token
//! endpoint (`token.rs`) and the scope the request needs (`repository:<name>:pull`). A request
//! may carry such a token: it is checked for that scope, and the grants are checked again (a
//! token never allows more than the grants allow now).

use chartroom_auth::{Action, Decision, Identity, Reason, RegistryTokens};

use super::route::OciRoute;
use crate::AppState;
use crate::error::{CommonError, OciWireError};
use crate::metrics::auth_failure;

/// A refused request: the answer, and who asked when the credentials were valid.
pub(super) struct Refusal {
    pub error: OciWireError,
    pub identity: Option<String>,
}

impl From<OciWireError> for Refusal {
    fn from(error: OciWireError) -> Self {
        Refusal { error, identity: None }
    }
}

/// Where the token endpoint is, as the client reached this server.
pub(super) struct Realm {
    /// `<scheme>://<host><prefix>/v2/token`.
    pub url: String,
    /// The service name of the challenge.
    pub service: String,
}

/// The scope word of an action in `repository:<name>:<actions>`.
pub(super) fn scope_action(action: Action) -> &'static str {
    match action {
        Action::Pull => "pull",
        Action::Push => "push",
        Action::Delete => "delete",
    }
}

fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The caller's identity, if they may do what `route` does. `header` is the `Authorization`
/// header: absent, text, or not text (`Err`); `realm` is set in bearer mode.
pub(super) async fn check(
    state: &AppState,
    header: Option<Result<String, ()>>,
    route: &OciRoute,
    realm: Option<&Realm>,
) -> Result<Identity, Refusal> {
    let auth = state.auth();
    if !auth.is_enabled() {
        return Ok(Identity::anonymous());
    }
    let authorizer = auth.authorizer();
    let tenant = route.repo().map(|r| r.tenant.as_str()).unwrap_or("");
    let asked = route.action().unwrap_or(Action::Pull);
    let challenge = || match (realm, route.repo()) {
        (Some(realm), Some(repo)) => format!(
            "Bearer realm=\"{}\",service=\"{}\",scope=\"repository:{}:{}\"",
            quoted(&realm.url),
            quoted(&realm.service),
            repo.label(),
            // A push also reads (blob HEADs), as docker clients ask.
            if asked == Action::Push { "pull,push" } else { scope_action(asked) }
        ),
        (Some(realm), None) => {
            format!("Bearer realm=\"{}\",service=\"{}\"", quoted(&realm.url), quoted(&realm.service))
        }
        (None, _) => authorizer.challenge(tenant, asked),
    };
    let unauthorized = |reason: Reason| {
        tracing::info!(tenant, route = route.template(), reason = reason.as_str(), "access refused");
        auth_failure(reason.as_str());
        OciWireError::Unauthorized { reason, challenge: challenge() }
    };
    let header = match header {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(())) => return Err(unauthorized(Reason::MalformedHeader).into()),
    };
    let bearer = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    let (identity, scopes) = match bearer.filter(|t| RegistryTokens::is_registry_token(t)) {
        Some(token) => {
            let tokens = state.registry_tokens().await.map_err(OciWireError::Oci)?;
            match tokens.verify(token) {
                Some(Ok((identity, scopes))) => (identity, Some(scopes)),
                Some(Err(e)) => return Err(unauthorized(e.reason).into()),
                None => return Err(unauthorized(Reason::BadToken).into()),
            }
        }
        None => match auth.authenticator().authenticate_async(header.as_deref()).await {
            Ok(identity) => (identity, None),
            Err(e) if e.reason == Reason::Internal => {
                auth_failure(e.reason.as_str());
                return Err(OciWireError::from(CommonError::Internal("authentication did not complete".into())).into());
            }
            Err(e) => return Err(unauthorized(e.reason).into()),
        },
    };
    let Some(action) = route.action() else {
        // `/v2/`: a login check. Anonymous callers get the challenge.
        return if identity.is_anonymous() && scopes.is_none() {
            Err(unauthorized(Reason::MissingCredentials).into())
        } else {
            Ok(identity)
        };
    };
    let Some(repo) = route.repo() else { return Ok(identity) };
    // A token without this scope: anonymous, 401 (credentials are needed); else 403 with the
    // scope needed (RFC 6750 `insufficient_scope`), so the client asks for a new token.
    if let Some(scopes) = &scopes
        && !scopes.iter().any(|s| s.allows(&repo.label(), scope_action(action)))
    {
        if identity.is_anonymous() {
            return Err(unauthorized(Reason::MissingCredentials).into());
        }
        auth_failure(Reason::Forbidden.as_str());
        let challenge = format!("{},error=\"insufficient_scope\"", challenge());
        let scope = format!("repository:{}:{}", repo.label(), scope_action(action));
        let error = OciWireError::InsufficientScope { scope, challenge };
        return Err(Refusal { error, identity: Some(identity.name().to_owned()) });
    }
    match authorizer.allowed(&identity, tenant, action) {
        Decision::Allow => Ok(identity),
        Decision::Unauthenticated => Err(unauthorized(Reason::MissingCredentials).into()),
        Decision::Forbidden => {
            let name = identity.name().to_owned();
            tracing::info!(identity = %name, tenant, route = route.template(), reason = "forbidden", "access refused");
            auth_failure(Reason::Forbidden.as_str());
            let error = OciWireError::Denied { identity: name.clone(), action, repository: repo.label() };
            Err(Refusal { error, identity: Some(name) })
        }
    }
}
