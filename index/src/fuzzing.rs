//! Entry points for the fuzz targets (`fuzz/`): the readers of bytes that come from outside
//! (the persisted state, a ChartMuseum `index-cache.yaml`) and the writers whose output must
//! read back (state, `index.yaml`, `index.json`), called exactly as a start and a publish call
//! them. Not an API: hidden from the docs, no stability.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::metadata::Metadata;
use chartroom_storage::ObjectInfo;
use jiff::Timestamp;

use crate::entry::{Entry, EntryError, RenderConfig, StoredObject};
use crate::format::IndexFormat;
use crate::index::Index;
use crate::snapshot::Snapshot;
use crate::startup;
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

/// The entries a start restores of the persisted state `bytes` (binary, or the JSON of an older
/// Chartroom when `legacy`) while storage holds every file as the state recorded it, in index
/// order; `None` when the whole state is refused.
pub fn restore_state(bytes: &[u8], render: &RenderConfig, legacy: bool) -> Option<Vec<Entry>> {
    let listed = |file: &str, size: u64, etag: Option<&str>| ObjectInfo {
        file: file.to_owned(),
        size,
        e_tag: etag.map(str::to_owned),
        last_modified: std::time::SystemTime::UNIX_EPOCH,
    };
    let mut listing = Vec::new();
    if legacy {
        let saved = state::decode(bytes).ok()?;
        listing.extend(saved.entries.iter().map(|e| listed(&e.object.file, e.object.size, e.object.etag.as_deref())));
    } else {
        let mut reader = statefile::Reader::open(Bytes::copy_from_slice(bytes)).ok()?;
        while let Some(block) = reader.next_block() {
            let Ok(block) = block else { continue };
            for saved in block.entries() {
                let Ok(saved) = saved else { break };
                listing.push(listed(saved.file, saved.size, saved.etag));
            }
        }
    }
    Some(startup::restored_entries(Bytes::copy_from_slice(bytes), &listing, render, legacy))
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
