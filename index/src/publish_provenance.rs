//! The provenance side of the write path ([`crate::publish`]): what a chart arriving without a
//! provenance file finds stored for its version, the checks of a provenance file against its
//! chart, and the removal of one that no longer vouches for the stored bytes.

use std::sync::Arc;

use chartroom_chart::archive::LoadedChart;
use chartroom_chart::provenance::{self, Provenance, Vouch};
use chartroom_signing::{ChartDigest, Keyring};
use chartroom_storage::{Storage, StorageError, chart_file, prov_file};

use crate::entry::Entry;
use crate::provenance::{ChartIdentity, ProvenanceMode, ProvenanceRecord, verify_upload};
use crate::publish::{ProvenanceRejected, PublishError};
use crate::settled::delete_settled;

/// What an upload without a provenance file found stored for its version, under a verifying
/// policy.
pub(crate) enum ProvenanceFound {
    /// Nothing (or nothing to look at: the version exists and may not be replaced).
    None,
    /// A stored provenance file that vouches for the uploaded chart (sent ahead with `POST
    /// /api/prov`, or kept from identical bytes): verified under a verifying policy, checked
    /// against the digest under `off`.
    Kept(ProvenanceRecord),
    /// The provenance file of the bytes being replaced: removed after the write.
    Replaced,
}

pub(crate) fn parse_provenance(bytes: &[u8]) -> Result<Provenance, ProvenanceRejected> {
    if bytes.is_empty() {
        return Err(ProvenanceRejected::Empty);
    }
    Ok(provenance::parse(bytes)?)
}

/// A provenance file uploaded with a chart must describe that chart, or `helm --verify` fails
/// later. One that does not list the archive at all is accepted.
pub(crate) fn check_provenance_for(prov: &Provenance, chart: &LoadedChart) -> Result<(), ProvenanceRejected> {
    let (name, version) = (&chart.metadata.name, &chart.metadata.version);
    if !prov.is_for(name, version) {
        return Err(ProvenanceRejected::OtherChart {
            prov_name: prov.name.clone(),
            prov_version: prov.version.clone(),
            name: name.clone(),
            version: version.clone(),
        });
    }
    let file = chart_file(name, version);
    match prov.vouches_for(&file, &chart.digest) {
        Vouch::Differs { recorded } => {
            Err(ProvenanceRejected::OtherArchive { recorded: recorded.to_owned(), file, digest: chart.digest.clone() })
        }
        Vouch::Matches | Vouch::Silent => Ok(()),
    }
}

/// A replaced chart must not keep a provenance file that does not vouch for its new bytes:
/// `helm --verify` would fail on it. One that still does (same bytes re-uploaded) is kept, and
/// its record with it (the replaced entry's, for the same bytes, or a new unverified one).
/// A failure to find out or to remove it is the caller's to answer.
pub(crate) async fn drop_stale_provenance(
    storage: &Storage,
    name: &str,
    version: &str,
    digest: &str,
    replaced: Option<&Entry>,
) -> Result<Option<ProvenanceRecord>, StorageError> {
    let file = prov_file(name, version);
    let (info, bytes) = match storage.read_with_info(&file).await {
        Ok(read) => read,
        Err(StorageError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let vouches = provenance::parse(&bytes)
        .is_ok_and(|p| matches!(p.vouches_for(&chart_file(name, version), digest), Vouch::Matches));
    if vouches {
        let recorded = replaced.filter(|e| e.digest() == digest).and_then(|e| e.provenance().cloned());
        return Ok(Some(
            recorded.filter(|r| r.describes(&info)).unwrap_or_else(|| ProvenanceRecord::stored(&info, None)),
        ));
    }
    remove_provenance(storage, name, version).await.map(|()| None)
}

pub(crate) async fn remove_provenance(storage: &Storage, name: &str, version: &str) -> Result<(), StorageError> {
    let file = prov_file(name, version);
    match delete_settled(storage, &file).await {
        Ok(()) => {
            tracing::info!(%file, "removed a provenance file that no longer matches the replaced chart");
            Ok(())
        }
        Err(StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Under `off`, the provenance file stored for a version this replica has not indexed: sent
/// ahead of the chart (`POST /api/prov` first, as ChartMuseum allows), it must name the chart
/// and vouch for its bytes, or `helm --verify` fails on every download later. A mismatch refuses
/// the chart (the stored file is not thrown away: it is what a client uploaded); one that vouches
/// is kept and recorded. A mismatch that belongs to a stored archive (see [`whose`]) is that
/// archive's: the upload is a conflict, or with `overwrite` a replacement that drops it.
pub(crate) async fn provenance_ahead(
    storage: &Storage,
    chart: &LoadedChart,
    overwrite: bool,
) -> Result<ProvenanceFound, PublishError> {
    let (name, version) = (&chart.metadata.name, &chart.metadata.version);
    let file = prov_file(name, version);
    let (info, bytes) = match storage.read_with_info(&file).await {
        Ok(read) => read,
        Err(StorageError::NotFound(_)) => return Ok(ProvenanceFound::None),
        Err(e) => return Err(e.into()),
    };
    let reason = match provenance::parse(&bytes) {
        Err(e) => e.to_string(),
        Ok(prov) if !prov.is_for(name, version) => format!("it is for {}-{}", prov.name, prov.version),
        Ok(prov) => match prov.vouches_for(&chart_file(name, version), &chart.digest) {
            Vouch::Matches | Vouch::Silent => return Ok(ProvenanceFound::Kept(ProvenanceRecord::stored(&info, None))),
            Vouch::Differs { recorded } => format!("it records {recorded}"),
        },
    };
    match whose(storage, name, version).await? {
        Owner::StoredArchive if overwrite => Ok(ProvenanceFound::Replaced),
        Owner::StoredArchive => Err(PublishError::Exists(chart_file(name, version))),
        Owner::Nobody => Ok(ProvenanceFound::None),
        Owner::Ahead => Err(ProvenanceRejected::StaleAhead { file, reason, digest: chart.digest.clone() }.into()),
    }
}

/// Whose a stored provenance file is that does not vouch for an arriving chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The version's archive is stored: the file is that archive's (a peer replica stored both,
    /// or replaced the archive, and this replica has not heard of it yet).
    StoredArchive,
    /// No archive: the file was sent ahead of its chart.
    Ahead,
    /// Neither is stored any more: a delete (which removes the provenance file first) took both
    /// since the file was read.
    Nobody,
}

/// Tells a provenance file sent ahead of its chart from the one of an archive stored by a peer
/// this replica has not heard from yet (one HEAD; a second only when the archive is missing).
/// Without it a lagging replica refused an upload with 400 "does not match the chart" where the
/// answer is 409, or where `?force` replaces the archive (the soak on two S3 replicas).
async fn whose(storage: &Storage, name: &str, version: &str) -> Result<Owner, StorageError> {
    match storage.head(&chart_file(name, version)).await {
        Ok(_) => return Ok(Owner::StoredArchive),
        Err(StorageError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    match storage.head(&prov_file(name, version)).await {
        Ok(_) => Ok(Owner::Ahead),
        Err(StorageError::NotFound(_)) => Ok(Owner::Nobody),
        Err(e) => Err(e),
    }
}

/// Under a verifying policy, the provenance file stored for a chart that arrives without one
/// (one GET): it must verify for the chart, unless it is the one of the bytes being replaced
/// (`replaced`, or an archive a peer stored that this replica has not indexed: see [`whose`]),
/// which goes with them (or, without `overwrite`, makes the upload a conflict). `required`
/// refuses a chart left without one.
pub(crate) async fn stored_provenance(
    storage: &Storage,
    keyring: Arc<Keyring>,
    mode: ProvenanceMode,
    chart: &ChartIdentity,
    replaced: Option<&Entry>,
    overwrite: bool,
) -> Result<ProvenanceFound, PublishError> {
    let file = prov_file(&chart.name, &chart.version);
    let archive = chart_file(&chart.name, &chart.version);
    let required = |hint| ProvenanceRejected::Required { file: archive.clone(), hint };
    let (info, bytes) = match storage.read_with_info(&file).await {
        Ok(read) => read,
        Err(StorageError::NotFound(_)) if mode == ProvenanceMode::Required => return Err(required("").into()),
        Err(StorageError::NotFound(_)) => return Ok(ProvenanceFound::None),
        Err(e) => return Err(e.into()),
    };
    let replacing = || match mode {
        ProvenanceMode::Required => Err(required("; the stored one is for the bytes being replaced").into()),
        _ => Ok(ProvenanceFound::Replaced),
    };
    let for_replaced = replaced.is_some_and(|old| {
        old.digest() != chart.digest
            && provenance::parse(&bytes).is_ok_and(|p| matches!(p.vouches_for(&archive, &old.digest()), Vouch::Matches))
    });
    if for_replaced {
        return replacing();
    }
    let error = match verify_upload(keyring, bytes, chart.clone()).await {
        Ok(signature) => return Ok(ProvenanceFound::Kept(ProvenanceRecord::stored(&info, Some(signature)))),
        Err(error) => error,
    };
    match whose(storage, &chart.name, &chart.version).await? {
        // Indexed here, the version is a conflict before this is asked; not indexed, a peer's.
        Owner::StoredArchive if overwrite => replacing(),
        Owner::StoredArchive => Err(PublishError::Exists(archive)),
        Owner::Nobody if mode == ProvenanceMode::Required => Err(required("").into()),
        Owner::Nobody => Ok(ProvenanceFound::None),
        Owner::Ahead => Err(ProvenanceRejected::StoredUnverified { file, error }.into()),
    }
}

/// Lowercase hex sha256 of an archive, as the index keeps digests.
pub(crate) fn hex_digest(archive: &[u8]) -> String {
    let prefixed = ChartDigest::of(archive).prefixed();
    prefixed.strip_prefix("sha256:").unwrap_or(&prefixed).to_owned()
}
