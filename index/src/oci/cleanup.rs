//! What goes with a chart version or a blob when it is deleted: the manifest a client pushed for
//! a chart (so that re-uploading the same bytes later serves the derived manifest, not a stale
//! pushed one), and a repository's link to a blob no manifest of it uses.

use chartroom_storage::Storage;

use super::digest::Digest;
use super::error::OciError;
use super::manifest::PushedManifest;
use super::registry::{label, repo_key};
use super::tag_of_version;
use crate::repo::Repository;
use crate::tenant::Tenant;

impl Repository {
    /// Removes the pushed manifest of chart version `name` `version` from the tenant's `storage`
    /// (best effort: a leftover is never served for another archive, see `pushed_chart_manifest`).
    pub(crate) async fn oci_forget_chart(&self, storage: &Storage, name: &str, version: &str) {
        let tag = tag_of_version(version);
        let charts = repo_key(name, "charts", &tag);
        let pushed = match storage.oci_read(&charts).await {
            Ok(Some(bytes)) => PushedManifest::parse(bytes, None).ok(),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(chart = name, version, error = %e, "cannot read a pushed chart manifest");
                return;
            }
        };
        if let Some(pushed) = pushed
            && let Err(e) = storage.oci_delete(&repo_key(name, "manifests", pushed.digest.hex())).await
        {
            tracing::warn!(chart = name, version, error = %e, "cannot delete a pushed chart manifest");
        }
        if let Err(e) = storage.oci_delete(&charts).await {
            tracing::warn!(chart = name, version, error = %e, "cannot delete a pushed chart manifest's tag");
        }
    }

    /// `DELETE /v2/<name>/blobs/<digest>`: unlinks a blob from the repository when no manifest of
    /// it uses the blob. A chart's layers and configs are removed with the chart's manifest
    /// (`UNSUPPORTED`, the spec's 405 for a blob that cannot be deleted), as is a blob a pushed
    /// manifest uses. The shared copy stays in the blob store (unreferenced blobs are not
    /// collected yet).
    pub async fn oci_delete_blob(&self, tenant: &Tenant, name: &str, digest: &Digest) -> Result<(), OciError> {
        let located = self.locate(tenant)?;
        let storage = &located.place.storage;
        let unknown = || OciError::BlobUnknown { repository: label(tenant, name), digest: digest.to_string() };
        let link = repo_key(name, "blobs", digest.hex());
        if storage.oci_head(&link).await?.is_none() {
            // A chart's layer or config exists without a link: it goes with the chart.
            return match self.oci_blob_info(tenant, name, digest).await {
                Ok(_) => Err(OciError::Unsupported(format!(
                    "{digest} is part of a chart of {}: delete the chart's manifest instead",
                    label(tenant, name)
                ))),
                Err(_) => Err(unknown()),
            };
        }
        for object in storage.oci_list(&["repos", name, "manifests"]).await? {
            let Some(bytes) = storage.oci_read(&repo_key(name, "manifests", &object.file)).await? else { continue };
            let Ok(manifest) = PushedManifest::parse(bytes, None) else { continue };
            if manifest.blobs().any(|b| b.digest == *digest) {
                return Err(OciError::Unsupported(format!(
                    "{digest} is used by manifest {} of {}: delete that manifest first",
                    manifest.digest,
                    label(tenant, name)
                )));
            }
        }
        storage.oci_delete(&link).await?;
        Ok(())
    }
}
