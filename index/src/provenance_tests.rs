//! The provenance policy through the repository's operations, with Helm's signed fixture chart
//! (`signtest-0.1.0`, signed by Helm's test key): what each mode accepts and refuses, what the
//! index records, how records survive restarts, reach peers and follow storage, and the
//! re-verification report. Keys made by GnuPG and real Helm are in the end-to-end tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chartroom_signing::{Keyring, VerifyError};
use chartroom_storage::{Storage, StorageError};

use crate::options::RepoOptions;
use crate::provenance::{ProvenanceMode, ProvenancePolicy};
use crate::publish::{ProvenanceRejected, PublishError};
use crate::repo::Repository;
use crate::reverify::ReverifyError;
use crate::tenancy::Tenancy;
use crate::tenant::Tenant;
use crate::test_fixtures::{fixture, signtest, signtest_prov, signtest_recompressed};

/// Helm's test key (`helm-test-key.pub`).
const HELM_FINGERPRINT: &str = "5E615389B53CA37F0EE60BD3843BBF981FC18762";
const HELM_USER_ID: &str =
    "Helm Testing (This key should only be used for testing. DO NOT TRUST.) <helm-testing@helm.sh>";

fn helm_keyring() -> Arc<Keyring> {
    Arc::new(Keyring::from_bytes(&fixture("helm-test-key.pub")).unwrap())
}

/// A keyring that trusts nobody: every signature is by an unknown key.
fn nobody() -> Arc<Keyring> {
    Arc::new(Keyring::default())
}

fn policy(mode: ProvenanceMode, keyring: Arc<Keyring>) -> ProvenancePolicy {
    ProvenancePolicy::new(mode, BTreeMap::new(), Some(keyring)).unwrap()
}

fn options(provenance: ProvenancePolicy) -> RepoOptions {
    RepoOptions { poll_interval: None, resync_interval: None, statefiles: false, provenance, ..Default::default() }
}

async fn open_with(storage: &Storage, options: RepoOptions) -> Repository {
    Repository::open(storage.clone(), options).await.unwrap().0
}

async fn exists(storage: &Storage, file: &str) -> bool {
    match storage.head(file).await {
        Ok(_) => true,
        Err(StorageError::NotFound(_)) => false,
        Err(e) => panic!("{e}"),
    }
}

fn api_json(repo: &Repository) -> String {
    repo.index(&Tenant::root()).unwrap().chart_json("signtest").unwrap_or_default()
}

fn unverified(e: &PublishError) -> Option<&VerifyError> {
    match e {
        PublishError::Provenance(ProvenanceRejected::Unverified(v)) => Some(v),
        _ => None,
    }
}

#[tokio::test]
async fn required_accepts_a_verified_chart_and_records_who_signed() {
    let storage = Storage::memory();
    let repo = open_with(&storage, options(policy(ProvenanceMode::Required, helm_keyring()))).await;
    let root = Tenant::root();

    let refused = repo.publish(&root, signtest(), None, false).await.unwrap_err();
    assert!(matches!(refused, PublishError::Provenance(ProvenanceRejected::Required { .. })), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        "a provenance file is required: upload signtest-0.1.0.tgz.prov with the chart (multipart field \"prov\")"
    );
    assert!(storage.list_chart_files().await.unwrap().charts.is_empty(), "nothing stored");

    let published = repo.publish(&root, signtest(), Some(signtest_prov()), false).await.unwrap();
    let signature = published.signature.expect("verified");
    assert_eq!(signature.fingerprint, HELM_FINGERPRINT);
    assert_eq!(signature.user_id.as_deref(), Some(HELM_USER_ID));
    let entry = repo.index(&root).unwrap().get("signtest", "0.1.0").cloned().unwrap();
    let record = entry.provenance().expect("recorded");
    assert_eq!(record.signature.as_ref(), Some(&signature));
    assert_eq!(record.size, signtest_prov().len() as u64);
    let json = api_json(&repo);
    assert!(
        json.contains(&format!(
            r#""provenance":{{"verified":true,"signer":"{HELM_USER_ID}","fingerprint":"{HELM_FINGERPRINT}","keyId":"843BBF981FC18762","signedAt":"#
        )),
        "{json}"
    );
    let served: Vec<u8> = repo.snapshot(&root).unwrap().primary().chunks.concat();
    assert!(!String::from_utf8(served).unwrap().contains("provenance"), "index.yaml gains nothing");
}

#[tokio::test]
async fn refusals_name_the_check_and_store_nothing() {
    let storage = Storage::memory();
    let root = Tenant::root();
    // A keyring without Helm's key.
    let repo = open_with(&storage, options(policy(ProvenanceMode::IfPresent, nobody()))).await;
    let refused = repo.publish(&root, signtest(), Some(signtest_prov()), false).await.unwrap_err();
    assert_eq!(unverified(&refused), Some(&VerifyError::UnknownKey { key_id: "843BBF981FC18762".into() }));
    assert_eq!(
        refused.to_string(),
        "provenance is signed by key 843BBF981FC18762, which is not in the trusted keyring"
    );
    let refused = repo.put_provenance(&root, signtest_prov(), false).await.unwrap_err();
    assert!(unverified(&refused).is_some(), "{refused:?}");
    assert!(storage.list_chart_files().await.unwrap() == Default::default(), "nothing stored");

    // Other bytes than the signed ones.
    let repo = open_with(&storage, options(policy(ProvenanceMode::IfPresent, helm_keyring()))).await;
    let refused = repo.publish(&root, signtest_recompressed(), Some(signtest_prov()), false).await.unwrap_err();
    assert!(matches!(unverified(&refused), Some(VerifyError::DigestMismatch { .. })), "{refused:?}");
    assert!(storage.list_chart_files().await.unwrap() == Default::default(), "nothing stored");
    assert!(repo.index(&root).unwrap().is_empty());

    // if-present: a chart without one is welcome.
    repo.publish(&root, signtest(), None, false).await.unwrap();
    assert!(repo.index(&root).unwrap().get("signtest", "0.1.0").unwrap().provenance().is_none());
    assert!(!api_json(&repo).contains("provenance"), "no provenance file, no field");
}

#[tokio::test]
async fn a_provenance_file_ahead_of_its_chart_is_checked_when_the_chart_arrives() {
    let storage = Storage::memory();
    let root = Tenant::root();
    let repo = open_with(&storage, options(policy(ProvenanceMode::Required, helm_keyring()))).await;
    // Signature and key now; the digest when the chart comes.
    repo.put_provenance(&root, signtest_prov(), false).await.unwrap();
    assert!(exists(&storage, "signtest-0.1.0.tgz.prov").await);

    // Other bytes for that version: the stored provenance file refuses them.
    let refused = repo.publish(&root, signtest_recompressed(), None, false).await.unwrap_err();
    assert!(
        matches!(
            &refused,
            PublishError::Provenance(ProvenanceRejected::StoredUnverified {
                error: VerifyError::DigestMismatch { .. },
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().starts_with("the provenance file stored for this version (signtest-0.1.0.tgz.prov)"));
    assert!(!exists(&storage, "signtest-0.1.0.tgz").await);

    // The signed bytes, alone: accepted with the stored provenance file's signature.
    let published = repo.publish(&root, signtest(), None, false).await.unwrap();
    assert_eq!(published.signature.map(|s| s.fingerprint).as_deref(), Some(HELM_FINGERPRINT));
    assert!(api_json(&repo).contains(r#""provenance":{"verified":true"#));
}

#[tokio::test]
async fn off_records_provenance_files_without_judging_them() {
    let storage = Storage::memory();
    let root = Tenant::root();
    let repo = open_with(&storage, options(policy(ProvenanceMode::Off, helm_keyring()))).await;
    repo.publish(&root, signtest(), None, false).await.unwrap();
    assert!(!api_json(&repo).contains("provenance"));
    // A provenance file sent after its chart is recorded on the entry.
    repo.put_provenance(&root, signtest_prov(), false).await.unwrap();
    let json = api_json(&repo);
    assert!(json.ends_with(r#","provenance":{"verified":false}}]"#), "{json}");
    // Replaced with other bytes: the provenance file no longer vouches for them and goes.
    repo.publish(&root, signtest_recompressed(), None, true).await.unwrap();
    assert!(!exists(&storage, "signtest-0.1.0.tgz.prov").await);
    assert!(!api_json(&repo).contains("provenance"));
}

#[tokio::test]
async fn records_survive_restarts_and_a_keyring_change_only_reports() {
    let storage = Storage::memory();
    let root = Tenant::root();
    let persisted = |provenance| RepoOptions { statefiles: true, ..options(provenance) };
    let repo = open_with(&storage, persisted(policy(ProvenanceMode::Required, helm_keyring()))).await;
    repo.publish(&root, signtest(), Some(signtest_prov()), false).await.unwrap();
    repo.shutdown().await;
    let recorded = api_json(&repo);

    // Restarted with a keyring that no longer trusts Helm's key: the stored chart is not
    // re-judged (the state's record is kept, no provenance file is read) ...
    let repo = open_with(&storage, persisted(policy(ProvenanceMode::Required, nobody()))).await;
    assert_eq!(api_json(&repo), recorded);
    let before = storage.request_counts();
    // ... but the re-verification report says it no longer verifies, and changes nothing.
    let report = repo.reverify_provenance(&root).await.unwrap();
    assert_eq!((report.policy.as_str(), report.versions, report.checked, report.verified), ("required", 1, 1, 0));
    assert_eq!(report.failed.len(), 1);
    assert_eq!((report.failed[0].name.as_str(), report.failed[0].version.as_str()), ("signtest", "0.1.0"));
    assert_eq!(
        report.failed[0].error,
        "provenance is signed by key 843BBF981FC18762, which is not in the trusted keyring"
    );
    assert_eq!(report.failed[0].recorded.as_ref().map(|s| s.fingerprint.as_str()), Some(HELM_FINGERPRINT));
    let after = storage.request_counts();
    assert_eq!((after.put, after.delete), (before.put, before.delete), "the report writes nothing");
    assert_eq!(api_json(&repo), recorded);

    // With the right keyring it verifies; a repository without one cannot report.
    let repo = open_with(&storage, persisted(policy(ProvenanceMode::Off, helm_keyring()))).await;
    let report = repo.reverify_provenance(&root).await.unwrap();
    assert_eq!((report.policy.as_str(), report.checked, report.verified, report.failed.len()), ("off", 1, 1, 0));
    let repo = open_with(&storage, persisted(ProvenancePolicy::default())).await;
    assert!(matches!(repo.reverify_provenance(&root).await, Err(ReverifyError::NoKeyring)));
    // Without a keyring the state's records are dropped: the API shows what it always showed.
    assert!(!api_json(&repo).contains("provenance"), "{}", api_json(&repo));
}

#[tokio::test]
async fn provenance_files_found_in_storage_are_judged_once_and_followed() {
    let storage = Storage::memory();
    let root = Tenant::root();
    // A ChartMuseum folder: a chart and its provenance file, no state.
    storage.put_new("signtest-0.1.0.tgz", signtest()).await.unwrap();
    storage.put_new("signtest-0.1.0.tgz.prov", signtest_prov()).await.unwrap();
    let repo = open_with(&storage, options(policy(ProvenanceMode::IfPresent, helm_keyring()))).await;
    let json = api_json(&repo);
    assert!(json.contains(&format!(r#""provenance":{{"verified":true,"signer":"{HELM_USER_ID}""#)), "{json}");
    // Under off, the file is recorded as present, not judged (no read: as many requests as a
    // start without a keyring) ...
    let before = storage.request_counts();
    let off = open_with(&storage, options(policy(ProvenanceMode::Off, helm_keyring()))).await;
    assert!(api_json(&off).ends_with(r#","provenance":{"verified":false}}]"#));
    let (middle, off_gets) = (storage.request_counts(), storage.request_counts().get - before.get);
    // ... and without a keyring not recorded at all: what a server without signatures shows.
    let plain = open_with(&storage, options(ProvenancePolicy::default())).await;
    assert!(!api_json(&plain).contains("provenance"));
    assert_eq!(storage.request_counts().get - middle.get, off_gets, "no provenance file read under off");
    // Judged and failed (a keyring without the key): recorded with the reason, never refused.
    let strangers = open_with(&storage, options(policy(ProvenanceMode::Required, nobody()))).await;
    let json = api_json(&strangers);
    assert!(
        json.contains(r#""provenance":{"verified":false,"failure":"provenance is signed by key 843BBF981FC18762"#),
        "{json}"
    );

    // Removed and added back behind the server's back: a resync follows.
    storage.delete("signtest-0.1.0.tgz.prov").await.unwrap();
    let report = repo.resync(&root).await.unwrap();
    assert_eq!(report.provenance, 1);
    assert!(!api_json(&repo).contains("provenance"));
    storage.put_new("signtest-0.1.0.tgz.prov", signtest_prov()).await.unwrap();
    assert_eq!(repo.resync(&root).await.unwrap().provenance, 1);
    assert!(api_json(&repo).contains(r#""verified":true"#));
    assert_eq!(repo.resync(&root).await.unwrap().provenance, 0, "an unchanged file is not judged again");
}

#[tokio::test]
async fn peers_learn_the_verification_from_the_change_log() {
    let storage = Storage::memory();
    let root = Tenant::root();
    let replica = |provenance| RepoOptions { poll_interval: Some(Duration::from_millis(20)), ..options(provenance) };
    let a = open_with(&storage, replica(policy(ProvenanceMode::Required, helm_keyring()))).await;
    // B trusts nobody: what it shows can only come from A's record.
    let b = open_with(&storage, replica(policy(ProvenanceMode::Required, nobody()))).await;
    a.publish(&root, signtest(), Some(signtest_prov()), false).await.unwrap();
    let expected = api_json(&a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while api_json(&b) != expected {
        assert!(tokio::time::Instant::now() < deadline, "B shows {:?}, A {expected:?}", api_json(&b));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(expected.contains(r#""verified":true"#));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn each_tenant_has_its_policy() {
    let storage = Storage::memory();
    let (strict, lax) = (Tenant::parse("team-a").unwrap(), Tenant::parse("team-b").unwrap());
    let tenants = BTreeMap::from([(strict.clone(), ProvenanceMode::Required)]);
    let provenance = ProvenancePolicy::new(ProvenanceMode::Off, tenants, Some(helm_keyring())).unwrap();
    let repo = open_with(&storage, RepoOptions { tenancy: Tenancy::Depth(1), ..options(provenance) }).await;
    let refused = repo.publish(&strict, signtest(), None, false).await.unwrap_err();
    assert!(matches!(refused, PublishError::Provenance(ProvenanceRejected::Required { .. })), "{refused:?}");
    repo.publish(&lax, signtest(), None, false).await.unwrap();
    repo.publish(&strict, signtest(), Some(signtest_prov()), false).await.unwrap();
    let listing = storage.list_tree(|_| true).await.unwrap();
    let files: Vec<&str> = listing.iter().map(|o| o.file.as_str()).filter(|f| !f.starts_with(".chartroom")).collect();
    assert_eq!(files, ["team-a/signtest-0.1.0.tgz", "team-a/signtest-0.1.0.tgz.prov", "team-b/signtest-0.1.0.tgz"]);
    assert_eq!(repo.reverify_provenance(&strict).await.unwrap().policy, "required");
    assert_eq!(repo.reverify_provenance(&lax).await.unwrap().unsigned.len(), 1);
}
