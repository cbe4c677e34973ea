//! HTTPS: the server's certificate and key (and, for mTLS, the CAs client certificates must
//! chain to), loaded with rustls on the aws-lc-rs provider object_store and reqwest already use.
//!
//! [`TlsFiles::load`] fails with a message naming the file and the problem (unreadable, no
//! certificate, no key, a key that does not belong to the certificate, a bad CA): the start
//! stops there. [`Certificates`] holds the configuration in use and, with a reload interval,
//! re-reads the files when their contents change (cert-manager rotates a Secret by swapping a
//! symbolic link, so contents are compared, not mtimes). New handshakes use the new
//! configuration; open connections keep theirs. A file that fails to load keeps the old
//! configuration, and the reason is logged once per failing content.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::TlsSettings;

/// Why the TLS files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} is not a PEM certificate file: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error(
        "{} holds no PEM private key (PKCS#8 -----BEGIN PRIVATE KEY-----, PKCS#1 RSA or SEC1 EC): {reason}",
        path.display()
    )]
    NoKey { path: PathBuf, reason: String },
    #[error("the private key in {} does not belong to the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf, reason: String },
    #[error("the client CA file {} cannot be used: {reason}", path.display())]
    BadCa { path: PathBuf, reason: String },
}

/// The files of one TLS configuration.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The bytes of the files, compared to notice a change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

impl TlsFiles {
    pub fn from_settings(settings: &TlsSettings) -> Self {
        TlsFiles { cert: settings.cert.clone(), key: settings.key.clone(), client_ca: settings.client_ca.clone() }
    }

    fn contents(&self) -> Result<Contents, TlsError> {
        Ok(Contents {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(read).transpose()?,
        })
    }

    /// Reads and checks the files into a server configuration offering HTTP/2 and HTTP/1.1.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.build(&self.contents()?)
    }

    fn build(&self, contents: &Contents) -> Result<Arc<ServerConfig>, TlsError> {
        let chain = certificates(&self.cert, &contents.cert)?;
        let key = PrivateKeyDer::from_pem_slice(&contents.key)
            .map_err(|e| TlsError::NoKey { path: self.key.clone(), reason: e.to_string() })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder =
            ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions().map_err(
                |e| TlsError::Mismatch { cert: self.cert.clone(), key: self.key.clone(), reason: e.to_string() },
            )?;
        let builder = match (&self.client_ca, &contents.client_ca) {
            (Some(path), Some(pem)) => {
                let bad = |reason: String| TlsError::BadCa { path: path.clone(), reason };
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(path, pem)? {
                    roots.add(cert).map_err(|e| bad(e.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| TlsError::Mismatch {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason: e.to_string(),
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate { path: path.to_owned(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
    }
    Ok(chain)
}

/// The configuration new handshakes use, reloaded when the files change.
#[derive(Clone)]
pub struct Certificates {
    current: Arc<ArcSwap<ServerConfig>>,
}

impl Certificates {
    /// Loads the files once (an error stops the start) and, with an interval, watches them.
    pub fn start(files: TlsFiles, reload_interval: Option<Duration>) -> Result<Certificates, TlsError> {
        let contents = files.contents()?;
        let config = files.build(&contents)?;
        let certificates = Certificates { current: Arc::new(ArcSwap::new(config)) };
        if let Some(every) = reload_interval {
            let current = Arc::clone(&certificates.current);
            tokio::spawn(watch(files, contents, current, every));
        }
        Ok(certificates)
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }
}

async fn watch(files: TlsFiles, mut loaded: Contents, current: Arc<ArcSwap<ServerConfig>>, every: Duration) {
    let mut refused: Option<Contents> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let files = files.clone();
        let read = tokio::task::spawn_blocking(move || files.contents().map(|c| (files, c))).await;
        let (files_back, contents) = match read {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "TLS files unreadable: keeping the certificate in use");
                continue;
            }
            Err(_) => continue,
        };
        if contents == loaded || refused.as_ref() == Some(&contents) {
            continue;
        }
        match files_back.build(&contents) {
            Ok(config) => {
                current.store(config);
                loaded = contents;
                refused = None;
                metrics::counter!("chartroom_tls_reloads_total", "outcome" => "loaded").increment(1);
                tracing::info!(cert = %files_back.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                metrics::counter!("chartroom_tls_reloads_total", "outcome" => "refused").increment(1);
                tracing::warn!(error = %e, "TLS files changed but cannot be used: keeping the certificate in use");
                refused = Some(contents);
            }
        }
    }
}
