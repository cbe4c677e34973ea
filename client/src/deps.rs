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
//!   digest-checked ([`crate::oci`]); loopback registries over plain HTTP, as Helm does; the
//!   credentials `helm registry login` stored ([`crate::registry_auth`]).
//!
//! Resolution: the first version of the repository index (newest first) that has download URLs
//! and satisfies the Masterminds constraint. Downloads go to `charts/tmpcharts-<pid>/`
//! (digest-verified, see [`crate::pull`]) and each must load as a chart; when all succeeded, they
//! are moved into `charts/` and every other chart archive of `charts/` is deleted, except those
//! of dependencies with repository `""` (Helm's `safeMoveDeps`). Archive names are the base names
//! of the download URLs.
//!
//! The lock digest is Helm's `HashReq` ([`lock_digest`]). `Chart.lock` is written only when
//! there was none or its digest changed.
//!
//! Differences from Helm: only the indexes of the repositories the dependencies use are fetched
//! (Helm refreshes every configured repository); `dependency build` does not require the lock's
//! repositories to be configured with `helm repo add`; `apiVersion: v1` charts
//! (`requirements.yaml`) are refused; a downloaded archive whose sha256 differs from the index is
//! refused; a downloaded archive that does not load as a chart fails the whole operation (an
//! invalid-archive error naming the dependency; `charts/` and `Chart.lock` are left as they were)
//! where Helm skips it with a message and reports success.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chartroom_chart::archive::{Limits, load_archive, read_metadata};
use chartroom_chart::constraint::Constraint;
use chartroom_chart::metadata::{Dependency, Metadata};
use chartroom_chart::package::{PackageOptions, package};
use chartroom_chart::version::Version;

use crate::error::{ClientError, ErrorKind};
use crate::helm_env::RepoEntry;
use crate::index::{Client, RepoIndex};
use crate::oci::{OciClient, OciReference};
use crate::repo::Repository;

mod lock;

use lock::*;
pub use lock::{ChartLock, LockedDependency, lock_digest};

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
    /// A registry client sharing this client's connections, with the credentials of Helm's
    /// registry config.
    fn oci(&self) -> Result<OciClient, ClientError> {
        let auths = crate::registry_auth::RegistryAuths::from_env()?;
        Ok(OciClient::new(self.http().clone(), false, None, None).with_registry_auths(auths))
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
                Source::Oci(reference) => match self.oci()?.resolve_version(reference, Some(&d.version), false).await {
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
                    let pulled =
                        self.pull(repo, &dep.name, Some(&dep.version), false, &tmp.0, false).await.map_err(|e| {
                            ClientError::new(
                                e.kind,
                                format!(
                                    "could not download {} {} from {}: {}",
                                    dep.name, dep.version, dep.repository, e
                                ),
                            )
                        })?;
                    check_loads(dep, &pulled.path)?;
                }
                Source::Oci(reference) => {
                    let exact = OciReference { version: Some(dep.version.clone()), ..reference.clone() };
                    let pulled = self.oci()?.pull(&exact, None, false, &tmp.0).await.map_err(|e| {
                        ClientError::new(
                            e.kind,
                            format!("could not download {} {} from {}: {}", dep.name, dep.version, dep.repository, e),
                        )
                    })?;
                    check_loads(dep, &pulled.path)?;
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

/// A downloaded dependency must load as a chart; Helm only skips one that does not (and reports
/// success with `charts/` missing it), which would leave the chart unrenderable.
fn check_loads(dep: &LockedDependency, path: &Path) -> Result<(), ClientError> {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|e| ClientError::other(format!("cannot read {}: {e}", path.display())))?;
    load_archive(&bytes, &Limits::default()).map(|_| ()).map_err(|e| {
        ClientError::invalid_archive(format!(
            "dependency {} {} from {}: {file} is not a valid chart archive: {e}",
            dep.name, dep.version, dep.repository
        ))
    })
}

/// Helm's `safeMoveDeps`: the archives of `source` (each already checked to load) move into
/// `dest`; then every chart archive of `dest` that was not just moved is deleted, unless its chart
/// is a dependency with repository `""`. Files of `dest` that do not load as charts are left alone.
fn safe_move(deps: &[LockedDependency], sources: &[Source], source: &Path, dest: &Path) -> Result<(), ClientError> {
    let limits = Limits::default();
    let local: BTreeSet<&str> =
        deps.iter().zip(sources).filter(|(_, s)| matches!(s, Source::Local)).map(|(d, _)| d.name.as_str()).collect();
    let existing = list_files(dest)?;
    let mut moved = BTreeSet::new();
    for name in list_files(source)? {
        let from = source.join(&name);
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

#[cfg(test)]
mod tests;
