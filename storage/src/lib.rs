//! Storage for Chartroom: an [`ObjectStore`] plus the ChartMuseum-compatible key layout.
//!
//! Charts live at `<prefix>/<name>-<version>.tgz` and `<prefix>/<name>-<version>.tgz.prov`, and a
//! tenant's at `<prefix>/<tenant>/<name>-<version>.tgz`, exactly where ChartMuseum puts them, so
//! an existing ChartMuseum directory or bucket is served as it is. Chartroom's own derived state
//! lives under `.chartroom/` beside the charts (`<prefix>/.chartroom/`,
//! `<prefix>/<tenant>/.chartroom/`); the replicas' change logs only under the root's.
//!
//! Charts are written create-only ([`PutMode::Create`]): two concurrent uploads of the same
//! version give one success and one [`StorageError::AlreadyExists`], on every backend.
//!
//! A [`Storage`] knows file names and the three namespaces (charts, `.chartroom/` state, change
//! logs); the prefix is applied by [`PrefixStore`], and every request is counted and judged by
//! the [`instrumented`] decorator underneath.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

pub mod backend;
mod confined;
mod local_list;

#[cfg(feature = "faulty")]
pub mod faulty;
pub mod instrumented;
mod oci;

pub use confined::Confined;
use instrumented::{Both, Instrumented, MetricsObserver, Outcome, RequestKind, RequestObserver, RequestStats};
pub use instrumented::{RequestCounts, StorageHealth};
pub use oci::{OCI_DIR, OciUpload};

/// The folder (relative to a repository's prefix) that holds Chartroom's own state.
pub const STATE_DIR: &str = ".chartroom";
/// ChartMuseum's state file, read (never written) to keep `created` times when migrating.
pub const CHARTMUSEUM_STATEFILE: &str = "index-cache.yaml";
/// The folder (under [`STATE_DIR`]) that holds the replicas' change logs, one folder per replica.
pub const LOG_DIR: &str = "log";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} already exists")]
    AlreadyExists(String),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object {0} changed concurrently")]
    Precondition(String),
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// The name would not fit the backend's limits: refused before any request.
    #[error(transparent)]
    NameTooLong(#[from] NameTooLong),
    /// Local storage has no space left (`ENOSPC`, or a quota): the store answers, it is full.
    #[error("storage is full: cannot write {0}")]
    Full(String),
    /// A folder has the object's name (local storage): a conflict about that name, not an outage.
    #[error("{0} is a folder in storage, not a file")]
    NotAFile(String),
    #[error("storage backend error: {0}")]
    Backend(#[source] object_store::Error),
}

impl StorageError {
    fn from_store(err: object_store::Error, key: &str) -> Self {
        match err {
            object_store::Error::AlreadyExists { .. } => Self::AlreadyExists(key.to_owned()),
            object_store::Error::NotFound { .. } => Self::NotFound(key.to_owned()),
            object_store::Error::Precondition { .. } => Self::Precondition(key.to_owned()),
            other => match io_kind(&other) {
                Some(std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => Self::Full(key.to_owned()),
                Some(std::io::ErrorKind::IsADirectory) => Self::NotAFile(key.to_owned()),
                _ => Self::Backend(other),
            },
        }
    }
}

/// The kind of the operating-system error behind a store error, if there is one (local storage
/// wraps it in its own errors).
pub fn io_kind(err: &object_store::Error) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = e.source();
    }
    None
}

/// A stored name longer than the backend allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} would be {len} bytes; {backend} allows at most {limit}")]
pub struct NameTooLong {
    /// `the file name <name>` or `the storage key of <name>`.
    pub what: String,
    pub len: usize,
    pub limit: usize,
    /// The limit's owner, e.g. `local storage (one file name)`.
    pub backend: &'static str,
}

/// How long a stored name may be on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameLimits {
    /// Longest path component (a file name), in bytes: 255 on local file systems.
    pub component: Option<usize>,
    /// Longest key, prefix and tenant folders included, in bytes: 1024 on S3, GCS and Azure.
    pub key: Option<usize>,
    pub backend: &'static str,
}

impl NameLimits {
    /// Linux file systems: `NAME_MAX` per file name, `PATH_MAX` for the whole path below `root`.
    pub fn local(root: &FsPath) -> Self {
        let root_len = root.as_os_str().len() + 1;
        Self { component: Some(255), key: Some(4095usize.saturating_sub(root_len)), backend: "local storage" }
    }

    /// Object stores' key limit (S3, Google Cloud Storage and Azure Blob Storage: 1024 bytes).
    pub fn object_store(backend: &'static str) -> Self {
        Self { component: None, key: Some(1024), backend }
    }
}

/// What a listing reports about a stored object: enough to notice any change without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// File name relative to the repository prefix, e.g. `mychart-1.0.0.tgz`.
    pub file: String,
    pub size: u64,
    pub e_tag: Option<String>,
    pub last_modified: std::time::SystemTime,
}

/// Reads whole objects of a local [`Storage`] on the calling thread ([`Storage::blocking_reader`]).
#[derive(Clone, Debug)]
pub struct BlockingReader {
    store: Confined,
    prefix: Path,
    observer: Arc<dyn RequestObserver>,
}

impl BlockingReader {
    /// What [`Storage::read`] gives, with the same errors: a blocking read.
    pub fn read(&self, file: &str) -> Result<Bytes, StorageError> {
        check_file_name(file)?;
        let started = std::time::Instant::now();
        let result = self.store.read_blocking(&self.prefix.clone().join(file));
        self.observer.finished(RequestKind::Get, started.elapsed(), Outcome::of(&result));
        result.map_err(|e| StorageError::from_store(e, file))
    }
}

/// The chart archives and provenance files of one folder, as a listing reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartFiles {
    /// `<name>-<version>.tgz` objects, by file name.
    pub charts: Vec<ObjectInfo>,
    /// `<name>-<version>.tgz.prov` objects, by file name.
    pub provenance: Vec<ObjectInfo>,
}

/// A streamed object body with its metadata.
pub struct ObjectStream {
    pub info: ObjectInfo,
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// One entry of a replica's change log, as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecordInfo {
    pub replica: String,
    pub seq: u64,
    pub last_modified: std::time::SystemTime,
}

/// One repository's storage: a store and the prefix under which its charts live.
#[derive(Clone, Debug)]
pub struct Storage {
    /// The store as seen from the prefix (keys are file names relative to it), instrumented.
    store: Arc<dyn ObjectStore>,
    /// Where the repository lives in the bucket (for messages; `store` applies it).
    prefix: Path,
    description: String,
    stats: Arc<RequestStats>,
    /// Sees every request: `store`'s and a [`BlockingReader`]'s.
    observer: Arc<dyn RequestObserver>,
    limits: NameLimits,
    /// The local store under `store`, for [`Storage::blocking_reader`].
    local: Option<Confined>,
}

impl Storage {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, description: String) -> Self {
        let prefix = Path::from(prefix);
        let stats = Arc::new(RequestStats::default());
        let scoped: Arc<dyn ObjectStore> =
            if prefix.as_ref().is_empty() { store } else { Arc::new(PrefixStore::new(store, prefix.clone())) };
        let observer: Arc<dyn RequestObserver> = Arc::new(Both(Arc::clone(&stats), MetricsObserver));
        let store = Arc::new(Instrumented::new(scoped, Arc::clone(&observer)));
        Self { store, prefix, description, stats, observer, limits: NameLimits::default(), local: None }
    }

    /// The same storage, refusing names longer than `limits` ([`Storage::check_fits`]).
    pub fn with_name_limits(mut self, limits: NameLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether `file` (in this storage's folder) fits the backend's name limits: checked before
    /// a chart is written, so an over-long name is refused, not half-written. Counts the prefix
    /// and tenant folders for key limits.
    pub fn check_fits(&self, file: &str) -> Result<(), NameTooLong> {
        let limits = &self.limits;
        if let Some(limit) = limits.component
            && file.len() > limit
        {
            return Err(NameTooLong {
                what: format!("the file name {}", shorten(file)),
                len: file.len(),
                limit,
                backend: limits.backend,
            });
        }
        let prefix = self.prefix.as_ref();
        let len = if prefix.is_empty() { file.len() } else { prefix.len() + 1 + file.len() };
        if let Some(limit) = limits.key
            && len > limit
        {
            return Err(NameTooLong {
                what: format!("the storage key of {}", shorten(file)),
                len,
                limit,
                backend: limits.backend,
            });
        }
        Ok(())
    }

    /// Whether `file` can be read back under the name a listing reports: names with characters
    /// that storage keys percent-encode (`%`, `#`, `\`, `{`, ...) cannot.
    pub fn addressable(file: &str) -> bool {
        !file.is_empty() && Path::default().join(file).as_ref() == file
    }

    /// Object-store requests issued so far through this storage (and its clones).
    pub fn request_counts(&self) -> RequestCounts {
        self.stats.counts()
    }

    /// The store's health as seen by the latest requests.
    pub fn health(&self) -> StorageHealth {
        self.stats.health()
    }

    /// Local directory storage (created if missing).
    pub fn local(root: &FsPath) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root).map_err(|e| {
            StorageError::Backend(object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) })
        })?;
        let store = Confined::new(root).map_err(StorageError::Backend)?;
        let limits = NameLimits::local(&std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned()));
        let storage = Self::new(Arc::new(store.clone()), "", format!("local directory {}", root.display()));
        Ok(Self { local: Some(store), ..storage.with_name_limits(limits) })
    }

    /// In-memory storage, for tests.
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), "", "memory".to_owned())
    }

    /// A human description of where charts are stored, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The storage of the folder `folder` (`/`-separated segments, `""` for this one) below this
    /// storage's prefix: a tenant's files. Shares this storage's store and request statistics;
    /// costs no request.
    pub fn scoped(&self, folder: &str) -> Result<Storage, StorageError> {
        if folder.is_empty() {
            return Ok(self.clone());
        }
        let mut path = Path::default();
        for segment in folder.split('/') {
            check_file_name(segment).map_err(|_| StorageError::InvalidKey(folder.to_owned()))?;
            path = path.join(segment);
        }
        let mut prefix = self.prefix.clone();
        for part in path.parts() {
            prefix = prefix.join(part);
        }
        Ok(Self {
            store: Arc::new(PrefixStore::new(Arc::clone(&self.store), path)),
            prefix,
            description: self.description.clone(),
            stats: Arc::clone(&self.stats),
            observer: Arc::clone(&self.observer),
            limits: self.limits,
            local: self.local.clone(),
        })
    }

    /// A file name relative to the repository (one path segment, no traversal) as a key.
    fn key(&self, file: &str) -> Result<Path, StorageError> {
        check_file_name(file)?;
        Ok(Path::default().join(file))
    }

    /// A file under `.chartroom/`.
    fn state_key(&self, file: &str) -> Result<Path, StorageError> {
        check_file_name(file)?;
        Ok(Path::default().join(STATE_DIR).join(file))
    }

    /// Create-only write: fails with [`StorageError::AlreadyExists`] if the object exists.
    pub async fn put_new(&self, file: &str, data: Bytes) -> Result<ObjectInfo, StorageError> {
        self.put(file, data, PutMode::Create).await
    }

    /// Unconditional write (replaces an existing object atomically).
    pub async fn put_replace(&self, file: &str, data: Bytes) -> Result<ObjectInfo, StorageError> {
        self.put(file, data, PutMode::Overwrite).await
    }

    async fn put(&self, file: &str, data: Bytes, mode: PutMode) -> Result<ObjectInfo, StorageError> {
        let key = self.key(file)?;
        let size = data.len() as u64;
        let result = self
            .store
            .put_opts(&key, PutPayload::from_bytes(data), PutOptions { mode, ..Default::default() })
            .await
            .map_err(|e| StorageError::from_store(e, file))?;
        Ok(ObjectInfo { file: file.to_owned(), size, e_tag: result.e_tag, last_modified: std::time::SystemTime::now() })
    }

    pub async fn head(&self, file: &str) -> Result<ObjectInfo, StorageError> {
        let meta = self.store.head(&self.key(file)?).await.map_err(|e| StorageError::from_store(e, file))?;
        Ok(info(file, &meta))
    }

    /// Whole object in memory (charts are small and bounded by the upload limit).
    pub async fn read(&self, file: &str) -> Result<Bytes, StorageError> {
        let key = self.key(file)?;
        let got = self.store.get(&key).await.map_err(|e| StorageError::from_store(e, file))?;
        got.bytes().await.map_err(|e| StorageError::from_store(e, file))
    }

    /// A reader of whole objects on the calling thread, for work already on a blocking thread
    /// (reading many archives at a start): local storage only, `None` for stores whose reads
    /// are network requests (use [`Storage::read`]). Its reads are counted as this storage's.
    pub fn blocking_reader(&self) -> Option<BlockingReader> {
        let store = self.local.clone()?;
        Some(BlockingReader { store, prefix: self.prefix.clone(), observer: Arc::clone(&self.observer) })
    }

    /// Whole object in memory, with what storage reports about it (size, ETag).
    pub async fn read_with_info(&self, file: &str) -> Result<(ObjectInfo, Bytes), StorageError> {
        let key = self.key(file)?;
        let got = self.store.get(&key).await.map_err(|e| StorageError::from_store(e, file))?;
        let info = info(file, &got.meta);
        let bytes = got.bytes().await.map_err(|e| StorageError::from_store(e, file))?;
        Ok((info, bytes))
    }

    /// Streamed object: the body is never buffered whole.
    pub async fn stream(&self, file: &str) -> Result<ObjectStream, StorageError> {
        let key = self.key(file)?;
        let got =
            self.store.get_opts(&key, GetOptions::default()).await.map_err(|e| StorageError::from_store(e, file))?;
        let info = info(file, &got.meta);
        let name = file.to_owned();
        let body = got.into_stream().map_err(move |e| StorageError::from_store(e, &name)).boxed();
        Ok(ObjectStream { info, body })
    }

    /// Deletes an object; [`StorageError::NotFound`] if it does not exist (the same answer on every backend).
    pub async fn delete(&self, file: &str) -> Result<(), StorageError> {
        let key = self.key(file)?;
        self.store.head(&key).await.map_err(|e| StorageError::from_store(e, file))?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store(e, file)),
        }
    }

    /// Every `.tgz` directly under the repository prefix (no recursion into tenants or state).
    pub async fn list_charts(&self) -> Result<Vec<ObjectInfo>, StorageError> {
        Ok(self.list_chart_files().await?.charts)
    }

    /// Every `.tgz` and `.tgz.prov` directly under the repository prefix: one delimiter LIST.
    pub async fn list_chart_files(&self) -> Result<ChartFiles, StorageError> {
        let listing = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(|e| StorageError::from_store(e, self.prefix.as_ref()))?;
        let mut files = ChartFiles::default();
        for meta in &listing.objects {
            let Some(file) = meta.location.filename() else { continue };
            if file.ends_with(".tgz") {
                files.charts.push(info(file, meta));
            } else if file.ends_with(".tgz.prov") {
                files.provenance.push(info(file, meta));
            }
        }
        files.charts.sort_by(|a, b| a.file.cmp(&b.file));
        files.provenance.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(files)
    }

    /// Every object below the prefix, at any depth, that `keep` accepts, by its path relative to
    /// the prefix (`team/a-1.0.0.tgz`), in path order: one recursive LIST (as many pages as it
    /// takes). `keep` sees each path once; what it refuses is never held in memory.
    pub async fn list_tree(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut listing = self.store.list(None);
        let mut kept = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| StorageError::from_store(e, self.prefix.as_ref()))?;
            if keep(meta.location.as_ref()) {
                kept.push(info(meta.location.as_ref(), &meta));
            }
        }
        kept.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(kept)
    }

    /// Reads a state object under `.chartroom/`; `None` if it does not exist.
    pub async fn read_state(&self, file: &str) -> Result<Option<Bytes>, StorageError> {
        let key = self.state_key(file)?;
        match self.store.get(&key).await {
            Ok(got) => got.bytes().await.map(Some).map_err(|e| StorageError::from_store(e, file)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::from_store(e, file)),
        }
    }

    /// Atomically replaces a state object under `.chartroom/`.
    pub async fn write_state(&self, file: &str, data: Bytes) -> Result<(), StorageError> {
        let key = self.state_key(file)?;
        self.store
            .put_opts(&key, PutPayload::from_bytes(data), PutOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_store(e, file))
    }

    /// Deletes a state object under `.chartroom/`; one already gone is not an error.
    pub async fn delete_state(&self, file: &str) -> Result<(), StorageError> {
        let key = self.state_key(file)?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store(e, file)),
        }
    }

    /// `.chartroom/log/`: one folder per replica.
    fn log_root() -> Path {
        Path::default().join(STATE_DIR).join(LOG_DIR)
    }

    fn log_key(&self, replica: &str, seq: u64) -> Result<Path, StorageError> {
        check_file_name(replica)?;
        Ok(Self::log_root().join(replica).join(log_record_name(seq)))
    }

    /// Appends record `seq` to `replica`'s change log, create-only: [`StorageError::AlreadyExists`]
    /// if that sequence number is taken (an earlier attempt that timed out may have succeeded).
    pub async fn put_log_record(&self, replica: &str, seq: u64, data: Bytes) -> Result<(), StorageError> {
        let key = self.log_key(replica, seq)?;
        self.store
            .put_opts(&key, PutPayload::from_bytes(data), PutOptions { mode: PutMode::Create, ..Default::default() })
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_store(e, key.as_ref()))
    }

    /// Reads record `seq` of `replica`'s change log; `None` if it does not exist (yet).
    pub async fn get_log_record(&self, replica: &str, seq: u64) -> Result<Option<Bytes>, StorageError> {
        let key = self.log_key(replica, seq)?;
        match self.store.get(&key).await {
            Ok(got) => got.bytes().await.map(Some).map_err(|e| StorageError::from_store(e, key.as_ref())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::from_store(e, key.as_ref())),
        }
    }

    /// The replicas that have a change log (one LIST request with a delimiter).
    pub async fn list_log_replicas(&self) -> Result<Vec<String>, StorageError> {
        let root = Self::log_root();
        let listing = self
            .store
            .list_with_delimiter(Some(&root))
            .await
            .map_err(|e| StorageError::from_store(e, root.as_ref()))?;
        let mut replicas: Vec<String> =
            listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect();
        replicas.sort();
        Ok(replicas)
    }

    /// Every record of every replica's change log, or of one replica's, in (replica, seq) order.
    pub async fn list_log_records(&self, replica: Option<&str>) -> Result<Vec<LogRecordInfo>, StorageError> {
        let root = Self::log_root();
        let prefix = match replica {
            Some(r) => {
                check_file_name(r)?;
                root.clone().join(r)
            }
            None => root.clone(),
        };
        let objects: Vec<ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store(e, prefix.as_ref()))?;
        let mut records: Vec<LogRecordInfo> = objects
            .iter()
            .filter_map(|meta| {
                let mut parts = meta.location.prefix_match(&root)?;
                let replica = parts.next()?.as_ref().to_owned();
                let seq = parse_log_record_name(parts.next()?.as_ref())?;
                parts.next().is_none().then(|| LogRecordInfo { replica, seq, last_modified: meta.last_modified.into() })
            })
            .collect();
        records.sort_by(|a, b| (&a.replica, a.seq).cmp(&(&b.replica, b.seq)));
        Ok(records)
    }

    /// Deletes one change-log record (pruning); a record already gone is not an error.
    pub async fn delete_log_record(&self, replica: &str, seq: u64) -> Result<(), StorageError> {
        let key = self.log_key(replica, seq)?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store(e, key.as_ref())),
        }
    }

    /// `.chartroom/<folder>/<owner>/<name>`: a small object of a per-process journal (the
    /// webhook queue: `folder` `webhooks`, one `owner` per replica). Names are single segments.
    fn journal_key(folder: &str, owner: &str, name: &str) -> Result<Path, StorageError> {
        check_file_name(folder)?;
        check_file_name(owner)?;
        check_file_name(name)?;
        Ok(Path::default().join(STATE_DIR).join(folder).join(owner).join(name))
    }

    /// Writes (replaces) one journal object.
    pub async fn put_journal(&self, folder: &str, owner: &str, name: &str, data: Bytes) -> Result<(), StorageError> {
        let key = Self::journal_key(folder, owner, name)?;
        self.store
            .put_opts(&key, PutPayload::from_bytes(data), PutOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_store(e, key.as_ref()))
    }

    /// Reads one journal object; `None` if it does not exist.
    pub async fn get_journal(&self, folder: &str, owner: &str, name: &str) -> Result<Option<Bytes>, StorageError> {
        let key = Self::journal_key(folder, owner, name)?;
        match self.store.get(&key).await {
            Ok(got) => got.bytes().await.map(Some).map_err(|e| StorageError::from_store(e, key.as_ref())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::from_store(e, key.as_ref())),
        }
    }

    /// Deletes one journal object; one already gone is not an error.
    pub async fn delete_journal(&self, folder: &str, owner: &str, name: &str) -> Result<(), StorageError> {
        let key = Self::journal_key(folder, owner, name)?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store(e, key.as_ref())),
        }
    }

    /// Every object of a journal folder as (owner, name, last modified), sorted.
    pub async fn list_journal(
        &self,
        folder: &str,
    ) -> Result<Vec<(String, String, std::time::SystemTime)>, StorageError> {
        check_file_name(folder)?;
        let root = Path::default().join(STATE_DIR).join(folder);
        let objects: Vec<ObjectMeta> =
            self.store.list(Some(&root)).try_collect().await.map_err(|e| StorageError::from_store(e, root.as_ref()))?;
        let mut out: Vec<(String, String, std::time::SystemTime)> = objects
            .iter()
            .filter_map(|meta| {
                let mut parts = meta.location.prefix_match(&root)?;
                let owner = parts.next()?.as_ref().to_owned();
                let name = parts.next()?.as_ref().to_owned();
                parts.next().is_none().then(|| (owner, name, meta.last_modified.into()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Reads ChartMuseum's `index-cache.yaml` if present (migration aid only).
    pub async fn read_chartmuseum_statefile(&self) -> Result<Option<Bytes>, StorageError> {
        match self.read(CHARTMUSEUM_STATEFILE).await {
            Ok(b) => Ok(Some(b)),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A file name relative to the repository: one path segment, no traversal, no control characters.
fn check_file_name(file: &str) -> Result<(), StorageError> {
    let valid = !file.is_empty()
        && file != "."
        && file != ".."
        && !file.contains(['/', '\\'])
        && !file.chars().any(char::is_control);
    if valid { Ok(()) } else { Err(StorageError::InvalidKey(file.to_owned())) }
}

/// A long name in a message: its start and its length.
fn shorten(file: &str) -> String {
    if file.len() <= 80 {
        return format!("{file:?}");
    }
    let mut end = 60;
    while !file.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}...", &file[..end])
}

fn info(file: &str, meta: &ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        file: file.to_owned(),
        size: meta.size,
        e_tag: meta.e_tag.clone(),
        last_modified: meta.last_modified.into(),
    }
}

/// Zero-padded so that a listing's lexical order is the sequence order.
fn log_record_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

fn parse_log_record_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// The storage file name of a chart: `<name>-<version>.tgz`, as ChartMuseum writes it.
pub fn chart_file(name: &str, version: &str) -> String {
    format!("{name}-{version}.tgz")
}

/// The storage file name of a chart's provenance file.
pub fn prov_file(name: &str, version: &str) -> String {
    format!("{name}-{version}.tgz.prov")
}

#[cfg(test)]
mod tests;
