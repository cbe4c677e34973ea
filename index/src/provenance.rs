//! Signed charts: a repository's provenance policy (per tenant), the checks the write path runs
//! on provenance files, and what the index records about each version's provenance file.
//!
//! * [`ProvenancePolicy`]: `off` (what Chartroom always did: a `.prov` is only checked to name
//!   its chart and, if it lists the archive, its digest), `if-present` (a `.prov` must verify
//!   with the trusted keyring) or `required` (and a chart without one is refused), for the whole
//!   repository and per tenant.
//! * [`ProvenanceRecord`]: a version's `.prov` as the index knows it: the stored object (size,
//!   ETag, to notice a change behind the server's back) and, when this server verified it, the
//!   [`Signature`] (signer, fingerprint, signing time). Records travel with entries into the
//!   persisted state and the change log, so they survive restarts and reach the other replicas
//!   without re-reading or re-verifying anything.
//! * The judges: [`verify_upload`] for a `.prov` arriving with (or before) its chart, whose
//!   failures refuse the write, and [`judge_stored`] for a `.prov` found in storage that no write
//!   path recorded (a ChartMuseum bucket, a copy by hand, a lost state file), whose result is
//!   recorded, never enforced.
//!
//! The verification itself is `chartroom_signing::verify`; its [`VerifyError`] text is what a
//! refused upload's 400 says.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::provenance::Provenance;
use chartroom_signing::{ChartDigest, ExpectedChart, Keyring, Verified, VerifyError};
use chartroom_storage::{ObjectInfo, Storage, StorageError, chart_file};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::entry::Entry;
use crate::tenant::Tenant;

/// What a repository demands of provenance files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProvenanceMode {
    /// No signature check (a `.prov` uploaded with its chart must still name that chart).
    #[default]
    Off,
    /// A provenance file, when one arrives, must verify with the trusted keyring.
    IfPresent,
    /// Every chart needs a provenance file that verifies.
    Required,
}

impl ProvenanceMode {
    /// The values the configuration accepts.
    pub const NAMES: [&'static str; 3] = ["off", "if-present", "required"];

    pub fn as_str(self) -> &'static str {
        match self {
            ProvenanceMode::Off => "off",
            ProvenanceMode::IfPresent => "if-present",
            ProvenanceMode::Required => "required",
        }
    }

    /// `off`, `if-present` or `required` (case-insensitive).
    pub fn parse(text: &str) -> Option<ProvenanceMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" => Some(ProvenanceMode::Off),
            "if-present" => Some(ProvenanceMode::IfPresent),
            "required" => Some(ProvenanceMode::Required),
            _ => None,
        }
    }

    /// Whether provenance files are verified under this mode.
    pub fn verifies(self) -> bool {
        self != ProvenanceMode::Off
    }
}

impl fmt::Display for ProvenanceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository's provenance policy: a mode for every tenant (the default, or the tenant's own)
/// and the keyring of trusted public keys.
#[derive(Debug, Clone, Default)]
pub struct ProvenancePolicy {
    default: ProvenanceMode,
    tenants: BTreeMap<Tenant, ProvenanceMode>,
    keyring: Option<Arc<Keyring>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a provenance policy other than off needs a keyring of trusted public keys")]
    NoKeyring,
}

impl ProvenancePolicy {
    /// `default` for every tenant not in `tenants`. A keyring is required as soon as any mode
    /// verifies.
    pub fn new(
        default: ProvenanceMode,
        tenants: BTreeMap<Tenant, ProvenanceMode>,
        keyring: Option<Arc<Keyring>>,
    ) -> Result<ProvenancePolicy, PolicyError> {
        let verifies = default.verifies() || tenants.values().any(|m| m.verifies());
        if verifies && keyring.is_none() {
            return Err(PolicyError::NoKeyring);
        }
        Ok(ProvenancePolicy { default, tenants, keyring })
    }

    /// The mode `tenant`'s writes are held to.
    pub fn mode(&self, tenant: &Tenant) -> ProvenanceMode {
        self.tenants.get(tenant).copied().unwrap_or(self.default)
    }

    /// The trusted keys, if any were configured.
    pub fn keyring(&self) -> Option<&Arc<Keyring>> {
        self.keyring.as_ref()
    }

    /// Whether the index records provenance files (and the chart API shows them): only with a
    /// keyring. Without one (the default), every policy is `off` and nothing differs from a
    /// server that knows nothing of signatures: no records in the API, the persisted state or
    /// the change log, and no request for provenance files beyond what uploads and deletes do.
    pub fn records(&self) -> bool {
        self.keyring.is_some()
    }

    /// The keyring `tenant`'s provenance files are verified with: none under `off`.
    pub(crate) fn verifier(&self, tenant: &Tenant) -> Option<Arc<Keyring>> {
        if self.mode(tenant).verifies() { self.keyring.clone() } else { None }
    }
}

/// Who signed a provenance file that this server verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    /// The signing key's primary user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// Key id of the key that signed (a subkey's when a subkey signed).
    pub key_id: String,
    pub signed_at: Timestamp,
}

impl From<Verified> for Signature {
    fn from(v: Verified) -> Signature {
        Signature { user_id: v.user_id, fingerprint: v.fingerprint, key_id: v.key_id, signed_at: v.signed_at }
    }
}

/// A chart version's provenance file as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenanceRecord {
    /// Size of the stored `.prov` object.
    pub size: u64,
    /// Its ETag when storage reported one: with the size, how a changed file is noticed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The signature this server verified; `None` when it did not verify the file (the policy
    /// was `off` when it arrived, or it was found in storage and did not verify: `failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// Why a provenance file found in storage did not verify (never set for files that came
    /// through an upload: those are refused instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// What the chart API shows (`"provenance"` after Helm's fields).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiView<'a> {
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a str>,
}

impl ProvenanceRecord {
    /// A record of the stored object `info`, verified (`signature`) or not.
    pub(crate) fn stored(info: &ObjectInfo, signature: Option<Signature>) -> ProvenanceRecord {
        ProvenanceRecord { size: info.size, etag: info.e_tag.clone(), signature, failure: None }
    }

    /// Whether a listed or HEADed object is still the file this record describes: same size,
    /// and the same ETag when one is known on both sides.
    pub(crate) fn describes(&self, info: &ObjectInfo) -> bool {
        self.size == info.size && (info.e_tag.is_none() || self.etag.is_none() || info.e_tag == self.etag)
    }

    /// The API's JSON object: `{"verified":true,"signer":…,"fingerprint":…,"keyId":…,"signedAt":…}`,
    /// `{"verified":false}` or `{"verified":false,"failure":…}`.
    pub(crate) fn api_json(&self) -> String {
        let signature = self.signature.as_ref();
        let view = ApiView {
            verified: signature.is_some(),
            signer: signature.and_then(|s| s.user_id.as_deref()),
            fingerprint: signature.map(|s| s.fingerprint.as_str()),
            key_id: signature.map(|s| s.key_id.as_str()),
            signed_at: signature.map(|s| s.signed_at.to_string()),
            failure: self.failure.as_deref(),
        };
        serde_json::to_string(&view).unwrap_or_else(|_| "{\"verified\":false}".to_owned())
    }
}

/// The chart a provenance file must vouch for.
#[derive(Debug, Clone)]
pub(crate) struct ChartIdentity {
    pub name: String,
    pub version: String,
    /// Lowercase hex sha256 of the archive.
    pub digest: String,
}

impl ChartIdentity {
    pub(crate) fn of(entry: &Entry) -> ChartIdentity {
        ChartIdentity {
            name: entry.name().to_owned(),
            version: entry.version().to_owned(),
            digest: entry.digest().to_string(),
        }
    }
}

/// Verifies a provenance file for a chart with `keyring` at the current time, on the blocking
/// pool (a signature check costs a fraction of a millisecond to milliseconds: RSA, EdDSA, ECDSA).
/// The `files:` entry checked is `<name>-<version>.tgz`, the name Helm signs and the repository
/// stores.
pub(crate) async fn verify_upload(
    keyring: Arc<Keyring>,
    prov: Bytes,
    chart: ChartIdentity,
) -> Result<Signature, VerifyError> {
    run_blocking(move || verify_now(&keyring, &prov, &chart)).await
}

/// Verifies a provenance file whose chart is not stored yet (`POST /api/prov` first): the
/// signature, the key and the signed name and version now, against the digest the file itself
/// records; the digest is checked against the chart when it arrives ([`verify_upload`] then).
pub(crate) async fn verify_ahead_of_chart(
    keyring: Arc<Keyring>,
    prov: Bytes,
    parsed: &Provenance,
) -> Result<Signature, VerifyError> {
    let file_name = chart_file(&parsed.name, &parsed.version);
    let recorded = parsed.files.get(&file_name).ok_or(VerifyError::NoFilesEntry { file_name: file_name.clone() })?;
    let digest = recorded.strip_prefix("sha256:").unwrap_or(recorded).to_ascii_lowercase();
    let chart = ChartIdentity { name: parsed.name.clone(), version: parsed.version.clone(), digest };
    verify_upload(keyring, prov, chart).await
}

fn verify_now(keyring: &Keyring, prov: &[u8], chart: &ChartIdentity) -> Result<Signature, VerifyError> {
    let file_name = chart_file(&chart.name, &chart.version);
    // Our own digests are always 64 hex digits; anything else cannot match a signed one.
    let digest = ChartDigest::from_hex(&chart.digest).unwrap_or_else(|| ChartDigest::of(b""));
    let expected = ExpectedChart { file_name: &file_name, name: &chart.name, version: &chart.version, digest };
    chartroom_signing::verify(prov, &expected, keyring, Timestamp::now()).map(Signature::from)
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VerifyError> + Send + 'static,
) -> Result<T, VerifyError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(VerifyError::MalformedSignature(format!("verification aborted: {e}"))))
}

/// The record of a provenance file found in storage (`info`) for `chart`, which no write path
/// recorded: verified with `keyring` when the tenant's policy verifies (one GET), else recorded
/// as present and not verified (no request). `None` when the file is gone.
pub(crate) async fn judge_stored(
    storage: &Storage,
    file: &str,
    info: &ObjectInfo,
    keyring: Option<Arc<Keyring>>,
    chart: ChartIdentity,
) -> Result<Option<ProvenanceRecord>, StorageError> {
    let Some(keyring) = keyring else { return Ok(Some(ProvenanceRecord::stored(info, None))) };
    let (info, bytes) = match storage.read_with_info(file).await {
        Ok(read) => read,
        Err(StorageError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(match verify_upload(keyring, bytes, chart).await {
        Ok(signature) => ProvenanceRecord::stored(&info, Some(signature)),
        Err(e) => ProvenanceRecord { failure: Some(e.to_string()), ..ProvenanceRecord::stored(&info, None) },
    }))
}

/// The provenance file of a chart stored as `chart_file_name`: Helm's `<archive>.prov`.
pub(crate) fn provenance_file_of(chart_file_name: &str) -> String {
    format!("{chart_file_name}.prov")
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn modes_parse_and_show() {
        for name in ProvenanceMode::NAMES {
            let mode = ProvenanceMode::parse(name).unwrap();
            assert_eq!(mode.as_str(), name);
            assert_eq!(mode.to_string(), name);
        }
        assert_eq!(ProvenanceMode::parse(" Required "), Some(ProvenanceMode::Required));
        assert_eq!(ProvenanceMode::parse("on"), None);
        assert!(!ProvenanceMode::Off.verifies() && ProvenanceMode::IfPresent.verifies());
    }

    #[test]
    fn a_verifying_policy_needs_a_keyring_and_tenants_override_the_default() {
        let team = Tenant::parse("team-a").unwrap();
        let tenants = BTreeMap::from([(team.clone(), ProvenanceMode::Required)]);
        assert_eq!(
            ProvenancePolicy::new(ProvenanceMode::Off, tenants.clone(), None).unwrap_err(),
            PolicyError::NoKeyring
        );
        assert_eq!(
            ProvenancePolicy::new(ProvenanceMode::IfPresent, BTreeMap::new(), None).unwrap_err(),
            PolicyError::NoKeyring
        );
        let keyring = Arc::new(Keyring::default());
        let policy = ProvenancePolicy::new(ProvenanceMode::Off, tenants, Some(Arc::clone(&keyring))).unwrap();
        assert_eq!(policy.mode(&team), ProvenanceMode::Required);
        assert_eq!(policy.mode(&Tenant::root()), ProvenanceMode::Off);
        assert!(policy.verifier(&team).is_some() && policy.verifier(&Tenant::root()).is_none());
        let off = ProvenancePolicy::default();
        assert_eq!(off.mode(&team), ProvenanceMode::Off);
        assert!(off.keyring().is_none());
    }

    #[test]
    fn records_show_in_the_api_and_notice_changed_files() {
        let info = |size, e_tag: Option<&str>| ObjectInfo {
            file: "a-1.0.0.tgz.prov".into(),
            size,
            e_tag: e_tag.map(str::to_owned),
            last_modified: SystemTime::UNIX_EPOCH,
        };
        let signature = Signature {
            user_id: Some("Signer <s@example.test>".into()),
            fingerprint: "ABCD".into(),
            key_id: "0123456789ABCDEF".into(),
            signed_at: Timestamp::from_second(1_700_000_000).unwrap(),
        };
        let verified = ProvenanceRecord::stored(&info(10, Some("\"e\"")), Some(signature));
        assert_eq!(
            verified.api_json(),
            r#"{"verified":true,"signer":"Signer <s@example.test>","fingerprint":"ABCD","keyId":"0123456789ABCDEF","signedAt":"2023-11-14T22:13:20Z"}"#
        );
        let unverified = ProvenanceRecord::stored(&info(10, None), None);
        assert_eq!(unverified.api_json(), r#"{"verified":false}"#);
        let failed = ProvenanceRecord { failure: Some("bad".into()), ..unverified.clone() };
        assert_eq!(failed.api_json(), r#"{"verified":false,"failure":"bad"}"#);

        assert!(verified.describes(&info(10, Some("\"e\""))));
        assert!(verified.describes(&info(10, None)), "a listing without ETags is checked on size");
        assert!(!verified.describes(&info(10, Some("\"f\""))));
        assert!(!verified.describes(&info(11, Some("\"e\""))));
        assert!(unverified.describes(&info(10, Some("\"x\""))));

        let json = serde_json::to_string(&verified).unwrap();
        assert_eq!(serde_json::from_str::<ProvenanceRecord>(&json).unwrap(), verified);
        assert_eq!(serde_json::to_string(&failed).unwrap(), r#"{"size":10,"failure":"bad"}"#);
    }
}
