//! Bounded validation of chart archives (`.tgz`) and file extraction.
//!
//! The rules are those of Helm's loader (`loader.LoadArchive`), stricter where that is safer:
//!
//! * gzip (magic `1f 8b 08`) + tar only; after the gzip member only zero padding may follow,
//!   and after the tar end marker only zeros;
//! * the first path component of every entry is stripped whatever its name (Helm), and every
//!   entry must share that one top-level directory; `\` is the separator of a name that
//!   contains one (archives packaged on Windows);
//! * refused: absolute paths, `..` components, drive letters, a file at the top level,
//!   `Chart.yaml` at the root, links, devices, fifos, sparse files (Helm loads links as empty
//!   files), a PAX size that differs from the header size, non-UTF-8 names;
//! * a path may appear more than once only with identical bytes (`helm package` writes such
//!   repeats, see [`duplicates`]); the repeats are then read as one file. Repeats whose bytes
//!   differ are refused: Helm would silently use one of them;
//! * limits: entry count, decompressed total (counted on the real decompressed stream, tar
//!   headers included), per-file size (counted on the bytes actually read), nesting depth of
//!   packaged subcharts; nested archives share the total and the entry count;
//! * content: `Chart.yaml` through [`Metadata::from_yaml`]; `values.yaml`,
//!   `values.schema.json`, `Chart.lock`, `requirements.yaml`, `requirements.lock` must parse;
//!   subcharts (`charts/<x>/` directories and `charts/<x>.tgz` archives) recursively.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::io::{self, Read};

use flate2::bufread::GzDecoder;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::metadata::{self, Dependency, LenientString, MapOrNull, Metadata, MetadataError};

mod counting;
mod duplicates;

use counting::{Counting, discard};

/// Size, count and depth bounds applied while reading an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The decompressed total must stay below this (exactly this much fails, like Helm).
    pub max_decompressed: u64,
    /// Largest accepted single file.
    pub max_file: u64,
    /// Most tar entries (all nesting levels together).
    pub max_entries: usize,
    /// Deepest accepted nesting of packaged subcharts (`charts/x.tgz` inside `charts/y.tgz`...).
    pub max_nesting: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_decompressed: 100 * 1024 * 1024, max_file: 5 * 1024 * 1024, max_entries: 20_000, max_nesting: 8 }
    }
}

/// Deepest nesting of directory subcharts (`charts/a/charts/b/...`); a stack-safety bound.
const MAX_DIRECTORY_NESTING: u32 = 32;

/// A validated chart archive.
#[derive(Debug, Clone)]
pub struct LoadedChart {
    pub metadata: Metadata,
    /// Lowercase hex SHA-256 of the whole archive.
    pub digest: String,
    /// Size of the archive in bytes.
    pub size: u64,
}

/// A file of a chart, as extracted by [`extract_files`] or [`extract_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// Relative to the chart root, `/` separators, e.g. `templates/pod.yaml`.
    pub path: String,
    pub data: Vec<u8>,
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive is empty")]
    Empty,
    #[error("not a gzipped archive (expected the gzip magic bytes 1f 8b 08)")]
    NotGzip,
    #[error("invalid gzip stream: {0}")]
    Gzip(String),
    #[error("invalid tar archive: {0}")]
    Tar(String),
    #[error("data after the end of the gzip stream is not zero padding")]
    TrailingData,
    #[error("data after the end of the tar archive is not zero padding")]
    TrailingTarData,
    #[error("entry {path:?}: name is not valid UTF-8")]
    NonUtf8Name { path: String },
    #[error("entry {path:?}: chart illegally contains absolute paths")]
    AbsolutePath { path: String },
    #[error("entry {path:?}: chart illegally references parent directory")]
    ParentDirectory { path: String },
    #[error("entry {path:?}: chart contains illegally named files (drive letter or NUL)")]
    IllegalName { path: String },
    #[error("entry {path:?}: chart illegally contains content outside the base directory")]
    OutsideBaseDirectory { path: String },
    #[error("entry {path:?}: chart yaml not in base directory")]
    ChartYamlAtRoot { path: String },
    #[error("entry {path:?}: archive has more than one top-level directory ({first:?} and {other:?})")]
    MultipleTopLevelDirectories { path: String, first: String, other: String },
    #[error("entry {path:?}: {kind} entries are not allowed in a chart archive")]
    ForbiddenEntryType { path: String, kind: String },
    #[error("entry {path:?}: PAX size {pax:?} does not match the header size {header}")]
    PaxSizeMismatch { path: String, pax: String, header: u64 },
    /// The same path twice with different bytes (repeats with identical bytes are accepted).
    #[error("entry {path:?}: duplicate entry with different contents (Helm would silently use only one of them)")]
    DuplicateEntry { path: String },
    #[error("entry {path:?}: truncated entry data")]
    Truncated { path: String },
    #[error("archive has more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("decompressed chart is larger than the maximum size of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("entry {path:?}: decompressed file is larger than the maximum file size of {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    /// [`extract_files_bounded`]: the wanted files are larger than the caller's bound.
    #[error("the requested files unpack to more than {limit} bytes")]
    SelectionTooLarge { limit: u64 },
    #[error("no files in chart archive")]
    NoFiles,
    #[error("Chart.yaml file is missing")]
    ChartYamlMissing,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("cannot load {path}: {reason}")]
    InvalidFile { path: String, reason: String },
    #[error("entry {path:?}: a packaged subchart must be a single file directly under charts/")]
    InvalidSubchartArchive { path: String },
    #[error("entry {path:?}: subcharts are nested more than {limit} levels deep")]
    NestingTooDeep { path: String, limit: u32 },
    #[error("subchart {path}: {source}")]
    Subchart { path: String, source: Box<ArchiveError> },
}

/// Full upload validation (Helm's `loader.LoadArchive`, stricter where safer).
pub fn load_archive(bytes: &[u8], limits: &Limits) -> Result<LoadedChart, ArchiveError> {
    let shared = Shared::new(limits);
    let files = scan(bytes, &shared, &keep_for_load)?;
    let ctx = Ctx { shared: &shared, archive_depth: 0, dir_depth: 0 };
    let metadata = load_files(&as_refs(&files), &ctx, true)?;
    Ok(loaded(bytes, metadata))
}

/// Fast path for archives already in storage: the same path rules and bounds, but only
/// `Chart.yaml` (and a legacy `requirements.yaml`, whose dependencies Helm merges into the
/// metadata) are parsed; other files and subcharts are not validated. For charts whose
/// `apiVersion` is not v1, decompression stops right after `Chart.yaml` (usually the first
/// entry), so indexing costs little more than reading that one file.
pub fn read_metadata(bytes: &[u8], limits: &Limits) -> Result<LoadedChart, ArchiveError> {
    let shared = Shared::new(limits);
    // Only v1 charts can carry dependencies in requirements.yaml: for any other apiVersion the
    // archive is read no further than Chart.yaml (usually its first entry).
    let files = scan_until(bytes, &shared, &|p: &str| p == "Chart.yaml" || p == "requirements.yaml", &|f| {
        f.path == "Chart.yaml" && f.data.as_deref().is_some_and(|d| !declares_api_v1(d))
    })?;
    let ctx = Ctx { shared: &shared, archive_depth: 0, dir_depth: 0 };
    let metadata = load_files(&as_refs(&files), &ctx, false)?;
    Ok(loaded(bytes, metadata))
}

/// Files of the top-level chart (not of subcharts under `charts/`) for which `wanted(path)`
/// is true, in archive order, BOM stripped, with the same path rules and bounds.
pub fn extract_files(
    bytes: &[u8],
    limits: &Limits,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<ChartFile>, ArchiveError> {
    let shared = Shared::new(limits);
    let keep = |p: &str| top_level_file(p) && wanted(p);
    let files = scan(bytes, &shared, &keep)?;
    Ok(files.into_iter().filter_map(|f| f.data.map(|data| ChartFile { path: f.path, data })).collect())
}

/// [`extract_files`] keeping at most `max_kept` bytes of wanted files (checked after each file,
/// so at most `max_kept` plus one file, [`Limits::max_file`], is ever held):
/// [`ArchiveError::SelectionTooLarge`] beyond. For answers built from an archive's contents,
/// whose size must not follow the archive's decompressed size.
pub fn extract_files_bounded(
    bytes: &[u8],
    limits: &Limits,
    wanted: impl Fn(&str) -> bool,
    max_kept: u64,
) -> Result<Vec<ChartFile>, ArchiveError> {
    let shared = Shared::new(limits);
    let keep = |p: &str| top_level_file(p) && wanted(p);
    let kept = Cell::new(0u64);
    let over = |f: &RawFile| {
        kept.set(kept.get() + f.data.as_ref().map_or(0, |d| d.len() as u64));
        kept.get() > max_kept
    };
    let files = scan_until(bytes, &shared, &keep, &over)?;
    if kept.get() > max_kept {
        return Err(ArchiveError::SelectionTooLarge { limit: max_kept });
    }
    Ok(files.into_iter().filter_map(|f| f.data.map(|data| ChartFile { path: f.path, data })).collect())
}

/// Every file of the archive, subcharts included, relative to the chart root, in archive order,
/// BOM stripped, with the same path rules and bounds as [`extract_files`]: the top-level chart's
/// files, directory subcharts file by file (`charts/<x>/...`), packaged subcharts as the archive
/// files they are (`charts/<x>.tgz`, not opened: validate them with [`load_archive`] or open them
/// with this function in turn) and provenance files. Directory entries are not listed (a
/// directory exists through its files).
///
/// Only paths are checked: use [`load_archive`] first to validate the chart itself.
pub fn extract_all(bytes: &[u8], limits: &Limits) -> Result<Vec<ChartFile>, ArchiveError> {
    let shared = Shared::new(limits);
    let files = scan(bytes, &shared, &|_| true)?;
    Ok(files.into_iter().filter_map(|f| f.data.map(|data| ChartFile { path: f.path, data })).collect())
}

/// Whether a Chart.yaml is (or may be) `apiVersion: v1`; unreadable ones count as v1 so that the
/// full scan reports their problem.
fn declares_api_v1(chart_yaml: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Api {
        #[serde(rename = "apiVersion", default)]
        api_version: Option<String>,
    }
    match metadata::parse_yaml_doc::<Api>(chart_yaml) {
        Ok(api) => api.api_version.as_deref().is_none_or(|v| v.is_empty() || v == "v1"),
        Err(_) => true,
    }
}

fn loaded(bytes: &[u8], metadata: Metadata) -> LoadedChart {
    LoadedChart { metadata, digest: hex::encode(Sha256::digest(bytes)), size: bytes.len() as u64 }
}

/// A path that belongs to the top-level chart itself rather than to a subchart.
fn top_level_file(p: &str) -> bool {
    !p.starts_with("charts/") || p.ends_with(".prov")
}

const SPECIAL_FILES: [&str; 6] =
    ["Chart.yaml", "values.yaml", "values.schema.json", "Chart.lock", "requirements.yaml", "requirements.lock"];

/// Files whose content full validation needs (at any subchart level).
fn keep_for_load(p: &str) -> bool {
    let base = p.rsplit('/').next().unwrap_or(p);
    SPECIAL_FILES.contains(&base) || (p.contains("charts/") && base.ends_with(".tgz"))
}

// ---------------------------------------------------------------------------------------------
// Reading the archive.

/// Counters shared by all nesting levels of one load.
struct Shared<'a> {
    limits: &'a Limits,
    total: Cell<u64>,
    entries: Cell<usize>,
    over_total: Cell<bool>,
    gzip_error: RefCell<Option<String>>,
}

impl<'a> Shared<'a> {
    fn new(limits: &'a Limits) -> Self {
        Shared {
            limits,
            total: Cell::new(0),
            entries: Cell::new(0),
            over_total: Cell::new(false),
            gzip_error: RefCell::new(None),
        }
    }

    /// Map an I/O error of the tar/gzip stack to the most precise archive error.
    fn io_error(&self, e: io::Error) -> ArchiveError {
        if self.over_total.get() {
            return ArchiveError::TooLarge { limit: self.limits.max_decompressed };
        }
        if let Some(msg) = self.gzip_error.borrow_mut().take() {
            return ArchiveError::Gzip(msg);
        }
        ArchiveError::Tar(e.to_string())
    }
}

/// One file of an archive: its path relative to the chart root, and its content when the
/// caller asked to keep it (BOM stripped).
struct RawFile {
    path: String,
    data: Option<Vec<u8>>,
}

#[derive(Clone, Copy)]
struct FileRef<'a> {
    path: &'a str,
    data: Option<&'a [u8]>,
}

fn as_refs(files: &[RawFile]) -> Vec<FileRef<'_>> {
    files.iter().map(|f| FileRef { path: &f.path, data: f.data.as_deref() }).collect()
}

/// Decompress and walk the archive, enforcing path rules, entry types and limits.
fn scan(bytes: &[u8], shared: &Shared<'_>, keep: &dyn Fn(&str) -> bool) -> Result<Vec<RawFile>, ArchiveError> {
    scan_until(bytes, shared, keep, &|_| false)
}

/// [`scan`] that stops reading as soon as `stop` says the files kept so far are enough (the rest
/// of the archive is then neither decompressed nor checked).
fn scan_until(
    bytes: &[u8],
    shared: &Shared<'_>,
    keep: &dyn Fn(&str) -> bool,
    stop: &dyn Fn(&RawFile) -> bool,
) -> Result<Vec<RawFile>, ArchiveError> {
    if bytes.is_empty() {
        return Err(ArchiveError::Empty);
    }
    if !bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        return Err(ArchiveError::NotGzip);
    }
    let limits = shared.limits;
    let reader = Counting::new(GzDecoder::new(bytes), shared);
    let mut archive = tar::Archive::new(reader);
    let mut files: Vec<RawFile> = Vec::new();
    // How often each file path occurs; repeats are compared once the walk is over.
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut top: Option<String> = None;

    {
        // With a seek, not tar's zero-filled skip buffer (see `Counting`).
        let entries = archive.entries_with_seek().map_err(|e| shared.io_error(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| shared.io_error(e))?;
            let count = shared.entries.get() + 1;
            shared.entries.set(count);
            if count > limits.max_entries {
                return Err(ArchiveError::TooManyEntries { limit: limits.max_entries });
            }

            let raw_name = entry.path_bytes().into_owned();
            let name = match String::from_utf8(raw_name) {
                Ok(s) => s,
                Err(e) => {
                    return Err(ArchiveError::NonUtf8Name { path: String::from_utf8_lossy(e.as_bytes()).into_owned() });
                }
            };
            let entry_type = entry.header().entry_type();
            if entry_type == tar::EntryType::XGlobalHeader {
                // A PAX global header (e.g. `git archive`) describes no file.
                drain_entry(&mut entry, &name, limits, shared)?;
                continue;
            }
            let split = split_name(&name)?;
            match &top {
                None => top = Some(split.top.clone()),
                Some(first) if *first != split.top => {
                    return Err(ArchiveError::MultipleTopLevelDirectories {
                        path: name,
                        first: first.clone(),
                        other: split.top,
                    });
                }
                Some(_) => {}
            }

            let is_dir = is_directory(entry_type, &name);
            if !is_dir {
                check_entry_type(entry_type, &name)?;
            }
            check_pax_size(&mut entry, &name)?;
            let header_size = entry.header().entry_size().map_err(|e| shared.io_error(e))?;
            if header_size > limits.max_file {
                return Err(ArchiveError::FileTooLarge { path: name, limit: limits.max_file });
            }
            if is_dir {
                drain_entry(&mut entry, &name, limits, shared)?;
                continue;
            }

            let rel = match split.rel {
                Some(rel) => rel,
                None => {
                    return Err(if split.top == "Chart.yaml" {
                        ArchiveError::ChartYamlAtRoot { path: name }
                    } else {
                        ArchiveError::OutsideBaseDirectory { path: name }
                    });
                }
            };
            match seen.entry(rel.clone()) {
                MapEntry::Occupied(mut repeat) => {
                    *repeat.get_mut() += 1;
                    drain_entry(&mut entry, &name, limits, shared)?;
                    continue;
                }
                MapEntry::Vacant(first) => {
                    first.insert(1);
                }
            }
            let data = if keep(&rel) {
                let mut buf = Vec::with_capacity(header_size.min(1 << 20) as usize);
                (&mut entry)
                    .take(limits.max_file.saturating_add(1))
                    .read_to_end(&mut buf)
                    .map_err(|e| shared.io_error(e))?;
                check_read_size(buf.len() as u64, header_size, &name, limits)?;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    buf.drain(..3);
                }
                Some(buf)
            } else {
                drain_entry(&mut entry, &name, limits, shared)?;
                None
            };
            let file = RawFile { path: rel, data };
            let enough = stop(&file);
            files.push(file);
            if enough {
                duplicates::check_identical(bytes, limits, seen)?;
                return Ok(files);
            }
        }
    }

    // After the end-of-archive marker: only zeros, then the gzip trailer, then only zeros.
    let mut reader = archive.into_inner();
    let mut buf = [0u8; 512];
    loop {
        let n = reader.read(&mut buf).map_err(|e| shared.io_error(e))?;
        if n == 0 {
            break;
        }
        if buf.get(..n).is_some_and(|b| b.iter().any(|&x| x != 0)) {
            return Err(ArchiveError::TrailingTarData);
        }
    }
    let rest: &[u8] = reader.inner.into_inner();
    if rest.iter().any(|&b| b != 0) {
        return Err(ArchiveError::TrailingData);
    }

    if files.is_empty() {
        return Err(ArchiveError::NoFiles);
    }
    duplicates::check_identical(bytes, limits, seen)?;
    Ok(files)
}

/// A directory entry: its type says so, or (old archivers) a regular entry named with a
/// trailing separator.
fn is_directory(entry_type: tar::EntryType, name: &str) -> bool {
    entry_type == tar::EntryType::Directory
        || (entry_type == tar::EntryType::Regular && (name.ends_with('/') || name.ends_with('\\')))
}

/// Read (and discard) an entry's data, counting its real size.
fn drain_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
    limits: &Limits,
    shared: &Shared<'_>,
) -> Result<(), ArchiveError> {
    let header_size = entry.size();
    let n = discard(&mut (&mut *entry).take(limits.max_file.saturating_add(1))).map_err(|e| shared.io_error(e))?;
    check_read_size(n, header_size, name, limits)
}

fn check_read_size(read: u64, expected: u64, name: &str, limits: &Limits) -> Result<(), ArchiveError> {
    if read > limits.max_file {
        return Err(ArchiveError::FileTooLarge { path: name.to_owned(), limit: limits.max_file });
    }
    if read != expected {
        return Err(ArchiveError::Truncated { path: name.to_owned() });
    }
    Ok(())
}

fn check_entry_type(t: tar::EntryType, name: &str) -> Result<(), ArchiveError> {
    let kind = match t {
        tar::EntryType::Regular | tar::EntryType::Continuous => return Ok(()),
        tar::EntryType::Symlink => "symlink".to_owned(),
        tar::EntryType::Link => "hard link".to_owned(),
        tar::EntryType::Char => "character device".to_owned(),
        tar::EntryType::Block => "block device".to_owned(),
        tar::EntryType::Fifo => "fifo".to_owned(),
        tar::EntryType::GNUSparse => "sparse file".to_owned(),
        other => format!("type {:?}", char::from(other.as_byte())),
    };
    Err(ArchiveError::ForbiddenEntryType { path: name.to_owned(), kind })
}

/// A PAX `size` record must agree with the header (parsers that disagree see different files).
fn check_pax_size<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<(), ArchiveError> {
    let header_size = match entry.header().entry_size() {
        Ok(s) => s,
        Err(e) => return Err(ArchiveError::Tar(format!("entry {name:?}: {e}"))),
    };
    let exts = match entry.pax_extensions() {
        Ok(Some(exts)) => exts,
        Ok(None) => return Ok(()),
        Err(e) => return Err(ArchiveError::Tar(format!("entry {name:?}: {e}"))),
    };
    for ext in exts {
        let ext = ext.map_err(|e| ArchiveError::Tar(format!("entry {name:?}: {e}")))?;
        if ext.key_bytes() == b"size" {
            let value = String::from_utf8_lossy(ext.value_bytes()).into_owned();
            if value.trim().parse::<u64>().ok() != Some(header_size) {
                return Err(ArchiveError::PaxSizeMismatch { path: name.to_owned(), pax: value, header: header_size });
            }
        }
    }
    Ok(())
}

/// An entry name split the way Helm does: the first component, and the cleaned rest
/// (`None` when nothing is left, i.e. the entry is at the top level).
struct SplitName {
    top: String,
    rel: Option<String>,
}

fn split_name(name: &str) -> Result<SplitName, ArchiveError> {
    let err_path = || name.to_owned();
    if name.contains('\0') {
        return Err(ArchiveError::IllegalName { path: err_path() });
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(ArchiveError::AbsolutePath { path: err_path() });
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Err(ArchiveError::ParentDirectory { path: err_path() });
    }
    let is_drive = |s: &str| {
        let b = s.as_bytes();
        b.len() >= 2
            && b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.get(1) == Some(&b':')
            && matches!(b.get(2), None | Some(b'/') | Some(b'\\'))
    };
    if is_drive(name) {
        return Err(ArchiveError::IllegalName { path: err_path() });
    }
    let delimiter = if name.contains('\\') { '\\' } else { '/' };
    let (top, rest) = match name.split_once(delimiter) {
        Some((top, rest)) => (top, rest),
        None => (name, ""),
    };
    if top == "Chart.yaml" && !rest.is_empty() {
        return Err(ArchiveError::ChartYamlAtRoot { path: err_path() });
    }
    let rest = rest.replace('\\', "/");
    if rest.starts_with('/') {
        return Err(ArchiveError::AbsolutePath { path: err_path() });
    }
    let cleaned: Vec<&str> = rest.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let rel = cleaned.join("/");
    // Helm refuses any cleaned path that merely starts with "..", such as "..data".
    if rel.starts_with("..") {
        return Err(ArchiveError::ParentDirectory { path: err_path() });
    }
    if is_drive(&rel) {
        return Err(ArchiveError::IllegalName { path: err_path() });
    }
    Ok(SplitName { top: top.to_owned(), rel: if rel.is_empty() { None } else { Some(rel) } })
}

// ---------------------------------------------------------------------------------------------
// Chart content.

struct Ctx<'s, 'l> {
    shared: &'s Shared<'l>,
    /// How many packaged archives deep we are (0 = the uploaded archive).
    archive_depth: u32,
    /// How many directory subcharts deep we are within the current archive.
    dir_depth: u32,
}

/// `Chart.lock` / `requirements.lock` (Helm `chart.Lock`); content is only type-checked.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Lock {
    #[serde(default)]
    generated: Option<LenientString>,
    #[serde(default)]
    digest: Option<LenientString>,
    #[serde(default)]
    dependencies: Option<Vec<Option<Dependency>>>,
}

fn invalid_file(path: &str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::InvalidFile { path: path.to_owned(), reason: reason.into() }
}

/// Helm's `LoadFiles` for one chart level: `files` paths are relative to the chart root.
/// With `full`, also the other special files and subcharts are validated.
fn load_files(files: &[FileRef<'_>], ctx: &Ctx<'_, '_>, full: bool) -> Result<Metadata, ArchiveError> {
    if files.is_empty() {
        return Err(ArchiveError::NoFiles);
    }
    let chart_yaml = files.iter().find(|f| f.path == "Chart.yaml").ok_or(ArchiveError::ChartYamlMissing)?;
    let mut md = Metadata::from_yaml(chart_yaml.data.unwrap_or_default())?;

    // Subcharts by their directory (or archive) name under charts/, in first-seen order.
    let mut subcharts: Vec<(&str, Vec<FileRef<'_>>)> = Vec::new();
    for f in files {
        let data = f.data.unwrap_or_default();
        match f.path {
            "requirements.yaml" => {
                let req = metadata::parse_yaml_doc::<Option<metadata::Requirements>>(data)
                    .map_err(|e| invalid_file(f.path, e))?;
                if let Some(deps) = req.and_then(|r| r.dependencies) {
                    md.dependencies = deps;
                    md.validate()?;
                }
            }
            _ if !full => {}
            "values.yaml" => {
                metadata::parse_yaml_docs::<MapOrNull>(data).map_err(|e| invalid_file(f.path, e))?;
            }
            "values.schema.json" => {
                serde_json::from_slice::<serde::de::IgnoredAny>(data)
                    .map_err(|e| invalid_file(f.path, e.to_string()))?;
            }
            "Chart.lock" | "requirements.lock" => {
                let lock = metadata::parse_yaml_doc::<Option<Lock>>(data).map_err(|e| invalid_file(f.path, e))?;
                if let Some(generated) = lock.and_then(|l| l.generated)
                    && !generated.0.is_empty()
                    && !looks_like_timestamp(&generated.0)
                {
                    return Err(invalid_file(f.path, format!("generated {:?} is not a timestamp", generated.0)));
                }
            }
            path => {
                if let Some(sub) = path.strip_prefix("charts/") {
                    if path.ends_with(".prov") {
                        continue;
                    }
                    let (cname, inner) = match sub.split_once('/') {
                        Some((c, i)) => (c, Some(i)),
                        None => (sub, None),
                    };
                    let idx = match subcharts.iter().position(|(n, _)| *n == cname) {
                        Some(i) => i,
                        None => {
                            subcharts.push((cname, Vec::new()));
                            subcharts.len() - 1
                        }
                    };
                    if let Some((_, list)) = subcharts.get_mut(idx) {
                        list.push(FileRef { path: inner.unwrap_or(""), data: f.data });
                    }
                }
            }
        }
    }
    if !full {
        return Ok(md);
    }

    for (cname, list) in subcharts {
        if cname.starts_with('_') || cname.starts_with('.') {
            continue;
        }
        let sub_path = format!("charts/{cname}");
        let wrap = |e: ArchiveError| ArchiveError::Subchart { path: sub_path.clone(), source: Box::new(e) };
        if cname.ends_with(".tgz") {
            let only = match list.as_slice() {
                [only] if only.path.is_empty() => *only,
                _ => {
                    return Err(ArchiveError::InvalidSubchartArchive { path: sub_path });
                }
            };
            let limit = ctx.shared.limits.max_nesting;
            if ctx.archive_depth >= limit {
                return Err(ArchiveError::NestingTooDeep { path: sub_path, limit });
            }
            let nested = scan(only.data.unwrap_or_default(), ctx.shared, &keep_for_load).map_err(wrap)?;
            let sub_ctx = Ctx { shared: ctx.shared, archive_depth: ctx.archive_depth + 1, dir_depth: 0 };
            load_files(&as_refs(&nested), &sub_ctx, true).map_err(wrap)?;
        } else {
            if ctx.dir_depth >= MAX_DIRECTORY_NESTING {
                return Err(ArchiveError::NestingTooDeep { path: sub_path, limit: MAX_DIRECTORY_NESTING });
            }
            let inner: Vec<FileRef<'_>> = list.into_iter().filter(|f| !f.path.is_empty()).collect();
            let sub_ctx = Ctx { shared: ctx.shared, archive_depth: ctx.archive_depth, dir_depth: ctx.dir_depth + 1 };
            if inner.is_empty() {
                return Err(wrap(ArchiveError::ChartYamlMissing));
            }
            load_files(&inner, &sub_ctx, true).map_err(wrap)?;
        }
    }
    Ok(md)
}

/// `YYYY-MM-DD...`: what Go's time decoding of `Lock.Generated` could accept.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b.iter().take(10).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        let s = split_name("foo/templates/x.yaml").unwrap();
        assert_eq!(s.top, "foo");
        assert_eq!(s.rel.as_deref(), Some("templates/x.yaml"));
        let s = split_name("foo\\charts\\a\\Chart.yaml").unwrap();
        assert_eq!(s.rel.as_deref(), Some("charts/a/Chart.yaml"));
        let s = split_name("foo/./a//b/").unwrap();
        assert_eq!(s.rel.as_deref(), Some("a/b"));
        assert!(split_name("foo").unwrap().rel.is_none());
        assert!(split_name("foo/").unwrap().rel.is_none());
        assert!(matches!(split_name("/etc/passwd"), Err(ArchiveError::AbsolutePath { .. })));
        assert!(matches!(split_name("foo//etc"), Err(ArchiveError::AbsolutePath { .. })));
        assert!(matches!(split_name("foo/../x"), Err(ArchiveError::ParentDirectory { .. })));
        assert!(matches!(split_name("foo\\..\\x"), Err(ArchiveError::ParentDirectory { .. })));
        assert!(matches!(split_name("foo/..data"), Err(ArchiveError::ParentDirectory { .. })));
        assert!(matches!(split_name("c:/x/y"), Err(ArchiveError::IllegalName { .. })));
        assert!(matches!(split_name("foo\\c:\\x"), Err(ArchiveError::IllegalName { .. })));
        assert!(matches!(split_name("Chart.yaml/x"), Err(ArchiveError::ChartYamlAtRoot { .. })));
    }

    #[test]
    fn keep_rules() {
        assert!(keep_for_load("Chart.yaml"));
        assert!(keep_for_load("charts/a/values.yaml"));
        assert!(keep_for_load("charts/a-1.0.0.tgz"));
        assert!(!keep_for_load("templates/a.yaml"));
        assert!(!keep_for_load("a.tgz"));
        assert!(top_level_file("templates/a.yaml"));
        assert!(top_level_file("charts/a-1.0.0.tgz.prov"));
        assert!(!top_level_file("charts/a/values.yaml"));
    }

    #[test]
    fn timestamps() {
        assert!(looks_like_timestamp("2024-01-02T03:04:05.123456789Z"));
        assert!(!looks_like_timestamp("yesterday"));
    }
}
