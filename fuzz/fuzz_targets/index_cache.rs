#![no_main]
//! A ChartMuseum `index-cache.yaml` (YAML or JSON) as the migration reads it: never a panic,
//! and what it reads is what the same times written as a ChartMuseum index read again.
use chartroom_index::fuzzing::chartmuseum_created;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let created = chartmuseum_created(data);
    let mut entries = serde_json::Map::new();
    for ((name, version, digest), time) in &created {
        let list = entries.entry(name.clone()).or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.push(json!({ "version": version, "digest": digest, "created": time.to_string() }));
        }
    }
    let written = serde_json::to_vec(&json!({ "apiVersion": "v1", "entries": entries })).expect("serializes");
    assert_eq!(chartmuseum_created(&written), created);
});
