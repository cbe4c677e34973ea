//! The settings, the [`Auth`] handle over the shared state (`shared.rs`) behind the
//! authenticator and the authorizer, and reload.

use crate::authenticate::Authenticator;
use crate::authorize::Authorizer;
use crate::cache::{CacheSettings, VerificationCache};
use crate::config::{AccessFile, sha256};
use crate::error::ConfigError;
use crate::jwt::{BearerSettings, JwtVerifier};
use crate::shared::{Counters, Shared, SingleUser};
use arc_swap::ArcSwapOption;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// ChartMuseum's basic-auth realm, kept so that challenges read exactly as before a migration.
pub const DEFAULT_BASIC_REALM: &str = "ChartMuseum";

/// Everything that configures authentication and authorization. The default enables nothing:
/// every request is allowed, as in ChartMuseum without auth settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `BASIC_AUTH_USER` / `BASIC_AUTH_PASS`: one user with every action on every tenant.
    pub chartmuseum_user: Option<BasicCredentials>,
    /// `AUTH_ANONYMOUS_GET`: anyone may pull, credentials or not (only when some
    /// authentication is configured, as in ChartMuseum).
    pub anonymous_get: bool,
    /// `--auth-config`: users, tokens and grants.
    pub config_file: Option<PathBuf>,
    /// `BEARER_AUTH` and its settings: JWTs.
    pub bearer: Option<BearerSettings>,
    /// The realm of the `Basic` challenge.
    pub basic_realm: String,
    /// The cache of successful password verifications.
    pub cache: CacheSettings,
    /// Most password-hash verifications running at once (bcrypt/argon2 are CPU- and, for
    /// argon2, memory-heavy; failed attempts are never cached, so a flood of wrong passwords
    /// queues here instead of occupying every blocking thread).
    pub max_concurrent_verifications: usize,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            chartmuseum_user: None,
            anonymous_get: false,
            config_file: None,
            bearer: None,
            basic_realm: DEFAULT_BASIC_REALM.to_owned(),
            cache: CacheSettings::default(),
            max_concurrent_verifications: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The ChartMuseum single user. `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name.
    pub user: String,
    /// The password, in clear as ChartMuseum takes it.
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

impl BasicCredentials {
    /// From `BASIC_AUTH_USER` / `BASIC_AUTH_PASS` (empty = unset). Both unset: no single user.
    /// Only one set is an error: ChartMuseum would silently run without authentication.
    pub fn from_options(user: Option<&str>, password: Option<&str>) -> Result<Option<BasicCredentials>, ConfigError> {
        let user = user.unwrap_or("");
        let password = password.unwrap_or("");
        match (user.is_empty(), password.is_empty()) {
            (true, true) => Ok(None),
            (false, true) => Err(ConfigError::Setting(
                "BASIC_AUTH_USER is set but BASIC_AUTH_PASS is empty; set both or neither".to_owned(),
            )),
            (true, false) => Err(ConfigError::Setting(
                "BASIC_AUTH_PASS is set but BASIC_AUTH_USER is empty; set both or neither".to_owned(),
            )),
            (false, false) if user.contains(':') => {
                Err(ConfigError::Setting("BASIC_AUTH_USER cannot contain ':' (the basic-auth separator)".to_owned()))
            }
            (false, false) => Ok(Some(BasicCredentials { user: user.to_owned(), password: password.to_owned() })),
        }
    }
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Password-hash verifications run (bcrypt or argon2), including the decoy one for unknown
    /// users.
    pub hash_verifications: u64,
    /// Requests answered from the verification cache.
    pub cache_hits: u64,
    /// Successful reloads of the auth config.
    pub reloads: u64,
    /// Reloads refused (the previous configuration stayed in force).
    pub reload_failures: u64,
}

/// What a reload loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Users (config file and htpasswd file).
    pub users: usize,
    /// Static tokens.
    pub tokens: usize,
    /// Grants.
    pub grants: usize,
}

/// Authentication and authorization for one server. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Auth {
    shared: Arc<Shared>,
}

impl Auth {
    /// Checks the settings and reads the files they name (the auth config and its htpasswd,
    /// the JWT key file). Blocking file I/O; call it at startup.
    pub fn new(settings: AuthSettings) -> Result<Auth, ConfigError> {
        let jwt = settings.bearer.as_ref().map(JwtVerifier::new).transpose()?;
        let single_user = settings.chartmuseum_user.as_ref().map(|c| SingleUser {
            name: c.user.clone(),
            user_digest: sha256(c.user.as_bytes()),
            password_digest: sha256(c.password.as_bytes()),
        });
        let file = match &settings.config_file {
            Some(path) => Some(Arc::new(load_checked(path, single_user.as_ref())?)),
            None => None,
        };
        let enabled = single_user.is_some() || jwt.is_some() || settings.config_file.is_some();
        let shared = Shared {
            enabled,
            single_user,
            anonymous_get: settings.anonymous_get,
            basic_realm: settings.basic_realm,
            jwt,
            config_file: settings.config_file,
            file: ArcSwapOption::new(file),
            cache: VerificationCache::new(settings.cache),
            counters: Counters::default(),
            verify_permits: tokio::sync::Semaphore::new(settings.max_concurrent_verifications.max(1)),
        };
        Ok(Auth { shared: Arc::new(shared) })
    }

    /// Checks credentials.
    pub fn authenticator(&self) -> Authenticator {
        Authenticator::new(self.shared.clone())
    }

    /// Decides access and builds challenges.
    pub fn authorizer(&self) -> Authorizer {
        Authorizer::new(self.shared.clone())
    }

    /// Whether any authentication is configured. Without any, every request is allowed.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled
    }

    /// Counters since start.
    pub fn stats(&self) -> AuthStats {
        AuthStats {
            hash_verifications: self.shared.counters.hash_verifications.load(Ordering::Relaxed),
            cache_hits: self.shared.counters.cache_hits.load(Ordering::Relaxed),
            reloads: self.shared.counters.reloads.load(Ordering::Relaxed),
            reload_failures: self.shared.counters.reload_failures.load(Ordering::Relaxed),
        }
    }

    /// Re-reads the auth config file (and its htpasswd file) and, if it is valid, swaps it in
    /// atomically: a request sees the old or the new configuration, never a mix. An invalid file
    /// leaves the current configuration in place and returns the error. Without a config file
    /// there is nothing to reload. Blocking file I/O.
    pub fn reload(&self) -> Result<ReloadSummary, ConfigError> {
        let Some(path) = &self.shared.config_file else {
            return Ok(ReloadSummary { users: 0, tokens: 0, grants: 0 });
        };
        let counters = &self.shared.counters;
        let file = load_checked(path, self.shared.single_user.as_ref()).inspect_err(|_| {
            counters.reload_failures.fetch_add(1, Ordering::Relaxed);
        })?;
        let (users, tokens, grants) = file.counts();
        self.shared.file.store(Some(Arc::new(file)));
        counters.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(ReloadSummary { users, tokens, grants })
    }

    /// The configuration in force (for the watcher's change detection).
    pub(crate) fn current_file(&self) -> Option<Arc<AccessFile>> {
        self.shared.file.load_full()
    }

    pub(crate) fn config_file(&self) -> Option<&PathBuf> {
        self.shared.config_file.as_ref()
    }
}

/// Loads the file and refuses a name that is also the ChartMuseum user's: one name, one password.
fn load_checked(path: &std::path::Path, single_user: Option<&SingleUser>) -> Result<AccessFile, ConfigError> {
    let file = AccessFile::load(path)?;
    if let Some(single) = single_user
        && file.defines(&single.name)
    {
        return Err(ConfigError::invalid(
            path,
            None,
            format!("`{}` is both BASIC_AUTH_USER and a user or token of this file", single.name.escape_debug()),
        ));
    }
    Ok(file)
}
