//! Unit tests of the crate as a whole: files written to a temporary folder, credentials made in
//! the test (the `bcrypt` and `argon2` crates, real `htpasswd -B`, keys from the `openssl` CLI).

mod basic;
mod config_file;
mod grants;
mod jwt;
mod passwords;
mod reload;
mod tokens;

use crate::{Auth, AuthSettings, BasicCredentials, Identity};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;

/// bcrypt cost used in tests: the lowest, so tests stay fast; verification works the same.
pub(crate) const TEST_COST: u32 = 4;

pub(crate) fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, TEST_COST).expect("bcrypt hash")
}

pub(crate) fn argon2id_hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    let params = argon2::Params::new(1024, 1, 1, None).expect("argon2 params");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon2.hash_password_with_salt(password.as_bytes(), b"chartroom-test-salt").expect("argon2 hash").to_string()
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A temporary folder with files.
pub(crate) struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub(crate) fn new() -> Dir {
        Dir { dir: tempfile::tempdir().expect("temporary folder") }
    }

    pub(crate) fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write test file");
        path
    }

    /// Replaces a file in one step (write aside, then rename), as deployments do, so that a
    /// watcher never reads half a file.
    pub(crate) fn replace(&self, name: &str, content: &str) -> PathBuf {
        let aside = self.dir.path().join(format!(".{name}.new"));
        std::fs::write(&aside, content).expect("write test file");
        let path = self.dir.path().join(name);
        std::fs::rename(&aside, &path).expect("rename test file");
        path
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub(crate) fn auth_with_file(path: &Path) -> Auth {
    Auth::new(AuthSettings { config_file: Some(path.to_owned()), ..AuthSettings::default() })
        .unwrap_or_else(|e| panic!("config should load: {e}"))
}

pub(crate) fn chartmuseum_user(user: &str, password: &str) -> AuthSettings {
    AuthSettings {
        chartmuseum_user: BasicCredentials::from_options(Some(user), Some(password)).expect("credentials"),
        ..AuthSettings::default()
    }
}

pub(crate) fn authenticate(auth: &Auth, header: &str) -> Identity {
    auth.authenticator().authenticate(Some(header)).unwrap_or_else(|e| panic!("{header:?} should authenticate: {e}"))
}

/// A tool the tests drive: `$<ENV>` or the name on `PATH`. Missing is a failure, never a skip.
pub(crate) fn tool(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| {
        panic!("`{name}` is needed by this test and is not on PATH ({env} unset); run scripts/install-test-tools.sh")
    })
}

/// Runs a tool and returns its standard output; a failure is a test failure.
pub(crate) fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}
