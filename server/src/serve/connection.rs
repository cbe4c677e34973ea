//! One connection: the TLS handshake (bounded by the header timeout), hyper's HTTP/1.1 or HTTP/2
//! connection over a transport that records activity, and a watchdog that closes it when it is
//! idle too long, sends a request head too slowly, stalls with a request in flight, or when the
//! server shuts down (at once when nothing is owed to the client, after the response otherwise,
//! and at the end of the grace period whatever is left).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tower::ServiceExt;

use super::activity::{Activity, ActivityIo, TrackedBody, Verdict};
use super::tls::Certificates;
use super::{AppSlot, ClientAddr, Phase};
use crate::config::ConnectionSettings;

/// Which protocols a connection may speak.
#[derive(Debug, Clone, Copy)]
pub enum Protocols {
    Http1,
    Http2,
    /// HTTP/1.1, or HTTP/2 with prior knowledge (h2c) when the client starts with its preface.
    Both,
}

/// How much a connection buffers for writing (and at most for reading), when the request head is
/// bounded on its own. hyper ties its write buffer to `max_buf_size`: bounded by
/// `--max-header-size` (64 KiB), a 3.3 MB index went out one 64 KiB page per `writev`, at most 16
/// per turn of its task, so over four or more scheduler turns shared with every other connection
/// (BENCHMARKS.md, "`GET /index.yaml` tail latency"). 512 KiB lets a `writev` carry eight pages
/// and a turn a whole large index.
const WRITE_BUFFER: usize = 512 * 1024;

/// A connection builder: hyper's own HTTP/1 builder where only HTTP/1 is spoken (it bounds the
/// request head by itself, `max_header_size`, so the buffer may be larger), else the auto builder
/// (HTTP/2, or either with h2c), whose HTTP/1 half can bound the head only through `max_buf_size`.
pub enum ConnBuilder {
    Http1(http1::Builder),
    Auto(auto::Builder<TokioExecutor>),
}

/// A connection builder with the limits of `settings`.
pub fn builder(settings: &ConnectionSettings, protocols: Protocols) -> ConnBuilder {
    if let Protocols::Http1 = protocols {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The watchdog times heads from their first byte (hyper's timer would start when the
            // connection starts waiting, i.e. it would also be the keep-alive timeout).
            .header_read_timeout(None)
            .max_headers(settings.max_header_count)
            // A longer head is answered 431.
            .max_header_size(settings.max_header_size)
            .max_buf_size(WRITE_BUFFER.max(settings.max_header_size));
        return ConnBuilder::Http1(builder);
    }
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_headers(settings.max_header_count)
        // The read buffer bounds the head: a longer head is answered 431.
        .max_buf_size(settings.max_header_size.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_size).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);
    ConnBuilder::Auto(match protocols {
        Protocols::Http2 => builder.http2_only(),
        Protocols::Http1 | Protocols::Both => builder,
    })
}

/// The builders a server needs, made once.
#[derive(Clone)]
pub struct Builders {
    pub plain: Arc<ConnBuilder>,
    pub http1: Arc<ConnBuilder>,
    pub http2: Arc<ConnBuilder>,
}

impl Builders {
    pub fn new(settings: &ConnectionSettings) -> Self {
        let plain = if settings.http2_cleartext { Protocols::Both } else { Protocols::Http1 };
        Builders {
            plain: Arc::new(builder(settings, plain)),
            http1: Arc::new(builder(settings, Protocols::Http1)),
            http2: Arc::new(builder(settings, Protocols::Http2)),
        }
    }
}

/// Everything a connection task needs.
pub struct Conn {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub tls: Option<Certificates>,
    pub app: AppSlot,
    pub settings: Arc<ConnectionSettings>,
    pub builders: Builders,
    pub phase: watch::Receiver<Phase>,
    /// The connection's slot under `--max-connections`, given back when the task ends.
    pub permit: OwnedSemaphorePermit,
}

/// How often the watchdog looks: often enough for the shortest timeout to be kept within a
/// quarter of it, at most once a second.
fn tick_every(settings: &ConnectionSettings) -> Duration {
    let shortest = settings.header_timeout.min(settings.idle_timeout).min(settings.stall_timeout);
    (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

pub async fn serve(conn: Conn) {
    let Conn { tcp, peer, tls, app, settings, builders, mut phase, permit } = conn;
    metrics::gauge!("chartroom_http_connections_open").increment(1.0);
    let _ = tcp.set_nodelay(true);
    let activity = Activity::new();
    let io = ActivityIo::new(tcp, Arc::clone(&activity));
    let reason = match tls {
        None => drive(io, &builders.plain, &activity, app, peer, &settings, &mut phase).await,
        Some(certificates) => {
            let handshake = tokio::select! {
                done = tokio::time::timeout(settings.header_timeout, certificates.acceptor().accept(io)) => Some(done),
                _ = phase.wait_for(|p| *p != Phase::Serving) => None,
            };
            match handshake {
                None => "shutdown",
                Some(Err(_)) => "header_timeout",
                Some(Ok(Err(e))) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    "tls_handshake_failed"
                }
                Some(Ok(Ok(stream))) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    if h2 {
                        // The preface and settings are no request head: only the idle rule applies.
                        activity.set_http2();
                    }
                    let builder = if h2 { &builders.http2 } else { &builders.http1 };
                    drive(stream, builder, &activity, app, peer, &settings, &mut phase).await
                }
            }
        }
    };
    metrics::gauge!("chartroom_http_connections_open").decrement(1.0);
    metrics::counter!("chartroom_http_connections_closed_total", "reason" => reason).increment(1);
    drop(permit);
}

/// Serves requests on `io` until the connection ends or the watchdog closes it; returns why.
async fn drive<I>(
    io: I,
    builder: &ConnBuilder,
    activity: &Arc<Activity>,
    app: AppSlot,
    peer: SocketAddr,
    settings: &ConnectionSettings,
    phase: &mut watch::Receiver<Phase>,
) -> &'static str
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if *phase.borrow() != Phase::Serving {
        return "shutdown";
    }
    let requests = Arc::clone(activity);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = app.current();
        let activity = Arc::clone(&requests);
        async move {
            if req.version() == hyper::Version::HTTP_2 {
                activity.set_http2();
            }
            let in_flight = activity.request_started();
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ClientAddr(peer));
            let response = match router.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
        }
    });
    let io = TokioIo::new(io);
    match builder {
        ConnBuilder::Http1(b) => {
            watch_connection(
                b.serve_connection(io, service),
                |c| c.graceful_shutdown(),
                activity,
                peer,
                settings,
                phase,
            )
            .await
        }
        ConnBuilder::Auto(b) => {
            watch_connection(
                b.serve_connection(io, service),
                |c| c.graceful_shutdown(),
                activity,
                peer,
                settings,
                phase,
            )
            .await
        }
    }
}

/// Drives a connection until it ends or the watchdog closes it (`graceful` starts a graceful
/// shutdown of it); returns why.
async fn watch_connection<C, E>(
    conn: C,
    graceful: impl Fn(std::pin::Pin<&mut C>),
    activity: &Arc<Activity>,
    peer: SocketAddr,
    settings: &ConnectionSettings,
    phase: &mut watch::Receiver<Phase>,
) -> &'static str
where
    C: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(tick_every(settings));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut draining = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return if draining { "shutdown" } else { "closed" };
            }
            _ = tick.tick() => {
                if draining && activity.owes_nothing() {
                    return "shutdown";
                }
                let verdict = activity.verdict(settings);
                if verdict != Verdict::Keep {
                    tracing::debug!(%peer, reason = verdict.reason(), "closing connection");
                    return verdict.reason();
                }
            }
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow() } else { Phase::Closing };
                match now {
                    Phase::Serving => {}
                    Phase::Draining if !activity.owes_nothing() => {
                        if !draining {
                            draining = true;
                            graceful(conn.as_mut());
                        }
                    }
                    Phase::Draining | Phase::Closing => return "shutdown",
                }
            }
        }
    }
}
