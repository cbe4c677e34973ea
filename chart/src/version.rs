//! Masterminds/semver v3 compatible versions (the library Helm uses).
//!
//! * [`Version::parse`] is Masterminds' `NewVersion` with the default `CoerceNewVersion = true`:
//!   the loose grammar `v?N(.N)?(.N)?(-PRE)?(+BUILD)?` (missing parts are 0, leading zeros allowed),
//!   followed by SemVer 2 checks on the prerelease (no empty identifier, no leading zero in a
//!   numeric identifier) and on the build metadata.
//! * [`Version::parse_strict`] is `StrictNewVersion` (exact SemVer 2.0.0, no `v`).
//! * Ordering is Masterminds' `Compare`: build metadata is ignored, prerelease identifiers are
//!   numeric only when they parse as an unsigned 64-bit integer (`-2` is alphanumeric), and an
//!   alphanumeric identifier sorts above a numeric one.
//!
//! No regex, no panics: every input is scanned byte by byte.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed version. Equality and ordering ignore build metadata and the original spelling
/// (`v1.0.0`, `1.0` and `1.0.0+b1` are all equal to `1.0.0`).
///
/// Compact (issue 16: one is kept per indexed chart version): the prerelease and the build
/// metadata are ranges of the original text, not copies of it, so a version is 56 bytes and one
/// allocation.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    /// The string this version was parsed from.
    original: Box<str>,
    /// The prerelease (without the leading `-`) is `original[pre.0..pre.1]`.
    pre: (u32, u32),
    /// The build metadata (without the leading `+`) is `original[build..]`.
    build: u32,
}

/// Why a version string was rejected. The messages are Masterminds' followed by the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// `ErrEmptyString` (strict parser only; the lenient parser reports `InvalidSemVer`).
    #[error("version string empty")]
    Empty,
    /// `ErrInvalidSemVer`: the string does not have the shape of a version.
    #[error("invalid semantic version: {}", go_quote(.0))]
    InvalidSemVer(String),
    /// `ErrInvalidCharacters` (strict parser): a major/minor/patch part is not all digits.
    #[error("invalid characters in version: {}", go_quote(.0))]
    InvalidCharacters(String),
    /// `ErrSegmentStartsZero`: a leading zero in a numeric part (strict) or in a numeric
    /// prerelease identifier.
    #[error("version segment starts with 0: {}", go_quote(.0))]
    SegmentStartsZero(String),
    /// `ErrInvalidPrerelease`.
    #[error("invalid prerelease string: {}", go_quote(.0))]
    InvalidPrerelease(String),
    /// `ErrInvalidMetadata`.
    #[error("invalid metadata string: {}", go_quote(.0))]
    InvalidMetadata(String),
    /// A numeric part does not fit in 64 bits (Go: `strconv.ParseUint: value out of range`).
    #[error("error parsing version segment: value out of range: {}", go_quote(.0))]
    SegmentOutOfRange(String),
}

impl Version {
    /// Lenient parsing, Masterminds `NewVersion` with `CoerceNewVersion = true` (what Helm uses
    /// for `Chart.yaml` versions and index entries). Accepts `v1.2.3`, `1`, `1.2`, `01.2.3`,
    /// `1.2-5`; rejects `1.2.3.4`, `1.2.beta`, `1.2.3-beta.01`, `9.8.7+meta+meta`.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        let b = s.as_bytes();
        let invalid = || VersionError::InvalidSemVer(s.to_owned());
        let mut i = 0;
        if b.first() == Some(&b'v') {
            i = 1;
        }
        let (major_end, major) = scan_digits(b, i).ok_or_else(invalid)?;
        i = major_end;
        let mut minor = None;
        let mut patch = None;
        for slot in [&mut minor, &mut patch] {
            if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                let (end, digits) = scan_digits(b, i + 1).ok_or_else(invalid)?;
                *slot = Some(digits);
                i = end;
            }
        }
        let mut pre = "";
        if b.get(i) == Some(&b'-') {
            let end = scan_identifiers(b, i + 1);
            if end == i + 1 {
                return Err(invalid());
            }
            pre = s.get(i + 1..end).ok_or_else(invalid)?;
            i = end;
        }
        let mut build = "";
        if b.get(i) == Some(&b'+') {
            let end = scan_identifiers(b, i + 1);
            if end == i + 1 {
                return Err(invalid());
            }
            build = s.get(i + 1..end).ok_or_else(invalid)?;
            i = end;
        }
        if i != b.len() {
            return Err(invalid());
        }
        let out_of_range = || VersionError::SegmentOutOfRange(s.to_owned());
        let major = parse_u64(major).ok_or_else(out_of_range)?;
        let minor = match minor {
            Some(d) => parse_u64(d).ok_or_else(out_of_range)?,
            None => 0,
        };
        let patch = match patch {
            Some(d) => parse_u64(d).ok_or_else(out_of_range)?,
            None => 0,
        };
        if !pre.is_empty() {
            validate_prerelease(pre, s)?;
        }
        if !build.is_empty() {
            validate_metadata(build, s)?;
        }
        Version::from_parts([major, minor, patch], s, pre, build)
    }

    /// A version of these numbers parsed from `s`, whose prerelease and build are `pre` and
    /// `build` (slices of `s`, or empty).
    fn from_parts([major, minor, patch]: [u64; 3], s: &str, pre: &str, build: &str) -> Result<Version, VersionError> {
        let too_long = || VersionError::InvalidSemVer(s.to_owned());
        let len = u32::try_from(s.len()).map_err(|_| too_long())?;
        // Where a slice of `s` starts in it (an empty part is placed at the end).
        let span = |part: &str| -> Result<(u32, u32), VersionError> {
            if part.is_empty() {
                return Ok((len, len));
            }
            let start = (part.as_ptr() as usize).checked_sub(s.as_ptr() as usize).ok_or_else(too_long)?;
            let end = start + part.len();
            if s.get(start..end) != Some(part) {
                return Err(too_long());
            }
            Ok((u32::try_from(start).map_err(|_| too_long())?, u32::try_from(end).map_err(|_| too_long())?))
        };
        let pre = span(pre)?;
        let (build, _) = span(build)?;
        Ok(Version { major, minor, patch, original: s.into(), pre, build })
    }

    /// Strict SemVer 2.0.0 parsing, Masterminds `StrictNewVersion` (used by `helm lint` and for
    /// OCI tags): exactly three parts, no `v`, no leading zeros.
    pub fn parse_strict(s: &str) -> Result<Version, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        let mut parts = s.splitn(3, '.');
        let (Some(p0), Some(p1), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VersionError::InvalidSemVer(s.to_owned()));
        };
        let mut p2 = rest;
        let mut build = "";
        if let Some((head, b)) = p2.split_once('+') {
            build = b;
            p2 = head;
            validate_metadata(build, s)?;
        }
        let mut pre = "";
        if let Some((head, p)) = p2.split_once('-') {
            pre = p;
            p2 = head;
            validate_prerelease(pre, s)?;
        }
        let mut nums = [0u64; 3];
        for (slot, p) in nums.iter_mut().zip([p0, p1, p2]) {
            if !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(VersionError::InvalidCharacters(s.to_owned()));
            }
            if p.len() > 1 && p.starts_with('0') {
                return Err(VersionError::SegmentStartsZero(s.to_owned()));
            }
            // An empty part is all digits but does not parse (Go: strconv.ParseUint: invalid syntax).
            if p.is_empty() {
                return Err(VersionError::InvalidSemVer(s.to_owned()));
            }
            *slot = parse_u64(p).ok_or_else(|| VersionError::SegmentOutOfRange(s.to_owned()))?;
        }
        Version::from_parts(nums, s, pre, build)
    }

    /// `major.minor.patch` with no prerelease or build.
    pub fn new(major: u64, minor: u64, patch: u64) -> Version {
        let original: Box<str> = format!("{major}.{minor}.{patch}").into();
        let len = original.len() as u32;
        Version { major, minor, patch, original, pre: (len, len), build: len }
    }

    /// The exact string this version was parsed from (Masterminds `Original()`).
    pub fn original(&self) -> &str {
        &self.original
    }

    pub fn major(&self) -> u64 {
        self.major
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The prerelease without the leading `-` (empty when there is none).
    pub fn prerelease(&self) -> &str {
        self.original.get(self.pre.0 as usize..self.pre.1 as usize).unwrap_or("")
    }

    /// The build metadata without the leading `+` (empty when there is none).
    pub fn build(&self) -> &str {
        self.original.get(self.build as usize..).unwrap_or("")
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.0 != self.pre.1
    }
}

/// Canonical form (Masterminds `String()`): `v1.2-beta.5` prints as `1.2.0-beta.5`.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if self.is_prerelease() {
            write!(f, "-{}", self.prerelease())?;
        }
        if !self.build().is_empty() {
            write!(f, "+{}", self.build())?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl Ord for Version {
    /// Masterminds `Compare`.
    fn cmp(&self, other: &Self) -> Ordering {
        self.major.cmp(&other.major).then(self.minor.cmp(&other.minor)).then(self.patch.cmp(&other.patch)).then_with(
            || match (self.is_prerelease(), other.is_prerelease()) {
                (false, false) => Ordering::Equal,
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                (true, true) => compare_prerelease(self.prerelease(), other.prerelease()),
            },
        )
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Masterminds `comparePrerelease`: identifiers split on `.`, compared pairwise, a missing
/// identifier sorting first. Works on empty strings too (`""` splits into one empty identifier),
/// which the `!=` constraint relies on.
pub(crate) fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let o = compare_pre_part(x.unwrap_or(""), y.unwrap_or(""));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Masterminds `comparePrePart`. An identifier is numeric when Go's `strconv.ParseUint(s, 10, 64)`
/// accepts it (so `-2` and numbers above `u64::MAX` are alphanumeric); numeric sorts below
/// alphanumeric; alphanumerics compare bytewise. One deliberate difference: two numeric
/// identifiers of equal value but different spelling (`01` vs `1`, impossible in a validated
/// version) fall back to a bytewise comparison so that the order stays total.
fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (parse_u64(s), parse_u64(o)) {
        (None, None) => s.as_bytes().cmp(o.as_bytes()),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| s.as_bytes().cmp(o.as_bytes())),
    }
}

/// Go's `strconv.ParseUint(s, 10, 64)`: non-empty ASCII digits fitting in a `u64`.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

/// `[0-9]+` starting at `i`: returns the end index and the digits.
fn scan_digits(b: &[u8], i: usize) -> Option<(usize, &str)> {
    let mut end = i;
    while b.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    if end == i {
        return None;
    }
    // ASCII digits are always valid UTF-8.
    let digits = std::str::from_utf8(b.get(i..end)?).ok()?;
    Some((end, digits))
}

/// `[0-9A-Za-z-]`
pub(crate) fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// `[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*` starting at `i`, greedy. Returns the end index, `i` when
/// there is no identifier at `i`.
pub(crate) fn scan_identifiers(b: &[u8], i: usize) -> usize {
    let mut end = i;
    loop {
        let start = end;
        while b.get(end).copied().is_some_and(is_ident_char) {
            end += 1;
        }
        if end == start {
            return start;
        }
        if b.get(end) == Some(&b'.') && b.get(end + 1).copied().is_some_and(is_ident_char) {
            end += 1;
            continue;
        }
        return end;
    }
}

/// Masterminds `validatePrerelease`.
fn validate_prerelease(p: &str, input: &str) -> Result<(), VersionError> {
    for part in p.split('.') {
        if part.is_empty() {
            return Err(VersionError::InvalidPrerelease(input.to_owned()));
        }
        if part.bytes().all(|c| c.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err(VersionError::SegmentStartsZero(input.to_owned()));
            }
        } else if !part.bytes().all(is_ident_char) {
            return Err(VersionError::InvalidPrerelease(input.to_owned()));
        }
    }
    Ok(())
}

/// Masterminds `validateMetadata`.
fn validate_metadata(m: &str, input: &str) -> Result<(), VersionError> {
    for part in m.split('.') {
        if part.is_empty() || !part.bytes().all(is_ident_char) {
            return Err(VersionError::InvalidMetadata(input.to_owned()));
        }
    }
    Ok(())
}

/// Go's `strconv.Quote` (`%q`), close enough for error messages: escapes quotes, backslashes and
/// control characters.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Rows of a fixture TSV under `testdata/semver/`, header skipped, `\n` unescaped.
    pub(crate) fn fixture(name: &str) -> Vec<Vec<String>> {
        let path = format!("{}/../testdata/semver/{}", env!("CARGO_MANIFEST_DIR"), name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"));
        text.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(|f| f.replace("\\n", "\n").replace("\\\\", "\\")).collect())
            .collect()
    }

    fn parse_bool(s: &str) -> bool {
        match s {
            "true" => true,
            "false" => false,
            other => panic!("bad boolean {other:?}"),
        }
    }

    #[test]
    fn fixture_versions_lenient() {
        let rows = fixture("versions.tsv");
        assert_eq!(rows.len(), 44);
        let mut failures = Vec::new();
        for r in &rows {
            let got = Version::parse(&r[0]).is_ok();
            if got != parse_bool(&r[1]) {
                failures.push(format!("{:?}: got {got}, want {}", r[0], r[1]));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn fixture_versions_strict() {
        let rows = fixture("versions-strict.tsv");
        assert_eq!(rows.len(), 49);
        let mut failures = Vec::new();
        for r in &rows {
            let got = Version::parse_strict(&r[0]).is_ok();
            if got != parse_bool(&r[1]) {
                failures.push(format!("{:?}: got {got}, want {}", r[0], r[1]));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn fixture_version_string() {
        let rows = fixture("version-string.tsv");
        assert_eq!(rows.len(), 16);
        for r in &rows {
            let v = Version::parse(&r[0]).unwrap_or_else(|e| panic!("{:?}: {e}", r[0]));
            assert_eq!(v.to_string(), r[1], "input {:?}", r[0]);
            assert_eq!(v.original(), r[0]);
        }
    }

    #[test]
    fn fixture_compare() {
        let rows = fixture("compare.tsv");
        assert_eq!(rows.len(), 19);
        for r in &rows {
            let a = Version::parse(&r[0]).unwrap_or_else(|e| panic!("{:?}: {e}", r[0]));
            let b = Version::parse(&r[1]).unwrap_or_else(|e| panic!("{:?}: {e}", r[1]));
            let want = match r[2].as_str() {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                "1" => Ordering::Greater,
                other => panic!("bad expectation {other:?}"),
            };
            assert_eq!(a.cmp(&b), want, "{} vs {}", r[0], r[1]);
            assert_eq!(b.cmp(&a), want.reverse(), "{} vs {} (reversed)", r[1], r[0]);
            assert_eq!(a == b, want == Ordering::Equal);
        }
    }

    #[test]
    fn fixture_compare_ops() {
        let rows = fixture("compare-ops.tsv");
        assert_eq!(rows.len(), 17);
        for r in &rows {
            let a = Version::parse(&r[0]).unwrap_or_else(|e| panic!("{:?}: {e}", r[0]));
            let b = Version::parse(&r[2]).unwrap_or_else(|e| panic!("{:?}: {e}", r[2]));
            let got = match r[1].as_str() {
                "<" => a < b,
                "<=" => a <= b,
                ">" => a > b,
                ">=" => a >= b,
                other => panic!("bad op {other:?}"),
            };
            assert_eq!(got, parse_bool(&r[3]), "{} {} {}", r[0], r[1], r[2]);
        }
    }

    #[test]
    fn accessors_and_new() {
        let v = Version::parse("v1.2-beta.5+build.7").expect("valid");
        assert_eq!((v.major(), v.minor(), v.patch()), (1, 2, 0));
        assert_eq!(v.prerelease(), "beta.5");
        assert_eq!(v.build(), "build.7");
        assert!(v.is_prerelease());
        assert_eq!(v.original(), "v1.2-beta.5+build.7");
        assert_eq!(v.to_string(), "1.2.0-beta.5+build.7");
        let n = Version::new(3, 4, 5);
        assert_eq!(n.to_string(), "3.4.5");
        assert_eq!(n.original(), "3.4.5");
        assert!(!n.is_prerelease());
        assert_eq!("01.2.3".parse::<Version>().expect("valid"), Version::new(1, 2, 3));
        assert_eq!(Version::parse("1.0.0+b1").expect("valid"), Version::new(1, 0, 0));
        assert_eq!(Version::parse("1.2.18446744073709551615").expect("valid").patch(), u64::MAX);
        assert!(matches!(Version::parse("1.2.18446744073709551616"), Err(VersionError::SegmentOutOfRange(_))));
        let strict = Version::parse_strict("1.2.3-rc.1+b-2").expect("valid");
        assert_eq!((strict.prerelease(), strict.build(), strict.original()), ("rc.1", "b-2", "1.2.3-rc.1+b-2"));
        let build_only = Version::parse("2+x.y").expect("valid");
        assert_eq!((build_only.prerelease(), build_only.build(), build_only.is_prerelease()), ("", "x.y", false));
        assert_eq!(build_only.to_string(), "2.0.0+x.y");
    }

    /// Issue 16: one `Version` is kept per indexed chart version; its parts are ranges of the
    /// original text, not copies.
    #[test]
    fn a_version_is_compact() {
        assert!(std::mem::size_of::<Version>() <= 56, "{} bytes", std::mem::size_of::<Version>());
    }

    #[test]
    fn error_messages() {
        assert_eq!(Version::parse("foo").expect_err("invalid").to_string(), "invalid semantic version: \"foo\"");
        assert_eq!(
            Version::parse("1.2.3-beta.01").expect_err("invalid").to_string(),
            "version segment starts with 0: \"1.2.3-beta.01\""
        );
        assert_eq!(Version::parse_strict("").expect_err("invalid").to_string(), "version string empty");
        assert_eq!(Version::parse("\n1.2").expect_err("invalid").to_string(), "invalid semantic version: \"\\n1.2\"");
    }

    #[test]
    fn strict_edge_cases() {
        for bad in ["1..3", "1.2.", ".1.2", "1.2.3-", "1.2.3+", "1.2.3-a..b", "1.2.3+a..b", "v1.2.3"] {
            assert!(Version::parse_strict(bad).is_err(), "{bad:?}");
        }
        let v = Version::parse_strict("1.2.3-a-b+c-d").expect("valid");
        assert_eq!(v.prerelease(), "a-b");
        assert_eq!(v.build(), "c-d");
    }

    #[test]
    fn sorting_is_total_and_consistent() {
        let mut vs: Vec<Version> = [
            "1.0.0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "0.9.9",
            "v1.0.0+b",
            "1.0.1-0",
            "1.0.0-beta.-2",
        ]
        .iter()
        .map(|s| Version::parse(s).expect("valid"))
        .collect();
        vs.sort();
        let got: Vec<String> = vs.iter().map(|v| v.original().to_owned()).collect();
        let pos = |s: &str| got.iter().position(|g| g == s).expect("present");
        assert!(pos("0.9.9") < pos("1.0.0-alpha"));
        assert!(pos("1.0.0-alpha") < pos("1.0.0-alpha.1"));
        assert!(pos("1.0.0-alpha.1") < pos("1.0.0-alpha.beta"));
        assert!(pos("1.0.0-beta.2") < pos("1.0.0-beta.11"));
        assert!(pos("1.0.0-beta.11") < pos("1.0.0-beta.-2"));
        assert!(pos("1.0.0-rc.1") < pos("1.0.0").min(pos("v1.0.0+b")));
        assert!(pos("1.0.0").max(pos("v1.0.0+b")) < pos("1.0.1-0"));
        for a in &vs {
            for b in &vs {
                assert_eq!(a.cmp(b), b.cmp(a).reverse(), "{a} {b}");
            }
        }
    }
}
