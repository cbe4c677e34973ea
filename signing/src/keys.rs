//! Keyrings: the trusted public keys a provenance file is checked against, and the secret keys
//! a chart is signed with.
//!
//! Both read what GnuPG and Helm hand around: ASCII-armored blocks (one or several, as
//! `gpg --armor --export` writes them, concatenated or not) and legacy binary keyrings
//! (`gpg --export`, `gpg --export-secret-keys`, GnuPG 1's `pubring.gpg`/`secring.gpg`, which
//! carry "trust" packets between the key packets; those are local bookkeeping and dropped).
//! GnuPG 2's keybox (`pubring.kbx`) is another format: it is named in the error, so the user
//! knows to export.

use pgp::composed::{PublicOrSecret, SignedPublicKey, SignedSecretKey};
use pgp::types::KeyDetails;

/// Largest accepted keyring (either kind); real keyrings are a few kilobytes per key.
pub const MAX_KEYRING_SIZE: usize = 64 * 1024 * 1024;

const ARMOR_BEGIN: &str = "-----BEGIN PGP ";
const ARMOR_END: &str = "-----END PGP ";
/// OpenPGP packet tag of GnuPG's keyring trust packets.
const TRUST_PACKET_TAG: u8 = 12;

/// Why a keyring could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("keyring is empty")]
    Empty,
    #[error("keyring is larger than {MAX_KEYRING_SIZE} bytes")]
    TooLarge,
    #[error(
        "keyring is a GnuPG keybox (pubring.kbx), which is not supported: export the keys with \
         `gpg --export` (public) or `gpg --export-secret-keys` (secret)"
    )]
    Keybox,
    #[error(
        "keyring is neither ASCII-armored OpenPGP (\"-----BEGIN PGP PUBLIC KEY BLOCK-----\") nor a binary OpenPGP keyring"
    )]
    UnknownFormat,
    #[error("keyring: malformed OpenPGP packet framing at byte {offset}")]
    BadPacket { offset: usize },
    #[error("keyring: armored block {block} is not terminated by an \"-----END PGP ...\" line")]
    UnterminatedArmor { block: usize },
    #[error("keyring: key {index} cannot be read: {reason}")]
    BadKey { index: usize, reason: String },
    #[error("keyring holds no OpenPGP keys")]
    NoKeys,
    #[error("keyring holds no secret keys (a public keyring cannot sign; export with `gpg --export-secret-keys`)")]
    NoSecretKeys,
}

/// Why no secret key was chosen for signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySelectError {
    #[error("no secret key in the keyring matches {0:?} (user id, fingerprint or key id)")]
    NotFound(String),
    #[error("more than one key contain the id {query:?}: {}", .candidates.join(", "))]
    Ambiguous { query: String, candidates: Vec<String> },
}

/// Public keys trusted to sign provenance files.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub(crate) keys: Vec<SignedPublicKey>,
}

/// What a keyring holds, for listings and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    /// Primary key fingerprint, upper-case hex (as `helm verify` prints it).
    pub fingerprint: String,
    /// The 16-hex-digit key id of the primary key.
    pub key_id: String,
    /// Every user id, in keyring order.
    pub user_ids: Vec<String>,
}

impl Keyring {
    /// Read public keys from armored blocks or a binary keyring. Secret keys are accepted too
    /// (their public half is kept), as Helm accepts `secring.gpg` for verification.
    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring, KeyringError> {
        let keys: Vec<SignedPublicKey> = read_keys(bytes)?
            .into_iter()
            .map(|k| match k {
                PublicOrSecret::Public(key) => key,
                PublicOrSecret::Secret(key) => key.to_public_key(),
            })
            .collect();
        Ok(Keyring { keys })
    }

    /// A keyring holding the public halves of these secret keys.
    pub fn from_secret(secret: &SecretKeyring) -> Keyring {
        Keyring { keys: secret.keys.iter().map(|k| k.key.to_public_key()).collect() }
    }

    /// Add the keys of another keyring (several `--keyring` files, or armored files one by one).
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fingerprints, key ids and user ids of the keys, in keyring order.
    pub fn summaries(&self) -> Vec<KeySummary> {
        self.keys.iter().map(summary).collect()
    }
}

/// Secret keys a chart can be signed with.
#[derive(Debug, Clone)]
pub struct SecretKeyring {
    keys: Vec<SecretKey>,
}

/// One secret key (a primary key with its subkeys and user ids), possibly passphrase-protected.
#[derive(Debug, Clone)]
pub struct SecretKey {
    pub(crate) key: SignedSecretKey,
}

impl SecretKeyring {
    /// Read secret keys (`gpg --export-secret-keys`, armored or binary); public keys in the
    /// same data are ignored. At least one secret key is required.
    pub fn from_bytes(bytes: &[u8]) -> Result<SecretKeyring, KeyringError> {
        let keys: Vec<SecretKey> = read_keys(bytes)?
            .into_iter()
            .filter_map(|k| match k {
                PublicOrSecret::Secret(key) => Some(SecretKey { key }),
                PublicOrSecret::Public(_) => None,
            })
            .collect();
        if keys.is_empty() {
            return Err(KeyringError::NoSecretKeys);
        }
        Ok(SecretKeyring { keys })
    }

    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// Choose the signing key the way `helm package --sign --key` does: a user id equal to
    /// `query` wins; otherwise the one key whose user id contains `query` (more than one is an
    /// error). A fingerprint or a 16-digit key id (of the primary key or a subkey; spaces and a
    /// `0x` prefix allowed, any case) selects that key.
    pub fn select(&self, query: &str) -> Result<&SecretKey, KeySelectError> {
        if query.is_empty() {
            return Err(KeySelectError::NotFound(String::new()));
        }
        if let Some(hex) = normalized_hex_id(query) {
            let by_id = self.keys.iter().find(|k| {
                let public = k.key.to_public_key();
                component_ids(&public).any(|(fingerprint, key_id)| fingerprint == hex || key_id == hex)
            });
            if let Some(key) = by_id {
                return Ok(key);
            }
        }
        if let Some(key) = self.keys.iter().find(|k| k.user_ids().iter().any(|id| id == query)) {
            return Ok(key);
        }
        let candidates: Vec<&SecretKey> =
            self.keys.iter().filter(|k| k.user_ids().iter().any(|id| id.contains(query))).collect();
        match candidates.as_slice() {
            [] => Err(KeySelectError::NotFound(query.to_owned())),
            [one] => Ok(one),
            many => Err(KeySelectError::Ambiguous {
                query: query.to_owned(),
                candidates: many.iter().map(|k| k.fingerprint()).collect(),
            }),
        }
    }
}

impl SecretKey {
    /// Primary key fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        fingerprint_hex(&self.key.primary_key.fingerprint())
    }

    /// The 16-hex-digit key id of the primary key.
    pub fn key_id(&self) -> String {
        key_id_hex(&self.key.primary_key.legacy_key_id())
    }

    /// Every user id, in keyring order.
    pub fn user_ids(&self) -> Vec<String> {
        self.key.details.users.iter().map(|u| String::from_utf8_lossy(u.id.id()).into_owned()).collect()
    }

    /// Whether signing needs a passphrase.
    pub fn is_protected(&self) -> bool {
        self.key.primary_key.secret_params().is_encrypted()
            || self.key.secret_subkeys.iter().any(|s| s.key.secret_params().is_encrypted())
    }
}

pub(crate) fn fingerprint_hex(fingerprint: &pgp::types::Fingerprint) -> String {
    hex::encode_upper(fingerprint.as_bytes())
}

pub(crate) fn key_id_hex(key_id: &pgp::types::KeyId) -> String {
    hex::encode_upper(key_id.as_ref())
}

fn summary(key: &SignedPublicKey) -> KeySummary {
    KeySummary {
        fingerprint: fingerprint_hex(&key.primary_key.fingerprint()),
        key_id: key_id_hex(&key.primary_key.legacy_key_id()),
        user_ids: key.details.users.iter().map(|u| String::from_utf8_lossy(u.id.id()).into_owned()).collect(),
    }
}

/// `(fingerprint, key id)` in upper-case hex of the primary key and every subkey.
fn component_ids(key: &SignedPublicKey) -> impl Iterator<Item = (String, String)> + '_ {
    let primary = std::iter::once((
        fingerprint_hex(&key.primary_key.fingerprint()),
        key_id_hex(&key.primary_key.legacy_key_id()),
    ));
    primary.chain(
        key.public_subkeys.iter().map(|s| (fingerprint_hex(&s.key.fingerprint()), key_id_hex(&s.key.legacy_key_id()))),
    )
}

/// `query` as upper-case hex when it looks like a fingerprint or long key id.
fn normalized_hex_id(query: &str) -> Option<String> {
    let compact: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact.strip_prefix("0x").or_else(|| compact.strip_prefix("0X")).unwrap_or(&compact);
    let plausible = matches!(compact.len(), 16 | 40 | 64) && compact.bytes().all(|b| b.is_ascii_hexdigit());
    plausible.then(|| compact.to_ascii_uppercase())
}

/// Every key (public or secret) in armored or binary data.
fn read_keys(bytes: &[u8]) -> Result<Vec<PublicOrSecret>, KeyringError> {
    if bytes.len() > MAX_KEYRING_SIZE {
        return Err(KeyringError::TooLarge);
    }
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).ok_or(KeyringError::Empty)?;
    let data = &bytes[start..];
    // A keybox starts with a 32-byte header blob whose magic "KBXf" sits at offset 8.
    if bytes.get(8..12) == Some(b"KBXf") {
        return Err(KeyringError::Keybox);
    }
    let keys = if data[0] & 0x80 != 0 {
        let packets = without_trust_packets(data)?;
        collect_keys(PublicOrSecret::from_bytes_many(&packets[..]), 0)?
    } else {
        let text = std::str::from_utf8(data).map_err(|_| KeyringError::UnknownFormat)?;
        let blocks = armored_blocks(text)?;
        if blocks.is_empty() {
            return Err(KeyringError::UnknownFormat);
        }
        let mut keys = Vec::new();
        for block in blocks {
            let parsed = PublicOrSecret::from_armor_many_buf(block.as_bytes()).map(|(keys, _headers)| keys);
            let more = collect_keys(parsed, keys.len())?;
            keys.extend(more);
        }
        keys
    };
    if keys.is_empty() {
        return Err(KeyringError::NoKeys);
    }
    Ok(keys)
}

type KeyIter<'a> = Box<dyn Iterator<Item = pgp::errors::Result<PublicOrSecret>> + 'a>;

fn collect_keys(
    parsed: pgp::errors::Result<KeyIter<'_>>,
    first_index: usize,
) -> Result<Vec<PublicOrSecret>, KeyringError> {
    let bad = |index: usize, e: pgp::errors::Error| KeyringError::BadKey { index, reason: e.to_string() };
    let iter = parsed.map_err(|e| bad(first_index, e))?;
    let mut keys = Vec::new();
    for (i, key) in iter.enumerate() {
        keys.push(key.map_err(|e| bad(first_index + i, e))?);
    }
    Ok(keys)
}

/// The `-----BEGIN PGP ...` to `-----END PGP ...-----` blocks of `text`, in order. Text between
/// blocks (comments, blank lines) is ignored.
fn armored_blocks(text: &str) -> Result<Vec<&str>, KeyringError> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find(ARMOR_BEGIN) {
        let block = &rest[begin..];
        let end_marker = block.find(ARMOR_END).ok_or(KeyringError::UnterminatedArmor { block: blocks.len() })?;
        // The end line runs to its closing dashes.
        let after_marker = &block[end_marker + ARMOR_END.len()..];
        let close = after_marker.find("-----").ok_or(KeyringError::UnterminatedArmor { block: blocks.len() })?;
        let len = end_marker + ARMOR_END.len() + close + "-----".len();
        blocks.push(&block[..len]);
        rest = &block[len..];
    }
    Ok(blocks)
}

/// `data` (binary OpenPGP packets) without GnuPG's trust packets, which the key parser does not
/// expect between a user id and its signatures. Packets are copied verbatim.
fn without_trust_packets(data: &[u8]) -> Result<Vec<u8>, KeyringError> {
    let mut out = Vec::with_capacity(data.len());
    let mut offset = 0;
    while offset < data.len() {
        let (tag, total) = packet_extent(data, offset).ok_or(KeyringError::BadPacket { offset })?;
        if tag != TRUST_PACKET_TAG {
            out.extend_from_slice(&data[offset..offset + total]);
        }
        offset += total;
    }
    Ok(out)
}

/// Tag and total length (header included) of the packet starting at `offset` (RFC 9580 §4.2).
/// Partial lengths never occur in keyrings and are refused.
fn packet_extent(data: &[u8], offset: usize) -> Option<(u8, usize)> {
    let ctb = *data.get(offset)?;
    if ctb & 0x80 == 0 {
        return None;
    }
    let byte = |i: usize| data.get(offset + i).map(|b| usize::from(*b));
    let (tag, header, body): (u8, usize, usize) = if ctb & 0x40 != 0 {
        let first = byte(1)?;
        match first {
            0..=191 => (ctb & 0x3f, 2, first),
            192..=223 => (ctb & 0x3f, 3, ((first - 192) << 8) + byte(2)? + 192),
            255 => (ctb & 0x3f, 6, (byte(2)? << 24) | (byte(3)? << 16) | (byte(4)? << 8) | byte(5)?),
            _ => return None,
        }
    } else {
        let tag = (ctb >> 2) & 0x0f;
        match ctb & 0x03 {
            0 => (tag, 2, byte(1)?),
            1 => (tag, 3, (byte(1)? << 8) | byte(2)?),
            2 => (tag, 5, (byte(1)? << 24) | (byte(2)? << 16) | (byte(3)? << 8) | byte(4)?),
            // Indeterminate length: the packet runs to the end of the data.
            _ => (tag, 1, data.len() - offset - 1),
        }
    };
    let total = header.checked_add(body)?;
    (offset.checked_add(total)? <= data.len()).then_some((tag, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELM_PUB: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-test-key.pub");
    const HELM_SECRET: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-test-key.secret");
    const HELM_MIXED: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-mixed-keyring.pub");
    const HELM_PASSWORD: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-password-key.secret");
    const HELM_FPR: &str = "5E615389B53CA37F0EE60BD3843BBF981FC18762";
    const HELM_UID: &str =
        "Helm Testing (This key should only be used for testing. DO NOT TRUST.) <helm-testing@helm.sh>";

    #[test]
    fn reads_helm_binary_keyrings() {
        let ring = Keyring::from_bytes(HELM_PUB).unwrap();
        assert_eq!(
            ring.summaries(),
            [KeySummary {
                fingerprint: HELM_FPR.into(),
                key_id: "843BBF981FC18762".into(),
                user_ids: vec![HELM_UID.into()]
            }]
        );
        let mixed = Keyring::from_bytes(HELM_MIXED).unwrap();
        let fprs: Vec<String> = mixed.summaries().into_iter().map(|s| s.fingerprint).collect();
        assert_eq!(fprs, [HELM_FPR, "4CBE754C25580C6C878DE711FB856812CE2FCB64"]);
        // A secret keyring verifies too (Helm accepts secring.gpg for `helm verify`).
        assert_eq!(Keyring::from_bytes(HELM_SECRET).unwrap().summaries()[0].fingerprint, HELM_FPR);
    }

    #[test]
    fn trust_packets_are_dropped() {
        // GnuPG 1 keyrings put a trust packet (old format, tag 12, 2 bytes) after the key, the
        // user id and each signature.
        let trust = [0xb0u8, 0x02, 0x00, 0x00];
        let mut with_trust = Vec::new();
        let mut offset = 0;
        while offset < HELM_PUB.len() {
            let (_, total) = packet_extent(HELM_PUB, offset).unwrap();
            with_trust.extend_from_slice(&HELM_PUB[offset..offset + total]);
            with_trust.extend_from_slice(&trust);
            offset += total;
        }
        let ring = Keyring::from_bytes(&with_trust).unwrap();
        assert_eq!(ring.summaries(), Keyring::from_bytes(HELM_PUB).unwrap().summaries());
        assert_eq!(without_trust_packets(&with_trust).unwrap(), HELM_PUB);
    }

    #[test]
    fn reads_several_armored_blocks() {
        let armored = |bytes: &[u8]| {
            let key = Keyring::from_bytes(bytes).unwrap().keys.remove(0);
            key.to_armored_string(Default::default()).unwrap()
        };
        let text = format!("# trusted keys\n{}\n\n{}", armored(HELM_PUB), armored(HELM_PASSWORD));
        let ring = Keyring::from_bytes(text.as_bytes()).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.summaries()[1].user_ids, ["password key (fake) <fake@helm.sh>"]);
    }

    #[test]
    fn refuses_what_is_not_a_keyring() {
        assert_eq!(Keyring::from_bytes(b"").unwrap_err(), KeyringError::Empty);
        assert_eq!(Keyring::from_bytes(b" \n").unwrap_err(), KeyringError::Empty);
        assert_eq!(Keyring::from_bytes(b"hello").unwrap_err(), KeyringError::UnknownFormat);
        assert_eq!(Keyring::from_bytes(b"\xff\xfe").unwrap_err(), KeyringError::BadPacket { offset: 0 });
        assert_eq!(
            Keyring::from_bytes(&HELM_PUB[..HELM_PUB.len() - 1]).unwrap_err(),
            KeyringError::BadPacket { offset: 953 }
        );
        let mut kbx = vec![0u8, 0, 0, 32, 1, 1, 0, 2];
        kbx.extend_from_slice(b"KBXf");
        kbx.resize(32, 0);
        assert_eq!(Keyring::from_bytes(&kbx).unwrap_err(), KeyringError::Keybox);
        assert!(matches!(
            Keyring::from_bytes(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n").unwrap_err(),
            KeyringError::UnterminatedArmor { block: 0 }
        ));
        assert!(matches!(
            Keyring::from_bytes(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n")
                .unwrap_err(),
            KeyringError::BadKey { index: 0, .. }
        ));
        assert_eq!(SecretKeyring::from_bytes(HELM_PUB).unwrap_err(), KeyringError::NoSecretKeys);
    }

    #[test]
    fn selects_secret_keys_like_helm() {
        let mut both = HELM_SECRET.to_vec();
        both.extend_from_slice(HELM_PASSWORD);
        let ring = SecretKeyring::from_bytes(&both).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.select("helm-testing@helm.sh").unwrap().fingerprint(), HELM_FPR);
        assert_eq!(ring.select(HELM_UID).unwrap().fingerprint(), HELM_FPR);
        assert_eq!(ring.select("fake@helm.sh").unwrap().key_id(), "7A891631B10DA2B1");
        assert_eq!(ring.select("5e61 5389 b53c a37f 0ee6  0bd3 843b bf98 1fc1 8762").unwrap().fingerprint(), HELM_FPR);
        assert_eq!(ring.select("0x843BBF981FC18762").unwrap().fingerprint(), HELM_FPR);
        assert_eq!(ring.select("nobody").unwrap_err(), KeySelectError::NotFound("nobody".into()));
        assert!(
            matches!(ring.select("helm.sh").unwrap_err(), KeySelectError::Ambiguous { candidates, .. } if candidates.len() == 2)
        );
        assert!(!ring.select("Helm Testing").unwrap().is_protected());
        assert!(ring.select("password key").unwrap().is_protected());
    }
}
