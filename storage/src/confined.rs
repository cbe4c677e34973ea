//! Local storage that never leaves its root: object_store's [`LocalFileSystem`] follows symbolic
//! links, so a link in the storage folder to `/etc/passwd` named like a chart would be read and
//! served, and a link to a folder elsewhere would be listed and indexed. [`Confined`] resolves
//! every path it reads, lists or writes and treats one that resolves outside the (canonical) root
//! as absent. Links that stay inside the root work as before.
//!
//! It also says what a local failure is where object_store only says "generic error": writing
//! over a folder named like the object is [`io::ErrorKind::IsADirectory`] (a conflict about that
//! name, not an outage), whichever way the write fails.

use std::fmt;
use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use crate::local_list;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};

const STORE: &str = "LocalFileSystem";

/// A [`LocalFileSystem`] confined to its root (see the module documentation).
#[derive(Debug, Clone)]
pub struct Confined {
    inner: Arc<LocalFileSystem>,
    /// The canonical root: every resolved path must start with it.
    root: Arc<PathBuf>,
}

impl fmt::Display for Confined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confined({})", self.inner)
    }
}

impl Confined {
    /// The local store at `root` (which must exist).
    pub fn new(root: &FsPath) -> object_store::Result<Self> {
        let canonical = std::fs::canonicalize(root)
            .map_err(|e| object_store::Error::Generic { store: STORE, source: Box::new(e) })?;
        let inner = LocalFileSystem::new_with_prefix(&canonical)?;
        Ok(Self { inner: Arc::new(inner), root: Arc::new(canonical) })
    }

    /// Whether `path` (an absolute path under the root, which may not exist yet) stays inside
    /// the root once its links are resolved: the deepest part that exists is resolved.
    fn inside(&self, path: &FsPath) -> bool {
        inside(&self.root, path)
    }

    /// `location` as a file system path, if it resolves inside the root; else "not found" (a
    /// link out of the root is, for this store, not there).
    fn resolve(&self, location: &Path) -> object_store::Result<PathBuf> {
        let path = self.inner.path_to_filesystem(location)?;
        if self.inside(&path) {
            Ok(path)
        } else {
            tracing::warn!(file = %location, "a symbolic link in storage leads out of the storage folder; ignored");
            Err(object_store::Error::NotFound {
                path: location.to_string(),
                source: "resolves outside the storage folder".into(),
            })
        }
    }

    /// A failed write over a folder named like the object, said as what it is.
    fn explain_write_error(&self, path: &FsPath, err: object_store::Error) -> object_store::Error {
        let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        match err {
            object_store::Error::AlreadyExists { .. } | object_store::Error::Generic { .. } if is_dir => {
                object_store::Error::Generic {
                    store: STORE,
                    source: Box::new(io::Error::new(io::ErrorKind::IsADirectory, "a folder has that name")),
                }
            }
            other => other,
        }
    }
}

/// Opens `path` for reading, failing with `ELOOP` if its last component is a symbolic link.
fn open_no_follow(path: &FsPath) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// A local failure as object_store's local store reports it.
fn generic(e: io::Error) -> object_store::Error {
    object_store::Error::Generic { store: STORE, source: Box::new(e) }
}

/// See [`Confined::inside`].
fn inside(root: &FsPath, path: &FsPath) -> bool {
    let mut probe = path;
    loop {
        match std::fs::canonicalize(probe) {
            Ok(real) => return real.starts_with(root),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match probe.parent() {
                Some(parent) if parent.starts_with(root) => probe = parent,
                // Above the root: nothing of the path exists below it, nothing to follow.
                _ => return true,
            },
            // Unreadable: the store's own operation reports it.
            Err(_) => return true,
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for Confined {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let path = self.resolve(location)?;
        match self.inner.put_opts(location, payload, opts).await {
            Ok(done) => Ok(done),
            Err(e) => Err(self.explain_write_error(&path, e)),
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.resolve(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.resolve(location)?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Deleting a link deletes the link only (never its target): no check needed.
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let prefix = prefix.cloned().unwrap_or_default();
        let dir = match self.folder_path(&prefix) {
            Ok(dir) => dir,
            Err(e) => return futures::stream::once(std::future::ready(Err(e))).boxed(),
        };
        // A folder that resolves out of the root lists as empty (logged).
        let walker =
            self.listed_inside(&prefix).then(|| local_list::Walker::new(PathBuf::clone(&self.root), dir, prefix));
        futures::stream::unfold(walker, |walker| async move {
            let mut walker = walker?;
            let step = tokio::task::spawn_blocking(move || {
                let chunk = walker.next_chunk();
                (walker, chunk)
            })
            .await;
            match step {
                Ok((walker, Ok(Some(objects)))) => Some((Ok(objects), Some(walker))),
                Ok((_, Ok(None))) => None,
                Ok((_, Err(e))) => Some((Err(generic(e)), None)),
                Err(e) => Some((Err(generic(io::Error::other(e))), None)),
            }
        })
        .flat_map(|chunk| match chunk {
            Ok(objects) => futures::stream::iter(objects.into_iter().map(Ok)).boxed(),
            Err(e) => futures::stream::once(std::future::ready(Err(e))).boxed(),
        })
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let this = self.clone();
        let prefix = prefix.cloned().unwrap_or_default();
        let dir = self.folder_path(&prefix)?;
        let listed = tokio::task::spawn_blocking(move || {
            if !this.listed_inside(&prefix) {
                return Ok(local_list::Listed::default());
            }
            local_list::list_folder(&this.root, &dir, &prefix)
        })
        .await
        .map_err(|e| generic(io::Error::other(e)))?
        .map_err(generic)?;
        Ok(ListResult { common_prefixes: listed.folders, objects: listed.objects, extensions: Default::default() })
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.resolve(from)?;
        let target = self.resolve(to)?;
        match self.inner.copy_opts(from, to, options).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain_write_error(&target, e)),
        }
    }
}

impl Confined {
    /// A whole object, read on the calling thread: the same confinement and the same errors as
    /// `get` followed by reading its body, without object_store's two hand-offs to the blocking
    /// pool per read (open, then read). For callers already on a blocking thread.
    pub(crate) fn read_blocking(&self, location: &Path) -> object_store::Result<Bytes> {
        let not_found =
            |source: io::Error| object_store::Error::NotFound { path: location.to_string(), source: source.into() };
        let open_error = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => not_found(e),
            _ => generic(e),
        };
        // A file directly in the (canonical) root that is not a link is inside the root: opened
        // without following a link, it needs no `canonicalize` (a syscall per path component).
        // A link, or a file in a sub-folder, has its path resolved and checked first.
        let path = self.inner.path_to_filesystem(location)?;
        let direct = path.parent() == Some(self.root.as_path());
        let opened = if direct { open_no_follow(&path) } else { Err(io::Error::from_raw_os_error(libc::ELOOP)) };
        let mut file = match opened {
            Ok(file) => file,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                std::fs::File::open(self.resolve(location)?).map_err(open_error)?
            }
            Err(e) => return Err(open_error(e)),
        };
        let meta = file.metadata().map_err(generic)?;
        if meta.is_dir() {
            // What object_store's local store answers for a folder.
            return Err(not_found(io::Error::new(io::ErrorKind::NotFound, "is directory")));
        }
        let mut body = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        io::Read::read_to_end(&mut file, &mut body).map_err(generic)?;
        Ok(Bytes::from(body))
    }

    /// The file system path of the folder `prefix` names (the root for none).
    fn folder_path(&self, prefix: &Path) -> object_store::Result<PathBuf> {
        if prefix.as_ref().is_empty() { Ok(PathBuf::clone(&self.root)) } else { self.inner.path_to_filesystem(prefix) }
    }

    /// Whether a listed object (or folder) resolves inside the root; logged when it does not.
    fn listed_inside(&self, location: &Path) -> bool {
        let Ok(path) = self.inner.path_to_filesystem(location) else { return true };
        let inside = self.inside(&path);
        if !inside {
            tracing::warn!(file = %location, "a symbolic link in storage leads out of the storage folder; not listed");
        }
        inside
    }
}

#[cfg(test)]
mod tests {
    use object_store::{ObjectStoreExt, PutMode};

    use super::*;

    #[tokio::test]
    async fn links_out_of_the_root_are_not_there() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        std::fs::create_dir(outside.path().join("folder")).unwrap();
        std::fs::write(outside.path().join("folder/b-1.0.0.tgz"), b"b").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a-1.0.0.tgz"), b"a").unwrap();
        std::fs::create_dir(root.join("inner")).unwrap();
        std::fs::write(root.join("inner/c-1.0.0.tgz"), b"c").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("passwd-1.0.0.tgz")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("folder"), root.join("team")).unwrap();
        std::os::unix::fs::symlink(root.join("a-1.0.0.tgz"), root.join("alias-1.0.0.tgz")).unwrap();
        std::os::unix::fs::symlink(root.join("inner"), root.join("linked")).unwrap();

        let store = Confined::new(root).unwrap();
        let get = |p: &str| {
            let store = store.clone();
            let p = Path::from(p);
            async move { store.get(&p).await.map(|_| ()) }
        };
        assert!(matches!(get("passwd-1.0.0.tgz").await, Err(object_store::Error::NotFound { .. })));
        assert!(matches!(get("team/b-1.0.0.tgz").await, Err(object_store::Error::NotFound { .. })));
        assert!(store.head(&Path::from("passwd-1.0.0.tgz")).await.is_err());
        assert!(get("a-1.0.0.tgz").await.is_ok());
        assert!(get("alias-1.0.0.tgz").await.is_ok(), "a link inside the root is followed");
        assert!(get("linked/c-1.0.0.tgz").await.is_ok());

        let mut listed: Vec<String> =
            store.list(None).map(|m| m.unwrap().location.to_string()).collect::<Vec<_>>().await;
        listed.sort();
        assert_eq!(listed, ["a-1.0.0.tgz", "alias-1.0.0.tgz", "inner/c-1.0.0.tgz", "linked/c-1.0.0.tgz"]);
        let top = store.list_with_delimiter(None).await.unwrap();
        let mut objects: Vec<String> = top.objects.iter().map(|m| m.location.to_string()).collect();
        objects.sort();
        assert_eq!(objects, ["a-1.0.0.tgz", "alias-1.0.0.tgz"]);
        let mut folders: Vec<String> = top.common_prefixes.iter().map(ToString::to_string).collect();
        folders.sort();
        assert_eq!(folders, ["inner", "linked"]);
        let in_folder = |prefix: &'static str| {
            let store = store.clone();
            async move {
                let listing = store.list_with_delimiter(Some(&Path::from(prefix))).await.unwrap();
                listing.objects.iter().map(|m| m.location.to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(in_folder("linked").await, ["linked/c-1.0.0.tgz"], "a folder linked inside the root is listed");
        assert!(in_folder("team").await.is_empty(), "a folder linked out of the root is not listed");

        // Never written through a link out of the root either.
        let put = store.put(&Path::from("team/d-1.0.0.tgz"), PutPayload::from_static(b"d")).await;
        assert!(put.is_err(), "{put:?}");
        assert!(!outside.path().join("folder/d-1.0.0.tgz").exists());
    }

    /// The listing is object_store's own, field by field (location, size, time, ETag), on
    /// everything its local store lists: files, folders, links inside the root to either, names
    /// with characters keys encode, and without staged uploads (`<name>#<digits>`).
    #[tokio::test]
    async fn lists_what_object_stores_local_store_lists() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (name, body) in [
            ("a-1.0.0.tgz", &b"a"[..]),
            ("b-2.0.0.tgz", b"bb"),
            ("odd %41 name#x.tgz", b"odd"),
            ("ünïcode-1.0.0.tgz", b"u"),
            ("staged-1.0.0.tgz#12", b"partial"),
        ] {
            std::fs::write(root.join(name), body).unwrap();
        }
        std::fs::create_dir_all(root.join("team/.chartroom")).unwrap();
        std::fs::write(root.join("team/c-1.0.0.tgz"), b"ccc").unwrap();
        std::fs::write(root.join("team/.chartroom/index-state.bin"), b"state").unwrap();
        std::fs::create_dir(root.join("empty")).unwrap();
        // Enough files for the `stat`s to be spread over threads, and for a tree walk to list them
        // in two steps.
        std::fs::create_dir(root.join("many")).unwrap();
        for i in 0..8300 {
            std::fs::write(root.join(format!("many/m-{i}.tgz")), i.to_string()).unwrap();
        }
        std::os::unix::fs::symlink(root.join("a-1.0.0.tgz"), root.join("alias-1.0.0.tgz")).unwrap();
        std::os::unix::fs::symlink(root.join("team"), root.join("linked")).unwrap();
        std::os::unix::fs::symlink(root.join("gone"), root.join("broken-1.0.0.tgz")).unwrap();

        let ours = Confined::new(root).unwrap();
        let theirs = LocalFileSystem::new_with_prefix(std::fs::canonicalize(root).unwrap()).unwrap();
        let sorted = |mut metas: Vec<ObjectMeta>| {
            metas.sort_by(|a, b| a.location.cmp(&b.location));
            metas
        };
        let prefixes = ["team", "linked", "nothing", "many"].map(|p| Some(Path::from(p)));
        for prefix in std::iter::once(None).chain(prefixes) {
            let (a, b) = (
                ours.list_with_delimiter(prefix.as_ref()).await.unwrap(),
                theirs.list_with_delimiter(prefix.as_ref()).await.unwrap(),
            );
            assert_eq!(sorted(a.objects), sorted(b.objects), "{prefix:?}");
            assert_eq!(a.common_prefixes, b.common_prefixes, "{prefix:?}");
            let all = |store: &dyn ObjectStore| store.list(prefix.as_ref()).map(|m| m.unwrap()).collect::<Vec<_>>();
            assert_eq!(sorted(all(&ours).await), sorted(all(&theirs).await), "{prefix:?}");
        }
        let top = ours.list_with_delimiter(None).await.unwrap();
        let names: Vec<&str> = top.objects.iter().map(|m| m.location.as_ref()).collect();
        assert!(names.contains(&"alias-1.0.0.tgz") && !names.contains(&"staged-1.0.0.tgz#12"), "{names:?}");
        assert_eq!(top.objects.len(), 5, "{names:?}");
    }

    /// What object_store's local store cannot list at all (its listing fails): a name a key cannot
    /// hold is skipped, and a link back up the tree is followed once.
    #[tokio::test]
    async fn names_and_loops_object_store_fails_on_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a-1.0.0.tgz"), b"a").unwrap();
        std::fs::write(root.join("bell\u{7}-1.0.0.tgz"), b"b").unwrap();
        std::fs::create_dir(root.join("team")).unwrap();
        std::fs::write(root.join("team/c-1.0.0.tgz"), b"c").unwrap();
        std::os::unix::fs::symlink(root, root.join("team/up")).unwrap();
        let store = Confined::new(root).unwrap();
        let top = store.list_with_delimiter(None).await.unwrap();
        let names: Vec<&str> = top.objects.iter().map(|m| m.location.as_ref()).collect();
        assert_eq!(names, ["a-1.0.0.tgz"]);
        let mut all: Vec<String> = store.list(None).map(|m| m.unwrap().location.to_string()).collect().await;
        all.sort();
        assert_eq!(all, ["a-1.0.0.tgz", "team/c-1.0.0.tgz"]);
    }

    #[tokio::test]
    async fn a_folder_named_like_the_object_is_said_to_be_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x-1.0.0.tgz")).unwrap();
        let store = Confined::new(dir.path()).unwrap();
        let location = Path::from("x-1.0.0.tgz");
        for mode in [PutMode::Create, PutMode::Overwrite] {
            let e = store.put_opts(&location, PutPayload::from_static(b"x"), mode.clone().into()).await.unwrap_err();
            let kind = crate::io_kind(&e);
            assert_eq!(kind, Some(io::ErrorKind::IsADirectory), "{mode:?}: {e}");
        }
    }
}
