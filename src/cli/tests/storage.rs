//! The storage backends from flags, environment variables and the config file: Amazon, Google
//! and Azure settings, their precedence, the region rule, missing buckets and `_FILE` secrets.

use super::*;

#[test]
fn amazon_from_flags() {
    let env = env();
    let args = env
        .parse(&[
            "--storage",
            "Amazon",
            "--storage-amazon-bucket",
            "charts",
            "--storage-amazon-prefix",
            "/team/a/",
            "--storage-amazon-region",
            "eu-west-1",
            "--storage-amazon-endpoint",
            "minio.internal:9000/",
            "--storage-amazon-sse",
            "aws:kms",
            "--storage-amazon-force-path-style=false",
        ])
        .unwrap();
    let c = with_env(&args, &[]).unwrap();
    assert_eq!(
        c.config.storage.backend,
        BackendConfig::Amazon(AmazonConfig {
            bucket: "charts".into(),
            prefix: "team/a".into(),
            region: Some("eu-west-1".into()),
            endpoint: Some("https://minio.internal:9000".into()),
            sse: Some("aws:kms".into()),
            force_path_style: false,
        })
    );
    let rows = c.describe();
    let keys: Vec<&str> = rows.iter().map(|(k, _, _)| *k).collect();
    assert!(keys.contains(&"storage.amazon.forcepathstyle") && !keys.contains(&"storage.local.rootdir"));
    assert_eq!(source_of(&c, "storage.amazon.bucket"), "flag/env");
    // The bare flag means true; the default is true (ChartMuseum's).
    let args = env.parse(&["--storage=amazon", "--storage-amazon-bucket=b", "--storage-amazon-region=r"]).unwrap();
    assert!(amazon(&with_env(&args, &[]).unwrap()).force_path_style);
    let args = env
        .parse(&[
            "--storage=amazon",
            "--storage-amazon-bucket=b",
            "--storage-amazon-region=r",
            "--storage-amazon-force-path-style",
        ])
        .unwrap();
    assert!(amazon(&with_env(&args, &[]).unwrap()).force_path_style);
}

#[test]
fn cloud_backends_from_environment() {
    let env = env();
    for (k, v) in [
        ("STORAGE", "amazon"),
        ("STORAGE_AMAZON_BUCKET", "env-bucket"),
        ("STORAGE_AMAZON_PREFIX", "p"),
        ("STORAGE_AMAZON_REGION", "ap-south-1"),
        ("STORAGE_AMAZON_ENDPOINT", "http://127.0.0.1:9000"),
        ("STORAGE_AMAZON_SSE", "AES256"),
        ("STORAGE_AMAZON_FORCE_PATH_STYLE", "false"),
        ("STORAGE_GOOGLE_BUCKET", "g-bucket"),
        ("STORAGE_GOOGLE_PREFIX", "g/p/"),
        ("STORAGE_MICROSOFT_CONTAINER", "m-container"),
        ("STORAGE_MICROSOFT_PREFIX", "/m"),
    ] {
        env.set(k, v);
    }
    let exercised = 10;
    assert_eq!(env_names().into_iter().filter(|n| is_cloud_storage_env(n)).count(), exercised);
    let config = |env: &Env| with_env(&env.parse(&[]).unwrap(), &[]).unwrap();
    let c = config(&env);
    assert_eq!(
        amazon(&c),
        &AmazonConfig {
            bucket: "env-bucket".into(),
            prefix: "p".into(),
            region: Some("ap-south-1".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
            sse: Some("AES256".into()),
            force_path_style: false,
        }
    );
    env.set("STORAGE", "google");
    assert_eq!(
        config(&env).config.storage.backend,
        BackendConfig::Google(GoogleConfig { bucket: "g-bucket".into(), prefix: "g/p".into() })
    );
    env.set("STORAGE", "MICROSOFT");
    assert_eq!(
        config(&env).config.storage.backend,
        BackendConfig::Microsoft(MicrosoftConfig { container: "m-container".into(), prefix: "m".into() })
    );
}

#[test]
fn cloud_backends_precedence_flag_env_file() {
    let env = env();
    let text = "\
storage:
  backend: amazon
  amazon:
    bucket: file-bucket
    prefix: file/prefix
    region: file-region
    forcepathstyle: false
  google: {bucket: file-g}
  microsoft.container: file-m
  pollinterval: 1s
";
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "chartroom.yaml", text);
    let p = path.to_str().unwrap();
    let from = |argv: &[&str]| {
        let mut all = vec!["--config", p];
        all.extend_from_slice(argv);
        with_env(&env.parse(&all).unwrap(), &[]).unwrap()
    };
    let c = from(&[]);
    let a = amazon(&c);
    assert_eq!(
        (a.bucket.as_str(), a.prefix.as_str(), a.region.as_deref()),
        ("file-bucket", "file/prefix", Some("file-region"))
    );
    assert!(!a.force_path_style);
    assert_eq!(c.config.storage.poll_interval, Duration::from_secs(1));
    assert_eq!(source_of(&c, "storage.amazon.bucket"), "file");
    assert_eq!(source_of(&c, "storage.pollinterval"), "file");

    env.set("STORAGE_AMAZON_BUCKET", "env-bucket");
    let c = from(&[]);
    assert_eq!(amazon(&c).bucket, "env-bucket");
    assert_eq!(amazon(&c).region.as_deref(), Some("file-region"));
    assert_eq!(source_of(&c, "storage.amazon.bucket"), "flag/env");
    let c = from(&["--storage-amazon-bucket", "flag-bucket", "--storage-poll-interval", "100ms"]);
    assert_eq!(amazon(&c).bucket, "flag-bucket");
    assert_eq!(c.config.storage.poll_interval, Duration::from_millis(100));

    env.set("STORAGE", "google");
    assert_eq!(
        from(&[]).config.storage.backend,
        BackendConfig::Google(GoogleConfig { bucket: "file-g".into(), prefix: String::new() })
    );
    let c = from(&["--storage", "microsoft"]);
    assert_eq!(
        c.config.storage.backend,
        BackendConfig::Microsoft(MicrosoftConfig { container: "file-m".into(), prefix: String::new() })
    );
}

#[test]
fn amazon_region_rule() {
    let env = env();
    let base = ["--storage", "amazon", "--storage-amazon-bucket", "b"];
    let try_with = |extra: &[&str], vars: &[(&str, &str)]| {
        let argv: Vec<&str> = base.iter().chain(extra).copied().collect();
        with_env(&env.parse(&argv).unwrap(), vars).map_err(|e| e.to_string())
    };
    let e = try_with(&[], &[]).unwrap_err();
    for want in ["--storage-amazon-region", "STORAGE_AMAZON_REGION", "storage.amazon.region", "AWS_REGION", "us-east-1"]
    {
        assert!(e.contains(want), "{e}\nmissing {want:?}");
    }
    // An endpoint: open() uses us-east-1 unless the environment has a region.
    let c = try_with(&["--storage-amazon-endpoint", "http://127.0.0.1:9000"], &[]).unwrap();
    assert_eq!(amazon(&c).region, None);
    assert!(try_with(&[], &[("AWS_REGION", "eu-west-1")]).is_ok());
    assert!(try_with(&[], &[("AWS_DEFAULT_REGION", "eu-west-1")]).is_ok());
    let dir = tempfile::tempdir().unwrap();
    let profile = write_file(&dir, "config", "[profile ci]\nregion = sa-east-1\n");
    let profile = profile.to_str().unwrap();
    assert!(try_with(&[], &[("AWS_CONFIG_FILE", profile), ("AWS_PROFILE", "ci")]).is_ok());
    assert!(try_with(&[], &[("AWS_CONFIG_FILE", profile)]).is_err(), "no default profile, no region");
    let e = try_with(&[], &[("AWS_CONFIG_FILE", profile), ("AWS_PROFILE", "other")]).unwrap_err();
    assert!(e.contains("\"other\"") && e.contains(profile), "{e}");
    // An empty value is unset, as in ChartMuseum.
    assert!(try_with(&["--storage-amazon-region", ""], &[]).is_err());
}

#[test]
fn missing_bucket_or_container() {
    let env = env();
    for (argv, wants) in [
        (&["--storage", "amazon"][..], ["--storage-amazon-bucket", "STORAGE_AMAZON_BUCKET", "storage.amazon.bucket"]),
        (
            &["--storage", "amazon", "--storage-amazon-bucket", " "][..],
            ["--storage-amazon-bucket", "STORAGE_AMAZON_BUCKET", "bucket"],
        ),
        (&["--storage", "google"][..], ["--storage-google-bucket", "STORAGE_GOOGLE_BUCKET", "storage.google.bucket"]),
        (
            &["--storage", "microsoft"][..],
            ["--storage-microsoft-container", "STORAGE_MICROSOFT_CONTAINER", "storage.microsoft.container"],
        ),
    ] {
        let e = with_env(&env.parse(argv).unwrap(), &[]).unwrap_err().to_string();
        assert!(e.starts_with("missing required option"), "{e}");
        for want in wants {
            assert!(e.contains(want), "{argv:?}: {e}\nmissing {want:?}");
        }
    }
    let e = with_env(
        &env.parse(&["--storage", "google", "--storage-google-bucket", "b", "--storage-google-prefix", "a/../b"])
            .unwrap(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--storage-google-prefix") && e.contains("\"..\""), "{e}");
}

#[test]
fn file_secrets_are_checked_at_startup() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let secret = write_file(&dir, "secret", "SK\n");
    let secret = secret.to_str().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let amazon_args =
        env.parse(&["--storage", "amazon", "--storage-amazon-bucket", "b", "--storage-amazon-region", "r"]).unwrap();
    let azure_args = env.parse(&["--storage", "microsoft", "--storage-microsoft-container", "c"]).unwrap();
    let check = |args: &ServeArgs, vars: &[(&str, &str)]| with_env(args, vars).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(check(&amazon_args, &[("AWS_SECRET_ACCESS_KEY_FILE", secret)]), Ok(()));
    let e = check(&amazon_args, &[("AWS_SECRET_ACCESS_KEY_FILE", secret), ("AWS_SECRET_ACCESS_KEY", "x")]).unwrap_err();
    assert!(e.contains("AWS_SECRET_ACCESS_KEY and AWS_SECRET_ACCESS_KEY_FILE") && e.contains("only one"), "{e}");
    let e = check(&amazon_args, &[("AWS_ACCESS_KEY_ID_FILE", missing)]).unwrap_err();
    assert!(e.contains("AWS_ACCESS_KEY_ID_FILE") && e.contains(missing), "{e}");
    let e = check(&azure_args, &[("AZURE_STORAGE_ACCESS_KEY_FILE", missing)]).unwrap_err();
    assert!(e.contains("AZURE_STORAGE_ACCESS_KEY_FILE") && e.contains(missing), "{e}");
    let e = check(&azure_args, &[("AZURE_STORAGE_ACCOUNT_FILE", secret), ("AZURE_STORAGE_ACCOUNT", "a")]).unwrap_err();
    assert!(e.contains("AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_ACCOUNT_FILE"), "{e}");
    // Another backend's secrets do not matter.
    assert_eq!(check(&env.parse(&[]).unwrap(), &[("AWS_ACCESS_KEY_ID_FILE", missing)]), Ok(()));
    assert_eq!(check(&azure_args, &[("AWS_ACCESS_KEY_ID_FILE", missing)]), Ok(()));
}
