#![no_main]
//! Upload validation of a chart archive, whatever the bytes: never a panic, and what an upload
//! accepts is exactly what indexing from storage, extraction and the index make of it.
use chartroom_chart::archive::{Limits, extract_all, extract_files, load_archive, read_metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed: 4 << 20, max_file: 1 << 20, max_entries: 2_000, max_nesting: 4 };
    let full = load_archive(data, &limits);
    let meta = read_metadata(data, &limits);
    let templates = extract_files(data, &limits, |p| p.starts_with("templates/"));
    let Ok(full) = full else { return };
    // Anything an upload accepts must also be indexable from storage, identically.
    let meta = meta.expect("an accepted upload must be readable at resync");
    assert_eq!(full.metadata, meta.metadata);
    assert_eq!(full.digest, meta.digest);
    assert_eq!(full.size, data.len() as u64);
    // The API's file endpoints (templates, values, README) must be able to read it.
    templates.expect("the templates of an accepted upload must extract");
    extract_all(data, &limits).expect("an accepted upload must extract");
    // Validation is a fixed point: the accepted metadata validates again, unchanged.
    let mut again = full.metadata.clone();
    again.validate().expect("accepted metadata re-validates");
    assert_eq!(again, full.metadata);
});
