//! TLS options of a repository, as Helm has them: `--ca-file`, `--cert-file`, `--key-file`,
//! `--insecure-skip-tls-verify`, and the same fields of a `repositories.yaml` entry (`caFile`,
//! `certFile`, `keyFile`, `insecure_skip_tls_verify`).
//!
//! A CA file is trusted in addition to the system's roots (Helm's behaviour); a certificate and
//! key are presented to servers that ask for one (mTLS). Unreadable or malformed files are usage
//! errors naming the file.

use std::path::PathBuf;

use crate::error::ClientError;

/// How to verify a repository's server and what to present to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// PEM CA certificates to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_tls_verify: bool,
}

impl TlsOptions {
    /// Whether nothing is set (the default client serves).
    pub fn is_default(&self) -> bool {
        *self == TlsOptions::default()
    }

    /// These options, each unset one taken from `fallback`.
    pub fn or(&self, fallback: &TlsOptions) -> TlsOptions {
        TlsOptions {
            ca_file: self.ca_file.clone().or_else(|| fallback.ca_file.clone()),
            cert_file: self.cert_file.clone().or_else(|| fallback.cert_file.clone()),
            key_file: self.key_file.clone().or_else(|| fallback.key_file.clone()),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify || fallback.insecure_skip_tls_verify,
        }
    }

    /// Applies the options to a client builder.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, ClientError> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .map_err(|e| ClientError::usage(format!("cannot read the {what} {}: {e}", path.display())))
        };
        if let Some(ca) = &self.ca_file {
            let pem = read(ca, "CA file")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::usage(format!("{} is not a PEM CA file: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(ClientError::usage(format!("{} holds no PEM certificate", ca.display())));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(key, "key file")?;
                pem.push(b'\n');
                pem.extend(read(cert, "certificate file")?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    ClientError::usage(format!(
                        "{} and {} are not a PEM certificate and its key: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            (Some(_), None) => return Err(ClientError::usage("--cert-file needs --key-file")),
            (None, Some(_)) => return Err(ClientError::usage("--key-file needs --cert-file")),
        }
        if self.insecure_skip_tls_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }
}
