//! Entries as JSON objects: the replicas' change-log records ([`write_entry`], [`StoredEntry`]),
//! and the persisted state of Chartroom before issue 16 (`.chartroom/index-state.json`), which
//! a start still reads once when there is no binary state (`statefile`) yet: the migration.
//!
//! The state is a cache, never the truth: at start it is validated against a storage listing
//! (file, size and ETag must match) and anything that differs is re-read from the archive.
//! URLs are not stored; they are derived from the configuration when entries are rendered.

use std::collections::HashMap;

use chartroom_chart::metadata::Metadata;
use jiff::Timestamp;
use serde::Deserialize;

use crate::entry::{Entry, StoredObject};
use crate::provenance::ProvenanceRecord;

/// Name of the JSON state object (written before issue 16) under the repository's
/// `.chartroom/` folder: read when there is no `statefile::STATE_FILE`, then deleted.
pub const LEGACY_STATE_FILE: &str = "index-state.json";
const FORMAT: u32 = 1;

#[derive(Deserialize)]
pub struct State {
    format: u32,
    pub generated: Timestamp,
    pub entries: Vec<StoredEntry>,
    /// Entries that could not be decoded (by file when they name one, and why): dropped, so
    /// their charts are read again from storage.
    #[serde(skip)]
    pub dropped: Vec<(Option<String>, String)>,
}

/// The state read entry by entry: what [`decode`] falls back to when one entry is malformed.
#[derive(Deserialize)]
struct LenientState {
    format: u32,
    generated: Timestamp,
    entries: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
pub struct StoredEntry {
    #[serde(flatten)]
    pub object: StoredObject,
    pub digest: String,
    pub created: Timestamp,
    pub metadata: Metadata,
    /// The version's provenance file; absent when it has none (and in states written before
    /// provenance files were recorded: the start-up listing finds those).
    #[serde(default)]
    pub provenance: Option<ProvenanceRecord>,
}

impl StoredEntry {
    /// The entry, rendered with `render`. The metadata passes the rules an upload's does (a
    /// state is a cache anyone with storage access can edit; what it says is not trusted more
    /// than an archive).
    pub fn into_entry(mut self, render: &crate::entry::RenderConfig) -> Result<Entry, crate::entry::EntryError> {
        self.metadata.validate().map_err(|e| crate::entry::EntryError::Metadata {
            file: self.object.file.clone(),
            reason: e.to_string(),
        })?;
        let mut entry = Entry::new(self.metadata, self.digest, self.created, self.object, render)?;
        entry.set_provenance(self.provenance);
        Ok(entry)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("unreadable index state: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("index state has unsupported format {0}")]
    Format(u32),
}

/// Serializes the given entries as a JSON state (what Chartroom wrote before issue 16; the tests
/// make such states with it).
///
/// `metadata` holds each entry's `Chart.yaml` as JSON ([`Entry::metadata_json`]); decoding
/// reads it back as [`Metadata`] (which ignores extra keys: states written before issue 16 hold
/// the whole ChartVersion there), and URLs are derived again from the configuration in force.
#[cfg(test)]
pub fn encode(generated: Timestamp, entries: &[std::sync::Arc<Entry>]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.metadata_json().len() + 192).sum::<usize>() + 64);
    out.extend_from_slice(format!("{{\"format\":{FORMAT},\"generated\":\"{generated}\",\"entries\":[").as_bytes());
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_entry(&mut out, e, "")?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// One entry as a JSON object:
/// `{<head>"file":…,"size":…,"etag":…,"digest":…,"created":…,"metadata":{…},"provenance":{…}}`
/// (`provenance` only for a version that has a provenance file).
/// `head` is raw JSON members (each followed by a comma) put first; the change log adds `"op"`.
pub(crate) fn write_entry(out: &mut Vec<u8>, e: &Entry, head: &str) -> Result<(), serde_json::Error> {
    out.push(b'{');
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b"\"file\":");
    serde_json::to_writer(&mut *out, e.file())?;
    out.extend_from_slice(format!(",\"size\":{}", e.size()).as_bytes());
    if let Some(etag) = e.etag() {
        out.extend_from_slice(b",\"etag\":");
        serde_json::to_writer(&mut *out, etag)?;
    }
    // The digest as a JSON string: a state is read back from storage, which may hold anything
    // (found by the `state` fuzz target: a control character made the saved state unreadable).
    out.extend_from_slice(b",\"digest\":");
    serde_json::to_writer(&mut *out, &*e.digest())?;
    out.extend_from_slice(format!(",\"created\":\"{}\",\"metadata\":", e.created).as_bytes());
    out.extend_from_slice(e.metadata_json().as_bytes());
    if let Some(provenance) = e.provenance() {
        out.extend_from_slice(b",\"provenance\":");
        serde_json::to_writer(&mut *out, provenance)?;
    }
    out.push(b'}');
    Ok(())
}

/// Decodes a state. One malformed entry (valid JSON of the wrong shape) costs that entry only:
/// it is listed in [`State::dropped`] and the rest is kept. A file that is not a state at all,
/// or of another format, is an error.
pub fn decode(bytes: &[u8]) -> Result<State, StateError> {
    let state: State = match serde_json::from_slice(bytes) {
        Ok(state) => state,
        // The strict pass is the fast one; entry by entry only when it fails.
        Err(strict) => decode_lenient(bytes).ok_or(strict)?,
    };
    if state.format != FORMAT {
        return Err(StateError::Format(state.format));
    }
    Ok(state)
}

fn decode_lenient(bytes: &[u8]) -> Option<State> {
    let lenient: LenientState = serde_json::from_slice(bytes).ok()?;
    let mut state =
        State { format: lenient.format, generated: lenient.generated, entries: Vec::new(), dropped: Vec::new() };
    for value in lenient.entries {
        let file = value.get("file").and_then(|f| f.as_str()).map(str::to_owned);
        match StoredEntry::deserialize(value) {
            Ok(entry) => state.entries.push(entry),
            Err(e) => state.dropped.push((file, e.to_string())),
        }
    }
    Some(state)
}

/// `created` times from a ChartMuseum `index-cache.yaml` (YAML or JSON), keyed by
/// (name, version, digest), so charts migrated from ChartMuseum keep their published times.
pub fn chartmuseum_created(bytes: &[u8]) -> HashMap<(String, String, String), Timestamp> {
    #[derive(Deserialize)]
    struct CmIndex {
        #[serde(default)]
        entries: HashMap<String, Vec<Option<CmEntry>>>,
    }
    #[derive(Deserialize)]
    struct CmEntry {
        #[serde(default)]
        version: String,
        #[serde(default)]
        digest: String,
        #[serde(default)]
        created: Option<String>,
    }
    let parsed: Option<CmIndex> = if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        serde_json::from_slice(bytes).ok()
    } else {
        // The operator's previous server wrote it (large indexes are normal: no fixed node cap),
        // but storage is not trusted to hold only that: aliases (which ChartMuseum never writes)
        // replay in proportion to the file's size only, so what it costs stays proportional to
        // what is stored (a 362-byte file of nested aliases used to cost 250 MB).
        let mut options = chartroom_chart::yaml::read_options_for(bytes.len());
        options.budget = serde_saphyr::budget! {
            max_nodes: 10_000 + bytes.len(),
            max_events: 20_000 + 2 * bytes.len(),
            max_total_scalar_bytes: 1 << 31,
        };
        serde_saphyr::from_slice_with_options(bytes, options).ok()
    };
    let mut out = HashMap::new();
    for (name, versions) in parsed.map(|p| p.entries).unwrap_or_default() {
        for v in versions.into_iter().flatten() {
            if let Some(created) = v.created.as_deref().and_then(|c| c.parse::<Timestamp>().ok()) {
                out.insert((name.clone(), v.version, v.digest), created);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::entry::RenderConfig;

    #[test]
    fn state_roundtrip() {
        let metadata =
            Metadata { name: "a".into(), version: "1.0.0".into(), api_version: "v2".into(), ..Default::default() };
        let created: Timestamp = "2024-05-01T10:00:00.123456789Z".parse().unwrap();
        let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 3, etag: Some("e".into()) };
        let entry =
            Entry::new(metadata.clone(), "00".repeat(32), created, object.clone(), &RenderConfig::default()).unwrap();
        let bytes = encode(Timestamp::UNIX_EPOCH, &[Arc::new(entry)]).unwrap();
        let state = decode(&bytes).unwrap();
        assert_eq!(state.generated, Timestamp::UNIX_EPOCH);
        assert_eq!(state.entries.len(), 1);
        assert_eq!(state.entries[0].object, object);
        assert_eq!(state.entries[0].created, created);
        assert_eq!(state.entries[0].metadata, metadata);
        assert_eq!(state.entries[0].provenance, None);
        assert!(!String::from_utf8(bytes).unwrap().contains("provenance"), "nothing written without one");
        assert!(decode(b"{\"format\":99,\"generated\":\"1970-01-01T00:00:00Z\",\"entries\":[]}").is_err());
        assert!(decode(b"garbage").is_err());
    }

    /// Found by the `state` fuzz target: the digest was written unescaped, so a state restored
    /// with a control character or a quote in a digest was saved as JSON that no start can read.
    #[test]
    fn any_restored_entry_is_saved_as_readable_json() {
        let saved = br#"{"format":1,"generated":"1970-01-01T00:00:00Z","entries":[{"file":"a-1.0.0.tgz","size":3,"digest":"0\b\"1","created":"2024-05-01T10:00:00Z","metadata":{"apiVersion":"v2","name":"a","version":"1.0.0"}}]}"#;
        let restored = decode(saved).unwrap().entries.remove(0).into_entry(&RenderConfig::default()).unwrap();
        let bytes = encode(Timestamp::UNIX_EPOCH, &[Arc::new(restored)]).unwrap();
        let again = decode(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        assert_eq!(again.entries[0].digest, "0\u{8}\"1");
    }

    #[test]
    fn a_malformed_entry_costs_only_itself() {
        let good = r#"{"file":"a-1.0.0.tgz","size":3,"digest":"00","created":"2024-05-01T10:00:00Z","metadata":{"apiVersion":"v2","name":"a","version":"1.0.0"}}"#;
        let bad_shape =
            r#"{"file":"b-1.0.0.tgz","size":"three","digest":"00","created":"2024-05-01T10:00:00Z","metadata":{}}"#;
        let bad_version = r#"{"file":"c-1.0.0.tgz","size":3,"digest":"00","created":"2024-05-01T10:00:00Z","metadata":{"apiVersion":"v2","name":"c","version":"not.a.version"}}"#;
        let bytes = format!(
            r#"{{"format":1,"generated":"1970-01-01T00:00:00Z","entries":[{good},{bad_shape},{bad_version}]}}"#
        );
        let state = decode(bytes.as_bytes()).unwrap();
        let files: Vec<&str> = state.entries.iter().map(|e| e.object.file.as_str()).collect();
        assert_eq!(files, ["a-1.0.0.tgz", "c-1.0.0.tgz"]);
        assert_eq!(state.dropped.len(), 1, "{:?}", state.dropped);
        assert_eq!(state.dropped[0].0.as_deref(), Some("b-1.0.0.tgz"));
        // The version is checked when the entry is rendered, with the upload's rules.
        let mut entries = state.entries.into_iter();
        assert!(entries.next().unwrap().into_entry(&RenderConfig::default()).is_ok());
        let e = entries.next().unwrap().into_entry(&RenderConfig::default()).unwrap_err();
        assert!(e.to_string().contains("c-1.0.0.tgz") && e.to_string().contains("not.a.version"), "{e}");
        assert!(decode(b"[1,2]").is_err(), "not a state at all");
    }

    #[test]
    fn state_keeps_provenance_records() {
        use crate::provenance::Signature;
        let metadata =
            Metadata { name: "a".into(), version: "1.0.0".into(), api_version: "v2".into(), ..Default::default() };
        let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 3, etag: None };
        let record = ProvenanceRecord {
            size: 900,
            etag: Some("\"p\"".into()),
            signature: Some(Signature {
                user_id: Some("Signer <s@example.test>".into()),
                fingerprint: "F".repeat(40),
                key_id: "0123456789ABCDEF".into(),
                signed_at: Timestamp::from_second(1_700_000_000).unwrap(),
            }),
            failure: None,
        };
        let mut entry =
            Entry::new(metadata, "00".repeat(32), Timestamp::UNIX_EPOCH, object, &RenderConfig::default()).unwrap();
        entry.set_provenance(Some(record.clone()));
        let bytes = encode(Timestamp::UNIX_EPOCH, &[Arc::new(entry)]).unwrap();
        let state = decode(&bytes).unwrap();
        assert_eq!(state.entries[0].provenance.as_ref(), Some(&record));
        let entry = decode(&bytes).unwrap().entries.remove(0).into_entry(&RenderConfig::default()).unwrap();
        assert_eq!(entry.provenance(), Some(&record));
        assert!(!entry.json().contains("provenance"), "the index fragment is Helm's alone");
        assert!(entry.api_json().ends_with(r#","provenance":{"verified":true,"signer":"Signer <s@example.test>","fingerprint":"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF","keyId":"0123456789ABCDEF","signedAt":"2023-11-14T22:13:20Z"}}"#));
    }

    #[test]
    fn reads_chartmuseum_statefiles() {
        let yaml = b"apiVersion: v1\nentries:\n  mychart:\n  - name: mychart\n    version: 0.2.0\n    digest: abc\n    created: \"2024-05-01T10:00:00.123456789Z\"\n    urls:\n    - charts/mychart-0.2.0.tgz\ngenerated: \"2024-05-01T10:00:01Z\"\nserverInfo: {}\n";
        let got = chartmuseum_created(yaml);
        let key = ("mychart".to_owned(), "0.2.0".to_owned(), "abc".to_owned());
        assert_eq!(got.get(&key).map(|t| t.to_string()), Some("2024-05-01T10:00:00.123456789Z".to_owned()));
        let json = br#"{"apiVersion":"v1","generated":"2024-05-01T10:00:01Z","entries":{"mychart":[{"name":"mychart","version":"0.2.0","digest":"abc","created":"2024-05-01T10:00:00.123456789Z","urls":["x"]}]},"serverInfo":{}}"#;
        assert_eq!(chartmuseum_created(json).len(), 1);
        assert!(chartmuseum_created(b"{{{").is_empty());
    }

    /// Issue 17, item 2: a small `index-cache.yaml` of nested aliases is ignored (as a file that
    /// does not parse) within a small memory bound; it used to cost 250 MB under a
    /// 50-million-node budget.
    #[test]
    fn alias_bombs_in_chartmuseum_statefiles_cost_little() {
        let mut yaml = "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n".to_owned();
        for i in 1..9 {
            yaml.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(",")));
        }
        yaml.push_str(
            "entries:\n  x:\n  - {version: 1.0.0, digest: d, created: \"2024-01-01T00:00:00Z\", extra: *a8}\n",
        );
        let (got, peak) = chartroom_chart::testing::PeakMeter::peak_growth(|| chartmuseum_created(yaml.as_bytes()));
        assert!(got.is_empty());
        assert!(peak < 8 << 20, "a {}-byte index-cache.yaml cost {peak} bytes", yaml.len());
    }
}
