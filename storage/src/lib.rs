//! Storage for Chartroom: an [`ObjectStore`] plus the ChartMuseum-compatible key layout.
//!
//! Charts live at `<prefix>/<name>-<version>.tgz` and `<prefix>/<name>-<version>.tgz.prov`,
//! exactly where ChartMuseum puts them, so an existing ChartMuseum directory or bucket is served
//! as it is. Chartroom's own derived state lives under `<prefix>/.chartroom/`.
//!
//! Charts are written create-only ([`PutMode::Create`]): two concurrent uploads of the same
//! version give one success and one [`StorageError::AlreadyExists`], on every backend.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

pub mod backend;

/// The folder (relative to a repository's prefix) that holds Chartroom's own state.
pub const STATE_DIR: &str = ".chartroom";
/// ChartMuseum's state file, read (never written) to keep `created` times when migrating.
pub const CHARTMUSEUM_STATEFILE: &str = "index-cache.yaml";

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
    #[error("storage backend error: {0}")]
    Backend(#[source] object_store::Error),
}

impl StorageError {
    fn from_store(err: object_store::Error, key: &str) -> Self {
        match err {
            object_store::Error::AlreadyExists { .. } => Self::AlreadyExists(key.to_owned()),
            object_store::Error::NotFound { .. } => Self::NotFound(key.to_owned()),
            object_store::Error::Precondition { .. } => Self::Precondition(key.to_owned()),
            other => Self::Backend(other),
        }
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

/// A streamed object body with its metadata.
pub struct ObjectStream {
    pub info: ObjectInfo,
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// One repository's storage: a store and the prefix under which its charts live.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    description: String,
}

impl Storage {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, description: String) -> Self {
        Self { store, prefix: Path::from(prefix), description }
    }

    /// Local directory storage (created if missing).
    pub fn local(root: &FsPath) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root).map_err(|e| {
            StorageError::Backend(object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) })
        })?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(StorageError::Backend)?;
        Ok(Self::new(Arc::new(store), "", format!("local directory {}", root.display())))
    }

    /// In-memory storage, for tests.
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), "", "memory".to_owned())
    }

    /// A human description of where charts are stored, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Validates a file name relative to the repository (one path segment, no traversal).
    fn key(&self, file: &str) -> Result<Path, StorageError> {
        let valid = !file.is_empty()
            && file != "."
            && file != ".."
            && !file.contains(['/', '\\'])
            && !file.chars().any(char::is_control);
        if !valid {
            return Err(StorageError::InvalidKey(file.to_owned()));
        }
        Ok(self.prefix.clone().join(file))
    }

    fn state_key(&self, file: &str) -> Result<Path, StorageError> {
        Ok(self.key(STATE_DIR)?.join(self.key(file)?.filename().unwrap_or(file)))
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

    pub async fn exists(&self, file: &str) -> Result<bool, StorageError> {
        match self.store.head(&self.key(file)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::from_store(e, file)),
        }
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
        match self.store.head(&key).await {
            Ok(_) => {}
            Err(e) => return Err(StorageError::from_store(e, file)),
        }
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store(e, file)),
        }
    }

    /// Every `.tgz` directly under the repository prefix (no recursion into tenants or state).
    pub async fn list_charts(&self) -> Result<Vec<ObjectInfo>, StorageError> {
        let prefix = if self.prefix.as_ref().is_empty() { None } else { Some(&self.prefix) };
        let listing = self
            .store
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| StorageError::from_store(e, self.prefix.as_ref()))?;
        let mut charts: Vec<ObjectInfo> = listing
            .objects
            .iter()
            .filter_map(|meta| {
                let file = meta.location.filename()?;
                file.ends_with(".tgz").then(|| info(file, meta))
            })
            .collect();
        charts.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(charts)
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

    /// Reads ChartMuseum's `index-cache.yaml` if present (migration aid only).
    pub async fn read_chartmuseum_statefile(&self) -> Result<Option<Bytes>, StorageError> {
        match self.read(CHARTMUSEUM_STATEFILE).await {
            Ok(b) => Ok(Some(b)),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn info(file: &str, meta: &ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        file: file.to_owned(),
        size: meta.size,
        e_tag: meta.e_tag.clone(),
        last_modified: meta.last_modified.into(),
    }
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
mod tests {
    use super::*;

    async fn roundtrip(storage: Storage) {
        let a = storage.put_new("a-1.0.0.tgz", Bytes::from_static(b"one")).await.unwrap();
        assert_eq!(a.size, 3);
        let again = storage.put_new("a-1.0.0.tgz", Bytes::from_static(b"two")).await;
        assert!(matches!(again, Err(StorageError::AlreadyExists(_))), "{again:?}");
        assert_eq!(storage.read("a-1.0.0.tgz").await.unwrap(), Bytes::from_static(b"one"));
        storage.write_state("state.json", Bytes::from_static(b"{}")).await.unwrap();
        storage.put_new("a-1.0.0.tgz.prov", Bytes::from_static(b"p")).await.unwrap();
        let listed = storage.list_charts().await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].file, "a-1.0.0.tgz");
        assert_eq!(listed[0].e_tag, a.e_tag, "a listing's e_tag matches the put's");
        storage.put_replace("a-1.0.0.tgz", Bytes::from_static(b"three")).await.unwrap();
        assert_eq!(storage.read("a-1.0.0.tgz").await.unwrap(), Bytes::from_static(b"three"));
        assert_eq!(storage.read_state("state.json").await.unwrap().unwrap(), Bytes::from_static(b"{}"));
        assert!(storage.read_state("missing").await.unwrap().is_none());
        storage.delete("a-1.0.0.tgz").await.unwrap();
        assert!(matches!(storage.delete("a-1.0.0.tgz").await, Err(StorageError::NotFound(_))));
        assert!(storage.list_charts().await.unwrap().is_empty());
        for bad in ["", "..", "a/b", "a\\b", "x\u{0}"] {
            assert!(matches!(storage.read(bad).await, Err(StorageError::InvalidKey(_))), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn memory_roundtrip() {
        roundtrip(Storage::memory()).await;
    }

    #[tokio::test]
    async fn local_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        roundtrip(Storage::local(dir.path()).unwrap()).await;
        assert!(dir.path().join(".chartroom/state.json").exists());
    }
}
