//! Certificates for TLS tests, made with the `openssl` command (`CHARTROOM_OPENSSL`, else
//! `openssl` on `PATH`; installed by `scripts/install-test-tools.sh`): a CA, server
//! certificates for `127.0.0.1`/`localhost` signed by it, and client certificates for mTLS.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// `$CHARTROOM_OPENSSL`, else `openssl` from `PATH`. A missing tool fails the test.
pub fn openssl_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CHARTROOM_OPENSSL").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("openssl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("openssl is required by the TLS tests: run scripts/install-test-tools.sh"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(openssl_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and the certificates it signs, in a temporary folder.
pub struct Pki {
    dir: TempDir,
    /// The name of the CA (`<name>-ca.pem`, `<name>-ca.key`).
    name: String,
}

/// A certificate and its key, as files and as PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Issued {
    pub fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(&self.cert).expect("read cert")
    }
    /// The certificate and key in one PEM (reqwest's `Identity::from_pem`).
    pub fn identity_pem(&self) -> Vec<u8> {
        let mut pem = std::fs::read(&self.key).expect("read key");
        pem.extend(self.cert_pem());
        pem
    }
}

impl Pki {
    /// A new CA named `name` (its subject is `CN=<name> test CA`).
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::Builder::new().prefix("chartroom-pki-").tempdir().expect("tempdir");
        let pki = Pki { dir, name: name.to_owned() };
        let (key, cert) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
        let subject = format!("/CN={name} test CA");
        openssl(pki.dir(), &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
        openssl(
            pki.dir(),
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &key,
                "-out",
                &cert,
                "-days",
                "2",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate (PEM file).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir().join(format!("{}-ca.pem", self.name))
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_cert()).expect("read CA")
    }

    fn issue(&self, file: &str, subject: &str, extensions: &str) -> Issued {
        let dir = self.dir();
        let (key, csr, cert, ext) =
            (format!("{file}.key"), format!("{file}.csr"), format!("{file}.pem"), format!("{file}.ext"));
        std::fs::write(dir.join(&ext), extensions).expect("write extensions");
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &format!("{file}.sec1")]);
        // PKCS#8, the form cert-manager and most tools write.
        openssl(dir, &["pkcs8", "-topk8", "-nocrypt", "-in", &format!("{file}.sec1"), "-out", &key]);
        openssl(dir, &["req", "-new", "-key", &key, "-out", &csr, "-subj", subject]);
        let (ca_cert, ca_key) = (format!("{}-ca.pem", self.name), format!("{}-ca.key", self.name));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        Issued { cert: dir.join(cert), key: dir.join(key) }
    }

    /// A server certificate for `127.0.0.1` and `localhost`, subject `CN=<cn>`, files `<file>.pem` / `.key`.
    pub fn server(&self, file: &str, cn: &str) -> Issued {
        self.issue(
            file,
            &format!("/CN={cn}"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
    }

    /// A client certificate, subject `CN=<cn>`.
    pub fn client(&self, file: &str, cn: &str) -> Issued {
        self.issue(
            file,
            &format!("/CN={cn}"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
    }
}
