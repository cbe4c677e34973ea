//! The text of each [`ConfigError`] kind, as an operator reads it (snapshots in `snapshots/`).

use super::*;

/// Resolves `args` with `env` and returns the error text, the temporary folder written `<dir>`.
fn message(dir: &tempfile::TempDir, args: ArgValues, env: &[(&str, &str)]) -> String {
    let e = resolve(&args, storage_env(env)).unwrap_err().to_string();
    e.replace(dir.path().to_str().unwrap(), "<dir>")
}

fn file_arg(dir: &tempfile::TempDir, text: &str) -> ArgValues {
    ArgValues::new().with(&CONFIG, write_file(dir, "chartroom.yaml", text))
}

#[test]
fn invalid_value() {
    let dir = tempfile::tempdir().unwrap();
    insta::assert_snapshot!("invalid_from_flag", message(&dir, ArgValues::new().with(&CONTEXT_PATH, "/a//b"), &[]));
    insta::assert_snapshot!("invalid_from_file", message(&dir, file_arg(&dir, "port: 70000\n"), &[]));
    insta::assert_snapshot!("invalid_backend", message(&dir, ArgValues::new().with(&STORAGE, "s3"), &[]));
}

#[test]
fn config_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = ArgValues::new().with(&CONFIG, dir.path().join("missing.yaml"));
    insta::assert_snapshot!("unreadable_file", message(&dir, missing, &[]));
    insta::assert_snapshot!("not_yaml", message(&dir, file_arg(&dir, "port: [1\n"), &[]));
    insta::assert_snapshot!("not_a_mapping", message(&dir, file_arg(&dir, "- port\n"), &[]));
    insta::assert_snapshot!("unknown_key_with_hint", message(&dir, file_arg(&dir, "allowoverwrit: true\n"), &[]));
    insta::assert_snapshot!("unknown_key_section", message(&dir, file_arg(&dir, "storage: local\n"), &[]));
    insta::assert_snapshot!("unknown_key_far_off", message(&dir, file_arg(&dir, "bogus: 1\n"), &[]));
    insta::assert_snapshot!("duplicate_key", message(&dir, file_arg(&dir, "port: 1\nPort: 2\n"), &[]));
}

#[test]
fn unsupported_chartmuseum_options() {
    let dir = tempfile::tempdir().unwrap();
    insta::assert_snapshot!("unsupported_key", message(&dir, file_arg(&dir, "cache:\n  store: redis\n"), &[]));
    insta::assert_snapshot!("unsupported_env", message(&dir, ArgValues::new(), &[("CACHE", "redis")]));
}

#[test]
fn missing_required() {
    let dir = tempfile::tempdir().unwrap();
    let google = ArgValues::new().with(&STORAGE, "google");
    insta::assert_snapshot!("missing_from_flags", message(&dir, google, &[]));
    insta::assert_snapshot!("missing_with_file", message(&dir, file_arg(&dir, "storage: {backend: amazon}\n"), &[]));
    let no_region = ArgValues::new().with(&STORAGE, "amazon").with(&STORAGE_AMAZON_BUCKET, "b");
    insta::assert_snapshot!("missing_region", message(&dir, no_region, &[]));
}

#[test]
fn bad_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let amazon =
        ArgValues::new().with(&STORAGE, "amazon").with(&STORAGE_AMAZON_BUCKET, "b").with(&STORAGE_AMAZON_REGION, "r");
    let missing = dir.path().join("secret");
    let env = [("AWS_SECRET_ACCESS_KEY_FILE", missing.to_str().unwrap())];
    insta::assert_snapshot!("secret_file_unreadable", message(&dir, amazon.clone(), &env));
    let secret = write_file(&dir, "secret", "SK\n");
    let both = [("AWS_SECRET_ACCESS_KEY_FILE", secret.to_str().unwrap()), ("AWS_SECRET_ACCESS_KEY", "x")];
    insta::assert_snapshot!("secret_set_twice", message(&dir, amazon, &both));
}
