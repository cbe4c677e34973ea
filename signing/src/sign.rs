//! Writing a provenance file the way `helm package --sign` (Helm 3) writes it.
//!
//! The message block is `Chart.yaml` as Helm marshals it, `\n...\n`, then
//! `files:\n  <archive>: sha256:<hex>\n`. It is clear-signed with SHA-512 by a version 4
//! signature of type "text" whose hashed area holds the creation time and the issuer key id and
//! whose unhashed area is empty, exactly as Go's `x/crypto/openpgp/clearsign` (Helm 3) makes
//! it; the block's last line break belongs to the armor, and the file ends right after
//! `-----END PGP SIGNATURE-----`. An RSA signature made at the same second is therefore
//! byte-for-byte Helm's.

use jiff::Timestamp;
use pgp::composed::{ArmorOptions, CleartextSignedMessage, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, KeyVersion, Password};

use crate::keys::{SecretKey, fingerprint_hex};
use crate::validity::{self, Component, Unusable};
use crate::verify::ChartDigest;

/// Why a chart could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("cannot sign: archive file name {0:?} is not a plain file name (letters, digits, '.', '_', '+', '-')")]
    InvalidFileName(String),
    #[error("cannot sign: chart metadata {0}")]
    InvalidMetadata(&'static str),
    #[error("key {fingerprint} is protected by a passphrase, and none was given")]
    PassphraseRequired { fingerprint: String },
    #[error("wrong passphrase for key {fingerprint}")]
    WrongPassphrase { fingerprint: String },
    #[error("key {fingerprint} expired at {expired_at}")]
    KeyExpired { fingerprint: String, expired_at: Timestamp },
    #[error("key {fingerprint} is revoked")]
    KeyRevoked { fingerprint: String },
    #[error("neither key {fingerprint} nor any of its subkeys is allowed to sign")]
    KeyCannotSign { fingerprint: String },
    #[error("key {fingerprint} is not usable: {reason}")]
    KeyInvalid { fingerprint: String, reason: String },
    #[error("key {fingerprint} is an OpenPGP version 6 key, which Helm cannot verify")]
    UnsupportedKeyVersion { fingerprint: String },
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The message block Helm signs: `metadata` (which must end with a line break, as Helm's YAML
/// does; one is added otherwise), the `...` separator and the archive's digest.
pub fn message_block(chart: &[u8], chart_file_name: &str, metadata: &str) -> Result<String, SignError> {
    let plain_name = !chart_file_name.is_empty()
        && !chart_file_name.starts_with(['-', '.'])
        && chart_file_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if !plain_name {
        return Err(SignError::InvalidFileName(chart_file_name.to_owned()));
    }
    if metadata.trim().is_empty() {
        return Err(SignError::InvalidMetadata("is empty"));
    }
    if metadata.contains("\n...\n") || metadata.starts_with("...\n") {
        return Err(SignError::InvalidMetadata("contains the \"...\" separator line"));
    }
    let mut block = metadata.to_owned();
    if !block.ends_with('\n') {
        block.push('\n');
    }
    block.push_str("\n...\n");
    block.push_str(&format!("files:\n  {chart_file_name}: {}\n", ChartDigest::of(chart).prefixed()));
    Ok(block)
}

/// Sign `chart` (the archive bytes, named `chart_file_name`, whose `Chart.yaml` as Helm writes
/// it is `metadata`) with `key` at time `now`; returns the `.prov` file's bytes.
///
/// The primary key signs when it may; otherwise a signing subkey. An expired, revoked or
/// non-signing key is refused rather than producing a file every verifier would reject.
/// `passphrase` unlocks a protected key (ignored for an unprotected one).
pub fn sign(
    chart: &[u8],
    chart_file_name: &str,
    metadata: &str,
    key: &SecretKey,
    passphrase: &[u8],
    now: Timestamp,
) -> Result<Vec<u8>, SignError> {
    let block = message_block(chart, chart_file_name, metadata)?;
    let fingerprint = key.fingerprint();
    let now_secs =
        u32::try_from(now.as_second()).map_err(|_| SignError::Signing(format!("time {now} out of range")))?;
    let signer = choose_signer(key, u64::from(now_secs))?;
    if signer.version() != KeyVersion::V4 {
        return Err(SignError::UnsupportedKeyVersion { fingerprint });
    }

    let password = Password::from(passphrase);
    if signer.is_encrypted() {
        if passphrase.is_empty() {
            return Err(SignError::PassphraseRequired { fingerprint });
        }
        if !signer.unlocks(&password) {
            return Err(SignError::WrongPassphrase { fingerprint });
        }
    }

    let subpacket = |data| Subpacket::regular(data).map_err(|e| SignError::Signing(e.to_string()));
    let mut config = SignatureConfig::v4(SignatureType::Text, signer.algorithm(), HashAlgorithm::Sha512);
    config.hashed_subpackets = vec![
        subpacket(SubpacketData::SignatureCreationTime(pgp::types::Timestamp::from_secs(now_secs)))?,
        subpacket(SubpacketData::IssuerKeyId(signer.legacy_key_id()))?,
    ];

    // The last line break belongs to the armor. Trailing blanks stay in the text but are not
    // signed (cleartext signatures ignore them).
    let text = block.strip_suffix('\n').unwrap_or(&block);
    let signed = trim_line_ends(text);
    let signature = match &signer {
        Signer::Primary(k) => config.sign(*k, &password, signed.as_bytes()),
        Signer::Subkey(k) => config.sign(*k, &password, signed.as_bytes()),
    }
    .map_err(|e| SignError::Signing(e.to_string()))?;
    let message = CleartextSignedMessage::new_many(text, |_| Ok(vec![signature]))
        .map_err(|e| SignError::Signing(e.to_string()))?;
    let mut armored =
        message.to_armored_bytes(ArmorOptions::default()).map_err(|e| SignError::Signing(e.to_string()))?;
    // Helm writes no line break after the end marker.
    if armored.last() == Some(&b'\n') {
        armored.pop();
    }
    Ok(armored)
}

/// The secret key material that will sign.
enum Signer<'a> {
    Primary(&'a pgp::packet::SecretKey),
    Subkey(&'a pgp::packet::SecretSubkey),
}

impl Signer<'_> {
    fn version(&self) -> KeyVersion {
        match self {
            Signer::Primary(k) => k.version(),
            Signer::Subkey(k) => k.version(),
        }
    }

    fn algorithm(&self) -> pgp::crypto::public_key::PublicKeyAlgorithm {
        match self {
            Signer::Primary(k) => k.algorithm(),
            Signer::Subkey(k) => k.algorithm(),
        }
    }

    fn legacy_key_id(&self) -> pgp::types::KeyId {
        match self {
            Signer::Primary(k) => k.legacy_key_id(),
            Signer::Subkey(k) => k.legacy_key_id(),
        }
    }

    fn is_encrypted(&self) -> bool {
        match self {
            Signer::Primary(k) => k.secret_params().is_encrypted(),
            Signer::Subkey(k) => k.secret_params().is_encrypted(),
        }
    }

    fn unlocks(&self, password: &Password) -> bool {
        match self {
            Signer::Primary(k) => k.unlock(password, |_, _| Ok(())).is_ok(),
            Signer::Subkey(k) => k.unlock(password, |_, _| Ok(())).is_ok(),
        }
    }
}

/// The primary key when it may sign now, else the first subkey that may and whose secret is
/// present; else the primary key's reason.
fn choose_signer(key: &SecretKey, now: u64) -> Result<Signer<'_>, SignError> {
    let public: SignedPublicKey = key.key.to_public_key();
    let primary = validity::check_signer(&public, Component::Primary, now, now);
    if primary.is_ok() {
        return Ok(Signer::Primary(&key.key.primary_key));
    }
    for secret in &key.key.secret_subkeys {
        let fingerprint = secret.key.fingerprint();
        let Some(subkey) = public.public_subkeys.iter().find(|s| s.key.fingerprint() == fingerprint) else { continue };
        if validity::check_signer(&public, Component::Subkey(subkey), now, now).is_ok() {
            return Ok(Signer::Subkey(&secret.key));
        }
    }
    let fingerprint = fingerprint_hex(&public.primary_key.fingerprint());
    Err(match primary {
        Ok(()) | Err(Unusable::CannotSign) => SignError::KeyCannotSign { fingerprint },
        Err(Unusable::Expired { at }) => SignError::KeyExpired {
            fingerprint,
            expired_at: i64::try_from(at).ok().and_then(|s| Timestamp::from_second(s).ok()).unwrap_or(Timestamp::MAX),
        },
        Err(Unusable::Revoked { .. }) => SignError::KeyRevoked { fingerprint },
        Err(Unusable::Invalid(reason)) => SignError::KeyInvalid { fingerprint, reason },
    })
}

/// `text` with spaces and tabs removed before each line break and at the end.
fn trim_line_ends(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let (content, cr) = match line.strip_suffix('\r') {
            Some(content) => (content, "\r"),
            None => (line, ""),
        };
        out.push_str(content.trim_end_matches([' ', '\t']));
        out.push_str(cr);
    }
    out
}
