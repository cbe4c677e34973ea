//! Installing a chart as a self-contained folder: the chart and, recursively, everything it
//! depends on, every download digest-verified, laid out so that `helm template` and
//! `helm install` accept it with no network.
//!
//! How [`Client::install`] works:
//!
//! 1. the chart is pulled with [`Client::pull`] (version selection with Helm's rules, sha256
//!    compared with the index digest) into a temporary folder inside the destination;
//! 2. the archive is validated ([`load_archive`]) and every file of it, subcharts under
//!    `charts/` included ([`extract_all`]), is written to `<temp>/<chart name>/`;
//! 3. for the chart and every subchart reachable under `charts/` (packaged `charts/*.tgz`
//!    subcharts are first unpacked into `charts/<name>/` folders, so that their own
//!    dependencies can be checked): every `Chart.yaml` dependency that is not present in its
//!    `charts/` (matched by the subchart's `Chart.yaml` name, as Helm's `CheckDependencies`
//!    does) is fetched with [`Client::dependency_build`] when the folder has a `Chart.lock`,
//!    else with [`Client::dependency_update`]; the subcharts fetched are processed in turn
//!    (at most [`MAX_DEPTH`] levels deep; a chart that would have to fetch its own ancestor is
//!    refused as a cycle);
//! 4. the finished folder is renamed to `<dest>/<chart name>/`. On any failure nothing is left
//!    in the destination.
//!
//! Subcharts shipped inside an archive are kept as they are (a folder wins over a download of a
//! chart of the same name). A dependency without a repository (`repository: ""`) must be shipped
//! in `charts/`: when it is missing the installation fails, as `helm template` would.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use chartroom_chart::archive::{ArchiveError, Limits, extract_all, load_archive};
use chartroom_chart::metadata::{Dependency, Metadata};

use crate::error::{ClientError, ErrorKind};
use crate::index::Client;
use crate::repo::Repository;

/// Deepest nesting of subcharts (`charts/a/charts/b/...`) an installation lays out.
pub const MAX_DEPTH: usize = 10;

/// An installed chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The chart folder: `<dest>/<chart name>`.
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    /// Lowercase hex SHA-256 of the chart's archive (equal to the index digest).
    pub digest: String,
    /// Every subchart of the installed tree as `(name, version)`, depth first, in `charts/`
    /// name order, each pair once.
    pub dependencies: Vec<(String, String)>,
}

/// One chart folder still to be checked.
struct Pending {
    dir: PathBuf,
    depth: usize,
    /// `name version` of this chart and its ancestors, root first.
    ancestry: Vec<String>,
}

impl Client {
    /// Installs `chart` from `repo` as a self-contained chart folder `<dest>/<chart name>/`
    /// (`dest` is created when missing; the chart folder must not exist yet: that is an
    /// [`ErrorKind::Conflict`]).
    ///
    /// The version is chosen as by [`Client::pull`] (`version` is a constraint or an exact
    /// version; `devel` admits pre-releases when no version is given). The archive and every
    /// dependency downloaded for it are verified against their index digests (a mismatch is an
    /// [`ErrorKind::Integrity`] error; bytes that match but do not load are an invalid archive,
    /// [`ErrorKind::Usage`]). Packaged subcharts (`charts/*.tgz`) are unpacked into
    /// folders; dependencies missing from `charts/` are fetched recursively with
    /// [`Client::dependency_build`] (when a `Chart.lock` is present) or
    /// [`Client::dependency_update`]. See the [module documentation](self) for the details.
    ///
    /// Everything is assembled in a temporary folder inside `dest` and renamed into place at the
    /// end: on failure nothing is left behind.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use chartroom_client::{helm_env::HelmEnv, index::Client, repo::Repository};
    ///
    /// # async fn demo() -> Result<(), chartroom_client::ClientError> {
    /// let env = HelmEnv::from_env()?;
    /// let repo = Repository::resolve("stable", &env)?;
    /// let client = Client::new(env)?;
    /// let installed = client.install(&repo, "wordpress", Some("^15"), false, Path::new("vendor")).await?;
    /// for (name, version) in &installed.dependencies {
    ///     println!("with {name} {version}");
    /// }
    /// println!("helm install {} {}", installed.name, installed.path.display());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn install(
        &self,
        repo: &Repository,
        chart: &str,
        version: Option<&str>,
        devel: bool,
        dest: &Path,
    ) -> Result<Installed, ClientError> {
        if !usable_name(chart) {
            return Err(ClientError::usage(format!("invalid chart name {chart:?}")));
        }
        // Cheap early check (the index name is the Chart.yaml name on Helm-made indexes); the
        // name from the archive is checked again before the final rename.
        check_absent(&dest.join(chart))?;
        let created_dest = !dest.exists();
        std::fs::create_dir_all(dest)
            .map_err(|e| ClientError::other(format!("cannot create {}: {e}", dest.display())))?;
        let result = self.install_in(repo, chart, version, devel, dest).await;
        if result.is_err() && created_dest {
            // Only succeeds when empty: the folder this call created and left unused.
            let _ = std::fs::remove_dir(dest);
        }
        result
    }

    async fn install_in(
        &self,
        repo: &Repository,
        chart: &str,
        version: Option<&str>,
        devel: bool,
        dest: &Path,
    ) -> Result<Installed, ClientError> {
        let staging = tempfile::Builder::new()
            .prefix(".chartroom-install-")
            .tempdir_in(dest)
            .map_err(|e| ClientError::other(format!("cannot write into {}: {e}", dest.display())))?;
        let pulled = self.pull(repo, chart, version, devel, staging.path(), false).await?;
        let bytes = std::fs::read(&pulled.path)
            .map_err(|e| ClientError::other(format!("cannot read {}: {e}", pulled.path.display())))?;
        let label = pulled.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = std::fs::remove_file(&pulled.path);
        let (root, metadata) = unpack(&bytes, &label, staging.path(), |md| Some(md.name.clone()))?;
        let target = dest.join(&metadata.name);
        check_absent(&target)?;

        self.complete(&root, &metadata).await?;
        let mut dependencies = Vec::new();
        list_subcharts(&root, 0, &mut dependencies)?;

        check_absent(&target)?;
        std::fs::rename(&root, &target)
            .map_err(|e| ClientError::other(format!("cannot move the chart to {}: {e}", target.display())))?;
        drop(staging);
        Ok(Installed {
            path: target,
            name: metadata.name,
            version: metadata.version,
            digest: pulled.digest,
            dependencies,
        })
    }

    /// Makes the chart folder `root` self-contained (step 3 of the module documentation).
    async fn complete(&self, root: &Path, metadata: &Metadata) -> Result<(), ClientError> {
        let mut pending = vec![Pending { dir: root.to_path_buf(), depth: 0, ancestry: vec![ident(metadata)] }];
        while let Some(node) = pending.pop() {
            let md = read_chart(&node.dir)?;
            unpack_packaged_subcharts(&node.dir)?;
            let mut subcharts = subchart_folders(&node.dir)?;
            let missing = missing_dependencies(&md, &subcharts);
            if !missing.is_empty() {
                let chart = node.ancestry.join(" → ");
                if let Some(dep) = missing.iter().find(|d| d.repository.is_empty()) {
                    return Err(ClientError::not_found(format!(
                        "chart {chart}: dependency {} declares no repository and is missing from charts/",
                        dep.name
                    )));
                }
                if node.ancestry.iter().rev().skip(1).any(|a| *a == ident(&md)) {
                    return Err(ClientError::other(format!("dependency cycle: {chart} would be fetched again")));
                }
                let names: Vec<&str> = missing.iter().map(|d| d.name.as_str()).collect();
                tracing::info!(chart = %chart, missing = ?names, "fetching missing dependencies");
                let before: HashSet<OsString> = charts_entries(&node.dir)?.into_iter().collect();
                let present: HashSet<String> = subcharts.iter().map(|(_, m)| m.name.clone()).collect();
                self.fetch_dependencies(&node.dir).await?;
                drop_shadowed_downloads(&node.dir, &before, &present)?;
                unpack_packaged_subcharts(&node.dir)?;
                subcharts = subchart_folders(&node.dir)?;
                let still = missing_dependencies(&md, &subcharts);
                if let Some(dep) = still.first() {
                    return Err(ClientError::not_found(format!(
                        "chart {chart}: dependency {} ({} from {}) is still missing from charts/ after resolving dependencies",
                        dep.name, dep.version, dep.repository
                    )));
                }
            }
            if !subcharts.is_empty() && node.depth + 1 > MAX_DEPTH {
                return Err(ClientError::other(format!(
                    "chart {}: subcharts are nested more than {MAX_DEPTH} levels deep",
                    node.ancestry.join(" → ")
                )));
            }
            for (dir, sub) in subcharts.into_iter().rev() {
                let mut ancestry = node.ancestry.clone();
                ancestry.push(ident(&sub));
                pending.push(Pending { dir, depth: node.depth + 1, ancestry });
            }
        }
        Ok(())
    }

    /// Resolves the dependencies of the chart folder `dir` into its `charts/`: from its
    /// `Chart.lock` when it has one, else from `Chart.yaml`.
    async fn fetch_dependencies(&self, dir: &Path) -> Result<(), ClientError> {
        let report = if dir.join("Chart.lock").is_file() {
            self.dependency_build(dir).await?
        } else {
            self.dependency_update(dir).await?
        };
        for dep in &report.dependencies {
            tracing::info!(name = %dep.name, version = %dep.version, repository = %dep.repository, "dependency resolved");
        }
        Ok(())
    }
}

/// `name version` of a chart, for cycle detection and messages.
fn ident(md: &Metadata) -> String {
    format!("{} {}", md.name, md.version)
}

/// A name usable as one path component.
fn usable_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']))
}

fn check_absent(path: &Path) -> Result<(), ClientError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(ClientError::new(
            ErrorKind::Conflict,
            format!("cannot install: {} already exists", path.display()),
        ));
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::other(format!("cannot write {}: {e}", path.display()))
}

/// Validates a chart archive and writes all its files into a new folder of `parent`, named by
/// `folder_name(metadata)` (`None`: no usable name). Returns the folder and the metadata.
fn unpack(
    bytes: &[u8],
    label: &str,
    parent: &Path,
    folder_name: impl Fn(&Metadata) -> Option<String>,
) -> Result<(PathBuf, Metadata), ClientError> {
    let limits = Limits::default();
    let invalid = |e: ArchiveError| ClientError::invalid_archive(format!("{label} is not a valid chart archive: {e}"));
    let metadata = load_archive(bytes, &limits).map_err(invalid)?.metadata;
    if !usable_name(&metadata.name) {
        return Err(ClientError::invalid_archive(format!("{label}: unusable chart name {:?}", metadata.name)));
    }
    let name = folder_name(&metadata).ok_or_else(|| {
        ClientError::other(format!("{label}: no free folder name for chart {} in {}", metadata.name, parent.display()))
    })?;
    let files = extract_all(bytes, &limits).map_err(invalid)?;
    let staging =
        tempfile::Builder::new().prefix(".chartroom-unpack-").tempdir_in(parent).map_err(|e| io_error(parent, e))?;
    for f in &files {
        let mut path = staging.path().to_path_buf();
        for part in f.path.split('/') {
            if !usable_name(part) {
                return Err(ClientError::invalid_archive(format!("{label}: unsafe path {:?}", f.path)));
            }
            path.push(part);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        std::fs::write(&path, &f.data).map_err(|e| io_error(&path, e))?;
    }
    let target = parent.join(&name);
    check_absent(&target)?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &target) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io_error(&target, e));
    }
    Ok((target, metadata))
}

/// The chart's `Chart.yaml` (with the dependencies of a legacy `requirements.yaml`, which Helm
/// merges into apiVersion v1 charts).
fn read_chart(dir: &Path) -> Result<Metadata, ClientError> {
    let path = dir.join("Chart.yaml");
    let bytes = std::fs::read(&path).map_err(|e| ClientError::other(format!("cannot read {}: {e}", path.display())))?;
    let mut md =
        Metadata::from_yaml(&bytes).map_err(|e| ClientError::invalid_archive(format!("{}: {e}", path.display())))?;
    let req = dir.join("requirements.yaml");
    if md.api_version == "v1"
        && let Ok(bytes) = std::fs::read(&req)
    {
        #[derive(serde::Deserialize)]
        struct Requirements {
            #[serde(default)]
            dependencies: Option<Vec<Dependency>>,
        }
        let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).into_owned();
        let parsed: Option<Requirements> =
            serde_saphyr::from_str_with_options(&text, chartroom_chart::yaml::read_options())
                .map_err(|e| ClientError::invalid_archive(format!("{}: {e}", req.display())))?;
        if let Some(deps) = parsed.and_then(|r| r.dependencies) {
            md.dependencies = deps;
        }
    }
    Ok(md)
}

/// Names in `<dir>/charts/`, sorted (none when there is no `charts/`).
fn charts_entries(dir: &Path) -> Result<Vec<OsString>, ClientError> {
    let charts = dir.join("charts");
    let entries = match std::fs::read_dir(&charts) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClientError::other(format!("cannot read {}: {e}", charts.display()))),
    };
    let mut names = entries
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::other(format!("cannot read {}: {e}", charts.display())))?;
    names.sort();
    Ok(names)
}

/// Entries of `charts/` Helm loads as subcharts: not starting with `_` or `.`.
fn loaded_by_helm(name: &str) -> bool {
    !(name.starts_with('_') || name.starts_with('.'))
}

/// Packaged subcharts `charts/<x>.tgz` that Helm loads, unpacked into `charts/<chart name>/` (or `charts/<chart name>-<version>/` when that
/// is taken), the archive removed.
fn unpack_packaged_subcharts(dir: &Path) -> Result<(), ClientError> {
    let charts = dir.join("charts");
    for entry in charts_entries(dir)? {
        let Some(name) = entry.to_str() else { continue };
        if !loaded_by_helm(name) || !name.ends_with(".tgz") {
            continue;
        }
        let path = charts.join(name);
        if !std::fs::symlink_metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        let bytes =
            std::fs::read(&path).map_err(|e| ClientError::other(format!("cannot read {}: {e}", path.display())))?;
        let label = path.display().to_string();
        unpack(&bytes, &label, &charts, |md| {
            [md.name.clone(), format!("{}-{}", md.name, md.version)]
                .into_iter()
                .find(|n| usable_name(n) && std::fs::symlink_metadata(charts.join(n)).is_err())
        })?;
        std::fs::remove_file(&path)
            .map_err(|e| ClientError::other(format!("cannot remove {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Packaged subcharts the dependency resolution just added (not in `before`) for a chart that
/// `charts/` already held (`present`, by name): removed, the shipped folder wins.
fn drop_shadowed_downloads(
    dir: &Path,
    before: &HashSet<OsString>,
    present: &HashSet<String>,
) -> Result<(), ClientError> {
    let charts = dir.join("charts");
    for entry in charts_entries(dir)? {
        let Some(name) = entry.to_str() else { continue };
        if before.contains(&entry) || !loaded_by_helm(name) || !name.ends_with(".tgz") {
            continue;
        }
        let path = charts.join(name);
        let bytes =
            std::fs::read(&path).map_err(|e| ClientError::other(format!("cannot read {}: {e}", path.display())))?;
        let md = load_archive(&bytes, &Limits::default())
            .map_err(|e| ClientError::invalid_archive(format!("{} is not a valid chart archive: {e}", path.display())))?
            .metadata;
        if present.contains(&md.name) {
            tracing::debug!(path = %path.display(), "already shipped in charts/: keeping the shipped folder");
            std::fs::remove_file(&path)
                .map_err(|e| ClientError::other(format!("cannot remove {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// The subchart folders of `dir` (after unpacking), with their metadata, in name order.
fn subchart_folders(dir: &Path) -> Result<Vec<(PathBuf, Metadata)>, ClientError> {
    let charts = dir.join("charts");
    let mut out = Vec::new();
    for entry in charts_entries(dir)? {
        let Some(name) = entry.to_str() else { continue };
        let path = charts.join(name);
        if !loaded_by_helm(name) || !std::fs::symlink_metadata(&path).map(|m| m.is_dir()).unwrap_or(false) {
            continue;
        }
        let md = read_chart(&path)?;
        out.push((path, md));
    }
    Ok(out)
}

/// Dependencies of `md` with no subchart of that name in `subcharts` (Helm's check).
fn missing_dependencies<'a>(md: &'a Metadata, subcharts: &[(PathBuf, Metadata)]) -> Vec<&'a Dependency> {
    md.dependencies.iter().filter(|d| !subcharts.iter().any(|(_, s)| s.name == d.name)).collect()
}

/// Every subchart under `dir` as `(name, version)`, depth first, each pair once.
fn list_subcharts(dir: &Path, depth: usize, out: &mut Vec<(String, String)>) -> Result<(), ClientError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for (path, md) in subchart_folders(dir)? {
        let pair = (md.name, md.version);
        if !out.contains(&pair) {
            out.push(pair);
        }
        list_subcharts(&path, depth + 1, out)?;
    }
    Ok(())
}
