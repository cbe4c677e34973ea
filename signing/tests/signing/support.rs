//! Real tools for the signing tests: GnuPG (`gpg`, Debian `gnupg`) in a throw-away home, and
//! Helm 3.17 / 4.1 from the test toolkit (`chartroom_testkit::Helm`). A missing tool fails the
//! test, never skips it.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chartroom_chart::archive::{Limits, extract_files};
pub use chartroom_testkit::{Helm, HelmVersion};
use tempfile::TempDir;

fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run; panic with the full output unless it exits 0.
fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{}", describe(&cmd, &out));
    out
}

/// A GnuPG home of its own (`--homedir`), removed with its agent when dropped.
pub struct GnuPg {
    home: TempDir,
    bin: PathBuf,
}

/// How `gen_key` makes a key.
pub struct KeySpec<'a> {
    pub user_id: &'a str,
    /// `rsa3072`, `ed25519`, `nistp256`, ...
    pub algo: &'a str,
    /// `sign,cert`, `cert`, ...
    pub usage: &'a str,
    /// `0` (never), `1y`, ...
    pub expire: &'a str,
    pub passphrase: &'a str,
    /// Make the key as if the clock read this (seconds since the epoch).
    pub at: Option<i64>,
}

impl<'a> KeySpec<'a> {
    pub fn new(user_id: &'a str, algo: &'a str) -> KeySpec<'a> {
        KeySpec { user_id, algo, usage: "sign,cert", expire: "0", passphrase: "", at: None }
    }
}

impl GnuPg {
    /// `$CHARTROOM_GPG`, else `gpg` on the PATH (Debian `gnupg`, installed by
    /// `scripts/install-test-tools.sh`).
    pub fn new() -> GnuPg {
        let bin = match std::env::var_os("CHARTROOM_GPG") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from("gpg"),
        };
        let probe = Command::new(&bin).arg("--version").output();
        assert!(
            probe.as_ref().is_ok_and(|o| o.status.success()),
            "GnuPG ({}) is required by the signing tests: install the Debian package gnupg \
             (scripts/install-test-tools.sh does) or set CHARTROOM_GPG ({probe:?})",
            bin.display()
        );
        // Short path: the agent's socket lives in the home and socket paths are limited.
        let home = tempfile::Builder::new().prefix("crgpg").tempdir_in("/tmp").expect("gnupg home");
        GnuPg { home, bin }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--homedir").arg(self.home.path()).args(["--batch", "--no-tty", "--quiet"]).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_ok(self.command(args))
    }

    /// Make a key; returns its fingerprint.
    pub fn gen_key(&self, spec: &KeySpec<'_>) -> String {
        let mut args: Vec<String> = Vec::new();
        if let Some(at) = spec.at {
            args.push(format!("--faked-system-time={at}"));
        }
        args.extend(
            ["--pinentry-mode", "loopback", "--passphrase", spec.passphrase, "--quick-gen-key"].map(String::from),
        );
        args.extend([spec.user_id, spec.algo, spec.usage, spec.expire].map(String::from));
        run_ok(self.command(&args));
        self.fingerprint(spec.user_id)
    }

    /// Add a subkey to the key `fingerprint`; returns the subkey's fingerprint.
    pub fn add_subkey(&self, fingerprint: &str, algo: &str, usage: &str, passphrase: &str) -> String {
        let before = self.subkey_fingerprints(fingerprint);
        self.run(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--quick-add-key",
            fingerprint,
            algo,
            usage,
            "0",
        ]);
        let after = self.subkey_fingerprints(fingerprint);
        after.into_iter().find(|f| !before.contains(f)).expect("new subkey")
    }

    /// Primary key fingerprint of the one key matching `who`.
    pub fn fingerprint(&self, who: &str) -> String {
        let out = self.run(&["--with-colons", "--list-keys", who]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let fprs: Vec<&str> =
            text.lines().filter(|l| l.starts_with("fpr:")).map(|l| l.split(':').nth(9).unwrap_or("")).collect();
        fprs.first().map(|f| (*f).to_owned()).unwrap_or_else(|| panic!("no key for {who}: {text}"))
    }

    fn subkey_fingerprints(&self, fingerprint: &str) -> Vec<String> {
        let out = self.run(&["--with-colons", "--with-subkey-fingerprints", "--list-keys", fingerprint]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut subkeys = Vec::new();
        let mut in_subkey = false;
        for line in text.lines() {
            if line.starts_with("sub:") {
                in_subkey = true;
            } else if line.starts_with("fpr:") && in_subkey {
                subkeys.push(line.split(':').nth(9).unwrap_or("").to_owned());
                in_subkey = false;
            } else if line.starts_with("pub:") {
                in_subkey = false;
            }
        }
        subkeys
    }

    /// `gpg --export <who...>`: a binary public keyring.
    pub fn export(&self, who: &[&str]) -> Vec<u8> {
        let mut args = vec!["--export"];
        args.extend_from_slice(who);
        self.run(&args).stdout
    }

    /// `gpg --armor --export <who...>`.
    pub fn export_armored(&self, who: &[&str]) -> Vec<u8> {
        let mut args = vec!["--armor", "--export"];
        args.extend_from_slice(who);
        self.run(&args).stdout
    }

    /// `gpg --export-secret-keys <who>`: a binary secret keyring (protection kept).
    pub fn export_secret(&self, who: &str, passphrase: &str) -> Vec<u8> {
        self.run(&["--pinentry-mode", "loopback", "--passphrase", passphrase, "--export-secret-keys", who]).stdout
    }

    /// Revoke the key with the revocation certificate GnuPG wrote when it made the key.
    pub fn revoke(&self, fingerprint: &str) {
        let cert_path = self.home().join("openpgp-revocs.d").join(format!("{fingerprint}.rev"));
        let cert = fs::read_to_string(&cert_path).expect("revocation certificate");
        // GnuPG prefixes the armor line with ':' so that an accidental import does nothing.
        let armed = cert.replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----");
        let path = self.home().join("revoke.asc");
        fs::write(&path, armed).expect("write revocation");
        self.run(&["--import", path.to_str().expect("utf-8 path")]);
        let listing =
            String::from_utf8_lossy(&self.run(&["--with-colons", "--list-keys", fingerprint]).stdout).into_owned();
        assert!(listing.lines().any(|l| l.starts_with("pub:r:")), "key not revoked: {listing}");
    }

    /// Import `keys` into a GnuPG 1 style keyring file (`gnupg-ring:`), which stores trust
    /// packets between the key packets; returns the file's bytes.
    pub fn legacy_keyring(&self, keys: &[u8]) -> Vec<u8> {
        let input = self.home().join("legacy-input.gpg");
        fs::write(&input, keys).expect("write keys");
        let ring = self.home().join("legacy-pubring.gpg");
        let ring_arg = format!("gnupg-ring:{}", ring.display());
        self.run(&["--no-default-keyring", "--keyring", &ring_arg, "--import", input.to_str().expect("utf-8 path")]);
        let packets = self.run(&["--list-packets", ring.to_str().expect("utf-8 path")]);
        assert!(
            String::from_utf8_lossy(&packets.stdout).contains(":trust packet:"),
            "no trust packets in the legacy ring"
        );
        fs::read(&ring).expect("legacy keyring")
    }

    /// `gpg --verify` of a clear-signed file with this home's keys.
    pub fn verify(&self, prov: &Path) -> Output {
        let mut cmd = self.command(["--verify"]);
        cmd.arg(prov);
        cmd.output().expect("run gpg --verify")
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        // The agent started for key generation would otherwise outlive the test.
        let _ = Command::new("gpgconf").arg("--homedir").arg(self.home.path()).args(["--kill", "all"]).output();
    }
}

/// A chart made by `helm create` and packaged by `helm package` at `version`.
pub struct Chart {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Chart {
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// The archive's `Chart.yaml`: Helm writes `yaml.Marshal(metadata)` there, the same text
    /// `helm package --sign` signs.
    pub fn metadata(&self) -> String {
        let files = extract_files(&self.bytes, &Limits::default(), |p| p == "Chart.yaml").expect("read archive");
        String::from_utf8(files.into_iter().next().expect("Chart.yaml").data).expect("utf-8 Chart.yaml")
    }

    pub fn prov_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".prov");
        PathBuf::from(p)
    }
}

/// `helm create <name>` once per call, then `helm package --version <version> [extra]` into a
/// fresh folder.
pub fn make_chart(helm: &Helm, name: &str, version: &str, extra: &[&str]) -> Chart {
    let src = helm.work_dir(&format!("src-{name}-{version}"));
    let chart_dir = src.join(name);
    if !chart_dir.exists() {
        helm.run(&["create", chart_dir.to_str().expect("utf-8 path")]);
    }
    let out = helm.work_dir(&format!("out-{name}-{version}-{}", extra.len()));
    let mut args = vec!["package", chart_dir.to_str().expect("utf-8 path"), "--version", version, "-d"];
    args.push(out.to_str().expect("utf-8 path"));
    args.extend_from_slice(extra);
    helm.run(&args);
    let path = out.join(format!("{name}-{version}.tgz"));
    let bytes = fs::read(&path).expect("packaged chart");
    Chart { name: name.to_owned(), version: version.to_owned(), path, bytes }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
