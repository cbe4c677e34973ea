//! Repository indexes: fetching `index.yaml` (cached with its ETag and revalidated with
//! `If-None-Match`), parsing it like Helm (JSON or YAML, invalid entries skipped), selecting a
//! version with Helm's rules, and searching.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chartroom_chart::constraint::Constraint;
use chartroom_chart::version::Version;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ClientError, ErrorKind};
use crate::helm_env::HelmEnv;
use crate::repo::Repository;
use crate::tls::TlsOptions;

/// A parsed repository index: the entries Chartroom's client needs.
#[derive(Debug, Clone, Default)]
pub struct RepoIndex {
    /// Chart name → versions, newest first (Masterminds ordering).
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
    /// `serverInfo.contextPath` (ChartMuseum servers under a prefix announce it).
    pub context_path: Option<String>,
    /// The repository the index came from (its name or URL), for messages.
    pub source: String,
}

/// One chart version of an index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexEntry {
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub description: String,
    /// Download URLs, relative to the repository or absolute; Helm only uses the first.
    pub urls: Vec<String>,
    /// `sha256` of the archive as the index announces it (may be empty, may carry `sha256:`).
    pub digest: String,
    pub created: Option<String>,
    pub deprecated: bool,
}

/// A search result row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// `<repo name>/<chart>`, or `<chart>` for a repository given by URL.
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub description: String,
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<serde_json::Value>,
    #[serde(default)]
    entries: Option<BTreeMap<String, Option<Vec<serde_json::Value>>>>,
    #[serde(rename = "serverInfo", default)]
    server_info: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(rename = "appVersion", default)]
    app_version: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    created: Option<serde_json::Value>,
    #[serde(default)]
    deprecated: Option<bool>,
    #[serde(rename = "type", default)]
    chart_type: Option<String>,
    #[serde(default)]
    maintainers: Option<Vec<Option<serde::de::IgnoredAny>>>,
    #[serde(default)]
    dependencies: Option<Vec<Option<RawDependency>>>,
}

#[derive(Deserialize)]
struct RawDependency {
    #[serde(default)]
    alias: Option<String>,
}

impl RawEntry {
    /// Helm's `loadIndex` keeps an entry when its metadata validates (`Metadata.Validate`, a
    /// repeated dependency name or alias excepted); keeping the same entries keeps Helm's order.
    fn helm_rejects(&self, name: &str, version: &str) -> Option<&'static str> {
        let name = chartroom_chart::metadata::sanitize(name);
        if name.is_empty() {
            return Some("no name");
        }
        // Go's `filepath.Base(name) != name`.
        if name != "/" && name.contains('/') {
            return Some("a name that is not a base name");
        }
        if Version::parse(version).is_err() {
            return Some("an invalid version");
        }
        if !matches!(self.chart_type.as_deref().unwrap_or(""), "" | "application" | "library") {
            return Some("an invalid type");
        }
        if self.maintainers.iter().flatten().any(Option::is_none) {
            return Some("an empty maintainer");
        }
        let alias_ok = |a: &str| a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        for dep in self.dependencies.iter().flatten() {
            match dep {
                None => return Some("an empty dependency"),
                Some(d) if !alias_ok(d.alias.as_deref().unwrap_or("")) => return Some("an invalid dependency alias"),
                Some(_) => {}
            }
        }
        None
    }
}

/// A scalar as text (`1.0` written unquoted is still a version string).
pub(crate) fn scalar(v: Option<serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

impl RepoIndex {
    /// Parses an index body like Helm's `loadIndex`: JSON when the body is valid JSON, else
    /// YAML; unknown fields are ignored; an entry that is not a mapping or whose metadata Helm
    /// finds invalid (no name, an invalid version, type or dependency alias, ...) is skipped (Helm
    /// drops invalid entries with a warning); versions are sorted newest first with Go's unstable
    /// `sort.Sort` as Helm sorts them, so that a version listed twice comes out in Helm's order.
    /// An empty body or a missing `apiVersion` is an error, as in Helm.
    ///
    /// ```
    /// use chartroom_client::index::RepoIndex;
    /// let idx = RepoIndex::parse(
    ///     b"apiVersion: v1\nentries:\n  web:\n  - {name: web, version: 1.0.0, urls: [web-1.0.0.tgz]}\n  - {name: web, version: 1.2.0, urls: [web-1.2.0.tgz]}\n",
    ///     "example",
    /// )?;
    /// assert_eq!(idx.select("web", None, false)?.version, "1.2.0");
    /// # Ok::<(), chartroom_client::ClientError>(())
    /// ```
    pub fn parse(bytes: &[u8], source: &str) -> Result<RepoIndex, ClientError> {
        let bad = |reason: String| ClientError::other(format!("invalid index from {source}: {reason}"));
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.is_empty() {
            return Err(bad("empty index.yaml file".into()));
        }
        let raw: RawIndex = if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?
        } else {
            let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not valid UTF-8: {e}")))?;
            // Indexes of big repositories are large: raise the default node budget (which guards
            // against alias bombs) to a size bound that still caps memory.
            let mut options = chartroom_chart::yaml::read_options();
            options.budget = serde_saphyr::budget! {
                max_nodes: 50_000_000,
                max_events: 200_000_000,
                max_total_scalar_bytes: 1 << 30,
            };
            let raw: Option<RawIndex> = serde_saphyr::from_str_with_options(text, options)
                .map_err(|e| bad(e.to_string().trim().lines().next().unwrap_or("").to_owned()))?;
            raw.ok_or_else(|| bad("empty index.yaml file".into()))?
        };
        if scalar(raw.api_version).is_empty() {
            return Err(bad("no API version specified".into()));
        }
        let context_path =
            raw.server_info.as_ref().and_then(|s| s.get("contextPath")).and_then(|c| c.as_str()).map(str::to_owned);
        let mut entries = BTreeMap::new();
        for (key, list) in raw.entries.unwrap_or_default() {
            let mut versions: Vec<(Version, IndexEntry)> = Vec::new();
            for value in list.unwrap_or_default() {
                let Ok(e) = serde_json::from_value::<RawEntry>(value) else {
                    tracing::warn!(chart = %key, "skipping an invalid index entry");
                    continue;
                };
                let version = scalar(e.version.clone());
                let name = e.name.clone().unwrap_or_default();
                if let Some(problem) = e.helm_rejects(&name, &version) {
                    tracing::warn!(chart = %key, version, "skipping an index entry with {problem}");
                    continue;
                }
                let Ok(parsed) = Version::parse(&version) else { continue };
                let created = match e.created {
                    Some(serde_json::Value::String(s)) => Some(s),
                    _ => None,
                };
                versions.push((
                    parsed,
                    IndexEntry {
                        name,
                        version,
                        app_version: scalar(e.app_version),
                        description: e.description.unwrap_or_default(),
                        urls: e.urls.unwrap_or_default(),
                        digest: e.digest.unwrap_or_default(),
                        created,
                        deprecated: e.deprecated.unwrap_or(false),
                    },
                ));
            }
            // Helm: sort.Sort(sort.Reverse(versions)), i.e. Less(i, j) = v[j] < v[i].
            crate::gosort::sort_like_go(&mut versions, |a, b| b.0 < a.0);
            entries.insert(key, versions.into_iter().map(|(_, e)| e).collect());
        }
        Ok(RepoIndex { entries, context_path, source: source.to_owned() })
    }

    /// Helm's `IndexFile.Get`: the version of `chart` to use. With a `constraint`, an entry whose
    /// version string equals it exactly wins, else the newest version satisfying it; without one,
    /// `*` (no pre-releases) or, with `devel`, `>0.0.0-0` (pre-releases too). `devel` is ignored
    /// when a constraint is given, as in Helm.
    pub fn select(&self, chart: &str, constraint: Option<&str>, devel: bool) -> Result<&IndexEntry, ClientError> {
        let versions = self
            .entries
            .get(chart)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ClientError::not_found(format!("chart {chart} not found in {}", self.source)))?;
        let requested = match constraint.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => c,
            None if devel => ">0.0.0-0",
            None => "",
        };
        let found = chartroom_chart::constraint::select(versions, |e| e.version.as_str(), requested)
            .map_err(|e| ClientError::usage(format!("invalid version constraint {requested:?}: {e}")))?;
        found.ok_or_else(|| {
            let shown = if requested.is_empty() { "*" } else { requested };
            let hint = if constraint.is_none() && !devel && versions.iter().all(|v| v.version.contains('-')) {
                " (only pre-releases: use --devel)"
            } else {
                ""
            };
            ClientError::not_found(format!(
                "no version of {chart} matches {shown} (available: {}){hint}",
                available(versions)
            ))
        })
    }

    /// `helm search repo` over this index: charts whose name or description contains `term`
    /// (case-insensitive; every chart when `None`); only versions satisfying `constraint`
    /// (default `>0.0.0`, or `>0.0.0-0` with `devel`, as in Helm); the newest such version per
    /// chart, or all of them with `all_versions`. `repo_name` prefixes the names (`repo/chart`).
    ///
    /// A version the index lists twice is shown once, as Helm shows it: its search keys rows by
    /// name and version, so the copy sorted last fills the row (and is the one matched).
    pub fn search(
        &self,
        repo_name: Option<&str>,
        term: Option<&str>,
        all_versions: bool,
        constraint: Option<&str>,
        devel: bool,
    ) -> Result<Vec<SearchHit>, ClientError> {
        let text = match constraint.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => c,
            None if devel => ">0.0.0-0",
            None => ">0.0.0",
        };
        let parsed = Constraint::parse(text)
            .map_err(|e| ClientError::usage(format!("invalid version constraint {text:?}: {e}")))?;
        let term = term.map(str::to_lowercase).filter(|t| !t.is_empty());
        let mut hits = Vec::new();
        for (chart, versions) in &self.entries {
            let full = match repo_name {
                Some(r) => format!("{r}/{chart}"),
                None => chart.clone(),
            };
            // One row per version string, at its first position, with its last copy.
            let mut rows: Vec<&IndexEntry> = Vec::with_capacity(versions.len());
            let mut row_of: HashMap<&str, usize> = HashMap::with_capacity(versions.len());
            for e in versions {
                match row_of.get(e.version.as_str()).and_then(|&i| rows.get_mut(i)) {
                    Some(row) => *row = e,
                    None => {
                        row_of.insert(&e.version, rows.len());
                        rows.push(e);
                    }
                }
            }
            for e in rows {
                if let Some(t) = &term
                    && !full.to_lowercase().contains(t.as_str())
                    && !e.description.to_lowercase().contains(t.as_str())
                {
                    continue;
                }
                if !Version::parse(&e.version).is_ok_and(|v| parsed.matches(&v)) {
                    continue;
                }
                hits.push(SearchHit {
                    name: full.clone(),
                    version: e.version.clone(),
                    app_version: e.app_version.clone(),
                    description: e.description.clone(),
                });
                if !all_versions {
                    break;
                }
            }
        }
        Ok(hits)
    }
}

/// `a, b, c` (at most 20 versions, then `…`).
fn available(versions: &[IndexEntry]) -> String {
    const MAX: usize = 20;
    let mut s = versions.iter().take(MAX).map(|e| e.version.as_str()).collect::<Vec<_>>().join(", ");
    if versions.len() > MAX {
        s.push_str(&format!(", … ({} more)", versions.len() - MAX));
    }
    s
}

/// Search results as `helm search repo` prints them: `NAME`, `CHART VERSION`, `APP VERSION`,
/// `DESCRIPTION` columns padded with spaces and separated by tabs, cells longer than 50 columns cut
/// with `...`, widths measured in terminal columns (an emoji or a CJK character takes two), as
/// Helm's table writer does; `No results found` when empty.
pub fn format_table(hits: &[SearchHit]) -> String {
    if hits.is_empty() {
        return "No results found\n".to_owned();
    }
    const MAX_WIDTH: usize = 50;
    let mut rows = vec![["NAME".to_owned(), "CHART VERSION".into(), "APP VERSION".into(), "DESCRIPTION".into()]];
    rows.extend(hits.iter().map(|h| {
        [
            cut(&h.name, MAX_WIDTH),
            cut(&h.version, MAX_WIDTH),
            cut(&h.app_version, MAX_WIDTH),
            cut(&h.description.replace('\n', " "), MAX_WIDTH),
        ]
    }));
    let mut widths = [0usize; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(columns(cell));
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> =
            row.iter().zip(widths).map(|(cell, w)| format!("{cell}{}", " ".repeat(w - columns(cell)))).collect();
        out.push_str(line.join("\t").trim_end_matches(' '));
        out.push('\n');
    }
    out
}

/// Terminal columns of `s` (go-runewidth's `StringWidth`: wide characters 2, control 0).
fn columns(s: &str) -> usize {
    s.chars().map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)).sum()
}

/// uitable's `strutil.Resize` for a cell wider than `max` columns: characters are kept until their
/// width reaches `max - 3` (the one that reaches it included), then `...`.
fn cut(s: &str, max: usize) -> String {
    if columns(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut width = 0;
    for c in s.chars() {
        out.push(c);
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if width + w >= max - 3 {
            break;
        }
        width += w;
    }
    out.push_str("...");
    out
}

/// Search results as a JSON array of `{name, version, app_version, description}`.
pub fn format_json(hits: &[SearchHit]) -> String {
    serde_json::to_string_pretty(hits).unwrap_or_else(|_| "[]".to_owned())
}

/// An HTTP client for chart repositories, with Helm's environment (configured repositories,
/// cache folder).
///
/// Requests carry `User-Agent: chartroom/<version>`; gzip is neither requested nor decoded (as
/// Helm); basic auth is sent only to the repository's own scheme, host and port.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    env: HelmEnv,
    /// TLS options for repositories that have none of their own (`--ca-file` and friends).
    tls: TlsOptions,
    /// One HTTP client per distinct TLS configuration in use.
    by_tls: Arc<Mutex<HashMap<TlsOptions, reqwest::Client>>>,
}

impl Client {
    /// A client using `env` for configured repositories and the index cache.
    ///
    /// ```no_run
    /// use chartroom_client::helm_env::HelmEnv;
    /// use chartroom_client::index::Client;
    /// use chartroom_client::repo::Repository;
    ///
    /// # async fn demo() -> Result<(), chartroom_client::ClientError> {
    /// let env = HelmEnv::from_env()?;
    /// let repo = Repository::resolve("https://charts.example.com", &env)?;
    /// let client = Client::new(env)?;
    /// let index = client.fetch_index(&repo).await?;
    /// let latest = index.select("nginx", Some("^1.2"), false)?;
    /// println!("{} {}", latest.name, latest.version);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(env: HelmEnv) -> Result<Client, ClientError> {
        let http = http_client(&TlsOptions::default())?;
        Ok(Client { http, env, tls: TlsOptions::default(), by_tls: Arc::default() })
    }

    /// Uses `tls` for repositories whose `repositories.yaml` entry sets no TLS option of its own
    /// (the command line's `--ca-file`, `--cert-file`, `--key-file`, `--insecure-skip-tls-verify`).
    pub fn with_tls(mut self, tls: TlsOptions) -> Result<Client, ClientError> {
        // Checked now, so a wrong file is reported before any request.
        http_client(&tls)?;
        self.tls = tls;
        Ok(self)
    }

    /// The HTTP client for `repo`'s TLS options.
    fn http_for(&self, repo: &Repository) -> Result<reqwest::Client, ClientError> {
        let tls = repo.tls.or(&self.tls);
        if tls.is_default() {
            return Ok(self.http.clone());
        }
        let mut clients = self.by_tls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&tls) {
            return Ok(client.clone());
        }
        let client = http_client(&tls)?;
        clients.insert(tls, client.clone());
        Ok(client)
    }

    /// The Helm environment this client uses.
    pub fn env(&self) -> &HelmEnv {
        &self.env
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A GET of `url` with the repository's credentials when `url` has the repository's
    /// scheme, host and port, as Helm does: basic auth when both username and password are set,
    /// else its token as `Authorization: Bearer`.
    pub fn get(&self, repo: &Repository, url: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        let target = Url::parse(url).map_err(|e| ClientError::other(format!("invalid URL {url:?}: {e}")))?;
        let mut rb = self.http_for(repo)?.get(target.clone());
        if !same_origin(&repo.url, &target) {
            return Ok(rb);
        }
        if let (Some(user), Some(pass)) = (&repo.username, &repo.password) {
            rb = rb.basic_auth(user, Some(pass));
        } else if let Some(token) = &repo.token {
            rb = rb.bearer_auth(token);
        }
        Ok(rb)
    }

    /// Downloads (or revalidates) and parses the repository's `index.yaml`.
    ///
    /// The raw body is cached under Helm's repository cache folder as
    /// `chartroom-<sha256(index URL)[..16]>-index.yaml` with its ETag beside it (`.etag`); the
    /// next fetch sends `If-None-Match` and reuses the cached body on `304 Not Modified`.
    pub async fn fetch_index(&self, repo: &Repository) -> Result<RepoIndex, ClientError> {
        let url = repo.index_url()?;
        let cache = IndexCache::new(&self.env, &url);
        let cached_etag = cache.etag();
        let mut rb = self.get(repo, &url)?;
        if let Some(etag) = &cached_etag {
            rb = rb.header(reqwest::header::IF_NONE_MATCH, etag.as_str());
        }
        let resp =
            rb.send().await.map_err(|e| ClientError::network(format!("cannot reach {url}: {}", error_chain(&e))))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED && cached_etag.is_some() {
            match cache.body() {
                Some(body) => {
                    tracing::debug!(%url, path = %cache.body_path.display(), "index not modified: using the cached copy");
                    return RepoIndex::parse(&body, repo.display_name());
                }
                None => {
                    tracing::debug!(%url, "index not modified but the cached copy is gone: downloading again");
                    cache.clear();
                    return Box::pin(self.fetch_index(repo)).await;
                }
            }
        }
        check_status(status, &url, repo, ResourceKind::Index)?;
        let etag = resp.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body =
            resp.bytes().await.map_err(|e| ClientError::network(format!("cannot read {url}: {}", error_chain(&e))))?;
        let index = RepoIndex::parse(&body, repo.display_name())?;
        cache.store(&body, etag.as_deref());
        Ok(index)
    }
}

/// A client with `User-Agent: chartroom/<version>`, Helm's patience, and `tls`.
fn http_client(tls: &TlsOptions) -> Result<reqwest::Client, ClientError> {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("chartroom/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120));
    tls.apply(builder)?
        .build()
        .map_err(|e| ClientError::other(format!("cannot set up the HTTP client: {}", error_chain(&e))))
}

/// The cached copy of one index.
struct IndexCache {
    body_path: PathBuf,
    etag_path: PathBuf,
}

impl IndexCache {
    fn new(env: &HelmEnv, index_url: &str) -> IndexCache {
        let key = hex::encode(Sha256::digest(index_url.as_bytes()));
        let stem = format!("chartroom-{}-index.yaml", key.get(..16).unwrap_or(&key));
        let body_path = env.repository_cache.join(&stem);
        let etag_path = env.repository_cache.join(format!("{stem}.etag"));
        IndexCache { body_path, etag_path }
    }

    fn etag(&self) -> Option<String> {
        if !self.body_path.is_file() {
            return None;
        }
        let etag = std::fs::read_to_string(&self.etag_path).ok()?;
        let etag = etag.trim();
        (!etag.is_empty()).then(|| etag.to_owned())
    }

    fn body(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.body_path).ok()
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(&self.etag_path);
    }

    /// Best effort: a cache that cannot be written only costs a download next time.
    fn store(&self, body: &[u8], etag: Option<&str>) {
        let result = (|| -> std::io::Result<()> {
            let dir = self.body_path.parent().unwrap_or_else(|| std::path::Path::new("."));
            std::fs::create_dir_all(dir)?;
            // The ETag goes first (removed), so a crash never pairs a new ETag with an old body.
            let _ = std::fs::remove_file(&self.etag_path);
            write_atomic(dir, &self.body_path, body)?;
            if let Some(etag) = etag {
                write_atomic(dir, &self.etag_path, etag.as_bytes())?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(path = %self.body_path.display(), error = %e, "cannot cache the index");
        }
    }
}

fn write_atomic(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = tempfile::Builder::new().prefix(".chartroom-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Same scheme, host and port (default ports made explicit).
pub(crate) fn same_origin(repo_url: &str, target: &Url) -> bool {
    let Ok(base) = Url::parse(repo_url) else { return false };
    base.scheme() == target.scheme()
        && base.host_str() == target.host_str()
        && base.port_or_known_default() == target.port_or_known_default()
}

/// What was being fetched, for status messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    Index,
    Chart,
}

/// Maps a non-200 status to an error of the right kind.
pub(crate) fn check_status(
    status: StatusCode,
    url: &str,
    repo: &Repository,
    what: ResourceKind,
) -> Result<(), ClientError> {
    if status == StatusCode::OK {
        return Ok(());
    }
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let who = repo.credentials_used();
            ClientError::new(ErrorKind::Auth, format!("{url}: access denied ({status}; {who})"))
        }
        StatusCode::NOT_FOUND => match what {
            ResourceKind::Index => ClientError::not_found(format!("{url} not found: is this a chart repository?")),
            ResourceKind::Chart => ClientError::not_found(format!("{url} not found (404)")),
        },
        _ => ClientError::network(format!("failed to fetch {url}: {status}")),
    })
}

/// The innermost causes of a reqwest error, which say what actually happened
/// (`Connection refused`), without the outer "error sending request" wrappers.
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        parts.push(err.to_string());
        cur = err.source();
    }
    let mut tail: Vec<String> = parts.into_iter().rev().take(2).collect();
    tail.reverse();
    tail.dedup();
    if tail.len() == 2 && tail[0].contains(&tail[1]) {
        tail.pop();
    }
    tail.join(": ")
}

#[cfg(test)]
mod tests;
