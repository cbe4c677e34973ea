//! Credentials for servers with authentication: password hashes (the `bcrypt` crate and the
//! real `htpasswd -B`), static-token digests, `Authorization` headers, and a JWT issuer whose
//! RSA key pair the `openssl` CLI makes in the test (ChartMuseum's tokens are RS256).
//!
//! `htpasswd` (Debian `apache2-utils`) and `openssl` come from `scripts/install-test-tools.sh`;
//! `CHARTROOM_HTPASSWD` / `CHARTROOM_OPENSSL` name other binaries. A missing one fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};
use tempfile::TempDir;

/// bcrypt cost of the tests' hashes: the lowest, so that tests stay fast; verification is the same.
pub const TEST_BCRYPT_COST: u32 = 4;

/// A bcrypt hash of `password` (`$2b$04$...`).
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, TEST_BCRYPT_COST).expect("bcrypt hash")
}

/// The `user:$2y$...` line the real `htpasswd -nbB` writes.
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let htpasswd = system_tool("htpasswd", "CHARTROOM_HTPASSWD");
    let out = run(Command::new(htpasswd).args(["-nbB", "-C", &TEST_BCRYPT_COST.to_string(), user, password]));
    out.trim().to_owned()
}

/// How the auth config stores a static token: `sha256:<hex of the token>`.
pub fn token_digest(token: &str) -> String {
    format!("sha256:{}", crate::data::sha256_hex(token.as_bytes()))
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// ChartMuseum's claims for `sub` with `actions` on each tenant (`repo` is the root's name):
/// `{"sub", "access": [{"type": "artifact-repository", "name", "actions"}], "exp"}`, valid for
/// an hour unless `exp` is overridden.
pub fn chartmuseum_claims(sub: &str, access: &[(&str, &[&str])]) -> Value {
    let access: Vec<Value> = access
        .iter()
        .map(|(name, actions)| json!({"type": "artifact-repository", "name": name, "actions": actions}))
        .collect();
    json!({"sub": sub, "access": access, "exp": now() + 3600, "iat": now()})
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A token issuer: an RSA key pair made by `openssl` in a temporary folder.
pub struct JwtIssuer {
    dir: TempDir,
    key: jsonwebtoken::EncodingKey,
}

impl JwtIssuer {
    /// A fresh 2048-bit RSA key pair.
    pub fn new() -> JwtIssuer {
        let openssl = system_tool("openssl", "CHARTROOM_OPENSSL");
        let dir = tempfile::Builder::new().prefix("chartroom-jwt-").tempdir().expect("tempdir");
        let private = dir.path().join("issuer.key");
        run(Command::new(&openssl)
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&private));
        run(Command::new(&openssl)
            .arg("pkey")
            .arg("-in")
            .arg(&private)
            .arg("-pubout")
            .arg("-out")
            .arg(dir.path().join("issuer.pub")));
        let pem = std::fs::read(&private).expect("read the private key");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("an RSA private key");
        JwtIssuer { dir, key }
    }

    /// The PEM public key, for `AUTH_CERT_PATH`.
    pub fn public_key_path(&self) -> PathBuf {
        self.dir.path().join("issuer.pub")
    }

    /// `claims` signed with RS256.
    pub fn sign(&self, claims: &Value) -> String {
        // jsonwebtoken picks its crypto backend once per process; the server's crate does the same.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), claims, &self.key)
            .expect("sign the token")
    }
}

impl Default for JwtIssuer {
    fn default() -> Self {
        Self::new()
    }
}

/// A system program: `$<var>` when set, else `name` on `PATH`. Missing is a failure, never a skip.
pub fn system_tool(name: &str, var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is needed by this test and is not on PATH ({var} unset); run scripts/install-test-tools.sh"
            )
        })
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_text(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}
