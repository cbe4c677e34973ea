//! Re-verification: which stored charts of a tenant would not verify with the keyring in force
//! now. A keyring change (a key removed, revoked or expired since) never re-judges stored charts
//! by itself; this report tells the operator, and changes nothing.

use std::sync::Arc;

use chartroom_storage::StorageError;
use futures::StreamExt;
use serde::Serialize;

use crate::entry::Entry;
use crate::error::RepoError;
use crate::provenance::{self, ChartIdentity, ProvenanceMode, Signature, verify_upload};
use crate::repo::Repository;
use crate::tenant::Tenant;

/// A chart version, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRef {
    pub name: String,
    pub version: String,
}

/// A stored chart whose provenance file does not verify now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyFailure {
    pub name: String,
    pub version: String,
    /// Which check failed, as an upload's refusal would say it.
    pub error: String,
    /// The signature recorded when the chart was stored, if it was verified then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Signature>,
}

/// What [`Repository::reverify_provenance`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReverifyReport {
    /// The tenant's policy (`off`, `if-present`, `required`).
    pub policy: String,
    /// Chart versions in the index.
    pub versions: usize,
    /// Versions with a provenance file, each checked.
    pub checked: usize,
    /// Of those, how many verify.
    pub verified: usize,
    /// Those that do not verify now, sorted by name and version.
    pub failed: Vec<VerifyFailure>,
    /// Versions without a provenance file (what `required` would refuse today), sorted.
    pub unsigned: Vec<VersionRef>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReverifyError {
    #[error("no trusted keyring is configured: start the server with --provenance-keyring")]
    NoKeyring,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StorageError> for ReverifyError {
    fn from(err: StorageError) -> Self {
        ReverifyError::Repo(err.into())
    }
}

impl Repository {
    /// Verifies every provenance file of `tenant`'s indexed charts with the trusted keyring as
    /// configured now (one GET per provenance file, `read_concurrency` at a time), against the
    /// archive digests the index holds, and reports those that do not verify and the versions
    /// that have none. Neither storage nor the index (nor the recorded verifications) change.
    pub async fn reverify_provenance(&self, tenant: &Tenant) -> Result<ReverifyReport, ReverifyError> {
        let keyring = self.shared.options.provenance.keyring().cloned().ok_or(ReverifyError::NoKeyring)?;
        let located = self.locate(tenant)?;
        let entries: Vec<Arc<Entry>> = match &located.state {
            Some(state) => state.index.read().entries().cloned().collect(),
            None => Vec::new(),
        };
        let mode: ProvenanceMode = self.shared.options.provenance.mode(tenant);
        let mut report = ReverifyReport { policy: mode.to_string(), versions: entries.len(), ..Default::default() };
        let (signed, unsigned): (Vec<Arc<Entry>>, Vec<Arc<Entry>>) =
            entries.into_iter().partition(|e| e.provenance().is_some());
        report.unsigned = unsigned
            .iter()
            .map(|e| VersionRef { name: e.name().to_owned(), version: e.version().to_owned() })
            .collect();
        let storage = &located.place.storage;
        let keyring = &keyring;
        let outcomes: Vec<Result<Option<VerifyFailure>, StorageError>> = futures::stream::iter(signed)
            .map(|entry| async move {
                let file = provenance::provenance_file_of(entry.file());
                let recorded = entry.provenance().and_then(|p| p.signature.clone());
                let failure = |error: String| VerifyFailure {
                    name: entry.name().to_owned(),
                    version: entry.version().to_owned(),
                    error,
                    recorded: recorded.clone(),
                };
                let bytes = match storage.read(&file).await {
                    Ok(bytes) => bytes,
                    Err(StorageError::NotFound(_)) => {
                        return Ok(Some(failure(format!("the provenance file {file} is gone from storage"))));
                    }
                    Err(e) => return Err(e),
                };
                let verified = verify_upload(Arc::clone(keyring), bytes, ChartIdentity::of(&entry)).await;
                Ok(verified.err().map(|e| failure(e.to_string())))
            })
            .buffer_unordered(self.shared.options.read_concurrency.max(1))
            .collect()
            .await;
        for outcome in outcomes {
            report.checked += 1;
            match outcome? {
                Some(failure) => report.failed.push(failure),
                None => report.verified += 1,
            }
        }
        report.failed.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        tracing::info!(
            %tenant,
            checked = report.checked,
            failed = report.failed.len(),
            unsigned = report.unsigned.len(),
            "re-verified stored provenance files"
        );
        Ok(report)
    }
}
