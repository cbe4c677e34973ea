//! Access decisions from (identity, tenant, action), and the challenge of a 401.

use crate::action::{Action, ActionSet};
use crate::config::Grantee;
use crate::identity::{Identity, IdentityKind};
use crate::jwt::{ACCESS_ENTRY_TYPE, namespace};
use crate::reason::Reason;
use crate::shared::Shared;
use crate::tenant::validate_tenant;
use std::sync::Arc;

/// The outcome of an access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// An anonymous caller lacks the permission: 401 with the challenge, so that a client
    /// retries with credentials.
    Unauthenticated,
    /// Valid credentials without the permission: 403.
    Forbidden,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }

    /// The label of a refusal ([`Reason::MissingCredentials`] or [`Reason::Forbidden`]).
    pub fn reason(self) -> Option<Reason> {
        match self {
            Decision::Allow => None,
            Decision::Unauthenticated => Some(Reason::MissingCredentials),
            Decision::Forbidden => Some(Reason::Forbidden),
        }
    }
}

/// Decides access. Every protocol (repository files, ChartMuseum API, later OCI and pages)
/// asks the same question: may this identity do this action on this tenant?
#[derive(Clone)]
pub struct Authorizer {
    shared: Arc<Shared>,
}

impl Authorizer {
    pub(crate) fn new(shared: Arc<Shared>) -> Authorizer {
        Authorizer { shared }
    }

    /// May `identity` do `action` on `tenant` (`""` = the root repository)? Without any
    /// authentication configured, everything is allowed.
    pub fn allowed(&self, identity: &Identity, tenant: &str, action: Action) -> Decision {
        if self.allowed_actions(identity, tenant).contains(action) {
            Decision::Allow
        } else if identity.is_anonymous() {
            Decision::Unauthenticated
        } else {
            Decision::Forbidden
        }
    }

    /// Every action `identity` may do on `tenant`: the union of `AUTH_ANONYMOUS_GET`, the
    /// ChartMuseum user's all-access, the JWT's claims and the grants of the auth config. (A
    /// registry-token endpoint computes a token's scope from this.) A tenant name that breaks
    /// the tenant rules gets nothing.
    pub fn allowed_actions(&self, identity: &Identity, tenant: &str) -> ActionSet {
        let shared = &self.shared;
        if !shared.enabled {
            return Action::ALL.into_iter().collect();
        }
        if validate_tenant(tenant).is_err() {
            return ActionSet::EMPTY;
        }
        let mut allowed = ActionSet::EMPTY;
        if shared.anonymous_get {
            allowed.insert(Action::Pull);
        }
        match identity.kind() {
            IdentityKind::ChartMuseumUser => return Action::ALL.into_iter().collect(),
            IdentityKind::Jwt(claims) => {
                if let Some(jwt) = &shared.jwt {
                    jwt.allowed_actions(claims, tenant).iter().for_each(|a| allowed.insert(a));
                }
            }
            IdentityKind::Anonymous | IdentityKind::User | IdentityKind::Token => {}
        }
        if let Some(file) = shared.file.load_full() {
            for grant in &file.grants {
                if grant.to.iter().any(|grantee| applies(grantee, identity))
                    && grant.tenants.iter().any(|pattern| pattern.matches(tenant))
                {
                    grant.actions.iter().for_each(|a| allowed.insert(a));
                }
            }
        }
        allowed
    }

    /// The `WWW-Authenticate` value of a 401 for `action` on `tenant`: ChartMuseum's
    /// `Bearer realm="..",service="..",scope="artifact-repository:<tenant>:<action>"` when bearer
    /// auth is on (the tenant is `repo` at the root; a delete asks for `push`, as in ChartMuseum),
    /// else `Basic realm=".."`.
    pub fn challenge(&self, tenant: &str, action: Action) -> String {
        match &self.shared.jwt {
            Some(jwt) => format!(
                "Bearer realm=\"{}\",service=\"{}\",scope=\"{}:{}:{}\"",
                quoted(&jwt.realm),
                quoted(&jwt.service),
                ACCESS_ENTRY_TYPE,
                quoted(namespace(tenant)),
                action.chartmuseum_action()
            ),
            None => format!("Basic realm=\"{}\"", quoted(&self.shared.basic_realm)),
        }
    }
}

impl Authorizer {
    /// The `Basic` challenge, whatever the mode (the OCI token endpoint takes passwords).
    pub fn basic_challenge(&self) -> String {
        format!("Basic realm=\"{}\"", quoted(&self.shared.basic_realm))
    }
}

fn applies(grantee: &Grantee, identity: &Identity) -> bool {
    match grantee {
        Grantee::Anonymous => identity.is_anonymous(),
        Grantee::Authenticated => !identity.is_anonymous(),
        // Names are those of the file's users and tokens; a JWT `sub` never matches one, since
        // whoever runs the token issuer could otherwise take any user's grants.
        Grantee::Named(name) => {
            matches!(identity.kind(), IdentityKind::User | IdentityKind::Token) && identity.name() == name
        }
    }
}

/// Escapes a value for an HTTP quoted-string.
fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}
