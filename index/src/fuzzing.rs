//! Entry points for the fuzz targets (`fuzz/`): the readers of bytes that come from outside
//! (the persisted state, a ChartMuseum `index-cache.yaml`) and the writers whose output must
//! read back (state, `index.yaml`, `index.json`), called exactly as a start and a publish call
//! them. Not an API: hidden from the docs, no stability.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::metadata::Metadata;
use jiff::Timestamp;

use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};
use crate::format::IndexFormat;
use crate::index::Index;
use crate::snapshot::Snapshot;
use crate::state;
use crate::statefile;

/// The render configuration of a server without `--chart-url` or context path.
pub fn render_config(json: bool) -> RenderConfig {
    let format = if json { IndexFormat::Json } else { IndexFormat::Yaml };
    RenderConfig { chart_url: None, context_path: String::new(), format }
}

/// The persisted state `bytes` as a start reads it: `None` when the whole state is refused
/// (then the start rebuilds from storage), else what each entry of each block became, in order
/// (a damaged block or a malformed entry counts as one `Err`; its entries are read again from
/// storage).
pub fn load_state(bytes: &[u8], render: &RenderConfig) -> Option<Vec<Result<Entry, String>>> {
    let mut reader = statefile::Reader::open(Bytes::copy_from_slice(bytes)).ok()?;
    let fits = reader.header().fits(render);
    let mut out = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = match block {
            Ok(block) => block,
            Err(e) => {
                out.push(Err(e.to_string()));
                continue;
            }
        };
        for saved in block.entries() {
            out.push(
                saved
                    .map_err(|e| e.to_string())
                    .and_then(|s| block.to_entry(&s, render, fits).map_err(|e| e.to_string())),
            );
        }
    }
    Some(out)
}

/// The JSON state of an older Chartroom as a start migrates it: `None` when it is refused, else
/// each stored entry rendered or refused.
pub fn load_legacy_state(bytes: &[u8], render: &RenderConfig) -> Option<Vec<Result<Entry, EntryError>>> {
    let saved = state::decode(bytes).ok()?;
    Some(saved.entries.into_iter().map(|e| e.into_entry(render)).collect())
}

/// The persisted state of `entries`, as the writer saves it: the entries indexed with `render`,
/// each with the YAML fragment its index holds.
pub fn save_state(generated: Timestamp, entries: Vec<Entry>, render: &RenderConfig) -> Result<Vec<u8>, String> {
    let mut index = Index::new(render.clone());
    for e in entries {
        index.insert(e);
    }
    let saved: Vec<(Arc<Entry>, Bytes)> = index.entries_with_yaml().map(|(e, y)| (Arc::clone(e), y.clone())).collect();
    statefile::encode(generated, render, &saved).map_err(|e| e.to_string())
}

/// The `created` times a migration from ChartMuseum reads out of its `index-cache.yaml`.
pub fn chartmuseum_created(bytes: &[u8]) -> HashMap<(String, String, String), Timestamp> {
    state::chartmuseum_created(bytes)
}

/// The entry a publish makes of `metadata` (stored as `file`, `size` bytes).
pub fn entry(
    metadata: Metadata,
    digest: String,
    created: Timestamp,
    file: String,
    size: u64,
    render: &RenderConfig,
) -> Result<Entry, EntryError> {
    Entry::new(metadata, digest, created, StoredObject { file, size, etag: None }, render)
}

/// The served index body (`index.yaml`, or `index.json` for a JSON render) of `entries`, as
/// the snapshot of a tenant holding them (a later entry replaces an equal name and version).
pub fn index_body(entries: impl IntoIterator<Item = Entry>, render: &RenderConfig) -> Bytes {
    let mut index = Index::new(render.clone());
    for e in entries {
        index.insert(e);
    }
    // A fixed `generated`, so that two bodies of the same entries compare equal (an insert
    // stamps the time of the change).
    index.set_generated(jiff::Timestamp::UNIX_EPOCH);
    let snapshot = Snapshot::build(&mut index);
    Bytes::from(snapshot.primary().chunks.concat())
}
