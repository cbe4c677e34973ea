//! Chart archives built by hand, for tests and benchmarks (feature `test-support`).
//!
//! One builder for every `.tgz` the tests upload, validate or pull, well formed or not, in the
//! manner of crates.io's `TarballBuilder`. It writes the tar headers itself, so it can produce
//! what `tar::Builder` refuses to (`../x` and `/abs` names, links, devices, duplicate entries, PAX
//! records that lie about sizes), and it streams large zero-filled entries straight into gzip so a
//! decompression bomb never sits in memory.
//!
//! Only dev-dependencies enable the feature (`chartroom-chart = { workspace = true, features =
//! ["test-support"] }`), so release builds do not carry this module.
//!
//! ```
//! use chartroom_chart::testing::{ChartBuilder, TarEntry};
//!
//! // demo/Chart.yaml, demo/values.yaml, demo/templates/configmap.yaml and a README.
//! let good = ChartBuilder::chart("demo", "1.0.0").file("README.md", "hello").build();
//! // The same chart with a symlink in it.
//! let bad = ChartBuilder::chart("demo", "1.0.0").entry(TarEntry::symlink("demo/passwd", "/etc/passwd")).build();
//! assert_ne!(good, bad);
//! ```
//!
//! Builders are test code: they panic (with a message) on misuse, such as a name over 100 bytes
//! used as a link target.

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

/// Modification time of every entry (2023-11-14): fixed, so equal inputs give equal bytes (and
/// equal digests) on every run.
pub const MTIME: u64 = 1_700_000_000;

/// The gzip level of [`ChartBuilder::build`] unless [`ChartBuilder::gzip_level`] says otherwise:
/// flate2's default, and the level `helm package` uses.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

/// `Chart.yaml` of [`ChartBuilder::chart`]: a v2 application chart.
pub fn default_chart_yaml(name: &str, version: &str) -> String {
    format!(
        "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: Test chart {name}\ntype: application\nappVersion: \"1.0\"\n"
    )
}

/// `values.yaml` of [`ChartBuilder::chart`]: a marker naming the chart and version, which
/// [`CONFIGMAP_TEMPLATE`] renders, so a rendered manifest tells which archive it came from.
pub fn default_values_yaml(name: &str, version: &str) -> String {
    format!("marker: {name}-{version}-values\nreplicaCount: 1\n")
}

/// `templates/configmap.yaml` of [`ChartBuilder::chart`]: renders with both Helms.
pub const CONFIGMAP_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  marker: {{ .Values.marker | quote }}\n  chartVersion: {{ .Chart.Version | quote }}\n";

/// gzip of `data` at the default level (for archives that are gzip but not tar, or tar bytes
/// changed after [`ChartBuilder::tar`]).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::new(DEFAULT_GZIP_LEVEL));
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// A chart archive under construction: files under a top folder, plus raw tar entries.
///
/// Entries are written in the order they were added. [`ChartBuilder::file`] puts a file under the
/// top folder and replaces a file of the same path added before (so a test can swap the default
/// `Chart.yaml`); [`ChartBuilder::entry`] appends a [`TarEntry`] with its name as given, never
/// replacing anything (so duplicates and names outside the top folder can be made).
#[derive(Clone, Debug)]
pub struct ChartBuilder {
    top_folder: String,
    items: Vec<Item>,
    gzip_level: u32,
    mtime: u64,
}

#[derive(Clone, Debug)]
enum Item {
    /// A regular file at `<top folder>/<path>` (or `<path>` without a top folder).
    File {
        path: String,
        data: Vec<u8>,
    },
    Raw(TarEntry),
}

impl Default for ChartBuilder {
    fn default() -> Self {
        ChartBuilder::new()
    }
}

impl ChartBuilder {
    /// An archive with no entries and no top folder: [`ChartBuilder::file`] paths are archive
    /// paths.
    pub fn new() -> ChartBuilder {
        ChartBuilder { top_folder: String::new(), items: Vec::new(), gzip_level: DEFAULT_GZIP_LEVEL, mtime: MTIME }
    }

    /// The chart most tests use: top folder `name` holding [`default_chart_yaml`],
    /// [`default_values_yaml`] and [`CONFIGMAP_TEMPLATE`] as `templates/configmap.yaml`. It
    /// renders with both Helms.
    pub fn chart(name: &str, version: &str) -> ChartBuilder {
        ChartBuilder::new()
            .top_folder(name)
            .file("Chart.yaml", default_chart_yaml(name, version))
            .file("values.yaml", default_values_yaml(name, version))
            .file("templates/configmap.yaml", CONFIGMAP_TEMPLATE)
    }

    /// The folder every [`ChartBuilder::file`] goes into (Helm strips it, whatever its name);
    /// empty for none. Applies to files added before and after.
    pub fn top_folder(mut self, name: &str) -> ChartBuilder {
        self.top_folder = name.trim_end_matches('/').to_owned();
        self
    }

    /// A regular file at `path` under the top folder; replaces a file of that path added before.
    pub fn file(mut self, path: &str, data: impl AsRef<[u8]>) -> ChartBuilder {
        let data = data.as_ref().to_vec();
        match self.items.iter_mut().find(|i| matches!(i, Item::File { path: p, .. } if p == path)) {
            Some(Item::File { data: old, .. }) => *old = data,
            _ => self.items.push(Item::File { path: path.to_owned(), data }),
        }
        self
    }

    /// Appends `entry` with its name exactly as given (not under the top folder).
    pub fn entry(mut self, entry: TarEntry) -> ChartBuilder {
        self.items.push(Item::Raw(entry));
        self
    }

    /// Appends every entry of `entries`, in order.
    pub fn entries(self, entries: impl IntoIterator<Item = TarEntry>) -> ChartBuilder {
        entries.into_iter().fold(self, ChartBuilder::entry)
    }

    /// gzip level 0 (store) to 9 (best) of [`ChartBuilder::build`].
    pub fn gzip_level(mut self, level: u32) -> ChartBuilder {
        self.gzip_level = level;
        self
    }

    /// Modification time of every entry, in seconds since the epoch (default [`MTIME`]).
    pub fn mtime(mut self, secs: u64) -> ChartBuilder {
        self.mtime = secs;
        self
    }

    /// The uncompressed tar: the entries, then the two zero blocks that end an archive.
    pub fn tar(&self) -> Vec<u8> {
        self.write_tar(Vec::new())
    }

    /// The `.tgz`: gzip of [`ChartBuilder::tar`], streamed (zero-filled entries never sit in
    /// memory uncompressed).
    pub fn build(&self) -> Vec<u8> {
        let enc = GzEncoder::new(Vec::new(), Compression::new(self.gzip_level));
        self.write_tar(enc).finish().expect("gzip into memory")
    }

    fn write_tar<W: Write>(&self, mut out: W) -> W {
        for item in &self.items {
            let written = match item {
                Item::File { path, data } => {
                    let name =
                        if self.top_folder.is_empty() { path.clone() } else { format!("{}/{path}", self.top_folder) };
                    TarEntry::file(name, data).write(&mut out, self.mtime)
                }
                Item::Raw(entry) => entry.write(&mut out, self.mtime),
            };
            written.expect("write tar into memory");
        }
        out.write_all(&[0; 1024]).expect("write tar into memory");
        out
    }
}

/// One raw tar entry. Its name bytes are copied verbatim into the header (names tar-rs would
/// refuse, such as `../x`, `/abs` or invalid UTF-8, included); a name over 100 bytes gets a GNU
/// long-name record before it, as `tar` writes it.
#[derive(Clone, Debug)]
pub struct TarEntry {
    name: Vec<u8>,
    kind: tar::EntryType,
    data: Data,
    link: Option<Vec<u8>>,
    mode: u32,
}

#[derive(Clone, Debug)]
enum Data {
    Bytes(Vec<u8>),
    /// `n` zero bytes, streamed (never held in memory).
    Zeros(u64),
}

impl TarEntry {
    fn new(name: impl AsRef<[u8]>, kind: tar::EntryType, data: Data, link: Option<&str>) -> TarEntry {
        TarEntry { name: name.as_ref().to_vec(), kind, data, link: link.map(|l| l.as_bytes().to_vec()), mode: 0o644 }
    }

    /// A regular file.
    pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Regular, Data::Bytes(data.as_ref().to_vec()), None)
    }

    /// A regular file of `n` zero bytes, streamed into the archive (a decompression bomb).
    pub fn zeros(name: impl AsRef<[u8]>, n: u64) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Regular, Data::Zeros(n), None)
    }

    /// A directory entry (`name` usually ends with `/`).
    pub fn dir(name: impl AsRef<[u8]>) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Directory, Data::Bytes(Vec::new()), None)
    }

    /// A symbolic link to `target`.
    pub fn symlink(name: impl AsRef<[u8]>, target: &str) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Symlink, Data::Bytes(Vec::new()), Some(target))
    }

    /// A hard link to `target`.
    pub fn hardlink(name: impl AsRef<[u8]>, target: &str) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Link, Data::Bytes(Vec::new()), Some(target))
    }

    /// A character device (1, 3: `/dev/null`).
    pub fn char_device(name: impl AsRef<[u8]>) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Char, Data::Bytes(Vec::new()), None)
    }

    /// A block device (1, 3).
    pub fn block_device(name: impl AsRef<[u8]>) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Block, Data::Bytes(Vec::new()), None)
    }

    /// A named pipe.
    pub fn fifo(name: impl AsRef<[u8]>) -> TarEntry {
        TarEntry::new(name, tar::EntryType::Fifo, Data::Bytes(Vec::new()), None)
    }

    /// A PAX extended header (`x`) holding `records` (`("size", "10")`, `("path", "a/b")`); it
    /// applies to the entry that follows.
    pub fn pax(records: &[(&str, &str)]) -> TarEntry {
        let mut body = Vec::new();
        for (key, value) in records {
            // Each record is "<length> <key>=<value>\n", the length counting its own digits.
            let rest = format!(" {key}={value}\n");
            let mut len = rest.len() + 1;
            while format!("{len}{rest}").len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}{rest}").as_bytes());
        }
        TarEntry::new("PaxHeaders/x", tar::EntryType::XHeader, Data::Bytes(body), None)
    }

    /// The permission bits (default `0o644`).
    pub fn mode(mut self, mode: u32) -> TarEntry {
        self.mode = mode;
        self
    }

    fn size(&self) -> u64 {
        match &self.data {
            Data::Bytes(b) => b.len() as u64,
            Data::Zeros(n) => *n,
        }
    }

    fn write<W: Write>(&self, out: &mut W, mtime: u64) -> io::Result<()> {
        if self.name.len() > 100 {
            // GNU long name: a `././@LongLink` record whose data is the name, NUL-terminated.
            let mut long = self.name.clone();
            long.push(0);
            let record = TarEntry::new("././@LongLink", tar::EntryType::GNULongName, Data::Bytes(long), None);
            record.write(out, 0)?;
        }
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            let n = self.name.len().min(old.name.len());
            old.name[..n].copy_from_slice(&self.name[..n]);
        }
        h.set_size(self.size());
        h.set_mode(self.mode);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(self.kind);
        if let Some(link) = &self.link {
            let old = h.as_old_mut();
            assert!(link.len() <= old.linkname.len(), "test tar link targets are at most 100 bytes");
            old.linkname[..link.len()].copy_from_slice(link);
        }
        if matches!(self.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(1)?;
            h.set_device_minor(3)?;
        }
        h.set_cksum();
        out.write_all(h.as_bytes())?;
        match &self.data {
            Data::Bytes(b) => out.write_all(b)?,
            Data::Zeros(n) => {
                io::copy(&mut io::repeat(0).take(*n), out)?;
            }
        }
        let padding = (512 - self.size() % 512) % 512;
        io::copy(&mut io::repeat(0).take(padding), out)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tgz: &[u8]) -> Vec<String> {
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        ar.entries()
            .expect("entries")
            .map(|e| String::from_utf8_lossy(&e.expect("entry").path_bytes()).into_owned())
            .collect()
    }

    #[test]
    fn a_default_chart_is_what_it_claims() {
        let t = ChartBuilder::chart("h", "1.0.0").file("README.md", "hi").build();
        assert_eq!(names(&t), ["h/Chart.yaml", "h/values.yaml", "h/templates/configmap.yaml", "h/README.md"]);
        let loaded = crate::archive::load_archive(&t, &crate::archive::Limits::default()).expect("valid chart");
        assert_eq!((loaded.metadata.name.as_str(), loaded.metadata.version.as_str()), ("h", "1.0.0"));
    }

    #[test]
    fn a_file_replaces_one_of_its_path_and_the_top_folder_applies_to_all() {
        let t = ChartBuilder::chart("a", "1.0.0").file("values.yaml", "x: 1\n").top_folder("src").build();
        assert_eq!(names(&t), ["src/Chart.yaml", "src/values.yaml", "src/templates/configmap.yaml"]);
        let dup = ChartBuilder::new().file("d/x", "1").entry(TarEntry::file("d/x", "2")).build();
        assert_eq!(names(&dup), ["d/x", "d/x"]);
    }

    #[test]
    fn names_tar_rs_would_refuse_are_written_verbatim() {
        let raw = ChartBuilder::new().entry(TarEntry::file("../evil", "x")).entry(TarEntry::file("/abs", "y")).tar();
        assert_eq!(&raw[..8], b"../evil\0");
        assert_eq!(&raw[512 + 512..512 + 512 + 5], b"/abs\0");
        assert_eq!(raw.len(), 4 * 512 + 1024, "two headers, two padded data blocks, the end marker");
    }

    #[test]
    fn long_names_links_and_zeros() {
        let long = format!("d/{}", "x".repeat(150));
        let t = ChartBuilder::new()
            .entry(TarEntry::file(&long, "abc"))
            .entry(TarEntry::symlink("d/l", "target"))
            .entry(TarEntry::zeros("d/z", 3000))
            .gzip_level(1)
            .build();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&t[..]));
        let mut seen = Vec::new();
        for e in ar.entries().expect("entries") {
            let mut e = e.expect("entry");
            let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned());
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("data");
            seen.push((String::from_utf8_lossy(&e.path_bytes()).into_owned(), link, data.len()));
        }
        assert_eq!(seen, [(long, None, 3), ("d/l".into(), Some("target".into()), 0), ("d/z".into(), None, 3000)]);
    }

    #[test]
    fn equal_inputs_give_equal_bytes() {
        assert_eq!(ChartBuilder::chart("a", "1.0.0").build(), ChartBuilder::chart("a", "1.0.0").build());
        assert_ne!(ChartBuilder::chart("a", "1.0.0").build(), ChartBuilder::chart("a", "1.0.0").mtime(0).build());
    }
}

/// A global allocator that measures, per thread, how far a piece of code makes the heap grow
/// (its peak above where it started), for tests that bound what an input may cost. Declare it
/// in the test binary (`#[global_allocator] static ALLOC: PeakMeter = PeakMeter;`) and call
/// [`PeakMeter::peak_growth`]. Per thread, so tests running beside it do not count; the code
/// measured must run on the calling thread.
pub struct PeakMeter;

std::thread_local! {
    static METER_NOW: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    static METER_PEAK: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

impl PeakMeter {
    fn add(delta: isize) {
        let _ = METER_NOW.try_with(|now| {
            let v = now.get() + delta;
            now.set(v);
            let _ = METER_PEAK.try_with(|peak| {
                if v > peak.get() {
                    peak.set(v);
                }
            });
        });
    }

    /// Runs `f` and returns its result and the most the heap grew (in bytes) above where it was
    /// when `f` started, counting only this thread's allocations.
    pub fn peak_growth<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let start = METER_NOW.with(std::cell::Cell::get);
        METER_PEAK.with(|p| p.set(start));
        let result = f();
        let peak = METER_PEAK.with(std::cell::Cell::get);
        (result, (peak - start).max(0) as usize)
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are kept.
unsafe impl std::alloc::GlobalAlloc for PeakMeter {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        Self::add(layout.size() as isize);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        Self::add(-(layout.size() as isize));
        // SAFETY: `ptr` came from `alloc`/`realloc` above, i.e. from the system allocator.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        Self::add(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`, and `new_size` is the caller's valid size.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
