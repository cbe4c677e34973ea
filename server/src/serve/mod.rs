//! The serving loop: Chartroom's own accept loop over hyper (instead of `axum::serve`), so that
//! every connection has limits.
//!
//! * **Protocols**: HTTP/1.1 on a plain port; HTTP/2 only over TLS (ALPN `h2`), or on the plain
//!   port with `--http2-cleartext` (h2c with prior knowledge).
//! * **TLS** (`tls.rs`): rustls, reloaded when the files change, mTLS with `--tls-ca-cert`.
//! * **Timeouts** (`activity.rs`, `connection.rs`): a request head must arrive within
//!   `--read-header-timeout` of its first byte; a connection without a request is closed after
//!   `--idle-timeout`; one with a request in flight on which no byte moves for the read plus the
//!   write timeout is closed. Bodies: the upload handler reads within `--read-timeout`; handlers
//!   answer within `--write-timeout`.
//! * **Sizes**: at most `--max-header-count` header fields and `--max-header-size` bytes of head
//!   (431 above).
//! * **Connections**: at most `--max-connections` at once (lowered to fit the open-file limit);
//!   further clients wait in the kernel's listen queue until one closes, so a burst is served a
//!   little later instead of being refused.
//! * **Shutdown**: the listener closes, connections that owe nothing close at once (idle, or a
//!   head still arriving), requests in flight finish within `--shutdown-timeout`, then whatever
//!   is left is closed.
//!
//! The application is read from an [`AppSlot`] for each request, so the port can answer (health
//! and readiness) while the index is still being built, and the full application takes over
//! when it is ready.

mod activity;
mod connection;
mod rlimit;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub use rlimit::raise_open_files_limit;
pub use tls::{Certificates, TlsError, TlsFiles};

use crate::config::ConnectionSettings;
use connection::{Builders, Conn};

/// The client's address (the TCP peer), in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The application the connections serve; replaced as a whole (start-up, then ready).
#[derive(Clone)]
pub struct AppSlot(Arc<ArcSwap<Router>>);

impl AppSlot {
    pub fn new(app: Router) -> Self {
        AppSlot(Arc::new(ArcSwap::from_pointee(app)))
    }

    /// From now on, new requests go to `app`.
    pub fn set(&self, app: Router) {
        self.0.store(Arc::new(app));
    }

    fn current(&self) -> Router {
        Router::clone(&self.0.load())
    }
}

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Serving,
    /// Shutdown began: no new requests on idle connections, requests in flight finish.
    Draining,
    /// The grace period is over: every connection closes.
    Closing,
}

/// Connections kept free of the open-file limit for storage requests, state files and logs.
const RESERVED_FILES: u64 = 256;

/// A listening server: the socket, its TLS configuration and connection limits.
pub struct Server {
    listener: TcpListener,
    tls: Option<Certificates>,
    settings: ConnectionSettings,
    app: AppSlot,
}

impl Server {
    pub fn new(listener: TcpListener, settings: ConnectionSettings, app: Router) -> Server {
        Server { listener, tls: None, settings, app: AppSlot::new(app) }
    }

    /// Serve HTTPS with these certificates.
    pub fn with_tls(mut self, certificates: Certificates) -> Server {
        self.tls = Some(certificates);
        self
    }

    /// The slot to put the application in when it changes.
    pub fn app(&self) -> AppSlot {
        self.app.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `shutdown` resolves, then drains them (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let Server { listener, tls, mut settings, app } = self;
        settings.max_connections = fit_to_open_files(settings.max_connections);
        let max = settings.max_connections;
        let settings = Arc::new(settings);
        let builders = Builders::new(&settings);
        let permits = Arc::new(Semaphore::new(max));
        let (phase_tx, phase_rx) = watch::channel(Phase::Serving);
        let mut waiting_logged = false;
        tokio::pin!(shutdown);
        loop {
            let permit = match Arc::clone(&permits).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    if !waiting_logged {
                        tracing::warn!(max_connections = max, "connection limit reached: new clients wait");
                        waiting_logged = true;
                    }
                    tokio::select! {
                        permit = Arc::clone(&permits).acquire_owned() => match permit {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                        _ = &mut shutdown => break,
                    }
                }
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut shutdown => break,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if permits.available_permits() > max / 2 {
                waiting_logged = false;
            }
            metrics::counter!("chartroom_http_connections_total").increment(1);
            tokio::spawn(connection::serve(Conn {
                tcp,
                peer,
                tls: tls.clone(),
                app: app.clone(),
                settings: Arc::clone(&settings),
                builders: builders.clone(),
                phase: phase_rx.clone(),
                permit,
            }));
        }
        drop(listener);
        let _ = phase_tx.send(Phase::Draining);
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        let in_flight = max - permits.available_permits();
        tracing::info!(connections = in_flight, grace = ?settings.shutdown_timeout, "draining connections");
        if tokio::time::timeout(settings.shutdown_timeout, permits.acquire_many(all)).await.is_err() {
            tracing::warn!(
                connections = max - permits.available_permits(),
                "grace period over: closing the connections still open"
            );
            let _ = phase_tx.send(Phase::Closing);
            let _ = permits.acquire_many(all).await;
        }
        Ok(())
    }
}

/// `max` connections, or fewer if the open-file limit cannot hold them beside the files the
/// server itself needs.
fn fit_to_open_files(max: usize) -> usize {
    match rlimit::open_files_limit() {
        Some(limit) if (max as u64).saturating_add(RESERVED_FILES) > limit => {
            let fitted = usize::try_from(limit.saturating_sub(RESERVED_FILES).max(16)).unwrap_or(max).min(max);
            tracing::warn!(
                max_connections = max,
                open_files_limit = limit,
                fitted,
                "the open-file limit cannot hold --max-connections: fewer connections are accepted"
            );
            fitted
        }
        _ => max,
    }
}
