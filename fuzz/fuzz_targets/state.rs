#![no_main]
//! The persisted index state (`.chartroom/index-state.json`) as a start reads it: never a
//! panic, whatever storage holds; and every entry a start restores is saved and restored again
//! unchanged (file, size, ETag, digest, created, provenance, the served fragments), and the
//! restored index serves YAML that parses.
use std::sync::Arc;

use chartroom_index::Entry;
use chartroom_index::fuzzing::{index_body, load_state, render_config, save_state};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for json in [false, true] {
        let render = render_config(json);
        let Some(loaded) = load_state(data, &render) else { return };
        let entries: Vec<Arc<Entry>> = loaded.into_iter().filter_map(Result::ok).map(Arc::new).collect();
        let generated = jiff::Timestamp::UNIX_EPOCH;
        let saved = save_state(generated, &entries).expect("restored entries serialize");
        let again = load_state(&saved, &render).expect("a saved state loads");
        assert_eq!(again.len(), entries.len());
        for (before, after) in entries.iter().zip(again) {
            let after = after.expect("a restored entry restores again");
            assert_eq!(after.name(), before.name());
            assert_eq!(after.version(), before.version());
            assert_eq!(after.digest(), before.digest());
            assert_eq!(after.created, before.created);
            assert_eq!(after.object(), before.object());
            assert_eq!(after.provenance(), before.provenance());
            assert_eq!(after.json(), before.json());
        }
        let body = index_body(entries.iter().map(|e| Entry::clone(e)), &render);
        if json {
            serde_json::from_slice::<serde_json::Value>(&body).expect("index.json parses");
        } else {
            serde_saphyr::from_slice::<serde_json::Value>(&body)
                .unwrap_or_else(|e| panic!("index.yaml parses: {e}\n{}", String::from_utf8_lossy(&body)));
        }
    }
});
