//! Interoperability with GnuPG and Helm, both ways.

use std::fs;

use chartroom_signing::{Keyring, SecretKeyring, sign, verify};
use pgp::composed::CleartextSignedMessage;

use crate::support::{GnuPg, Helm, HelmVersion, KeySpec, make_chart, path_str};
use crate::{expected, expected_chart, now};

const RSA_UID: &str = "Chart Signer RSA <rsa@example.test>";
const ED_UID: &str = "Chart Signer Ed25519 <ed25519@example.test>";
const P256_UID: &str = "Chart Signer P-256 <p256@example.test>";
const ED_PASSPHRASE: &str = "correct horse battery staple";

/// One key of each algorithm; the Ed25519 one is passphrase-protected.
fn three_keys(gpg: &GnuPg) -> [(String, &'static str, &'static str); 3] {
    let rsa = gpg.gen_key(&KeySpec::new(RSA_UID, "rsa3072"));
    let ed = gpg.gen_key(&KeySpec { passphrase: ED_PASSPHRASE, ..KeySpec::new(ED_UID, "ed25519") });
    let p256 = gpg.gen_key(&KeySpec::new(P256_UID, "nistp256"));
    [(rsa, RSA_UID, ""), (ed, ED_UID, ED_PASSPHRASE), (p256, P256_UID, "")]
}

/// The cleartext half of a `.prov` (everything before the signature armor).
fn cleartext(prov: &[u8]) -> String {
    let text = String::from_utf8_lossy(prov).into_owned();
    let end = text.find("-----BEGIN PGP SIGNATURE-----").expect("signature armor");
    text[..end].to_owned()
}

#[test]
fn our_provenance_passes_helm_verify_and_gpg_verify() {
    let gpg = GnuPg::new();
    let helm3 = Helm::new(HelmVersion::V3);
    let helm4 = Helm::new(HelmVersion::V4);
    let chart = make_chart(&helm4, "signed", "1.2.3", &[]);
    let (file_name, digest) = expected(&chart);
    let work = helm4.work_dir("keyrings");

    for (fingerprint, user_id, passphrase) in three_keys(&gpg) {
        let secret = SecretKeyring::from_bytes(&gpg.export_secret(&fingerprint, passphrase)).unwrap();
        let key = secret.select(user_id).unwrap();
        assert_eq!(key.fingerprint(), fingerprint);
        assert_eq!(key.is_protected(), !passphrase.is_empty());
        let prov = sign(&chart.bytes, &file_name, &chart.metadata(), key, passphrase.as_bytes(), now()).unwrap();
        fs::write(chart.prov_path(), &prov).unwrap();

        let public = gpg.export(&[&fingerprint]);
        let verified =
            verify(&prov, &expected_chart(&chart, &file_name, digest), &Keyring::from_bytes(&public).unwrap(), now())
                .unwrap_or_else(|e| panic!("{user_id}: {e}"));
        assert_eq!(verified.fingerprint, fingerprint);
        assert_eq!(verified.user_id.as_deref(), Some(user_id));

        let keyring = work.join(format!("{fingerprint}.gpg"));
        fs::write(&keyring, &public).unwrap();
        // Helm 3 (Go's x/crypto/openpgp) cannot read EdDSA keys at all.
        let helms: Vec<&Helm> = if user_id == ED_UID { vec![&helm4] } else { vec![&helm3, &helm4] };
        for helm in helms {
            let out = helm.run(&["verify", "--keyring", path_str(&keyring), path_str(&chart.path)]);
            assert!(out.contains(&format!("Signed by: {user_id}")), "{} verify: {out}", helm.label());
            assert!(
                out.contains(&format!("Using Key With Fingerprint: {fingerprint}")),
                "{} verify: {out}",
                helm.label()
            );
            assert!(
                out.contains(&format!("Chart Hash Verified: {}", digest.prefixed())),
                "{} verify: {out}",
                helm.label()
            );
        }

        let out = gpg.verify(&chart.prov_path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "gpg --verify {user_id}: {stderr}");
        assert!(stderr.contains(&format!("Good signature from \"{user_id}\"")), "gpg --verify: {stderr}");
    }

    // What Helm 3 says about an Ed25519 keyring: the reason it is only checked with Helm 4.
    let ed_keyring = work.join("ed25519-only.gpg");
    fs::write(&ed_keyring, gpg.export(&[ED_UID])).unwrap();
    let out = helm3.run_fail(&["verify", "--keyring", path_str(&ed_keyring), path_str(&chart.path)]);
    assert!(out.contains("unsupported"), "helm3 with an EdDSA keyring: {out}");
}

#[test]
fn helm_package_sign_provenance_verifies_here() {
    let gpg = GnuPg::new();
    let helm3 = Helm::new(HelmVersion::V3);
    let helm4 = Helm::new(HelmVersion::V4);
    let keys = three_keys(&gpg);
    let work = helm4.work_dir("keys");
    let mut all_secret = Vec::new();
    for (fingerprint, _, passphrase) in &keys {
        all_secret.extend(gpg.export_secret(fingerprint, passphrase));
    }
    let all_secret_path = work.join("secring.gpg");
    fs::write(&all_secret_path, &all_secret).unwrap();
    // Helm 3 cannot read a keyring holding an EdDSA key: it gets the other two.
    let helm3_secret_path = work.join("secring-helm3.gpg");
    let mut helm3_secret = gpg.export_secret(&keys[0].0, "");
    helm3_secret.extend(gpg.export_secret(&keys[2].0, ""));
    fs::write(&helm3_secret_path, &helm3_secret).unwrap();
    let passphrase_file = work.join("passphrase");
    fs::write(&passphrase_file, ED_PASSPHRASE).unwrap();

    let fingerprints: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let trusted = Keyring::from_bytes(&gpg.export(&fingerprints)).unwrap();
    assert_eq!(trusted.len(), 3);

    let cases = [
        (&helm3, 0usize, &helm3_secret_path, None),
        (&helm3, 2, &helm3_secret_path, None),
        (&helm4, 0, &all_secret_path, None),
        (&helm4, 1, &all_secret_path, Some(&passphrase_file)),
        (&helm4, 2, &all_secret_path, None),
    ];
    for (i, (helm, key, secring, passphrase)) in cases.into_iter().enumerate() {
        let (fingerprint, user_id, _) = &keys[key];
        let mut extra = vec!["--sign", "--key", user_id, "--keyring", path_str(secring)];
        if let Some(p) = passphrase {
            extra.extend(["--passphrase-file", path_str(p)]);
        }
        let chart = make_chart(helm, "helmsigned", &format!("0.{i}.0"), &extra);
        let prov = fs::read(chart.prov_path()).expect("helm wrote a .prov");
        let (file_name, digest) = expected(&chart);
        let verified =
            verify(&prov, &expected_chart(&chart, &file_name, digest), &trusted, now()).unwrap_or_else(|e| {
                panic!("{} signed with {user_id}: {e}\n{}", helm.label(), String::from_utf8_lossy(&prov))
            });
        assert_eq!(verified.fingerprint, *fingerprint, "{}", helm.label());
        assert_eq!(verified.user_id.as_deref(), Some(*user_id));
        assert_eq!(verified.digest, digest.prefixed());

        // Helm 3 writes what we write: the same cleartext; for RSA, signing the same bytes at
        // the same second gives the same signature packet.
        if helm.label() == "helm3" {
            let secret = SecretKeyring::from_bytes(&helm3_secret).unwrap();
            let ours = sign(
                &chart.bytes,
                &file_name,
                &chart.metadata(),
                secret.select(fingerprint).unwrap(),
                b"",
                verified.signed_at,
            )
            .unwrap();
            assert_eq!(cleartext(&ours), cleartext(&prov));
            if key == 0 {
                // The signature's values, not its packet bytes: when the RSA value has a leading
                // zero byte (about one signature in 256), Go writes the MPI padded to the modulus
                // length and rpgp writes it minimal (RFC 4880 §3.2), so the packets differ by one
                // byte while the signatures are the same.
                let parse = |bytes: &[u8]| {
                    CleartextSignedMessage::from_string(std::str::from_utf8(bytes).unwrap())
                        .unwrap()
                        .0
                        .signatures()
                        .iter()
                        .map(|s| (s.config().cloned(), s.signed_hash_value(), s.signature().cloned()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(parse(&ours), parse(&prov), "RSA signature of the same text at the same second");
            }
        }
    }
}

#[test]
fn keyrings_in_every_gnupg_format() {
    let gpg = GnuPg::new();
    let a = gpg.gen_key(&KeySpec::new("Keyring A <a@example.test>", "ed25519"));
    let b = gpg.gen_key(&KeySpec::new("Keyring B <b@example.test>", "nistp256"));
    let helm4 = Helm::new(HelmVersion::V4);
    let chart = make_chart(&helm4, "ringed", "2.0.0", &[]);
    let (file_name, digest) = expected(&chart);
    let secret = SecretKeyring::from_bytes(&gpg.export_secret(&b, "")).unwrap();
    let prov = sign(&chart.bytes, &file_name, &chart.metadata(), &secret.keys()[0], b"", now()).unwrap();

    let binary = gpg.export(&[&a, &b]);
    let mut concatenated = gpg.export_armored(&[&a]);
    concatenated.extend(gpg.export_armored(&[&b]));
    let formats = [
        ("gpg --export", binary.clone()),
        ("gpg --armor --export", gpg.export_armored(&[&a, &b])),
        ("two armored exports, concatenated", concatenated),
        ("GnuPG 1 keyring with trust packets", gpg.legacy_keyring(&binary)),
        ("gpg --export-secret-keys", gpg.export_secret(&b, "")),
    ];
    for (label, bytes) in formats {
        let ring = Keyring::from_bytes(&bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
        let fingerprints: Vec<String> = ring.summaries().into_iter().map(|s| s.fingerprint).collect();
        assert!(fingerprints.contains(&b), "{label}: {fingerprints:?}");
        let verified = verify(&prov, &expected_chart(&chart, &file_name, digest), &ring, now())
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(verified.fingerprint, b, "{label}");
    }
    // The legacy keyring works for Helm too.
    let legacy_path = helm4.work_dir("legacy").join("pubring.gpg");
    fs::write(&legacy_path, gpg.legacy_keyring(&binary)).unwrap();
    fs::write(chart.prov_path(), &prov).unwrap();
    let out = helm4.run(&["verify", "--keyring", path_str(&legacy_path), path_str(&chart.path)]);
    assert!(out.contains(&format!("Using Key With Fingerprint: {b}")), "{out}");
}

#[test]
fn signing_subkey_signs_when_the_primary_key_may_not() {
    let gpg = GnuPg::new();
    let uid = "Subkey Signer <subkey@example.test>";
    let primary = gpg.gen_key(&KeySpec { usage: "cert", ..KeySpec::new(uid, "rsa3072") });
    let subkey = gpg.add_subkey(&primary, "rsa3072", "sign", "");
    let helm3 = Helm::new(HelmVersion::V3);
    let helm4 = Helm::new(HelmVersion::V4);
    let chart = make_chart(&helm3, "subsigned", "0.3.0", &[]);
    let (file_name, digest) = expected(&chart);

    let secret = SecretKeyring::from_bytes(&gpg.export_secret(&primary, "")).unwrap();
    // Selecting by the subkey's fingerprint finds the key it belongs to.
    let key = secret.select(&subkey).unwrap();
    assert_eq!(key.fingerprint(), primary);
    let prov = sign(&chart.bytes, &file_name, &chart.metadata(), key, b"", now()).unwrap();
    let public = gpg.export(&[&primary]);
    let verified =
        verify(&prov, &expected_chart(&chart, &file_name, digest), &Keyring::from_bytes(&public).unwrap(), now())
            .unwrap();
    assert_eq!(verified.fingerprint, primary);
    assert_eq!(verified.signing_key_fingerprint, subkey);
    assert_eq!(verified.key_id, crate::key_id(&subkey));

    fs::write(chart.prov_path(), &prov).unwrap();
    let keyring = helm3.work_dir("sub").join("pub.gpg");
    fs::write(&keyring, &public).unwrap();
    for helm in [&helm3, &helm4] {
        let out = helm.run(&["verify", "--keyring", path_str(&keyring), path_str(&chart.path)]);
        assert!(out.contains(&format!("Signed by: {uid}")), "{}: {out}", helm.label());
    }
    let out = gpg.verify(&chart.prov_path());
    assert!(out.status.success(), "gpg --verify: {}", String::from_utf8_lossy(&out.stderr));
}
