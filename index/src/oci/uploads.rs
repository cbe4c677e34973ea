//! Blob upload sessions: `POST` → `PATCH`* → `PUT ?digest=`, or one request.
//!
//! A session lives in storage, under `.chartroom/oci/uploads/<id>/` of the root: `state.json`
//! (tenant, repository, owner, start time, bytes received) and one object per chunk
//! (`chunk-<offset>`, written create-only, so two writers of the same offset cannot both win).
//! Any replica can continue or finish a session another one started. The replica that received
//! the chunks hashes them as they arrive; one that did not re-reads them at the end. A blob is
//! written to the shared blob store only once complete and verified (create-only: an identical
//! blob already there is kept), then linked into its repository: nothing partial is ever
//! visible.
//!
//! Bounds: a session's size (`--max-upload-size`), its lifetime (expired sessions are removed by
//! [`Uploads::sweep`] and answer `BLOB_UPLOAD_UNKNOWN`), and the number of open sessions of all
//! replicas, per client and in total: each session has a marker `sessions/<owner key>-<id>`,
//! and one listing of `sessions/` counts them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chartroom_storage::StorageError;
use jiff::Timestamp;
use parking_lot::Mutex;
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::error::OciError;
use super::registry::{blob_key, label};
use crate::repo::Repository;
use crate::tenant::Tenant;

/// The bounds of upload sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest blob, in bytes.
    pub max_size: u64,
    /// A session not finished within this time is abandoned.
    pub lifetime: Duration,
    /// Open sessions one client may have (all replicas together).
    pub per_client: usize,
    /// Open sessions (all replicas together).
    pub total: usize,
    /// Blobs up to this size are assembled in memory when a chunked upload finishes; larger ones
    /// are copied chunk by chunk into a streamed write.
    pub assemble_in_memory: u64,
}

impl UploadLimits {
    /// One hour, 64 per client, 1,024 in all, assembled in memory up to 5 MiB (one part of a
    /// multipart upload).
    pub fn with_max_size(max_size: u64) -> UploadLimits {
        UploadLimits {
            max_size,
            lifetime: Duration::from_secs(3600),
            per_client: 64,
            total: 1024,
            assemble_in_memory: 5 << 20,
        }
    }
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: String,
    /// Bytes received so far.
    pub size: u64,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
struct SessionState {
    tenant: String,
    name: String,
    owner: String,
    /// Unix seconds.
    started: i64,
    size: u64,
    /// Offsets of the chunks received, in order.
    chunks: Vec<u64>,
}

/// What this replica knows of a session it served: the running hash of its bytes.
struct LocalSession {
    started: Timestamp,
    size: u64,
    hasher: Sha256,
}

/// The upload sessions of one repository handle.
pub struct Uploads {
    repo: Repository,
    limits: UploadLimits,
    local: Mutex<HashMap<String, LocalSession>>,
}

fn state_key(id: &str) -> [&str; 3] {
    ["uploads", id, "state.json"]
}

/// The marker of an open session, `sessions/<owner key>-<id>` of the root: listing `sessions/`
/// counts the open sessions of every replica, in all and per owner, without reading them.
fn marker_name(id: &str, owner: &str) -> String {
    format!("{}-{id}", owner_key(owner))
}

/// 16 hex digits of the owner's sha256: a key segment whatever the owner's name.
fn owner_key(owner: &str) -> String {
    hex::encode(&Sha256::digest(owner.as_bytes())[..8])
}

fn chunk_name(offset: u64) -> String {
    format!("chunk-{offset:020}")
}

/// A hard-to-guess session id (32 hex digits).
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut parts = [0u64; 2];
    for (i, part) in parts.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(Timestamp::now().as_nanosecond() as u128);
        h.write_u64(n);
        h.write_usize(i);
        h.write_u32(std::process::id());
        *part = h.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}

/// `chartroom_oci_upload_sessions_open`: the sessions this replica holds (a no-op without a
/// metrics recorder).
fn report_open(sessions: usize) {
    metrics::gauge!("chartroom_oci_upload_sessions_open").set(sessions as f64);
}

/// Whether `id` can be a session id (and so a storage key segment).
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Uploads {
    pub fn new(repo: Repository, limits: UploadLimits) -> Uploads {
        Uploads { repo, limits, local: Mutex::new(HashMap::new()) }
    }

    pub fn limits(&self) -> &UploadLimits {
        &self.limits
    }

    /// Opens a session for repository `name` of `tenant`, for `owner` (who asked).
    pub async fn start(&self, tenant: &Tenant, name: &str, owner: &str) -> Result<UploadStatus, OciError> {
        self.repo.locate(tenant)?;
        self.check_capacity(owner).await?;
        let id = new_id();
        {
            let mut local = self.local.lock();
            let expired = Timestamp::now() - self.limits.lifetime;
            local.retain(|_, s| s.started > expired);
            let session = LocalSession { started: Timestamp::now(), size: 0, hasher: Sha256::new() };
            local.insert(id.clone(), session);
            report_open(local.len());
        }
        let state = SessionState {
            tenant: tenant.as_str().to_owned(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            started: Timestamp::now().as_second(),
            size: 0,
            chunks: Vec::new(),
        };
        if let Err(e) = self.write_state(&id, &state, true).await {
            let mut local = self.local.lock();
            local.remove(&id);
            report_open(local.len());
            return Err(e);
        }
        if let Err(e) = self.repo.oci_root().oci_put(&["sessions", &marker_name(&id, owner)], Bytes::new(), true).await
        {
            self.discard(&id, Some(owner)).await;
            return Err(e.into());
        }
        Ok(UploadStatus { id, size: 0 })
    }

    /// Refuses a new session when the open ones of every replica (their markers under
    /// `sessions/`, one listing) reach the limits, in all or for `owner`. Replicas starting
    /// sessions at the same instant may each pass the check: the limits can be exceeded by as
    /// many sessions as replicas start at once.
    async fn check_capacity(&self, owner: &str) -> Result<(), OciError> {
        let cutoff = std::time::SystemTime::now().checked_sub(self.limits.lifetime).unwrap_or(std::time::UNIX_EPOCH);
        let markers = self.repo.oci_root().oci_list(&["sessions"]).await?;
        let open: Vec<String> = markers.into_iter().filter(|m| m.last_modified >= cutoff).map(|m| m.file).collect();
        if open.len() >= self.limits.total {
            return Err(OciError::TooManyUploads(format!(
                "too many open uploads on this registry ({}); finish or cancel some",
                self.limits.total
            )));
        }
        let mine = format!("{}-", owner_key(owner));
        if open.iter().filter(|m| m.starts_with(&mine)).count() >= self.limits.per_client {
            return Err(OciError::TooManyUploads(format!(
                "too many open uploads for {owner:?} ({}); finish or cancel some",
                self.limits.per_client
            )));
        }
        Ok(())
    }

    /// Deletes a session's marker (found by listing when the owner is not known).
    async fn remove_marker(&self, id: &str, owner: Option<&str>) {
        let root = self.repo.oci_root();
        let names = match owner {
            Some(owner) => vec![marker_name(id, owner)],
            None => match root.oci_list(&["sessions"]).await {
                Ok(markers) => markers.into_iter().map(|m| m.file).filter(|f| f.ends_with(&format!("-{id}"))).collect(),
                Err(e) => {
                    tracing::warn!(upload = id, error = %e, "cannot list upload session markers");
                    return;
                }
            },
        };
        for name in names {
            if let Err(e) = root.oci_delete(&["sessions", &name]).await {
                tracing::warn!(upload = id, error = %e, "cannot delete an upload session's marker");
            }
        }
    }

    async fn write_state(&self, id: &str, state: &SessionState, create: bool) -> Result<(), OciError> {
        let bytes = serde_json::to_vec(state).map_err(|e| OciError::Internal(e.to_string()))?;
        self.repo.oci_root().oci_put(&state_key(id), Bytes::from(bytes), create).await?;
        Ok(())
    }

    /// The session's state, if it is one of repository `name` of `tenant` and has not expired.
    async fn load(&self, tenant: &Tenant, name: &str, id: &str) -> Result<SessionState, OciError> {
        let unknown = || OciError::UploadUnknown(id.to_owned());
        if !valid_id(id) {
            return Err(unknown());
        }
        let bytes = self.repo.oci_root().oci_read(&state_key(id)).await?.ok_or_else(unknown)?;
        let state: SessionState = serde_json::from_slice(&bytes).map_err(|_| unknown())?;
        if state.tenant != tenant.as_str() || state.name != name {
            return Err(unknown());
        }
        if Timestamp::now().as_second() - state.started > self.limits.lifetime.as_secs() as i64 {
            self.discard(id, Some(&state.owner)).await;
            return Err(unknown());
        }
        Ok(state)
    }

    /// Where a session stands.
    pub async fn status(&self, tenant: &Tenant, name: &str, id: &str) -> Result<UploadStatus, OciError> {
        let state = self.load(tenant, name, id).await?;
        Ok(UploadStatus { id: id.to_owned(), size: state.size })
    }

    /// Appends a chunk. `start` is the first byte's offset from `Content-Range`, if sent: it
    /// must be where the session stands.
    pub async fn append(
        &self,
        tenant: &Tenant,
        name: &str,
        id: &str,
        start: Option<u64>,
        chunk: Bytes,
    ) -> Result<UploadStatus, OciError> {
        let mut state = self.load(tenant, name, id).await?;
        if let Some(start) = start
            && start != state.size
        {
            return Err(OciError::ChunkOutOfOrder { got: start, size: state.size });
        }
        let new_size = state.size + chunk.len() as u64;
        if new_size > self.limits.max_size {
            self.discard(id, Some(&state.owner)).await;
            return Err(OciError::TooLarge(self.limits.max_size));
        }
        if chunk.is_empty() {
            return Ok(UploadStatus { id: id.to_owned(), size: state.size });
        }
        let offset = state.size;
        match self.repo.oci_root().oci_put(&["uploads", id, &chunk_name(offset)], chunk.clone(), true).await {
            Ok(_) => {}
            // Another request wrote this offset first.
            Err(StorageError::AlreadyExists(_)) => return Err(OciError::ChunkOutOfOrder { got: offset, size: offset }),
            Err(e) => return Err(e.into()),
        }
        state.chunks.push(offset);
        state.size = new_size;
        self.write_state(id, &state, false).await?;
        let mut local = self.local.lock();
        match local.get_mut(id) {
            Some(session) if session.size == offset => {
                session.hasher.update(&chunk);
                session.size = new_size;
            }
            // Chunks arrived elsewhere: the bytes are re-read at the end.
            Some(_) => {
                local.remove(id);
                report_open(local.len());
            }
            None => {}
        }
        Ok(UploadStatus { id: id.to_owned(), size: new_size })
    }

    /// Finishes a session with its last bytes (possibly none): the whole blob must hash to
    /// `digest`. The blob is stored and linked into the repository; the session is gone.
    pub async fn finish(
        &self,
        tenant: &Tenant,
        name: &str,
        id: &str,
        last: Bytes,
        digest: &Digest,
    ) -> Result<(), OciError> {
        let state = self.load(tenant, name, id).await?;
        let total = state.size + last.len() as u64;
        if total > self.limits.max_size {
            self.discard(id, Some(&state.owner)).await;
            return Err(OciError::TooLarge(self.limits.max_size));
        }
        let running = {
            let local = self.local.lock();
            local.get(id).filter(|s| s.size == state.size).map(|s| s.hasher.clone())
        };
        let result = if total <= self.limits.assemble_in_memory {
            self.finish_in_memory(tenant, name, id, &state, last, digest, running).await
        } else {
            self.finish_streamed(tenant, name, id, &state, last, digest, running).await
        };
        // Refused or stored, the session is over (a refused client starts again).
        self.discard(id, Some(&state.owner)).await;
        result
    }

    /// A small blob: its chunks read into one buffer, checked, written in one request.
    #[allow(clippy::too_many_arguments)]
    async fn finish_in_memory(
        &self,
        tenant: &Tenant,
        name: &str,
        id: &str,
        state: &SessionState,
        last: Bytes,
        digest: &Digest,
        running: Option<Sha256>,
    ) -> Result<(), OciError> {
        let total = state.size + last.len() as u64;
        let mut blob = BytesMut::with_capacity(total as usize);
        for offset in &state.chunks {
            blob.extend_from_slice(&self.read_chunk(id, *offset).await?);
        }
        blob.extend_from_slice(&last);
        let blob = blob.freeze();
        let got = match running {
            Some(mut hasher) => {
                hasher.update(&last);
                Digest::from_hasher(hasher)
            }
            None => Digest::of(&blob),
        };
        if got != *digest {
            Err(OciError::DigestInvalid(format!("the uploaded content's digest is {got}, not {digest}")))
        } else if blob.len() as u64 != total {
            Err(OciError::UploadInvalid("the upload's chunks are incomplete; start it again".into()))
        } else {
            self.store_blob(tenant, name, digest, blob).await
        }
    }

    /// A large blob: its chunks copied one at a time into a streamed write of the blob store,
    /// hashed on the way unless this replica hashed them as they came (then a wrong digest is
    /// refused before anything is read). The blob appears only once complete and verified; a
    /// blob already stored (same digest) is kept, after the bytes have been checked.
    #[allow(clippy::too_many_arguments)]
    async fn finish_streamed(
        &self,
        tenant: &Tenant,
        name: &str,
        id: &str,
        state: &SessionState,
        last: Bytes,
        digest: &Digest,
        running: Option<Sha256>,
    ) -> Result<(), OciError> {
        let wrong =
            |got: &Digest| OciError::DigestInvalid(format!("the uploaded content's digest is {got}, not {digest}"));
        let known = running.map(|mut hasher| {
            hasher.update(&last);
            Digest::from_hasher(hasher)
        });
        if let Some(got) = &known
            && got != digest
        {
            return Err(wrong(got));
        }
        let root = self.repo.oci_root();
        let exists = root.oci_head(&blob_key(digest)).await?.is_some();
        if exists && known.is_some() {
            self.repo.oci_link_blob(tenant, name, digest).await?;
            return Ok(());
        }
        let mut upload = if exists { None } else { Some(root.oci_upload(&blob_key(digest)).await?) };
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let copied: Result<(), OciError> = async {
            for offset in &state.chunks {
                let chunk = self.read_chunk(id, *offset).await?;
                written += chunk.len() as u64;
                hasher.update(&chunk);
                if let Some(upload) = upload.as_mut() {
                    upload.write(chunk).await?;
                }
            }
            written += last.len() as u64;
            hasher.update(&last);
            if let Some(upload) = upload.as_mut()
                && !last.is_empty()
            {
                upload.write(last.clone()).await?;
            }
            Ok(())
        }
        .await;
        let got = Digest::from_hasher(hasher);
        let verdict = copied.and_then(|()| {
            if written != state.size + last.len() as u64 {
                Err(OciError::UploadInvalid("the upload's chunks are incomplete; start it again".into()))
            } else if got != *digest {
                Err(wrong(&got))
            } else {
                Ok(())
            }
        });
        match (verdict, upload) {
            (Err(e), Some(upload)) => {
                upload.abort().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
            (Ok(()), Some(upload)) => {
                upload.finish().await?;
                self.repo.oci_link_blob(tenant, name, digest).await
            }
            (Ok(()), None) => self.repo.oci_link_blob(tenant, name, digest).await,
        }
    }

    async fn read_chunk(&self, id: &str, offset: u64) -> Result<Bytes, OciError> {
        let chunk = self.repo.oci_root().oci_read(&["uploads", id, &chunk_name(offset)]).await?;
        chunk.ok_or_else(|| OciError::UploadUnknown(id.to_owned()))
    }

    /// Stores a complete blob sent in one request (`POST ?digest=`).
    pub async fn put_blob(&self, tenant: &Tenant, name: &str, digest: &Digest, blob: Bytes) -> Result<(), OciError> {
        if blob.len() as u64 > self.limits.max_size {
            return Err(OciError::TooLarge(self.limits.max_size));
        }
        let got = Digest::of(&blob);
        if got != *digest {
            return Err(OciError::DigestInvalid(format!("the uploaded content's digest is {got}, not {digest}")));
        }
        self.store_blob(tenant, name, digest, blob).await
    }

    async fn store_blob(&self, tenant: &Tenant, name: &str, digest: &Digest, blob: Bytes) -> Result<(), OciError> {
        match self.repo.oci_root().oci_put(&blob_key(digest), blob, true).await {
            Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.repo.oci_link_blob(tenant, name, digest).await?;
        tracing::debug!(repository = %label(tenant, name), %digest, "blob stored");
        Ok(())
    }

    /// Cancels a session.
    pub async fn cancel(&self, tenant: &Tenant, name: &str, id: &str) -> Result<(), OciError> {
        let state = self.load(tenant, name, id).await?;
        self.discard(id, Some(&state.owner)).await;
        Ok(())
    }

    /// Deletes a session's objects (best effort: a leftover is swept later).
    async fn discard(&self, id: &str, owner: Option<&str>) {
        self.remove_marker(id, owner).await;
        {
            let mut local = self.local.lock();
            local.remove(id);
            report_open(local.len());
        }
        let root = self.repo.oci_root();
        if let Err(e) = root.oci_delete(&state_key(id)).await {
            tracing::warn!(upload = id, error = %e, "cannot delete an upload session's state");
        }
        match root.oci_list(&["uploads", id]).await {
            Ok(objects) => {
                for object in objects {
                    if let Err(e) = root.oci_delete(&["uploads", id, &object.file]).await {
                        tracing::warn!(upload = id, error = %e, "cannot delete an upload chunk");
                    }
                }
            }
            Err(e) => tracing::warn!(upload = id, error = %e, "cannot list an upload session"),
        }
    }

    /// Removes every session (of any replica) not touched for the session lifetime, and
    /// chunks left without a state; returns how many sessions were removed.
    pub async fn sweep(&self) -> Result<usize, OciError> {
        let root = self.repo.oci_root();
        let cutoff = std::time::SystemTime::now().checked_sub(self.limits.lifetime).unwrap_or(std::time::UNIX_EPOCH);
        // A session's last activity is its newest object (state or chunk).
        let mut newest: HashMap<String, std::time::SystemTime> = HashMap::new();
        for object in root.oci_list(&["uploads"]).await? {
            let Some((id, _)) = object.file.split_once('/') else { continue };
            let slot = newest.entry(id.to_owned()).or_insert(std::time::UNIX_EPOCH);
            *slot = (*slot).max(object.last_modified);
        }
        let mut removed = 0;
        for (id, touched) in &newest {
            if *touched < cutoff {
                self.discard(id, None).await;
                removed += 1;
            }
        }
        // Markers of sessions whose objects are gone (a discard cut short) or that expired.
        for marker in root.oci_list(&["sessions"]).await? {
            let id = marker.file.rsplit('-').next().unwrap_or("");
            let alive = newest.get(id).is_some_and(|touched| *touched >= cutoff);
            if !alive
                && marker.last_modified < cutoff
                && let Err(e) = root.oci_delete(&["sessions", &marker.file]).await
            {
                tracing::warn!(marker = marker.file, error = %e, "cannot delete an upload session's marker");
            }
        }
        let expired = Timestamp::now() - self.limits.lifetime;
        let mut local = self.local.lock();
        local.retain(|_, s| s.started > expired);
        report_open(local.len());
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RepoOptions;
    use chartroom_storage::Storage;

    async fn two_replicas(limits: UploadLimits) -> (Uploads, Uploads, Storage) {
        let storage = Storage::memory();
        let options = RepoOptions { poll_interval: None, ..RepoOptions::default() };
        let (a, _) = Repository::open(storage.clone(), options.clone()).await.unwrap();
        let (b, _) = Repository::open(storage.clone(), options).await.unwrap();
        (Uploads::new(a, limits.clone()), Uploads::new(b, limits), storage)
    }

    fn root() -> Tenant {
        Tenant::root()
    }

    #[tokio::test]
    async fn a_session_started_on_one_replica_finishes_on_another() {
        let (a, b, storage) = two_replicas(UploadLimits::with_max_size(1 << 20)).await;
        let blob = Bytes::from_static(b"hello, chunked world");
        let digest = Digest::of(&blob);
        let s = a.start(&root(), "art", "ci").await.unwrap();
        a.append(&root(), "art", &s.id, Some(0), blob.slice(..5)).await.unwrap();
        // Out of order: refused, the session keeps its 5 bytes.
        let skipped = b.append(&root(), "art", &s.id, Some(9), blob.slice(9..)).await;
        assert!(matches!(skipped, Err(OciError::ChunkOutOfOrder { got: 9, size: 5 })));
        b.append(&root(), "art", &s.id, Some(5), blob.slice(5..12)).await.unwrap();
        // Another repository does not see the session.
        assert!(matches!(b.status(&root(), "other", &s.id).await, Err(OciError::UploadUnknown(_))));
        assert_eq!(a.status(&root(), "art", &s.id).await.unwrap().size, 12);
        // Not visible before the end.
        assert!(storage.oci_head(&blob_key(&digest)).await.unwrap().is_none());
        a.finish(&root(), "art", &s.id, blob.slice(12..), &digest).await.unwrap();
        assert_eq!(storage.oci_read(&blob_key(&digest)).await.unwrap().unwrap(), blob);
        assert!(storage.oci_list(&["uploads"]).await.unwrap().is_empty(), "session objects removed");
        assert!(matches!(a.status(&root(), "art", &s.id).await, Err(OciError::UploadUnknown(_))));
    }

    #[tokio::test]
    async fn wrong_digest_and_oversize_store_nothing() {
        let (a, _, storage) = two_replicas(UploadLimits::with_max_size(8)).await;
        let s = a.start(&root(), "art", "ci").await.unwrap();
        a.append(&root(), "art", &s.id, None, Bytes::from_static(b"1234")).await.unwrap();
        let wrong = Digest::of(b"other");
        let got = a.finish(&root(), "art", &s.id, Bytes::from_static(b"5678"), &wrong).await;
        assert!(matches!(got, Err(OciError::DigestInvalid(_))), "{got:?}");
        assert!(storage.oci_list(&["blobs"]).await.unwrap().is_empty());
        let s = a.start(&root(), "art", "ci").await.unwrap();
        let big = a.append(&root(), "art", &s.id, None, Bytes::from_static(b"123456789")).await;
        assert!(matches!(big, Err(OciError::TooLarge(8))));
        assert!(storage.oci_list(&["uploads"]).await.unwrap().is_empty(), "oversized session removed");
        let whole = a.put_blob(&root(), "art", &Digest::of(b"123456789"), Bytes::from_static(b"123456789")).await;
        assert!(matches!(whole, Err(OciError::TooLarge(8))));
    }

    #[tokio::test]
    async fn large_blobs_are_copied_chunk_by_chunk() {
        let limits = UploadLimits { assemble_in_memory: 0, ..UploadLimits::with_max_size(1 << 20) };
        let (a, b, storage) = two_replicas(limits).await;
        let blob: Bytes = (0..30_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
        let digest = Digest::of(&blob);
        // Hashed here as the chunks came: a wrong digest is refused, nothing is stored.
        let s = a.start(&root(), "big", "ci").await.unwrap();
        a.append(&root(), "big", &s.id, Some(0), blob.slice(..10_000)).await.unwrap();
        let wrong = a.finish(&root(), "big", &s.id, blob.slice(10_000..), &Digest::of(b"other")).await;
        assert!(matches!(wrong, Err(OciError::DigestInvalid(_))));
        assert!(storage.oci_head(&blob_key(&digest)).await.unwrap().is_none());
        // Chunks on two replicas, finished on a third view: re-read, hashed, copied.
        let s = a.start(&root(), "big", "ci").await.unwrap();
        a.append(&root(), "big", &s.id, Some(0), blob.slice(..10_000)).await.unwrap();
        b.append(&root(), "big", &s.id, Some(10_000), blob.slice(10_000..20_000)).await.unwrap();
        let wrong = a.finish(&root(), "big", &s.id, blob.slice(20_000..29_999), &digest).await;
        assert!(matches!(wrong, Err(OciError::DigestInvalid(_))), "a byte short");
        assert!(storage.oci_head(&blob_key(&digest)).await.unwrap().is_none());
        let s = a.start(&root(), "big", "ci").await.unwrap();
        a.append(&root(), "big", &s.id, Some(0), blob.slice(..10_000)).await.unwrap();
        b.append(&root(), "big", &s.id, Some(10_000), blob.slice(10_000..20_000)).await.unwrap();
        a.finish(&root(), "big", &s.id, blob.slice(20_000..), &digest).await.unwrap();
        assert_eq!(storage.oci_read(&blob_key(&digest)).await.unwrap().unwrap(), blob);
        // Again, all on one replica, with the blob already stored: linked, kept.
        let s = b.start(&root(), "other", "ci").await.unwrap();
        b.append(&root(), "other", &s.id, Some(0), blob.slice(..15_000)).await.unwrap();
        b.finish(&root(), "other", &s.id, blob.slice(15_000..), &digest).await.unwrap();
        assert_eq!(b.repo.oci_blob_info(&root(), "other", &digest).await.unwrap().size, 30_000);
        assert!(storage.oci_list(&["uploads"]).await.unwrap().is_empty(), "sessions removed");
    }

    #[tokio::test]
    async fn sessions_are_counted_and_swept() {
        let limits = UploadLimits { per_client: 2, total: 3, ..UploadLimits::with_max_size(100) };
        let (a, b, storage) = two_replicas(limits).await;
        // Counted across replicas: one session on each, then the third is refused on both.
        a.start(&root(), "art", "ci").await.unwrap();
        let second = b.start(&root(), "art", "ci").await.unwrap();
        assert!(matches!(a.start(&root(), "art", "ci").await, Err(OciError::TooManyUploads(_))));
        assert!(matches!(b.start(&root(), "art", "ci").await, Err(OciError::TooManyUploads(_))));
        // A cancelled session frees its place, wherever it is cancelled.
        a.cancel(&root(), "art", &second.id).await.unwrap();
        b.start(&root(), "art", "ci").await.unwrap();
        b.start(&root(), "art", "other").await.unwrap();
        assert!(matches!(a.start(&root(), "art", "third").await, Err(OciError::TooManyUploads(_))));
        // Nothing is old enough to sweep.
        assert_eq!(a.sweep().await.unwrap(), 0);
        // With a zero lifetime every session is abandoned.
        let expired = Uploads::new(a.repo.clone(), UploadLimits { lifetime: Duration::ZERO, ..a.limits.clone() });
        assert_eq!(expired.sweep().await.unwrap(), 3);
        assert!(storage.oci_list(&["uploads"]).await.unwrap().is_empty());
        assert!(storage.oci_list(&["sessions"]).await.unwrap().is_empty(), "markers swept too");
        a.start(&root(), "art", "third").await.unwrap();
    }
}
