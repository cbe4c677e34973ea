//! Who may do what on an OCI repository: the same authenticator and authorizer as the
//! ChartMuseum API (see `gate.rs`), with the distribution API's answers.
//!
//! `/v2/` needs no permission but checks credentials: without any (when authentication is on)
//! it answers 401 with the challenge, so `helm registry login` sends its credentials and fails
//! on wrong ones instead of "succeeding" unchecked.

use chartroom_auth::{Decision, Identity, Reason};

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

/// The caller's identity, if they may do what `route` does. `header` is the `Authorization`
/// header: absent, text, or not text (`Err`).
pub(super) async fn check(
    state: &AppState,
    header: Option<Result<String, ()>>,
    route: &OciRoute,
) -> Result<Identity, Refusal> {
    let auth = state.auth();
    if !auth.is_enabled() {
        return Ok(Identity::anonymous());
    }
    let authorizer = auth.authorizer();
    let tenant = route.repo().map(|r| r.tenant.as_str()).unwrap_or("");
    let asked = route.action().unwrap_or(chartroom_auth::Action::Pull);
    let unauthorized = |reason: Reason| {
        tracing::info!(tenant, route = route.template(), reason = reason.as_str(), "access refused");
        auth_failure(reason.as_str());
        OciWireError::Unauthorized { reason, challenge: authorizer.challenge(tenant, asked) }
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
            return Err(OciWireError::from(CommonError::Internal("authentication did not complete".into())).into());
        }
        Err(e) => return Err(unauthorized(e.reason).into()),
    };
    let Some(action) = route.action() else {
        // `/v2/`: a login check. Anonymous callers get the challenge.
        return if identity.is_anonymous() {
            Err(unauthorized(Reason::MissingCredentials).into())
        } else {
            Ok(identity)
        };
    };
    let Some(repo) = route.repo() else { return Ok(identity) };
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
