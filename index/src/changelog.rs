//! The change log that keeps replicas on one bucket in step, with no service but the object store.
//!
//! Every replica appends records to its own log, `.chartroom/log/<replica>/<seq>.json`, written
//! create-only by a single writer, so appends never contend (and never depend on the store making
//! conditional writes atomic across clients). A record lists the chart objects the replica changed
//! (stored, replaced or deleted), written only *after* those changes are in storage.
//!
//! Peers poll each log for its next sequence number. A record is a hint, not the truth: a peer
//! checks every file it names against storage (one HEAD) and indexes what storage holds *now*.
//! That makes application order-independent: two replicas changing the same version concurrently
//! cannot leave indexes that disagree with the bucket, whatever order their records are read in.
//!
//! There is one log per replica for all tenants (a log per tenant would cost every peer a GET per
//! tenant per poll): each change names its tenant, `"tenant":"org/team"`; a change without one
//! is the root's, so records written before tenants existed still apply.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

use crate::entry::Entry;
use crate::state::{self, StoredEntry};
use crate::tenant::Tenant;

const FORMAT: u32 = 1;

/// A change to announce, in one tenant: an indexed entry (stored or replaced) or a removed file.
#[derive(Debug, Clone)]
pub struct Change {
    pub tenant: Tenant,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub enum Op {
    Put(Arc<Entry>),
    Delete { file: String, name: String, version: String },
}

impl Change {
    pub fn put(tenant: &Tenant, entry: Arc<Entry>) -> Change {
        Change { tenant: tenant.clone(), op: Op::Put(entry) }
    }

    pub fn delete(tenant: &Tenant, file: String, name: String, version: String) -> Change {
        Change { tenant: tenant.clone(), op: Op::Delete { file, name, version } }
    }

    pub fn file(&self) -> &str {
        match &self.op {
            Op::Put(e) => e.file(),
            Op::Delete { file, .. } => file,
        }
    }
}

/// A change read from a peer's record.
#[derive(Deserialize)]
pub struct PeerChange {
    /// The tenant's path as written; records of the version before tenants have none: the root.
    #[serde(default)]
    pub tenant: String,
    #[serde(flatten)]
    pub op: PeerOp,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PeerOp {
    /// The metadata lets a peer index the chart without downloading it when storage still holds
    /// exactly this object (same size and ETag).
    Put(Box<StoredEntry>),
    Delete {
        file: String,
        /// Written since the first format; read by the change feed (`feed`), not by peers.
        #[serde(default)]
        name: String,
        #[serde(default)]
        version: String,
    },
}

impl PeerChange {
    /// Not read from a record: a file to look at again in storage, with no recorded metadata
    /// to trust (what storage holds is read, or found gone).
    pub fn recheck(tenant: String, file: String) -> PeerChange {
        PeerChange { tenant, op: PeerOp::Delete { file, name: String::new(), version: String::new() } }
    }

    pub fn file(&self) -> &str {
        match &self.op {
            PeerOp::Put(e) => &e.object.file,
            PeerOp::Delete { file, .. } => file,
        }
    }
}

#[derive(Deserialize)]
pub struct PeerRecord {
    format: u32,
    /// Who wrote the record, which number it has and when: redundant with its key and
    /// timestamp in storage, kept for whoever reads a bucket by hand. Peers only apply `changes`.
    #[allow(dead_code)]
    pub replica: String,
    #[allow(dead_code)]
    pub seq: u64,
    #[allow(dead_code)]
    pub time: Timestamp,
    pub changes: Vec<PeerChange>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("unreadable change-log record: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("change-log record has unsupported format {0}")]
    Format(u32),
}

/// Serializes one record.
pub fn encode(replica: &str, seq: u64, time: Timestamp, changes: &[Change]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256 + changes.len() * 256);
    out.extend_from_slice(format!("{{\"format\":{FORMAT},\"replica\":").as_bytes());
    serde_json::to_writer(&mut out, replica)?;
    out.extend_from_slice(format!(",\"seq\":{seq},\"time\":\"{time}\",\"changes\":[").as_bytes());
    for (i, change) in changes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // The root's changes carry no tenant: exactly what the version before tenants wrote.
        let tenant = if change.tenant.is_root() {
            String::new()
        } else {
            format!("\"tenant\":{},", serde_json::to_string(change.tenant.as_str())?)
        };
        match &change.op {
            Op::Put(entry) => state::write_entry(&mut out, entry, &format!("\"op\":\"put\",{tenant}"))?,
            Op::Delete { file, name, version } => {
                let mut value = serde_json::json!({ "op": "delete", "file": file, "name": name, "version": version });
                if !change.tenant.is_root() {
                    value["tenant"] = change.tenant.as_str().into();
                }
                serde_json::to_writer(&mut out, &value)?;
            }
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

pub fn decode(bytes: &[u8]) -> Result<PeerRecord, RecordError> {
    let record: PeerRecord = serde_json::from_slice(bytes)?;
    if record.format != FORMAT {
        return Err(RecordError::Format(record.format));
    }
    Ok(record)
}

/// A random replica id for this process: a restarted replica is a new writer with a new log.
pub fn new_replica_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Timestamp::now().as_nanosecond() as u128);
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{RenderConfig, StoredObject};
    use chartroom_chart::metadata::Metadata;

    #[test]
    fn record_roundtrip() {
        let metadata = Metadata {
            name: "a".into(),
            version: "1.0.0".into(),
            api_version: "v2".into(),
            description: "quote \" and \\ and é".into(),
            ..Default::default()
        };
        let created: Timestamp = "2024-05-01T10:00:00.5Z".parse().unwrap();
        let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 3, etag: Some("\"e\"".into()) };
        let entry =
            Entry::new(metadata.clone(), "ab".repeat(32), created, object.clone(), &RenderConfig::default()).unwrap();
        let team = Tenant::parse("org/team").unwrap();
        let entry = Arc::new(entry);
        let changes = vec![
            Change::put(&Tenant::root(), Arc::clone(&entry)),
            Change::delete(&Tenant::root(), "b-2.0.0.tgz".into(), "b".into(), "2.0.0".into()),
            Change::put(&team, entry),
            Change::delete(&team, "c-3.0.0.tgz".into(), "c".into(), "3.0.0".into()),
        ];
        let bytes = encode("r1", 42, Timestamp::UNIX_EPOCH, &changes).unwrap();
        let record = decode(&bytes).unwrap();
        assert_eq!((record.replica.as_str(), record.seq, record.time), ("r1", 42, Timestamp::UNIX_EPOCH));
        assert_eq!(record.changes.len(), 4);
        for change in [&record.changes[0], &record.changes[2]] {
            match &change.op {
                PeerOp::Put(e) => {
                    assert_eq!(e.object, object);
                    assert_eq!(e.metadata, metadata);
                    assert_eq!(e.created, created);
                    assert_eq!(e.digest, "ab".repeat(32));
                }
                PeerOp::Delete { .. } => panic!("expected a put"),
            }
        }
        let tenants: Vec<&str> = record.changes.iter().map(|c| c.tenant.as_str()).collect();
        assert_eq!(tenants, ["", "", "org/team", "org/team"]);
        assert_eq!((record.changes[1].file(), record.changes[3].file()), ("b-2.0.0.tgz", "c-3.0.0.tgz"));
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.matches("\"tenant\"").count(), 2, "the root's changes are written as before tenants: {text}");
        assert!(
            decode(b"{\"format\":2,\"replica\":\"r\",\"seq\":1,\"time\":\"1970-01-01T00:00:00Z\",\"changes\":[]}")
                .is_err()
        );
        assert!(decode(b"not json").is_err());
    }

    #[test]
    fn records_of_the_version_before_tenants_are_the_roots() {
        let old = br#"{"format":1,"replica":"r0","seq":1,"time":"2024-05-01T10:00:00Z","changes":[
            {"op":"put","file":"a-1.0.0.tgz","size":3,"etag":"\"e\"","digest":"00","created":"2024-05-01T10:00:00Z",
             "metadata":{"name":"a","version":"1.0.0","apiVersion":"v2","urls":["charts/a-1.0.0.tgz"]}},
            {"op":"delete","file":"b-2.0.0.tgz","name":"b","version":"2.0.0"}]}"#;
        let record = decode(old).unwrap();
        assert!(record.changes.iter().all(|c| c.tenant.is_empty()));
        assert_eq!((record.changes[0].file(), record.changes[1].file()), ("a-1.0.0.tgz", "b-2.0.0.tgz"));
        match &record.changes[0].op {
            PeerOp::Put(e) => assert_eq!((e.metadata.name.as_str(), e.object.size), ("a", 3)),
            PeerOp::Delete { .. } => panic!("expected a put"),
        }
    }

    #[test]
    fn replica_ids_differ() {
        assert_ne!(new_replica_id(), new_replica_id());
        assert_eq!(new_replica_id().len(), 16);
    }
}
