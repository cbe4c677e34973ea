//! Why a request was refused, as a bounded set of labels (metrics, logs) that never carry user
//! input.

use std::fmt;

/// Why authentication failed or access was refused. [`Reason::as_str`] is a fixed label, usable
/// as a metric label: it never contains anything the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No credentials, where the action needs some.
    MissingCredentials,
    /// The `Authorization` header is not a well-formed `Basic` or `Bearer` value.
    MalformedHeader,
    /// An `Authorization` scheme other than `Basic` or `Bearer`, or one not enabled.
    UnsupportedScheme,
    /// A basic-auth user name that no source defines.
    UnknownUser,
    /// A known user with the wrong password.
    BadPassword,
    /// A bearer token that is neither a configured static token nor a decodable JWT, or a JWT
    /// whose algorithm is not acceptable (`none`, HMAC, no key of that type).
    BadToken,
    /// A JWT whose signature does not verify with any configured key.
    BadSignature,
    /// A JWT past its `exp`.
    Expired,
    /// A JWT before its `nbf`.
    NotYetValid,
    /// A JWT whose `aud` is not the configured audience (or lacks it).
    WrongAudience,
    /// A JWT whose `iss` is not the configured issuer (or lacks it).
    WrongIssuer,
    /// Valid credentials without the permission.
    Forbidden,
    /// A failure on the server side (a verification task that did not finish).
    Internal,
}

impl Reason {
    /// The fixed label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingCredentials => "missing_credentials",
            Reason::MalformedHeader => "malformed_header",
            Reason::UnsupportedScheme => "unsupported_scheme",
            Reason::UnknownUser => "unknown_user",
            Reason::BadPassword => "bad_password",
            Reason::BadToken => "bad_token",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongAudience => "wrong_audience",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::Forbidden => "forbidden",
            Reason::Internal => "internal",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Authentication failed: the HTTP layer answers 401 with a challenge (or 500 for
/// [`Reason::Internal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed: {reason}")]
pub struct AuthError {
    /// Why.
    pub reason: Reason,
}

impl AuthError {
    pub(crate) fn new(reason: Reason) -> AuthError {
        AuthError { reason }
    }
}
