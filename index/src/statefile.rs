//! The persisted state's binary layout (`.chartroom/index-state.bin`, issue 16): a restart
//! restores every entry from its saved, already-serialized parts without parsing `Chart.yaml`
//! metadata or rendering YAML again.
//!
//! ```text
//! file   = magic "CRSTATE\n" · format u32 · header frame · block frame*
//! frame  = count u32 · length u32 · payload[length] · crc32(count · length · payload) u32
//! header = generated (seconds i64, nanoseconds i32) · entries u64 · flags u8 · chart URL base opt-str
//! block  = `count` entries, each:
//!          file str · size u64 · etag opt-str · digest str · created (i64, i32) · name str ·
//!          version str · metadata JSON str · YAML fragment bytes · provenance JSON opt-str
//! str    = length u32 · bytes (UTF-8);  opt-str = u32::MAX for none, else a str
//! ```
//!
//! Integers are little-endian. Each block carries its own checksum, so one damaged block costs
//! only its entries (they are read again from their archives); a damaged header or an unknown
//! format costs the whole state, never the start. The checksum guards against damage, not
//! against edits: see "The persisted state is a cache" in the README.
//!
//! Reading streams: [`Reader`] hands out one checked block at a time and each entry as views
//! into the file's bytes ([`SavedRef`]); the caller keeps what storage still holds.

use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;

use crate::entry::{Entry, EntryError, RenderConfig, Restore, StoredObject};
use crate::provenance::ProvenanceRecord;

/// Name of the state object under the repository's `.chartroom/` folder.
pub const STATE_FILE: &str = "index-state.bin";
const MAGIC: &[u8; 8] = b"CRSTATE\n";
/// The layout above. (Format 1 was the JSON `index-state.json`, see `state`.)
const FORMAT: u32 = 2;
/// A block closes after this many entries or bytes, whichever comes first: a damaged block
/// costs a bounded number of archive reads.
/// (Small in the tests, so that a few entries make several blocks.)
const BLOCK_ENTRIES: u32 = if cfg!(test) { 4 } else { 1024 };
const BLOCK_BYTES: usize = 256 * 1024;
const NONE: u32 = u32::MAX;
const FLAG_YAML: u8 = 1;

/// What the state says about all its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub generated: Timestamp,
    /// Entries written (the blocks that survive may hold fewer).
    pub entries: u64,
    /// The chart URL base the YAML fragments were rendered with.
    pub chart_url: Option<String>,
    /// Whether entries carry YAML fragments (not when the body was served as JSON).
    pub yaml: bool,
}

impl Header {
    /// Whether the saved fragments are what `render` would render (else every entry is
    /// rendered again from its metadata).
    pub fn fits(&self, render: &RenderConfig) -> bool {
        !render.format.renders_yaml() || (self.yaml && self.chart_url == render.chart_url)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("not a Chartroom index state")]
    NotAState,
    #[error("index state has unsupported format {0}")]
    Format(u32),
    #[error("index state header is damaged: {0}")]
    Header(&'static str),
    #[error("cannot encode the index state: {0}")]
    Encode(String),
}

/// Serializes `entries` (each with its YAML fragment, empty for a JSON body) as rendered with
/// `render`. CPU-bound: run off the async runtime.
pub fn encode(
    generated: Timestamp,
    render: &RenderConfig,
    entries: &[(Arc<Entry>, Bytes)],
) -> Result<Vec<u8>, StateFileError> {
    let yaml = render.format.renders_yaml();
    let estimate: usize = entries.iter().map(|(e, y)| e.metadata_json().len() + y.len() + e.file().len() + 160).sum();
    let mut out = Vec::with_capacity(estimate + 64);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, FORMAT);
    let mut header = Vec::with_capacity(64);
    put_time(&mut header, generated);
    header.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    header.push(if yaml { FLAG_YAML } else { 0 });
    put_opt_str(&mut header, render.chart_url.as_deref())?;
    put_frame(&mut out, 1, &header)?;
    let mut block = Vec::with_capacity(BLOCK_BYTES + 4096);
    let mut count = 0;
    for (entry, fragment) in entries {
        put_entry(&mut block, entry, if yaml { fragment } else { &[] })?;
        count += 1;
        if count == BLOCK_ENTRIES || block.len() >= BLOCK_BYTES {
            put_frame(&mut out, count, &block)?;
            block.clear();
            count = 0;
        }
    }
    if count > 0 {
        put_frame(&mut out, count, &block)?;
    }
    Ok(out)
}

fn put_entry(out: &mut Vec<u8>, e: &Entry, yaml: &[u8]) -> Result<(), StateFileError> {
    put_str(out, e.file())?;
    out.extend_from_slice(&e.size().to_le_bytes());
    put_opt_str(out, e.etag())?;
    put_str(out, &e.digest())?;
    put_time(out, e.created);
    put_str(out, e.name())?;
    put_str(out, e.version())?;
    put_str(out, e.metadata_json())?;
    put_bytes(out, yaml)?;
    match e.provenance() {
        Some(p) => put_str(out, &serde_json::to_string(p).map_err(|e| StateFileError::Encode(e.to_string()))?),
        None => {
            put_u32(out, NONE);
            Ok(())
        }
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    out.extend_from_slice(&t.as_second().to_le_bytes());
    out.extend_from_slice(&t.subsec_nanosecond().to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<(), StateFileError> {
    match u32::try_from(b.len()) {
        Ok(len) if len != NONE => {
            put_u32(out, len);
            out.extend_from_slice(b);
            Ok(())
        }
        _ => Err(StateFileError::Encode(format!("a field of {} bytes", b.len()))),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), StateFileError> {
    put_bytes(out, s.as_bytes())
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) -> Result<(), StateFileError> {
    match s {
        Some(s) => put_str(out, s),
        None => {
            put_u32(out, NONE);
            Ok(())
        }
    }
}

fn put_frame(out: &mut Vec<u8>, count: u32, payload: &[u8]) -> Result<(), StateFileError> {
    let len = u32::try_from(payload.len()).map_err(|_| StateFileError::Encode("a block over 4 GiB".to_owned()))?;
    let start = out.len();
    put_u32(out, count);
    put_u32(out, len);
    out.extend_from_slice(payload);
    let crc = crc32(&out[start..]);
    put_u32(out, crc);
    Ok(())
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Reads a state block by block.
pub struct Reader {
    bytes: Bytes,
    pos: usize,
    header: Header,
}

/// A block whose checksum holds: its entries, read one by one with [`Block::entries`].
pub struct Block {
    payload: Bytes,
    count: u32,
}

/// The entries of a [`Block`].
pub struct Entries<'a> {
    cur: Cursor<'a>,
    left: u32,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<SavedRef<'a>, BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let left = self.left;
        let at = self.cur.pos;
        let cur = &mut self.cur;
        let saved = (|| {
            Some(SavedRef {
                file: cur.str()?,
                size: cur.u64()?,
                etag: cur.opt_str()?,
                digest: cur.str()?,
                created: cur.time()?,
                name: cur.str()?,
                version: cur.str()?,
                metadata_json: cur.str()?,
                yaml: cur.bytes()?,
                provenance: cur.opt_str()?,
            })
        })();
        if saved.is_some() {
            self.left -= 1;
        } else {
            self.left = 0;
        }
        Some(saved.ok_or(BlockError { entries: left, at, reason: "malformed entry" }))
    }
}

/// A block that cannot be used: its entries (as many as its damaged count says) are lost.
#[derive(Debug, thiserror::Error)]
#[error("damaged block of {entries} entries at offset {at}: {reason}")]
pub struct BlockError {
    pub entries: u32,
    pub at: usize,
    pub reason: &'static str,
}

impl Reader {
    /// Checks the magic, the format and the header.
    pub fn open(bytes: Bytes) -> Result<Reader, StateFileError> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(StateFileError::NotAState);
        }
        let format = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if format != FORMAT {
            return Err(StateFileError::Format(format));
        }
        let mut reader = Reader {
            bytes,
            pos: 12,
            header: Header { generated: Timestamp::UNIX_EPOCH, entries: 0, chart_url: None, yaml: false },
        };
        let (_, payload) = reader.frame().map_err(|e| StateFileError::Header(e.reason))?;
        let mut cur = Cursor { bytes: &payload, pos: 0 };
        let header = (|| {
            let generated = cur.time()?;
            let entries = cur.u64()?;
            let flags = cur.u8()?;
            let chart_url = cur.opt_str()?.map(str::to_owned);
            Some(Header { generated, entries, chart_url, yaml: flags & FLAG_YAML != 0 })
        })();
        reader.header = header.ok_or(StateFileError::Header("malformed header fields"))?;
        Ok(reader)
    }

    /// The state's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next block; `None` at the end. After a damaged block the next is looked for where its
    /// length says it ends (a damaged length makes the following frames fail their checksums).
    pub fn next_block(&mut self) -> Option<Result<Block, BlockError>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        Some(self.frame().map(|(count, payload)| Block { payload, count }))
    }

    fn frame(&mut self) -> Result<(u32, Bytes), BlockError> {
        let at = self.pos;
        let rest = &self.bytes[at..];
        let fail = |entries, reason| BlockError { entries, at, reason };
        if rest.len() < 12 {
            self.pos = self.bytes.len();
            return Err(fail(0, "truncated"));
        }
        let count = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let Some(body) = rest.get(..8 + len + 4) else {
            self.pos = self.bytes.len();
            return Err(fail(count, "truncated"));
        };
        self.pos = at + body.len();
        let (framed, crc) = body.split_at(8 + len);
        if crc32(framed) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(fail(count, "checksum mismatch"));
        }
        Ok((count, self.bytes.slice(at + 8..at + 8 + len)))
    }
}

/// One saved entry, borrowed from its block.
#[derive(Debug)]
pub struct SavedRef<'a> {
    pub file: &'a str,
    pub size: u64,
    pub etag: Option<&'a str>,
    pub digest: &'a str,
    pub created: Timestamp,
    pub name: &'a str,
    pub version: &'a str,
    pub metadata_json: &'a str,
    pub yaml: &'a [u8],
    pub provenance: Option<&'a str>,
}

impl Block {
    /// How many entries the block holds.
    #[cfg(test)]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Its entries, in order. A malformed entry ends the block (nothing after a bad length can
    /// be trusted): it comes as an `Err` counting the entries lost with it.
    pub fn entries(&self) -> Entries<'_> {
        Entries { cur: Cursor { bytes: &self.payload, pos: 0 }, left: self.count }
    }

    /// `saved` (an entry of this block) as an index entry. Its YAML fragment stays a view into
    /// the state's bytes until the first snapshot copies it into a page. Rendered again from its
    /// metadata when the saved fragments do not fit `render` (`fits == false`, see
    /// [`Header::fits`]); its metadata then passes the upload's rules.
    pub fn to_entry(&self, saved: &SavedRef<'_>, render: &RenderConfig, fits: bool) -> Result<Entry, EntryError> {
        let object =
            StoredObject { file: saved.file.to_owned(), size: saved.size, etag: saved.etag.map(str::to_owned) };
        let invalid = |reason: String| EntryError::Metadata { file: saved.file.to_owned(), reason };
        let provenance = match saved.provenance {
            Some(json) => Some(
                serde_json::from_str::<ProvenanceRecord>(json)
                    .map_err(|e| invalid(format!("unreadable provenance record: {e}")))?,
            ),
            None => None,
        };
        let mut entry = if fits {
            let yaml = (!saved.yaml.is_empty()).then(|| self.payload.slice_ref(saved.yaml));
            let parts = Restore {
                name: saved.name.to_owned(),
                version: saved.version.to_owned(),
                digest: saved.digest.to_owned(),
                created: saved.created,
                object,
                metadata_json: saved.metadata_json.to_owned(),
                yaml,
            };
            Entry::restore(parts, render)?
        } else {
            let metadata =
                serde_json::from_str(saved.metadata_json).map_err(|e| invalid(format!("unreadable metadata: {e}")))?;
            let stored = crate::state::StoredEntry {
                object,
                digest: saved.digest.to_owned(),
                created: saved.created,
                metadata,
                provenance: None,
            };
            stored.into_entry(render)?
        };
        entry.set_provenance(provenance);
        Ok(entry)
    }
}

/// Reads fields out of a checked payload; `None` when a field runs past its end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn time(&mut self) -> Option<Timestamp> {
        let secs = i64::from_le_bytes(self.take(8)?.try_into().ok()?);
        let nanos = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
        Timestamp::new(secs, nanos).ok()
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()?;
        if len == NONE {
            return None;
        }
        self.take(len as usize)
    }
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        let save = self.pos;
        if self.u32()? == NONE {
            return Some(None);
        }
        self.pos = save;
        self.str().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use chartroom_chart::metadata::Metadata;

    use super::*;
    use crate::IndexFormat;
    use crate::index::Index;
    use crate::provenance::ProvenanceRecord;

    fn entry(name: &str, version: &str, etag: Option<&str>, render: &RenderConfig) -> Entry {
        let metadata = Metadata {
            name: name.into(),
            version: version.into(),
            api_version: "v2".into(),
            description: "\"quoted\" <é>: yes & no".into(),
            keywords: vec!["k".into()],
            ..Default::default()
        };
        let created: Timestamp = "2024-05-01T10:00:00.123456789Z".parse().unwrap();
        let object = StoredObject { file: format!("{name}-{version}.tgz"), size: 1234, etag: etag.map(str::to_owned) };
        Entry::new(metadata, "ab".repeat(32), created, object, render).unwrap()
    }

    /// An index of `n` charts (every third with a provenance record), as the writer saves it.
    fn saved(n: usize, render: &RenderConfig) -> (Index, Vec<u8>) {
        let mut index = Index::new(render.clone());
        for i in 0..n {
            let mut e = entry(&format!("c{i:03}"), "1.0.0", (i % 2 == 0).then_some("\"e\""), render);
            if i % 3 == 0 {
                e.set_provenance(Some(ProvenanceRecord {
                    size: 9,
                    etag: None,
                    signature: None,
                    failure: Some("x".into()),
                }));
            }
            index.insert(e);
        }
        let entries: Vec<(Arc<Entry>, Bytes)> =
            index.entries_with_yaml().map(|(e, y)| (Arc::clone(e), y.clone())).collect();
        let bytes = encode(Timestamp::UNIX_EPOCH, render, &entries).unwrap();
        (index, bytes)
    }

    /// What a start restores of `bytes`: the entries, and how many were lost (damaged blocks
    /// count their entries; a refused entry counts one).
    fn load(bytes: &[u8], render: &RenderConfig) -> Result<(Vec<Entry>, u64), StateFileError> {
        let mut reader = Reader::open(Bytes::copy_from_slice(bytes))?;
        let fits = reader.header().fits(render);
        let (mut out, mut lost) = (Vec::new(), 0);
        while let Some(block) = reader.next_block() {
            let block = match block {
                Ok(block) => block,
                Err(e) => {
                    lost += u64::from(e.entries);
                    continue;
                }
            };
            for saved in block.entries() {
                match saved.map(|s| block.to_entry(&s, render, fits)) {
                    Ok(Ok(entry)) => out.push(entry),
                    Ok(Err(_)) => lost += 1,
                    Err(e) => lost += u64::from(e.entries),
                }
            }
        }
        Ok((out, lost))
    }

    fn assert_same(restored: &[Entry], index: &Index) {
        let before: Vec<&Arc<Entry>> = index.entries().collect();
        assert_eq!(restored.len(), before.len());
        for (after, before) in restored.iter().zip(before) {
            assert_eq!((after.name(), after.version()), (before.name(), before.version()));
            assert_eq!(
                (after.digest(), after.created, after.object()),
                (before.digest(), before.created, before.object())
            );
            assert_eq!(after.provenance(), before.provenance());
            assert_eq!(after.json(), before.json());
        }
    }

    /// The served body of `entries`, without its `generated` time.
    fn body(entries: Vec<Entry>, render: &RenderConfig) -> String {
        let body = crate::fuzzing::index_body(entries, render);
        if !render.format.renders_yaml() {
            let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            value.as_object_mut().unwrap().remove("generated");
            return value.to_string();
        }
        String::from_utf8_lossy(&body).lines().filter(|l| !l.starts_with("generated:")).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn a_saved_state_restores_every_entry_and_fragment_unchanged() {
        for render in [
            RenderConfig::default(),
            RenderConfig { chart_url: Some("https://h/x".into()), ..Default::default() },
            RenderConfig { format: IndexFormat::Json, ..Default::default() },
        ] {
            let (index, bytes) = saved(10, &render);
            let reader = Reader::open(Bytes::from(bytes.clone())).unwrap();
            let header = reader.header();
            assert_eq!((header.generated, header.entries), (Timestamp::UNIX_EPOCH, 10));
            assert_eq!((header.yaml, &header.chart_url), (render.format.renders_yaml(), &render.chart_url));
            let (restored, lost) = load(&bytes, &render).unwrap();
            assert_eq!(lost, 0);
            assert_same(&restored, &index);
            // A copy of an indexed entry has no fragment of its own: render the originals anew.
            let fresh: Vec<Entry> = index
                .entries()
                .map(|e| entry(e.name(), e.version(), e.etag(), &render).with_provenance(e.provenance().cloned()))
                .collect();
            assert_eq!(body(restored, &render), body(fresh, &render), "{render:?}");
        }
    }

    #[test]
    fn fragments_rendered_for_another_url_are_rendered_again() {
        let (index, bytes) = saved(6, &RenderConfig::default());
        let other = RenderConfig { chart_url: Some("https://other/".into()), ..Default::default() };
        assert!(!Reader::open(Bytes::from(bytes.clone())).unwrap().header().fits(&other));
        let (restored, lost) = load(&bytes, &other).unwrap();
        assert_eq!(lost, 0);
        assert!(restored.iter().all(|e| e.json().contains("\"urls\":[\"https://other//charts/")));
        let fresh: Vec<Entry> = index.entries().map(|e| entry(e.name(), e.version(), e.etag(), &other)).collect();
        assert_eq!(body(restored, &other), body(fresh, &other));
        // A state saved while the body was JSON has no fragments: a YAML start renders them.
        let (_, json_bytes) = saved(6, &RenderConfig { format: IndexFormat::Json, ..Default::default() });
        let (restored, lost) = load(&json_bytes, &RenderConfig::default()).unwrap();
        assert_eq!((restored.len(), lost), (6, 0));
    }

    #[test]
    fn a_truncated_state_keeps_its_whole_blocks() {
        let render = RenderConfig::default();
        let (index, bytes) = saved(10, &render);
        let header_end = {
            let mut reader = Reader::open(Bytes::from(bytes.clone())).unwrap();
            let start = reader.pos;
            let first = reader.next_block().unwrap().unwrap();
            assert_eq!(first.count(), BLOCK_ENTRIES);
            start
        };
        for cut in 0..bytes.len() {
            match load(&bytes[..cut], &render) {
                Err(_) => assert!(cut < header_end, "a damaged header only: cut at {cut}"),
                Ok((restored, _)) => {
                    assert!(cut >= header_end, "cut at {cut}");
                    assert_eq!(restored.len() % BLOCK_ENTRIES as usize, 0, "whole blocks only: cut at {cut}");
                    let kept: Vec<&Arc<Entry>> = index.entries().take(restored.len()).collect();
                    assert!(restored.iter().zip(kept).all(|(a, b)| a.json() == b.json()));
                }
            }
        }
    }

    #[test]
    fn a_flipped_byte_costs_its_block_only() {
        let render = RenderConfig::default();
        let (index, bytes) = saved(10, &render);
        let header_end = Reader::open(Bytes::from(bytes.clone())).unwrap().pos;
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            match load(&damaged, &render) {
                Err(_) => assert!(at < header_end, "only a damaged header refuses the state: byte {at}"),
                Ok((restored, _)) => {
                    assert!(at >= header_end, "byte {at}");
                    // Its block lost (and those after it when a length field sent the reader
                    // astray); every entry restored is intact.
                    assert!(restored.len() < 10, "byte {at} went unnoticed");
                    let by_name: std::collections::HashMap<&str, &Arc<Entry>> =
                        index.entries().map(|e| (e.name(), e)).collect();
                    assert!(restored.iter().all(|e| by_name[e.name()].json() == e.json()));
                }
            }
        }
        // Blocks of 4, 4 and 2 entries: a byte of the first block's content costs its 4 entries.
        let mut damaged = bytes.clone();
        damaged[header_end + 40] ^= 1;
        let (restored, lost) = load(&damaged, &render).unwrap();
        assert_eq!((restored.len(), lost), (6, 4));
        assert_eq!(restored[0].name(), "c004");
    }

    /// Rewrites `from` to `to` (same length) and makes every checksum hold again: an edit, not
    /// damage.
    fn edit(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = bytes.to_vec();
        let at = out.windows(from.len()).position(|w| w == from).expect("the text to edit");
        out[at..at + to.len()].copy_from_slice(to);
        let mut pos = 12;
        while pos + 12 <= out.len() {
            let len = u32::from_le_bytes(out[pos + 4..pos + 8].try_into().unwrap()) as usize;
            let crc = crc32(&out[pos..pos + 8 + len]);
            out[pos + 8 + len..pos + 12 + len].copy_from_slice(&crc.to_le_bytes());
            pos += 12 + len;
        }
        out
    }

    #[test]
    fn an_entry_with_a_bad_identity_or_shape_is_refused_alone() {
        let render = RenderConfig::default();
        let (_, bytes) = saved(3, &render);
        assert_eq!(load(&edit(&bytes, b"c002", b"c002"), &render).unwrap().1, 0, "the edit helper keeps a state valid");
        for (from, to) in [
            // The version in the identity (the fragment keeps the old one).
            (&b"c001\x05\0\0\x001.0.0"[..], &b"c001\x05\0\0\x001.0.!"[..]),
            (b"\x04\0\0\0c001", b"\x04\0\0\0c/01"),
            (b"{\"name\"", b"[\"name\""),
            (b"  - apiVersion", b"x - apiVersion"),
        ] {
            let (restored, lost) = load(&edit(&bytes, from, to), &render).unwrap();
            assert_eq!((restored.len(), lost), (2, 1), "{}", String::from_utf8_lossy(to));
        }
    }

    #[test]
    fn anything_else_is_not_a_state() {
        let render = RenderConfig::default();
        assert!(matches!(load(b"", &render), Err(StateFileError::NotAState)));
        assert!(matches!(load(br#"{"format":1,"entries":[]}"#, &render), Err(StateFileError::NotAState)));
        let (_, mut bytes) = saved(1, &render);
        bytes[8] = 3;
        assert!(matches!(load(&bytes, &render), Err(StateFileError::Format(3))));
    }
}
