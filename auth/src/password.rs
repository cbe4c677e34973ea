//! Stored password hashes: which are accepted (bcrypt, argon2id), which are refused and why,
//! and the (slow, blocking) verification.

use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use std::str::FromStr;

/// Highest argon2 memory cost accepted, in KiB (256 MiB). A hash asking for more would let each
/// concurrent verification claim that much memory.
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;

/// A password hash accepted at load. Verification is CPU-heavy (tens of milliseconds): it runs on
/// the blocking pool (see `Authenticator::authenticate_async`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum StoredHash {
    /// `$2a$`, `$2b$` or `$2y$` (what `htpasswd -B` writes), cost 4-31.
    Bcrypt(String),
    /// A PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
    Argon2id(String),
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The kind only: a hash is an offline-attack target, it stays out of logs.
        f.write_str(match self {
            StoredHash::Bcrypt(_) => "Bcrypt(<redacted>)",
            StoredHash::Argon2id(_) => "Argon2id(<redacted>)",
        })
    }
}

impl StoredHash {
    /// Classifies a stored hash. The error says why it is refused and never repeats the value
    /// (which could be a plain-text password).
    pub(crate) fn parse(text: &str) -> Result<StoredHash, String> {
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| text.starts_with(p)) {
            let parts =
                bcrypt::HashParts::from_str(text).map_err(|e| format!("is not a well-formed bcrypt hash ({e})"))?;
            let cost = parts.get_cost();
            if !(4..=31).contains(&cost) {
                return Err(format!("has bcrypt cost {cost}; bcrypt costs are 4 to 31"));
            }
            return Ok(StoredHash::Bcrypt(text.to_owned()));
        }
        if text.starts_with("$argon2id$") {
            let hash =
                PasswordHash::new(text).map_err(|e| format!("is not a well-formed argon2id PHC string ({e})"))?;
            let params = argon2::Params::try_from(&hash)
                .map_err(|e| format!("has argon2id parameters that are not valid ({e})"))?;
            if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
                return Err(format!(
                    "asks argon2id for {} KiB of memory per verification; at most {MAX_ARGON2_MEMORY_KIB} KiB is accepted",
                    params.m_cost()
                ));
            }
            return Ok(StoredHash::Argon2id(text.to_owned()));
        }
        Err(refusal(text))
    }

    /// Checks `password`. Blocking and slow by design.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        match self {
            StoredHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            StoredHash::Argon2id(hash) => match PasswordHash::new(hash) {
                Ok(parsed) => argon2::Argon2::default().verify_password(password, &parsed).is_ok(),
                Err(_) => false,
            },
        }
    }

    /// The stored text, part of the verification cache key: a changed hash never reuses an
    /// old cached success.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            StoredHash::Bcrypt(text) | StoredHash::Argon2id(text) => text,
        }
    }
}

/// Why a value that is not bcrypt or argon2id is refused.
fn refusal(text: &str) -> String {
    let prefixed = |prefixes: &[&str]| prefixes.iter().any(|p| text.starts_with(p));
    let what = if prefixed(&["$apr1$"]) {
        "is an MD5 ($apr1$) hash, which is too weak"
    } else if prefixed(&["$1$"]) {
        "is an MD5-crypt ($1$) hash, which is too weak"
    } else if prefixed(&["{SHA}", "{SSHA}"]) {
        "is a SHA-1 ({SHA}) hash, which is too weak"
    } else if prefixed(&["$5$", "$6$"]) {
        "is a SHA-crypt ($5$/$6$) hash, which is not accepted"
    } else if prefixed(&["$2x$"]) {
        "is a bcrypt $2x$ hash (the marker of a known-buggy implementation)"
    } else if prefixed(&["$argon2i$", "$argon2d$"]) {
        "is argon2i or argon2d; only argon2id is accepted"
    } else if prefixed(&["$y$", "$7$", "$sha1$", "$md5"]) {
        "is a crypt(3) hash of a kind that is not accepted"
    } else if text.len() == 13 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/') {
        "looks like a DES crypt(3) hash, which is too weak"
    } else {
        "is not a password hash (plain-text passwords are refused)"
    };
    format!("{what}; use bcrypt (`htpasswd -nB <user>`) or an argon2id PHC string")
}
