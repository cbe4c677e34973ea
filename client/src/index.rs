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
    /// YAML; unknown fields are ignored; an entry that is not a mapping, has no name, or whose
    /// version does not parse is skipped (Helm drops invalid entries with a warning); versions
    /// are sorted newest first. An empty body or a missing `apiVersion` is an error, as in Helm.
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
            let options = serde_saphyr::options! {
                budget: serde_saphyr::budget! {
                    max_nodes: 50_000_000,
                    max_events: 200_000_000,
                    max_total_scalar_bytes: 1 << 30,
                },
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
                with_snippet: false,
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
                let version = scalar(e.version);
                let Some(name) = e.name.filter(|n| !n.is_empty()) else {
                    tracing::warn!(chart = %key, version, "skipping an index entry without a name");
                    continue;
                };
                let Ok(parsed) = Version::parse(&version) else {
                    tracing::warn!(chart = %key, version, "skipping an index entry with an invalid version");
                    continue;
                };
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
            versions.sort_by(|a, b| b.0.cmp(&a.0));
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
            for e in versions {
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
/// `DESCRIPTION` columns padded with spaces and separated by tabs, descriptions cut at 50
/// characters; `No results found` when empty.
pub fn format_table(hits: &[SearchHit]) -> String {
    if hits.is_empty() {
        return "No results found\n".to_owned();
    }
    const MAX_WIDTH: usize = 50;
    let cut = |s: &str| -> String {
        if s.chars().count() > MAX_WIDTH {
            format!("{}...", s.chars().take(MAX_WIDTH - 3).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let mut rows = vec![["NAME".to_owned(), "CHART VERSION".into(), "APP VERSION".into(), "DESCRIPTION".into()]];
    rows.extend(
        hits.iter()
            .map(|h| [cut(&h.name), cut(&h.version), cut(&h.app_version), cut(&h.description.replace('\n', " "))]),
    );
    let mut widths = [0usize; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> =
            row.iter().zip(widths).map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count()))).collect();
        out.push_str(line.join("\t").trim_end_matches(' '));
        out.push('\n');
    }
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

    /// A GET of `url` with the repository's basic auth when `url` has the repository's scheme,
    /// host and port (and both username and password are set), as Helm does.
    pub fn get(&self, repo: &Repository, url: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        let target = Url::parse(url).map_err(|e| ClientError::other(format!("invalid URL {url:?}: {e}")))?;
        let mut rb = self.http_for(repo)?.get(target.clone());
        if let (Some(user), Some(pass)) = (&repo.username, &repo.password)
            && same_origin(&repo.url, &target)
        {
            rb = rb.basic_auth(user, Some(pass));
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
            let who = match (&repo.username, &repo.password) {
                (Some(u), Some(_)) => format!("as user {u:?}"),
                (Some(u), None) => format!("user {u:?} without a password: no credentials sent"),
                _ => "no credentials sent".to_owned(),
            };
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
mod tests {
    use super::*;

    const INDEX: &str = r#"apiVersion: v1
entries:
  web:
  - name: web
    version: 1.0.0
    appVersion: "1.0"
    description: The web chart
    urls: [charts/web-1.0.0.tgz]
    digest: abc
    created: "2024-01-01T00:00:00Z"
  - name: web
    version: 1.2.0-rc.1
    urls: [charts/web-1.2.0-rc.1.tgz]
  - name: web
    version: v1.1.0
    urls: [charts/web-1.1.0.tgz]
    unknownField: {a: 1}
  - name: web
    version: not-a-version
  - null
  db:
  - name: db
    version: 2.0.0-beta.1
    description: Database
  empty: []
generated: "2024-01-01T00:00:00Z"
serverInfo:
  contextPath: /ctx
"#;

    fn index() -> RepoIndex {
        RepoIndex::parse(INDEX.as_bytes(), "repo").expect("parses")
    }

    #[test]
    fn parses_yaml_like_helm() {
        let idx = index();
        let versions: Vec<&str> = idx.entries["web"].iter().map(|e| e.version.as_str()).collect();
        assert_eq!(versions, ["1.2.0-rc.1", "v1.1.0", "1.0.0"]);
        assert_eq!(idx.context_path.as_deref(), Some("/ctx"));
        let e = &idx.entries["web"][2];
        assert_eq!(e.app_version, "1.0");
        assert_eq!(e.digest, "abc");
        assert_eq!(e.urls, ["charts/web-1.0.0.tgz"]);
        assert_eq!(e.created.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn parses_json_and_rejects_broken_indexes() {
        let json = br#"{"apiVersion":"v1","entries":{"a":[{"name":"a","version":"0.1.0","urls":["a-0.1.0.tgz"],"x":1}]},"generated":"2024-01-01T00:00:00Z"}"#;
        let idx = RepoIndex::parse(json, "j").expect("json");
        assert_eq!(idx.entries["a"][0].version, "0.1.0");
        for bad in [&b""[..], b"entries: {}\n", b"apiVersion: v1\nentries: [", b"\xff\xfe"] {
            assert_eq!(RepoIndex::parse(bad, "r").expect_err("bad").kind, ErrorKind::Other);
        }
    }

    #[test]
    fn selects_with_helm_rules() {
        let idx = index();
        assert_eq!(idx.select("web", None, false).expect("latest").version, "v1.1.0");
        assert_eq!(idx.select("web", None, true).expect("devel").version, "1.2.0-rc.1");
        assert_eq!(idx.select("web", Some("1.1.0"), false).expect("semantic equality").version, "v1.1.0");
        assert_eq!(idx.select("web", Some("v1.1.0"), false).expect("exact").version, "v1.1.0");
        assert_eq!(idx.select("web", Some("~1.0"), true).expect("devel ignored").version, "1.0.0");
        assert_eq!(idx.select("web", Some(">=1.2.0-0"), false).expect("pre allowed").version, "1.2.0-rc.1");
        let e = idx.select("web", Some("^2"), false).expect_err("none");
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "no version of web matches ^2 (available: 1.2.0-rc.1, v1.1.0, 1.0.0)");
        let e = idx.select("nope", None, false).expect_err("unknown");
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "chart nope not found in repo"));
        assert_eq!(idx.select("empty", None, false).expect_err("empty").kind, ErrorKind::NotFound);
        let e = idx.select("db", None, false).expect_err("pre only");
        assert!(e.message.contains("use --devel"), "{}", e.message);
        assert_eq!(idx.select("web", Some(">>1"), false).expect_err("bad").kind, ErrorKind::Usage);
    }

    #[test]
    fn searches_like_helm() {
        let idx = index();
        let names =
            |hits: Vec<SearchHit>| hits.into_iter().map(|h| format!("{} {}", h.name, h.version)).collect::<Vec<_>>();
        assert_eq!(names(idx.search(Some("r"), None, false, None, false).expect("all")), ["r/web v1.1.0"]);
        assert_eq!(
            names(idx.search(None, None, false, None, true).expect("devel")),
            ["db 2.0.0-beta.1", "web 1.2.0-rc.1"]
        );
        assert_eq!(
            names(idx.search(None, Some("WEB"), true, None, false).expect("versions")),
            ["web v1.1.0", "web 1.0.0"]
        );
        assert_eq!(
            names(idx.search(None, Some("datab"), false, None, true).expect("description")),
            ["db 2.0.0-beta.1"]
        );
        assert_eq!(names(idx.search(None, None, true, Some("<1.1"), false).expect("constraint")), ["web 1.0.0"]);
        assert!(idx.search(None, Some("zzz"), true, None, true).expect("none").is_empty());
        let table = format_table(&idx.search(Some("r"), None, true, None, false).expect("rows"));
        assert_eq!(
            table,
            "NAME \tCHART VERSION\tAPP VERSION\tDESCRIPTION\nr/web\tv1.1.0       \t           \t\nr/web\t1.0.0        \t1.0        \tThe web chart\n"
        );
        assert_eq!(format_table(&[]), "No results found\n");
        assert_eq!(format_json(&[]), "[]");
    }

    /// A one-connection-at-a-time HTTP server: answers each request with `respond(request
    /// head)` and records the heads.
    async fn tiny_server(respond: fn(&str) -> String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_lowercase();
                log.lock().expect("lock").push(head.clone());
                let _ = sock.write_all(respond(&head).as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (url, seen)
    }

    fn client_in(dir: &std::path::Path) -> Client {
        Client::new(HelmEnv { repository_config: dir.join("repositories.yaml"), repository_cache: dir.join("cache") })
            .expect("client")
    }

    #[tokio::test]
    async fn fetch_index_sends_credentials_and_revalidates_with_the_etag() {
        fn respond(head: &str) -> String {
            const BODY: &str = "apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.0.0}\n";
            // "alice:pw" in base64.
            if !head.contains("authorization: basic ywxpy2u6chc=") {
                return "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into();
            }
            if head.contains("if-none-match: \"v1\"") {
                return "HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\nconnection: close\r\n\r\n".into();
            }
            format!(
                "HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                BODY.len()
            )
        }
        let (url, seen) = tiny_server(respond).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let client = client_in(dir.path());

        let anonymous = Repository::from_url(&url).expect("repo");
        let e = client.fetch_index(&anonymous).await.expect_err("401");
        assert_eq!((e.kind, e.message.contains("no credentials sent")), (ErrorKind::Auth, true), "{}", e.message);
        let wrong = Repository::from_url(&url.replace("http://", "http://bob:nope@")).expect("repo");
        let e = client.fetch_index(&wrong).await.expect_err("401");
        assert!(e.kind == ErrorKind::Auth && e.message.contains("\"bob\""), "{}", e.message);

        let repo = Repository::from_url(&url.replace("http://", "http://alice:pw@")).expect("repo");
        let first = client.fetch_index(&repo).await.expect("200");
        let second = client.fetch_index(&repo).await.expect("304 reuses the cache");
        assert_eq!(first.entries["a"], second.entries["a"]);
        let heads = seen.lock().expect("lock").clone();
        assert_eq!(heads.len(), 4);
        assert!(heads.iter().all(|h| h.contains("user-agent: chartroom/") && !h.contains("accept-encoding")));
        assert!(!heads[2].contains("if-none-match") && heads[3].contains("if-none-match: \"v1\""));
    }

    #[tokio::test]
    async fn fetch_index_maps_statuses_to_error_kinds() {
        fn respond(head: &str) -> String {
            let status = if head.starts_with("get /missing/") { "404 Not Found" } else { "503 Service Unavailable" };
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        }
        let (url, _) = tiny_server(respond).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let client = client_in(dir.path());
        let e =
            client.fetch_index(&Repository::from_url(&format!("{url}/missing")).expect("repo")).await.expect_err("404");
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, format!("{url}/missing/index.yaml not found: is this a chart repository?"));
        let e = client.fetch_index(&Repository::from_url(&url).expect("repo")).await.expect_err("503");
        assert_eq!(e.kind, ErrorKind::Network);
        assert!(e.message.contains("503"), "{}", e.message);
    }

    #[test]
    fn auth_only_to_the_repository_origin() {
        let u = |s: &str| Url::parse(s).expect("url");
        assert!(same_origin("https://h/a", &u("https://h:443/a/c.tgz")));
        assert!(!same_origin("https://h/a", &u("http://h/a/c.tgz")));
        assert!(!same_origin("https://h/a", &u("https://cdn/a/c.tgz")));
        assert!(!same_origin("http://h:8080/a", &u("http://h:8081/a/c.tgz")));
    }
}
