//! The write path: every change to a repository's charts, whatever the front door (the
//! ChartMuseum API today; OCI pushes, retention and webhooks later).
//!
//! Each operation takes the per-version lock, checks provenance files as the tenant's
//! [`ProvenancePolicy`](crate::ProvenancePolicy) demands (before anything is stored: a refused
//! write leaves storage and index as they were), writes storage create-only unless the overwrite
//! policy allows replacing, keeps a chart and its provenance file consistent (rollback of a
//! failed second write, removal of a provenance file that no longer vouches for replaced bytes),
//! then hands the change to the writer and returns once the served index has it and this
//! replica's change log announces it.
//!
//! The OCI push enters here too: a manifest push calls [`Repository::publish`] with the chart
//! layer's bytes and, when the manifest has one, the provenance layer's bytes
//! (`application/vnd.cncf.helm.chart.provenance.v1.prov`) as `prov`, and gets the same checks,
//! refusals and records as a multipart upload.

use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::archive::{self, ArchiveError, Limits, LoadedChart};
use chartroom_chart::provenance::{ProvenanceError, Vouch};
use chartroom_signing::VerifyError;
use chartroom_storage::{ObjectInfo, Storage, StorageError, chart_file, prov_file};
use jiff::Timestamp;

use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};
use crate::error::RepoError;
use crate::events::EventKind;
use crate::provenance::{ChartIdentity, ProvenanceRecord, Signature, verify_ahead_of_chart, verify_upload};
use crate::publish_provenance::{
    ProvenanceFound, check_provenance_for, drop_stale_provenance, hex_digest, parse_provenance, provenance_ahead,
    remove_provenance, stored_provenance,
};
use crate::repo::Repository;
use crate::settled::{delete_settled, write_settled};
use crate::tenant::Tenant;
use crate::tenants::Located;

/// A provenance file stored by [`Repository::put_provenance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProvenance {
    /// The chart the provenance file is for.
    pub name: String,
    pub version: String,
}

/// A chart version stored and indexed by [`Repository::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub name: String,
    pub version: String,
    /// Lowercase hex sha256 of the archive.
    pub digest: String,
    /// The archive's file in the repository.
    pub file: String,
    /// Who signed its provenance file, when the policy verified one.
    pub signature: Option<Signature>,
    /// The chart's other versions retention removed after this upload (`crate::retention`).
    pub pruned: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the chart archive is empty")]
    EmptyChart,
    #[error(transparent)]
    InvalidChart(ArchiveError),
    #[error(transparent)]
    Provenance(#[from] ProvenanceRejected),
    /// A create-only write found the object already stored (and the policy does not allow
    /// replacing it).
    #[error("{0} already exists")]
    Exists(String),
    /// A new version in a tenant that holds `--max-storage-objects` versions already.
    #[error("repo has reached storage limit")]
    StorageLimit,
    /// The archive check did not complete (its task panicked or was cancelled).
    #[error("chart validation failed: {0}")]
    ValidationAborted(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StorageError> for PublishError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::AlreadyExists(file) => PublishError::Exists(file),
            other => PublishError::Repo(other.into()),
        }
    }
}

impl From<EntryError> for PublishError {
    fn from(err: EntryError) -> Self {
        PublishError::Repo(err.into())
    }
}

/// Why a provenance file (or its absence) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceRejected {
    #[error("invalid provenance file: empty body")]
    Empty,
    #[error(transparent)]
    Invalid(#[from] ProvenanceError),
    #[error("provenance file is for {prov_name}-{prov_version} but the chart is {name}-{version}")]
    OtherChart { prov_name: String, prov_version: String, name: String, version: String },
    #[error("provenance file does not match the chart: it records {recorded} for {file}, the chart is sha256:{digest}")]
    OtherArchive { recorded: String, file: String, digest: String },
    #[error(
        "provenance file does not match the stored chart: it records {recorded} for {file}, the chart is sha256:{digest}"
    )]
    OtherStoredArchive { recorded: String, file: String, digest: String },
    /// The signature check failed (`if-present` and `required`): which check, in its words.
    #[error(transparent)]
    Unverified(VerifyError),
    /// A provenance file stored before its chart (`POST /api/prov`) does not verify for the
    /// chart that arrived.
    #[error("the provenance file stored for this version ({file}) does not verify for this chart: {error}")]
    StoredUnverified { file: String, error: VerifyError },
    /// `off`: a provenance file stored ahead of its chart (`POST /api/prov` first) does not
    /// vouch for the chart that arrived.
    #[error(
        "the provenance file stored for this version ({file}) does not match the chart (sha256:{digest}): {reason}; replace it (POST /api/prov?force, where overwrites are allowed) or remove it (DELETE /api/charts/<name>/<version> removes a provenance file left without its chart), then upload the chart again"
    )]
    StaleAhead { file: String, reason: String, digest: String },
    /// `required`, and the chart came without a provenance file.
    #[error("a provenance file is required: upload {file}.prov with the chart (multipart field \"prov\"){hint}")]
    Required { file: String, hint: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum UnpublishError {
    #[error("chart {name} version {version} not found")]
    VersionNotFound { name: String, version: String },
    #[error("chart {0} not found")]
    ChartNotFound(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StorageError> for UnpublishError {
    fn from(err: StorageError) -> Self {
        UnpublishError::Repo(err.into())
    }
}

impl Repository {
    /// Validates a chart archive (and its provenance file), stores it as `<name>-<version>.tgz`
    /// (and `.tgz.prov`) and indexes it. `force` is the request's wish to replace an existing
    /// version; whether it may is the repository's [`OverwritePolicy`](crate::OverwritePolicy).
    ///
    /// Provenance, by the tenant's [`ProvenanceMode`]: under `off` a provenance file must name
    /// the chart and, if it lists the archive, its digest. Under `if-present` and `required` it
    /// must verify ([`chartroom_signing::verify`]: a trusted, valid key; the name, version and
    /// sha256 of this archive), and a chart arriving without one is checked against a provenance
    /// file already stored for its version (one GET), which must verify as well; `required`
    /// refuses a chart that has none. Under `off`, a provenance file stored ahead of a new
    /// version (`POST /api/prov` first) must vouch for the chart that arrives (one GET), or the
    /// chart is refused. Nothing is stored for a chart that fails a check, and a failed
    /// provenance write takes the chart back out (a replacement stays, indexed as stored).
    ///
    /// Runs detached from the caller ([`Repository::detached`]): once started it finishes or
    /// rolls back whatever happens to the request.
    pub async fn publish(
        &self,
        tenant: &Tenant,
        bytes: Bytes,
        prov: Option<Bytes>,
        force: bool,
    ) -> Result<Published, PublishError> {
        let tenant = tenant.clone();
        self.detached(move |repo| async move {
            let mut published = repo.publish_now(&tenant, bytes, prov, force).await?;
            published.pruned = repo.prune_after_publish(&tenant, &published.name, &published.version).await;
            Ok(published)
        })
        .await
    }

    async fn publish_now(
        &self,
        tenant: &Tenant,
        bytes: Bytes,
        prov: Option<Bytes>,
        force: bool,
    ) -> Result<Published, PublishError> {
        let located = self.locate(tenant)?;
        let place = Arc::clone(&located.place);
        let chart = {
            let _turn = self.validations.acquire().await.map_err(|_| RepoError::Closed)?;
            validate_chart(&self.shared.options.limits, bytes.clone()).await?
        };
        let keyring = self.shared.options.provenance.verifier(tenant);
        let mode = self.shared.options.provenance.mode(tenant);
        let identity = ChartIdentity {
            name: chart.metadata.name.clone(),
            version: chart.metadata.version.clone(),
            digest: chart.digest.clone(),
        };
        let uploaded_signature = match (&prov, &keyring) {
            (Some(prov), Some(keyring)) => Some(
                verify_upload(Arc::clone(keyring), prov.clone(), identity.clone())
                    .await
                    .map_err(ProvenanceRejected::Unverified)?,
            ),
            (Some(prov), None) => {
                check_provenance_for(&parse_provenance(prov)?, &chart)?;
                None
            }
            (None, _) => None,
        };
        let (name, version) = (identity.name.clone(), identity.version.clone());
        let file = chart_file(&name, &version);
        let overwrite = self.shared.options.overwrite.allows(force);
        let storage = &place.storage;
        // Before any write: the longest name a version stores is its provenance file's.
        storage.check_fits(&prov_file(&name, &version)).map_err(StorageError::from)?;
        let _guard = self.locks.lock(tenant, &file).await;
        let replaced = located.entry(&name, &version);
        // A version is a conflict whatever file holds it: one indexed from an archive stored
        // under another name (placed there by other tools) is replaced only when allowed, and
        // then that file goes too, or a resync would find two archives of one version.
        let other_copy = replaced.as_ref().map(|e| e.file().to_owned()).filter(|f| *f != file);
        if let Some(other) = &other_copy
            && !overwrite
        {
            return Err(PublishError::Exists(other.clone()));
        }
        // A new version at the cap; replacing one (where allowed) adds no object.
        if replaced.is_none() && self.at_storage_limit(tenant, &located) {
            return Err(PublishError::StorageLimit);
        }
        let stored_provenance = match (&prov, keyring) {
            // The write is refused (409) whatever a provenance file says.
            (None, _) if replaced.is_some() && !overwrite => ProvenanceFound::None,
            (None, Some(keyring)) => {
                stored_provenance(storage, keyring, mode, &identity, replaced.as_deref(), overwrite).await?
            }
            (None, None) if replaced.is_none() => provenance_ahead(storage, &chart, overwrite).await?,
            _ => ProvenanceFound::None,
        };
        // A create-only write that finds the version stored is a conflict even with the same
        // bytes (a peer's upload of an identical archive is a re-upload: 409, as in ChartMuseum);
        // only a write whose own answer was lost is settled by looking.
        let adopt = false;
        let stored = match write_settled(storage, &file, bytes, overwrite, adopt).await {
            Ok(stored) => stored,
            Err(StorageError::AlreadyExists(f)) => return Err(PublishError::Exists(f)),
            Err(e) => {
                // Storage failed and could not be asked what it holds: the write may have
                // landed. A resync of the tenant (when storage answers) brings the index to it.
                self.request_resync(&place);
                return Err(e.into());
            }
        };
        // The provenance side, once the chart is stored. A failure here is answered as such,
        // after the chart is taken back out (a new version) or indexed as stored (a replacement:
        // the old bytes are gone, so the index must not keep their digest).
        let provenance: Result<Option<ProvenanceRecord>, StorageError> = match (prov, stored_provenance) {
            (Some(prov), _) => match write_settled(storage, &prov_file(&name, &version), prov, overwrite, true).await {
                Ok(info) => Ok(Some(ProvenanceRecord::stored(&info, uploaded_signature))),
                Err(e) => Err(e),
            },
            (None, ProvenanceFound::Kept(record)) => Ok(Some(record)),
            (None, ProvenanceFound::Replaced) => remove_provenance(storage, &name, &version).await.map(|()| None),
            (None, ProvenanceFound::None) if overwrite => {
                drop_stale_provenance(storage, &name, &version, &chart.digest, replaced.as_deref()).await
            }
            (None, ProvenanceFound::None) => Ok(None),
        };
        let (record, failure) = match provenance {
            Ok(record) => (record, None),
            Err(e) if !overwrite => {
                if let Err(rollback) = delete_settled(storage, &file).await {
                    // Stored and not indexed: a resync indexes what storage holds.
                    tracing::error!(%file, error = %rollback, "cannot roll back a chart whose provenance file failed to store");
                    self.request_resync(&place);
                }
                return Err(e.into());
            }
            Err(e) => {
                // The provenance file may be the replaced bytes' (the write failed before
                // replacing it): it must not stay beside the new ones.
                let kept = drop_stale_provenance(storage, &name, &version, &chart.digest, None).await.ok().flatten();
                (kept, Some(e))
            }
        };
        let digest = chart.digest.clone();
        let signature = record.as_ref().and_then(|p| p.signature.clone());
        let mut entry = uploaded_entry(&place.render, chart, &stored)?;
        entry.set_provenance(record.filter(|_| self.shared.options.provenance.records()));
        self.upsert(&place, entry).await?;
        if let Some(other) = other_copy {
            remove_replaced_copy(storage, &other).await;
        }
        let kind = if replaced.is_some() { EventKind::Overwritten } else { EventKind::Pushed };
        self.emit(kind, &place, &name, &version, &digest, &file).await;
        if let Some(e) = failure {
            tracing::warn!(%tenant, chart = %name, %version, error = %e, "chart replaced and indexed without its provenance file");
            return Err(e.into());
        }
        let signed_by = signature.as_ref().map(|s| s.fingerprint.as_str());
        tracing::info!(%tenant, chart = %name, %version, signed_by, "chart stored and indexed");
        Ok(Published { name, version, digest, file, signature, pruned: Vec::new() })
    }

    /// Stores a provenance file on its own, as `<name>-<version>.tgz.prov` for the chart it names.
    /// When that chart is indexed, the file must vouch for its bytes, and the index records it.
    ///
    /// Under `if-present` and `required` the file must verify against that chart; when the chart
    /// is not stored yet (ChartMuseum accepts provenance files first), the signature, the key and
    /// the signed name and version are verified now and the digest when the chart arrives
    /// ([`Repository::publish`] checks a stored provenance file).
    pub async fn put_provenance(
        &self,
        tenant: &Tenant,
        bytes: Bytes,
        force: bool,
    ) -> Result<StoredProvenance, PublishError> {
        let tenant = tenant.clone();
        self.detached(move |repo| async move { repo.put_provenance_now(&tenant, bytes, force).await }).await
    }

    async fn put_provenance_now(
        &self,
        tenant: &Tenant,
        bytes: Bytes,
        force: bool,
    ) -> Result<StoredProvenance, PublishError> {
        let located = self.locate(tenant)?;
        let prov = parse_provenance(&bytes)?;
        let chart_key = chart_file(&prov.name, &prov.version);
        let keyring = self.shared.options.provenance.verifier(tenant);
        let storage = &located.place.storage;
        storage.check_fits(&prov_file(&prov.name, &prov.version)).map_err(StorageError::from)?;
        let _guard = self.locks.lock(tenant, &chart_key).await;
        let indexed = located.entry(&prov.name, &prov.version);
        // The chart's digest: indexed, else stored by a replica this one has not heard from yet
        // (one GET), else the chart is not there yet.
        let digest = match &indexed {
            Some(entry) => Some(entry.digest().to_string()),
            None => match storage.read(&chart_key).await {
                Ok(chart) => Some(hex_digest(&chart)),
                Err(StorageError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let signature = match keyring {
            None => {
                if let Some(digest) = &digest
                    && let Vouch::Differs { recorded } = prov.vouches_for(&chart_key, digest)
                {
                    let (recorded, digest) = (recorded.to_owned(), digest.clone());
                    return Err(ProvenanceRejected::OtherStoredArchive { recorded, file: chart_key, digest }.into());
                }
                None
            }
            Some(keyring) => {
                let verified = match digest {
                    Some(digest) => {
                        let chart = ChartIdentity { name: prov.name.clone(), version: prov.version.clone(), digest };
                        verify_upload(keyring, bytes.clone(), chart).await
                    }
                    None => verify_ahead_of_chart(keyring, bytes.clone(), &prov).await,
                };
                Some(verified.map_err(ProvenanceRejected::Unverified)?)
            }
        };
        let overwrite = self.shared.options.overwrite.allows(force);
        // A second `POST /api/prov` of a stored file is a conflict, as in ChartMuseum; only a
        // lost answer is settled by looking.
        let info = write_settled(storage, &prov_file(&prov.name, &prov.version), bytes, overwrite, false).await?;
        // Recorded on the indexed entry (read again: the lock keeps this version's writers out,
        // not a peer's change applied meanwhile).
        if self.shared.options.provenance.records()
            && let Some(entry) = located.entry(&prov.name, &prov.version)
        {
            let record = ProvenanceRecord::stored(&info, signature);
            self.upsert(&located.place, entry.with_provenance(Some(record))).await?;
        }
        Ok(StoredProvenance { name: prov.name, version: prov.version })
    }

    /// Deletes one version: its provenance file, its archive, its index entry. A version whose
    /// archive is already gone from storage but still indexed is taken out of the index; a
    /// provenance file left without its chart goes too (and the answer is "not found").
    pub async fn unpublish(&self, tenant: &Tenant, name: &str, version: &str) -> Result<(), UnpublishError> {
        let (tenant, name, version) = (tenant.clone(), name.to_owned(), version.to_owned());
        self.detached(move |repo| async move {
            let located = repo.locate(&tenant)?;
            let _guard = repo.locks.lock(&tenant, &chart_file(&name, &version)).await;
            repo.unpublish_version(&located, &name, &version).await
        })
        .await
    }

    /// Deletes every version of a chart (ChartMuseum lacks this). A version whose archive is
    /// already gone from storage is still taken out of the index.
    pub async fn unpublish_chart(&self, tenant: &Tenant, name: &str) -> Result<(), UnpublishError> {
        let (tenant, name) = (tenant.clone(), name.to_owned());
        self.detached(move |repo| async move {
            let located = repo.locate(&tenant)?;
            let versions = located.versions(&name);
            if versions.is_empty() {
                return Err(UnpublishError::ChartNotFound(name));
            }
            for (version, _) in &versions {
                let _guard = repo.locks.lock(&tenant, &chart_file(&name, version)).await;
                match repo.unpublish_version(&located, &name, version).await {
                    Ok(()) | Err(UnpublishError::VersionNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
    }

    /// One version's delete, under its lock. The provenance file goes first: a failure after it
    /// leaves a chart without one (consistent, and a retry finishes), never a provenance file
    /// without its chart.
    pub(crate) async fn unpublish_version(
        &self,
        located: &Located,
        name: &str,
        version: &str,
    ) -> Result<(), UnpublishError> {
        let storage = &located.place.storage;
        let indexed = located.entry(name, version);
        let file = indexed.as_ref().map_or_else(|| chart_file(name, version), |e| e.file().to_owned());
        let forget_provenance = async |repo: &Repository| {
            if let Some(entry) = indexed.as_ref().filter(|e| e.provenance().is_some())
                && let Err(e) = repo.upsert(&located.place, entry.with_provenance(None)).await
            {
                tracing::warn!(%file, error = %e, "cannot drop the provenance record of a version being deleted");
            }
        };
        match delete_settled(storage, &prov_file(name, version)).await {
            Ok(()) | Err(StorageError::NotFound(_)) => {}
            Err(e) => {
                forget_provenance(self).await;
                return Err(e.into());
            }
        }
        match delete_settled(storage, &file).await {
            Ok(()) => {}
            Err(StorageError::NotFound(_)) if indexed.is_some() => {}
            Err(StorageError::NotFound(_)) => {
                return Err(UnpublishError::VersionNotFound { name: name.to_owned(), version: version.to_owned() });
            }
            Err(e) => {
                forget_provenance(self).await;
                return Err(e.into());
            }
        }
        self.remove(&located.place, name, version, &file).await?;
        self.oci_forget_chart(storage, name, version).await;
        let indexed_digest = indexed.as_ref().map(|e| e.digest());
        let digest = indexed_digest.as_deref().unwrap_or("");
        self.emit(EventKind::Deleted, &located.place, name, version, digest, &file).await;
        Ok(())
    }
}

/// The archive check, on the blocking pool (it decompresses the whole archive).
async fn validate_chart(limits: &Limits, bytes: Bytes) -> Result<LoadedChart, PublishError> {
    if bytes.is_empty() {
        return Err(PublishError::EmptyChart);
    }
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || archive::load_archive(&bytes, &limits))
        .await
        .map_err(|e| PublishError::ValidationAborted(e.to_string()))?
        .map_err(PublishError::InvalidChart)
}

/// The archive (and provenance file) of a version stored under another file name, once the
/// version's canonical file replaced it in the index. A failure is logged: the index is right
/// either way, and a resync skips the left-over copy as a duplicate.
async fn remove_replaced_copy(storage: &Storage, file: &str) {
    for gone in [file.to_owned(), format!("{file}.prov")] {
        match storage.delete(&gone).await {
            Ok(()) => tracing::info!(file = %gone, "removed the copy of a version replaced under its canonical name"),
            Err(StorageError::NotFound(_)) => {}
            Err(e) => tracing::warn!(file = %gone, error = %e, "cannot remove the copy of a replaced version"),
        }
    }
}

/// The entry of a chart just stored by an upload: published now.
fn uploaded_entry(render: &RenderConfig, chart: LoadedChart, stored: &ObjectInfo) -> Result<Entry, EntryError> {
    let object = StoredObject { file: stored.file.clone(), size: stored.size, etag: stored.e_tag.clone() };
    Entry::new(chart.metadata, chart.digest, Timestamp::now(), object, render)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RepoOptions;
    use crate::test_fixtures::{signtest, signtest_prov, signtest_recompressed};

    async fn open() -> (Repository, Storage) {
        let storage = Storage::memory();
        let options =
            RepoOptions { poll_interval: None, resync_interval: None, statefiles: false, ..Default::default() };
        let (repo, _) = Repository::open(storage.clone(), options).await.unwrap();
        (repo, storage)
    }

    async fn exists(storage: &Storage, file: &str) -> bool {
        match storage.head(file).await {
            Ok(_) => true,
            Err(StorageError::NotFound(_)) => false,
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn publish_stores_and_indexes_and_unpublish_removes() {
        let (repo, storage) = open().await;
        let root = Tenant::root();
        let published = repo.publish(&root, signtest(), Some(signtest_prov()), false).await.unwrap();
        assert_eq!((published.name.as_str(), published.version.as_str()), ("signtest", "0.1.0"));
        assert_eq!(published.file, "signtest-0.1.0.tgz");
        let indexed = repo.index(&root).unwrap().get("signtest", "0.1.0").map(|e| e.digest().to_string());
        assert_eq!(indexed, Some(published.digest));
        assert!(exists(&storage, "signtest-0.1.0.tgz.prov").await);

        let again = repo.publish(&root, signtest(), None, false).await;
        assert!(matches!(&again, Err(PublishError::Exists(f)) if f == "signtest-0.1.0.tgz"), "{again:?}");
        // Forced with the same bytes: the provenance file still vouches for them and stays.
        repo.publish(&root, signtest(), None, true).await.unwrap();
        assert!(exists(&storage, "signtest-0.1.0.tgz.prov").await);
        // Forced with other bytes: it would fail `helm --verify`, so it goes.
        repo.publish(&root, signtest_recompressed(), None, true).await.unwrap();
        assert!(!exists(&storage, "signtest-0.1.0.tgz.prov").await);

        repo.unpublish(&root, "signtest", "0.1.0").await.unwrap();
        assert!(!exists(&storage, "signtest-0.1.0.tgz").await);
        assert!(repo.index(&root).unwrap().is_empty());
        let gone = repo.unpublish(&root, "signtest", "0.1.0").await;
        assert!(matches!(gone, Err(UnpublishError::VersionNotFound { .. })), "{gone:?}");
        let gone = repo.unpublish_chart(&root, "signtest").await;
        assert!(matches!(gone, Err(UnpublishError::ChartNotFound(_))), "{gone:?}");
    }

    #[tokio::test]
    async fn a_failed_provenance_write_takes_the_chart_back_out() {
        let (repo, storage) = open().await;
        storage.put_new("signtest-0.1.0.tgz.prov", Bytes::from_static(b"left over")).await.unwrap();
        let refused = repo.publish(&Tenant::root(), signtest(), Some(signtest_prov()), false).await;
        assert!(matches!(&refused, Err(PublishError::Exists(f)) if f == "signtest-0.1.0.tgz.prov"), "{refused:?}");
        assert!(!exists(&storage, "signtest-0.1.0.tgz").await, "the chart is rolled back");
        assert!(repo.index(&Tenant::root()).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_provenance_file_must_vouch_for_its_chart() {
        let (repo, storage) = open().await;
        let root = Tenant::root();
        let refused = repo.publish(&root, signtest_recompressed(), Some(signtest_prov()), false).await;
        assert!(
            matches!(&refused, Err(PublishError::Provenance(ProvenanceRejected::OtherArchive { .. }))),
            "{refused:?}"
        );
        assert!(storage.list_charts().await.unwrap().is_empty(), "nothing stored");

        repo.publish(&root, signtest_recompressed(), None, false).await.unwrap();
        let refused = repo.put_provenance(&root, signtest_prov(), false).await;
        assert!(
            matches!(&refused, Err(PublishError::Provenance(ProvenanceRejected::OtherStoredArchive { .. }))),
            "{refused:?}"
        );
        assert!(!exists(&storage, "signtest-0.1.0.tgz.prov").await);
        let empty = repo.put_provenance(&root, Bytes::new(), false).await;
        assert!(matches!(empty, Err(PublishError::Provenance(ProvenanceRejected::Empty))));
        let empty = repo.publish(&root, Bytes::new(), None, false).await;
        assert!(matches!(empty, Err(PublishError::EmptyChart)));
    }

    /// Issue 17, item 10: under `off`, a provenance file stored ahead of its chart must vouch for
    /// the chart that arrives; a mismatch refuses the chart (400, storage unchanged), a DELETE of
    /// the version removes the file left without its chart (404), and a matching one is kept.
    #[tokio::test]
    async fn a_provenance_file_stored_ahead_must_vouch_for_the_chart_that_arrives() {
        let (repo, storage) = open().await;
        let root = Tenant::root();
        repo.put_provenance(&root, signtest_prov(), false).await.unwrap();
        let refused = repo.publish(&root, signtest_recompressed(), None, false).await;
        let Err(PublishError::Provenance(e @ ProvenanceRejected::StaleAhead { .. })) = &refused else {
            panic!("{refused:?}")
        };
        let message = e.to_string();
        assert!(message.starts_with("the provenance file stored for this version (signtest-0.1.0.tgz.prov) does not match the chart (sha256:"), "{message}");
        assert!(
            message.contains("it records sha256:") && message.contains("DELETE /api/charts/<name>/<version>"),
            "{message}"
        );
        assert!(!exists(&storage, "signtest-0.1.0.tgz").await, "nothing stored");
        assert!(exists(&storage, "signtest-0.1.0.tgz.prov").await, "what the client uploaded stays");
        assert!(repo.index(&root).unwrap().is_empty());

        // The way out: delete the version (404: no chart), which takes the file along.
        let gone = repo.unpublish(&root, "signtest", "0.1.0").await;
        assert!(matches!(gone, Err(UnpublishError::VersionNotFound { .. })), "{gone:?}");
        assert!(!exists(&storage, "signtest-0.1.0.tgz.prov").await);
        repo.publish(&root, signtest_recompressed(), None, false).await.unwrap();

        // A matching one is kept beside its chart.
        let (repo, storage) = open().await;
        repo.put_provenance(&root, signtest_prov(), false).await.unwrap();
        repo.publish(&root, signtest(), None, false).await.unwrap();
        assert!(exists(&storage, "signtest-0.1.0.tgz.prov").await);
    }

    /// An indexed version whose archive disappeared from storage is taken out of the index by a
    /// DELETE (it used to answer 404 and keep listing it).
    #[tokio::test]
    async fn deleting_a_version_whose_archive_is_gone_unlists_it() {
        let (repo, storage) = open().await;
        let root = Tenant::root();
        repo.publish(&root, signtest(), None, false).await.unwrap();
        storage.delete("signtest-0.1.0.tgz").await.unwrap();
        repo.unpublish(&root, "signtest", "0.1.0").await.unwrap();
        assert!(repo.index(&root).unwrap().is_empty());
    }

    #[tokio::test]
    async fn tenants_outside_the_layout_are_refused_before_storage_is_touched() {
        let (repo, storage) = open().await;
        let team = Tenant::parse("org/team").unwrap();
        let before = storage.request_counts();
        let refused = repo.publish(&team, signtest(), None, false).await;
        assert!(matches!(refused, Err(PublishError::Repo(RepoError::NotServed { .. }))), "{refused:?}");
        assert!(matches!(repo.put_provenance(&team, signtest_prov(), false).await, Err(PublishError::Repo(_))));
        assert!(matches!(repo.unpublish(&team, "signtest", "0.1.0").await, Err(UnpublishError::Repo(_))));
        assert!(matches!(repo.unpublish_chart(&team, "signtest").await, Err(UnpublishError::Repo(_))));
        assert!(repo.snapshot(&team).is_err() && repo.index(&team).is_err() && repo.resync(&team).await.is_err());
        assert_eq!(storage.request_counts(), before, "refused before any request");
        assert_eq!(repo.tenants(), [Tenant::root()], "a single-repository server serves the root");
    }
}
