#![no_main]
//! Chart.yaml parsing and validation must never panic.
use chartroom_chart::metadata::Metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Metadata::from_yaml(data);
});
