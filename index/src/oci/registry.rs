//! The OCI view of a repository: manifests, blobs, tags and referrers of `<tenant>/<name>`,
//! over the charts the index has and the objects pushed under `.chartroom/oci/`.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::archive::{self, LoadedChart};
use chartroom_storage::{ObjectStream, Storage, StorageError};

use super::derive::{DerivedManifest, derive_manifest};
use super::digest::Digest;
use super::error::OciError;
use super::manifest::{PushedManifest, Reference};
use super::{media, tag_of_version, version_of_tag};
use crate::entry::Entry;
use crate::publish::Published;
use crate::repo::Repository;
use crate::tenant::Tenant;
use crate::tenants::Located;

/// A manifest as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// A blob's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    pub size: u64,
}

/// A blob's body (or the requested range of it).
pub enum BlobBody {
    Bytes(Bytes),
    Stream(ObjectStream),
}

/// What a manifest push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPut {
    pub digest: Digest,
    pub subject: Option<Digest>,
    /// The chart version the manifest is, for a chart manifest.
    pub chart: Option<(String, String)>,
    /// Whether the chart was stored now (not already there with the same bytes).
    pub published: bool,
    /// The chart's versions retention removed after this push ([`Published::pruned`]).
    pub pruned: Vec<String>,
}

/// Where a blob of a repository comes from.
enum BlobSource {
    /// A chart layer: the repository's archive.
    Archive { file: String, size: u64 },
    /// A derived config blob.
    Config(Bytes),
    /// A pushed blob in the shared blob store.
    Stored { size: u64 },
    /// The provenance layer of a derived manifest: the chart's `.prov`.
    Provenance(Bytes),
    /// A chart layer pushed to this repository whose blob copy is gone because the same bytes
    /// were published as a chart (possibly of another tenant): that archive, found through the
    /// layer pointer (`layers/<hex>` of the root).
    Published { storage: Storage, file: String, size: u64 },
}

/// Where a published chart layer lives: written before its blob copy is dropped, so a push of the
/// same bytes to another repository still finds the layer (two pushes of one chart at once).
#[derive(serde::Serialize, serde::Deserialize)]
struct LayerPointer {
    tenant: String,
    name: String,
    version: String,
}

fn layer_pointer_key(digest: &Digest) -> [&str; 2] {
    ["layers", digest.hex()]
}

/// Keys below `.chartroom/oci/` of a tenant's folder for repository `name`.
pub(crate) fn repo_key<'a>(name: &'a str, kind: &'a str, item: &'a str) -> [&'a str; 4] {
    ["repos", name, kind, item]
}

/// The shared blob store's key of a digest.
pub(crate) fn blob_key(digest: &Digest) -> [&str; 3] {
    ["blobs", "sha256", digest.hex()]
}

/// The folder of a subject's referrer links: the first half of its digest, which keeps keys
/// short enough for stores that map keys to file names (the links are checked against each
/// manifest's own `subject`).
fn subject_folder(subject: &Digest) -> &str {
    &subject.hex()[..32]
}

/// `<tenant>/<name>` (just `<name>` for the root), as clients write it.
pub(crate) fn label(tenant: &Tenant, name: &str) -> String {
    if tenant.is_root() { name.to_owned() } else { format!("{}/{name}", tenant.as_str()) }
}

/// The provenance file of an indexed chart, if it has one.
async fn provenance_of(storage: &Storage, entry: &Entry) -> Result<Option<Bytes>, OciError> {
    match storage.read(&format!("{}.prov", entry.file())).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(StorageError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn entries(located: &Located, name: &str) -> Vec<Arc<Entry>> {
    let Some(state) = &located.state else { return Vec::new() };
    let index = state.index.read();
    index.versions(name).map(|v| v.cloned().collect()).unwrap_or_default()
}

impl Repository {
    /// The root storage (shared blob store, upload sessions).
    pub(crate) fn oci_root(&self) -> &Storage {
        &self.shared.storage
    }

    async fn blob_source(
        &self,
        located: &Located,
        name: &str,
        digest: &Digest,
    ) -> Result<Option<BlobSource>, OciError> {
        let charts = entries(located, name);
        if let Some(entry) = charts.iter().find(|e| e.digest() == digest.hex()) {
            return Ok(Some(BlobSource::Archive { file: entry.file().to_owned(), size: entry.size() }));
        }
        for entry in &charts {
            let derived = derive_manifest(entry, None)?;
            if derived.config_digest == *digest {
                return Ok(Some(BlobSource::Config(derived.config)));
            }
        }
        let linked = located.place.storage.oci_head(&repo_key(name, "blobs", digest.hex())).await?.is_some();
        if linked {
            if let Some(info) = self.oci_root().oci_head(&blob_key(digest)).await? {
                return Ok(Some(BlobSource::Stored { size: info.size }));
            }
            if let Some(published) = self.published_layer(digest).await? {
                return Ok(Some(published));
            }
        }
        // Last (one read per version): the provenance layer of a derived manifest.
        for entry in &charts {
            if let Some(prov) = provenance_of(&located.place.storage, entry).await?
                && Digest::of(&prov) == *digest
            {
                return Ok(Some(BlobSource::Provenance(prov)));
            }
        }
        Ok(None)
    }

    /// The archive a layer pointer names, if it is still those bytes.
    async fn published_layer(&self, digest: &Digest) -> Result<Option<BlobSource>, OciError> {
        let Some(bytes) = self.oci_root().oci_read(&layer_pointer_key(digest)).await? else { return Ok(None) };
        let Ok(pointer) = serde_json::from_slice::<LayerPointer>(&bytes) else { return Ok(None) };
        let tenant = if pointer.tenant.is_empty() {
            Tenant::root()
        } else {
            Tenant::parse(&pointer.tenant).ok().unwrap_or_else(Tenant::root)
        };
        let Ok(located) = self.locate(&tenant) else { return Ok(None) };
        Ok(located.entry(&pointer.name, &pointer.version).filter(|e| e.digest() == digest.hex()).map(|entry| {
            BlobSource::Published {
                storage: located.place.storage.clone(),
                file: entry.file().to_owned(),
                size: entry.size(),
            }
        }))
    }

    /// A blob's size, if repository `name` of `tenant` has it.
    pub async fn oci_blob_info(&self, tenant: &Tenant, name: &str, digest: &Digest) -> Result<BlobInfo, OciError> {
        let located = self.locate(tenant)?;
        let unknown = || OciError::BlobUnknown { repository: label(tenant, name), digest: digest.to_string() };
        Ok(match self.blob_source(&located, name, digest).await?.ok_or_else(unknown)? {
            BlobSource::Archive { size, .. } | BlobSource::Stored { size } | BlobSource::Published { size, .. } => {
                BlobInfo { size }
            }
            BlobSource::Config(bytes) | BlobSource::Provenance(bytes) => BlobInfo { size: bytes.len() as u64 },
        })
    }

    /// A blob's body, or the byte range `range` of it (already checked against its size).
    pub async fn oci_open_blob(
        &self,
        tenant: &Tenant,
        name: &str,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<(BlobInfo, BlobBody), OciError> {
        let located = self.locate(tenant)?;
        let unknown = || OciError::BlobUnknown { repository: label(tenant, name), digest: digest.to_string() };
        let not_found = |e: StorageError| match e {
            StorageError::NotFound(_) => unknown(),
            other => other.into(),
        };
        match self.blob_source(&located, name, digest).await?.ok_or_else(unknown)? {
            BlobSource::Archive { file, size } => {
                let stream = located.place.storage.stream_range(&file, range).await.map_err(not_found)?;
                Ok((BlobInfo { size }, BlobBody::Stream(stream)))
            }
            BlobSource::Stored { size } => {
                let stream = self.oci_root().oci_stream(&blob_key(digest), range).await.map_err(not_found)?;
                Ok((BlobInfo { size }, BlobBody::Stream(stream)))
            }
            BlobSource::Published { storage, file, size } => {
                let stream = storage.stream_range(&file, range).await.map_err(not_found)?;
                Ok((BlobInfo { size }, BlobBody::Stream(stream)))
            }
            BlobSource::Config(bytes) | BlobSource::Provenance(bytes) => {
                let size = bytes.len() as u64;
                let body = match range {
                    Some(r) => bytes.slice(r.start as usize..(r.end.min(size)) as usize),
                    None => bytes,
                };
                Ok((BlobInfo { size }, BlobBody::Bytes(body)))
            }
        }
    }

    /// A whole blob in memory (chart layers, provenance, configs: bounded by the upload limit).
    async fn read_blob(&self, located: &Located, name: &str, digest: &Digest) -> Result<Option<Bytes>, OciError> {
        Ok(match self.blob_source(located, name, digest).await? {
            None => None,
            Some(BlobSource::Config(bytes) | BlobSource::Provenance(bytes)) => Some(bytes),
            Some(BlobSource::Archive { file, .. }) => Some(located.place.storage.read(&file).await?),
            Some(BlobSource::Stored { .. }) => self.oci_root().oci_read(&blob_key(digest)).await?,
            Some(BlobSource::Published { storage, file, .. }) => Some(storage.read(&file).await?),
        })
    }

    /// Makes a stored blob visible in repository `name` of `tenant`.
    pub(crate) async fn oci_link_blob(&self, tenant: &Tenant, name: &str, digest: &Digest) -> Result<(), OciError> {
        let place = self.locate(tenant)?.place;
        place.storage.oci_put(&repo_key(name, "blobs", digest.hex()), Bytes::new(), false).await?;
        Ok(())
    }

    /// Mounts a blob of repository `from` (same tenant) into `name`: true when done, false when
    /// the client must upload it (another tenant, an unknown blob, a chart archive).
    pub async fn oci_mount_blob(
        &self,
        tenant: &Tenant,
        name: &str,
        digest: &Digest,
        from: (&Tenant, &str),
    ) -> Result<bool, OciError> {
        if from.0 != tenant {
            return Ok(false);
        }
        let located = self.locate(tenant)?;
        match self.blob_source(&located, from.1, digest).await? {
            Some(BlobSource::Stored { .. }) => {}
            Some(BlobSource::Config(bytes)) => match self.oci_root().oci_put(&blob_key(digest), bytes, true).await {
                Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            },
            Some(BlobSource::Archive { .. } | BlobSource::Provenance(_) | BlobSource::Published { .. }) | None => {
                return Ok(false);
            }
        }
        self.oci_link_blob(tenant, name, digest).await?;
        Ok(true)
    }

    /// The manifest `reference` of repository `name`.
    pub async fn oci_manifest(
        &self,
        tenant: &Tenant,
        name: &str,
        reference: &Reference,
    ) -> Result<OciManifest, OciError> {
        let located = self.locate(tenant)?;
        let unknown =
            || OciError::ManifestUnknown { repository: label(tenant, name), reference: reference.to_string() };
        let storage = &located.place.storage;
        match reference {
            Reference::Tag(tag) => {
                if let Some(entry) = located.entry(name, &version_of_tag(tag)) {
                    if let Some(pushed) = self.pushed_chart_manifest(storage, name, tag, &entry).await? {
                        return Ok(served(pushed));
                    }
                    let prov = provenance_of(storage, &entry).await?;
                    return Ok(derived(derive_manifest(&entry, prov.as_deref())?));
                }
                let Some(target) = storage.oci_read(&repo_key(name, "tags", tag)).await? else { return Err(unknown()) };
                let digest = std::str::from_utf8(&target).ok().and_then(|t| Digest::parse(t.trim()).ok());
                let Some(digest) = digest else { return Err(unknown()) };
                let bytes = storage.oci_read(&repo_key(name, "manifests", digest.hex())).await?;
                let manifest = bytes.map(|b| PushedManifest::parse(b, None)).transpose()?;
                manifest.map(served).ok_or_else(unknown)
            }
            Reference::Digest(digest) => {
                let charts = entries(&located, name);
                if let Some(bytes) = storage.oci_read(&repo_key(name, "manifests", digest.hex())).await? {
                    let manifest = PushedManifest::parse(bytes, None)?;
                    if manifest.is_chart() {
                        // A chart manifest stands while its chart does.
                        let (layer, _) = manifest.chart_layers()?;
                        if !charts.iter().any(|e| e.digest() == layer.digest.hex()) {
                            return Err(unknown());
                        }
                    }
                    return Ok(served(manifest));
                }
                // Without provenance first (no request), then with each version's `.prov`.
                for entry in &charts {
                    let derived_manifest = derive_manifest(entry, None)?;
                    if derived_manifest.digest == *digest {
                        return Ok(derived(derived_manifest));
                    }
                }
                for entry in &charts {
                    if let Some(prov) = provenance_of(storage, entry).await? {
                        let derived_manifest = derive_manifest(entry, Some(&prov))?;
                        if derived_manifest.digest == *digest {
                            return Ok(derived(derived_manifest));
                        }
                    }
                }
                Err(unknown())
            }
        }
    }

    /// The manifest a client pushed for an indexed chart version, if it still describes the
    /// archive stored now (an HTTP upload may have replaced it since).
    async fn pushed_chart_manifest(
        &self,
        storage: &Storage,
        name: &str,
        tag: &str,
        entry: &Entry,
    ) -> Result<Option<PushedManifest>, OciError> {
        let Some(bytes) = storage.oci_read(&repo_key(name, "charts", tag)).await? else { return Ok(None) };
        let Ok(manifest) = PushedManifest::parse(bytes, None) else { return Ok(None) };
        let current = manifest.chart_layers().is_ok_and(|(layer, _)| entry.digest() == layer.digest.hex());
        Ok(current.then_some(manifest))
    }

    /// Stores a pushed manifest. A Helm chart manifest is a chart version: its chart layer is
    /// validated and published like an HTTP upload (name and version must match the repository
    /// and the tag), then the manifest is kept byte for byte.
    pub async fn oci_put_manifest(
        &self,
        tenant: &Tenant,
        name: &str,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> Result<ManifestPut, OciError> {
        let located = self.locate(tenant)?;
        let manifest = PushedManifest::parse(bytes, content_type)?;
        if let Reference::Digest(digest) = reference
            && *digest != manifest.digest
        {
            return Err(OciError::DigestInvalid(format!(
                "the manifest's digest is {}, not {digest} as its URL says",
                manifest.digest
            )));
        }
        for blob in manifest.blobs() {
            if self.blob_source(&located, name, &blob.digest).await?.is_none() {
                return Err(OciError::ManifestBlobUnknown(blob.digest.to_string()));
            }
        }
        // An image index: every manifest it lists must be in the repository (pushed first, as
        // the spec orders), like distribution's `MANIFEST_BLOB_UNKNOWN` for a missing child.
        for child in &manifest.manifests {
            match self.oci_manifest(tenant, name, &Reference::Digest(child.digest.clone())).await {
                Ok(_) => {}
                Err(OciError::ManifestUnknown { .. }) => {
                    return Err(OciError::ManifestBlobUnknown(child.digest.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        let storage = &located.place.storage;
        let mut put = ManifestPut {
            digest: manifest.digest.clone(),
            subject: manifest.subject.clone(),
            chart: None,
            published: false,
            pruned: Vec::new(),
        };
        if manifest.is_chart() {
            let (chart, published) = self.put_chart_manifest(tenant, &located, name, reference, &manifest).await?;
            put.chart = Some(chart);
            put.published = published.is_some();
            put.pruned = published.map(|p| p.pruned).unwrap_or_default();
        } else if let Reference::Tag(tag) = reference
            && located.entry(name, &version_of_tag(tag)).is_some()
        {
            return Err(OciError::ManifestInvalid(format!(
                "tag {tag} is chart version {} of {name}: only that chart's manifest can have it",
                version_of_tag(tag)
            )));
        }
        storage.oci_put(&repo_key(name, "manifests", manifest.digest.hex()), manifest.bytes.clone(), false).await?;
        if !manifest.is_chart()
            && let Reference::Tag(tag) = reference
        {
            storage.oci_put(&repo_key(name, "tags", tag), Bytes::from(manifest.digest.to_string()), false).await?;
        }
        if let Some(subject) = &manifest.subject {
            let key = ["repos", name, "referrers", subject_folder(subject), manifest.digest.hex()];
            storage.oci_put(&key, Bytes::new(), false).await?;
        }
        Ok(put)
    }

    async fn put_chart_manifest(
        &self,
        tenant: &Tenant,
        located: &Located,
        name: &str,
        reference: &Reference,
        manifest: &PushedManifest,
    ) -> Result<((String, String), Option<Published>), OciError> {
        let (layer, prov_layer) = manifest.chart_layers()?;
        let missing = |d: &Digest| OciError::ManifestBlobUnknown(d.to_string());
        let chart = self.read_blob(located, name, &layer.digest).await?.ok_or_else(|| missing(&layer.digest))?;
        if chart.len() as u64 != layer.size {
            return Err(OciError::ManifestInvalid(format!(
                "the chart layer is {} bytes, the manifest says {}",
                chart.len(),
                layer.size
            )));
        }
        let prov = match prov_layer {
            Some(p) => Some(self.read_blob(located, name, &p.digest).await?.ok_or_else(|| missing(&p.digest))?),
            None => None,
        };
        let loaded = self.check_chart(chart.clone()).await?;
        let version = loaded.metadata.version.clone();
        if loaded.metadata.name != name {
            return Err(OciError::ManifestInvalid(format!(
                "the chart is named {:?} but the repository is {}",
                loaded.metadata.name,
                label(tenant, name)
            )));
        }
        let tag = tag_of_version(&version);
        if let Reference::Tag(pushed_tag) = reference
            && *pushed_tag != tag
        {
            return Err(OciError::ManifestInvalid(format!(
                "the chart's version is {version} (tag {tag}), but it was pushed as tag {pushed_tag}"
            )));
        }
        let same = located.entry(name, &version).is_some_and(|e| e.digest() == loaded.digest);
        let published = if same { None } else { Some(self.publish(tenant, chart, prov, false).await?) };
        located.place.storage.oci_put(&repo_key(name, "charts", &tag), manifest.bytes.clone(), false).await?;
        // The chart layer is the archive now: the blob store does not keep a second copy. The
        // pointer to the archive goes first, so that another repository the same layer was
        // pushed to (a push of the same chart elsewhere, at the same time) still finds it.
        let pointer =
            LayerPointer { tenant: tenant.as_str().to_owned(), name: name.to_owned(), version: version.clone() };
        let pointer = serde_json::to_vec(&pointer).map_err(|e| OciError::Internal(e.to_string()))?;
        match self.oci_root().oci_put(&layer_pointer_key(&layer.digest), Bytes::from(pointer), false).await {
            Ok(_) => {
                if let Err(e) = self.oci_root().oci_delete(&blob_key(&layer.digest)).await {
                    tracing::warn!(digest = %layer.digest, error = %e, "cannot remove a chart layer from the blob store");
                }
            }
            Err(e) => {
                tracing::warn!(digest = %layer.digest, error = %e, "cannot point a chart layer at its archive; its blob copy stays")
            }
        }
        Ok(((name.to_owned(), version), published))
    }

    /// Helm's checks of an archive, as [`Repository::publish`] runs them, for the name and
    /// version a chart manifest must agree with before anything is stored.
    async fn check_chart(&self, bytes: Bytes) -> Result<LoadedChart, OciError> {
        if bytes.is_empty() {
            return Err(OciError::ManifestInvalid("the chart layer is empty".into()));
        }
        let limits = self.shared.options.limits.clone();
        tokio::task::spawn_blocking(move || archive::load_archive(&bytes, &limits))
            .await
            .map_err(|e| OciError::Internal(format!("chart validation failed: {e}")))?
            .map_err(|e| OciError::ManifestInvalid(e.to_string()))
    }

    /// Deletes a manifest. A chart's manifest (by its tag or digest) is the chart version:
    /// the version is unpublished, as `DELETE /api/charts/<name>/<version>` does.
    pub async fn oci_delete_manifest(
        &self,
        tenant: &Tenant,
        name: &str,
        reference: &Reference,
    ) -> Result<(), OciError> {
        let located = self.locate(tenant)?;
        let storage = &located.place.storage;
        let unknown =
            || OciError::ManifestUnknown { repository: label(tenant, name), reference: reference.to_string() };
        let version = match reference {
            Reference::Tag(tag) => {
                let version = version_of_tag(tag);
                if located.entry(name, &version).is_some() {
                    Some(version)
                } else if storage.oci_head(&repo_key(name, "tags", tag)).await?.is_some() {
                    storage.oci_delete(&repo_key(name, "tags", tag)).await?;
                    return Ok(());
                } else {
                    return Err(unknown());
                }
            }
            Reference::Digest(_) => {
                let manifest = self.oci_manifest(tenant, name, reference).await?;
                let pushed = PushedManifest::parse(manifest.bytes, None)?;
                if pushed.is_chart() {
                    let (layer, _) = pushed.chart_layers()?;
                    let charts = entries(&located, name);
                    let entry = charts.iter().find(|e| e.digest() == layer.digest.hex()).ok_or_else(unknown)?;
                    Some(entry.version().to_owned())
                } else {
                    self.delete_artifact(storage, name, &pushed).await?;
                    return Ok(());
                }
            }
        };
        if let Some(version) = version {
            // Its pushed manifest goes with it (`oci_forget_chart`).
            self.unpublish(tenant, name, &version).await?;
        }
        Ok(())
    }

    /// Removes a non-chart manifest, the tags pointing at it and its referrer entry.
    async fn delete_artifact(&self, storage: &Storage, name: &str, manifest: &PushedManifest) -> Result<(), OciError> {
        let target = manifest.digest.to_string();
        for tag in storage.oci_list(&["repos", name, "tags"]).await? {
            let points_here = storage
                .oci_read(&repo_key(name, "tags", &tag.file))
                .await?
                .is_some_and(|t| t.as_ref() == target.as_bytes());
            if points_here {
                storage.oci_delete(&repo_key(name, "tags", &tag.file)).await?;
            }
        }
        if let Some(subject) = &manifest.subject {
            storage.oci_delete(&["repos", name, "referrers", subject_folder(subject), manifest.digest.hex()]).await?;
        }
        storage.oci_delete(&repo_key(name, "manifests", manifest.digest.hex())).await?;
        Ok(())
    }

    /// Every tag of repository `name`, in lexical order: its chart versions (`+` as `_`) and
    /// the tags of other artifacts.
    pub async fn oci_tags(&self, tenant: &Tenant, name: &str) -> Result<Vec<String>, OciError> {
        let located = self.locate(tenant)?;
        let mut tags: Vec<String> = entries(&located, name).iter().map(|e| tag_of_version(e.version())).collect();
        let stored = located.place.storage.oci_list(&["repos", name, "tags"]).await?;
        tags.extend(stored.into_iter().map(|o| o.file).filter(|t| !t.contains('/')));
        tags.sort();
        tags.dedup();
        if tags.is_empty() && located.place.storage.oci_list(&["repos", name, "manifests"]).await?.is_empty() {
            return Err(OciError::NameUnknown(label(tenant, name)));
        }
        Ok(tags)
    }

    /// The referrers of `subject` in repository `name`: an image index of the manifests whose
    /// `subject` it is, optionally only those of `artifact_type`.
    pub async fn oci_referrers(
        &self,
        tenant: &Tenant,
        name: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Bytes, OciError> {
        let place = self.locate(tenant)?.place;
        let storage = &place.storage;
        let mut manifests = Vec::new();
        for link in storage.oci_list(&["repos", name, "referrers", subject_folder(subject)]).await? {
            let Ok(digest) = Digest::from_hex(&link.file) else { continue };
            let Some(bytes) = storage.oci_read(&repo_key(name, "manifests", digest.hex())).await? else { continue };
            let size = bytes.len() as u64;
            let Ok(manifest) = PushedManifest::parse(bytes, None) else { continue };
            // The folder is named by a prefix of the subject's digest.
            if manifest.subject.as_ref() != Some(subject) {
                continue;
            }
            if artifact_type.is_some_and(|wanted| manifest.artifact_type.as_deref() != Some(wanted)) {
                continue;
            }
            manifests.push(ReferrerDescriptor {
                media_type: manifest.media_type,
                digest: digest.to_string(),
                size,
                artifact_type: manifest.artifact_type,
                annotations: manifest.annotations,
            });
        }
        let index = ReferrersIndex { schema_version: 2, media_type: media::IMAGE_INDEX, manifests };
        let body = serde_json::to_vec(&index).map_err(|e| OciError::Internal(e.to_string()))?;
        Ok(Bytes::from(body))
    }
}

#[derive(serde::Serialize)]
struct ReferrerDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Serialize)]
struct ReferrersIndex {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    manifests: Vec<ReferrerDescriptor>,
}

fn served(manifest: PushedManifest) -> OciManifest {
    OciManifest { bytes: manifest.bytes, media_type: manifest.media_type, digest: manifest.digest }
}

fn derived(manifest: DerivedManifest) -> OciManifest {
    OciManifest { bytes: manifest.manifest, media_type: media::IMAGE_MANIFEST.to_owned(), digest: manifest.digest }
}
