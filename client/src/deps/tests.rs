use super::*;
use crate::error::ErrorKind;

fn vector() -> (Vec<Dependency>, Vec<LockedDependency>) {
    let req = vec![
        Dependency {
            name: "redis".into(),
            version: ">=17.0.0 <18.0.0".into(),
            repository: "https://charts.example.com/stable".into(),
            condition: "redis.enabled".into(),
            alias: "cache".into(),
            ..Default::default()
        },
        Dependency {
            name: "common".into(),
            version: "2.x.x".into(),
            repository: "oci://registry.example.com/charts".into(),
            tags: vec!["base".into()],
            import_values: vec![serde_json::json!("defaults"), serde_json::json!({"parent": "c", "child": "a.b"})],
            ..Default::default()
        },
    ];
    let lock = vec![
        LockedDependency {
            name: "redis".into(),
            version: "17.3.7".into(),
            repository: "https://charts.example.com/stable".into(),
        },
        LockedDependency {
            name: "common".into(),
            version: "2.2.1".into(),
            repository: "oci://registry.example.com/charts".into(),
        },
    ];
    (req, lock)
}

/// helm-client.md §11.2.
#[test]
fn lock_digest_matches_the_helm_vector() {
    let (req, lock) = vector();
    assert_eq!(
        lock_digest(&req, &lock).expect("digest"),
        "sha256:84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194"
    );
    // The same from a parsed Chart.yaml and a parsed Chart.lock.
    let md = Metadata::from_yaml(
            b"apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: \">=17.0.0 <18.0.0\"\n  repository: https://charts.example.com/stable\n  condition: redis.enabled\n  alias: cache\n- name: common\n  version: 2.x.x\n  repository: oci://registry.example.com/charts\n  tags: [base]\n  import-values:\n  - defaults\n  - parent: c\n    child: a.b\n",
        )
        .expect("Chart.yaml");
    let text = "dependencies:\n- name: redis\n  repository: https://charts.example.com/stable\n  version: 17.3.7\n- name: common\n  repository: oci://registry.example.com/charts\n  version: 2.2.1\ndigest: sha256:84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194\ngenerated: \"2024-01-02T03:04:05.123456789Z\"\n";
    let (parsed, raw) = parse_lock(text.as_bytes()).expect("lock");
    assert_eq!(parsed.dependencies, lock);
    assert_eq!(parsed.generated, "2024-01-02T03:04:05.123456789Z");
    assert_eq!(hash_req(&md.dependencies, raw.as_deref()).expect("digest"), parsed.digest);
    // Helm's output, byte for byte.
    assert_eq!(parsed.to_yaml(), text);
    // Anything in the requested list changes the digest.
    let mut changed = req.clone();
    changed[1].tags.clear();
    assert_ne!(lock_digest(&changed, &lock).expect("digest"), parsed.digest);
}

#[test]
fn yaml_scalars_like_go_yaml() {
    for (s, want) in [
        ("1.2.0", "1.2.0"),
        ("1.0", "\"1.0\""),
        ("1", "\"1\""),
        ("", "\"\""),
        ("^1.0", "^1.0"),
        ("~1.2", "~1.2"),
        (">=1.0.0 <2", "'>=1.0.0 <2'"),
        ("https://h/a", "https://h/a"),
        ("file://../local", "file://../local"),
        ("2024-01-02T03:04:05.1Z", "\"2024-01-02T03:04:05.1Z\""),
        ("true", "\"true\""),
        ("1.x", "1.x"),
        ("- x", "'- x'"),
        ("it's: x", "'it''s: x'"),
        ("1e3", "\"1e3\""),
    ] {
        assert_eq!(yaml_scalar(s), want, "{s}");
    }
}

#[test]
fn timestamps_like_go() {
    assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_nano(1_704_164_645, 123_456_789), "2024-01-02T03:04:05.123456789Z");
    assert_eq!(rfc3339_nano(951_782_400, 500_000_000), "2000-02-29T00:00:00.5Z");
}

#[test]
fn urls_compare_like_helm() {
    assert!(url_equal("http://127.0.0.1:8080", "http://127.0.0.1:8080/"));
    assert!(url_equal("https://h/a/", "https://h/a"));
    assert!(!url_equal("https://h/a", "https://h/b"));
    assert!(has_scheme("https://h") && !has_scheme("stable") && !has_scheme("@x"));
}

#[test]
fn plans_aliases_urls_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("local")).expect("mkdir");
    let repos = vec![RepoEntry {
        name: "myrepo".into(),
        url: "http://127.0.0.1:1/charts/".into(),
        username: "u".into(),
        password: "p".into(),
        ..Default::default()
    }];
    let dep = |repository: &str| Dependency {
        name: "x".into(),
        version: "^1".into(),
        repository: repository.into(),
        ..Default::default()
    };
    let mut deps = vec![
        dep("@myrepo"),
        dep("alias:myrepo"),
        dep("http://127.0.0.1:1/charts"),
        dep("https://elsewhere.example/x"),
        dep("file://local"),
        dep(""),
    ];
    let sources = plan(&mut deps, dir.path(), &repos).expect("plan");
    assert_eq!(deps[0].repository, "http://127.0.0.1:1/charts/");
    assert_eq!(deps[1].repository, "http://127.0.0.1:1/charts/");
    assert_eq!(deps[2].repository, "http://127.0.0.1:1/charts");
    match &sources[2] {
        Source::Http(r) => assert_eq!((r.username.as_deref(), r.name.as_deref()), (Some("u"), Some("myrepo"))),
        other => panic!("{other:?}"),
    }
    match &sources[3] {
        Source::Http(r) => assert_eq!((r.username.as_deref(), r.name.as_deref()), (None, None)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(sources[4], Source::File(_)) && matches!(sources[5], Source::Local));

    let err = plan(&mut [dep("@nope")], dir.path(), &repos).expect_err("unknown alias");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.starts_with("no repository definition for @nope"), "{}", err.message);
    let err = plan(&mut [dep("stable")], dir.path(), &repos).expect_err("bare name");
    assert!(err.message.contains("must be URLs or aliases"), "{}", err.message);
    // `oci://<registry>/<path>`: the chart's repository is `<path>/<name>`.
    match plan(&mut [dep("oci://r/charts/")], dir.path(), &repos).expect("oci").as_slice() {
        [Source::Oci(r)] => assert_eq!((r.registry.as_str(), r.repository.as_str()), ("r", "charts/x")),
        other => panic!("{other:?}"),
    }
    let err = plan(&mut [dep("file://absent")], dir.path(), &repos).expect_err("absent");
    assert!(err.message.contains("not found"), "{}", err.message);
}
