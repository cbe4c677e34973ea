//! Chartroom's own registry tokens: what the OCI token endpoint (`/v2/token`) issues after
//! checking credentials, and what `/v2/` requests then carry as `Authorization: Bearer`.
//!
//! A token is a JWT signed with HMAC-SHA256 under a key every replica shares (the server keeps
//! it in storage), with the key id [`KEY_ID`] in its header so that it is never mistaken for a
//! token of the configured JWT issuer (whose verifier never accepts HMAC). Its claims carry who
//! asked (the identity's name and kind: a user, a token, the ChartMuseum user, anonymous, or a
//! JWT with its claims), the `repository:<name>:<actions>` scopes granted, and a short expiry.
//! The grants are checked again on every request: a token never allows more than the grants
//! allow now, only less (its scopes).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::identity::{Identity, IdentityKind};
use crate::reason::{AuthError, Reason};

/// The `kid` of Chartroom's registry tokens.
pub const KEY_ID: &str = "chartroom-registry";
/// The `iss` of Chartroom's registry tokens.
const ISSUER: &str = "chartroom";

/// One granted scope: `repository:<name>:<actions>` (docker's token `access` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryAccess {
    /// Always `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The OCI repository, `<tenant>/<chart name>`.
    pub name: String,
    /// `pull`, `push`, `delete`.
    pub actions: Vec<String>,
}

impl RegistryAccess {
    /// Whether this scope allows `action` (`pull`, `push`, `delete`) on repository `name`.
    pub fn allows(&self, name: &str, action: &str) -> bool {
        self.kind == "repository" && self.name == name && self.actions.iter().any(|a| a == action)
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    /// `user`, `token`, `chartmuseum`, `anonymous` or `jwt`.
    kind: String,
    /// The verified claims of a JWT identity (its permissions come from them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwt: Option<serde_json::Value>,
    access: Vec<RegistryAccess>,
    iat: u64,
    exp: u64,
}

/// Issues and verifies registry tokens with one key.
pub struct RegistryTokens {
    key: Zeroizing<Vec<u8>>,
    lifetime_seconds: u64,
}

impl std::fmt::Debug for RegistryTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryTokens").field("lifetime_seconds", &self.lifetime_seconds).finish()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl RegistryTokens {
    /// Tokens signed with `key` (at least 32 bytes), valid for `lifetime_seconds`.
    pub fn new(key: &[u8], lifetime_seconds: u64) -> RegistryTokens {
        RegistryTokens { key: Zeroizing::new(key.to_vec()), lifetime_seconds }
    }

    /// How long a token is valid, in seconds (`expires_in`).
    pub fn lifetime_seconds(&self) -> u64 {
        self.lifetime_seconds
    }

    /// A token for `identity` with the `access` scopes (already cut to what it may do).
    pub fn issue(&self, identity: &Identity, access: Vec<RegistryAccess>) -> Result<String, AuthError> {
        let (kind, jwt) = match identity.kind() {
            IdentityKind::Anonymous => ("anonymous", None),
            IdentityKind::ChartMuseumUser => ("chartmuseum", None),
            IdentityKind::User => ("user", None),
            IdentityKind::Token => ("token", None),
            IdentityKind::Jwt(claims) => ("jwt", Some(serde_json::Value::clone(claims))),
        };
        let iat = now();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: identity.name().to_owned(),
            kind: kind.to_owned(),
            jwt,
            access,
            iat,
            exp: iat + self.lifetime_seconds,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KEY_ID.to_owned());
        let key = EncodingKey::from_secret(&self.key).map_err(|_| AuthError::new(Reason::Internal))?;
        jsonwebtoken::encode(&header, &claims, &key).map_err(|_| AuthError::new(Reason::Internal))
    }

    /// Whether `token` claims to be one of these tokens (its header's key id; unverified).
    pub fn is_registry_token(token: &str) -> bool {
        jsonwebtoken::decode_header(token).is_ok_and(|h| h.kid.as_deref() == Some(KEY_ID))
    }

    /// The identity and scopes of one of these tokens; `None` when `token` is not one (another
    /// issuer's JWT, a static token), so the caller authenticates it as usual.
    pub fn verify(&self, token: &str) -> Option<Result<(Identity, Vec<RegistryAccess>), AuthError>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.kid.as_deref() != Some(KEY_ID) {
            return None;
        }
        Some(self.verify_ours(token, header.alg))
    }

    fn verify_ours(&self, token: &str, alg: Algorithm) -> Result<(Identity, Vec<RegistryAccess>), AuthError> {
        if alg != Algorithm::HS256 {
            return Err(AuthError::new(Reason::BadToken));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = 0;
        let key = DecodingKey::from_secret(&self.key).map_err(|_| AuthError::new(Reason::Internal))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            AuthError::new(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Reason::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidSignature => Reason::BadSignature,
                _ => Reason::BadToken,
            })
        })?;
        let claims = data.claims;
        let identity = match (claims.kind.as_str(), claims.jwt) {
            ("anonymous", _) => Identity::anonymous(),
            ("chartmuseum", _) => Identity::new(&claims.sub, IdentityKind::ChartMuseumUser),
            ("user", _) => Identity::new(&claims.sub, IdentityKind::User),
            ("token", _) => Identity::new(&claims.sub, IdentityKind::Token),
            ("jwt", Some(jwt)) => Identity::jwt(jwt),
            _ => return Err(AuthError::new(Reason::BadToken)),
        };
        Ok((identity, claims.access))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(name: &str, actions: &[&str]) -> RegistryAccess {
        RegistryAccess {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn tokens_round_trip_and_refuse_other_keys_and_expiry() {
        let tokens = RegistryTokens::new(&[7; 32], 300);
        let alice = Identity::new("alice", IdentityKind::User);
        let token = tokens.issue(&alice, vec![access("team/app", &["pull", "push"])]).unwrap();
        let (identity, scopes) = tokens.verify(&token).unwrap().unwrap();
        assert_eq!(identity, alice);
        assert!(scopes[0].allows("team/app", "push") && !scopes[0].allows("team/app", "delete"));
        assert!(!scopes[0].allows("team/other", "pull"));

        // Another key (another deployment): a bad signature, not someone else's token.
        let other = RegistryTokens::new(&[8; 32], 300);
        assert_eq!(other.verify(&token).unwrap().unwrap_err().reason, Reason::BadSignature);
        // Expired.
        let expired = RegistryTokens::new(&[7; 32], 0);
        let old = expired.issue(&alice, vec![]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(tokens.verify(&old).unwrap().unwrap_err().reason, Reason::Expired);
        // Not ours: left to the authenticator.
        assert!(tokens.verify("static-token-value").is_none());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("someone-else".into());
        let foreign = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"exp": now() + 60}),
            &EncodingKey::from_secret(&[7; 32]).unwrap(),
        )
        .unwrap();
        assert!(tokens.verify(&foreign).is_none());
        // A JWT identity keeps its claims.
        let jwt = Identity::jwt(serde_json::json!({"sub": "ci", "access": []}));
        let (back, _) = tokens.verify(&tokens.issue(&jwt, vec![]).unwrap()).unwrap().unwrap();
        assert_eq!(back, jwt);
        // Anonymous.
        let (back, _) = tokens.verify(&tokens.issue(&Identity::anonymous(), vec![]).unwrap()).unwrap().unwrap();
        assert!(back.is_anonymous());
    }
}
