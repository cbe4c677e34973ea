#![no_main]
//! The persisted index state as a start reads it, in both formats: the binary
//! `.chartroom/index-state.bin` and the JSON `index-state.json` of an older Chartroom (migrated
//! once), restored as a start restores it while storage holds every file as recorded. Never a
//! panic, whatever storage holds; every entry a start restores is saved and
//! restored again unchanged (file, size, ETag, digest, created, provenance, the served JSON and
//! YAML); and entries migrated from a JSON state (their metadata checked with the upload's
//! rules) serve YAML and JSON that parse after a save and a restore.
use chartroom_index::Entry;
use chartroom_index::fuzzing::{index_body, load_state, render_config, restore_state, save_state};
use libfuzzer_sys::fuzz_target;

fn same(before: &[Entry], after: Vec<Result<Entry, String>>, json: bool) -> Vec<Entry> {
    let render = render_config(json);
    assert_eq!(after.len(), before.len());
    let after: Vec<Entry> = after.into_iter().map(|e| e.expect("a restored entry restores again")).collect();
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(after.name(), before.name());
        assert_eq!(after.version(), before.version());
        assert_eq!(after.digest(), before.digest());
        assert_eq!(after.created, before.created);
        assert_eq!(after.object(), before.object());
        assert_eq!(after.provenance(), before.provenance());
        assert_eq!(after.json(), before.json());
    }
    assert_eq!(index_body(before.iter().cloned(), &render), index_body(after.iter().cloned(), &render));
    after
}

/// Saves `entries` and loads them back; returns what came back, in the index's order.
fn round_trip(entries: Vec<Entry>, json: bool) -> Vec<Entry> {
    let render = render_config(json);
    // The state holds the index's entries, in its order (a later duplicate replaces an earlier).
    let saved = save_state(jiff::Timestamp::UNIX_EPOCH, entries.clone(), &render).expect("entries serialize");
    let first = load_state(&saved, &render).expect("a saved state loads");
    let first: Vec<Entry> = first.into_iter().map(|e| e.expect("a saved entry restores")).collect();
    let again = save_state(jiff::Timestamp::UNIX_EPOCH, first.clone(), &render).expect("entries serialize");
    assert_eq!(again, saved, "a restored state saves to the same bytes");
    same(&first, load_state(&again, &render).expect("a saved state loads"), json)
}

fuzz_target!(|data: &[u8]| {
    for json in [false, true] {
        let render = render_config(json);
        // The binary state: whatever it holds, a start never panics, and what it restores
        // saves and restores unchanged.
        if let Some(entries) = restore_state(data, &render, false) {
            round_trip(entries, json);
        }
        // The JSON state of an older Chartroom, migrated.
        if let Some(entries) = restore_state(data, &render, true) {
            let restored = round_trip(entries, json);
            let body = index_body(restored, &render);
            if json {
                serde_json::from_slice::<serde_json::Value>(&body).expect("index.json parses");
            } else {
                serde_saphyr::from_slice::<serde_json::Value>(&body)
                    .unwrap_or_else(|e| panic!("index.yaml parses: {e}\n{}", String::from_utf8_lossy(&body)));
            }
        }
    }
});
