#![no_main]
//! Upload validation must never panic, whatever the bytes.
use chartroom_chart::archive::{Limits, extract_files, load_archive, read_metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed: 4 << 20, max_file: 1 << 20, max_entries: 2_000, max_nesting: 4 };
    let full = load_archive(data, &limits);
    let meta = read_metadata(data, &limits);
    // Anything an upload accepts must also be indexable from storage, identically.
    if let Ok(full) = &full {
        let meta = meta.as_ref().expect("an accepted upload must be readable at resync");
        assert_eq!(full.metadata, meta.metadata);
        assert_eq!(full.digest, meta.digest);
    }
    let _ = extract_files(data, &limits, |p| p.starts_with("templates/"));
});
