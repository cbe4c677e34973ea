//! Pulling a chart: version selection with Helm's rules, a streamed download hashed on the fly
//! into a temporary file beside the destination, digest verification against the index, and an
//! atomic rename (or a bounded extraction with `untar`).
//!
//! Unlike Helm (which never compares the index digest with the downloaded bytes), a mismatch is
//! refused and leaves nothing behind.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chartroom_chart::archive::{Limits, extract_all, load_archive};
use futures::StreamExt;
use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{ClientError, ErrorKind};
use crate::index::{Client, ResourceKind, check_status, error_chain};
use crate::repo::{Repository, resolve_reference_url};

/// A pulled chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledChart {
    /// The archive written (`<dest>/<file name of the chart URL>`), or with `untar` the chart
    /// folder (`<dest>/<chart name>`).
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    /// Lowercase hex SHA-256 of the downloaded archive.
    pub digest: String,
}

impl Client {
    /// Pulls `chart` from `repo` into `dest` (created when missing).
    ///
    /// The version is chosen with [`crate::index::RepoIndex::select`] (`version` is a
    /// constraint or an exact version; `devel` admits pre-releases when no version is given).
    /// The download goes to a temporary file in `dest` while being hashed; when the index
    /// announces a digest and it differs, the temporary file is removed and an
    /// [`ErrorKind::Integrity`] error is returned. Otherwise the file is renamed atomically to
    /// `<dest>/<basename of the URL path>` (replacing an older file of that name, as Helm does).
    ///
    /// With `untar`, the archive is validated and all its files, subcharts under `charts/`
    /// included, are written to `<dest>/<chart name>/` (which must not exist yet) instead, as
    /// `helm pull --untar` does; the archive is not kept. An archive that does not load (its
    /// digest matched) is an invalid archive, [`ErrorKind::Usage`], not an integrity failure.
    ///
    /// A progress bar is drawn on stderr when stderr is a terminal.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use chartroom_client::{helm_env::HelmEnv, index::Client, repo::Repository};
    ///
    /// # async fn demo() -> Result<(), chartroom_client::ClientError> {
    /// let env = HelmEnv::from_env()?;
    /// let repo = Repository::resolve("stable", &env)?;
    /// let client = Client::new(env)?;
    /// let pulled = client.pull(&repo, "nginx", Some("~1.2"), false, Path::new("."), false).await?;
    /// println!("{} {} sha256:{}", pulled.name, pulled.version, pulled.digest);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn pull(
        &self,
        repo: &Repository,
        chart: &str,
        version: Option<&str>,
        devel: bool,
        dest: &Path,
        untar: bool,
    ) -> Result<PulledChart, ClientError> {
        let index = self.fetch_index(repo).await?;
        let entry = index.select(chart, version, devel)?;
        let first = entry.urls.first().filter(|u| !u.is_empty()).ok_or_else(|| {
            ClientError::not_found(format!("chart {} version {} has no downloadable URLs", entry.name, entry.version))
        })?;
        let url = resolve_reference_url(&repo.url, first)?;
        let file_name = file_name_of(&url)?;
        let expected = expected_digest(&entry.digest);

        std::fs::create_dir_all(dest)
            .map_err(|e| ClientError::other(format!("cannot create {}: {e}", dest.display())))?;
        let (tmp, digest) = self.download(repo, &url, dest).await?;
        if let Some(expected) = &expected
            && !expected.eq_ignore_ascii_case(&digest)
        {
            drop(tmp);
            return Err(ClientError::new(
                ErrorKind::Integrity,
                format!("digest mismatch for {file_name}: index says {expected}, downloaded {digest}"),
            ));
        }
        if expected.is_none() {
            tracing::warn!(%url, "the index has no usable sha256 digest for this chart: not verified");
        }

        if untar {
            let bytes = std::fs::read(tmp.path())
                .map_err(|e| ClientError::other(format!("cannot read {}: {e}", tmp.path().display())))?;
            drop(tmp);
            let path = untar_chart(&bytes, dest, &file_name)?;
            return Ok(PulledChart { path, name: entry.name.clone(), version: entry.version.clone(), digest });
        }
        let path = dest.join(&file_name);
        tmp.persist(&path).map_err(|e| ClientError::other(format!("cannot write {}: {}", path.display(), e.error)))?;
        Ok(PulledChart { path, name: entry.name.clone(), version: entry.version.clone(), digest })
    }

    /// Streams `url` into a temporary file in `dir`, hashing as it goes.
    async fn download(
        &self,
        repo: &Repository,
        url: &str,
        dir: &Path,
    ) -> Result<(tempfile::NamedTempFile, String), ClientError> {
        let resp = self
            .get(repo, url)?
            .header(reqwest::header::ACCEPT, "application/gzip,application/octet-stream")
            .send()
            .await
            .map_err(|e| ClientError::network(format!("cannot reach {url}: {}", error_chain(&e))))?;
        check_status(resp.status(), url, repo, ResourceKind::Chart)?;

        let io_err = |e: std::io::Error| ClientError::other(format!("cannot write into {}: {e}", dir.display()));
        let tmp =
            tempfile::Builder::new().prefix(".chartroom-pull-").suffix(".tmp").tempfile_in(dir).map_err(io_err)?;
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(io_err)?);
        let progress = progress_bar(resp.content_length(), url);
        let mut hasher = Sha256::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ClientError::network(format!("cannot download {url}: {}", error_chain(&e))))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_err)?;
            progress.inc(chunk.len() as u64);
        }
        file.flush().await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        progress.finish_and_clear();
        Ok((tmp, hex::encode(hasher.finalize())))
    }
}

/// A progress bar on stderr when stderr is a terminal, else a hidden one.
pub(crate) fn progress_bar(len: Option<u64>, url: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let name = url.rsplit('/').next().unwrap_or(url).to_owned();
    let bar = match len {
        Some(n) => indicatif::ProgressBar::with_draw_target(Some(n), indicatif::ProgressDrawTarget::stderr()),
        None => indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr()),
    };
    let template = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})"
    } else {
        "{msg} {bytes} ({bytes_per_sec})"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name);
    bar
}

/// The sha256 hex the index promises: `digest` with an optional `sha256:` prefix; `None` when
/// empty or of another algorithm.
fn expected_digest(digest: &str) -> Option<String> {
    let d = digest.trim();
    let d = match d.split_once(':') {
        Some((algo, hex)) if algo.eq_ignore_ascii_case("sha256") => hex,
        Some(_) => return None,
        None => d,
    };
    (!d.is_empty()).then(|| d.to_ascii_lowercase())
}

/// Helm's saved file name, `path.Base(url.Path)`, refused when it could escape the folder.
fn file_name_of(url: &str) -> Result<String, ClientError> {
    let parsed = Url::parse(url).map_err(|e| ClientError::other(format!("invalid chart URL {url:?}: {e}")))?;
    let last = parsed.path().rsplit('/').next().unwrap_or("");
    let name = crate::repo::percent_decode(last);
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(ClientError::other(format!("chart URL {url} does not end in a file name")));
    }
    Ok(name)
}

/// Validates the archive and writes its top-level chart files to `<dest>/<chart name>/`,
/// through a temporary folder renamed into place.
fn untar_chart(bytes: &[u8], dest: &Path, file_name: &str) -> Result<PathBuf, ClientError> {
    let limits = Limits::default();
    // The digest matched (or there was none): these bytes are what the repository serves.
    let invalid = |e: chartroom_chart::archive::ArchiveError| {
        ClientError::invalid_archive(format!("{file_name} is not a valid chart archive: {e}"))
    };
    let loaded = load_archive(bytes, &limits).map_err(invalid)?;
    let name = loaded.metadata.name.clone();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(ClientError::invalid_archive(format!("{file_name}: unusable chart name {name:?}")));
    }
    let target = dest.join(&name);
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(ClientError::new(
            ErrorKind::Conflict,
            format!("cannot untar: {} already exists", target.display()),
        ));
    }
    let files = extract_all(bytes, &limits).map_err(invalid)?;
    let io_err = |p: &Path, e: std::io::Error| ClientError::other(format!("cannot write {}: {e}", p.display()));
    let staging = tempfile::Builder::new().prefix(".chartroom-untar-").tempdir_in(dest).map_err(|e| io_err(dest, e))?;
    for f in &files {
        let mut path = staging.path().to_path_buf();
        for part in f.path.split('/') {
            if part.is_empty() || part == "." || part == ".." || part.contains(['\\', '\0']) {
                return Err(ClientError::invalid_archive(format!("{file_name}: unsafe path {:?}", f.path)));
            }
            path.push(part);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        std::fs::write(&path, &f.data).map_err(|e| io_err(&path, e))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &target) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io_err(&target, e));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_file_names() {
        assert_eq!(expected_digest("sha256:ABC"), Some("abc".into()));
        assert_eq!(expected_digest("abc"), Some("abc".into()));
        assert_eq!(expected_digest(""), None);
        assert_eq!(expected_digest("sha512:abc"), None);
        assert_eq!(file_name_of("http://h/a/c-1.0.0.tgz?tok=1").expect("name"), "c-1.0.0.tgz");
        assert_eq!(file_name_of("http://h/a/c%201.tgz").expect("name"), "c 1.tgz");
        assert!(file_name_of("http://h/a/").is_err());
        assert!(file_name_of("http://h/a/..%2F..%2Fx").is_err());
    }
}
