//! Each way a provenance file can fail, with keys made by GnuPG: the error names the check.

use chartroom_signing::{ChartDigest, Keyring, SecretKeyring, SignError, VerifyError, sign, verify};
use jiff::{SignedDuration, Timestamp};

use crate::support::{GnuPg, Helm, HelmVersion, KeySpec, make_chart};
use crate::{expected, expected_chart, key_id, now};

const SIGNER: &str = "Trusted Signer <signer@example.test>";

#[test]
fn tampering_unknown_keys_and_other_charts() {
    let gpg = GnuPg::new();
    let signer = gpg.gen_key(&KeySpec::new(SIGNER, "ed25519"));
    let stranger = gpg.gen_key(&KeySpec::new("Stranger <stranger@example.test>", "ed25519"));
    let helm = Helm::new(HelmVersion::V4);
    let v1 = make_chart(&helm, "refused", "0.1.0", &[]);
    let v2 = make_chart(&helm, "refused", "0.2.0", &[]);
    let secret = SecretKeyring::from_bytes(&gpg.export_secret(&signer, "")).unwrap();
    let trusted = Keyring::from_bytes(&gpg.export(&[&signer])).unwrap();
    let (file_name, digest) = expected(&v1);
    let chart = expected_chart(&v1, &file_name, digest);
    let prov = sign(&v1.bytes, &file_name, &v1.metadata(), &secret.keys()[0], b"", now()).unwrap();
    assert_eq!(verify(&prov, &chart, &trusted, now()).unwrap().fingerprint, signer);

    // Tampered chart: one byte of the archive changed.
    let mut tampered = v1.bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x20;
    let tampered_chart = expected_chart(&v1, &file_name, ChartDigest::of(&tampered));
    assert_eq!(
        verify(&prov, &tampered_chart, &trusted, now()).unwrap_err(),
        VerifyError::DigestMismatch {
            file_name: file_name.clone(),
            signed: digest.prefixed(),
            actual: ChartDigest::of(&tampered).prefixed()
        }
    );

    // Tampered provenance: the signed description changed.
    let text = String::from_utf8(prov.clone()).unwrap();
    assert!(text.contains("description: A Helm chart for Kubernetes\n"), "{text}");
    let forged = text.replace("description: A Helm chart for Kubernetes", "description: A Helm chart for Kubernetez");
    let err = verify(forged.as_bytes(), &chart, &trusted, now()).unwrap_err();
    assert!(matches!(&err, VerifyError::BadSignature { key_id: id, .. } if *id == key_id(&signer)), "{err:?}");
    assert!(err.to_string().starts_with(&format!("bad provenance signature by key {}: ", key_id(&signer))), "{err}");
    // Tampered files section: another digest written in.
    let forged = text.replace(&digest.prefixed(), &ChartDigest::of(&tampered).prefixed());
    assert!(matches!(
        verify(forged.as_bytes(), &tampered_chart, &trusted, now()),
        Err(VerifyError::BadSignature { .. })
    ));

    // Unknown key: the keyring trusts someone else.
    let strangers = Keyring::from_bytes(&gpg.export(&[&stranger])).unwrap();
    let err = verify(&prov, &chart, &strangers, now()).unwrap_err();
    assert_eq!(err, VerifyError::UnknownKey { key_id: key_id(&signer) });
    assert_eq!(
        err.to_string(),
        format!("provenance is signed by key {}, which is not in the trusted keyring", key_id(&signer))
    );

    // The provenance of 0.1.0 offered for 0.2.0.
    let (v2_file, v2_digest) = expected(&v2);
    let err = verify(&prov, &expected_chart(&v2, &v2_file, v2_digest), &trusted, now()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongVersion { name: "refused".into(), expected: "0.2.0".into(), found: "0.1.0".into() }
    );
    // ... and for a chart of another name.
    let other = make_chart(&helm, "other", "0.1.0", &[]);
    let (other_file, other_digest) = expected(&other);
    assert_eq!(
        verify(&prov, &expected_chart(&other, &other_file, other_digest), &trusted, now()).unwrap_err(),
        VerifyError::WrongName { expected: "other".into(), found: "refused".into() }
    );
}

/// Expiry date (seconds since the epoch) GnuPG records for the key.
fn gpg_expiry(gpg: &GnuPg, fingerprint: &str) -> i64 {
    let out = gpg.run(&["--with-colons", "--list-keys", fingerprint]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pub_line = text.lines().find(|l| l.starts_with("pub:")).expect("pub line");
    pub_line.split(':').nth(6).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no expiry in {pub_line}"))
}

#[test]
fn expired_key() {
    let gpg = GnuPg::new();
    // Made two years ago, valid for one.
    let made = now() - SignedDuration::from_hours(2 * 365 * 24);
    let uid = "Expired Signer <expired@example.test>";
    let fingerprint =
        gpg.gen_key(&KeySpec { expire: "1y", at: Some(made.as_second()), ..KeySpec::new(uid, "ed25519") });
    let expires = gpg_expiry(&gpg, &fingerprint);
    assert!(expires > made.as_second() && expires < now().as_second());

    let helm = Helm::new(HelmVersion::V4);
    let chart = make_chart(&helm, "stale", "1.0.0", &[]);
    let (file_name, digest) = expected(&chart);
    let expected = expected_chart(&chart, &file_name, digest);
    let secret = SecretKeyring::from_bytes(&gpg.export_secret(&fingerprint, "")).unwrap();
    let trusted = Keyring::from_bytes(&gpg.export(&[&fingerprint])).unwrap();

    // Signed while the key was valid: good then, refused now.
    let while_valid = made + SignedDuration::from_hours(30 * 24);
    let prov = sign(&chart.bytes, &file_name, &chart.metadata(), &secret.keys()[0], b"", while_valid).unwrap();
    let then = while_valid + SignedDuration::from_hours(24);
    assert_eq!(
        verify(&prov, &expected, &trusted, then).unwrap().signed_at,
        Timestamp::from_second(while_valid.as_second()).unwrap()
    );
    let err = verify(&prov, &expected, &trusted, now()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::KeyExpired {
            fingerprint: fingerprint.clone(),
            user_id: Some(uid.into()),
            expired_at: Timestamp::from_second(expires).unwrap()
        }
    );
    assert!(err.to_string().contains(&format!("key {fingerprint} ({uid}), which expired at ")), "{err}");

    // Our signer refuses to make a signature nobody would accept.
    assert!(matches!(
        sign(&chart.bytes, &file_name, &chart.metadata(), &secret.keys()[0], b"", now()),
        Err(SignError::KeyExpired { .. })
    ));
}

#[test]
fn revoked_key() {
    let gpg = GnuPg::new();
    let uid = "Revoked Signer <revoked@example.test>";
    let fingerprint = gpg.gen_key(&KeySpec::new(uid, "ed25519"));
    let helm = Helm::new(HelmVersion::V4);
    let chart = make_chart(&helm, "revoked", "1.0.0", &[]);
    let (file_name, digest) = expected(&chart);
    let expected = expected_chart(&chart, &file_name, digest);

    let before = SecretKeyring::from_bytes(&gpg.export_secret(&fingerprint, "")).unwrap();
    let prov = sign(&chart.bytes, &file_name, &chart.metadata(), &before.keys()[0], b"", now()).unwrap();
    assert!(verify(&prov, &expected, &Keyring::from_bytes(&gpg.export(&[&fingerprint])).unwrap(), now()).is_ok());

    gpg.revoke(&fingerprint);
    let revoked = Keyring::from_bytes(&gpg.export(&[&fingerprint])).unwrap();
    let err = verify(&prov, &expected, &revoked, now()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::KeyRevoked { fingerprint: f, user_id: Some(u), .. } if *f == fingerprint && u == uid),
        "{err:?}"
    );
    assert!(err.to_string().contains("which is revoked"), "{err}");

    let after = SecretKeyring::from_bytes(&gpg.export_secret(&fingerprint, "")).unwrap();
    assert_eq!(
        sign(&chart.bytes, &file_name, &chart.metadata(), &after.keys()[0], b"", now()).unwrap_err(),
        SignError::KeyRevoked { fingerprint }
    );
}

#[test]
fn passphrase_protected_key() {
    let gpg = GnuPg::new();
    let fingerprint = gpg.gen_key(&KeySpec { passphrase: "s3cret", ..KeySpec::new(SIGNER, "nistp256") });
    let helm = Helm::new(HelmVersion::V4);
    let chart = make_chart(&helm, "locked", "1.0.0", &[]);
    let (file_name, digest) = expected(&chart);
    let secret = SecretKeyring::from_bytes(&gpg.export_secret(&fingerprint, "s3cret")).unwrap();
    let key = secret.select("signer@example.test").unwrap();
    assert!(key.is_protected());
    let metadata = chart.metadata();
    assert_eq!(
        sign(&chart.bytes, &file_name, &metadata, key, b"", now()).unwrap_err(),
        SignError::PassphraseRequired { fingerprint: fingerprint.clone() }
    );
    assert_eq!(
        sign(&chart.bytes, &file_name, &metadata, key, b"s3cret\n", now()).unwrap_err(),
        SignError::WrongPassphrase { fingerprint: fingerprint.clone() }
    );
    let prov = sign(&chart.bytes, &file_name, &metadata, key, b"s3cret", now()).unwrap();
    let trusted = Keyring::from_bytes(&gpg.export(&[&fingerprint])).unwrap();
    assert_eq!(
        verify(&prov, &expected_chart(&chart, &file_name, digest), &trusted, now()).unwrap().fingerprint,
        fingerprint
    );
}
