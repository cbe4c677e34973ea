//! Chart dependencies: `chartroom dependency update` and `chartroom dependency build`, with
//! Helm's semantics (`pkg/downloader/manager.go`, `internal/resolver/resolver.go`) so that a
//! `Chart.lock` written by one tool is accepted unchanged by the other.
//!
//! Repositories of `Chart.yaml` `dependencies[]`:
//!
//! * `""`: the chart is the folder `charts/<name>` (left alone; the lock keeps the constraint);
//! * `file://<path>` (relative to the chart folder, or absolute): that folder is packaged with
//!   Chartroom's packager into `charts/<name>-<version>.tgz`; the lock holds its version;
//! * `@name` / `alias:name`: a repository configured with `helm repo add`, **rewritten to its URL**
//!   in the lock and in the digest input, as Helm does;
//! * an `http(s)://` URL: a configured repository with the same URL (trailing `/` ignored) lends
//!   its credentials; any other URL is fetched as it is;
//! * `oci://<host>[/<path>]`: the OCI repository `<path>/<name>` of that registry; the version
//!   is chosen from its tags (`_` read as `+`, newest first) and the chart layer downloaded
//!   digest-checked ([`crate::oci`]); loopback registries over plain HTTP, as Helm does.
//!
//! Resolution: the first version of the repository index (newest first) that has download URLs
//! and satisfies the Masterminds constraint. Downloads go to `charts/tmpcharts-<pid>/`
//! (digest-verified, see [`crate::pull`]); when all succeeded, the archives that load are moved
//! into `charts/` and every other chart archive of `charts/` is deleted, except those of
//! dependencies with repository `""` (Helm's `safeMoveDeps`). Archive names are the base names
//! of the download URLs.
//!
//! The lock digest is Helm's `HashReq` ([`lock_digest`]). `Chart.lock` is written only when
//! there was none or its digest changed.
//!
//! Differences from Helm: only the indexes of the repositories the dependencies use are fetched
//! (Helm refreshes every configured repository); `dependency build` does not require the lock's
//! repositories to be configured with `helm repo add`; `apiVersion: v1` charts
//! (`requirements.yaml`) are refused; a downloaded archive whose sha256 differs from the index is
//! refused.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chartroom_chart::archive::{Limits, load_archive, read_metadata};
use chartroom_chart::constraint::Constraint;
use chartroom_chart::metadata::{Dependency, Metadata};
use chartroom_chart::package::{PackageOptions, package};
use chartroom_chart::version::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ClientError, ErrorKind};
use crate::helm_env::RepoEntry;
use crate::index::{Client, RepoIndex};
use crate::oci::{OciClient, OciReference};
use crate::repo::Repository;

/// One entry of `Chart.lock` `dependencies` (Helm writes only these three fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedDependency {
    pub name: String,
    /// The resolved version (for repository `""`: the constraint of `Chart.yaml`).
    pub version: String,
    /// The repository URL (`@name` aliases already rewritten), `file://…`, or `""`.
    pub repository: String,
}

impl LockedDependency {
    fn as_dependency(&self) -> Dependency {
        Dependency {
            name: self.name.clone(),
            version: self.version.clone(),
            repository: self.repository.clone(),
            ..Default::default()
        }
    }
}

/// A `Chart.lock` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartLock {
    /// When it was generated (RFC 3339, as written).
    pub generated: String,
    /// `sha256:<hex>`, see [`lock_digest`].
    pub digest: String,
    pub dependencies: Vec<LockedDependency>,
}

/// What `dependency update` / `build` did.
#[derive(Debug, Clone)]
pub struct DependencyReport {
    /// The locked dependencies, in `Chart.yaml` (or `Chart.lock`) order.
    pub dependencies: Vec<LockedDependency>,
    /// Whether `Chart.lock` was (re)written.
    pub lock_written: bool,
}

/// `Chart.lock` as parsed, keeping every field of its entries (they are all part of the digest).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLock {
    generated: Option<serde_json::Value>,
    digest: Option<serde_json::Value>,
    dependencies: Option<Vec<Option<Dependency>>>,
}

use crate::index::scalar;

impl ChartLock {
    /// Parses `Chart.lock` bytes (unknown keys ignored, scalars taken as written).
    ///
    /// ```
    /// use chartroom_client::deps::ChartLock;
    /// let lock = ChartLock::parse(b"dependencies:\n- name: redis\n  repository: https://charts.example.com/stable\n  version: 17.3.7\ndigest: sha256:84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194\ngenerated: \"2024-01-02T03:04:05.123456789Z\"\n")?;
    /// assert_eq!(lock.dependencies[0].version, "17.3.7");
    /// assert_eq!(ChartLock::parse(lock.to_yaml().as_bytes())?, lock);
    /// # Ok::<(), chartroom_client::ClientError>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<ChartLock, ClientError> {
        Ok(parse_lock(bytes)?.0)
    }

    /// The file as Helm writes it (`yaml.Marshal(lock)`): keys sorted, `dependencies` entries
    /// with `name`, `repository` and `version` (omitted when empty), strings quoted only where
    /// YAML needs it.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        if self.dependencies.is_empty() {
            out.push_str("dependencies: []\n");
        } else {
            out.push_str("dependencies:\n");
            for d in &self.dependencies {
                out.push_str(&format!("- name: {}\n", yaml_scalar(&d.name)));
                out.push_str(&format!("  repository: {}\n", yaml_scalar(&d.repository)));
                if !d.version.is_empty() {
                    out.push_str(&format!("  version: {}\n", yaml_scalar(&d.version)));
                }
            }
        }
        out.push_str(&format!("digest: {}\n", yaml_scalar(&self.digest)));
        out.push_str(&format!("generated: {}\n", yaml_scalar(&self.generated)));
        out
    }
}

/// A lock's `dependencies` as written (`None`: absent, Go's nil slice; `None` items: `null`).
type RawLockDeps = Option<Vec<Option<Dependency>>>;

fn parse_lock(bytes: &[u8]) -> Result<(ChartLock, RawLockDeps), ClientError> {
    let bad = |reason: String| ClientError::usage(format!("cannot parse Chart.lock: {reason}"));
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not valid UTF-8: {e}")))?;
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        with_snippet: false,
    };
    let raw: Option<RawLock> = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| bad(e.to_string().trim().lines().next().unwrap_or("").to_owned()))?;
    let raw = raw.unwrap_or_default();
    let lock = ChartLock {
        generated: scalar(raw.generated),
        digest: scalar(raw.digest),
        dependencies: raw
            .dependencies
            .iter()
            .flatten()
            .flatten()
            .map(|d| LockedDependency {
                name: d.name.clone(),
                version: d.version.clone(),
                repository: d.repository.clone(),
            })
            .collect(),
    };
    Ok((lock, raw.dependencies))
}

/// Helm's `resolver.HashReq`: `"sha256:" + hex(sha256(json.Marshal([2][]*Dependency{requested,
/// locked})))`, with Go's `encoding/json` (field order of Helm's `Dependency`, empty fields
/// omitted, HTML escaping). `requested` are the `Chart.yaml` dependencies after `@name` →
/// URL rewriting; aliases, conditions, tags and import-values are part of it.
///
/// ```
/// use chartroom_chart::metadata::Dependency;
/// use chartroom_client::deps::{LockedDependency, lock_digest};
///
/// let requested = [Dependency {
///     name: "redis".into(),
///     version: ">=17.0.0 <18.0.0".into(),
///     repository: "https://charts.example.com/stable".into(),
///     alias: "cache".into(),
///     ..Default::default()
/// }];
/// let locked = [LockedDependency {
///     name: "redis".into(),
///     version: "17.3.7".into(),
///     repository: "https://charts.example.com/stable".into(),
/// }];
/// assert!(lock_digest(&requested, &locked)?.starts_with("sha256:"));
/// # Ok::<(), chartroom_client::ClientError>(())
/// ```
pub fn lock_digest(requested: &[Dependency], locked: &[LockedDependency]) -> Result<String, ClientError> {
    let locked: Vec<Option<Dependency>> = locked.iter().map(|d| Some(d.as_dependency())).collect();
    hash_req(requested, Some(&locked))
}

/// `HashReq` over the raw lock entries (a missing list is Go's nil slice: `null`; so is an
/// empty `requested`, which comes from a `Chart.yaml` without dependencies).
fn hash_req(requested: &[Dependency], locked: Option<&[Option<Dependency>]>) -> Result<String, ClientError> {
    let requested = (!requested.is_empty()).then_some(requested);
    let json = chartroom_chart::gojson::to_vec(&(requested, locked))
        .map_err(|e| ClientError::other(format!("cannot hash the dependencies: {e}")))?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(&json))))
}

/// Where a dependency comes from.
#[derive(Debug, Clone)]
enum Source {
    /// Repository `""`: the folder `charts/<name>`.
    Local,
    /// `file://`: a chart folder to package.
    File(PathBuf),
    /// A chart repository.
    Http(Repository),
    /// An OCI registry: the repository of the chart.
    Oci(OciReference),
}

/// A loaded chart folder: its metadata and its lock, if any.
struct ChartDir {
    metadata: Metadata,
    lock: Option<(ChartLock, RawLockDeps)>,
}

fn load_chart_dir(chart_dir: &Path) -> Result<ChartDir, ClientError> {
    let chart_yaml = chart_dir.join("Chart.yaml");
    let bytes = match std::fs::read(&chart_yaml) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::usage(format!(
                "{} is not a chart folder: Chart.yaml file is missing",
                chart_dir.display()
            )));
        }
        Err(e) => return Err(ClientError::usage(format!("cannot read {}: {e}", chart_yaml.display()))),
    };
    let metadata =
        Metadata::from_yaml(&bytes).map_err(|e| ClientError::usage(format!("{}: {e}", chart_dir.display())))?;
    if metadata.api_version == "v1"
        && (chart_dir.join("requirements.yaml").exists() || !metadata.dependencies.is_empty())
    {
        return Err(ClientError::usage(format!(
            "{}: apiVersion v1 charts (requirements.yaml, requirements.lock) are not supported: use apiVersion v2",
            chart_dir.display()
        )));
    }
    let lock_path = chart_dir.join("Chart.lock");
    let lock = match std::fs::read(&lock_path) {
        Ok(b) => {
            Some(parse_lock(&b).map_err(|e| ClientError::usage(format!("{}: {}", lock_path.display(), e.message)))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ClientError::usage(format!("cannot read {}: {e}", lock_path.display()))),
    };
    Ok(ChartDir { metadata, lock })
}

/// Helm's `resolver.GetLocalPath`: `file://` stripped, absolute or relative to the chart folder,
/// and it must exist.
fn local_path(repository: &str, chart_dir: &Path) -> Result<PathBuf, ClientError> {
    let p = repository.strip_prefix("file://").unwrap_or(repository);
    let path = if Path::new(p).is_absolute() { PathBuf::from(p) } else { chart_dir.join(p) };
    match std::fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ClientError::not_found(format!("directory {} not found", path.display())))
        }
        Err(e) => Err(ClientError::usage(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Helm's `urlutil.Equal`: URLs equal once an empty path is `/` and a trailing `/` is dropped.
fn url_equal(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> Option<String> {
        let mut u = reqwest::Url::parse(s).ok()?;
        let path = u.path().trim_end_matches('/').to_owned();
        u.set_path(if path.is_empty() { "/" } else { &path });
        Some(u.to_string())
    }
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

/// Helm's `resolveRepoNames`: where each dependency comes from; `@name` / `alias:name`
/// repositories are rewritten to the configured URL in place.
fn plan(deps: &mut [Dependency], chart_dir: &Path, repos: &[RepoEntry]) -> Result<Vec<Source>, ClientError> {
    let mut sources = Vec::with_capacity(deps.len());
    let mut missing = Vec::new();
    for d in deps.iter_mut() {
        let r = d.repository.as_str();
        if r.is_empty() {
            sources.push(Source::Local);
            continue;
        }
        if r.starts_with("file://") {
            sources.push(Source::File(local_path(r, chart_dir)?));
            continue;
        }
        if r.starts_with("oci://") {
            let mut reference = OciReference::parse(&format!("{}/{}", r.trim_end_matches('/'), d.name))?;
            reference.version = None;
            sources.push(Source::Oci(reference));
            continue;
        }
        let alias = r.strip_prefix('@').or_else(|| r.strip_prefix("alias:"));
        let found = repos.iter().find(|e| match alias {
            Some(name) => e.name == name,
            None => url_equal(&e.url, r),
        });
        match found {
            Some(entry) => {
                if alias.is_some() {
                    d.repository = entry.url.clone();
                }
                sources.push(Source::Http(Repository::from_entry(entry)?));
            }
            None if alias.is_none() && has_scheme(r) => sources.push(Source::Http(Repository::from_url(r)?)),
            None => {
                missing.push(r.to_owned());
                sources.push(Source::Local);
            }
        }
    }
    if !missing.is_empty() {
        let mut message =
            format!("no repository definition for {}. Please add them via 'helm repo add'", missing.join(", "));
        if missing.iter().any(|r| !r.contains("//") && !r.starts_with('@') && !r.starts_with("alias:")) {
            message.push_str(
                "\nNote that repositories must be URLs or aliases. For example, to refer to the \"example\"\n\
                 repository, use \"https://charts.example.com/\" or \"@example\" instead of\n\
                 \"example\". Don't forget to add the repo, too ('helm repo add').",
            );
        }
        return Err(ClientError::not_found(message));
    }
    Ok(sources)
}

fn has_scheme(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn parse_constraint(d_name: &str, version: &str) -> Result<Constraint, ClientError> {
    Constraint::parse(version)
        .map_err(|e| ClientError::usage(format!("dependency {d_name:?} has an invalid version/constraint format: {e}")))
}

/// `charts/<name>/Chart.yaml` or `<folder>/Chart.yaml`, loaded.
fn read_chart_yaml(dir: &Path) -> Result<Metadata, ClientError> {
    let path = dir.join("Chart.yaml");
    let bytes = std::fs::read(&path)
        .map_err(|e| ClientError::usage(format!("unable to load chart '{}': {e}", dir.display())))?;
    Metadata::from_yaml(&bytes)
        .map_err(|e| ClientError::usage(format!("unable to load chart '{}': {e}", dir.display())))
}

impl Client {
    /// A registry client sharing this client's connections (no credentials).
    fn oci(&self) -> OciClient {
        OciClient::new(self.http().clone(), false, None, None)
    }
}

/// Removes the temporary download folder however the operation ends.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Client {
    /// `helm dependency update`: resolves the `Chart.yaml` dependencies of `chart_dir` against
    /// their repositories, downloads them into `charts/` (stale archives removed) and writes
    /// `Chart.lock` when it is missing or its digest changed. See the [module](self) docs.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use chartroom_client::{helm_env::HelmEnv, index::Client};
    ///
    /// # async fn demo() -> Result<(), chartroom_client::ClientError> {
    /// let client = Client::new(HelmEnv::from_env()?)?;
    /// let report = client.dependency_update(Path::new("./mychart")).await?;
    /// for d in &report.dependencies {
    ///     println!("{} {} from {}", d.name, d.version, d.repository);
    /// }
    /// let report = client.dependency_build(Path::new("./mychart")).await?; // from Chart.lock
    /// assert!(!report.lock_written);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dependency_update(&self, chart_dir: &Path) -> Result<DependencyReport, ClientError> {
        let chart = load_chart_dir(chart_dir)?;
        self.update_loaded(chart_dir, chart).await
    }

    /// `helm dependency build`: without `Chart.lock`, the same as
    /// [`dependency_update`](Self::dependency_update). Otherwise the lock's digest must be the
    /// digest of the current `Chart.yaml` dependencies and the lock's entries (else a usage error:
    /// "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml)"), and
    /// exactly the locked versions are downloaded into `charts/`. `Chart.lock` is not rewritten.
    pub async fn dependency_build(&self, chart_dir: &Path) -> Result<DependencyReport, ClientError> {
        let chart = load_chart_dir(chart_dir)?;
        let Some((lock, raw_locked)) = &chart.lock else {
            return self.update_loaded(chart_dir, chart).await;
        };
        let repos = self.env().repositories()?;
        let mut req = chart.metadata.dependencies.clone();
        plan(&mut req, chart_dir, &repos)?;
        let digest = hash_req(&req, raw_locked.as_deref())?;
        if digest != lock.digest {
            return Err(ClientError::usage(
                "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml). Please update the dependencies",
            ));
        }
        let mut locked_deps: Vec<Dependency> = lock.dependencies.iter().map(|d| d.as_dependency()).collect();
        let sources = plan(&mut locked_deps, chart_dir, &repos)?;
        self.download_all(chart_dir, &lock.dependencies, &sources).await?;
        Ok(DependencyReport { dependencies: lock.dependencies.clone(), lock_written: false })
    }

    async fn update_loaded(&self, chart_dir: &Path, chart: ChartDir) -> Result<DependencyReport, ClientError> {
        let mut req = chart.metadata.dependencies.clone();
        if req.is_empty() {
            return Ok(DependencyReport { dependencies: Vec::new(), lock_written: false });
        }
        let repos = self.env().repositories()?;
        let sources = plan(&mut req, chart_dir, &repos)?;
        let locked = self.resolve(&req, &sources, chart_dir).await?;
        self.download_all(chart_dir, &locked, &sources).await?;
        let digest = lock_digest(&req, &locked)?;
        let unchanged = chart.lock.as_ref().is_some_and(|(old, _)| old.digest == digest);
        if !unchanged {
            let lock = ChartLock { generated: rfc3339_nano_now(), digest, dependencies: locked.clone() };
            write_lock(chart_dir, &lock)?;
        }
        Ok(DependencyReport { dependencies: locked, lock_written: !unchanged })
    }

    /// Helm's `Resolver.Resolve`: one locked entry per dependency; unsatisfiable ones collected.
    async fn resolve(
        &self,
        req: &[Dependency],
        sources: &[Source],
        chart_dir: &Path,
    ) -> Result<Vec<LockedDependency>, ClientError> {
        let mut indexes: HashMap<String, RepoIndex> = HashMap::new();
        let mut locked = Vec::with_capacity(req.len());
        let mut missing = Vec::new();
        for (d, source) in req.iter().zip(sources) {
            let constraint = parse_constraint(&d.name, &d.version)?;
            let lock = |version: &str| LockedDependency {
                name: d.name.clone(),
                version: version.to_owned(),
                repository: d.repository.clone(),
            };
            let unsatisfied = || format!("{:?} (repository {:?}, version {:?})", d.name, d.repository, d.version);
            match source {
                Source::Local => {
                    local_path(&format!("charts/{}", d.name), chart_dir)?;
                    locked.push(lock(&d.version));
                }
                Source::File(dir) => {
                    let md = read_chart_yaml(dir)?;
                    match Version::parse(&md.version) {
                        Ok(v) if constraint.matches(&v) => locked.push(lock(&md.version)),
                        _ => {
                            missing.push(unsatisfied());
                            locked.push(lock(""));
                        }
                    }
                }
                Source::Http(repo) => {
                    if !indexes.contains_key(&repo.url) {
                        let index = self.fetch_index(repo).await?;
                        indexes.insert(repo.url.clone(), index);
                    }
                    let versions = indexes.get(&repo.url).and_then(|i| i.entries.get(&d.name)).ok_or_else(|| {
                        ClientError::not_found(format!("{} chart not found in repo {}", d.name, d.repository))
                    })?;
                    let found = versions.iter().find(|e| {
                        !e.urls.is_empty() && Version::parse(&e.version).is_ok_and(|v| constraint.matches(&v))
                    });
                    match found {
                        Some(e) => locked.push(lock(&e.version)),
                        None => {
                            missing.push(unsatisfied());
                            locked.push(lock(""));
                        }
                    }
                }
                Source::Oci(reference) => match self.oci().resolve_version(reference, Some(&d.version), false).await {
                    Ok(version) => locked.push(lock(&version)),
                    Err(e) if e.kind == ErrorKind::NotFound => {
                        missing.push(unsatisfied());
                        locked.push(lock(""));
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        if !missing.is_empty() {
            return Err(ClientError::not_found(format!(
                "can't get a valid version for {} subchart(s): {}. Make sure a matching chart version exists in the repo, or change the version constraint in Chart.yaml",
                missing.len(),
                missing.join(", ")
            )));
        }
        Ok(locked)
    }

    /// Helm's `downloadAll` + `safeMoveDeps`.
    async fn download_all(
        &self,
        chart_dir: &Path,
        deps: &[LockedDependency],
        sources: &[Source],
    ) -> Result<(), ClientError> {
        let charts = chart_dir.join("charts");
        match std::fs::metadata(&charts) {
            Ok(m) if !m.is_dir() => {
                return Err(ClientError::usage(format!("{:?} is not a directory", charts.display().to_string())));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(&charts)
                .map_err(|e| ClientError::other(format!("cannot create {}: {e}", charts.display())))?,
            Err(e) => return Err(ClientError::other(format!("cannot read {}: {e}", charts.display()))),
        }
        let tmp = TmpDir(charts.join(format!("tmpcharts-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&tmp.0);
        std::fs::create_dir_all(&tmp.0)
            .map_err(|e| ClientError::other(format!("cannot create {}: {e}", tmp.0.display())))?;

        let mut fetched: HashSet<(String, String, String)> = HashSet::new();
        for (dep, source) in deps.iter().zip(sources) {
            match source {
                Source::Local => {
                    let dir = charts.join(&dep.name);
                    let md = read_chart_yaml(&dir)?;
                    let constraint = parse_constraint(&dep.name, &dep.version)?;
                    let v = Version::parse(&md.version).map_err(|e| {
                        ClientError::usage(format!("invalid version {} for dependency {}: {e}", md.version, dep.name))
                    })?;
                    if !constraint.matches(&v) {
                        return Err(ClientError::usage(format!(
                            "dependency {} at version {} does not satisfy the constraint {}",
                            dep.name, md.version, dep.version
                        )));
                    }
                }
                Source::File(dir) => {
                    let constraint = parse_constraint(&dep.name, &dep.version)?;
                    let files = crate::package::read_chart_dir(dir)?;
                    let packaged = package(files, &PackageOptions::default()).map_err(|e| {
                        ClientError::usage(format!("packaging {} ({}): {e}", dep.repository, dir.display()))
                    })?;
                    if !Version::parse(&packaged.metadata.version).is_ok_and(|v| constraint.matches(&v)) {
                        return Err(ClientError::not_found(format!(
                            "can't get a valid version for dependency {}",
                            dep.name
                        )));
                    }
                    let path = tmp.0.join(&packaged.file_name);
                    std::fs::write(&path, &packaged.bytes)
                        .map_err(|e| ClientError::other(format!("cannot write {}: {e}", path.display())))?;
                }
                Source::Http(repo) => {
                    if !fetched.insert((repo.url.clone(), dep.name.clone(), dep.version.clone())) {
                        continue;
                    }
                    self.pull(repo, &dep.name, Some(&dep.version), false, &tmp.0, false).await.map_err(|e| {
                        ClientError::new(
                            e.kind,
                            format!("could not download {} {} from {}: {}", dep.name, dep.version, dep.repository, e),
                        )
                    })?;
                }
                Source::Oci(reference) => {
                    let exact = OciReference { version: Some(dep.version.clone()), ..reference.clone() };
                    self.oci().pull(&exact, None, false, &tmp.0).await.map_err(|e| {
                        ClientError::new(
                            e.kind,
                            format!("could not download {} {} from {}: {}", dep.name, dep.version, dep.repository, e),
                        )
                    })?;
                }
            }
        }
        safe_move(deps, sources, &tmp.0, &charts)
    }
}

fn list_files(dir: &Path) -> Result<Vec<String>, ClientError> {
    let mut names = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| ClientError::other(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| ClientError::other(format!("cannot read {}: {e}", dir.display())))?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if let (false, Some(name)) = (is_dir, entry.file_name().to_str()) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Helm's `safeMoveDeps`: archives of `source` that load move into `dest`; then every chart
/// archive of `dest` that was not just moved is deleted, unless its chart is a dependency with
/// repository `""`. Files that do not load as charts are left alone.
fn safe_move(deps: &[LockedDependency], sources: &[Source], source: &Path, dest: &Path) -> Result<(), ClientError> {
    let limits = Limits::default();
    let local: BTreeSet<&str> =
        deps.iter().zip(sources).filter(|(_, s)| matches!(s, Source::Local)).map(|(d, _)| d.name.as_str()).collect();
    let existing = list_files(dest)?;
    let mut moved = BTreeSet::new();
    for name in list_files(source)? {
        let from = source.join(&name);
        let loads = std::fs::read(&from).map(|b| load_archive(&b, &limits).is_ok()).unwrap_or(false);
        if !loads {
            tracing::warn!(file = %from.display(), "downloaded file does not load as a chart: skipped");
            continue;
        }
        let to = dest.join(&name);
        std::fs::rename(&from, &to).map_err(|e| ClientError::other(format!("cannot move {}: {e}", to.display())))?;
        moved.insert(name);
    }
    for name in existing {
        if moved.contains(&name) {
            continue;
        }
        let path = dest.join(&name);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(chart) = read_metadata(&bytes, &limits) else { continue };
        if local.contains(chart.metadata.name.as_str()) {
            continue;
        }
        tracing::debug!(file = %path.display(), "deleting an outdated chart");
        std::fs::remove_file(&path)
            .map_err(|e| ClientError::other(format!("cannot remove {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Writes `Chart.lock` atomically (refusing to replace a symbolic link, as Helm does).
fn write_lock(chart_dir: &Path, lock: &ChartLock) -> Result<(), ClientError> {
    use std::io::Write;
    let dest = chart_dir.join("Chart.lock");
    if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ClientError::usage(format!("cannot write {}: it is a symbolic link", dest.display())));
    }
    let io = |e: std::io::Error| ClientError::other(format!("cannot write {}: {e}", dest.display()));
    let mut tmp = tempfile::Builder::new().prefix(".Chart.lock.").tempfile_in(chart_dir).map_err(io)?;
    tmp.write_all(lock.to_yaml().as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&dest).map_err(|e| io(e.error))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644));
    }
    Ok(())
}

/// Now, as Go's `time.Time` JSON (RFC 3339 with trailing-zero-trimmed nanoseconds), in UTC.
fn rfc3339_nano_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339_nano(d.as_secs(), d.subsec_nanos())
}

fn rfc3339_nano(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, (rem % 3600) / 60, rem % 60);
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// A string as go-yaml v2 writes it in block context: double-quoted when it would read back as
/// another type (null, bool, number, timestamp) or holds control characters, single-quoted when
/// a plain scalar cannot start or contain it, plain otherwise.
fn yaml_scalar(s: &str) -> String {
    if s.is_empty() || resolves_to_non_string(s) || s.chars().any(|c| c.is_control()) {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    let first = s.chars().next().unwrap_or(' ');
    let second_blank = s.chars().nth(1).is_none_or(|c| c == ' ');
    let plain = !(s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || "#,[]{}&*!|>'\"%@`".contains(first)
        || (matches!(first, '-' | '?' | ':') && second_blank));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', "''")) }
}

/// go-yaml v2 `resolve`: would this plain scalar be read as something other than a string?
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
        "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain = s.replace('_', "");
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let lower = unsigned.to_ascii_lowercase();
    // Go's ParseInt(base 0) and ParseFloat.
    let is_int = |t: &str| {
        if let Some(h) = t.strip_prefix("0x") {
            return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
        }
        if let Some(b) = t.strip_prefix("0b") {
            return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
        }
        if let Some(o) = t.strip_prefix("0o") {
            return !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c));
        }
        !t.is_empty() && t.chars().all(|c| c.is_ascii_digit())
    };
    let is_float = |t: &str| {
        if matches!(t, "inf" | "infinity" | "nan") {
            return true;
        }
        let (mantissa, exp) = match t.find('e') {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let exp_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        exp_ok
            && !(int.is_empty() && frac.is_empty())
            && int.chars().all(|c| c.is_ascii_digit())
            && frac.chars().all(|c| c.is_ascii_digit())
    };
    if is_int(&lower) || is_float(&lower) {
        return true;
    }
    // Base 60 (`1:20`) and timestamps (`2006-1-2`, `2006-1-2T15:04:05Z`, `2006-1-2 15:4:5`).
    let base60 = {
        let mut parts = unsigned.split(':');
        let head = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        !rest.is_empty()
            && !head.is_empty()
            && head.chars().all(|c| c.is_ascii_digit())
            && rest.iter().enumerate().all(|(i, p)| {
                let p = if i + 1 == rest.len() { p.split('.').next().unwrap_or("") } else { p };
                !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit())
            })
    };
    base60 || looks_like_timestamp(s)
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let month = parts.next().unwrap_or("");
    let tail = parts.next().unwrap_or("");
    let day_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    let after = &tail[day_len..];
    (1..=2).contains(&month.len())
        && month.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day_len)
        && (after.is_empty() || after.starts_with(['T', 't', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn vector() -> (Vec<Dependency>, Vec<LockedDependency>) {
        let req = vec![
            Dependency {
                name: "redis".into(),
                version: ">=17.0.0 <18.0.0".into(),
                repository: "https://charts.example.com/stable".into(),
                condition: "redis.enabled".into(),
                alias: "cache".into(),
                ..Default::default()
            },
            Dependency {
                name: "common".into(),
                version: "2.x.x".into(),
                repository: "oci://registry.example.com/charts".into(),
                tags: vec!["base".into()],
                import_values: vec![serde_json::json!("defaults"), serde_json::json!({"parent": "c", "child": "a.b"})],
                ..Default::default()
            },
        ];
        let lock = vec![
            LockedDependency {
                name: "redis".into(),
                version: "17.3.7".into(),
                repository: "https://charts.example.com/stable".into(),
            },
            LockedDependency {
                name: "common".into(),
                version: "2.2.1".into(),
                repository: "oci://registry.example.com/charts".into(),
            },
        ];
        (req, lock)
    }

    /// helm-client.md §11.2.
    #[test]
    fn lock_digest_matches_the_helm_vector() {
        let (req, lock) = vector();
        assert_eq!(
            lock_digest(&req, &lock).expect("digest"),
            "sha256:84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194"
        );
        // The same from a parsed Chart.yaml and a parsed Chart.lock.
        let md = Metadata::from_yaml(
            b"apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: \">=17.0.0 <18.0.0\"\n  repository: https://charts.example.com/stable\n  condition: redis.enabled\n  alias: cache\n- name: common\n  version: 2.x.x\n  repository: oci://registry.example.com/charts\n  tags: [base]\n  import-values:\n  - defaults\n  - parent: c\n    child: a.b\n",
        )
        .expect("Chart.yaml");
        let text = "dependencies:\n- name: redis\n  repository: https://charts.example.com/stable\n  version: 17.3.7\n- name: common\n  repository: oci://registry.example.com/charts\n  version: 2.2.1\ndigest: sha256:84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194\ngenerated: \"2024-01-02T03:04:05.123456789Z\"\n";
        let (parsed, raw) = parse_lock(text.as_bytes()).expect("lock");
        assert_eq!(parsed.dependencies, lock);
        assert_eq!(parsed.generated, "2024-01-02T03:04:05.123456789Z");
        assert_eq!(hash_req(&md.dependencies, raw.as_deref()).expect("digest"), parsed.digest);
        // Helm's output, byte for byte.
        assert_eq!(parsed.to_yaml(), text);
        // Anything in the requested list changes the digest.
        let mut changed = req.clone();
        changed[1].tags.clear();
        assert_ne!(lock_digest(&changed, &lock).expect("digest"), parsed.digest);
    }

    #[test]
    fn yaml_scalars_like_go_yaml() {
        for (s, want) in [
            ("1.2.0", "1.2.0"),
            ("1.0", "\"1.0\""),
            ("1", "\"1\""),
            ("", "\"\""),
            ("^1.0", "^1.0"),
            ("~1.2", "~1.2"),
            (">=1.0.0 <2", "'>=1.0.0 <2'"),
            ("https://h/a", "https://h/a"),
            ("file://../local", "file://../local"),
            ("2024-01-02T03:04:05.1Z", "\"2024-01-02T03:04:05.1Z\""),
            ("true", "\"true\""),
            ("1.x", "1.x"),
            ("- x", "'- x'"),
            ("it's: x", "'it''s: x'"),
            ("1e3", "\"1e3\""),
        ] {
            assert_eq!(yaml_scalar(s), want, "{s}");
        }
    }

    #[test]
    fn timestamps_like_go() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1_704_164_645, 123_456_789), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(rfc3339_nano(951_782_400, 500_000_000), "2000-02-29T00:00:00.5Z");
    }

    #[test]
    fn urls_compare_like_helm() {
        assert!(url_equal("http://127.0.0.1:8080", "http://127.0.0.1:8080/"));
        assert!(url_equal("https://h/a/", "https://h/a"));
        assert!(!url_equal("https://h/a", "https://h/b"));
        assert!(has_scheme("https://h") && !has_scheme("stable") && !has_scheme("@x"));
    }

    #[test]
    fn plans_aliases_urls_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("local")).expect("mkdir");
        let repos = vec![RepoEntry {
            name: "myrepo".into(),
            url: "http://127.0.0.1:1/charts/".into(),
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        }];
        let dep = |repository: &str| Dependency {
            name: "x".into(),
            version: "^1".into(),
            repository: repository.into(),
            ..Default::default()
        };
        let mut deps = vec![
            dep("@myrepo"),
            dep("alias:myrepo"),
            dep("http://127.0.0.1:1/charts"),
            dep("https://elsewhere.example/x"),
            dep("file://local"),
            dep(""),
        ];
        let sources = plan(&mut deps, dir.path(), &repos).expect("plan");
        assert_eq!(deps[0].repository, "http://127.0.0.1:1/charts/");
        assert_eq!(deps[1].repository, "http://127.0.0.1:1/charts/");
        assert_eq!(deps[2].repository, "http://127.0.0.1:1/charts");
        match &sources[2] {
            Source::Http(r) => assert_eq!((r.username.as_deref(), r.name.as_deref()), (Some("u"), Some("myrepo"))),
            other => panic!("{other:?}"),
        }
        match &sources[3] {
            Source::Http(r) => assert_eq!((r.username.as_deref(), r.name.as_deref()), (None, None)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(sources[4], Source::File(_)) && matches!(sources[5], Source::Local));

        let err = plan(&mut [dep("@nope")], dir.path(), &repos).expect_err("unknown alias");
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.starts_with("no repository definition for @nope"), "{}", err.message);
        let err = plan(&mut [dep("stable")], dir.path(), &repos).expect_err("bare name");
        assert!(err.message.contains("must be URLs or aliases"), "{}", err.message);
        // `oci://<registry>/<path>`: the chart's repository is `<path>/<name>`.
        match plan(&mut [dep("oci://r/charts/")], dir.path(), &repos).expect("oci").as_slice() {
            [Source::Oci(r)] => assert_eq!((r.registry.as_str(), r.repository.as_str()), ("r", "charts/x")),
            other => panic!("{other:?}"),
        }
        let err = plan(&mut [dep("file://absent")], dir.path(), &repos).expect_err("absent");
        assert!(err.message.contains("not found"), "{}", err.message);
    }
}
