#![no_main]
//! Constraint and version parsing must never panic; a constraint printed parses again to one
//! that decides every version the same way, and a version printed parses to an equal one.
use chartroom_chart::constraint::Constraint;
use chartroom_chart::version::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (c, v) = text.split_once('\u{1}').unwrap_or((text, "1.2.3"));
    let version = Version::parse(v);
    if let Ok(version) = &version {
        let again = Version::parse(&version.to_string()).expect("a printed version parses");
        assert_eq!(again.cmp(version), std::cmp::Ordering::Equal, "{v:?} → {version}");
        assert_eq!((again.major(), again.minor(), again.patch()), (version.major(), version.minor(), version.patch()));
        assert_eq!(again.prerelease(), version.prerelease());
        assert_eq!(again.build(), version.build());
    }
    if let Ok(constraint) = Constraint::parse(c) {
        let printed = constraint.to_string();
        let again = Constraint::parse(&printed).expect("Display output parses");
        assert_eq!(again.to_string(), printed, "printing is a fixed point");
        assert_eq!(again.groups(), constraint.groups());
        if let Ok(version) = &version {
            assert_eq!(constraint.matches(version), again.matches(version), "{c:?} → {printed:?} on {v:?}");
        }
    }
    let _ = Version::parse_strict(v);
});
