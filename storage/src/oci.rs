//! Chartroom's OCI objects, under `.chartroom/oci/` beside the charts: content-addressed blobs,
//! pushed manifests and tags of each OCI repository, upload sessions. Keys are a list of path
//! segments below that folder, each checked like a file name (no `/`, no `..`, no control
//! characters), so a client-chosen name can never leave it.
//!
//! Chart archives themselves are never stored here: a chart layer *is* the repository's
//! `<name>-<version>.tgz` (read with [`Storage::stream_range`]).

use std::ops::Range;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};

use crate::{ObjectInfo, ObjectStream, STATE_DIR, Storage, StorageError, check_file_name, info};

/// The folder (under [`STATE_DIR`]) that holds the OCI objects.
pub const OCI_DIR: &str = "oci";

impl Storage {
    /// The key of `.chartroom/oci/<segments...>`.
    fn oci_key(segments: &[&str]) -> Result<Path, StorageError> {
        let mut key = Path::default().join(STATE_DIR).join(OCI_DIR);
        for segment in segments {
            check_file_name(segment).map_err(|_| StorageError::InvalidKey(segments.join("/")))?;
            key = key.join(*segment);
        }
        Ok(key)
    }

    /// Writes `.chartroom/oci/<segments>`: create-only ([`StorageError::AlreadyExists`] when it
    /// exists) or replacing.
    pub async fn oci_put(&self, segments: &[&str], data: Bytes, create_only: bool) -> Result<ObjectInfo, StorageError> {
        let key = Self::oci_key(segments)?;
        let size = data.len() as u64;
        let mode = if create_only { PutMode::Create } else { PutMode::Overwrite };
        let name = segments.join("/");
        let result = self
            .store
            .put_opts(&key, PutPayload::from_bytes(data), PutOptions { mode, ..Default::default() })
            .await
            .map_err(|e| StorageError::from_store(e, &name))?;
        Ok(ObjectInfo { file: name, size, e_tag: result.e_tag, last_modified: std::time::SystemTime::now() })
    }

    /// Starts a streamed write of `.chartroom/oci/<segments>` (a multipart upload, replacing):
    /// the object appears whole at [`OciUpload::finish`] and never in part; an upload that is
    /// aborted or dropped leaves nothing visible.
    pub async fn oci_upload(&self, segments: &[&str]) -> Result<OciUpload, StorageError> {
        let key = Self::oci_key(segments)?;
        let name = segments.join("/");
        let upload = self.store.put_multipart(&key).await.map_err(|e| StorageError::from_store(e, &name))?;
        Ok(OciUpload { writer: WriteMultipart::new(upload), name })
    }

    /// Reads `.chartroom/oci/<segments>` whole; `None` if it does not exist.
    pub async fn oci_read(&self, segments: &[&str]) -> Result<Option<Bytes>, StorageError> {
        let key = Self::oci_key(segments)?;
        let name = segments.join("/");
        match self.store.get(&key).await {
            Ok(got) => got.bytes().await.map(Some).map_err(|e| StorageError::from_store(e, &name)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::from_store(e, &name)),
        }
    }

    /// The metadata of `.chartroom/oci/<segments>`; `None` if it does not exist.
    pub async fn oci_head(&self, segments: &[&str]) -> Result<Option<ObjectInfo>, StorageError> {
        let key = Self::oci_key(segments)?;
        let name = segments.join("/");
        match self.store.head(&key).await {
            Ok(meta) => Ok(Some(info(&name, &meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::from_store(e, &name)),
        }
    }

    /// Streams `.chartroom/oci/<segments>`, or the byte range `range` of it.
    pub async fn oci_stream(&self, segments: &[&str], range: Option<Range<u64>>) -> Result<ObjectStream, StorageError> {
        let key = Self::oci_key(segments)?;
        self.stream_key(key, segments.join("/"), range).await
    }

    /// Deletes `.chartroom/oci/<segments>`; one already gone is not an error.
    pub async fn oci_delete(&self, segments: &[&str]) -> Result<(), StorageError> {
        let key = Self::oci_key(segments)?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store(e, &segments.join("/"))),
        }
    }

    /// Every object below `.chartroom/oci/<segments>/`, at any depth, by its path relative to
    /// that folder, in path order.
    pub async fn oci_list(&self, segments: &[&str]) -> Result<Vec<ObjectInfo>, StorageError> {
        let folder = Self::oci_key(segments)?;
        let mut listing = self.store.list(Some(&folder));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| StorageError::from_store(e, &segments.join("/")))?;
            let full = meta.location.as_ref();
            let Some(rest) = full.strip_prefix(folder.as_ref()).and_then(|r| r.strip_prefix('/')) else { continue };
            found.push(info(rest, &meta));
        }
        found.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(found)
    }

    /// Streams the repository file `file` (a chart archive), or the byte range `range` of it.
    pub async fn stream_range(&self, file: &str, range: Option<Range<u64>>) -> Result<ObjectStream, StorageError> {
        let key = self.key(file)?;
        self.stream_key(key, file.to_owned(), range).await
    }

    async fn stream_key(
        &self,
        key: Path,
        name: String,
        range: Option<Range<u64>>,
    ) -> Result<ObjectStream, StorageError> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let got = self.store.get_opts(&key, options).await.map_err(|e| StorageError::from_store(e, &name))?;
        let info = info(&name, &got.meta);
        let body = got.into_stream().map_err(move |e| StorageError::from_store(e, &name)).boxed();
        Ok(ObjectStream { info, body })
    }
}

/// A streamed write in progress ([`Storage::oci_upload`]): parts of 5 MiB go out as they fill,
/// at most two at a time, so memory stays bounded whatever the object's size.
pub struct OciUpload {
    writer: WriteMultipart,
    name: String,
}

impl OciUpload {
    /// Appends `data` (waiting while two parts are already in flight).
    pub async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.writer.wait_for_capacity(2).await.map_err(|e| StorageError::from_store(e, &self.name))?;
        self.writer.put(data);
        Ok(())
    }

    /// Completes the object.
    pub async fn finish(self) -> Result<(), StorageError> {
        let name = self.name;
        self.writer.finish().await.map(|_| ()).map_err(|e| StorageError::from_store(e, &name))
    }

    /// Gives up: nothing becomes visible (best effort; a store keeps no half object either way).
    pub async fn abort(self) {
        if let Err(e) = self.writer.abort().await {
            tracing::debug!(object = self.name, error = %e, "cannot abort a multipart upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_below_the_oci_folder() {
        let storage = Storage::memory();
        storage.oci_put(&["blobs", "sha256", "ab"], Bytes::from_static(b"hello"), true).await.unwrap();
        let again = storage.oci_put(&["blobs", "sha256", "ab"], Bytes::from_static(b"other"), true).await;
        assert!(matches!(again, Err(StorageError::AlreadyExists(_))));
        assert_eq!(storage.oci_read(&["blobs", "sha256", "ab"]).await.unwrap().unwrap(), "hello");
        assert_eq!(storage.oci_head(&["blobs", "sha256", "ab"]).await.unwrap().unwrap().size, 5);
        assert!(storage.oci_read(&["blobs", "sha256", "cd"]).await.unwrap().is_none());
        let listed = storage.oci_list(&["blobs"]).await.unwrap();
        assert_eq!(listed.iter().map(|o| o.file.as_str()).collect::<Vec<_>>(), ["sha256/ab"]);

        let mut ranged = storage.oci_stream(&["blobs", "sha256", "ab"], Some(1..4)).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = ranged.body.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"ell");

        storage.oci_delete(&["blobs", "sha256", "ab"]).await.unwrap();
        storage.oci_delete(&["blobs", "sha256", "ab"]).await.unwrap();
        assert!(storage.oci_head(&["blobs", "sha256", "ab"]).await.unwrap().is_none());
    }

    #[test]
    fn segments_cannot_escape() {
        for bad in [&["..", "x"][..], &["a/b"], &[""], &["a\u{0}"]] {
            assert!(matches!(Storage::oci_key(bad), Err(StorageError::InvalidKey(_))), "{bad:?}");
        }
    }
}
