//! Authentication and authorization for Chartroom.
//!
//! Access is decided once per request from (identity, tenant, action), whatever the protocol:
//!
//! ```no_run
//! # async fn handle(auth: &chartroom_auth::Auth, header: Option<&str>) {
//! use chartroom_auth::{Action, Decision};
//! let authenticator = auth.authenticator();
//! let authorizer = auth.authorizer();
//! match authenticator.authenticate_async(header).await {
//!     // 401 with `WWW-Authenticate: authorizer.challenge(tenant, action)`, `e.reason` as label.
//!     Err(e) => { let _ = (e.reason, authorizer.challenge("team-a", Action::Pull)); }
//!     Ok(identity) => match authorizer.allowed(&identity, "team-a", Action::Pull) {
//!         Decision::Allow => { /* serve; log identity.name() */ }
//!         Decision::Unauthenticated => { /* 401 with the challenge */ }
//!         Decision::Forbidden => { /* 403 */ }
//!     },
//! }
//! # }
//! ```
//!
//! Sources of identities, all optional and combined:
//! * the ChartMuseum single user (`BASIC_AUTH_USER` / `BASIC_AUTH_PASS`): every action everywhere;
//! * the auth config file (`--auth-config`): bcrypt/argon2id users, an htpasswd file, static
//!   tokens (as `Bearer` or as the basic password under their name), and grants;
//! * bearer JWTs (`BEARER_AUTH`), with ChartMuseum's claims and JMESPath search.
//!
//! `AUTH_ANONYMOUS_GET` lets anyone pull. Without any source configured everything is allowed.

mod action;
mod auth;
mod authenticate;
mod authorize;
mod cache;
mod config;
mod error;
mod htpasswd;
mod identity;
mod jwt;
mod names;
mod password;
mod reason;
mod registry_token;
mod shared;
mod tenant;
mod watch;

pub use action::{Action, ActionSet, UnknownAction};
pub use auth::{Auth, AuthSettings, AuthStats, BasicCredentials, DEFAULT_BASIC_REALM, ReloadSummary};
pub use authenticate::Authenticator;
pub use authorize::{Authorizer, Decision};
pub use cache::CacheSettings;
pub use config::AccessFile;
pub use error::{ConfigError, FileLocation};
pub use identity::{ANONYMOUS, AUTHENTICATED, Identity, IdentityKind};
pub use jwt::{
    ACCESS_ENTRY_TYPE, AccessEntry, BearerSettings, DEFAULT_ACTIONS_SEARCH_PATH, DEFAULT_NAMESPACE, namespace,
};
pub use reason::{AuthError, Reason};
pub use registry_token::{KEY_ID as REGISTRY_TOKEN_KEY_ID, RegistryAccess, RegistryTokens};
pub use tenant::{MAX_SEGMENT_LEN, TenantNameError, TenantPattern, validate_tenant};

#[cfg(test)]
mod tests;
