//! Verifying a Helm provenance file against a chart and a keyring of trusted keys.
//!
//! What `helm verify` checks (a valid clear-signed message, a signature by a key of the keyring,
//! the archive's sha256 under its file name in `files:`), and more, because a repository that
//! accepts charts must not take a stale or misused signature:
//!
//! * the signing key (or signing subkey) is unexpired (now, and when it signed), unrevoked and
//!   allowed to sign (see [`crate::validity`]); the signature itself is unexpired, has a
//!   creation time, is not from the future and uses a strong hash;
//! * the signed `Chart.yaml` names the chart's own name and version (Helm ignores that half).
//!
//! Everything is read from the text the signature covers, never from the unsigned framing.

use chartroom_chart::provenance::{self, ProvenanceError};
use jiff::Timestamp;
use pgp::composed::{CleartextSignedMessage, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{Fingerprint, KeyDetails, KeyVersion};
use sha2::{Digest, Sha256};

use crate::keys::{Keyring, fingerprint_hex, key_id_hex};
use crate::validity::{self, Component, Unusable};

/// How far in the future a signature's creation time may lie (clock skew between the signer and
/// the verifier) before it is refused.
pub const FUTURE_TOLERANCE_SECS: u64 = 5 * 60;

/// SHA-256 of a chart archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChartDigest([u8; 32]);

impl ChartDigest {
    /// Digest of the archive bytes.
    pub fn of(archive: &[u8]) -> ChartDigest {
        ChartDigest(Sha256::digest(archive).into())
    }

    /// From 64 hex digits, with or without a `sha256:` prefix (as the index stores digests).
    pub fn from_hex(hex_digest: &str) -> Option<ChartDigest> {
        let hex_digest = hex_digest.strip_prefix("sha256:").unwrap_or(hex_digest);
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut out).ok()?;
        Some(ChartDigest(out))
    }

    /// `sha256:<lower-case hex>`, the form of a provenance `files:` entry.
    pub fn prefixed(&self) -> String {
        format!("sha256:{}", hex::encode(self.0))
    }
}

/// The chart a provenance file must vouch for.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedChart<'a> {
    /// Archive basename the `files:` entry must name: `<name>-<version>.tgz` for charts that
    /// Helm packaged, or the local file's basename for a chart on disk (as `helm verify`).
    pub file_name: &'a str,
    /// `name` of the chart's `Chart.yaml`.
    pub name: &'a str,
    /// `version` of the chart's `Chart.yaml`.
    pub version: &'a str,
    pub digest: ChartDigest,
}

/// A provenance file that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signing key's user id (its primary one), as `helm verify` prints "Signed by".
    pub user_id: Option<String>,
    /// Primary key fingerprint, upper-case hex (`helm verify`: "Using Key With Fingerprint").
    pub fingerprint: String,
    /// Key id (16 hex digits) of the key that made the signature: the primary key or a subkey.
    pub key_id: String,
    /// Fingerprint of the key that made the signature (differs from `fingerprint` for a subkey).
    pub signing_key_fingerprint: String,
    /// The signature's creation time.
    pub signed_at: Timestamp,
    /// `sha256:<hex>` of the verified archive.
    pub digest: String,
}

/// Which check a provenance file failed. Messages name the check and the key, fit for a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a well-formed Helm provenance file (structure, metadata or `files:` section).
    #[error(transparent)]
    Malformed(#[from] ProvenanceError),
    /// The clear-signed framing or the signature packets cannot be read.
    #[error("invalid provenance file: OpenPGP signature: {0}")]
    MalformedSignature(String),
    #[error("provenance is signed by key {key_id}, which is not in the trusted keyring")]
    UnknownKey { key_id: String },
    #[error("bad provenance signature by key {key_id}: {reason}")]
    BadSignature { key_id: String, reason: String },
    #[error("provenance signature by key {key_id} uses the weak hash algorithm {algorithm}")]
    WeakHash { key_id: String, algorithm: String },
    #[error("provenance signature by key {key_id} is dated {signed_at}, in the future")]
    SignatureInFuture { key_id: String, signed_at: Timestamp },
    #[error("provenance signature by key {key_id} expired at {expired_at}")]
    SignatureExpired { key_id: String, expired_at: Timestamp },
    #[error("provenance is signed by key {fingerprint}{}, which expired at {expired_at}", by(.user_id))]
    KeyExpired { fingerprint: String, user_id: Option<String>, expired_at: Timestamp },
    #[error("provenance is signed by key {fingerprint}{}, which is revoked{}", by(.user_id), because(.reason))]
    KeyRevoked { fingerprint: String, user_id: Option<String>, reason: Option<String> },
    #[error("provenance is signed by key {fingerprint}{}, which is not allowed to sign", by(.user_id))]
    KeyCannotSign { fingerprint: String, user_id: Option<String> },
    #[error("provenance is signed by key {fingerprint}{}, which is not usable: {reason}", by(.user_id))]
    KeyInvalid { fingerprint: String, user_id: Option<String>, reason: String },
    #[error("provenance is for chart {found:?}, not {expected:?}")]
    WrongName { expected: String, found: String },
    #[error("provenance is for {name} version {found}, not version {expected}")]
    WrongVersion { name: String, expected: String, found: String },
    #[error("provenance does not contain a SHA for a file named {file_name:?}")]
    NoFilesEntry { file_name: String },
    #[error("sha256 sum does not match for {file_name}: the provenance file says {signed}, the chart is {actual}")]
    DigestMismatch { file_name: String, signed: String, actual: String },
}

fn by(user_id: &Option<String>) -> String {
    user_id.as_ref().map(|u| format!(" ({u})")).unwrap_or_default()
}

fn because(reason: &Option<String>) -> String {
    reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
}

/// Verify `prov` (a `.prov` file's bytes) for `chart` with the keys of `keyring`, judging key
/// and signature lifetimes at `now`.
///
/// Checks, in order: the file's structure; a signature by a key of the keyring
/// ([`VerifyError::UnknownKey`]) that matches the signed text ([`VerifyError::BadSignature`]);
/// the signature's and the key's validity; then the signed content: chart name, version, the
/// `files:` entry for `chart.file_name` and its digest. With several signatures, the first one
/// that passes wins; if none does, the first one's error is returned.
pub fn verify(
    prov: &[u8],
    chart: &ExpectedChart<'_>,
    keyring: &Keyring,
    now: Timestamp,
) -> Result<Verified, VerifyError> {
    // Structure first: its errors say precisely what is wrong with the file.
    provenance::parse(prov)?;
    let text = std::str::from_utf8(prov).map_err(|_| ProvenanceError::NotUtf8)?;
    let (message, _headers) =
        CleartextSignedMessage::from_string(text).map_err(|e| VerifyError::MalformedSignature(e.to_string()))?;
    if message.signatures().is_empty() {
        return Err(VerifyError::MalformedSignature("no signature packet".into()));
    }
    let signed_text = message.signed_text();
    let now_secs = u64::try_from(now.as_second()).unwrap_or(0);

    let mut first_error = None;
    for signature in message.signatures() {
        match check_signature(signature, signed_text.as_bytes(), keyring, now_secs) {
            Ok(signer) => return check_content(&signed_text, chart, signer),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| VerifyError::MalformedSignature("no signature packet".into())))
}

/// Who made a signature that passed every signature and key check.
struct Signer<'a> {
    key: &'a SignedPublicKey,
    component: Component<'a>,
    signed_at: u32,
}

fn check_signature<'a>(
    signature: &Signature,
    signed_text: &[u8],
    keyring: &'a Keyring,
    now: u64,
) -> Result<Signer<'a>, VerifyError> {
    let key_id = issuer_key_id(signature);
    let candidates: Vec<(&SignedPublicKey, Component<'_>)> = keyring
        .keys
        .iter()
        .flat_map(components)
        .filter(|(key, component)| is_issuer(signature, key, *component))
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::UnknownKey { key_id });
    }
    // Key ids can collide: any candidate whose material verifies the signature is the signer.
    let verified = candidates.into_iter().find(|(key, component)| match component {
        Component::Primary => signature.verify(&key.primary_key, signed_text).is_ok(),
        Component::Subkey(subkey) => signature.verify(&subkey.key, signed_text).is_ok(),
    });
    let Some((key, component)) = verified else {
        return Err(VerifyError::BadSignature {
            key_id,
            reason: "it does not match the signed text (the provenance file was altered, or signed with another key)"
                .into(),
        });
    };

    if !matches!(signature.typ(), Some(SignatureType::Text | SignatureType::Binary)) {
        let reason = format!("it is not a document signature (type {:?})", signature.typ());
        return Err(VerifyError::BadSignature { key_id, reason });
    }
    if let Some(algorithm) = signature
        .hash_alg()
        .filter(|h| matches!(h, HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160))
    {
        return Err(VerifyError::WeakHash { key_id, algorithm: format!("{algorithm:?}") });
    }
    let Some(signed_at) = signature.created().map(|t| t.as_secs()) else {
        return Err(VerifyError::BadSignature { key_id, reason: "it has no creation time".into() });
    };
    let signed_at_secs = u64::from(signed_at);
    if signed_at_secs > now.saturating_add(FUTURE_TOLERANCE_SECS) {
        return Err(VerifyError::SignatureInFuture { key_id, signed_at: timestamp(signed_at_secs) });
    }
    let component_created = match component {
        Component::Primary => key.primary_key.created_at(),
        Component::Subkey(subkey) => subkey.key.created_at(),
    };
    if signed_at < component_created.as_secs() {
        return Err(VerifyError::BadSignature { key_id, reason: "it is dated before the key was created".into() });
    }
    if let Some(lifetime) = signature.signature_expiration_time().filter(|d| d.as_secs() != 0) {
        let expired_at = signed_at_secs + u64::from(lifetime.as_secs());
        if expired_at <= now {
            return Err(VerifyError::SignatureExpired { key_id, expired_at: timestamp(expired_at) });
        }
    }

    validity::check_signer(key, component, signed_at_secs, now).map_err(|unusable| {
        let fingerprint = fingerprint_hex(&key.primary_key.fingerprint());
        let user_id = validity::display_user_id(key);
        match unusable {
            Unusable::Expired { at } => VerifyError::KeyExpired { fingerprint, user_id, expired_at: timestamp(at) },
            Unusable::Revoked { reason } => VerifyError::KeyRevoked { fingerprint, user_id, reason },
            Unusable::CannotSign => VerifyError::KeyCannotSign { fingerprint, user_id },
            Unusable::Invalid(reason) => VerifyError::KeyInvalid { fingerprint, user_id, reason },
        }
    })?;
    Ok(Signer { key, component, signed_at })
}

/// Name, version and digest, read from the signed text.
fn check_content(signed_text: &str, chart: &ExpectedChart<'_>, signer: Signer<'_>) -> Result<Verified, VerifyError> {
    let block = provenance::parse_message_block(&signed_text.replace("\r\n", "\n"))?;
    if block.name != chart.name {
        return Err(VerifyError::WrongName { expected: chart.name.to_owned(), found: block.name });
    }
    if block.version != chart.version {
        return Err(VerifyError::WrongVersion {
            name: block.name,
            expected: chart.version.to_owned(),
            found: block.version,
        });
    }
    let signed = block
        .files
        .get(chart.file_name)
        .ok_or_else(|| VerifyError::NoFilesEntry { file_name: chart.file_name.to_owned() })?;
    let actual = chart.digest.prefixed();
    if *signed != actual {
        return Err(VerifyError::DigestMismatch {
            file_name: chart.file_name.to_owned(),
            signed: signed.clone(),
            actual,
        });
    }

    let (key_id, signing_key_fingerprint) = match signer.component {
        Component::Primary => (signer.key.primary_key.legacy_key_id(), signer.key.primary_key.fingerprint()),
        Component::Subkey(subkey) => (subkey.key.legacy_key_id(), subkey.key.fingerprint()),
    };
    Ok(Verified {
        user_id: validity::display_user_id(signer.key),
        fingerprint: fingerprint_hex(&signer.key.primary_key.fingerprint()),
        key_id: key_id_hex(&key_id),
        signing_key_fingerprint: fingerprint_hex(&signing_key_fingerprint),
        signed_at: timestamp(u64::from(signer.signed_at)),
        digest: actual,
    })
}

/// The primary key and every subkey of `key`.
fn components(key: &SignedPublicKey) -> impl Iterator<Item = (&SignedPublicKey, Component<'_>)> {
    std::iter::once((key, Component::Primary))
        .chain(key.public_subkeys.iter().map(move |s| (key, Component::Subkey(s))))
}

/// Does the signature name this key as its issuer (by fingerprint, else by key id)? A signature
/// that names no issuer at all may be from any key.
fn is_issuer(signature: &Signature, key: &SignedPublicKey, component: Component<'_>) -> bool {
    let (fingerprint, key_id) = match component {
        Component::Primary => (key.primary_key.fingerprint(), key.primary_key.legacy_key_id()),
        Component::Subkey(subkey) => (subkey.key.fingerprint(), subkey.key.legacy_key_id()),
    };
    let fingerprints = signature.issuer_fingerprint();
    if !fingerprints.is_empty() {
        return fingerprints.iter().any(|f| **f == fingerprint);
    }
    let key_ids = signature.issuer_key_id();
    key_ids.is_empty() || key_ids.iter().any(|k| **k == key_id)
}

/// The issuer's key id for messages: from an issuer key id subpacket, else derived from the
/// issuer fingerprint, else "(unnamed)".
fn issuer_key_id(signature: &Signature) -> String {
    if let Some(id) = signature.issuer_key_id().first() {
        return key_id_hex(id);
    }
    match signature.issuer_fingerprint().first() {
        Some(fingerprint) => key_id_of_fingerprint(fingerprint),
        None => "(unnamed)".to_owned(),
    }
}

/// Key id of a fingerprint: its low 64 bits for v4 keys, its high 64 bits for v6 keys.
fn key_id_of_fingerprint(fingerprint: &Fingerprint) -> String {
    let bytes = fingerprint.as_bytes();
    let id = match fingerprint.version() {
        Some(KeyVersion::V4) => bytes.get(bytes.len().saturating_sub(8)..),
        _ => bytes.get(..8),
    };
    id.map(hex::encode_upper).unwrap_or_else(|| fingerprint_hex(fingerprint))
}

fn timestamp(secs: u64) -> Timestamp {
    i64::try_from(secs).ok().and_then(|s| Timestamp::from_second(s).ok()).unwrap_or(Timestamp::MAX)
}
