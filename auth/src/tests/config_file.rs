//! The auth config file: the issue's example loads; every mistake is refused with the file,
//! the line and the rule.

use super::*;
use crate::{AccessFile, ConfigError};

fn load_error(content: &str) -> ConfigError {
    let dir = Dir::new();
    let path = dir.write("auth.yaml", content);
    match AccessFile::load(&path) {
        Ok(file) => panic!("should be refused, loaded {file:?}"),
        Err(e) => e,
    }
}

/// Asserts the error points at `line` and its text contains every `parts`.
fn assert_refused(content: &str, line: u64, parts: &[&str]) {
    let error = load_error(content);
    let text = error.to_string();
    assert_eq!(error.line(), Some(line), "{text}");
    assert!(text.contains(&format!("auth.yaml:{line}: ")), "{text}");
    for part in parts {
        assert!(text.contains(part), "{text:?} should contain {part:?}");
    }
}

#[test]
fn the_example_of_the_issue_loads() {
    let dir = Dir::new();
    let alice = bcrypt_hash("alice-pw").replacen("$2b$", "$2y$", 1);
    let bob = argon2id_hash("bob-pw");
    dir.write("htpasswd", &format!("carol:{}\n", bcrypt_hash("carol-pw")));
    let config = dir.write(
        "auth.yaml",
        &format!(
            "users:                     # bcrypt or argon2id\n  alice: \"{alice}\"\n  bob: '{bob}'\n\
             htpasswd: htpasswd\n\
             tokens:\n  ci-team-a: \"sha256:{}\"\n\
             grants:\n  - to: [alice, ci-team-a]\n    tenants: [\"team-a\", \"platform/*\"]\n    actions: [pull, push, delete]\n\
             \x20 - to: [anonymous]\n    tenants: [\"\"]\n    actions: [pull]\n\
             \x20 - to: [authenticated]\n    tenants: [\"*\"]\n    actions: [pull]\n",
            sha256_hex("token-a")
        ),
    );
    let file = AccessFile::load(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.counts(), (3, 1, 3));
    assert_eq!(file.sources(), &[config.clone(), dir.path("htpasswd")]);
    let auth = auth_with_file(&config);
    for (user, password) in [("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw"), ("ci-team-a", "token-a")]
    {
        assert_eq!(authenticate(&auth, &basic(user, password)).name(), user);
    }
}

#[test]
fn an_empty_file_allows_nothing() {
    let dir = Dir::new();
    let auth = auth_with_file(&dir.write("auth.yaml", ""));
    let decision = auth.authorizer().allowed(&crate::Identity::anonymous(), "", crate::Action::Pull);
    assert_eq!(decision, crate::Decision::Unauthenticated);
}

#[test]
fn malformed_yaml_names_the_line() {
    assert_refused("users:\n  alice: \"$2y$04$x\"\n  bob: [\n", 3, &["expected"]);
    assert_refused("grants:\n  - to: [a\n    tenants: x\n", 3, &[]);
    assert_refused("users: 5\n", 1, &["mapping"]);
    assert_refused("grants:\n  - to: alice\n", 2, &["sequence"]);
    assert_refused("users:\n  alice: x\n  alice: y\n", 3, &["duplicate", "alice"]);
    let duplicate = load_error("users:\n  alice: x\n  alice: y\n").to_string();
    assert!(!duplicate.contains("DuplicateKeyPolicy"), "{duplicate}");
}

#[test]
fn unknown_keys_are_refused() {
    assert_refused("users: {}\nuser:\n  a: b\n", 2, &["unknown field `user`", "users, htpasswd, tokens, grants"]);
    assert_refused(
        "grants:\n  - to: [anonymous]\n    tenants: [x]\n    actions: [pull]\n    tenant: [y]\n",
        5,
        &["unknown field `tenant`"],
    );
}

#[test]
fn refused_hashes_name_the_entry_and_the_reason() {
    assert_refused(
        "users:\n  alice: \"$2y$04$abcdefghijklmnopqrstuu5Ek4uLOI8y2a.7kQYiXazcEVd3uT2aK\"\n  bob: \"$apr1$abc$def\"\n",
        3,
        &["users: the hash of `bob`", "MD5 ($apr1$)", "too weak"],
    );
    assert_refused("users:\n  eve: \"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\"\n", 2, &["`eve`", "SHA-1"]);
    let plain = load_error("users:\n  mallory: hunter2\n").to_string();
    assert!(plain.contains("`mallory`") && plain.contains("plain-text"), "{plain}");
    assert!(!plain.contains("hunter2"), "the value is never repeated: {plain}");
}

#[test]
fn tokens_must_be_sha256_digests() {
    let plain = load_error("tokens:\n  ci: my-secret-token\n").to_string();
    assert!(plain.contains("auth.yaml:2: tokens: the value of `ci`") && plain.contains("sha256:"), "{plain}");
    assert!(!plain.contains("my-secret-token"), "{plain}");
    assert_refused("tokens:\n  ci: \"sha256:abcd\"\n", 2, &["64 hex digits"]);
    assert_refused(&format!("tokens:\n  ci: \"sha1:{}\"\n", sha256_hex("x")), 2, &["`ci`"]);
    // Upper-case hex is fine.
    let dir = Dir::new();
    let config = dir.write("auth.yaml", &format!("tokens:\n  ci: \"sha256:{}\"\n", sha256_hex("t").to_uppercase()));
    assert!(AccessFile::load(&config).is_ok());
}

#[test]
fn names_are_checked() {
    let hash = bcrypt_hash("x");
    assert_refused(&format!("users:\n  anonymous: \"{hash}\"\n"), 2, &["reserved"]);
    assert_refused(&format!("tokens:\n  authenticated: \"sha256:{}\"\n", sha256_hex("t")), 2, &["reserved"]);
    assert_refused(&format!("users:\n  \"a:b\": \"{hash}\"\n"), 2, &["':'"]);
    assert_refused(&format!("users:\n  \"a b\": \"{hash}\"\n"), 2, &["visible ASCII"]);
    assert_refused(
        &format!("users:\n  ci: \"{hash}\"\ntokens:\n  ci: \"sha256:{}\"\n", sha256_hex("t")),
        4,
        &["`ci` is also a user name"],
    );
}

#[test]
fn grants_are_checked() {
    let users = format!("users:\n  alice: \"{}\"\n", bcrypt_hash("x"));
    let grant = |to: &str, tenants: &str, actions: &str| {
        format!("{users}grants:\n  - to: {to}\n    tenants: {tenants}\n    actions: {actions}\n")
    };
    assert_refused(&grant("[alice, bob]", "[a]", "[pull]"), 4, &["`bob`", "not a user or token"]);
    assert_refused(&grant("[alice]", "[a, \"a/../b\"]", "[pull]"), 5, &["tenant `a/../b`", "'.'"]);
    assert_refused(&grant("[alice]", "[\"a//b\"]", "[pull]"), 5, &["empty segments"]);
    assert_refused(&grant("[alice]", "[\".chartroom\"]", "[pull]"), 5, &["reserved"]);
    assert_refused(&grant("[alice]", "[\"a/*/b\"]", "[pull]"), 5, &["A-Z a-z 0-9"]);
    assert_refused(&grant("[alice]", "[a]", "[pull, admin]"), 6, &["unknown action `admin`", "pull, push, delete"]);
    assert_refused(&grant("[]", "[a]", "[pull]"), 4, &["`to` is empty"]);
    assert_refused(&grant("[alice]", "[]", "[pull]"), 5, &["`tenants` is empty"]);
    assert_refused(&grant("[alice]", "[a]", "[]"), 6, &["`actions` is empty"]);
}

#[test]
fn htpasswd_problems_name_the_htpasswd_line() {
    let dir = Dir::new();
    let hash = bcrypt_hash("x");
    let config = dir.write("auth.yaml", &format!("users:\n  alice: \"{hash}\"\nhtpasswd: users.htpasswd\n"));
    let cases = [
        (format!("bob:{hash}\nalice:{hash}\n"), 2, "also defined under `users`"),
        (format!("bob:{hash}\nbob:{hash}\n"), 2, "appears twice"),
        ("\n\nnot a line\n".to_owned(), 3, "expected `user:hash`"),
        (format!("b\u{7}b:{hash}\n"), 1, "visible ASCII"),
    ];
    for (content, line, expected) in cases {
        let file = dir.write("users.htpasswd", &content);
        let error = AccessFile::load(&config).expect_err("refused").to_string();
        assert!(error.starts_with(&format!("{}:{line}: ", file.display())), "{error}");
        assert!(error.contains(expected), "{error}");
    }
    std::fs::remove_file(dir.path("users.htpasswd")).expect("remove");
    let missing = AccessFile::load(&config).expect_err("missing htpasswd").to_string();
    assert!(missing.starts_with("cannot read ") && missing.contains("users.htpasswd"), "{missing}");
}

#[test]
fn an_absolute_htpasswd_path_is_used_as_is() {
    let dir = Dir::new();
    let other = Dir::new();
    let file = other.write("pw", &format!("zed:{}\n", bcrypt_hash("z")));
    let config = dir.write("auth.yaml", &format!("htpasswd: \"{}\"\n", file.display()));
    let auth = auth_with_file(&config);
    assert_eq!(authenticate(&auth, &basic("zed", "z")).name(), "zed");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = Dir::new();
    let error = AccessFile::load(&dir.path("nope.yaml")).expect_err("missing").to_string();
    assert!(error.starts_with("cannot read ") && error.contains("nope.yaml"), "{error}");
}

#[test]
fn long_comment_blocks_load() {
    // 40 comment lines before a nested value used to exceed the YAML parser's comment buffer.
    let comments = "# who may do what\n".repeat(40);
    let dir = Dir::new();
    let config = dir.write(
        "auth.yaml",
        &format!(
            "tokens:\n{comments}  ci: \"sha256:{}\"\n{comments}grants:\n{comments}  - to: [ci]\n    tenants: [\"*\"]\n    actions: [pull]\n{comments}",
            sha256_hex("t")
        ),
    );
    let file = AccessFile::load(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.counts(), (0, 1, 1));
}
