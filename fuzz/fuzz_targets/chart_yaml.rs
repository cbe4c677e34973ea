#![no_main]
//! `Chart.yaml` parsing and validation must never panic, and an accepted `Chart.yaml` must
//! survive everything the server does with it unchanged: validation again (a fixed point), the
//! served `index.yaml` and `index.json` (read back field by field) and a restart from the
//! persisted state.
use std::collections::BTreeMap;

use chartroom_chart::metadata::Metadata;
use chartroom_index::fuzzing::{entry, index_body, load_state, render_config, save_state};
use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
struct IndexFile {
    entries: BTreeMap<String, Vec<Metadata>>,
}

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(md) = Metadata::from_yaml(data) else { return };
    let mut again = md.clone();
    again.validate().expect("accepted metadata re-validates");
    assert_eq!(again, md, "validation is a fixed point");

    let created: jiff::Timestamp = "2024-01-02T03:04:05.123456789Z".parse().expect("a timestamp");
    let file = format!("{}-{}.tgz", md.name, md.version);
    for json in [false, true] {
        let render = render_config(json);
        let Ok(e) = entry(md.clone(), DIGEST.to_owned(), created, file.clone(), 1, &render) else {
            // Entries need a version Helm's index reader accepts; validation allows others
            // (Helm refuses them at packaging, the server at publish).
            return;
        };
        let body = index_body([e.clone()], &render);
        let read: IndexFile = if json {
            serde_json::from_slice(&body).expect("index.json parses")
        } else {
            serde_saphyr::from_slice(&body)
                .unwrap_or_else(|err| panic!("index.yaml parses: {err}\n{}", String::from_utf8_lossy(&body)))
        };
        let versions = read.entries.get(&md.name).expect("the chart is listed under its name");
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0], md, "the served entry reads back as the Chart.yaml");

        let saved = save_state(created, vec![e], &render).expect("state serializes");
        let loaded = load_state(&saved, &render).expect("a saved state loads");
        let [Ok(back)] = loaded.as_slice() else { panic!("one entry saved, one loaded: {loaded:?}") };
        assert_eq!(back.name(), md.name);
        assert_eq!(back.version(), md.version);
        assert_eq!(
            back.json(),
            entry(md.clone(), DIGEST.to_owned(), created, file.clone(), 1, &render)
                .map(|e| e.json().to_owned())
                .expect("renders")
                .as_str()
        );
    }
});
