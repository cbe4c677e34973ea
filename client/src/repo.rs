//! A chart repository, given by URL or by the name it was configured under with `helm repo add`,
//! and URL resolution as Helm does it ([`resolve_reference_url`]).

use reqwest::Url;

use crate::error::ClientError;
use crate::helm_env::HelmEnv;
use crate::helm_env::RepoEntry;
use crate::tls::TlsOptions;

/// A repository to talk to: its base URL (no trailing `/`, no userinfo) and credentials.
/// `Debug` never shows the password or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Repository {
    /// The configured name (`helm repo add <name>`), `None` for a repository given by URL.
    pub name: Option<String>,
    /// Base URL, without a trailing `/` and without userinfo (the query, if any, is kept: Helm
    /// appends it to every URL it resolves against the repository).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A token sent as `Authorization: Bearer <token>` when no user name and password are set
    /// (a Chartroom static token or a JWT). A Chartroom token also works as the password of its
    /// name, which is how `helm repo add --username <token name> --password <token>` stores it.
    pub token: Option<String>,
    /// TLS options from the repository's `repositories.yaml` entry (none for a URL).
    pub tls: TlsOptions,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Repository")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("token", &redacted(&self.token))
            .field("tls", &self.tls)
            .finish()
    }
}

impl Repository {
    /// A repository from `spec`: an `http(s)://` URL (userinfo is split into credentials), or the
    /// name of a repository in Helm's `repositories.yaml` (with its credentials).
    ///
    /// ```no_run
    /// use chartroom_client::helm_env::HelmEnv;
    /// use chartroom_client::repo::Repository;
    ///
    /// let env = HelmEnv::from_env()?;
    /// let by_url = Repository::resolve("https://charts.example.com/stable", &env)?;
    /// let by_name = Repository::resolve("stable", &env)?; // configured with `helm repo add`
    /// assert_eq!(by_url.url, by_name.url);
    /// # Ok::<(), chartroom_client::ClientError>(())
    /// ```
    pub fn resolve(spec: &str, env: &HelmEnv) -> Result<Repository, ClientError> {
        if is_http_url(spec) {
            return Repository::from_url(spec);
        }
        if spec.is_empty() || spec.contains('/') || spec.contains("://") {
            return Err(ClientError::usage(format!(
                "{spec:?} is neither an http(s):// repository URL nor a repository name"
            )));
        }
        let repos = env.repositories()?;
        let Some(entry) = repos.iter().find(|r| r.name == spec) else {
            let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
            let known = if names.is_empty() {
                format!("no repositories are configured in {}", env.repository_config.display())
            } else {
                format!("configured: {}", names.join(", "))
            };
            return Err(ClientError::not_found(format!("repository {spec:?} not found ({known})")));
        };
        Repository::from_entry(entry)
    }

    /// A repository configured in Helm's `repositories.yaml`, with its credentials.
    pub fn from_entry(entry: &RepoEntry) -> Result<Repository, ClientError> {
        let mut repo = Repository::from_url(&entry.url)
            .map_err(|e| ClientError::usage(format!("repository {:?}: {}", entry.name, e.message)))?;
        repo.name = Some(entry.name.clone());
        if !entry.username.is_empty() {
            repo.username = Some(entry.username.clone());
        }
        if !entry.password.is_empty() {
            repo.password = Some(entry.password.clone());
        }
        let path = |p: &str| (!p.is_empty()).then(|| std::path::PathBuf::from(p));
        repo.tls = TlsOptions {
            ca_file: path(&entry.ca_file),
            cert_file: path(&entry.cert_file),
            key_file: path(&entry.key_file),
            insecure_skip_tls_verify: entry.insecure_skip_tls_verify,
        };
        Ok(repo)
    }

    /// A repository given by an `http(s)://` URL; `https://user:pass@host/path` becomes the URL
    /// `https://host/path` with those credentials.
    pub fn from_url(url: &str) -> Result<Repository, ClientError> {
        let mut parsed =
            Url::parse(url).map_err(|e| ClientError::usage(format!("invalid repository URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::usage(format!(
                "invalid repository URL {url:?}: only http:// and https:// are supported"
            )));
        }
        let username = Some(percent_decode(parsed.username())).filter(|u| !u.is_empty());
        let password = parsed.password().map(percent_decode).filter(|p| !p.is_empty());
        // Cannot fail for http(s) URLs with a host.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        parsed.set_fragment(None);
        // Serialized as `<scheme>://<host>[:port]<path>[?query]` now: cut out the path.
        let full = parsed.as_str();
        let after = parsed.query().map_or(0, |q| q.len() + 1);
        let path_start = full.len().saturating_sub(after + parsed.path().len());
        let (before, rest) = full.split_at(path_start);
        let (path, query) = rest.split_at(rest.len().saturating_sub(after));
        let url = format!("{before}{}{query}", path.trim_end_matches('/'));
        Ok(Repository { name: None, url, username, password, token: None, tls: TlsOptions::default() })
    }

    /// These credentials instead of the stored ones (command-line flags): a user name replaces
    /// the stored user and password, a token is used when no user name is set.
    pub fn with_credentials(
        mut self,
        username: Option<String>,
        password: Option<String>,
        token: Option<String>,
    ) -> Repository {
        if let Some(user) = username.filter(|u| !u.is_empty()) {
            self.username = Some(user);
            self.password = password.filter(|p| !p.is_empty());
        }
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            self.token = Some(token);
        }
        self
    }

    /// What the repository is asked with, for messages (never a secret).
    pub fn credentials_used(&self) -> String {
        match (&self.username, &self.password, &self.token) {
            (Some(u), Some(_), _) => format!("as user {u:?}"),
            (Some(u), None, _) => format!("user {u:?} without a password: no credentials sent"),
            (None, _, Some(_)) => "with a bearer token".to_owned(),
            _ => "no credentials sent".to_owned(),
        }
    }

    /// The name to show: the configured name, else the URL.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }

    /// `<repo>/index.yaml`, resolved like Helm (the repository's query string is kept).
    pub fn index_url(&self) -> Result<String, ClientError> {
        resolve_reference_url(&self.url, "index.yaml")
    }
}

/// Helm's `repo.ResolveReferenceURL(base, ref)`, used for `index.yaml` and for chart `urls[0]`:
/// a `ref` with a scheme is returned unchanged; otherwise one trailing `/` is forced onto the
/// base path, `ref` is resolved against it (RFC 3986), and the result's query is replaced by
/// the base URL's query (the ref's own query is dropped).
///
/// ```
/// use chartroom_client::repo::resolve_reference_url;
/// assert_eq!(
///     resolve_reference_url("https://h/a/b?tok=1", "charts/c-1.0.0.tgz?y=2")?,
///     "https://h/a/b/charts/c-1.0.0.tgz?tok=1"
/// );
/// # Ok::<(), chartroom_client::ClientError>(())
/// ```
pub fn resolve_reference_url(base: &str, reference: &str) -> Result<String, ClientError> {
    if has_scheme(reference) {
        return Ok(reference.to_owned());
    }
    let mut base_url =
        Url::parse(base).map_err(|e| ClientError::usage(format!("invalid repository URL {base:?}: {e}")))?;
    let path = format!("{}/", base_url.path().trim_end_matches('/'));
    base_url.set_path(&path);
    let mut resolved = base_url
        .join(reference)
        .map_err(|e| ClientError::other(format!("cannot resolve {reference:?} against {base:?}: {e}")))?;
    resolved.set_query(base_url.query());
    Ok(resolved.into())
}

/// Go's `url.Parse(..).IsAbs()`: a scheme is a letter followed by letters, digits, `+`, `-`, `.`
/// and then `:`.
fn has_scheme(s: &str) -> bool {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' => return i > 0,
            _ => return false,
        }
    }
    false
}

fn is_http_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Percent-decoding of URL userinfo (invalid sequences are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = b.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `repo/chart` at the first `/`.
///
/// ```
/// assert_eq!(chartroom_client::repo::split_chart_ref("stable/nginx")?, ("stable", "nginx"));
/// # Ok::<(), chartroom_client::ClientError>(())
/// ```
pub fn split_chart_ref(reference: &str) -> Result<(&str, &str), ClientError> {
    let malformed = || {
        ClientError::usage(format!(
            "invalid chart reference {reference:?}: expected <repo>/<chart> (or <chart> with --repo <url>)"
        ))
    };
    if reference.contains("://") {
        return Err(malformed());
    }
    let (repo, chart) = reference.split_once('/').ok_or_else(malformed)?;
    if repo.is_empty() || chart.is_empty() || chart.contains('/') {
        return Err(malformed());
    }
    Ok((repo, chart))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn resolve_reference_url_matches_helm_table() {
        let table = [
            ("https://h/a/b", "index.yaml", "https://h/a/b/index.yaml"),
            ("https://h/a/b?tok=1", "index.yaml", "https://h/a/b/index.yaml?tok=1"),
            ("https://h/a/b?tok=1", "charts/c-1.0.0.tgz?y=2", "https://h/a/b/charts/c-1.0.0.tgz?tok=1"),
            ("https://h/a/b", "/abs/c-1.0.0.tgz", "https://h/abs/c-1.0.0.tgz"),
            ("https://h/a/b", "../c-1.0.0.tgz", "https://h/a/c-1.0.0.tgz"),
            ("https://h/a/b", "c 1.tgz", "https://h/a/b/c%201.tgz"),
            ("https://h/a/b", "//cdn/x/c.tgz", "https://cdn/x/c.tgz"),
            // More: trailing slash already there, index.yaml in the base, absolute refs.
            ("https://h/a/b/", "index.yaml", "https://h/a/b/index.yaml"),
            ("https://h/a/index.yaml", "index.yaml", "https://h/a/index.yaml/index.yaml"),
            ("http://127.0.0.1:8080", "charts/x-1.0.0.tgz", "http://127.0.0.1:8080/charts/x-1.0.0.tgz"),
            ("https://h/a", "https://cdn/c.tgz?sig=1", "https://cdn/c.tgz?sig=1"),
            ("https://h/a?tok=1", "http://other/c.tgz", "http://other/c.tgz"),
        ];
        for (base, reference, want) in table {
            assert_eq!(resolve_reference_url(base, reference).expect("resolves"), want, "{base} + {reference}");
        }
    }

    #[test]
    fn repository_urls_and_credentials() {
        let r = Repository::from_url("https://alice:p%40ss@h.example:8443/charts/").expect("url");
        assert_eq!(r.url, "https://h.example:8443/charts");
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(r.password.as_deref(), Some("p@ss"));
        assert_eq!(r.index_url().expect("index"), "https://h.example:8443/charts/index.yaml");
        let r = Repository::from_url("http://127.0.0.1:9/").expect("url");
        assert_eq!(r.url, "http://127.0.0.1:9");
        assert_eq!((r.username, r.password), (None, None));
        let r = Repository::from_url("https://h/a/b/?tok=1").expect("url");
        assert_eq!(r.url, "https://h/a/b?tok=1");
        assert_eq!(r.index_url().expect("index"), "https://h/a/b/index.yaml?tok=1");
        assert_eq!(Repository::from_url("ftp://h/x").expect_err("ftp").kind, ErrorKind::Usage);
    }

    #[test]
    fn flags_replace_stored_credentials_and_secrets_stay_out_of_debug() {
        let stored = Repository::from_url("https://u:stored-pw@h/x").expect("url");
        let r = stored.clone().with_credentials(Some("ci".into()), Some("tok-pw".into()), None);
        assert_eq!((r.username.as_deref(), r.password.as_deref()), (Some("ci"), Some("tok-pw")));
        assert_eq!(r.credentials_used(), "as user \"ci\"");
        let r = Repository::from_url("https://h/x").expect("url").with_credentials(None, None, Some("jwt".into()));
        assert_eq!((r.username.as_deref(), r.token.as_deref()), (None, Some("jwt")));
        assert_eq!(r.credentials_used(), "with a bearer token");
        let kept = stored.clone().with_credentials(Some(String::new()), None, None);
        assert_eq!(kept, stored, "empty flags keep the stored credentials");
        let debug = format!("{:?}", r.with_credentials(Some("u".into()), Some("hunter2".into()), None));
        assert!(!debug.contains("hunter2") && !debug.contains("jwt"), "{debug}");
    }

    #[test]
    fn resolve_by_name_or_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = HelmEnv {
            repository_config: dir.path().join("repositories.yaml"),
            repository_cache: dir.path().join("cache"),
        };
        let err = Repository::resolve("mine", &env).expect_err("none configured");
        assert_eq!(err.kind, ErrorKind::NotFound);
        std::fs::write(
            &env.repository_config,
            "repositories:\n- name: mine\n  url: http://127.0.0.1:1/x/\n  username: u\n  password: p\n- name: other\n  url: https://o\n",
        )
        .expect("write");
        let r = Repository::resolve("mine", &env).expect("by name");
        assert_eq!(r.name.as_deref(), Some("mine"));
        assert_eq!(r.url, "http://127.0.0.1:1/x");
        assert_eq!(r.username.as_deref(), Some("u"));
        assert_eq!(r.password.as_deref(), Some("p"));
        let err = Repository::resolve("nope", &env).expect_err("unknown");
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("mine, other"), "{}", err.message);
        let r = Repository::resolve("HTTPS://h/y", &env).expect("by url");
        assert_eq!((r.name, r.url.as_str()), (None, "https://h/y"));
        assert_eq!(Repository::resolve("a/b", &env).expect_err("bad").kind, ErrorKind::Usage);
    }

    #[test]
    fn chart_refs() {
        assert_eq!(split_chart_ref("r/c").expect("ok"), ("r", "c"));
        for bad in ["rc", "/c", "r/", "r/c/d", "https://h/x/chart", ""] {
            assert_eq!(split_chart_ref(bad).expect_err(bad).kind, ErrorKind::Usage, "{bad}");
        }
    }
}
