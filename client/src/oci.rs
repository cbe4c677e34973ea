//! OCI registries: `chartroom pull oci://…`, `chartroom push <chart> oci://…` and `oci://`
//! dependencies, with Helm's rules (`helm/helm:pkg/registry`): a reference is
//! `oci://<host>[:port]/<path>/<chart>[:<tag>]`, a tag is the version with `+` written `_`, a
//! version without a tag is chosen from the tag list with the constraint rules of an index
//! (newest first, exact match first). Loopback registries are spoken to over plain HTTP, as Helm
//! 3 does (`plain_http` forces it elsewhere). Credentials are sent as `Basic` on every request: the
//! command line's, else those `helm registry login` stored for the registry
//! ([`crate::registry_auth`]).
//!
//! The chart layer is downloaded hashed on the fly and must match the manifest's digest and size
//! (a mismatch leaves nothing behind); a push uploads the config blob and the chart layer
//! (monolithic: `POST` then `PUT ?digest=`), then the manifest by tag, the bytes `helm push`
//! writes (`chartroom_chart::oci`).

use std::path::{Path, PathBuf};

use base64::Engine;
use chartroom_chart::archive::{Limits, load_archive};
use chartroom_chart::oci::{self, Descriptor};
use chartroom_chart::version::Version;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::{ClientError, ErrorKind};
use crate::index::error_chain;
use crate::registry_auth::RegistryAuths;

/// `oci://<registry>/<repository>[:<tag>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciReference {
    /// `host[:port]`
    pub registry: String,
    /// The repository path, chart name last (or, for a push, the namespace only).
    pub repository: String,
    /// The chart version of the tag (`_` read as `+`).
    pub version: Option<String>,
}

impl OciReference {
    /// Parses `oci://host[:port]/path[:tag]`.
    pub fn parse(text: &str) -> Result<OciReference, ClientError> {
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| ClientError::usage(format!("{text:?} is not an oci:// reference")))?;
        let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.is_empty() || registry.contains('@') {
            return Err(ClientError::usage(format!("{text:?}: expected oci://<host>[:port]/<path>")));
        }
        let path = path.trim_end_matches('/');
        let (repository, version) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.replace('_', "+"))),
            _ => (path, None),
        };
        if repository.split('/').any(|s| s.is_empty() || s == "." || s == "..") && !repository.is_empty() {
            return Err(ClientError::usage(format!("{text:?}: invalid repository path {repository:?}")));
        }
        Ok(OciReference { registry: registry.to_owned(), repository: repository.to_owned(), version })
    }
}

/// A chart pulled from a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciPulled {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the manifest.
    pub manifest_digest: String,
    /// Lowercase hex sha256 of the archive.
    pub digest: String,
}

/// A chart pushed to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciPushed {
    /// `host/path/name:tag`
    pub reference: String,
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the manifest.
    pub manifest_digest: String,
}

/// A registry client.
pub struct OciClient {
    http: reqwest::Client,
    plain_http: bool,
    authorization: Option<String>,
    registry_auths: RegistryAuths,
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The message of an OCI error body, or the status.
async fn refusal(response: reqwest::Response, what: &str) -> ClientError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.to_string());
    let kind = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Auth,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::CONFLICT => ErrorKind::Conflict,
        s if s.is_server_error() => ErrorKind::Network,
        _ => ErrorKind::Other,
    };
    ClientError::new(kind, format!("{what}: {message}"))
}

impl OciClient {
    /// A client; `username`/`password` are sent as `Basic` credentials.
    pub fn new(http: reqwest::Client, plain_http: bool, username: Option<&str>, password: Option<&str>) -> OciClient {
        let authorization = match (username, password) {
            (Some(u), Some(p)) => {
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))))
            }
            _ => None,
        };
        OciClient { http, plain_http, authorization, registry_auths: RegistryAuths::default() }
    }

    /// Credentials per registry (Helm's registry config) for requests without explicit ones.
    pub fn with_registry_auths(mut self, auths: RegistryAuths) -> OciClient {
        self.registry_auths = auths;
        self
    }

    /// The `Authorization` of a request to `url`: the explicit credentials, else the registry
    /// config's for its host.
    fn authorization_for(&self, url: &str) -> Option<&str> {
        if let Some(explicit) = &self.authorization {
            return Some(explicit);
        }
        let host = url.split_once("://").map_or(url, |(_, rest)| rest).split('/').next().unwrap_or("");
        self.registry_auths.for_host(host)
    }

    fn url(&self, registry: &str, path: &str) -> String {
        let scheme = if self.plain_http || is_loopback(registry) { "http" } else { "https" };
        format!("{scheme}://{registry}{path}")
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(auth) = self.authorization_for(url) {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        build(request).send().await.map_err(|e| ClientError::network(format!("{method} {url}: {}", error_chain(&e))))
    }

    /// Every tag of `repository` (following `Link` pages).
    pub async fn tags(&self, registry: &str, repository: &str) -> Result<Vec<String>, ClientError> {
        let mut url = self.url(registry, &format!("/v2/{repository}/tags/list"));
        let mut tags = Vec::new();
        for _ in 0..1000 {
            let response = self.send(Method::GET, &url, |r| r).await?;
            if !response.status().is_success() {
                return Err(refusal(response, &format!("tags of {registry}/{repository}")).await);
            }
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| l.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| ClientError::other(format!("tags of {registry}/{repository}: {}", error_chain(&e))))?;
            tags.extend(body["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)));
            match next {
                Some(next) if next.starts_with('/') => url = self.url(registry, &next),
                _ => break,
            }
        }
        Ok(tags)
    }

    /// The chart version to pull: the reference's tag, else the newest version of the tag list
    /// that satisfies `constraint` (exact match first; `devel` admits pre-releases).
    pub async fn resolve_version(
        &self,
        reference: &OciReference,
        constraint: Option<&str>,
        devel: bool,
    ) -> Result<String, ClientError> {
        if let Some(version) = &reference.version {
            return Ok(version.clone());
        }
        let mut versions: Vec<(Version, String)> = self
            .tags(&reference.registry, &reference.repository)
            .await?
            .into_iter()
            .map(|t| t.replace('_', "+"))
            .filter_map(|v| Version::parse(&v).ok().map(|parsed| (parsed, v)))
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        let candidates: Vec<String> = versions.into_iter().map(|(_, v)| v).collect();
        let requested = match constraint.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => c,
            None if devel => ">0.0.0-0",
            None => "",
        };
        let chosen = chartroom_chart::constraint::select(&candidates, |v| v.as_str(), requested)
            .map_err(|e| ClientError::usage(format!("invalid version constraint {requested:?}: {e}")))?;
        chosen.cloned().ok_or_else(|| {
            ClientError::not_found(format!(
                "no version of oci://{}/{} matches {} (tags: {})",
                reference.registry,
                reference.repository,
                if requested.is_empty() { "*" } else { requested },
                candidates.join(", ")
            ))
        })
    }

    /// Pulls a chart into `dest` as `<name>-<version>.tgz`.
    pub async fn pull(
        &self,
        reference: &OciReference,
        constraint: Option<&str>,
        devel: bool,
        dest: &Path,
    ) -> Result<OciPulled, ClientError> {
        let version = self.resolve_version(reference, constraint, devel).await?;
        let (registry, repository) = (&reference.registry, &reference.repository);
        let tag = version.replace('+', "_");
        let what = format!("{registry}/{repository}:{tag}");
        let url = self.url(registry, &format!("/v2/{repository}/manifests/{tag}"));
        let response =
            self.send(Method::GET, &url, |r| r.header(reqwest::header::ACCEPT, oci::MANIFEST_MEDIA_TYPE)).await?;
        if !response.status().is_success() {
            return Err(refusal(response, &format!("manifest of {what}")).await);
        }
        let announced =
            response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let manifest =
            response.bytes().await.map_err(|e| ClientError::network(format!("{what}: {}", error_chain(&e))))?;
        let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
        if announced.as_ref().is_some_and(|a| *a != manifest_digest) {
            return Err(ClientError::new(
                ErrorKind::Integrity,
                format!(
                    "{what}: the manifest's digest is {manifest_digest}, the registry says {}",
                    announced.unwrap_or_default()
                ),
            ));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| ClientError::other(format!("{what}: the manifest is not JSON: {e}")))?;
        let layers: Vec<Descriptor> = serde_json::from_value(parsed["layers"].clone())
            .map_err(|e| ClientError::other(format!("{what}: unreadable layers: {e}")))?;
        let layer = layers
            .iter()
            .find(|l| l.media_type == oci::CHART_LAYER_MEDIA_TYPE || l.media_type == oci::LEGACY_CHART_LAYER_MEDIA_TYPE)
            .ok_or_else(|| ClientError::other(format!("{what} is not a Helm chart (no chart layer)")))?;
        let url = self.url(registry, &format!("/v2/{repository}/blobs/{}", layer.digest));
        let response = self.send(Method::GET, &url, |r| r).await?;
        if !response.status().is_success() {
            return Err(refusal(response, &format!("chart layer of {what}")).await);
        }
        let chart = response.bytes().await.map_err(|e| ClientError::network(format!("{what}: {}", error_chain(&e))))?;
        let digest = sha256_hex(&chart);
        if format!("sha256:{digest}") != layer.digest || chart.len() as u64 != layer.size {
            return Err(ClientError::new(
                ErrorKind::Integrity,
                format!(
                    "{what}: the chart layer is sha256:{digest} ({} bytes), the manifest says {} ({} bytes)",
                    chart.len(),
                    layer.digest,
                    layer.size
                ),
            ));
        }
        let loaded = load_archive(&chart, &Limits::default())
            .map_err(|e| ClientError::other(format!("{what}: the chart layer is not a valid chart: {e}")))?;
        std::fs::create_dir_all(dest)
            .map_err(|e| ClientError::other(format!("cannot create {}: {e}", dest.display())))?;
        let name = loaded.metadata.name.clone();
        let path = dest.join(format!("{name}-{}.tgz", loaded.metadata.version));
        let io = |e: std::io::Error| ClientError::other(format!("cannot write {}: {e}", path.display()));
        let mut staged = tempfile::Builder::new().prefix(".chartroom-pull-").tempfile_in(dest).map_err(io)?;
        std::io::Write::write_all(&mut staged, &chart).map_err(io)?;
        staged.persist(&path).map_err(|e| io(e.error))?;
        Ok(OciPulled { path, name, version: loaded.metadata.version, manifest_digest, digest })
    }

    /// Uploads one blob unless the repository has it.
    async fn put_blob(&self, registry: &str, repository: &str, data: &[u8]) -> Result<String, ClientError> {
        let digest = format!("sha256:{}", sha256_hex(data));
        let head =
            self.send(Method::HEAD, &self.url(registry, &format!("/v2/{repository}/blobs/{digest}")), |r| r).await?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let started =
            self.send(Method::POST, &self.url(registry, &format!("/v2/{repository}/blobs/uploads/")), |r| r).await?;
        if started.status() != StatusCode::ACCEPTED {
            return Err(refusal(started, &format!("upload to {registry}/{repository}")).await);
        }
        let location = started
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::other("the registry gave no upload location"))?
            .to_owned();
        let location = if location.starts_with('/') { self.url(registry, &location) } else { location };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let body = data.to_vec();
        let done = self
            .send(Method::PUT, &url, |r| r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream").body(body))
            .await?;
        if done.status() != StatusCode::CREATED {
            return Err(refusal(done, &format!("upload to {registry}/{repository}")).await);
        }
        Ok(digest)
    }

    /// Pushes a chart archive (and its provenance file) to `oci://<registry>/<namespace>`, as
    /// `<namespace>/<chart name>:<version with + as _>`.
    pub async fn push(
        &self,
        target: &OciReference,
        chart: Vec<u8>,
        prov: Option<Vec<u8>>,
    ) -> Result<OciPushed, ClientError> {
        if target.version.is_some() {
            return Err(ClientError::usage(
                "push to oci://<host>[/<namespace>], without a tag: the tag is the chart's version",
            ));
        }
        let loaded =
            load_archive(&chart, &Limits::default()).map_err(|e| ClientError::usage(format!("invalid chart: {e}")))?;
        let (name, version) = (loaded.metadata.name.clone(), loaded.metadata.version.clone());
        let repository =
            if target.repository.is_empty() { name.clone() } else { format!("{}/{name}", target.repository) };
        let registry = target.registry.as_str();
        let config = oci::config_json(&loaded.metadata).map_err(|e| ClientError::other(format!("config: {e}")))?;
        let created = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let annotations = oci::annotations(&loaded.metadata, &created);
        let config_digest = self.put_blob(registry, &repository, config.as_bytes()).await?;
        let chart_digest = self.put_blob(registry, &repository, &chart).await?;
        let mut layers = vec![Descriptor {
            media_type: oci::CHART_LAYER_MEDIA_TYPE.into(),
            digest: chart_digest,
            size: chart.len() as u64,
        }];
        if let Some(prov) = &prov {
            let prov_digest = self.put_blob(registry, &repository, prov).await?;
            layers.push(Descriptor {
                media_type: oci::PROVENANCE_LAYER_MEDIA_TYPE.into(),
                digest: prov_digest,
                size: prov.len() as u64,
            });
        }
        let config =
            Descriptor { media_type: oci::CONFIG_MEDIA_TYPE.into(), digest: config_digest, size: config.len() as u64 };
        let manifest = oci::manifest_json(&config, &layers, &annotations)
            .map_err(|e| ClientError::other(format!("manifest: {e}")))?;
        let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
        let tag = version.replace('+', "_");
        let url = self.url(registry, &format!("/v2/{repository}/manifests/{tag}"));
        let response = self
            .send(Method::PUT, &url, |r| {
                r.header(reqwest::header::CONTENT_TYPE, oci::MANIFEST_MEDIA_TYPE).body(manifest)
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(refusal(response, &format!("manifest of {registry}/{repository}:{tag}")).await);
        }
        Ok(OciPushed { reference: format!("{registry}/{repository}:{tag}"), name, version, manifest_digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = OciReference::parse("oci://127.0.0.1:5000/team/demo:1.0.0_b1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/demo");
        assert_eq!(r.version.as_deref(), Some("1.0.0+b1"));
        let r = OciReference::parse("oci://registry.example.com").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.version), ("registry.example.com", "", None));
        assert!(OciReference::parse("https://x/y").is_err());
        assert!(OciReference::parse("oci:///x").is_err());
        assert!(OciReference::parse("oci://h/a//b").is_err());
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:80"));
        assert!(!is_loopback("registry.example.com:5000"));
    }
}
