//! Who is asking, as established by the authenticator.

use std::fmt;
use std::sync::Arc;

/// The name of the identity without credentials, as grants write it.
pub const ANONYMOUS: &str = "anonymous";
/// The grant name that stands for every valid identity.
pub const AUTHENTICATED: &str = "authenticated";
/// The name given to a JWT identity without a usable `sub` claim.
pub const JWT_WITHOUT_SUBJECT: &str = "jwt";
/// Longest JWT `sub` kept as a name; longer ones are cut (the name is for logs only).
const MAX_SUBJECT_LEN: usize = 128;

/// Where an identity comes from.
#[derive(Clone, PartialEq)]
pub enum IdentityKind {
    /// No credentials.
    Anonymous,
    /// The single ChartMuseum user (`BASIC_AUTH_USER`): every action on every tenant.
    ChartMuseumUser,
    /// A user of the auth config file or its htpasswd file (verified password hash).
    User,
    /// A static token of the auth config file (as a bearer token or a basic-auth password).
    Token,
    /// A verified JWT; its claims decide its permissions (ChartMuseum's JMESPath search).
    Jwt(Arc<serde_json::Value>),
}

impl fmt::Debug for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The claims stay out of debug output: they are not secret but can be large.
        f.write_str(match self {
            IdentityKind::Anonymous => "Anonymous",
            IdentityKind::ChartMuseumUser => "ChartMuseumUser",
            IdentityKind::User => "User",
            IdentityKind::Token => "Token",
            IdentityKind::Jwt(_) => "Jwt",
        })
    }
}

/// An authenticated (or anonymous) caller. It never holds a password or a token, so it is safe
/// to log: [`Identity::name`] is the user name, the token name, the JWT `sub` or `anonymous`.
#[derive(Clone, PartialEq)]
pub struct Identity {
    name: String,
    kind: IdentityKind,
}

impl Identity {
    /// The caller without credentials.
    pub fn anonymous() -> Identity {
        Identity { name: ANONYMOUS.to_owned(), kind: IdentityKind::Anonymous }
    }

    pub(crate) fn new(name: &str, kind: IdentityKind) -> Identity {
        Identity { name: name.to_owned(), kind }
    }

    /// A JWT identity named after its `sub` claim (control characters replaced, length bounded,
    /// so that it cannot forge log lines).
    pub(crate) fn jwt(claims: serde_json::Value) -> Identity {
        let name = match claims.get("sub").and_then(serde_json::Value::as_str) {
            Some(sub) if !sub.is_empty() => {
                sub.chars().take(MAX_SUBJECT_LEN).map(|c| if c.is_control() { '?' } else { c }).collect()
            }
            _ => JWT_WITHOUT_SUBJECT.to_owned(),
        };
        Identity { name, kind: IdentityKind::Jwt(Arc::new(claims)) }
    }

    /// A name safe to log.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the identity comes from.
    pub fn kind(&self) -> &IdentityKind {
        &self.kind
    }

    /// Whether the caller sent no credentials.
    pub fn is_anonymous(&self) -> bool {
        matches!(self.kind, IdentityKind::Anonymous)
    }

    /// The verified JWT claims, for a JWT identity.
    pub fn jwt_claims(&self) -> Option<&serde_json::Value> {
        match &self.kind {
            IdentityKind::Jwt(claims) => Some(claims),
            _ => None,
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jwt_names_are_safe_to_log() {
        assert_eq!(Identity::jwt(json!({"sub": "ci-bot"})).name(), "ci-bot");
        assert_eq!(Identity::jwt(json!({"sub": "a\nb\u{1b}[31m"})).name(), "a?b?[31m");
        assert_eq!(Identity::jwt(json!({})).name(), JWT_WITHOUT_SUBJECT);
        assert_eq!(Identity::jwt(json!({"sub": 5})).name(), JWT_WITHOUT_SUBJECT);
        assert_eq!(Identity::jwt(json!({"sub": "x".repeat(500)})).name().len(), MAX_SUBJECT_LEN);
        let debug = format!("{:?}", Identity::jwt(json!({"sub": "s", "secret-ish": "claims"})));
        assert!(!debug.contains("claims"), "{debug}");
    }
}
