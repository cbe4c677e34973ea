//! Local storage that never leaves its root: object_store's [`LocalFileSystem`] follows symbolic
//! links, so a link in the storage folder to `/etc/passwd` named like a chart would be read and
//! served, and a link to a folder elsewhere would be listed and indexed. [`Confined`] resolves
//! every path it reads, lists or writes and treats one that resolves outside the (canonical) root
//! as absent. Links that stay inside the root work as before.
//!
//! It also says what a local failure is where object_store only says "generic error": writing
//! over a folder named like the object is [`io::ErrorKind::IsADirectory`] (a conflict about that
//! name, not an outage), whichever way the write fails.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

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
        let this = self.clone();
        // Each folder met is read once (see `folder_links`); a tenant tree lists many.
        let mut folders: HashMap<PathBuf, Option<Folder>> = HashMap::new();
        self.inner
            .list(prefix)
            .filter(move |item| {
                let keep = match item {
                    Ok(meta) => match this.inner.path_to_filesystem(&meta.location) {
                        Ok(path) => match path.parent() {
                            Some(parent) => {
                                let folder = folders
                                    .entry(parent.to_path_buf())
                                    .or_insert_with(|| this.folder_at(parent.to_path_buf()));
                                match folder {
                                    Some(folder) => this.listed_inside_folder(folder, &meta.location),
                                    None => this.listed_inside(&meta.location),
                                }
                            }
                            None => this.listed_inside(&meta.location),
                        },
                        Err(_) => true,
                    },
                    Err(_) => true,
                };
                std::future::ready(keep)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut listing = self.inner.list_with_delimiter(prefix).await?;
        match self.folder_links(prefix) {
            Some(folder) => listing.objects.retain(|meta| self.listed_inside_folder(&folder, &meta.location)),
            None => listing.objects.retain(|meta| self.listed_inside(&meta.location)),
        }
        listing.common_prefixes.retain(|p| self.listed_inside(p));
        Ok(listing)
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

/// A listed folder: where it is, whether it resolves inside the root, and which of its entries
/// are symbolic links (or of a type `readdir` does not say).
struct Folder {
    path: PathBuf,
    inside: bool,
    links: HashSet<OsString>,
}

impl Confined {
    /// The folder a delimiter listing of `prefix` lists, resolved once, and its links, from one
    /// `readdir` (no `stat` per entry). `None` when it cannot be read: then each listed object is
    /// resolved on its own.
    ///
    /// Resolving every listed object (`realpath`, a `readlink` per path component) was a sixth
    /// of a restart's CPU at 100,000 charts; an object that is not a link, in a folder that
    /// resolves inside the root, is inside, so only links need resolving. (A file replaced by a
    /// link after the listing is still refused when read: reads resolve their path.)
    fn folder_links(&self, prefix: Option<&Path>) -> Option<Folder> {
        let path = match prefix {
            Some(prefix) if !prefix.as_ref().is_empty() => self.inner.path_to_filesystem(prefix).ok()?,
            _ => PathBuf::clone(&self.root),
        };
        self.folder_at(path)
    }

    /// The folder at `path`, resolved, with its links (see [`Confined::folder_links`]).
    fn folder_at(&self, path: PathBuf) -> Option<Folder> {
        let inside = std::fs::canonicalize(&path).ok()?.starts_with(self.root.as_ref());
        let mut links = HashSet::new();
        for entry in std::fs::read_dir(&path).ok()? {
            let entry = entry.ok()?;
            let regular = entry.file_type().is_ok_and(|t| !t.is_symlink());
            if !regular {
                links.insert(entry.file_name());
            }
        }
        Some(Folder { path, inside, links })
    }

    /// [`Confined::listed_inside`] for an object listed in `folder`.
    fn listed_inside_folder(&self, folder: &Folder, location: &Path) -> bool {
        let Ok(path) = self.inner.path_to_filesystem(location) else { return true };
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) if parent == folder.path && !folder.links.contains(name) => {
                if !folder.inside {
                    tracing::warn!(file = %location, "a symbolic link in storage leads out of the storage folder; not listed");
                }
                folder.inside
            }
            _ => self.listed_inside(location),
        }
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
