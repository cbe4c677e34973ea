use super::*;
use crate::version::tests::fixture;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn c(s: &str) -> Constraint {
    Constraint::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn run_check_fixture(name: &str, include_prerelease: bool, expected_rows: usize) {
    let rows = fixture(name);
    assert_eq!(rows.len(), expected_rows, "{name}");
    let mut failures = Vec::new();
    for r in &rows {
        let want = r[2] == "true";
        match (Constraint::parse(&r[0]), Version::parse(&r[1])) {
            (Ok(con), Ok(ver)) => {
                let got = con.matches_with(&ver, PrereleasePolicy::PerGroup, include_prerelease);
                if got != want {
                    failures.push(format!("{:?} vs {:?}: got {got}, want {want}", r[0], r[1]));
                }
                if !include_prerelease && con.matches(&ver) != got {
                    failures.push(format!("{:?} vs {:?}: matches() disagrees", r[0], r[1]));
                }
            }
            (a, b) => failures.push(format!("{:?} / {:?}: {a:?} {b:?}", r[0], r[1])),
        }
    }
    assert!(failures.is_empty(), "{name}: {} failures: {failures:#?}", failures.len());
}

#[test]
fn fixture_constraints() {
    run_check_fixture("constraints.tsv", false, 237);
}

#[test]
fn fixture_constraints_include_prerelease() {
    run_check_fixture("constraints-include-prerelease.tsv", true, 141);
}

#[test]
fn fixture_parse_errors() {
    let rows = fixture("constraint-parse-errors.tsv");
    assert_eq!(rows.len(), 8);
    for r in &rows {
        assert!(Constraint::parse(&r[0]).is_err(), "{:?} should be rejected", r[0]);
    }
}

#[test]
fn fixture_parse_ok() {
    let rows = fixture("constraint-parse-ok.tsv");
    assert_eq!(rows.len(), 12);
    for r in &rows {
        let con = c(&r[0]);
        assert_eq!(con.groups().to_string(), r[1], "groups of {:?}", r[0]);
        assert_eq!(con.terms_in_group(0).to_string(), r[2], "terms of {:?}", r[0]);
    }
}

#[test]
fn fixture_constraint_string() {
    let rows = fixture("constraint-string.tsv");
    assert_eq!(rows.len(), 12);
    for r in &rows {
        let con = c(&r[0]);
        assert_eq!(con.to_string(), r[1], "String() of {:?}", r[0]);
        // The normalised form parses back to itself.
        assert_eq!(c(&con.to_string()).to_string(), r[1]);
    }
}

#[test]
fn prerelease_policies() {
    let range = c(">=1.0.0-0 <2.0.0");
    let rc = v("1.5.0-rc.1");
    assert!(!range.matches_with(&rc, PrereleasePolicy::PerComparator, false));
    assert!(range.matches_with(&rc, PrereleasePolicy::PerGroup, false));
    assert!(range.matches(&rc));
    assert!(range.matches_with(&rc, PrereleasePolicy::PerComparator, true));
    // Upstream's own example of the v3.4.0 change.
    let up = c(">= 1.0.0-0  <= 2.0.0");
    assert!(!up.matches_with(&v("1.0.1-beta"), PrereleasePolicy::PerComparator, false));
    assert!(up.matches_with(&v("1.0.1-beta"), PrereleasePolicy::PerGroup, false));

    for policy in [PrereleasePolicy::PerComparator, PrereleasePolicy::PerGroup] {
        assert!(!c("*").matches_with(&v("1.1.0-rc.1"), policy, false), "{policy:?}");
        assert!(c("*").matches_with(&v("1.1.0-rc.1"), policy, true), "{policy:?}");
        assert!(c(">0.0.0-0").matches_with(&v("1.1.0-rc.1"), policy, false), "{policy:?}");
        assert!(c("1.2.3").matches_with(&v("1.2.3"), policy, false));
        assert!(!c("1.2.3").matches_with(&v("1.2.4"), policy, false));
        assert!(!c("1.2.3").matches_with(&v("1.2.2"), policy, false));
        assert!(c("1.0.0").matches_with(&v("1.0.0+build"), policy, false));
        assert!(c("=1.0.0").matches_with(&v("v1.0.0"), policy, false));
    }
    // v3.3.0 quirk: a plain `!=` never rejected a prerelease; v3.4.0 does.
    let ne = c("!=1.2.3");
    assert!(ne.matches_with(&v("1.2.4-beta"), PrereleasePolicy::PerComparator, false));
    assert!(!ne.matches_with(&v("1.2.4-beta"), PrereleasePolicy::PerGroup, false));
    assert!(!c("!=1.2.x").matches_with(&v("1.3.0-beta"), PrereleasePolicy::PerComparator, false));
    assert_eq!(PrereleasePolicy::default(), PrereleasePolicy::PerGroup);
}

#[test]
fn fixture_constraints_per_comparator_agrees_without_prereleases() {
    // Without prerelease versions the two policies are the same function.
    for name in ["constraints.tsv", "constraints-include-prerelease.tsv"] {
        for r in fixture(name) {
            let (Ok(con), Ok(ver)) = (Constraint::parse(&r[0]), Version::parse(&r[1])) else {
                panic!("{r:?}");
            };
            if !ver.is_prerelease() {
                assert_eq!(
                    con.matches_with(&ver, PrereleasePolicy::PerComparator, false),
                    con.matches_with(&ver, PrereleasePolicy::PerGroup, false),
                    "{r:?}"
                );
            }
        }
    }
}

#[test]
fn error_messages() {
    assert_eq!(Constraint::parse("").expect_err("empty").to_string(), "improper constraint: \"\"");
    assert_eq!(Constraint::parse(">= bar").expect_err("bad").to_string(), "improper constraint: \">= bar\"");
    assert_eq!(Constraint::parse("1.0 || foo").expect_err("bad"), ConstraintError::Improper(" foo".to_owned()));
    assert_eq!(
        Constraint::parse("v1.2.3-beta.01").expect_err("bad"),
        ConstraintError::Parser("v1.2.3-beta.01".to_owned())
    );
    assert!(matches!(Constraint::parse("1x"), Err(ConstraintError::Parser(_))));
    assert!(matches!(Constraint::parse("1|2"), Err(ConstraintError::Parser(_))));
    assert!(matches!(Constraint::parse("   "), Err(ConstraintError::Improper(_))));
    assert!(matches!(Constraint::parse("1.2,"), Err(ConstraintError::Improper(_))));
    assert!(matches!(Constraint::parse("1.2,,1.3"), Err(ConstraintError::Improper(_))));
    assert!(matches!(Constraint::parse("1 ||"), Err(ConstraintError::Improper(_))));
}

#[test]
fn grammar_details() {
    assert_eq!(c("~> 1.2").to_string(), "~>1.2");
    assert!(c("~> 1.2").matches(&v("1.2.9")));
    assert!(!c("~> 1.2").matches(&v("1.3.0")));
    assert!(c("=< 1.2").matches(&v("1.2.9")));
    assert!(c("=> 1.2").matches(&v("1.2.0")));
    assert!(c("v1.2.3").matches(&v("1.2.3")));
    assert!(c("1.2.3+build").matches(&v("1.2.3")));
    assert!(c("1.x.x").matches(&v("1.9.9")));
    assert!(c("1.*").matches(&v("1.9.9")));
    assert!(c("\t>=1.0,\n<2.0 ").matches(&v("1.5.0")));
    assert_eq!(c("2.3.4 - 4.5").to_string(), ">=2.3.4 <=4.5");
    assert!(c("2.3.4 - 4.5").matches(&v("4.5.9")));
    assert!(!c("2.3.4 - 4.5").matches(&v("4.6.0")));
    assert!(c("^1.2 || ^2.0").matches(&v("2.5.0")));
    assert!(c(">=1.0 <2.0 || 3.x").matches(&v("3.1.0")));
    assert!(!c(">=1.0 <2.0 || 3.x").matches(&v("2.1.0")));
    // `||` inside a hyphen range's second version: Masterminds rewrites `1 - 2||3 ` and the
    // remaining ` - 4` makes the second group improper.
    assert!(Constraint::parse("1 - 2||3 - 4").is_err());
    assert!(c("1 - 2 || 3 - 4").matches(&v("3.5.0")));
    // A range glued to an operator is rewritten in place and becomes improper, as upstream.
    assert!(Constraint::parse(">=1.0 - 2.0").is_err());
}

#[test]
fn rewrite_range_matches_upstream_shape() {
    assert_eq!(rewrite_range("1.0.0 - 2.0.0 <=2.0.0"), ">= 1.0.0, <= 2.0.0 <=2.0.0");
    assert_eq!(rewrite_range("3 - 4 || => 3.0, < 4"), ">= 3, <= 4 || => 3.0, < 4");
    assert_eq!(rewrite_range("1 - 2 || 1 - 2"), ">= 1, <= 2 ||>= 1, <= 2 ");
    assert_eq!(rewrite_range("1.1-3"), "1.1-3");
    assert_eq!(rewrite_range("no range"), "no range");
}

#[test]
fn select_like_helm() {
    struct E(&'static str);
    let entries = [E("2.0.0-rc.1"), E("1.10.0"), E("v1.2.0"), E("not-a-version"), E("1.0.0+b1"), E("0.9.0")];
    let pick = |req: &str| select(&entries, |e| e.0, req).map(|o| o.map(|e| e.0));
    assert_eq!(pick(""), Ok(Some("1.10.0")));
    assert_eq!(pick("*"), Ok(Some("1.10.0")));
    assert_eq!(pick(">0.0.0-0"), Ok(Some("2.0.0-rc.1")));
    assert_eq!(pick("1.2.0"), Ok(Some("v1.2.0")));
    assert_eq!(pick("v1.2.0"), Ok(Some("v1.2.0")));
    assert_eq!(pick("1.0.0"), Ok(Some("1.0.0+b1")));
    assert_eq!(pick("1.0.0+b1"), Ok(Some("1.0.0+b1")));
    assert_eq!(pick("~0.9"), Ok(Some("0.9.0")));
    assert_eq!(pick("^1.0"), Ok(Some("1.10.0")));
    assert_eq!(pick("3.x"), Ok(None));
    assert!(pick("not-a-version").is_err());
    let empty: [E; 0] = [];
    assert_eq!(select(&empty, |e| e.0, "").map(|o| o.is_some()), Ok(false));
}

/// Tiny xorshift generator: no new dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }
}

const PIECES: &[&str] = &[
    "0",
    "1",
    "2",
    "9",
    "01",
    "00",
    "18446744073709551615",
    "18446744073709551616",
    ".",
    ".",
    "..",
    "-",
    " - ",
    "+",
    "v",
    "V",
    "x",
    "X",
    "*",
    "|",
    "||",
    " || ",
    ",",
    ", ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "=",
    "!=",
    ">",
    "<",
    ">=",
    "=>",
    "<=",
    "=<",
    "~",
    "~>",
    "^",
    "alpha",
    "beta",
    "rc",
    "SNAPSHOT",
    "a",
    "Z",
    "_",
    "é",
    "\u{1F600}",
    "\u{0}",
    "\u{85}",
    "1.2.3",
    "v1.2",
    "1.x",
    "-0",
    "+build",
    "-rc.1",
    "1 - 2",
    "0.0.0-0",
];

fn random_string(rng: &mut Rng) -> String {
    let n = rng.below(12);
    let mut s = String::new();
    for _ in 0..n {
        if rng.below(10) == 0 {
            // An arbitrary char, possibly multi-byte.
            let cp = u32::try_from(rng.next() % 0x11_0000).unwrap_or(0);
            s.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
        } else {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    s
}

#[test]
fn property_parse_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let probes: Vec<Version> =
        ["0.0.0", "1.2.3", "1.2.3-rc.1", "2.0.0", "0.0.1-0", "1.2.3+b"].iter().map(|s| v(s)).collect();
    let mut parsed_constraints = 0;
    let mut parsed_versions = 0;
    for _ in 0..50_000 {
        let s = random_string(&mut rng);
        if let Ok(ver) = Version::parse(&s) {
            parsed_versions += 1;
            // Display is canonical and re-parses to an equal version.
            let again =
                Version::parse(&ver.to_string()).unwrap_or_else(|e| panic!("{s:?} -> {ver} does not re-parse: {e}"));
            assert_eq!(again, ver);
            assert_eq!(again.build(), ver.build());
        }
        if let Ok(strict) = Version::parse_strict(&s) {
            assert_eq!(Version::parse(&s).ok(), Some(strict), "{s:?}");
        }
        match Constraint::parse(&s) {
            Ok(con) => {
                parsed_constraints += 1;
                let shown = con.to_string();
                let again =
                    Constraint::parse(&shown).unwrap_or_else(|e| panic!("{s:?} -> {shown:?} does not re-parse: {e}"));
                assert_eq!(again.to_string(), shown, "{s:?}");
                assert_eq!(again.groups(), con.groups(), "{s:?}");
                for p in &probes {
                    for policy in [PrereleasePolicy::PerComparator, PrereleasePolicy::PerGroup] {
                        for inc in [false, true] {
                            assert_eq!(
                                con.matches_with(p, policy, inc),
                                again.matches_with(p, policy, inc),
                                "{s:?} vs {p}"
                            );
                        }
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        let _ = select(&probes, |p| p.original(), &s);
    }
    // The generator does reach the interesting paths.
    assert!(parsed_versions > 100, "{parsed_versions}");
    assert!(parsed_constraints > 100, "{parsed_constraints}");
}

#[test]
fn long_inputs_are_handled() {
    let long = "1".repeat(10_000);
    assert!(Version::parse(&long).is_err());
    assert!(Constraint::parse(&long).is_err());
    let many = vec!["1.2.3"; 2000].join(" || ");
    assert_eq!(c(&many).groups(), 2000);
    let ranges = vec!["1 - 2"; 500].join(" || ");
    assert_eq!(c(&ranges).groups(), 500);
    let junk = format!("{} - 1", "1.".repeat(5000));
    assert!(Constraint::parse(&junk).is_err());
    // Worst case for the leftmost-first range search (quadratic in the token length): an
    // 8 KiB token made of many candidate starts, each scanning to the end of the token.
    let worst = format!("{}_ - 1", "1-a.".repeat(2048));
    let started = std::time::Instant::now();
    let _ = Constraint::parse(&worst);
    let took = started.elapsed();
    eprintln!("worst-case 8 KiB constraint: {took:?}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}

/// Property tests (issue 17): printing a parsed constraint gives a constraint that parses to
/// the same printing and matches exactly the same versions.
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn version_text() -> impl Strategy<Value = String> {
        let part = prop_oneof![Just("0".to_owned()), Just("1".to_owned()), Just("12".to_owned()), Just("x".to_owned())];
        let pre = prop_oneof![Just(""), Just("-alpha"), Just("-alpha.1"), Just("-0.3.7"), Just("-rc.2+build.5")];
        (
            prop_oneof![Just(""), Just("v")],
            prop_oneof![Just("0".to_owned()), Just("1".to_owned()), Just("2".to_owned()), Just("*".to_owned())],
            proptest::option::of(part.clone()),
            proptest::option::of(part),
            pre,
        )
            .prop_map(|(v, major, minor, patch, pre)| {
                let mut s = format!("{v}{major}");
                if let Some(minor) = minor {
                    s = format!("{s}.{minor}");
                    if let Some(patch) = patch {
                        s = format!("{s}.{patch}");
                    }
                }
                format!("{s}{pre}")
            })
    }

    fn term() -> impl Strategy<Value = String> {
        let op = prop_oneof![
            Just(""),
            Just("="),
            Just("!="),
            Just(">"),
            Just("<"),
            Just(">="),
            Just("<="),
            Just("=>"),
            Just("=<"),
            Just("~"),
            Just("~>"),
            Just("^"),
            Just("> "),
        ];
        prop_oneof![
            4 => (op, version_text()).prop_map(|(op, v)| format!("{op}{v}")),
            1 => (version_text(), version_text()).prop_map(|(a, b)| format!("{a} - {b}")),
        ]
    }

    fn constraint_text() -> impl Strategy<Value = String> {
        let group = proptest::collection::vec(term(), 1..4)
            .prop_flat_map(|terms| prop_oneof![Just(" "), Just(", "), Just(",")].prop_map(move |sep| terms.join(sep)));
        proptest::collection::vec(group, 1..3).prop_map(|groups| groups.join(" || "))
    }

    fn any_version() -> impl Strategy<Value = Version> {
        (0u64..4, 0u64..14, 0u64..14, prop_oneof![Just(""), Just("-alpha"), Just("-alpha.1"), Just("-rc.2")])
            .prop_map(|(a, b, c, pre)| v(&format!("{a}.{b}.{c}{pre}")))
    }

    proptest! {
        #[test]
        fn printed_constraints_parse_back_to_the_same_meaning(
            text in constraint_text(),
            versions in proptest::collection::vec(any_version(), 1..12),
        ) {
            let Ok(parsed) = Constraint::parse(&text) else { return Ok(()) };
            let printed = parsed.to_string();
            let again = Constraint::parse(&printed);
            prop_assert!(again.is_ok(), "{text:?} printed as {printed:?}, which does not parse: {again:?}");
            let again = again.unwrap();
            prop_assert_eq!(again.to_string(), printed.clone());
            for version in &versions {
                for policy in [PrereleasePolicy::PerGroup, PrereleasePolicy::PerComparator] {
                    for include in [false, true] {
                        prop_assert_eq!(
                            parsed.matches_with(version, policy, include),
                            again.matches_with(version, policy, include),
                            "{} against {:?} (printed {:?})", version, text, printed
                        );
                    }
                }
            }
        }
    }
}
