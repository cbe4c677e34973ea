//! The state the authenticator, the authorizer and [`crate::Auth`] share: its own module, so that
//! `auth` (which builds it and hands it out) and `authenticate`/`authorize` (which read it) do
//! not depend on each other.

use crate::cache::VerificationCache;
use crate::config::AccessFile;
use crate::jwt::JwtVerifier;
use arc_swap::ArcSwapOption;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

/// The ChartMuseum user as compared: digests, so that the comparison has one length whatever was
/// sent (constant time needs equal lengths).
pub(crate) struct SingleUser {
    pub(crate) name: String,
    pub(crate) user_digest: [u8; 32],
    pub(crate) password_digest: [u8; 32],
}

/// What `Auth::stats` reports, counted as it happens.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hash_verifications: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) reloads: AtomicU64,
    pub(crate) reload_failures: AtomicU64,
}

/// Everything behind one `Auth`: settings resolved at start, the swappable config-file
/// snapshot, the verification cache and counters.
pub(crate) struct Shared {
    pub(crate) enabled: bool,
    pub(crate) single_user: Option<SingleUser>,
    pub(crate) anonymous_get: bool,
    pub(crate) basic_realm: String,
    pub(crate) jwt: Option<JwtVerifier>,
    pub(crate) config_file: Option<PathBuf>,
    /// The current config-file snapshot, swapped whole by a reload.
    pub(crate) file: ArcSwapOption<AccessFile>,
    pub(crate) cache: VerificationCache,
    pub(crate) counters: Counters,
    pub(crate) verify_permits: tokio::sync::Semaphore,
}
