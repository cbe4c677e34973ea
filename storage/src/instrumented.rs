//! Every object-store request, observed: an [`ObjectStore`] decorator that reports each request's
//! kind, duration and outcome to a [`RequestObserver`].
//!
//! [`Storage`](crate::Storage) wraps every store it uses in [`Instrumented`] with a
//! [`RequestStats`] observer, which counts requests by kind (`/health`'s `storageRequests`, the
//! benchmarks) and keeps [`StorageHealth`] up to date. Because the decorator sits under every
//! call, a request that succeeds after an outage marks the store reachable again whatever that
//! request was (a poll's GET, a resync's LIST, an upload's PUT), and every failure is recorded.
//!
//! Other observers (storage metrics) implement [`RequestObserver`]; a store that injects failures
//! for tests is another decorator of the same shape, placed under this one.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The kind of an object-store request, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Get,
    Head,
    /// Writes, copies and renames.
    Put,
    Delete,
    /// One listing, whatever number of pages it takes.
    List,
}

/// How a request ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The store answered (for "not modified" too).
    Answered,
    /// The store answered that the object does not exist: an answer about the object.
    NotFound,
    /// The store refused a conditional request ("already exists", "changed concurrently"): an
    /// answer about the object.
    Conflict,
    /// The store did not answer usefully: unreachable, timed out, denied, server error.
    Failed(&'a object_store::Error),
}

impl<'a> Outcome<'a> {
    pub(crate) fn of<T>(result: &'a object_store::Result<T>) -> Self {
        match result {
            Ok(_) => Outcome::Answered,
            Err(object_store::Error::NotFound { .. }) => Outcome::NotFound,
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Outcome::Conflict
            }
            Err(e) if is_answer(e) => Outcome::Answered,
            // A folder where the object should be: the store answered, about that name.
            Err(e) if crate::io_kind(e) == Some(std::io::ErrorKind::IsADirectory) => Outcome::Conflict,
            Err(e) => Outcome::Failed(e),
        }
    }
}

/// Whether an error is the store's answer about the object rather than a failure of the store.
pub(crate) fn is_answer(err: &object_store::Error) -> bool {
    matches!(
        err,
        object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotModified { .. }
    )
}

/// Receives every request made through an [`Instrumented`] store.
pub trait RequestObserver: Send + Sync + fmt::Debug + 'static {
    /// A request ended; called exactly once per request. A listing ends when its first page
    /// arrives (or it fails before that).
    fn finished(&self, kind: RequestKind, elapsed: Duration, outcome: Outcome<'_>);

    /// A request already reported as answered failed afterwards: its response body broke off,
    /// or a later page of a listing failed.
    fn failed_later(&self, kind: RequestKind, error: &object_store::Error);
}

/// An [`ObjectStore`] that reports every request to an observer, then forwards it unchanged.
#[derive(Debug)]
pub struct Instrumented<S> {
    inner: S,
    observer: Arc<dyn RequestObserver>,
}

impl<S> Instrumented<S> {
    pub fn new(inner: S, observer: Arc<dyn RequestObserver>) -> Self {
        Self { inner, observer }
    }

    fn finish<T>(&self, kind: RequestKind, started: Instant, result: &object_store::Result<T>) {
        self.observer.finished(kind, started.elapsed(), Outcome::of(result));
    }
}

impl<S: fmt::Display> fmt::Display for Instrumented<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instrumented({})", self.inner)
    }
}

/// A stream whose first item (or end) finishes the request and whose later errors are reported
/// as failures after the fact.
fn observed_stream<T: Send + 'static>(
    stream: BoxStream<'static, object_store::Result<T>>,
    observer: Arc<dyn RequestObserver>,
    kind: RequestKind,
    started: Instant,
) -> BoxStream<'static, object_store::Result<T>> {
    let mut reported = false;
    stream
        .map(Some)
        .chain(futures::stream::once(std::future::ready(None)))
        .filter_map(move |item| {
            match &item {
                Some(result) if !reported => {
                    reported = true;
                    observer.finished(kind, started.elapsed(), Outcome::of(result));
                }
                Some(Err(e)) if !is_answer(e) => observer.failed_later(kind, e),
                Some(_) => {}
                None if !reported => {
                    reported = true;
                    observer.finished(kind, started.elapsed(), Outcome::Answered);
                }
                None => {}
            }
            std::future::ready(item)
        })
        .boxed()
}

#[async_trait::async_trait]
impl<S: ObjectStore> ObjectStore for Instrumented<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let started = Instant::now();
        let result = self.inner.put_opts(location, payload, opts).await;
        self.finish(RequestKind::Put, started, &result);
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        // Only the start of the upload is observed (Chartroom never writes multipart).
        let started = Instant::now();
        let result = self.inner.put_multipart_opts(location, opts).await;
        self.finish(RequestKind::Put, started, &result);
        result
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let kind = if options.head { RequestKind::Head } else { RequestKind::Get };
        let started = Instant::now();
        let result = self.inner.get_opts(location, options).await;
        self.finish(kind, started, &result);
        let mut got = result?;
        // A streamed body that breaks off is a failure of the store too. (A local file's body is
        // read by the caller from the file itself.)
        if let GetResultPayload::Stream(body) = got.payload {
            let observer = Arc::clone(&self.observer);
            got.payload = GetResultPayload::Stream(
                body.inspect_err(move |e| {
                    if !is_answer(e) {
                        observer.failed_later(kind, e);
                    }
                })
                .boxed(),
            );
        }
        Ok(got)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let started = Instant::now();
        let result = self.inner.get_ranges(location, ranges).await;
        self.finish(RequestKind::Get, started, &result);
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // One result per location: each is one deletion, whether or not the backend batches them.
        let observer = Arc::clone(&self.observer);
        let started = Instant::now();
        self.inner
            .delete_stream(locations)
            .inspect(move |result| observer.finished(RequestKind::Delete, started.elapsed(), Outcome::of(result)))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        observed_stream(self.inner.list(prefix), Arc::clone(&self.observer), RequestKind::List, Instant::now())
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let stream = self.inner.list_with_offset(prefix, offset);
        observed_stream(stream, Arc::clone(&self.observer), RequestKind::List, Instant::now())
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let started = Instant::now();
        let result = self.inner.list_with_delimiter(prefix).await;
        self.finish(RequestKind::List, started, &result);
        result
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let started = Instant::now();
        let result = self.inner.copy_opts(from, to, options).await;
        self.finish(RequestKind::Put, started, &result);
        result
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        let started = Instant::now();
        let result = self.inner.rename_opts(from, to, options).await;
        self.finish(RequestKind::Put, started, &result);
        result
    }
}

/// Whether the object store answers, as seen by the requests made through one storage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageHealth {
    /// False when the latest request failed for a reason other than the object's state
    /// (unreachable, timeout, denied, server error).
    pub reachable: bool,
    /// Since when requests have been failing (`reachable == false` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<jiff::Timestamp>,
    /// True when the latest write failed because storage is full (local `ENOSPC` or a quota):
    /// the store answers, reads work, writes do not. Cleared by a successful write.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
    /// The latest failure, whether or not it has recovered since: what the operating system or
    /// the store said, never a path or a URL (it is shown by `/health`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<jiff::Timestamp>,
}

impl Default for StorageHealth {
    fn default() -> Self {
        Self { reachable: true, failing_since: None, full: false, last_error: None, last_success: None }
    }
}

/// A snapshot of the object-store requests issued so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub delete: u64,
    pub list: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.delete + self.list
    }
}

/// Request counts by kind and the store's health: the observer of every storage.
#[derive(Debug, Default)]
pub struct RequestStats {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    list: AtomicU64,
    health: Mutex<StorageHealth>,
}

impl RequestStats {
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            get: self.get.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            list: self.list.load(Ordering::Relaxed),
        }
    }

    pub fn health(&self) -> StorageHealth {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn counter(&self, kind: RequestKind) -> &AtomicU64 {
        match kind {
            RequestKind::Get => &self.get,
            RequestKind::Head => &self.head,
            RequestKind::Put => &self.put,
            RequestKind::Delete => &self.delete,
            RequestKind::List => &self.list,
        }
    }

    fn succeeded(&self, kind: RequestKind) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if kind == RequestKind::Put {
            h.full = false;
        }
        if !h.reachable && h.failing_since.is_some() {
            tracing::info!("object store reachable again");
        }
        h.reachable = true;
        h.failing_since = None;
        h.last_success = Some(jiff::Timestamp::now());
    }

    fn failed(&self, error: &object_store::Error) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.last_error = Some(public_error(error));
        if matches!(crate::io_kind(error), Some(std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)) {
            // Full is not unreachable: reads are served, readiness says why writes fail.
            tracing::warn!(error = %error, "storage is full");
            h.full = true;
            return;
        }
        if h.reachable || h.failing_since.is_none() {
            h.failing_since = Some(jiff::Timestamp::now());
        }
        h.reachable = false;
    }
}

impl RequestObserver for RequestStats {
    fn finished(&self, kind: RequestKind, _elapsed: Duration, outcome: Outcome<'_>) {
        self.counter(kind).fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Answered | Outcome::NotFound | Outcome::Conflict => self.succeeded(kind),
            Outcome::Failed(e) => self.failed(e),
        }
    }

    fn failed_later(&self, _kind: RequestKind, error: &object_store::Error) {
        self.failed(error);
    }
}

/// What `/health` may show of a store error: the operating system's words when there are some,
/// else the store's message with anything that looks like a path or a URL taken out (local
/// storage names absolute paths, object stores their URLs).
pub fn public_error(err: &object_store::Error) -> String {
    let store = match err {
        object_store::Error::Generic { store, .. } => *store,
        _ => "object store",
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return format!("{store}: {io}");
        }
        source = e.source();
    }
    redact(&err.to_string())
}

fn redact(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let bare = word.trim_start_matches(['"', '\'', '(', '[', '<']);
            if bare.starts_with('/') || bare.contains("://") { "<redacted>" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl RequestKind {
    /// The `operation` label of the storage metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Get => "get",
            RequestKind::Head => "head",
            RequestKind::Put => "put",
            RequestKind::Delete => "delete",
            RequestKind::List => "list",
        }
    }
}

/// Two observers of the same requests (the request counts behind `/health`, and metrics).
#[derive(Debug)]
pub struct Both<A, B>(pub A, pub B);

impl<A: RequestObserver, B: RequestObserver> RequestObserver for Both<A, B> {
    fn finished(&self, kind: RequestKind, elapsed: Duration, outcome: Outcome<'_>) {
        self.0.finished(kind, elapsed, outcome);
        self.1.finished(kind, elapsed, outcome);
    }

    fn failed_later(&self, kind: RequestKind, error: &object_store::Error) {
        self.0.failed_later(kind, error);
        self.1.failed_later(kind, error);
    }
}

impl<T: RequestObserver> RequestObserver for Arc<T> {
    fn finished(&self, kind: RequestKind, elapsed: Duration, outcome: Outcome<'_>) {
        T::finished(self, kind, elapsed, outcome);
    }

    fn failed_later(&self, kind: RequestKind, error: &object_store::Error) {
        T::failed_later(self, kind, error);
    }
}

/// Storage metrics through the `metrics` facade (no-ops unless the server installed a
/// recorder): `chartroom_storage_requests_total{operation,outcome}` (outcome `ok`, `not_found`,
/// `conflict`, `error`) and `chartroom_storage_request_duration_seconds{operation}`. A failure
/// after the answer began (a body or a later listing page breaking off) counts as one more
/// `error`.
#[derive(Debug, Default)]
pub struct MetricsObserver;

impl RequestObserver for MetricsObserver {
    fn finished(&self, kind: RequestKind, elapsed: Duration, outcome: Outcome<'_>) {
        let outcome = match outcome {
            Outcome::Answered => "ok",
            Outcome::NotFound => "not_found",
            Outcome::Conflict => "conflict",
            Outcome::Failed(_) => "error",
        };
        let operation = kind.as_str();
        metrics::counter!("chartroom_storage_requests_total", "operation" => operation, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("chartroom_storage_request_duration_seconds", "operation" => operation)
            .record(elapsed.as_secs_f64());
    }

    fn failed_later(&self, kind: RequestKind, _error: &object_store::Error) {
        metrics::counter!("chartroom_storage_requests_total", "operation" => kind.as_str(), "outcome" => "error")
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutMode};

    use super::*;

    /// A store that fails every request while `down` is set.
    #[derive(Debug, Default)]
    struct Flaky {
        store: InMemory,
        down: std::sync::atomic::AtomicBool,
    }

    impl fmt::Display for Flaky {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Flaky")
        }
    }

    impl Flaky {
        fn check(&self) -> object_store::Result<()> {
            if self.down.load(Ordering::Relaxed) {
                return Err(object_store::Error::Generic { store: "Flaky", source: "connection refused".into() });
            }
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Flaky {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> object_store::Result<PutResult> {
            self.check()?;
            self.store.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.check()?;
            self.store.put_multipart_opts(l, o).await
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> object_store::Result<GetResult> {
            self.check()?;
            self.store.get_opts(l, o).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            match self.check() {
                Ok(()) => self.store.delete_stream(locations),
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            }
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            match self.check() {
                Ok(()) => self.store.list(prefix),
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            }
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
            self.check()?;
            self.store.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> object_store::Result<()> {
            self.check()?;
            self.store.copy_opts(from, to, o).await
        }
    }

    fn instrumented() -> (Arc<Flaky>, Instrumented<Arc<Flaky>>, Arc<RequestStats>) {
        let flaky = Arc::new(Flaky::default());
        let stats = Arc::new(RequestStats::default());
        (Arc::clone(&flaky), Instrumented::new(flaky, stats.clone()), stats)
    }

    #[tokio::test]
    async fn counts_every_request_by_kind() {
        let (_, store, stats) = instrumented();
        let a = Path::from("a");
        store.put(&a, PutPayload::from_static(b"x")).await.unwrap();
        let again = store.put_opts(&a, PutPayload::from_static(b"y"), PutMode::Create.into()).await;
        assert!(matches!(again, Err(object_store::Error::AlreadyExists { .. })));
        store.get(&a).await.unwrap().bytes().await.unwrap();
        store.head(&a).await.unwrap();
        assert!(store.head(&Path::from("missing")).await.is_err());
        store.list_with_delimiter(None).await.unwrap();
        let listed: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        let empty: Vec<ObjectMeta> = store.list(Some(&Path::from("nothing"))).try_collect().await.unwrap();
        assert!(empty.is_empty());
        store.delete(&a).await.unwrap();
        assert_eq!(stats.counts(), RequestCounts { get: 1, head: 2, put: 2, delete: 1, list: 3 });
        assert_eq!(stats.counts().total(), 9);
        assert!(stats.health().reachable, "answers about objects are successes: {:?}", stats.health());
    }

    #[tokio::test]
    async fn any_request_records_failure_and_recovery() {
        let (flaky, store, stats) = instrumented();
        let a = Path::from("a");
        store.put(&a, PutPayload::from_static(b"x")).await.unwrap();
        flaky.down.store(true, Ordering::Relaxed);
        // Each kind of request notices the outage...
        for failing in [
            store.get(&a).await.err(),
            store.head(&a).await.err(),
            store.delete(&a).await.err(),
            store.list(None).try_collect::<Vec<_>>().await.err(),
        ] {
            assert!(failing.is_some());
        }
        let h = stats.health();
        assert!(!h.reachable && h.failing_since.is_some(), "{h:?}");
        assert!(h.last_error.as_deref().is_some_and(|e| e.contains("connection refused")), "{h:?}");
        flaky.down.store(false, Ordering::Relaxed);
        // ...and any answer ends it, a "not found" included.
        assert!(matches!(store.get(&Path::from("missing")).await, Err(object_store::Error::NotFound { .. })));
        let h = stats.health();
        assert!(h.reachable && h.failing_since.is_none() && h.last_success.is_some(), "{h:?}");
        assert!(h.last_error.is_some(), "the last error stays visible after recovery");
        assert_eq!(stats.counts().total(), 6);
    }

    #[test]
    fn public_errors_show_no_paths() {
        let local = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        };
        assert_eq!(public_error(&local), "LocalFileSystem: No space left on device (os error 28)");
        let remote = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://127.0.0.1:9000/bucket/charts/a-1.0.0.tgz in 5s: refused".into(),
        };
        let shown = public_error(&remote);
        assert!(!shown.contains("127.0.0.1") && !shown.contains("a-1.0.0") && shown.contains("refused"), "{shown}");
        let path = object_store::Error::Generic { store: "x", source: "Unable to open file /srv/charts/a.tgz".into() };
        assert!(!public_error(&path).contains("/srv"), "{}", public_error(&path));
    }

    #[test]
    fn a_full_store_is_not_an_outage() {
        let stats = RequestStats::default();
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        };
        stats.finished(RequestKind::Put, Duration::ZERO, Outcome::of::<()>(&Err(full)));
        let h = stats.health();
        assert!(h.reachable && h.full && h.failing_since.is_none(), "{h:?}");
        stats.finished(RequestKind::Get, Duration::ZERO, Outcome::Answered);
        assert!(stats.health().full, "a read does not prove there is space");
        stats.finished(RequestKind::Put, Duration::ZERO, Outcome::Answered);
        assert!(!stats.health().full);
        let folder = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::new(std::io::ErrorKind::IsADirectory, "a folder has that name")),
        };
        assert!(matches!(Outcome::of::<()>(&Err(folder)), Outcome::Conflict));
    }
}
