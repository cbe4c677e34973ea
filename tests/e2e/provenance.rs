//! Signed charts (issue 12) with keys GnuPG makes in the test and real Helm 3.17 and 4.1:
//! `helm package --sign` uploads accepted under `--provenance required` and shown as verified;
//! `chartroom package --sign` files that `helm verify` and `helm pull --verify` (from Chartroom)
//! accept; `chartroom verify`, `pull --verify` and `push` with the `.prov` beside the archive;
//! every refusal (tampered chart or `.prov`, unknown, expired and revoked keys, another
//! version's `.prov`, none under `required`) a 400 naming the check with storage and index
//! unchanged; a keyring change reported by `POST /api/provenance/verify`, not applied; a bad
//! keyring stopping the start; with `--depth 1`, each tenant held to its own policy and its own
//! re-verification report. Helm 3.17 cannot read a keyring holding an EdDSA key: it gets RSA
//! keys only.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chartroom_signing::{SecretKeyring, sign};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::support::*;

const RSA_UID: &str = "Chart Signer RSA <rsa@example.test>";
const ED_UID: &str = "Chart Signer Ed25519 <ed25519@example.test>";
const ED_PASSPHRASE: &str = "correct horse battery staple";

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A GnuPG home with an RSA 3072 key (no passphrase) and an Ed25519 key (with one), and their
/// keyrings as files: secret ones to sign with, public ones to trust.
struct Signers {
    gpg: GnuPg,
    rsa: String,
    ed: String,
    dir: tempfile::TempDir,
}

impl Signers {
    fn new() -> Signers {
        let gpg = GnuPg::new();
        let rsa = gpg.gen_key(&KeySpec::new(RSA_UID, "rsa3072"));
        let ed = gpg.gen_key(&KeySpec { passphrase: ED_PASSPHRASE, ..KeySpec::new(ED_UID, "ed25519") });
        let dir = tempfile::tempdir().expect("temp dir");
        let signers = Signers { gpg, rsa, ed, dir };
        signers.write("rsa-secret.gpg", &signers.gpg.export_secret(&signers.rsa, ""));
        signers.write("ed-secret.gpg", &signers.gpg.export_secret(&signers.ed, ED_PASSPHRASE));
        signers.write("passphrase", format!("{ED_PASSPHRASE}\n").as_bytes());
        signers.write("trusted.gpg", &signers.gpg.export(&[&signers.rsa, &signers.ed]));
        // Helm reads binary keyrings only; the server and `chartroom verify` take armored ones too.
        signers.write("trusted-rsa.gpg", &signers.gpg.export(&[&signers.rsa]));
        signers.write("trusted-rsa.asc", &signers.gpg.export_armored(&[&signers.rsa]));
        signers
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, bytes).expect("write key file");
        path
    }
}

/// `helm create <name>` into a fresh folder of `helm`'s; returns the chart folder.
fn chart_folder(helm: &Helm, name: &str) -> PathBuf {
    let dir = helm.work_dir(&format!("src-{name}")).join(name);
    helm.run(&["create", p(&dir)]);
    dir
}

/// `chartroom package <folder> --version <version> -d <out> --sign <sign...>`: the archive.
fn chartroom_sign(folder: &Path, version: &str, out: &Path, sign: &[&str]) -> PathBuf {
    let args = [&["package", p(folder), "--version", version, "-d", p(out), "--sign"][..], sign].concat();
    let stdout = Cli::new().ok(&args);
    let name = folder.file_name().and_then(|n| n.to_str()).expect("folder name");
    let archive = out.join(format!("{name}-{version}.tgz"));
    assert!(stdout.contains(&format!("Signed it: {}.prov", archive.display())), "{stdout}");
    archive
}

fn prov_of(archive: &Path) -> PathBuf {
    PathBuf::from(format!("{}.prov", archive.display()))
}

/// What a refusal must leave alone: every stored chart and provenance file (the server's own
/// `.chartroom/` bookkeeping aside) and the served index.
async fn observable(server: &Server) -> (BTreeMap<String, Vec<u8>>, Vec<u8>) {
    let mut stored = server.storage_snapshot();
    stored.retain(|k, _| !k.starts_with(".chartroom"));
    (stored, server.index_bytes().await)
}

#[track_caller]
fn assert_verified(version: &Value, user_id: &str, fingerprint: &str) {
    let provenance = &version["provenance"];
    assert_eq!(provenance["verified"], true, "{version}");
    assert_eq!(provenance["signer"], user_id, "{version}");
    assert_eq!(provenance["fingerprint"], fingerprint, "{version}");
    assert_eq!(provenance["keyId"].as_str(), Some(&fingerprint[24..]), "{version}");
    let signed_at: Timestamp = provenance["signedAt"].as_str().expect("signedAt").parse().expect("a timestamp");
    assert!(signed_at <= Timestamp::now(), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_signed_charts_are_accepted_and_shown_as_verified() {
    let keys = Signers::new();
    let server =
        Server::start(&["--provenance", "required", "--provenance-keyring", p(&keys.path("trusted.gpg"))]).await;
    let passphrase = keys.path("passphrase");
    let cases = [
        (HelmVersion::V3, "1.0.0", RSA_UID, &keys.rsa, keys.path("rsa-secret.gpg"), None),
        (HelmVersion::V4, "2.0.0", ED_UID, &keys.ed, keys.path("ed-secret.gpg"), Some(&passphrase)),
    ];
    for (v, version, user_id, fingerprint, secret, passphrase) in cases {
        let helm = Helm::new(v);
        let folder = chart_folder(&helm, "helmsigned");
        let out = helm.work_dir("out");
        let mut args = vec!["package", p(&folder), "--version", version, "-d", p(&out)];
        args.extend(["--sign", "--key", user_id, "--keyring", p(&secret)]);
        if let Some(file) = passphrase {
            args.extend(["--passphrase-file", p(file)]);
        }
        helm.run(&args);
        let file = format!("helmsigned-{version}.tgz");
        let tgz = fs::read(out.join(&file)).expect("helm wrote the archive");
        let prov = fs::read(out.join(format!("{file}.prov"))).expect("helm wrote the .prov");
        let r = server.upload_multipart(Some((&file, tgz.clone())), Some((&format!("{file}.prov"), prov)), "").await;
        r.assert_status(201);

        let r = server.get(&format!("/api/charts/helmsigned/{version}")).await;
        r.assert_status(200);
        assert_verified(&r.json(), user_id, fingerprint);
        assert_eq!(r.json()["digest"], sha256_hex(&tgz), "{}: Helm's fields unchanged", helm.label());
    }
    let list = server.get("/api/charts").await.json();
    assert_verified(&list["helmsigned"][0], ED_UID, &keys.ed);
    assert_verified(&list["helmsigned"][1], RSA_UID, &keys.rsa);
    let index = String::from_utf8(server.index_bytes().await).expect("UTF-8 index");
    assert!(!index.contains("provenance") && !index.contains(&keys.rsa), "index.yaml gains nothing: {index}");
    assert_eq!(server.index().await.versions("helmsigned"), ["2.0.0", "1.0.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chartroom_signed_charts_pass_helm_verify_and_pull_verify() {
    let keys = Signers::new();
    let server =
        Server::start(&["--provenance", "required", "--provenance-keyring", p(&keys.path("trusted.gpg"))]).await;
    let (helm3, helm4) = (Helm::new(HelmVersion::V3), Helm::new(HelmVersion::V4));
    let folder = chart_folder(&helm4, "crsigned");
    let out = helm4.work_dir("packaged");
    // RSA by fingerprint (both Helms read it); Ed25519 by a part of its user id, with a passphrase.
    let rsa_chart =
        chartroom_sign(&folder, "1.0.0", &out, &["--key", &keys.rsa, "--keyring", p(&keys.path("rsa-secret.gpg"))]);
    let (ed_secret, passphrase) = (keys.path("ed-secret.gpg"), keys.path("passphrase"));
    let ed_args = ["--key", "ed25519@example.test", "--keyring", p(&ed_secret), "--passphrase-file", p(&passphrase)];
    let ed_chart = chartroom_sign(&folder, "2.0.0", &out, &ed_args);
    let (trusted, trusted_rsa) = (keys.path("trusted.gpg"), keys.path("trusted-rsa.gpg"));

    // `helm verify`, both Helms (Helm 3 with the RSA key only), and `chartroom verify`.
    let verified = |helm: &Helm, chart: &Path, keyring: &Path, user_id: &str, fingerprint: &str| {
        let out = helm.run(&["verify", "--keyring", p(keyring), p(chart)]);
        assert!(out.contains(&format!("Signed by: {user_id}")), "{} verify: {out}", helm.label());
        assert!(out.contains(&format!("Using Key With Fingerprint: {fingerprint}")), "{} verify: {out}", helm.label());
    };
    verified(&helm3, &rsa_chart, &trusted_rsa, RSA_UID, &keys.rsa);
    verified(&helm4, &rsa_chart, &trusted, RSA_UID, &keys.rsa);
    verified(&helm4, &ed_chart, &trusted, ED_UID, &keys.ed);
    let out = Cli::new().ok(&["verify", p(&ed_chart), "--keyring", p(&trusted)]);
    let digest = sha256_hex(&fs::read(&ed_chart).expect("archive"));
    assert_eq!(
        out,
        format!("Signed by: {ED_UID}\nUsing Key With Fingerprint: {}\nChart Hash Verified: sha256:{digest}\n", keys.ed)
    );
    // Not trusted, or other bytes: exit code 8 with the reason.
    let err = Cli::new().fail(&["verify", p(&ed_chart), "--keyring", p(&keys.path("trusted-rsa.asc"))], 8);
    assert!(err.contains("which is not in the trusted keyring"), "{err}");
    let tampered = helm4.work_dir("tampered").join("crsigned-2.0.0.tgz");
    fs::write(&tampered, ChartBuilder::chart("crsigned", "2.0.0").build()).expect("write");
    fs::copy(prov_of(&ed_chart), prov_of(&tampered)).expect("copy .prov");
    let err = Cli::new().fail(&["verify", p(&tampered), "--keyring", p(&trusted)], 8);
    assert!(err.contains("sha256 sum does not match for crsigned-2.0.0.tgz"), "{err}");

    // `chartroom push` sends the `.prov` lying beside the archive; the server verifies it.
    for chart in [&rsa_chart, &ed_chart] {
        let stdout = Cli::new().ok(&["push", p(chart), &server.repo_url()]);
        assert!(stdout.contains("with its provenance file"), "{stdout}");
    }
    assert_verified(&server.get("/api/charts/crsigned/1.0.0").await.json(), RSA_UID, &keys.rsa);
    assert_verified(&server.get("/api/charts/crsigned/2.0.0").await.json(), ED_UID, &keys.ed);

    // `helm pull --verify` from Chartroom, both Helms.
    for (helm, version, keyring, user_id) in
        [(&helm3, "1.0.0", &trusted_rsa, RSA_UID), (&helm4, "2.0.0", &trusted, ED_UID)]
    {
        helm.repo_add("cr", &server.repo_url());
        let dest = helm.work_dir("pulled");
        let out = helm.run(&[
            "pull",
            "cr/crsigned",
            "--version",
            version,
            "--verify",
            "--keyring",
            p(keyring),
            "-d",
            p(&dest),
        ]);
        assert!(out.contains(&format!("Signed by: {user_id}")), "{} pull --verify: {out}", helm.label());
    }

    // `chartroom pull --verify`: the archive and its `.prov`, verified first.
    let cli = Cli::new();
    let dest = helm4.work_dir("cr-pulled");
    let stdout = cli.ok(&[
        "pull",
        "crsigned",
        "--repo",
        &server.repo_url(),
        "--verify",
        "--keyring",
        p(&trusted),
        "-d",
        p(&dest),
    ]);
    assert!(stdout.contains(&format!("Signed by: {ED_UID}")) && stdout.contains("Pulled: crsigned-2.0.0"), "{stdout}");
    assert!(fs::read(dest.join("crsigned-2.0.0.tgz")).expect("pulled") == fs::read(&ed_chart).expect("packaged"));
    assert!(dest.join("crsigned-2.0.0.tgz.prov").is_file());
    // A keyring that does not trust the signer: nothing is written.
    let refused = helm4.work_dir("cr-refused");
    let args =
        ["pull", "crsigned", "--repo", &server.repo_url(), "--verify", "--keyring", p(&trusted_rsa), "-d", p(&refused)];
    let err = cli.fail(&args, 8);
    assert!(err.contains("which is not in the trusted keyring"), "{err}");
    assert_eq!(fs::read_dir(&refused).map(|d| d.count()).unwrap_or(0), 0, "nothing written");
}

/// What is uploaded (a description, the chart, its `.prov` if any) and how the 400 begins.
type Refusal<'a> = (&'a str, Vec<u8>, Option<Vec<u8>>, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_failed_check_and_change_nothing() {
    let gpg = GnuPg::new();
    let uid = |who: &str| format!("{who} <{}@example.test>", who.to_lowercase());
    let trusted = gpg.gen_key(&KeySpec::new(&uid("Trusted"), "ed25519"));
    let stranger = gpg.gen_key(&KeySpec::new(&uid("Stranger"), "ed25519"));
    let revoked = gpg.gen_key(&KeySpec::new(&uid("Revoked"), "ed25519"));
    // Made two years ago, valid for one.
    let made = Timestamp::now() - SignedDuration::from_hours(2 * 365 * 24);
    let expired_spec = KeySpec {
        expire: "1y",
        at: Some(made.as_second()),
        ..KeySpec::new("Expired <expired@example.test>", "ed25519")
    };
    let expired = gpg.gen_key(&expired_spec);

    let helm = Helm::new(HelmVersion::V4);
    let folder = chart_folder(&helm, "refused");
    let work = helm.work_dir("work");
    let secret = |fingerprint: &str| {
        let path = work.join(format!("{fingerprint}.sec"));
        fs::write(&path, gpg.export_secret(fingerprint, "")).expect("write");
        path
    };
    let signed = |fingerprint: &str, version: &str| {
        let out = work.join(format!("{fingerprint}-{version}"));
        let chart =
            chartroom_sign(&folder, version, &out, &["--key", fingerprint, "--keyring", p(&secret(fingerprint))]);
        (fs::read(&chart).expect("archive"), fs::read(prov_of(&chart)).expect(".prov"))
    };
    let (v1, v1_prov) = signed(&trusted, "0.1.0");
    let (v2, _) = signed(&trusted, "0.2.0");
    let (_, stranger_prov) = signed(&stranger, "0.1.0");
    let (_, revoked_prov) = signed(&revoked, "0.1.0");
    gpg.revoke(&revoked);
    // Signed while the key was valid (GnuPG and our signer refuse to sign with it now).
    let expired_key = SecretKeyring::from_bytes(&gpg.export_secret(&expired, "")).expect("secret keyring");
    let metadata = String::from_utf8(
        chartroom_chart::archive::extract_files(&v1, &Default::default(), |f| f == "Chart.yaml")
            .expect("archive")
            .remove(0)
            .data,
    )
    .expect("UTF-8");
    let while_valid = made + SignedDuration::from_hours(30 * 24);
    let expired_prov =
        sign(&v1, "refused-0.1.0.tgz", &metadata, &expired_key.keys()[0], b"", while_valid).expect("sign");

    let keyring = work.join("trusted.gpg");
    fs::write(&keyring, gpg.export(&[&trusted, &revoked, &expired])).expect("write keyring");
    let server = Server::start(&["--provenance", "required", "--provenance-keyring", p(&keyring)]).await;
    let before = observable(&server).await;
    let text = String::from_utf8(v1_prov.clone()).expect("UTF-8 .prov");
    let tampered_prov =
        text.replace("description: A Helm chart for Kubernetes", "description: A forged chart").into_bytes();
    assert_ne!(tampered_prov, v1_prov);
    let other_bytes = ChartBuilder::chart("refused", "0.1.0").build();
    let key_id = |fingerprint: &str| fingerprint[24..].to_owned();
    let cases: Vec<Refusal> = vec![
        (
            "tampered chart",
            other_bytes,
            Some(v1_prov.clone()),
            "sha256 sum does not match for refused-0.1.0.tgz".into(),
        ),
        (
            "tampered .prov",
            v1.clone(),
            Some(tampered_prov),
            format!("bad provenance signature by key {}", key_id(&trusted)),
        ),
        (
            "unknown key",
            v1.clone(),
            Some(stranger_prov.clone()),
            format!("provenance is signed by key {}, which is not in the trusted keyring", key_id(&stranger)),
        ),
        (
            "expired key",
            v1.clone(),
            Some(expired_prov),
            format!("provenance is signed by key {expired} (Expired <expired@example.test>), which expired at "),
        ),
        (
            "revoked key",
            v1.clone(),
            Some(revoked_prov),
            format!("provenance is signed by key {revoked} ({}), which is revoked", uid("Revoked")),
        ),
        (
            "another version's .prov",
            v2.clone(),
            Some(v1_prov.clone()),
            "provenance is for refused version 0.1.0, not version 0.2.0".into(),
        ),
        (
            "no .prov",
            v1.clone(),
            None,
            "a provenance file is required: upload refused-0.1.0.tgz.prov with the chart".into(),
        ),
    ];
    for (what, chart, prov, message) in cases {
        let r = server.upload_multipart(Some(("chart.tgz", chart)), prov.map(|b| ("chart.tgz.prov", b)), "").await;
        r.assert_status(400);
        assert!(
            r.error_message().starts_with(&message),
            "{what}: {:?} does not start with {message:?}",
            r.error_message()
        );
        assert!(observable(&server).await == before, "{what}: storage and index changed");
    }
    // A `.prov` alone (`POST /api/prov`) by an unknown key, before its chart.
    let r = server.post("/api/prov", "application/octet-stream", stranger_prov).await;
    r.assert_status(400);
    assert!(r.error_message().contains("which is not in the trusted keyring"), "{}", r.error_message());
    assert!(observable(&server).await == before, "POST /api/prov: storage and index changed");

    // What verifies is taken.
    server.upload_multipart(Some(("c.tgz", v1.clone())), Some(("c.tgz.prov", v1_prov)), "").await.assert_status(201);
    assert_verified(&server.get("/api/charts/refused/0.1.0").await.json(), &uid("Trusted"), &trusted);

    // `if-present`: a chart without a `.prov` is welcome, a bad one is not.
    let lenient = Server::start(&["--provenance", "if-present", "--provenance-keyring", p(&keyring)]).await;
    lenient.upload_multipart(Some(("c.tgz", v2)), None, "").await.assert_status(201);
    let r = lenient.get("/api/charts/refused/0.2.0").await;
    assert!(r.json().get("provenance").is_none(), "no .prov, no provenance field: {}", r.text());
    let r = lenient.upload_multipart(Some(("c.tgz", v1)), Some(("c.tgz.prov", b"hello".to_vec())), "").await;
    r.assert_status(400);
    assert_eq!(lenient.index().await.versions("refused"), ["0.2.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_change_is_reported_not_applied() {
    let keys = Signers::new();
    let keyring = keys.path("server-keyring.gpg");
    fs::copy(keys.path("trusted.gpg"), &keyring).expect("copy keyring");
    let mut server = Server::start(&["--provenance", "required", "--provenance-keyring", p(&keyring)]).await;
    let helm = Helm::new(HelmVersion::V4);
    let out = helm.work_dir("out");
    let rsa = chartroom_sign(
        &chart_folder(&helm, "by-rsa"),
        "1.0.0",
        &out,
        &["--key", RSA_UID, "--keyring", p(&keys.path("rsa-secret.gpg"))],
    );
    let (ed_secret, passphrase) = (keys.path("ed-secret.gpg"), keys.path("passphrase"));
    let ed_args = ["--key", ED_UID, "--keyring", p(&ed_secret), "--passphrase-file", p(&passphrase)];
    let ed = chartroom_sign(&chart_folder(&helm, "by-ed"), "1.0.0", &out, &ed_args);
    for chart in [&rsa, &ed] {
        Cli::new().ok(&["push", p(chart), &server.repo_url()]);
    }
    let r = server.post("/api/provenance/verify", "application/json", Vec::new()).await;
    r.assert_status(200);
    assert_eq!((r.json()["checked"].as_u64(), r.json()["verified"].as_u64()), (Some(2), Some(2)), "{}", r.text());

    // The Ed25519 key is no longer trusted.
    fs::write(&keyring, keys.gpg.export(&[&keys.rsa])).expect("write keyring");
    server.restart().await;
    let before = observable(&server).await;
    let api_before = server.get("/api/charts").await.body;
    assert_verified(&server.get("/api/charts/by-ed/1.0.0").await.json(), ED_UID, &keys.ed);
    let r = server.post("/api/provenance/verify", "application/json", Vec::new()).await;
    r.assert_status(200);
    let report = r.json();
    assert_eq!(
        (report["policy"].as_str(), report["checked"].as_u64(), report["verified"].as_u64()),
        (Some("required"), Some(2), Some(1)),
        "{report}"
    );
    let failed = report["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!((failed[0]["name"].as_str(), failed[0]["version"].as_str()), (Some("by-ed"), Some("1.0.0")));
    let expected = format!("provenance is signed by key {}, which is not in the trusted keyring", &keys.ed[24..]);
    assert_eq!(failed[0]["error"], expected.as_str(), "{report}");
    assert_eq!(failed[0]["recorded"]["fingerprint"], keys.ed.as_str(), "what was verified when it was stored");
    assert!(observable(&server).await == before, "the report changes nothing");
    assert!(server.get("/api/charts").await.body == api_before, "nor what the API shows");
}

/// Every stored chart and provenance file of `tenant`, and its served index.
async fn tenant_observable(server: &Server, tenant: &str) -> (BTreeMap<String, Vec<u8>>, Vec<u8>) {
    let mut stored = server.storage_snapshot();
    stored.retain(|k, _| k.starts_with(&format!("{tenant}/")));
    let r = server.get(&format!("/{tenant}/index.yaml")).await;
    r.assert_status(200);
    (stored, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_is_held_to_its_own_policy() {
    let gpg = GnuPg::new();
    let signer = gpg.gen_key(&KeySpec::new("Tenant Signer <tenants@example.test>", "ed25519"));
    let helm = Helm::new(HelmVersion::V4);
    let work = helm.work_dir("keys");
    let (secret, keyring) = (work.join("secret.gpg"), work.join("trusted.gpg"));
    fs::write(&secret, gpg.export_secret(&signer, "")).expect("write");
    fs::write(&keyring, gpg.export(&[&signer])).expect("write");
    let folder = chart_folder(&helm, "tenanted");
    let sign_args = ["--key", signer.as_str(), "--keyring", p(&secret)];
    let v1 = chartroom_sign(&folder, "1.0.0", &helm.work_dir("v1"), &sign_args);
    let v2 = chartroom_sign(&folder, "2.0.0", &helm.work_dir("v2"), &sign_args);
    let (tgz, prov) = (fs::read(&v1).expect("archive"), fs::read(prov_of(&v1)).expect(".prov"));
    let tampered = String::from_utf8(prov.clone())
        .expect("UTF-8 .prov")
        .replace("description: A Helm chart for Kubernetes", "description: A forged chart")
        .into_bytes();
    assert_ne!(tampered, prov);

    // Every tenant `off` but team-a (`required`) and team-c (`if-present`).
    let server = Server::start(&[
        "--depth",
        "1",
        "--provenance-tenant",
        "team-a=required",
        "--provenance-tenant",
        "team-c=if-present",
        "--provenance-keyring",
        p(&keyring),
    ])
    .await;
    let server = &server;
    let file = "tenanted-1.0.0.tgz";
    let upload = |tenant: &str, prov: Option<Vec<u8>>| {
        let path = format!("/api/{tenant}/charts");
        let chart = Some((file, tgz.clone()));
        let prov = prov.map(|b| ("tenanted-1.0.0.tgz.prov", b));
        async move { server.upload_multipart_to(&path, chart, prov).await }
    };

    // team-a: without its `.prov`, or with a forged one, 400 and nothing stored.
    let before = tenant_observable(server, "team-a").await;
    let r = upload("team-a", None).await;
    r.assert_status(400);
    assert!(
        r.error_message().starts_with("a provenance file is required: upload tenanted-1.0.0.tgz.prov with the chart"),
        "{}",
        r.error_message()
    );
    let r = upload("team-a", Some(tampered.clone())).await;
    r.assert_status(400);
    assert!(r.error_message().starts_with("bad provenance signature by key"), "{}", r.error_message());
    let r = server.post("/api/team-a/prov", "application/octet-stream", tampered.clone()).await;
    r.assert_status(400);
    assert!(tenant_observable(server, "team-a").await == before, "team-a: storage and index changed");
    assert!(server.storage_files().is_empty(), "nothing stored: {:?}", server.storage_files());

    // team-b (`off`): the same chart without a `.prov` is taken, and a forged `.prov` too.
    upload("team-b", None).await.assert_status(201);
    server.post("/api/team-b/prov", "application/octet-stream", tampered.clone()).await.assert_status(201);
    // team-c (`if-present`): without one it is taken, a forged one is not.
    upload("team-c", Some(tampered)).await.assert_status(400);
    upload("team-c", None).await.assert_status(201);
    // team-a with its `.prov`: multipart, and `chartroom push` to the tenant's URL.
    upload("team-a", Some(prov)).await.assert_status(201);
    let stdout = Cli::new().ok(&["push", p(&v2), &server.url("/team-a")]);
    assert!(stdout.contains("with its provenance file"), "{stdout}");
    for version in ["1.0.0", "2.0.0"] {
        let r = server.get(&format!("/api/team-a/charts/tenanted/{version}")).await;
        r.assert_status(200);
        assert_verified(&r.json(), "Tenant Signer <tenants@example.test>", &signer);
    }
    assert_eq!(
        server.storage_files(),
        [
            "team-a/tenanted-1.0.0.tgz",
            "team-a/tenanted-1.0.0.tgz.prov",
            "team-a/tenanted-2.0.0.tgz",
            "team-a/tenanted-2.0.0.tgz.prov",
            "team-b/tenanted-1.0.0.tgz",
            "team-b/tenanted-1.0.0.tgz.prov",
            "team-c/tenanted-1.0.0.tgz"
        ]
    );

    // Each tenant's report, under its own policy; the bare path is no route at depth 1.
    let report = |tenant: &str| {
        let path = format!("/api/{tenant}/provenance/verify");
        async move {
            let r = server.post(&path, "application/json", Vec::new()).await;
            r.assert_status(200);
            r.json()
        }
    };
    let a = report("team-a").await;
    assert_eq!(
        (a["policy"].as_str(), a["checked"].as_u64(), a["verified"].as_u64()),
        (Some("required"), Some(2), Some(2)),
        "{a}"
    );
    assert_eq!(a["failed"], serde_json::json!([]), "{a}");
    let b = report("team-b").await;
    assert_eq!((b["policy"].as_str(), b["checked"].as_u64(), b["verified"].as_u64()), (Some("off"), Some(1), Some(0)));
    assert!(b["failed"][0]["error"].as_str().expect("error").starts_with("bad provenance signature"), "{b}");
    let c = report("team-c").await;
    assert_eq!(c["policy"], "if-present", "{c}");
    assert_eq!(c["unsigned"], serde_json::json!([{"name": "tenanted", "version": "1.0.0"}]), "{c}");
    server.post("/api/provenance/verify", "application/json", Vec::new()).await.assert_status(404);
}

#[test]
fn a_bad_keyring_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("keyring.gpg");
    fs::write(&garbage, "not a keyring\n").expect("write");
    let port = free_port().to_string();
    let serve = |extra: &[&str]| {
        let base = ["serve", "--storage", "local", "--storage-local-rootdir", p(dir.path()), "--port", &port];
        Cli::new().run(&[&base[..], extra].concat())
    };
    let r = serve(&["--provenance", "if-present", "--provenance-keyring", p(&garbage)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("--provenance-keyring") && r.stderr.contains("not a usable keyring"), "{r:?}");
    let r = serve(&["--provenance", "required"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("missing required option --provenance-keyring"), "{r:?}");
    let r = serve(&["--provenance-tenant", "team-a=strict", "--provenance-keyring", p(&garbage)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("tenant team-a: expected one of off, if-present, required"), "{r:?}");
}
