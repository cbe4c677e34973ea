//! Uploading a chart with ChartMuseum's API, exactly as the `helm cm-push` plugin does, so it
//! works against Chartroom and any ChartMuseum-compatible server.
//!
//! The protocol (`chartmuseum/helm-push`):
//!
//! 1. The context path is `--context-path`, else `serverInfo.contextPath` of the repository's
//!    `index.yaml` (a server running under a prefix announces it there).
//! 2. The upload URL is `scheme://host` + `path.Join(contextPath, "api",
//!    TrimPrefix(repoPath, contextPath), "charts")`, with the raw query `force` when forced: a
//!    repository at `https://h/helm/v1` with context path `/helm/v1` uploads to
//!    `https://h/helm/v1/api/charts`; `https://h/org/repo` with no context path to
//!    `https://h/api/org/repo/charts`.
//! 3. The body is `multipart/form-data` with a part `chart` (and `prov` for a provenance file).
//! 4. Credentials: a user name (and password) → Basic; else a token → `Authorization: Bearer`,
//!    or the raw token in a custom header (`--auth-header`).
//! 5. Success is 201 or 202; any other answer carries `{"error": "..."}`.

use std::time::Duration;

use chartroom_chart::archive::{Limits, load_archive};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::error::{ClientError, ErrorKind};

/// How to upload: the `helm cm-push` flags that matter to the protocol.
///
/// Credentials in the repository URL (`https://user:pass@host/...`) or in Helm's
/// `repositories.yaml` entry are used when [`PushOptions::username`] is not set.
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Overwrite an existing version (`?force`; the server may still refuse).
    pub force: bool,
    /// A provenance file (`<chart>.tgz.prov`) uploaded with the chart, as the multipart part `prov`.
    pub prov: Option<Vec<u8>>,
    /// User name for Basic authentication; takes precedence over a token.
    pub username: Option<String>,
    /// Password for Basic authentication (used with [`PushOptions::username`]).
    pub password: Option<String>,
    /// A token: sent as `Authorization: Bearer <token>`, or raw in [`PushOptions::auth_header`].
    pub token: Option<String>,
    /// Name of the header carrying the raw token instead of `Authorization: Bearer`
    /// (like `helm cm-push --auth-header`).
    pub auth_header: Option<String>,
    /// The server's context path (`/helm/v1`); when `None` it is read from the repository's
    /// index (`serverInfo.contextPath`).
    pub context_path: Option<String>,
}

impl std::fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("PushOptions")
            .field("force", &self.force)
            .field("prov", &self.prov.as_ref().map(Vec::len))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("token", &redacted(&self.token))
            .field("auth_header", &self.auth_header)
            .field("context_path", &self.context_path)
            .finish()
    }
}

/// A successful upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// Chart name, from the archive's `Chart.yaml`.
    pub name: String,
    /// Chart version, from the archive's `Chart.yaml`.
    pub version: String,
    /// The upload endpoint (no credentials, no query), e.g. `http://host/helm/v1/api/charts`.
    pub url_used: String,
    /// Things worth telling the user that did not stop the upload (for example an index that
    /// could not be read to discover the context path).
    pub warnings: Vec<String>,
}

/// Upload a packaged chart (`.tgz` bytes) to a ChartMuseum-compatible repository.
///
/// `repo` is the repository URL (`http(s)://[user:pass@]host[:port]/path`) or the name of a
/// repository added with `helm repo add` (read from Helm's `repositories.yaml`, honouring
/// `HELM_REPOSITORY_CONFIG`, `HELM_CONFIG_HOME` and `XDG_CONFIG_HOME`, with its credentials).
///
/// The archive is validated first (an invalid one is a [`ErrorKind::Usage`] error and nothing is
/// sent). Errors: 409 → [`ErrorKind::Conflict`], 401/403 → [`ErrorKind::Auth`] naming the
/// credentials tried, 400/413 → [`ErrorKind::Usage`] with the server's reason, 404 →
/// [`ErrorKind::NotFound`] (no upload API at that URL), unreachable server or other answers →
/// [`ErrorKind::Network`].
///
/// ```no_run
/// # async fn run() -> Result<(), chartroom_client::ClientError> {
/// use chartroom_client::push::{PushOptions, push};
///
/// let http = chartroom_client::push::default_client()?;
/// let tgz = std::fs::read("mychart-1.0.0.tgz").expect("read the chart");
/// let options = PushOptions { force: true, token: Some("s3cr3t".into()), ..PushOptions::default() };
/// let outcome = push(&http, "https://charts.example.com/helm/v1", tgz, &options).await?;
/// println!("Pushed {}-{} to {}", outcome.name, outcome.version, outcome.url_used);
/// # Ok(())
/// # }
/// ```
pub async fn push(
    http: &reqwest::Client,
    repo: &str,
    chart_tgz: Vec<u8>,
    options: &PushOptions,
) -> Result<PushOutcome, ClientError> {
    let (name, version, chart_tgz) = tokio::task::spawn_blocking(move || {
        load_archive(&chart_tgz, &Limits::default())
            .map(|loaded| (loaded.metadata.name, loaded.metadata.version, chart_tgz))
            .map_err(|e| ClientError::usage(format!("not a valid chart archive: {e}")))
    })
    .await
    .map_err(|e| ClientError::other(format!("validating the chart archive: {e}")))??;
    if let Some(prov) = &options.prov
        && !prov.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----")
    {
        return Err(ClientError::usage("not a provenance file: it must start with -----BEGIN PGP SIGNED MESSAGE-----"));
    }

    let target = resolve_repo(repo)?;
    let auth = Auth::choose(options, &target)?;
    let mut warnings = Vec::new();

    let context = match options.context_path.as_deref().filter(|c| !c.is_empty()) {
        Some(given) => ContextSource::Given(given.to_owned()),
        None => discover_context_path(http, &target.url, &auth).await,
    };
    if let ContextSource::IndexUnreadable(reason) = &context {
        warnings.push(format!("cannot read the repository's index to find its context path ({reason}); assuming none"));
    }

    let mut upload = target.url.clone();
    upload.set_query(None);
    upload.set_fragment(None);
    let repo_path = target.url.path().to_owned();
    upload.set_path(&upload_path(context.path(), &repo_path));
    let url_used = upload.to_string();
    if options.force {
        upload.set_query(Some("force"));
    }

    let file_name = format!("{name}-{version}.tgz");
    // Streamed in chunks so a progress bar can follow the upload (drawn only on a terminal).
    let total = chart_tgz.len() as u64;
    let bar = crate::pull::progress_bar(Some(total), &file_name);
    let chunks: Vec<bytes::Bytes> =
        bytes::Bytes::from(chart_tgz).chunks(64 * 1024).map(bytes::Bytes::copy_from_slice).collect();
    let progress = bar.clone();
    let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
        progress.inc(chunk.len() as u64);
        Ok::<_, std::io::Error>(chunk)
    }));
    let chart_part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), total)
        .file_name(file_name.clone())
        .mime_str("application/octet-stream")
        .map_err(|e| ClientError::other(format!("building the upload: {e}")))?;
    let mut form = reqwest::multipart::Form::new().part("chart", chart_part);
    if let Some(prov) = &options.prov {
        let prov_part = reqwest::multipart::Part::bytes(prov.clone())
            .file_name(format!("{file_name}.prov"))
            .mime_str("application/octet-stream")
            .map_err(|e| ClientError::other(format!("building the upload: {e}")))?;
        form = form.part("prov", prov_part);
    }

    let response = auth
        .apply(http.post(upload))
        .multipart(form)
        .send()
        .await
        .map_err(|e| ClientError::network(format!("cannot reach {url_used}: {}", error_reason(&e))))?;
    bar.finish_and_clear();
    let status = response.status();
    if status == StatusCode::CREATED || status == StatusCode::ACCEPTED {
        return Ok(PushOutcome { name, version, url_used, warnings });
    }
    let server_says = server_error_text(response).await;
    let err = match status {
        StatusCode::CONFLICT if options.force => ClientError::new(
            ErrorKind::Conflict,
            format!(
                "version {version} of {name} already exists and the server refused to overwrite it even when forced: {server_says}"
            ),
        ),
        StatusCode::CONFLICT => {
            ClientError::new(ErrorKind::Conflict, format!("version {version} of {name} already exists (use --force)"))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ClientError::new(
            ErrorKind::Auth,
            format!(
                "the server refused the credentials: {} (HTTP {}: {server_says})",
                auth.describe(),
                status.as_u16()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ClientError::usage(format!("the chart is too large for the server: {server_says}"))
        }
        StatusCode::BAD_REQUEST => ClientError::usage(format!("the server refused the chart: {server_says}")),
        StatusCode::NOT_FOUND => ClientError::not_found(format!(
            "no upload API at {url_used} (is the context path right? {})",
            context.explain()
        )),
        _ => ClientError::network(format!(
            "the server answered HTTP {} to the upload at {url_used}: {server_says}",
            status.as_u16()
        )),
    };
    Err(err)
}

/// An HTTP client suitable for [`push`]: 10 s to connect, 5 minutes per request, the
/// environment's proxy settings, a `chartroom/<version>` user agent.
pub fn default_client() -> Result<reqwest::Client, ClientError> {
    client_with_tls(&crate::tls::TlsOptions::default())
}

/// [`default_client`] with TLS options (a CA file, a client certificate, skipping verification).
pub fn client_with_tls(tls: &crate::tls::TlsOptions) -> Result<reqwest::Client, ClientError> {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent(concat!("chartroom/", env!("CARGO_PKG_VERSION")));
    tls.apply(builder)?
        .build()
        .map_err(|e| ClientError::other(format!("creating the HTTP client: {}", error_reason(&e))))
}

// ---------------------------------------------------------------------------------------------
// Repository and credentials
// ---------------------------------------------------------------------------------------------

/// A repository URL without its credentials, plus the credentials found for it.
struct Target {
    url: Url,
    username: Option<String>,
    password: Option<String>,
}

/// A URL, or the name of a repository in Helm's `repositories.yaml`.
// TODO(issue 4): use crate::repo
fn resolve_repo(repo: &str) -> Result<Target, ClientError> {
    if repo.contains("://") {
        return parse_repo_url(repo, repo);
    }
    let path = repositories_file().ok_or_else(|| {
        ClientError::not_found(format!(
            "{repo:?} is not a URL, and Helm's repositories.yaml cannot be located (set HELM_REPOSITORY_CONFIG or HOME)"
        ))
    })?;
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::not_found(format!(
                "no repository named {repo:?}: {} does not exist (add it with `helm repo add`, or give a URL)",
                path.display()
            )));
        }
        Err(e) => return Err(ClientError::other(format!("reading {}: {e}", path.display()))),
    };
    let file: RepositoryFile = serde_saphyr::from_slice_with_options(&text, chartroom_chart::yaml::read_options())
        .map_err(|e| ClientError::usage(format!("cannot parse {}: {e}", path.display())))?;
    let entry = file.repositories.unwrap_or_default().into_iter().find(|r| r.name == repo).ok_or_else(|| {
        ClientError::not_found(format!(
            "no repository named {repo:?} in {} (add it with `helm repo add`, or give a URL)",
            path.display()
        ))
    })?;
    let mut target = parse_repo_url(&entry.url, repo)?;
    if let Some(user) = entry.username.filter(|u| !u.is_empty()) {
        target.username = Some(user);
        target.password = entry.password;
    }
    Ok(target)
}

/// The subset of Helm's `repositories.yaml` that push needs.
#[derive(Deserialize)]
struct RepositoryFile {
    #[serde(default)]
    repositories: Option<Vec<RepositoryEntry>>,
}

#[derive(Deserialize)]
struct RepositoryEntry {
    name: String,
    url: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Helm's `repositories.yaml`: `$HELM_REPOSITORY_CONFIG`, else `$HELM_CONFIG_HOME/repositories.yaml`,
/// with `HELM_CONFIG_HOME` defaulting to `$XDG_CONFIG_HOME/helm`, then `~/.config/helm`.
fn repositories_file() -> Option<std::path::PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    if let Some(p) = var("HELM_REPOSITORY_CONFIG") {
        return Some(p);
    }
    let config_home = var("HELM_CONFIG_HOME")
        .or_else(|| var("XDG_CONFIG_HOME").map(|x| x.join("helm")))
        .or_else(|| var("HOME").map(|h| h.join(".config").join("helm")))?;
    Some(config_home.join("repositories.yaml"))
}

/// Parses an `http(s)` URL, moving `user:pass@` out of it. `what` names it in errors.
fn parse_repo_url(raw: &str, what: &str) -> Result<Target, ClientError> {
    let mut url =
        Url::parse(raw).map_err(|e| ClientError::usage(format!("invalid repository URL for {what:?}: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ClientError::usage(format!(
            "repository {what:?}: unsupported scheme {:?} (only http and https repositories accept uploads)",
            url.scheme()
        )));
    }
    let username = Some(crate::repo::percent_decode(url.username())).filter(|u| !u.is_empty());
    let password = url.password().map(crate::repo::percent_decode);
    // Cannot fail for http(s) URLs, which always have a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(Target { url, username, password })
}

/// The credentials sent, chosen like `helm cm-push`.
enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(HeaderValue),
    Header { name: HeaderName, value: HeaderValue },
}

impl Auth {
    fn choose(options: &PushOptions, target: &Target) -> Result<Auth, ClientError> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let (username, password) = match non_empty(&options.username) {
            Some(u) => (Some(u), options.password.clone()),
            None => (target.username.clone(), target.password.clone()),
        };
        if let Some(username) = username {
            return Ok(Auth::Basic { username, password: password.unwrap_or_default() });
        }
        let Some(token) = non_empty(&options.token) else { return Ok(Auth::None) };
        match non_empty(&options.auth_header) {
            Some(header) => {
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| ClientError::usage(format!("invalid auth header name {header:?}")))?;
                let mut value = HeaderValue::from_str(&token)
                    .map_err(|_| ClientError::usage("the token contains characters not allowed in a header"))?;
                value.set_sensitive(true);
                Ok(Auth::Header { name, value })
            }
            None => {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| ClientError::usage("the token contains characters not allowed in a header"))?;
                value.set_sensitive(true);
                Ok(Auth::Bearer(value))
            }
        }
    }

    fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => rb,
            Auth::Basic { username, password } => rb.basic_auth(username, Some(password)),
            Auth::Bearer(value) => rb.header(reqwest::header::AUTHORIZATION, value.clone()),
            Auth::Header { name, value } => rb.header(name.clone(), value.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Auth::None => "no credentials were sent".to_owned(),
            Auth::Basic { username, .. } => format!("basic auth as user {username:?}"),
            Auth::Bearer(_) => "a bearer token".to_owned(),
            Auth::Header { name, .. } => format!("a token in the {name} header"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Context path and upload URL
// ---------------------------------------------------------------------------------------------

/// Where the context path came from (for the upload URL and for explaining a 404).
enum ContextSource {
    Given(String),
    /// The index was read; its `serverInfo.contextPath` (None when absent).
    FromIndex(Option<String>),
    /// The index could not be fetched or parsed: no context path.
    IndexUnreadable(String),
}

impl ContextSource {
    fn path(&self) -> &str {
        match self {
            ContextSource::Given(p) => p,
            ContextSource::FromIndex(p) => p.as_deref().unwrap_or(""),
            ContextSource::IndexUnreadable(_) => "",
        }
    }

    fn explain(&self) -> String {
        match self {
            ContextSource::Given(p) => format!("it was given as {p:?}"),
            ContextSource::FromIndex(Some(p)) => format!("the repository's index says contextPath {p:?}"),
            ContextSource::FromIndex(None) => "the repository's index has no serverInfo.contextPath".to_owned(),
            ContextSource::IndexUnreadable(reason) => {
                format!("the repository's index could not be read ({reason}), so none was used")
            }
        }
    }
}

/// `GET <repo>/index.yaml` and read `serverInfo.contextPath` (YAML or JSON).
async fn discover_context_path(http: &reqwest::Client, repo: &Url, auth: &Auth) -> ContextSource {
    let mut index_url = repo.clone();
    index_url.set_query(None);
    index_url.set_fragment(None);
    index_url.set_path(&format!("{}/index.yaml", repo.path().trim_end_matches('/')));
    let response = match auth.apply(http.get(index_url.clone())).send().await {
        Ok(r) => r,
        Err(e) => return ContextSource::IndexUnreadable(format!("GET {index_url}: {}", error_reason(&e))),
    };
    if response.status() != StatusCode::OK {
        return ContextSource::IndexUnreadable(format!("GET {index_url} answered HTTP {}", response.status().as_u16()));
    }
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return ContextSource::IndexUnreadable(format!("GET {index_url}: {}", error_reason(&e))),
    };
    match parse_context_path(&body) {
        Ok(p) => ContextSource::FromIndex(p.filter(|p| !p.is_empty())),
        Err(e) => ContextSource::IndexUnreadable(format!("{index_url} does not parse: {e}")),
    }
}

#[derive(Deserialize)]
struct IndexHead {
    #[serde(rename = "serverInfo", default)]
    server_info: Option<ServerInfo>,
}

#[derive(Deserialize)]
struct ServerInfo {
    #[serde(rename = "contextPath", default)]
    context_path: Option<String>,
}

fn parse_context_path(body: &[u8]) -> Result<Option<String>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let head: IndexHead = if first == Some(&b'{') {
        serde_json::from_slice(body).map_err(|e| e.to_string())?
    } else {
        // Indexes of big repositories exceed serde-saphyr's default budget.
        let mut options = chartroom_chart::yaml::read_options();
        options.budget =
            serde_saphyr::budget! { max_nodes: 20_000_000, max_events: 100_000_000, max_total_scalar_bytes: 1 << 30 };
        serde_saphyr::from_slice_with_options(body, options).map_err(|e| e.to_string())?
    };
    Ok(head.server_info.and_then(|s| s.context_path))
}

/// `path.Join(contextPath, "api", strings.TrimPrefix(repoPath, contextPath), "charts")`, rooted
/// (Go's `url.URL.String` adds the leading `/` when the URL has a host).
fn upload_path(context_path: &str, repo_path: &str) -> String {
    let rest = repo_path.strip_prefix(context_path).unwrap_or(repo_path);
    let joined = [context_path, "api", rest, "charts"].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>();
    let cleaned = go_path_clean(&joined.join("/"));
    if cleaned.starts_with('/') { cleaned } else { format!("/{cleaned}") }
}

/// Go's `path.Clean`: collapse `//`, drop `.`, resolve `..`, no trailing `/`.
fn go_path_clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The `error` of a `{"error": "..."}` body, else the body text (shortened), else "no details".
async fn server_error_text(response: reqwest::Response) -> String {
    let body = response.bytes().await.unwrap_or_default();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(message) = value.get("error").and_then(serde_json::Value::as_str)
    {
        return message.to_owned();
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    if text.is_empty() {
        return "no details".to_owned();
    }
    let mut end = text.len().min(500);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() { format!("{}…", &text[..end]) } else { text.to_owned() }
}

/// The innermost useful reasons of a reqwest error ("tcp connect error: Connection refused").
fn error_reason(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut reasons = Vec::new();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !reasons.contains(&text) {
            reasons.push(text);
        }
        source = s.source();
    }
    if err.is_timeout() {
        reasons.push("timed out".to_owned());
    }
    if reasons.is_empty() { err.to_string() } else { reasons.join(": ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_match_cm_push() {
        assert_eq!(upload_path("", "/"), "/api/charts");
        assert_eq!(upload_path("", ""), "/api/charts");
        assert_eq!(upload_path("", "/org/repo"), "/api/org/repo/charts");
        assert_eq!(upload_path("", "/org/repo/"), "/api/org/repo/charts");
        assert_eq!(upload_path("/helm/v1", "/helm/v1"), "/helm/v1/api/charts");
        assert_eq!(upload_path("/helm/v1", "/helm/v1/"), "/helm/v1/api/charts");
        assert_eq!(upload_path("/cm", "/cm/org"), "/cm/api/org/charts");
        // A context path that is not a prefix of the repository path is kept in front.
        assert_eq!(upload_path("/cm", "/other"), "/cm/api/other/charts");
        assert_eq!(upload_path("cm/", "/x"), "/cm/api/x/charts");
    }

    #[test]
    fn go_clean() {
        assert_eq!(go_path_clean("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(go_path_clean("/../a"), "/a");
        assert_eq!(go_path_clean("a/../.."), "..");
        assert_eq!(go_path_clean(""), ".");
    }

    #[test]
    fn context_path_from_yaml_and_json() {
        let yaml = b"apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    urls: [a.tgz]\ngenerated: x\nserverInfo:\n  contextPath: /helm/v1\n";
        assert_eq!(parse_context_path(yaml), Ok(Some("/helm/v1".to_owned())));
        assert_eq!(parse_context_path(b"apiVersion: v1\nentries: {}\n"), Ok(None));
        assert_eq!(parse_context_path(b"apiVersion: v1\nserverInfo: {}\n"), Ok(None));
        let json = br#" {"apiVersion":"v1","entries":{},"serverInfo":{"contextPath":"/cm"}}"#;
        assert_eq!(parse_context_path(json), Ok(Some("/cm".to_owned())));
        assert!(parse_context_path(b"{not json").is_err());
    }

    #[test]
    fn credentials_move_out_of_the_url() {
        let t = parse_repo_url("https://al%40ice:p%3Ass@h.example:8443/helm?x=1", "r").expect("parses");
        assert_eq!(t.username.as_deref(), Some("al@ice"));
        assert_eq!(t.password.as_deref(), Some("p:ss"));
        assert_eq!(t.url.as_str(), "https://h.example:8443/helm?x=1");
        let t = parse_repo_url("http://h/", "r").expect("parses");
        assert!(t.username.is_none() && t.password.is_none());
        assert_eq!(parse_repo_url("oci://h/x", "r").err().map(|e| e.kind), Some(ErrorKind::Usage));
        assert_eq!(parse_repo_url("http://", "r").err().map(|e| e.kind), Some(ErrorKind::Usage));
    }

    #[test]
    fn auth_follows_cm_push_precedence() {
        let target = |user: Option<&str>| Target {
            url: Url::parse("http://h/").expect("url"),
            username: user.map(str::to_owned),
            password: Some("pw".into()),
        };
        let opts = PushOptions { token: Some("t".into()), ..PushOptions::default() };
        assert!(matches!(Auth::choose(&opts, &target(None)), Ok(Auth::Bearer(_))));
        // A user name (from the URL here) wins over the token.
        assert!(matches!(Auth::choose(&opts, &target(Some("u"))), Ok(Auth::Basic { .. })));
        let opts =
            PushOptions { token: Some("t".into()), auth_header: Some("X-Token".into()), ..PushOptions::default() };
        match Auth::choose(&opts, &target(None)) {
            Ok(a @ Auth::Header { .. }) => assert_eq!(a.describe(), "a token in the x-token header"),
            _ => panic!("expected a custom header"),
        }
        let opts =
            PushOptions { token: Some("t".into()), auth_header: Some("bad header".into()), ..Default::default() };
        assert!(Auth::choose(&opts, &target(None)).is_err());
        let opts = PushOptions { username: Some("me".into()), ..PushOptions::default() };
        let a = Auth::choose(&opts, &target(Some("u"))).expect("auth");
        assert_eq!(a.describe(), "basic auth as user \"me\"");
        assert_eq!(
            Auth::choose(&PushOptions::default(), &target(None)).map(|a| a.describe()).ok().as_deref(),
            Some("no credentials were sent")
        );
    }
}
