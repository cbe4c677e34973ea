//! The rule for user and token names, shared by the auth config and htpasswd files (its own
//! module, so that neither file format depends on the other).

use crate::identity::{ANONYMOUS, AUTHENTICATED};

/// The longest user or token name.
const MAX_NAME_LEN: usize = 128;

/// User and token names appear in logs: visible ASCII only, no `:` (the basic-auth separator),
/// and not the grant words `anonymous` / `authenticated`.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err("is not a valid name: names are 1 to 128 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err("is not a valid name: names use visible ASCII characters other than ':'");
    }
    if name == ANONYMOUS || name == AUTHENTICATED {
        return Err("is reserved for grants and cannot name a user or token");
    }
    Ok(())
}
