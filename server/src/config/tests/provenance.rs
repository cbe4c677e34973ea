//! The provenance options: policy names, tenants' policies from flags, the variable and the
//! config file (a mapping or a list), the keyring that every verifying policy needs, and the
//! error texts an operator reads (snapshots in `snapshots/`).

use std::collections::BTreeMap;

use chartroom_index::{ProvenanceMode, Tenant};

use super::*;

fn helm_keyring() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/helm-test-key.pub"))
}

fn keyring_arg() -> ArgValues {
    ArgValues::new().with(&PROVENANCE_KEYRING, helm_keyring())
}

fn tenants(c: &Config) -> Vec<(String, ProvenanceMode)> {
    c.provenance.tenants.iter().map(|(t, m)| (t.as_str().to_owned(), *m)).collect()
}

#[test]
fn off_by_default_and_a_keyring_alone_changes_nothing() {
    let c = from(ArgValues::new()).unwrap().config;
    assert_eq!(c.provenance, ProvenanceSettings::default());
    let options = c.repo_options();
    assert_eq!(options.provenance.mode(&Tenant::root()), ProvenanceMode::Off);
    assert!(options.provenance.keyring().is_none());

    let c = from(keyring_arg()).unwrap();
    assert_eq!(c.config.provenance.default, ProvenanceMode::Off);
    let keyring = c.config.provenance.keyring.as_ref().unwrap();
    assert_eq!(keyring.keys.len(), 1);
    assert_eq!(keyring.keys[0].fingerprint, "5E615389B53CA37F0EE60BD3843BBF981FC18762");
    assert!(c.config.repo_options().provenance.keyring().is_some(), "kept for re-verification");
    let row = c.describe().into_iter().find(|(k, _, _)| *k == "provenancekeyring").unwrap();
    assert_eq!(row.1, format!("{} (1 keys)", helm_keyring().display()));
}

#[test]
fn policies_per_tenant_from_every_source() {
    use ProvenanceMode::*;
    let want = vec![("org/team-b".to_owned(), Off), ("team-a".to_owned(), Required)];
    // Flags (the command line joins repeated flags with commas) and the variable's list.
    for value in
        ["team-a=required,org/team-b=off", " team-a=required  org/team-b=OFF ", "team-a=required,,org/team-b=off"]
    {
        let args = keyring_arg().with(&PROVENANCE, "if-present").with(&PROVENANCE_TENANT, value);
        let c = from(args).unwrap().config;
        assert_eq!((c.provenance.default, tenants(&c)), (IfPresent, want.clone()), "{value:?}");
        let policy = c.repo_options().provenance;
        assert_eq!(policy.mode(&Tenant::parse("team-a").unwrap()), Required);
        assert_eq!(policy.mode(&Tenant::parse("org/team-b").unwrap()), Off);
        assert_eq!(policy.mode(&Tenant::parse("team-z").unwrap()), IfPresent);
    }
    // The config file: a mapping (keys as written, not lower-cased), a list, or one string.
    for text in [
        "provenance: if-present\nprovenancetenant:\n  team-a: required\n  org/team-b: \"off\"\n",
        "provenance: if-present\nprovenancetenant: [team-a=required, org/team-b=off]\n",
        "provenance: if-present\nprovenancetenant: \"team-a=required org/team-b=off\"\n",
    ] {
        let (_dir, args) = with_file(&format!("{text}provenancekeyring: {}\n", helm_keyring().display()));
        let c = from(args).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!((c.config.provenance.default, tenants(&c.config)), (IfPresent, want.clone()), "{text}");
        let row = c.describe().into_iter().find(|(k, _, _)| *k == "provenancetenant").unwrap();
        assert_eq!((row.1.as_str(), row.2), ("org/team-b=off,team-a=required", "file"));
    }
    let (_dir, args) = with_file("provenancetenant:\n  Team-A: required\n");
    let c = from(args.with(&PROVENANCE_KEYRING, helm_keyring())).unwrap().config;
    assert_eq!(c.provenance.tenants, BTreeMap::from([(Tenant::parse("Team-A").unwrap(), Required)]));
}

#[test]
fn refusals() {
    let refused = |args: ArgValues| err(args);
    let e = refused(ArgValues::new().with(&PROVENANCE, "on"));
    assert!(e.contains("expected one of off, if-present, required"), "{e}");
    let e = refused(keyring_arg().with(&PROVENANCE_TENANT, "team-a"));
    assert!(e.contains("expected KEY=VALUE, got \"team-a\""), "{e}");
    let e = refused(keyring_arg().with(&PROVENANCE_TENANT, "team-a=required,team-a=off"));
    assert!(e.contains("\"team-a\" is given more than once"), "{e}");
    let e = refused(keyring_arg().with(&PROVENANCE_TENANT, "../x=required"));
    assert!(e.contains("'.' and '..' are not repository names"), "{e}");
    let e = refused(keyring_arg().with(&PROVENANCE_TENANT, "team-a=strict"));
    assert!(e.contains("tenant team-a: expected one of off, if-present, required"), "{e}");
    let e = refused(keyring_arg().with(&PROVENANCE_TENANT, "=required"));
    assert!(e.contains("expected KEY=VALUE"), "{e}");
    let (_dir, args) = with_file("provenancetenant: 3\n");
    assert!(refused(args).contains("expected a mapping of KEY: VALUE, or a list of KEY=VALUE strings"));
}

#[test]
fn error_texts() {
    let dir = tempfile::tempdir().unwrap();
    let message = |args: ArgValues| err(args).replace(dir.path().to_str().unwrap(), "<dir>");
    insta::assert_snapshot!("provenance_without_keyring", message(ArgValues::new().with(&PROVENANCE, "required")));
    let tenant_only = ArgValues::new().with(&PROVENANCE_TENANT, "team-a=if-present");
    insta::assert_snapshot!("provenance_tenant_without_keyring", message(tenant_only));
    let missing = dir.path().join("missing.gpg");
    insta::assert_snapshot!("keyring_unreadable", message(ArgValues::new().with(&PROVENANCE_KEYRING, missing)));
    let garbage = write_file(&dir, "garbage.gpg", "not a keyring\n");
    insta::assert_snapshot!("keyring_garbage", message(ArgValues::new().with(&PROVENANCE_KEYRING, garbage)));
    let kbx = write_file(&dir, "pubring.kbx", "\0\0\0\x20\x01\x01\0\0KBXf");
    insta::assert_snapshot!("keyring_keybox", message(ArgValues::new().with(&PROVENANCE_KEYRING, kbx)));
}
