//! What a connection is doing, watched from outside hyper: bytes moving in either direction, the
//! requests in flight, when the connection last became idle and when the next request's first
//! byte arrived. [`ActivityIo`] records the I/O, [`InFlight`] the requests (it lives in the
//! response body, so a request counts until its response has been sent or abandoned), and
//! [`Activity::verdict`] decides what the watchdog of `connection.rs` does.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::ConnectionSettings;

/// "No instant" in the millisecond fields.
const NEVER: u64 = u64::MAX;

/// One connection's activity; times are milliseconds since the connection was accepted.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    last_io: AtomicU64,
    /// When the first byte of the next request arrived (no request in flight then), or [`NEVER`].
    head_since: AtomicU64,
    /// When the last request in flight finished (or the connection was accepted).
    idle_since: AtomicU64,
    in_flight: AtomicUsize,
    /// HTTP/2 multiplexes requests and pings on one connection: bytes without a request in flight
    /// are not a request head there.
    http2: AtomicBool,
}

/// What the watchdog should do with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Idle longer than the idle timeout: nothing is owed, close.
    Idle,
    /// A request head that did not arrive whole in time (a slow or stalled client).
    HeaderTimeout,
    /// A request in flight, and no byte moved in either direction for the stall timeout.
    Stalled,
}

impl Verdict {
    /// The label of `chartroom_http_connections_closed_total{reason}`.
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Keep => "kept",
            Verdict::Idle => "idle",
            Verdict::HeaderTimeout => "header_timeout",
            Verdict::Stalled => "stalled",
        }
    }
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(NEVER),
            idle_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            http2: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    pub fn set_http2(&self) {
        self.http2.store(true, Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn read_some(&self) {
        self.read_some_at(self.now());
    }

    fn read_some_at(&self, now: u64) {
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight() == 0 {
            let _ = self.head_since.compare_exchange(NEVER, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote_some(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    fn finished_at(&self, now: u64) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since.store(now, Ordering::Relaxed);
        }
    }

    /// A request reached the application: it is in flight until the returned guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NEVER, Ordering::Relaxed);
        InFlight { activity: Arc::clone(self) }
    }

    pub fn verdict(&self, settings: &ConnectionSettings) -> Verdict {
        self.verdict_at(self.now(), settings)
    }

    fn verdict_at(&self, now: u64, settings: &ConnectionSettings) -> Verdict {
        let older_than =
            |since: u64, limit: Duration| since != NEVER && Duration::from_millis(now.saturating_sub(since)) > limit;
        if self.in_flight() > 0 {
            return match older_than(self.last_io.load(Ordering::Relaxed), settings.stall_timeout) {
                true => Verdict::Stalled,
                false => Verdict::Keep,
            };
        }
        let head_since = self.head_since.load(Ordering::Relaxed);
        if head_since != NEVER && !self.http2.load(Ordering::Relaxed) {
            return match older_than(head_since, settings.header_timeout) {
                true => Verdict::HeaderTimeout,
                false => Verdict::Keep,
            };
        }
        match older_than(self.idle_since.load(Ordering::Relaxed), settings.idle_timeout) {
            true => Verdict::Idle,
            false => Verdict::Keep,
        }
    }

    /// Whether a request head has begun to arrive (the client is owed nothing yet either way).
    pub fn owes_nothing(&self) -> bool {
        self.in_flight() == 0
    }
}

/// A request in flight; dropped with its response body.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.finished_at(self.activity.now());
    }
}

/// A response body that keeps its request in flight until it is sent or dropped.
pub struct TrackedBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl TrackedBody {
    pub fn new(inner: axum::body::Body, in_flight: InFlight) -> Self {
        Self { inner, _in_flight: in_flight }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A transport that reports its reads and writes to an [`Activity`].
pub struct ActivityIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> ActivityIo<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ActivityIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ActivityIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote_some();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote_some();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConnectionSettings {
        ConnectionSettings {
            header_timeout: Duration::from_millis(30),
            idle_timeout: Duration::from_millis(60),
            stall_timeout: Duration::from_millis(90),
            shutdown_timeout: Duration::from_secs(1),
            max_connections: 1,
            max_header_count: 100,
            max_header_size: 65536,
            http2_cleartext: false,
        }
    }

    #[test]
    fn idle_partial_head_and_stalled_request() {
        let s = settings();
        let a = Activity::new();
        assert_eq!(a.verdict_at(0, &s), Verdict::Keep);
        assert_eq!(a.verdict_at(60, &s), Verdict::Keep);
        assert_eq!(a.verdict_at(61, &s), Verdict::Idle, "no request for longer than the idle timeout");

        let a = Activity::new();
        a.read_some_at(10);
        assert_eq!(a.verdict_at(40, &s), Verdict::Keep);
        assert_eq!(a.verdict_at(41, &s), Verdict::HeaderTimeout, "a head that began and did not end");
        a.read_some_at(41);
        assert_eq!(a.verdict_at(41, &s), Verdict::HeaderTimeout, "more bytes do not restart the head's clock");

        let a = Activity::new();
        a.read_some_at(5);
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        a.head_since.store(NEVER, Ordering::Relaxed);
        assert_eq!(a.verdict_at(95, &s), Verdict::Keep, "a request in flight is neither idle nor a slow head");
        assert_eq!(a.verdict_at(96, &s), Verdict::Stalled, "nothing moved for the stall timeout");
        a.finished_at(100);
        assert_eq!(a.in_flight(), 0);
        assert_eq!(a.verdict_at(160, &s), Verdict::Keep, "idle again from the end of the request");
        assert_eq!(a.verdict_at(161, &s), Verdict::Idle);

        let a = Activity::new();
        a.set_http2();
        a.read_some_at(1);
        assert_eq!(a.verdict_at(50, &s), Verdict::Keep, "HTTP/2 pings are not a request head");
        assert_eq!(a.verdict_at(61, &s), Verdict::Idle);
    }
}
