//! The auth config file (`--auth-config`): users, an optional htpasswd file, static tokens and
//! grants, validated completely at load into an immutable [`AccessFile`].
//!
//! ```yaml
//! users:                     # bcrypt ($2a$/$2b$/$2y$) or argon2id PHC strings
//!   alice: "$2y$10$..."
//! htpasswd: /etc/chartroom/htpasswd   # optional, bcrypt lines; relative to this file
//! tokens:                    # name -> "sha256:<hex of the token>"
//!   ci-team-a: "sha256:9f86d081..."
//! grants:                    # union of all grants
//!   - to: [alice, ci-team-a] # names, "anonymous", "authenticated"
//!     tenants: ["team-a", "platform/*"]  # tenant, "prefix/*", "*", "" (root)
//!     actions: [pull, push, delete]
//! ```

use crate::action::{Action, ActionSet};
use crate::error::ConfigError;
use crate::htpasswd;
use crate::identity::{ANONYMOUS, AUTHENTICATED};
use crate::names::check_name;
use crate::password::StoredHash;
use crate::tenant::TenantPattern;
use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Longest user or token name.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    users: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    htpasswd: Option<Spanned<String>>,
    #[serde(default)]
    tokens: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    grants: Vec<RawGrant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    to: Spanned<Vec<Spanned<String>>>,
    tenants: Spanned<Vec<Spanned<String>>>,
    actions: Spanned<Vec<Spanned<String>>>,
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grantee {
    /// Callers without credentials.
    Anonymous,
    /// Every valid identity (users, tokens, JWTs, the ChartMuseum user).
    Authenticated,
    /// One user or token of this file.
    Named(String),
}

/// One grant: the union of all grants is what is allowed.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) to: Vec<Grantee>,
    pub(crate) tenants: Vec<TenantPattern>,
    pub(crate) actions: ActionSet,
}

/// A static token: only the SHA-256 of the token is kept.
#[derive(Debug, Clone)]
pub(crate) struct StaticToken {
    pub(crate) name: String,
    pub(crate) digest: [u8; 32],
}

/// The loaded auth config file and its htpasswd file: immutable; a reload builds a new one.
#[derive(Clone)]
pub struct AccessFile {
    pub(crate) users: HashMap<String, StoredHash>,
    pub(crate) tokens: Vec<StaticToken>,
    pub(crate) grants: Vec<Grant>,
    /// The files read (the config file, then its htpasswd file if any), for change detection.
    pub(crate) sources: Vec<PathBuf>,
    /// [`fingerprint`] of the contents read from `sources`.
    pub(crate) fingerprint: [u8; 32],
}

impl std::fmt::Debug for AccessFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts only: the hashes stay out of logs.
        f.debug_struct("AccessFile")
            .field("users", &self.users.len())
            .field("tokens", &self.tokens.len())
            .field("grants", &self.grants.len())
            .field("sources", &self.sources)
            .finish()
    }
}

impl AccessFile {
    /// Reads and validates the config file at `path` (and the htpasswd file it names).
    /// Blocking file I/O; cheap (hashes are parsed, never computed).
    pub fn load(path: &Path) -> Result<AccessFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::read(path, e))?;
        let htpasswd_reader = |file: &Path| std::fs::read_to_string(file).map_err(|e| ConfigError::read(file, e));
        AccessFile::parse(path, &text, &htpasswd_reader)
    }

    /// Validates `text` as the content of `path`; `read_htpasswd` reads the htpasswd file.
    pub(crate) fn parse(
        path: &Path,
        text: &str,
        read_htpasswd: &dyn Fn(&Path) -> Result<String, ConfigError>,
    ) -> Result<AccessFile, ConfigError> {
        // Comments are never needed; capturing them limits how many may precede a nested key.
        let options = serde_saphyr::options! { emit_comments: false };
        let raw: Option<RawFile> =
            serde_saphyr::from_str_with_options(text, options).map_err(|e| yaml_error(path, &e))?;
        // An empty file is a valid file that allows nothing.
        let raw = raw.unwrap_or(RawFile {
            users: BTreeMap::new(),
            htpasswd: None,
            tokens: BTreeMap::new(),
            grants: Vec::new(),
        });
        let mut sources = vec![path.to_owned()];
        let mut contents = vec![text.as_bytes().to_vec()];

        let mut users = HashMap::new();
        for (name, hash) in &raw.users {
            let line = Some(hash.referenced.line());
            check_name(name)
                .map_err(|why| ConfigError::invalid(path, line, format!("users: `{}` {why}", name.escape_debug())))?;
            let stored = StoredHash::parse(&hash.value)
                .map_err(|why| ConfigError::invalid(path, line, format!("users: the hash of `{name}` {why}")))?;
            users.insert(name.clone(), stored);
        }

        if let Some(file) = &raw.htpasswd {
            let line = Some(file.referenced.line());
            if file.value.is_empty() {
                return Err(ConfigError::invalid(path, line, "htpasswd: the path is empty"));
            }
            let file_path = resolve(path, &file.value);
            let content = read_htpasswd(&file_path)?;
            for entry in htpasswd::parse(&file_path, &content)? {
                let htpasswd::Entry { user, hash, line: entry_line } = entry;
                if users.contains_key(&user) {
                    return Err(ConfigError::invalid(
                        &file_path,
                        Some(entry_line),
                        format!("user `{user}` is also defined under `users` in {}", path.display()),
                    ));
                }
                users.insert(user, hash);
            }
            sources.push(file_path);
            contents.push(content.into_bytes());
        }

        let mut tokens = Vec::new();
        for (name, value) in &raw.tokens {
            let line = Some(value.referenced.line());
            check_name(name)
                .map_err(|why| ConfigError::invalid(path, line, format!("tokens: `{}` {why}", name.escape_debug())))?;
            if users.contains_key(name) {
                return Err(ConfigError::invalid(
                    path,
                    line,
                    format!("tokens: `{name}` is also a user name; a name is either a user or a token"),
                ));
            }
            let digest = parse_token_digest(&value.value).ok_or_else(|| {
                ConfigError::invalid(
                    path,
                    line,
                    format!(
                        "tokens: the value of `{name}` must be \"sha256:<64 hex digits>\", the SHA-256 of the token \
                         (printf %s \"$TOKEN\" | sha256sum); plain-text tokens are refused"
                    ),
                )
            })?;
            tokens.push(StaticToken { name: name.clone(), digest });
        }

        let grants =
            raw.grants.iter().map(|grant| parse_grant(path, grant, &users, &tokens)).collect::<Result<Vec<_>, _>>()?;

        let fingerprint = fingerprint(contents.iter().map(Vec::as_slice));
        Ok(AccessFile { users, tokens, grants, sources, fingerprint })
    }

    /// How many users (file and htpasswd), tokens and grants were loaded.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.users.len(), self.tokens.len(), self.grants.len())
    }

    /// The files this configuration was read from (the config file, then its htpasswd file).
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    pub(crate) fn defines(&self, name: &str) -> bool {
        self.users.contains_key(name) || self.tokens.iter().any(|token| token.name == name)
    }
}

/// A digest of the contents of the files a configuration was read from, to notice a change.
pub(crate) fn fingerprint<'a>(contents: impl Iterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for content in contents {
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(content);
    }
    hasher.finalize().into()
}

/// serde-saphyr's message, on one line, with the line number it reports.
fn yaml_error(path: &Path, error: &serde_saphyr::Error) -> ConfigError {
    let line = error.location().map(|location| location.line()).filter(|line| *line > 0);
    let message = error.without_snippet().to_string();
    let message = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    // The parser's advice is for programmers, not for whoever edits the file.
    let message = message.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    ConfigError::invalid(path, line, message)
}

/// A relative htpasswd path is relative to the config file's folder.
fn resolve(config: &Path, file: &str) -> PathBuf {
    let file = Path::new(file);
    if file.is_absolute() {
        return file.to_owned();
    }
    config.parent().map(|dir| dir.join(file)).unwrap_or_else(|| file.to_owned())
}

fn parse_token_digest(value: &str) -> Option<[u8; 32]> {
    let hex_digest = value.strip_prefix("sha256:")?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).ok()?;
    Some(digest)
}

/// SHA-256, as tokens are stored in the file and as secrets are compared in constant time
/// (digests have one length whatever was sent).
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn parse_grant(
    path: &Path,
    grant: &RawGrant,
    users: &HashMap<String, StoredHash>,
    tokens: &[StaticToken],
) -> Result<Grant, ConfigError> {
    let at = |spanned_line: u64| Some(spanned_line);
    for (field, list_line, empty) in [
        ("to", grant.to.referenced.line(), grant.to.value.is_empty()),
        ("tenants", grant.tenants.referenced.line(), grant.tenants.value.is_empty()),
        ("actions", grant.actions.referenced.line(), grant.actions.value.is_empty()),
    ] {
        if empty {
            return Err(ConfigError::invalid(path, at(list_line), format!("grants: `{field}` is empty")));
        }
    }
    let mut to = Vec::new();
    for name in &grant.to.value {
        let grantee = match name.value.as_str() {
            ANONYMOUS => Grantee::Anonymous,
            AUTHENTICATED => Grantee::Authenticated,
            other if users.contains_key(other) || tokens.iter().any(|t| t.name == other) => {
                Grantee::Named(other.to_owned())
            }
            other => {
                return Err(ConfigError::invalid(
                    path,
                    at(name.referenced.line()),
                    format!(
                        "grants: `to` names `{}`, which is not a user or token of this file, nor \
                         `anonymous` or `authenticated`",
                        other.escape_debug()
                    ),
                ));
            }
        };
        to.push(grantee);
    }
    let mut tenants = Vec::new();
    for pattern in &grant.tenants.value {
        let parsed = TenantPattern::parse(&pattern.value).map_err(|why| {
            ConfigError::invalid(
                path,
                at(pattern.referenced.line()),
                format!(
                    "grants: tenant `{}` is not a tenant, \"prefix/*\", \"*\" or \"\" (the root): {why}",
                    pattern.value.escape_debug()
                ),
            )
        })?;
        tenants.push(parsed);
    }
    let mut actions = ActionSet::EMPTY;
    for action in &grant.actions.value {
        let parsed: Action = action.value.parse().map_err(|why| {
            ConfigError::invalid(
                path,
                at(action.referenced.line()),
                format!("grants: unknown action `{}`: {why}", action.value.escape_debug()),
            )
        })?;
        actions.insert(parsed);
    }
    Ok(Grant { to, tenants, actions })
}
