//! Reading the identity out of a Helm provenance file (`.prov`).
//!
//! A `.prov` is an OpenPGP clear-signed message (RFC 4880 §7) whose signed text is the chart's
//! `Chart.yaml`, a `\n...\n` separator, then `files: {<archive basename>: sha256:<hex>}`.
//! This module checks the structure and reads the name, version and file digests; it does
//! **not** verify the signature.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::metadata::{self, LenientString};

/// Largest accepted provenance file.
pub const MAX_PROVENANCE_SIZE: usize = 1024 * 1024;

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// What a provenance file says about its chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub name: String,
    pub version: String,
    /// Archive basename → `sha256:<lowercase hex>`.
    pub files: BTreeMap<String, String>,
}

/// What a provenance file says about one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vouch<'a> {
    /// It records exactly this digest for the archive.
    Matches,
    /// It does not list the archive.
    Silent,
    /// It records another digest for the archive.
    Differs {
        /// `sha256:<hex>` as recorded.
        recorded: &'a str,
    },
}

impl Provenance {
    /// Whether this provenance file vouches for the archive `file` whose sha256 is `digest`
    /// (hex): `helm --verify` checks exactly this after the signature.
    pub fn vouches_for(&self, file: &str, digest: &str) -> Vouch<'_> {
        match self.files.get(file) {
            None => Vouch::Silent,
            Some(sum) if sum.strip_prefix("sha256:").is_some_and(|hex| hex.eq_ignore_ascii_case(digest)) => {
                Vouch::Matches
            }
            Some(sum) => Vouch::Differs { recorded: sum },
        }
    }

    /// Whether this provenance file is for the chart `name` at `version`.
    pub fn is_for(&self, name: &str, version: &str) -> bool {
        self.name == name && self.version == version
    }
}

/// Why a provenance file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    #[error("invalid provenance file: larger than {MAX_PROVENANCE_SIZE} bytes")]
    TooLarge,
    #[error("invalid provenance file: not valid UTF-8")]
    NotUtf8,
    #[error("invalid provenance file: does not start with \"{BEGIN_MESSAGE}\"")]
    MissingBegin,
    #[error("invalid provenance file: malformed armor header line {0:?}")]
    BadHeader(String),
    #[error("invalid provenance file: missing \"Hash:\" header")]
    MissingHash,
    #[error("invalid provenance file: missing empty line after the armor headers")]
    MissingBlankLine,
    #[error("invalid provenance file: missing \"{BEGIN_SIGNATURE}\"")]
    MissingSignature,
    #[error("invalid provenance file: missing \"{END_SIGNATURE}\"")]
    MissingSignatureEnd,
    #[error("invalid provenance file: empty signature block")]
    EmptySignature,
    #[error("invalid provenance file: signature block is not base64")]
    BadSignature,
    #[error("invalid provenance file: unexpected data after the signature")]
    TrailingData,
    #[error("invalid provenance file: signed text has no \"...\" separator line")]
    MissingSeparator,
    #[error("invalid provenance file: chart metadata: {0}")]
    BadMetadata(String),
    #[error("invalid provenance file: chart name is missing")]
    MissingName,
    #[error("invalid provenance file: chart version is missing")]
    MissingVersion,
    #[error("invalid provenance file: chart name {0:?} is invalid")]
    InvalidName(String),
    #[error("invalid provenance file: chart version {0:?} is not a valid semantic version")]
    InvalidVersion(String),
    #[error("invalid provenance file: files section: {0}")]
    BadFiles(String),
    #[error("invalid provenance file: no files listed")]
    NoFiles,
    #[error("invalid provenance file: file {file:?} has digest {digest:?}, expected sha256:<64 hex digits>")]
    BadDigest { file: String, digest: String },
}

#[derive(Deserialize)]
struct ProvMetadata {
    #[serde(default)]
    name: Option<LenientString>,
    #[serde(default)]
    version: Option<LenientString>,
}

#[derive(Deserialize)]
struct ProvFiles {
    #[serde(default)]
    files: Option<BTreeMap<String, LenientString>>,
}

/// Structural parse of a Helm `.prov` (no signature verification).
pub fn parse(bytes: &[u8]) -> Result<Provenance, ProvenanceError> {
    if bytes.len() > MAX_PROVENANCE_SIZE {
        return Err(ProvenanceError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ProvenanceError::NotUtf8)?;
    let signed = clearsign_text(text)?;
    parse_message_block(&signed)
}

/// Parse a provenance message block: the signed text of a `.prov` (dash-escaping undone, `\n`
/// line ends), that is `Chart.yaml`, a `\n...\n` separator, then the `files:` section.
///
/// The signature crate calls this on the text its OpenPGP implementation verified, so that
/// what is read is exactly what was signed.
pub fn parse_message_block(signed: &str) -> Result<Provenance, ProvenanceError> {
    let (meta_part, files_part) = signed.split_once("\n...\n").ok_or(ProvenanceError::MissingSeparator)?;

    let meta =
        metadata::parse_yaml_doc::<Option<ProvMetadata>>(meta_part.as_bytes()).map_err(ProvenanceError::BadMetadata)?;
    let (name, version) = match meta {
        Some(m) => (m.name.map(|s| s.0).unwrap_or_default(), m.version.map(|s| s.0).unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    if name.is_empty() {
        return Err(ProvenanceError::MissingName);
    }
    if version.is_empty() {
        return Err(ProvenanceError::MissingVersion);
    }
    if metadata::validate_chart_name(&name).is_err() {
        return Err(ProvenanceError::InvalidName(name));
    }
    // The version names a storage object (`<name>-<version>.tgz.prov`): only what Helm accepts.
    if crate::version::Version::parse(&version).is_err() {
        return Err(ProvenanceError::InvalidVersion(version));
    }

    let sums =
        metadata::parse_yaml_doc::<Option<ProvFiles>>(files_part.as_bytes()).map_err(ProvenanceError::BadFiles)?;
    let listed = sums.and_then(|s| s.files).unwrap_or_default();
    if listed.is_empty() {
        return Err(ProvenanceError::NoFiles);
    }
    let mut files = BTreeMap::new();
    for (file, digest) in listed {
        let digest = digest.0;
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if file.is_empty() || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ProvenanceError::BadDigest { file, digest });
        }
        files.insert(file, format!("sha256:{}", hex.to_ascii_lowercase()));
    }
    Ok(Provenance { name, version, files })
}

/// Check the clear-signed structure and return the signed text, dash-escaping undone, lines
/// joined with `\n` (the line break before the signature belongs to the armor).
fn clearsign_text(text: &str) -> Result<String, ProvenanceError> {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));

    if lines.next().map(str::trim_end) != Some(BEGIN_MESSAGE) {
        return Err(ProvenanceError::MissingBegin);
    }
    // Armor headers, then an empty line.
    let mut has_hash = false;
    loop {
        let line = lines.next().ok_or(ProvenanceError::MissingBlankLine)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        match line.split_once(": ") {
            Some((key, value)) if !key.is_empty() && !value.trim().is_empty() => {
                if key == "Hash" {
                    has_hash = true;
                }
            }
            _ => return Err(ProvenanceError::BadHeader(line.to_owned())),
        }
    }
    if !has_hash {
        return Err(ProvenanceError::MissingHash);
    }
    // Signed text up to the signature marker.
    let mut signed: Vec<&str> = Vec::new();
    let mut found_signature = false;
    for line in lines.by_ref() {
        if line.trim_end() == BEGIN_SIGNATURE {
            found_signature = true;
            break;
        }
        signed.push(line.strip_prefix("- ").unwrap_or(line));
    }
    if !found_signature {
        return Err(ProvenanceError::MissingSignature);
    }
    // Signature armor: optional headers, an empty line, base64 lines, optional =CRC, end.
    let mut in_body = false;
    let mut body_len = 0usize;
    let mut found_end = false;
    for line in lines.by_ref() {
        let line = line.trim_end();
        if line == END_SIGNATURE {
            found_end = true;
            break;
        }
        if !in_body {
            if line.is_empty() {
                in_body = true;
            } else if line.split_once(": ").is_none() {
                // No headers: GnuPG always writes the empty line, but accept a body straight away.
                in_body = true;
                body_len += check_base64_line(line)?;
            }
            continue;
        }
        body_len += check_base64_line(line)?;
    }
    if !found_end {
        return Err(ProvenanceError::MissingSignatureEnd);
    }
    if body_len == 0 {
        return Err(ProvenanceError::EmptySignature);
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(ProvenanceError::TrailingData);
    }
    Ok(signed.join("\n"))
}

/// Length of the base64 payload of one armor line (0 for the `=XXXX` checksum line).
fn check_base64_line(line: &str) -> Result<usize, ProvenanceError> {
    if line.is_empty() {
        return Ok(0);
    }
    if let Some(crc) = line.strip_prefix('=') {
        if crc.len() == 4 && crc.bytes().all(is_base64_byte) {
            return Ok(0);
        }
        return Err(ProvenanceError::BadSignature);
    }
    let trimmed = line.trim_end_matches('=');
    if line.len() - trimmed.len() > 2 || !trimmed.bytes().all(is_base64_byte) {
        return Err(ProvenanceError::BadSignature);
    }
    Ok(trimmed.len())
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "c6841b3a895f1444a6738b5d04564a57e860ce42f8519c3be807fb6d9bee7888";

    fn prov(body: &str) -> String {
        format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{body}\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJcon2ICRCEO7+YH8GHYgAASEAIAHD4Rad+LF47qNydI+k7x3aC\n=YgnR\n-----END PGP SIGNATURE-----\n"
        )
    }

    #[test]
    fn parses_minimal() {
        let p = parse(
            prov(&format!("apiVersion: v2\nname: x\nversion: 1.0.0\n\n...\nfiles:\n  x-1.0.0.tgz: sha256:{DIGEST}"))
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.name, "x");
        assert_eq!(p.version, "1.0.0");
        assert_eq!(p.files.get("x-1.0.0.tgz").map(String::as_str), Some(format!("sha256:{DIGEST}").as_str()));
    }

    #[test]
    fn dash_escaping_and_crlf() {
        let body =
            format!("name: x\nversion: 1.0.0\nkeywords:\n- - a\n- - b\n...\nfiles:\n  x-1.0.0.tgz: sha256:{DIGEST}");
        let p = parse(prov(&body).replace('\n', "\r\n").as_bytes()).unwrap();
        assert_eq!(p.name, "x");
    }

    #[test]
    fn vouching_for_an_archive() {
        let p = parse(
            prov(&format!("name: x\nversion: 1.0.0\n...\nfiles:\n  x-1.0.0.tgz: sha256:{}", DIGEST.to_uppercase()))
                .as_bytes(),
        )
        .unwrap();
        let other = "ab".repeat(32);
        let recorded = format!("sha256:{DIGEST}");
        for (file, digest, expected) in [
            ("x-1.0.0.tgz", DIGEST, Vouch::Matches),
            ("x-1.0.0.tgz", &DIGEST.to_uppercase(), Vouch::Matches),
            ("x-1.0.0.tgz", &other, Vouch::Differs { recorded: &recorded }),
            ("x-1.0.0.tgz", "", Vouch::Differs { recorded: &recorded }),
            ("y-1.0.0.tgz", DIGEST, Vouch::Silent),
        ] {
            assert_eq!(p.vouches_for(file, digest), expected, "{file} {digest}");
        }
        assert!(p.is_for("x", "1.0.0"));
        assert!(!p.is_for("x", "1.0.1") && !p.is_for("y", "1.0.0"));
    }

    #[test]
    fn errors() {
        let ok_files = format!("\n...\nfiles:\n  x-1.0.0.tgz: sha256:{DIGEST}");
        assert_eq!(parse(b"hello").unwrap_err(), ProvenanceError::MissingBegin);
        assert_eq!(parse(&vec![b'a'; MAX_PROVENANCE_SIZE + 1]).unwrap_err(), ProvenanceError::TooLarge);
        assert_eq!(parse(prov("name: x\nversion: 1.0.0").as_bytes()).unwrap_err(), ProvenanceError::MissingSeparator);
        assert_eq!(
            parse(prov(&format!("version: 1.0.0{ok_files}")).as_bytes()).unwrap_err(),
            ProvenanceError::MissingName
        );
        assert_eq!(parse(prov(&format!("name: x{ok_files}")).as_bytes()).unwrap_err(), ProvenanceError::MissingVersion);
        assert!(matches!(
            parse(prov(&format!("name: ../x\nversion: 1{ok_files}")).as_bytes()).unwrap_err(),
            ProvenanceError::InvalidName(_)
        ));
        assert!(matches!(
            parse(prov("name: x\nversion: 1\n...\nfiles:\n  x.tgz: md5:abc").as_bytes()).unwrap_err(),
            ProvenanceError::BadDigest { .. }
        ));
        assert_eq!(parse(prov("name: x\nversion: 1\n...\nfoo: bar").as_bytes()).unwrap_err(), ProvenanceError::NoFiles);
        assert_eq!(
            parse(prov(&format!("name: x\nversion: ../../1{ok_files}")).as_bytes()).unwrap_err(),
            ProvenanceError::InvalidVersion("../../1".into())
        );
        let no_sig = format!("{BEGIN_MESSAGE}\nHash: SHA512\n\nname: x\n");
        assert_eq!(parse(no_sig.as_bytes()).unwrap_err(), ProvenanceError::MissingSignature);
        let empty_sig = format!(
            "{BEGIN_MESSAGE}\nHash: SHA512\n\nname: x\nversion: 1{ok_files}\n{BEGIN_SIGNATURE}\n\n{END_SIGNATURE}\n"
        );
        assert_eq!(parse(empty_sig.as_bytes()).unwrap_err(), ProvenanceError::EmptySignature);
        let no_hash = format!("{BEGIN_MESSAGE}\n\nname: x\n");
        assert_eq!(parse(no_hash.as_bytes()).unwrap_err(), ProvenanceError::MissingHash);
        let bad_sig = format!(
            "{BEGIN_MESSAGE}\nHash: SHA512\n\nname: x\nversion: 1{ok_files}\n{BEGIN_SIGNATURE}\n\nnot base64!\n{END_SIGNATURE}\n"
        );
        assert_eq!(parse(bad_sig.as_bytes()).unwrap_err(), ProvenanceError::BadSignature);
        let trailing = format!("{}junk", prov(&format!("name: x\nversion: 1{ok_files}")));
        assert_eq!(parse(trailing.as_bytes()).unwrap_err(), ProvenanceError::TrailingData);
        assert!(parse(b"\xff\xfe").unwrap_err().to_string().starts_with("invalid provenance file: "));
    }
}
