//! Accepted and refused password hashes, verification, and real `htpasswd -B` output.

use super::*;
use crate::password::StoredHash;
use std::process::Command;

#[test]
fn bcrypt_hashes_of_every_accepted_prefix_verify() {
    let hash = bcrypt_hash("s3cret");
    assert!(hash.starts_with("$2b$04$"), "{hash}");
    // The same hash under the other prefixes Apache and PHP write.
    for prefix in ["$2a$", "$2b$", "$2y$"] {
        let variant = format!("{prefix}{}", &hash[4..]);
        let stored = StoredHash::parse(&variant).unwrap_or_else(|e| panic!("{variant}: {e}"));
        assert!(stored.verify(b"s3cret"), "{prefix}");
        assert!(!stored.verify(b"s3cret "), "{prefix}");
        assert!(!stored.verify(b""), "{prefix}");
    }
}

#[test]
fn argon2id_verifies() {
    let hash = argon2id_hash("hunter42");
    assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
    let stored = StoredHash::parse(&hash).expect("argon2id accepted");
    assert!(stored.verify(b"hunter42"));
    assert!(!stored.verify(b"hunter43"));
}

#[test]
fn weak_and_unknown_hashes_are_refused_with_the_reason_and_without_the_value() {
    let cases = [
        ("$apr1$Vd9nYrX8$7jG3hQX4e5oQmTzYwqxyz.", "MD5 ($apr1$)"),
        ("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "MD5-crypt"),
        ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1"),
        ("{SSHA}aGVsbG8gd29ybGQhIQ==", "SHA-1"),
        ("$5$rounds=5000$salt$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "SHA-crypt"),
        ("$6$salt$abcdefghijklmnopqrstuvwxyz", "SHA-crypt"),
        ("$2x$04$abcdefghijklmnopqrstuuJ2o4cB3Vbz5wBq0q1XlQ0dZk8S3a8Ky", "$2x$"),
        ("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "only argon2id"),
        ("$y$j9T$salt$hash", "crypt(3)"),
        ("rl3ZrZ8fqQxGk", "DES crypt"),
        ("correct horse battery staple", "plain-text passwords are refused"),
        ("", "plain-text passwords are refused"),
    ];
    for (value, expected) in cases {
        let message = StoredHash::parse(value).err().unwrap_or_else(|| panic!("{value:?} should be refused"));
        assert!(message.contains(expected), "{value:?}: {message}");
        assert!(message.contains("htpasswd -nB"), "{value:?}: the message says what to use: {message}");
        if !value.is_empty() {
            assert!(!message.contains(value), "the message never repeats the value: {message}");
        }
    }
}

#[test]
fn malformed_strong_hashes_are_refused() {
    let good = bcrypt_hash("x");
    let short = &good[..good.len() - 1];
    assert!(StoredHash::parse(short).unwrap_err().contains("not a well-formed bcrypt hash"));
    let cost_99 = format!("$2b$99${}", &good[7..]);
    assert!(StoredHash::parse(&cost_99).unwrap_err().contains("cost 99"));
    assert!(StoredHash::parse("$argon2id$v=19$garbage").unwrap_err().contains("argon2id"));
    // A memory cost of 4 GiB per verification would let a few requests exhaust the machine.
    let greedy = argon2id_hash("x").replace("m=1024", "m=4194304");
    assert!(StoredHash::parse(&greedy).unwrap_err().contains("KiB of memory"));
}

#[test]
fn real_htpasswd_bcrypt_lines_are_accepted_and_verify() {
    let htpasswd = tool("htpasswd", "CHARTROOM_HTPASSWD");
    // -n: print, -b: password from the command line, -B: bcrypt, -C: cost (default 5).
    let line = run(Command::new(&htpasswd).args(["-nbB", "-C", "5", "carol", "p@ss word"]));
    let line = line.trim();
    let (user, hash) = line.split_once(':').expect("user:hash");
    assert_eq!(user, "carol");
    assert!(hash.starts_with("$2y$05$"), "htpasswd -B writes $2y$: {hash}");

    let dir = Dir::new();
    let other = run(Command::new(&htpasswd).args(["-nbB", "dave", "other"]));
    dir.write("htpasswd", &format!("# team users\n{line}\n\n{}", other.trim()));
    let config = dir.write(
        "auth.yaml",
        "htpasswd: htpasswd\ngrants:\n  - to: [carol, dave]\n    tenants: [\"*\"]\n    actions: [pull]\n",
    );
    let auth = auth_with_file(&config);
    assert_eq!(authenticate(&auth, &basic("carol", "p@ss word")).name(), "carol");
    assert_eq!(authenticate(&auth, &basic("dave", "other")).name(), "dave");
    let wrong = auth.authenticator().authenticate(Some(&basic("carol", "p@ss"))).unwrap_err();
    assert_eq!(wrong.reason, crate::Reason::BadPassword);
}

#[test]
fn real_htpasswd_weak_lines_are_refused_naming_the_line_and_user() {
    let htpasswd = tool("htpasswd", "CHARTROOM_HTPASSWD");
    let bcrypt_line = run(Command::new(&htpasswd).args(["-nbB", "ok", "pw"]));
    for (flag, expected) in [("-m", "MD5 ($apr1$)"), ("-s", "SHA-1"), ("-p", "plain-text")] {
        let weak = run(Command::new(&htpasswd).args(["-nb", flag, "weakling", "pw"]));
        let dir = Dir::new();
        let file = dir.write("htpasswd", &format!("{}\n{}\n", bcrypt_line.trim(), weak.trim()));
        let config = dir.write("auth.yaml", "htpasswd: htpasswd\n");
        let error = crate::AccessFile::load(&config).expect_err("weak hash refused").to_string();
        let location = format!("{}:2:", file.display());
        assert!(error.starts_with(&location), "{flag}: {error}");
        assert!(error.contains("user `weakling`") && error.contains(expected), "{flag}: {error}");
    }
}
