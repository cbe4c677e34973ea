//! Listing a local folder as object_store's [`LocalFileSystem`] does, with one `stat` per file
//! instead of three.
//!
//! [`LocalFileSystem`] lists through walkdir with links followed: per file a `stat` of its full
//! path to find broken links, walkdir's own `stat`, and a path → URL → [`Path`] round trip. At
//! 100,000 charts that listing was the largest part of a restart. Here a folder is read once
//! (`readdir` gives each entry's type) and each file is `stat`ed relative to the open folder,
//! spread over the cores when the folder is large. The result is the same [`ObjectMeta`]:
//! location, size, `last_modified` and an ETag made as object_store makes it (`"<inode>-<mtime in
//! µs>-<size>"` in hex), which the tests compare with [`LocalFileSystem`]'s own listing.
//!
//! Two differences, both on names object_store cannot list at all: a name that is not UTF-8 or
//! that a [`Path`] cannot hold (a control character) is skipped with a WARN line, where
//! [`LocalFileSystem`] fails the whole listing.
//!
//! [`LocalFileSystem`]: object_store::local::LocalFileSystem

use std::fs::{DirEntry, Metadata, ReadDir};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path as FsPath, PathBuf};
use std::time::SystemTime;

use object_store::ObjectMeta;
use object_store::path::Path;

/// Below this many entries a folder's files are `stat`ed on the calling thread.
const PARALLEL_FROM: usize = 4096;

/// What one folder holds: its files and its sub-folders (as object_store's common prefixes).
#[derive(Debug, Default)]
pub(crate) struct Listed {
    pub objects: Vec<ObjectMeta>,
    pub folders: Vec<Path>,
}

/// One entry of a folder, before its `stat`.
struct Found {
    entry: DirEntry,
    location: Path,
    /// A symbolic link (followed; counted only when it resolves inside the root).
    link: bool,
    folder: bool,
}

/// The files and folders directly in `dir` (the file system path of `prefix`), links followed
/// when they resolve inside `root` (canonical). A missing folder lists as empty.
pub(crate) fn list_folder(root: &FsPath, dir: &FsPath, prefix: &Path) -> io::Result<Listed> {
    let Some(mut reading) = Reading::open(dir.to_owned(), prefix.clone())? else { return Ok(Listed::default()) };
    let (files, _) = reading.read(root, usize::MAX)?;
    let mut folders: Vec<Path> = reading.folders.into_iter().map(|f| f.location).collect();
    // object_store gives common prefixes sorted (a BTreeSet).
    folders.sort();
    Ok(Listed { objects: stat_all(&files), folders })
}

/// A folder part-way through its `readdir`: the folders met so far, the files handed out.
struct Reading {
    entries: ReadDir,
    dir: PathBuf,
    prefix: Path,
    folders: Vec<Found>,
}

impl Reading {
    /// The folder `dir` (the file system path of `prefix`); `None` when it does not exist.
    fn open(dir: PathBuf, prefix: Path) -> io::Result<Option<Reading>> {
        match std::fs::read_dir(&dir) {
            Ok(entries) => Ok(Some(Reading { entries, dir, prefix, folders: Vec::new() })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` more files (no `stat` yet; folders are kept in `folders`), and whether the
    /// folder is read to its end.
    fn read(&mut self, root: &FsPath, limit: usize) -> io::Result<(Vec<Found>, bool)> {
        let mut files = Vec::new();
        for entry in self.entries.by_ref() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            match classify(root, &self.dir, &self.prefix, entry) {
                Some(f) if f.folder => self.folders.push(f),
                Some(f) => files.push(f),
                None => {}
            }
            if files.len() >= limit {
                return Ok((files, false));
            }
        }
        Ok((files, true))
    }
}

/// The [`ObjectMeta`] of each file (spread over the cores for many); a file that disappeared
/// since `readdir` is left out.
fn stat_all(files: &[Found]) -> Vec<ObjectMeta> {
    let stat = |f: &Found| -> Option<ObjectMeta> {
        // A link's target's size, time and inode, as walkdir gives them; a file's own, `stat`ed
        // relative to the open folder.
        let metadata = if f.link { std::fs::metadata(f.entry.path()) } else { f.entry.metadata() };
        metadata.ok().filter(|m| !m.is_dir()).map(|m| object_meta(f.location.clone(), &m))
    };
    if files.len() < PARALLEL_FROM {
        return files.iter().filter_map(stat).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().filter_map(stat).collect::<Vec<_>>()))
            .collect();
        // A panicking `stat` closure is a bug here, not bad input: propagate it.
        parts.into_iter().flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// What a `readdir` entry is, or `None` when it is not listed: a staged upload (`<name>#<digits>`,
/// as object_store skips them), a broken link or one out of the root, or a name a [`Path`] cannot
/// hold.
fn classify(root: &FsPath, dir: &FsPath, prefix: &Path, entry: DirEntry) -> Option<Found> {
    let raw = entry.file_name();
    let Some(name) = raw.to_str() else {
        tracing::warn!(folder = %dir.display(), name = ?raw, "a file name in storage is not UTF-8; not listed");
        return None;
    };
    let joined = if prefix.as_ref().is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
    let location = match Path::parse(&joined) {
        Ok(location) => location,
        Err(e) => {
            tracing::warn!(file = %joined, error = %e, "a file name in storage cannot be a storage key; not listed");
            return None;
        }
    };
    let file_type = entry.file_type().ok()?;
    let (link, folder) = if file_type.is_symlink() {
        let target = std::fs::canonicalize(dir.join(name)).ok()?;
        if !target.starts_with(root) {
            tracing::warn!(file = %location, "a symbolic link in storage leads out of the storage folder; not listed");
            return None;
        }
        (true, target.is_dir())
    } else {
        (false, file_type.is_dir())
    };
    if !folder && staged_upload(name) {
        return None;
    }
    Some(Found { entry, location, link, folder })
}

/// object_store's temporary name for a write in progress: `<name>#<digits>`.
fn staged_upload(name: &str) -> bool {
    match name.split_once('#') {
        Some((_, suffix)) => !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// The [`ObjectMeta`] object_store's local store makes from a file's metadata.
fn object_meta(location: Path, metadata: &Metadata) -> ObjectMeta {
    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let micros = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros();
    let size = metadata.len();
    ObjectMeta {
        location,
        last_modified: modified.into(),
        size,
        e_tag: Some(format!("\"{:x}-{micros:x}-{size:x}\"", metadata.ino())),
        version: None,
    }
}

/// Every file below a folder, folder by folder, a chunk at a time: a listing's first objects
/// come after at most [`TREE_CHUNK`] entries read and `stat`ed, not after the whole tree (the
/// start's storage check asks for one). A folder reached through links under two names is listed
/// under both (as object_store does); a link back to a folder that contains it is not followed.
pub(crate) struct Walker {
    root: PathBuf,
    /// Folders still to read: file system path, prefix, and the folders (resolved) it is in.
    pending: Vec<(PathBuf, Path, Vec<PathBuf>)>,
    /// The folder being read, with the folders (resolved) it is in, itself included.
    current: Option<(Reading, Vec<PathBuf>)>,
}

/// Entries read and files `stat`ed per step of a [`Walker`].
const TREE_CHUNK: usize = 8192;

impl Walker {
    /// The walk of `dir` (the file system path of `prefix`) under `root` (canonical).
    pub(crate) fn new(root: PathBuf, dir: PathBuf, prefix: Path) -> Walker {
        Walker { root, pending: vec![(dir, prefix, Vec::new())], current: None }
    }

    /// The next objects, `None` when the walk is done.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<Vec<ObjectMeta>>> {
        loop {
            let Some((reading, ancestors)) = &mut self.current else {
                let Some((dir, prefix, mut ancestors)) = self.pending.pop() else { return Ok(None) };
                let real = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
                if ancestors.contains(&real) {
                    continue;
                }
                ancestors.push(real);
                self.current = Reading::open(dir, prefix)?.map(|reading| (reading, ancestors));
                continue;
            };
            let (files, done) = reading.read(&self.root, TREE_CHUNK)?;
            if done {
                // Popped in name order.
                reading.folders.sort_by(|a, b| b.location.cmp(&a.location));
                for folder in reading.folders.drain(..) {
                    let name = folder.location.filename().unwrap_or_default().to_owned();
                    self.pending.push((reading.dir.join(name), folder.location, ancestors.clone()));
                }
                self.current = None;
            }
            if !files.is_empty() {
                return Ok(Some(stat_all(&files)));
            }
        }
    }
}
