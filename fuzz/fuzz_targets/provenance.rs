#![no_main]
//! Provenance parsing must never panic, and what it accepts must be what a check relies on: a
//! valid chart name and version, `sha256:<64 lowercase hex>` digests that vouch for their
//! files, and the same reading when written again as a plain message block.
use chartroom_chart::metadata::validate_chart_name;
use chartroom_chart::provenance::{Vouch, parse, parse_message_block};
use chartroom_chart::version::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(prov) = parse(data) else { return };
    assert!(prov.is_for(&prov.name, &prov.version));
    validate_chart_name(&prov.name).expect("accepted name is a chart name");
    Version::parse(&prov.version).expect("accepted version parses");
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut block = format!("name: {}\nversion: {}\n...\nfiles:\n", q(&prov.name), q(&prov.version));
    for (file, sum) in &prov.files {
        let hex = sum.strip_prefix("sha256:").expect("digest is sha256:<hex>");
        assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{sum}");
        assert_eq!(prov.vouches_for(file, hex), Vouch::Matches, "{file}: {sum}");
        assert_eq!(prov.vouches_for(file, &hex.to_ascii_uppercase()), Vouch::Matches);
        block.push_str(&format!("  {}: {}\n", q(file), q(sum)));
    }
    let again = parse_message_block(&block).expect("the reading, written again, parses");
    assert_eq!(again, prov);
});
