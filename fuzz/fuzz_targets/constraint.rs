#![no_main]
//! Constraint and version parsing must never panic, and constraints must round-trip.
use chartroom_chart::constraint::Constraint;
use chartroom_chart::version::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (c, v) = text.split_once('\u{1}').unwrap_or((text, "1.2.3"));
    if let Ok(constraint) = Constraint::parse(c) {
        let again = Constraint::parse(&constraint.to_string()).expect("Display output parses");
        if let Ok(version) = Version::parse(v) {
            assert_eq!(constraint.matches(&version), again.matches(&version));
        }
    }
    let _ = Version::parse_strict(v);
});
