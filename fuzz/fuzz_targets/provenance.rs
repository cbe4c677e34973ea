#![no_main]
//! Provenance parsing must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chartroom_chart::provenance::parse(data);
});
