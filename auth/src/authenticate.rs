//! From an `Authorization` header to an [`Identity`].
//!
//! `Basic` credentials are tried, in order, against the ChartMuseum single user (constant time),
//! the users of the auth config (bcrypt/argon2id, with the verification cache), then its tokens
//! (the token as password, its name as user). `Bearer` values are tried against the static tokens,
//! then as a JWT when bearer auth is on. No header at all is the anonymous identity; any header
//! that does not check out is an error (a 401), even where anonymous access would be allowed.

use crate::cache::CacheKey;
use crate::config::{AccessFile, sha256};
use crate::identity::{Identity, IdentityKind};
use crate::password::StoredHash;
use crate::reason::{AuthError, Reason};
use crate::shared::Shared;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Standard base64, padding optional (some clients drop it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checks the credentials of a request.
#[derive(Clone)]
pub struct Authenticator {
    shared: Arc<Shared>,
}

/// A password that needs a hash verification (the slow part).
struct PendingVerification {
    user: String,
    password: Zeroizing<Vec<u8>>,
    /// The user's hash, or, for an unknown user, some other user's hash: verifying against it
    /// costs the same, so the answer time does not tell which user names exist.
    hash: StoredHash,
    known_user: bool,
    key: CacheKey,
}

enum Step {
    Done(Result<Identity, AuthError>),
    Verify(PendingVerification),
}

impl Authenticator {
    pub(crate) fn new(shared: Arc<Shared>) -> Authenticator {
        Authenticator { shared }
    }

    /// Authenticates a request from its `Authorization` header (`None` when absent).
    ///
    /// **May block** for tens of milliseconds: a basic-auth password of an auth-config user that
    /// is not in the verification cache runs bcrypt or argon2 on the calling thread. From async
    /// code use [`Authenticator::authenticate_async`], which runs that part on the blocking pool.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        match self.first_step(authorization) {
            Step::Done(result) => result,
            Step::Verify(pending) => self.verify(pending),
        }
    }

    /// As [`Authenticator::authenticate`], for async callers: everything cheap (no header,
    /// tokens, JWTs, the ChartMuseum user, cache hits) is answered inline; a password-hash
    /// verification waits for one of `max_concurrent_verifications` permits, then runs under
    /// `tokio::task::spawn_blocking`. Needs a Tokio runtime.
    pub async fn authenticate_async(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        let pending = match self.first_step(authorization) {
            Step::Done(result) => return result,
            Step::Verify(pending) => pending,
        };
        let _permit = self.shared.verify_permits.acquire().await.map_err(|_| AuthError::new(Reason::Internal))?;
        // A request with the same credentials may have been verified while this one waited for
        // its permit: a burst of identical first requests (`helm repo update` with many
        // connections) pays for at most `max_concurrent_verifications` hashes, not one each.
        if pending.known_user && self.shared.cache.hit(&pending.key) {
            self.shared.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Identity::new(&pending.user, IdentityKind::User));
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.verify(pending))
            .await
            .unwrap_or_else(|_| Err(AuthError::new(Reason::Internal)))
    }

    fn first_step(&self, authorization: Option<&str>) -> Step {
        let Some(header) = authorization.map(str::trim).filter(|h| !h.is_empty()) else {
            return Step::Done(Ok(Identity::anonymous()));
        };
        let (scheme, value) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            self.basic(value)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Step::Done(self.bearer(value))
        } else {
            Step::Done(Err(AuthError::new(Reason::UnsupportedScheme)))
        }
    }

    fn basic(&self, value: &str) -> Step {
        let fail = |reason| Step::Done(Err(AuthError::new(reason)));
        let Ok(decoded) = BASE64.decode(value).map(Zeroizing::new) else {
            return fail(Reason::MalformedHeader);
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return fail(Reason::MalformedHeader);
        };
        let (user_bytes, password) = (&decoded[..colon], &decoded[colon + 1..]);

        if let Some(single) = &self.shared.single_user {
            let user_ok = sha256(user_bytes)[..].ct_eq(&single.user_digest[..]);
            let password_ok = sha256(password)[..].ct_eq(&single.password_digest[..]);
            if bool::from(user_ok & password_ok) {
                return Step::Done(Ok(Identity::new(&single.name, IdentityKind::ChartMuseumUser)));
            }
            if bool::from(user_ok) {
                return fail(Reason::BadPassword);
            }
        }

        let Ok(user) = std::str::from_utf8(user_bytes) else {
            return fail(Reason::UnknownUser);
        };
        let Some(file) = self.shared.file.load_full() else {
            return fail(Reason::UnknownUser);
        };
        if let Some(hash) = file.users.get(user) {
            let key = self.shared.cache.key(user, password, hash.as_str());
            if self.shared.cache.hit(&key) {
                self.shared.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Step::Done(Ok(Identity::new(user, IdentityKind::User)));
            }
            return Step::Verify(PendingVerification {
                user: user.to_owned(),
                password: Zeroizing::new(password.to_vec()),
                hash: hash.clone(),
                known_user: true,
                key,
            });
        }
        if let Some(token) = file.tokens.iter().find(|t| t.name == user) {
            return Step::Done(if bool::from(sha256(password)[..].ct_eq(&token.digest[..])) {
                Ok(Identity::new(&token.name, IdentityKind::Token))
            } else {
                Err(AuthError::new(Reason::BadToken))
            });
        }
        match decoy_hash(&file) {
            Some(hash) => Step::Verify(PendingVerification {
                user: user.to_owned(),
                password: Zeroizing::new(password.to_vec()),
                hash,
                known_user: false,
                key: [0; 32],
            }),
            None => fail(Reason::UnknownUser),
        }
    }

    fn bearer(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::new(Reason::MalformedHeader));
        }
        if let Some(file) = self.shared.file.load_full() {
            let digest = sha256(token.as_bytes());
            // Every token is compared (no early exit), each in constant time.
            let mut found = None;
            for static_token in &file.tokens {
                if bool::from(digest[..].ct_eq(&static_token.digest[..])) {
                    found = Some(static_token.name.clone());
                }
            }
            if let Some(name) = found {
                return Ok(Identity::new(&name, IdentityKind::Token));
            }
        }
        match &self.shared.jwt {
            Some(jwt) => jwt.verify(token).map(Identity::jwt).map_err(AuthError::new),
            None => Err(AuthError::new(Reason::BadToken)),
        }
    }

    /// The slow part: bcrypt or argon2.
    fn verify(&self, pending: PendingVerification) -> Result<Identity, AuthError> {
        self.shared.counters.hash_verifications.fetch_add(1, Ordering::Relaxed);
        let matches = pending.hash.verify(&pending.password);
        if !pending.known_user {
            return Err(AuthError::new(Reason::UnknownUser));
        }
        if !matches {
            return Err(AuthError::new(Reason::BadPassword));
        }
        self.shared.cache.insert(pending.key);
        Ok(Identity::new(&pending.user, IdentityKind::User))
    }
}

/// Some user's hash, to spend the same time on an unknown user as on a known one.
fn decoy_hash(file: &AccessFile) -> Option<StoredHash> {
    file.users.values().next().cloned()
}
