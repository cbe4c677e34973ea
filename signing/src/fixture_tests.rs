//! Verifying and signing against Helm's own provenance fixtures (`pkg/provenance/testdata`,
//! `pkg/downloader/testdata`), compiled in: no file I/O even in these tests.

use jiff::Timestamp;
use pgp::composed::{ArmorOptions, CleartextSignedMessage};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, Password};

use crate::{
    ChartDigest, ExpectedChart, KeySelectError, Keyring, SecretKeyring, SignError, Verified, VerifyError,
    message_block, sign, verify,
};

const HASHTEST_TGZ: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/hashtest-1.2.3.tgz");
const HASHTEST_PROV: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/hashtest-1.2.3.tgz.prov");
const MSGBLOCK: &str = include_str!("../../testdata/helm/pkg/provenance/testdata/msgblock.yaml");
const MSGBLOCK_ASC: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/msgblock.yaml.asc");
const MSGBLOCK_TAMPERED: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/msgblock.yaml.tampered");
const HELM_PUB: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-test-key.pub");
const HELM_SECRET: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-test-key.secret");
const HELM_MIXED: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-mixed-keyring.pub");
const HELM_PASSWORD: &[u8] = include_bytes!("../../testdata/helm/pkg/provenance/testdata/helm-password-key.secret");
const SIGNTEST_TGZ: &[u8] = include_bytes!("../../testdata/helm/pkg/downloader/testdata/signtest-0.1.0.tgz");
const SIGNTEST_PROV: &[u8] = include_bytes!("../../testdata/helm/pkg/downloader/testdata/signtest-0.1.0.tgz.prov");

const HASHTEST_SHA256: &str = "sha256:c6841b3a895f1444a6738b5d04564a57e860ce42f8519c3be807fb6d9bee7888";
const HELM_FPR: &str = "5E615389B53CA37F0EE60BD3843BBF981FC18762";
const HELM_KEY_ID: &str = "843BBF981FC18762";
const HELM_UID: &str = "Helm Testing (This key should only be used for testing. DO NOT TRUST.) <helm-testing@helm.sh>";
/// When `hashtest-1.2.3.tgz.prov` was signed: 2019-04-01T21:07:20Z.
const HASHTEST_SIGNED: i64 = 0x5ca2_7d88;

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn hashtest() -> ExpectedChart<'static> {
    ExpectedChart {
        file_name: "hashtest-1.2.3.tgz",
        name: "hashtest",
        version: "1.2.3",
        digest: ChartDigest::of(HASHTEST_TGZ),
    }
}

fn helm_keyring() -> Keyring {
    Keyring::from_bytes(HELM_PUB).unwrap()
}

/// The chart metadata half of a message block, as Helm hands it to the signer.
fn metadata_of(block: &str) -> &str {
    let end = block.find("\n...\n").unwrap();
    &block[..end]
}

#[test]
fn verifies_helm_hashtest_provenance() {
    let verified = verify(HASHTEST_PROV, &hashtest(), &helm_keyring(), now()).unwrap();
    assert_eq!(
        verified,
        Verified {
            user_id: Some(HELM_UID.into()),
            fingerprint: HELM_FPR.into(),
            key_id: HELM_KEY_ID.into(),
            signing_key_fingerprint: HELM_FPR.into(),
            signed_at: at(HASHTEST_SIGNED),
            digest: HASHTEST_SHA256.into(),
        }
    );
    assert_eq!(ChartDigest::of(HASHTEST_TGZ), ChartDigest::from_hex(HASHTEST_SHA256).unwrap());
    // The key is found among several (RSA and Ed25519), and in a secret keyring too.
    assert!(verify(HASHTEST_PROV, &hashtest(), &Keyring::from_bytes(HELM_MIXED).unwrap(), now()).is_ok());
    assert!(verify(HASHTEST_PROV, &hashtest(), &Keyring::from_bytes(HELM_SECRET).unwrap(), now()).is_ok());
}

#[test]
fn verifies_helm_signtest_provenance() {
    let chart = ExpectedChart {
        file_name: "signtest-0.1.0.tgz",
        name: "signtest",
        version: "0.1.0",
        digest: ChartDigest::from_hex("e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55").unwrap(),
    };
    assert_eq!(chart.digest, ChartDigest::of(SIGNTEST_TGZ));
    let verified = verify(SIGNTEST_PROV, &chart, &helm_keyring(), now()).unwrap();
    assert_eq!(verified.fingerprint, HELM_FPR);
}

#[test]
fn gnupg_clearsigned_message_block_verifies_and_its_tampered_copy_does_not() {
    let verified = verify(MSGBLOCK_ASC, &hashtest(), &helm_keyring(), now()).unwrap();
    assert_eq!(verified.user_id.as_deref(), Some(HELM_UID));
    // GnuPG's signature carries an issuer fingerprint subpacket and the signer's user id.
    assert_eq!(verified.key_id, HELM_KEY_ID);
    assert_eq!(
        verify(MSGBLOCK_TAMPERED, &hashtest(), &helm_keyring(), now()).unwrap_err(),
        VerifyError::BadSignature {
            key_id: HELM_KEY_ID.into(),
            reason: "it does not match the signed text (the provenance file was altered, or signed with another key)"
                .into()
        }
    );
}

#[test]
fn tampered_chart_is_a_digest_mismatch() {
    let mut tgz = HASHTEST_TGZ.to_vec();
    let last = tgz.len() - 1;
    tgz[last] ^= 1;
    let chart = ExpectedChart { digest: ChartDigest::of(&tgz), ..hashtest() };
    let err = verify(HASHTEST_PROV, &chart, &helm_keyring(), now()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::DigestMismatch {
            file_name: "hashtest-1.2.3.tgz".into(),
            signed: HASHTEST_SHA256.into(),
            actual: ChartDigest::of(&tgz).prefixed(),
        }
    );
    assert!(err.to_string().starts_with("sha256 sum does not match for hashtest-1.2.3.tgz: "), "{err}");
}

#[test]
fn signed_content_must_name_the_chart() {
    let keyring = helm_keyring();
    let other_version = ExpectedChart { version: "1.2.4", file_name: "hashtest-1.2.4.tgz", ..hashtest() };
    assert_eq!(
        verify(HASHTEST_PROV, &other_version, &keyring, now()).unwrap_err().to_string(),
        "provenance is for hashtest version 1.2.3, not version 1.2.4"
    );
    let other_name = ExpectedChart { name: "other", ..hashtest() };
    assert_eq!(
        verify(HASHTEST_PROV, &other_name, &keyring, now()).unwrap_err(),
        VerifyError::WrongName { expected: "other".into(), found: "hashtest".into() }
    );
    let renamed = ExpectedChart { file_name: "renamed.tgz", ..hashtest() };
    assert_eq!(
        verify(HASHTEST_PROV, &renamed, &keyring, now()).unwrap_err().to_string(),
        "provenance does not contain a SHA for a file named \"renamed.tgz\""
    );
}

#[test]
fn unknown_key_names_its_id() {
    let strangers = Keyring::from_bytes(HELM_PASSWORD).unwrap();
    let err = verify(HASHTEST_PROV, &hashtest(), &strangers, now()).unwrap_err();
    assert_eq!(err, VerifyError::UnknownKey { key_id: HELM_KEY_ID.into() });
    assert_eq!(err.to_string(), "provenance is signed by key 843BBF981FC18762, which is not in the trusted keyring");
    assert_eq!(
        verify(HASHTEST_PROV, &hashtest(), &Keyring::default(), now()).unwrap_err(),
        VerifyError::UnknownKey { key_id: HELM_KEY_ID.into() }
    );
}

#[test]
fn malformed_files_are_refused() {
    let keyring = helm_keyring();
    let err = verify(b"not a provenance file", &hashtest(), &keyring, now()).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
    assert!(err.to_string().starts_with("invalid provenance file: "), "{err}");
    // Valid base64, but not a signature packet.
    let text = std::str::from_utf8(HASHTEST_PROV).unwrap();
    let start = text.find("wsBc").unwrap();
    let garbled = format!("{}AAAA{}", &text[..start], &text[start + 4..]);
    let err = verify(garbled.as_bytes(), &hashtest(), &keyring, now()).unwrap_err();
    assert!(matches!(err, VerifyError::MalformedSignature(_)), "{err:?}");
}

#[test]
fn signature_times_are_checked() {
    // Verified before it was made (beyond the clock-skew tolerance).
    let err = verify(HASHTEST_PROV, &hashtest(), &helm_keyring(), at(HASHTEST_SIGNED - 3600)).unwrap_err();
    assert_eq!(err, VerifyError::SignatureInFuture { key_id: HELM_KEY_ID.into(), signed_at: at(HASHTEST_SIGNED) });
    assert!(verify(HASHTEST_PROV, &hashtest(), &helm_keyring(), at(HASHTEST_SIGNED - 60)).is_ok());

    // A signature dated before its key existed (2016-07-25) is refused.
    let secret = SecretKeyring::from_bytes(HELM_SECRET).unwrap();
    let early = at(1_400_000_000);
    let prov = sign(HASHTEST_TGZ, "hashtest-1.2.3.tgz", metadata_of(MSGBLOCK), &secret.keys()[0], b"", early).unwrap();
    assert_eq!(
        verify(&prov, &hashtest(), &helm_keyring(), now()).unwrap_err(),
        VerifyError::BadSignature {
            key_id: HELM_KEY_ID.into(),
            reason: "it is dated before the key was created".into()
        }
    );
}

#[test]
fn signs_exactly_like_helm() {
    // Same key, same second, same text: RSA PKCS#1 v1.5 is deterministic, so the file Helm
    // wrote in 2019 comes out again: the same text, the same signature packet. One field of
    // the armored packet differs: Go's x/crypto writes the RSA value's MPI bit count as 8 x its
    // byte length (2048) where RFC 4880 wants the exact count (2047 here), which rpgp writes.
    let secret = SecretKeyring::from_bytes(HELM_SECRET).unwrap();
    let key = secret.select("helm-testing@helm.sh").unwrap();
    let prov = sign(HASHTEST_TGZ, "hashtest-1.2.3.tgz", metadata_of(MSGBLOCK), key, b"", at(HASHTEST_SIGNED)).unwrap();
    let ours = String::from_utf8(prov).unwrap();
    let helms = std::str::from_utf8(HASHTEST_PROV).unwrap();
    let cleartext = |s: &str| s[..s.find("-----BEGIN PGP SIGNATURE-----").unwrap()].to_owned();
    assert_eq!(cleartext(&ours), cleartext(helms));
    let (ours_parsed, _) = CleartextSignedMessage::from_string(&ours).unwrap();
    let (helms_parsed, _) = CleartextSignedMessage::from_string(helms).unwrap();
    assert_eq!(ours_parsed.signatures(), helms_parsed.signatures());
    let base64_lines = |s: &str| s.lines().filter(|l| l.len() == 64).count();
    assert_eq!(base64_lines(&ours), base64_lines(helms));
    assert!(ours.ends_with("\n-----END PGP SIGNATURE-----"), "no line break after the end marker, as Helm");

    let block = message_block(HASHTEST_TGZ, "hashtest-1.2.3.tgz", metadata_of(MSGBLOCK)).unwrap();
    assert_eq!(block, MSGBLOCK);
}

#[test]
fn signs_with_a_passphrase_protected_key() {
    let secret = SecretKeyring::from_bytes(HELM_PASSWORD).unwrap();
    let key = secret.select("fake@helm.sh").unwrap();
    let metadata = "apiVersion: v1\ndescription: Test chart versioning\nname: hashtest\nversion: 1.2.3\n";
    let fingerprint = key.fingerprint();
    assert_eq!(
        sign(HASHTEST_TGZ, "hashtest-1.2.3.tgz", metadata, key, b"", now()).unwrap_err(),
        SignError::PassphraseRequired { fingerprint: fingerprint.clone() }
    );
    assert_eq!(
        sign(HASHTEST_TGZ, "hashtest-1.2.3.tgz", metadata, key, b"secrets_and_lies", now()).unwrap_err(),
        SignError::WrongPassphrase { fingerprint: fingerprint.clone() }
    );
    let prov = sign(HASHTEST_TGZ, "hashtest-1.2.3.tgz", metadata, key, b"secret", now()).unwrap();
    let keyring = Keyring::from_secret(&secret);
    let verified = verify(&prov, &hashtest(), &keyring, now()).unwrap();
    assert_eq!(verified.user_id.as_deref(), Some("password key (fake) <fake@helm.sh>"));
    assert_eq!(verified.fingerprint, fingerprint);
    assert_eq!(verified.signed_at, now());
    // Not Helm's key: Helm's keyring does not know it.
    assert!(matches!(verify(&prov, &hashtest(), &helm_keyring(), now()), Err(VerifyError::UnknownKey { .. })));
}

#[test]
fn dash_escaped_metadata_round_trips() {
    let secret = SecretKeyring::from_bytes(HELM_SECRET).unwrap();
    let metadata = "apiVersion: v2\nkeywords:\n- one\n- two\nname: dashes\nversion: 0.1.0\n";
    let prov = sign(b"archive", "dashes-0.1.0.tgz", metadata, &secret.keys()[0], b"", now()).unwrap();
    let text = String::from_utf8(prov.clone()).unwrap();
    assert!(text.contains("\n- - one\n- - two\n"), "{text}");
    let chart = ExpectedChart {
        file_name: "dashes-0.1.0.tgz",
        name: "dashes",
        version: "0.1.0",
        digest: ChartDigest::of(b"archive"),
    };
    assert!(verify(&prov, &chart, &helm_keyring(), now()).is_ok());
}

#[test]
fn message_block_refuses_what_helm_could_not_have_written() {
    let ok = "name: x\nversion: 1.0.0\n";
    assert!(matches!(message_block(b"", "x 1.tgz", ok), Err(SignError::InvalidFileName(_))));
    assert!(matches!(message_block(b"", "../x.tgz", ok), Err(SignError::InvalidFileName(_))));
    assert!(matches!(message_block(b"", "x-1.0.0.tgz", " \n"), Err(SignError::InvalidMetadata(_))));
    assert!(matches!(
        message_block(b"", "x-1.0.0.tgz", "name: x\n...\nversion: 1\n"),
        Err(SignError::InvalidMetadata(_))
    ));
    // A missing final line break is added, as Helm's YAML always ends with one.
    assert_eq!(
        message_block(b"", "x-1.0.0.tgz", "name: x").unwrap(),
        "name: x\n\n...\nfiles:\n  x-1.0.0.tgz: sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    );
    let secret = SecretKeyring::from_bytes(HELM_SECRET).unwrap();
    assert!(matches!(secret.select("nobody"), Err(KeySelectError::NotFound(_))));
}

#[test]
fn encryption_only_subkey_may_not_sign() {
    // Helm's test key has an encryption subkey (flags 0C). A signature made with its material
    // verifies cryptographically, but the key flags forbid signing.
    let secret = SecretKeyring::from_bytes(HELM_SECRET).unwrap();
    let subkey = &secret.keys()[0].key.secret_subkeys[0].key;
    let mut config = SignatureConfig::v4(SignatureType::Text, subkey.algorithm(), HashAlgorithm::Sha512);
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(pgp::types::Timestamp::from_secs(1_700_000_000)))
            .unwrap(),
        Subpacket::regular(SubpacketData::IssuerKeyId(subkey.legacy_key_id())).unwrap(),
    ];
    let text = MSGBLOCK.strip_suffix('\n').unwrap();
    let signature = config.sign(subkey, &Password::empty(), text.as_bytes()).unwrap();
    let message = CleartextSignedMessage::new_many(text, |_| Ok(vec![signature])).unwrap();
    let prov = message.to_armored_bytes(ArmorOptions::default()).unwrap();
    assert_eq!(
        verify(&prov, &hashtest(), &helm_keyring(), now()).unwrap_err(),
        VerifyError::KeyCannotSign { fingerprint: HELM_FPR.into(), user_id: Some(HELM_UID.into()) }
    );
}
