//! Verifying a chart's provenance file like `helm verify`: the archive, its `<archive>.prov` and
//! a keyring of trusted public keys. Stricter than Helm: the signing key must be unexpired and
//! unrevoked, and the signed name and version must be the archive's (see `chartroom_signing`).

use std::path::Path;

use chartroom_chart::archive::{Limits, load_archive};
use chartroom_signing::{ChartDigest, ExpectedChart, Keyring, Verified, verify};

use crate::error::{ClientError, ErrorKind};
use crate::sign::{prov_path, read_keyring_file};

/// A provenance file that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The signing key's primary user id.
    pub signed_by: Option<String>,
    /// Primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// `sha256:<hex>` of the archive.
    pub digest: String,
}

impl Verification {
    /// What `helm verify` prints: `Signed by:`, `Using Key With Fingerprint:`,
    /// `Chart Hash Verified:`, one per line.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if let Some(user_id) = &self.signed_by {
            out.push_str(&format!("Signed by: {user_id}\n"));
        }
        out.push_str(&format!("Using Key With Fingerprint: {}\n", self.fingerprint));
        out.push_str(&format!("Chart Hash Verified: {}\n", self.digest));
        out
    }
}

impl From<Verified> for Verification {
    fn from(v: Verified) -> Verification {
        Verification { signed_by: v.user_id, fingerprint: v.fingerprint, digest: v.digest }
    }
}

/// Reads a public keyring file (armored keys or a binary GnuPG keyring; secret keyrings work
/// too). An unreadable or unusable file is a usage error naming it.
pub fn read_public_keyring(path: &Path) -> Result<Keyring, ClientError> {
    let bytes = read_keyring_file(path)?;
    Keyring::from_bytes(&bytes).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))
}

/// A refused provenance file: [`ErrorKind::Provenance`] (exit code 8), saying which check failed.
pub fn verification_failed(file_name: &str, reason: impl std::fmt::Display) -> ClientError {
    ClientError::new(ErrorKind::Provenance, format!("{file_name}: provenance verification failed: {reason}"))
}

/// Verifies `prov` for the archive `archive` named `file_name` (the `files:` entry checked),
/// whose name and version are read from its own `Chart.yaml`.
pub fn verify_archive(
    archive: &[u8],
    file_name: &str,
    prov: &[u8],
    keyring: &Keyring,
) -> Result<Verification, ClientError> {
    let loaded = load_archive(archive, &Limits::default())
        .map_err(|e| ClientError::invalid_archive(format!("{file_name} is not a valid chart archive: {e}")))?;
    let expected = ExpectedChart {
        file_name,
        name: &loaded.metadata.name,
        version: &loaded.metadata.version,
        digest: ChartDigest::of(archive),
    };
    verify(prov, &expected, keyring, jiff::Timestamp::now())
        .map(Verification::from)
        .map_err(|e| verification_failed(file_name, e))
}

/// `helm verify <chart.tgz>`: the archive, `<chart.tgz>.prov` beside it, the keyring file.
pub fn verify_file(archive_path: &Path, keyring_path: &Path) -> Result<Verification, ClientError> {
    let archive = std::fs::read(archive_path)
        .map_err(|e| ClientError::usage(format!("cannot read {}: {e}", archive_path.display())))?;
    let file_name = archive_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ClientError::usage(format!("{} has no usable file name", archive_path.display())))?;
    let prov_file = prov_path(archive_path);
    let prov = std::fs::read(&prov_file).map_err(|e| {
        let message = format!("could not load provenance file {}: {e}", prov_file.display());
        if e.kind() == std::io::ErrorKind::NotFound {
            ClientError::not_found(message)
        } else {
            ClientError::other(message)
        }
    })?;
    let keyring = read_public_keyring(keyring_path)?;
    verify_archive(&archive, file_name, &prov, &keyring)
}
