//! Helm's `.helmignore` rules (`helm/helm:pkg/ignore/rules.go`, the same in Helm 3.17 and 4.x).
//!
//! * Lines are trimmed; blank lines and lines starting with `#` are skipped.
//! * A line containing `**` is an error ("double-star (**) syntax is not supported"), and so is
//!   a pattern Go's `filepath.Match` refuses ("syntax error in pattern").
//! * Patterns are Go `filepath.Match` globs ([`glob_match`]): `*` and `?` never match `/`,
//!   `[...]` classes with ranges and `^` negation, `\` escapes.
//! * A trailing `/` restricts a rule to directories; a leading `/` anchors it to the chart root;
//!   a pattern containing `/` is matched against the whole relative path, one without `/`
//!   against the basename only.
//! * Rules are tried in order and the first decision wins. A `!pattern` rule is Helm's odd
//!   negation: a path that does **not** match it is ignored, one that matches goes on to the next
//!   rule (and a directory-only `!dir/` rule ignores every file).
//! * The default rule `templates/.?*` is appended after the file's rules.
//!
//! [`HelmIgnore::ignored`] decides one path, like Helm's `Rules.Ignore`; a directory walk must
//! skip the whole subtree of an ignored directory (Helm returns `filepath.SkipDir`), which
//! [`HelmIgnore::ignored_with_ancestors`] does for callers holding a flat list of paths.

/// The rule Helm appends to every rule set (`Rules.AddDefaults`).
pub const DEFAULT_RULE: &str = "templates/.?*";

/// Why a `.helmignore` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelmIgnoreError {
    /// A rule contains `**`.
    #[error(".helmignore line {line}: {rule:?}: double-star (**) syntax is not supported")]
    DoubleStar { line: usize, rule: String },
    /// Go's `filepath.Match` refuses the pattern (`filepath.ErrBadPattern`).
    #[error(".helmignore line {line}: {rule:?}: syntax error in pattern")]
    BadPattern { line: usize, rule: String },
}

/// How a rule's pattern is compared with a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Leading `/`: the whole relative path, from the chart root.
    Anchored,
    /// The pattern contains `/`: the whole relative path.
    Path,
    /// No `/`: the basename only.
    Basename,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    raw: String,
    negate: bool,
    must_dir: bool,
    scope: Scope,
    pattern: String,
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        let name = match self.scope {
            Scope::Anchored | Scope::Path => path,
            Scope::Basename => base_name(path),
        };
        // Patterns were checked at parse time; a late error counts as "no match" (Helm logs it).
        glob_match(&self.pattern, name).unwrap_or(false)
    }
}

/// A parsed `.helmignore`, default rule included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmIgnore {
    rules: Vec<Rule>,
}

impl Default for HelmIgnore {
    /// The rules Helm uses for a chart without `.helmignore`: only [`DEFAULT_RULE`].
    fn default() -> Self {
        let mut rules = Vec::with_capacity(1);
        if let Ok(Some(rule)) = parse_rule(DEFAULT_RULE, 0) {
            rules.push(rule);
        }
        HelmIgnore { rules }
    }
}

impl HelmIgnore {
    /// Parse the text of a `.helmignore` file and append the default rule.
    pub fn parse(text: &str) -> Result<HelmIgnore, HelmIgnoreError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(rule) = parse_rule(line, i + 1)? {
                rules.push(rule);
            }
        }
        rules.extend(HelmIgnore::default().rules);
        Ok(HelmIgnore { rules })
    }

    /// Helm's `Rules.Ignore` for one path relative to the chart root (`/` separators, no
    /// leading `/`); `is_dir` tells whether it names a directory.
    ///
    /// Only this path is judged: a file inside an ignored directory is not ignored by this call
    /// (a walk never reaches it). See [`HelmIgnore::ignored_with_ancestors`].
    pub fn ignored(&self, rel_path: &str, is_dir: bool) -> bool {
        if rel_path.is_empty() || rel_path == "." || rel_path == "./" {
            return false;
        }
        for rule in &self.rules {
            if rule.negate {
                if rule.must_dir && !is_dir {
                    return true;
                }
                if !rule.matches(rel_path) {
                    return true;
                }
                continue;
            }
            if rule.must_dir && !is_dir {
                continue;
            }
            if rule.matches(rel_path) {
                return true;
            }
        }
        false
    }

    /// Whether a walk of the chart would leave `rel_path` out: it is ignored itself, or one of
    /// its parent directories is.
    pub fn ignored_with_ancestors(&self, rel_path: &str, is_dir: bool) -> bool {
        let mut end = 0;
        while let Some(pos) = rel_path.get(end..).and_then(|rest| rest.find('/')) {
            let dir = rel_path.get(..end + pos).unwrap_or("");
            if self.ignored(dir, true) {
                return true;
            }
            end += pos + 1;
        }
        self.ignored(rel_path, is_dir)
    }

    /// The rules as written (default rule last), for diagnostics.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.raw.as_str())
    }
}

/// Helm's `Rules.parseRule` for one line; `Ok(None)` for blank lines and comments.
fn parse_rule(line: &str, line_no: usize) -> Result<Option<Rule>, HelmIgnoreError> {
    let rule = line.trim();
    if rule.is_empty() || rule.starts_with('#') {
        return Ok(None);
    }
    if rule.contains("**") {
        return Err(HelmIgnoreError::DoubleStar { line: line_no, rule: rule.to_owned() });
    }
    // Helm checks the whole line (a leading `!` included) against a non-empty name.
    if glob_match(rule, "abc").is_err() {
        return Err(HelmIgnoreError::BadPattern { line: line_no, rule: rule.to_owned() });
    }
    let raw = rule.to_owned();
    let (negate, rule) = match rule.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, rule),
    };
    let (must_dir, rule) = match rule.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, rule),
    };
    let (scope, pattern) = if let Some(rest) = rule.strip_prefix('/') {
        (Scope::Anchored, rest)
    } else if rule.contains('/') {
        (Scope::Path, rule)
    } else {
        (Scope::Basename, rule)
    };
    Ok(Some(Rule { raw, negate, must_dir, scope, pattern: pattern.to_owned() }))
}

/// Go's `filepath.Base` for `/`-separated paths (trailing slashes dropped, `"."` for empty).
fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    match trimmed.rfind('/') {
        Some(i) => trimmed.get(i + 1..).unwrap_or(trimmed),
        None => trimmed,
    }
}

/// `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `filepath.Match` on a Unix system (separator `/`), ported line by line.
///
/// `*` matches any run of non-`/` bytes, `?` one non-`/` character, `[...]` one character of
/// a class (`[^...]` negated, `a-z` ranges, `\` escapes), `\x` the character `x`. A malformed
/// pattern is an error, reported even when the name already failed to match (as Go does).
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it contains a separator.
            return Ok(!name.contains(&b'/'));
        }
        // Look for a match at the current position.
        let (t, ok, err) = match_chunk(chunk, name);
        // The last chunk must exhaust the name, or the star could still match more.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(BadPattern);
        }
        if star {
            // Look for a match skipping i+1 bytes; a star cannot skip `/`.
            let mut i = 0;
            while i < name.len() && name.get(i) != Some(&b'/') {
                let skipped = name.get(i + 1..).unwrap_or_default();
                let (t, ok, err) = match_chunk(chunk, skipped);
                if ok {
                    // The last chunk must exhaust the name.
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(BadPattern);
                }
                i += 1;
            }
        }
        // Before returning false, check that the rest of the pattern is well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if match_chunk(chunk, b"").2 {
                return Err(BadPattern);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Go's `scanChunk`: leading stars, then the chunk up to the next star outside a class.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let Some((b'*', rest)) = pattern.split_first() {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while let Some(&c) = pattern.get(i) {
        match c {
            // An escaped byte is skipped (a trailing `\` is reported by `match_chunk`).
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    let (chunk, rest) = pattern.split_at(i.min(pattern.len()));
    (star, chunk, rest)
}

/// Go's `matchChunk`: `(rest of s, matched, bad pattern)`. After a failed match the chunk is
/// still walked to validate it, without consuming `s`.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> (&'s [u8], bool, bool) {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = s.get(n..).unwrap_or_default();
                }
                chunk = chunk.get(1..).unwrap_or_default();
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = chunk.get(1..).unwrap_or_default();
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = chunk.get(1..).unwrap_or_default();
                        break;
                    }
                    let Some((lo, rest)) = get_esc(chunk) else {
                        return (b"", false, true);
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let Some((h, rest)) = get_esc(chunk.get(1..).unwrap_or_default()) else {
                            return (b"", false, true);
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s.first() == Some(&b'/') {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = s.get(n..).unwrap_or_default();
                }
                chunk = chunk.get(1..).unwrap_or_default();
            }
            _ => {
                let literal = if c == b'\\' {
                    chunk = chunk.get(1..).unwrap_or_default();
                    match chunk.first() {
                        Some(&l) => l,
                        None => return (b"", false, true),
                    }
                } else {
                    c
                };
                if !failed {
                    if s.first() != Some(&literal) {
                        failed = true;
                    }
                    s = s.get(1..).unwrap_or_default();
                }
                chunk = chunk.get(1..).unwrap_or_default();
            }
        }
    }
    if failed { (b"", false, false) } else { (s, true, false) }
}

/// Go's `getEsc`: one (possibly escaped) character of a class; `None` for a bad pattern.
fn get_esc(mut chunk: &[u8]) -> Option<(u32, &[u8])> {
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return None,
        Some(b'\\') => {
            chunk = chunk.get(1..).unwrap_or_default();
            if chunk.is_empty() {
                return None;
            }
        }
        Some(_) => {}
    }
    let (r, n) = decode_rune(chunk);
    if r == u32::from(char::REPLACEMENT_CHARACTER) && n == 1 {
        return None;
    }
    let rest = chunk.get(n..).unwrap_or_default();
    if rest.is_empty() {
        return None;
    }
    Some((r, rest))
}

/// Go's `utf8.DecodeRune`: `(rune, width)`; `(U+FFFD, 1)` for invalid input, `(U+FFFD, 0)`
/// for empty input.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let Some(&first) = s.first() else {
        return (u32::from(char::REPLACEMENT_CHARACTER), 0);
    };
    let width = match first {
        0x00..=0x7F => return (u32::from(first), 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (u32::from(char::REPLACEMENT_CHARACTER), 1),
    };
    match s.get(..width).and_then(|b| std::str::from_utf8(b).ok()).and_then(|t| t.chars().next()) {
        Some(c) => (u32::from(c), width),
        None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `filepath.Match` test table (`path/filepath/match_test.go`, Unix cases).
    #[test]
    fn go_match_table() {
        let bad = Err(BadPattern);
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", bad),
            ("[-]", "-", bad),
            ("[x-]", "x", bad),
            ("[x-]", "-", bad),
            ("[x-]", "z", bad),
            ("[-x]", "x", bad),
            ("[-x]", "-", bad),
            ("[-x]", "a", bad),
            ("\\", "a", bad),
            ("[a-b-c]", "a", bad),
            ("[", "a", bad),
            ("[^", "a", bad),
            ("[^bc", "a", bad),
            ("a[", "a", bad),
            ("a[", "ab", bad),
            ("a[", "x", bad),
            ("a/b[", "x", bad),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(glob_match(pattern, name), *want, "Match({pattern:?}, {name:?})");
        }
    }

    fn rules(text: &str) -> HelmIgnore {
        HelmIgnore::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// Helm's `pkg/ignore/rules_test.go` (`TestIgnore`), against its testdata tree, plus the
    /// directory and anchoring cases of its `TestParseFile`/`TestIgnore` fixtures.
    #[test]
    fn helm_rules_test_cases() {
        // (pattern, path, is_dir, expected)
        let cases: &[(&str, &str, bool, bool)] = &[
            // Glob tests
            ("helm.txt", "helm.txt", false, true),
            ("helm.*", "helm.txt", false, true),
            ("helm.*", "rudder.txt", false, false),
            ("*.txt", "tiller.txt", false, true),
            ("*.txt", "cargo/a.txt", false, true),
            ("cargo/*.txt", "cargo/a.txt", false, true),
            ("cargo/*.*", "cargo/a.txt", false, true),
            ("cargo/*.txt", "mast/a.txt", false, false),
            ("ru[c-e]?er.txt", "rudder.txt", false, true),
            ("templates/.?*", "templates/.dotfile", false, true),
            // "." should never get ignored. https://github.com/helm/helm/issues/1776
            (".*", ".", true, false),
            (".*", "./", true, false),
            (".*", ".joonix", false, true),
            (".*", "helm.txt", false, false),
            (".*", "", false, false),
            // Directory tests
            ("cargo/", "cargo", true, true),
            ("cargo/", "cargo/", true, true),
            ("cargo/", "mast/", true, false),
            ("helm.txt/", "helm.txt", false, false),
            // Negation tests
            ("!helm.txt", "helm.txt", false, false),
            ("!helm.txt", "tiller.txt", false, true),
            ("!*.txt", "cargo", true, true),
            ("!cargo/", "mast/", true, true),
            // Absolute path tests
            ("/a.txt", "a.txt", false, true),
            ("/a.txt", "cargo/a.txt", false, false),
            ("/cargo/a.txt", "cargo/a.txt", false, true),
        ];
        for (pattern, path, is_dir, want) in cases {
            let r = rules(pattern);
            assert_eq!(r.ignored(path, *is_dir), *want, "pattern {pattern:?} path {path:?} dir {is_dir}");
        }
    }

    #[test]
    fn parse_skips_comments_and_blanks_and_appends_default() {
        let r = rules("# comment\n\n   \n  *.bak  \r\n#!nope\n");
        assert_eq!(r.rules().collect::<Vec<_>>(), vec!["*.bak", DEFAULT_RULE]);
        assert!(r.ignored("x.bak", false));
        assert!(r.ignored("templates/.hidden.yaml", false));
        assert!(!r.ignored("templates/a.yaml", false));
        // `templates/.?*` needs at least one character after the dot.
        assert!(!r.ignored("templates/.", false));
        assert_eq!(HelmIgnore::default().rules().collect::<Vec<_>>(), vec![DEFAULT_RULE]);
    }

    #[test]
    fn parse_errors() {
        let e = HelmIgnore::parse("ok\nfoo/**/bar\n").unwrap_err();
        assert_eq!(e, HelmIgnoreError::DoubleStar { line: 2, rule: "foo/**/bar".into() });
        assert!(e.to_string().contains("double-star (**) syntax is not supported"), "{e}");
        assert!(HelmIgnore::parse("**").is_err());
        let e = HelmIgnore::parse("a[").unwrap_err();
        assert!(matches!(e, HelmIgnoreError::BadPattern { line: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("syntax error in pattern"), "{e}");
        assert!(HelmIgnore::parse("x\\").is_err());
        // A comment may contain anything.
        assert!(HelmIgnore::parse("# ** [").is_ok());
    }

    #[test]
    fn basename_versus_path_versus_anchored() {
        let r = rules("secret.txt\ndocs/*.log\n/anchored.txt\n");
        assert!(r.ignored("secret.txt", false));
        assert!(r.ignored("a/b/secret.txt", false), "no slash: basename at any depth");
        assert!(r.ignored("docs/x.log", false));
        assert!(!r.ignored("x.log", false));
        assert!(!r.ignored("docs/sub/x.log", false), "* does not cross /");
        assert!(!r.ignored("other/docs/x.log", false), "a slash pattern matches the whole path");
        assert!(r.ignored("anchored.txt", false));
        assert!(!r.ignored("docs/anchored.txt", false));
    }

    #[test]
    fn directory_rules() {
        let r = rules("tmp/\n");
        assert!(r.ignored("tmp", true));
        assert!(r.ignored("a/tmp", true), "dir rule without inner slash: basename");
        assert!(!r.ignored("tmp", false), "a regular file named tmp is kept");
        // The walk skips the subtree; the flat-list helper checks ancestors.
        assert!(!r.ignored("tmp/file", false));
        assert!(r.ignored_with_ancestors("tmp/file", false));
        assert!(r.ignored_with_ancestors("a/tmp/b/c", false));
        assert!(!r.ignored_with_ancestors("a/tmpx/b", false));
        let r = rules("/tmp/\n");
        assert!(r.ignored("tmp", true));
        assert!(!r.ignored("a/tmp", true));
    }

    #[test]
    fn negation_is_helms() {
        // A path that does not match a `!` rule is ignored; one that matches continues.
        let r = rules("*.bak\n![a-zA-Z_]*\n");
        assert!(r.ignored("old.bak", false), "decided before the negation");
        assert!(!r.ignored("Chart.yaml", false));
        assert!(r.ignored("9lives.txt", false));
        assert!(r.ignored(".helmignore", false));
        assert!(!r.ignored("templates", true));
        // Continuing past the negation reaches the default rule.
        assert!(r.ignored("templates/.x", false));
        // A directory-only negation ignores every file.
        let r = rules("!docs/\n");
        assert!(r.ignored("Chart.yaml", false));
        assert!(!r.ignored("docs", true));
        assert!(r.ignored("other", true));
        // `!` alone matches nothing, so it ignores everything.
        assert!(rules("!").ignored("Chart.yaml", false));
    }

    #[test]
    fn first_match_wins() {
        let r = rules("!*.yaml\n*.yaml\n");
        assert!(r.ignored("values.yaml", false), "continues past the negation to *.yaml");
        assert!(r.ignored("README.md", false), "does not match the negation");
        let r = rules("values.yaml\n!values.yaml\n");
        assert!(r.ignored("values.yaml", false));
    }

    #[test]
    fn classes_escapes_and_unicode() {
        let r = rules("[^a]*.txt\nfile\\?.md\nnaïve-?.txt\n");
        assert!(r.ignored("b.txt", false));
        assert!(!r.ignored("a.txt", false));
        assert!(r.ignored("file?.md", false));
        assert!(!r.ignored("filex.md", false));
        assert!(r.ignored("naïve-é.txt", false));
        assert!(!glob_match("[a-c]", "/").unwrap_or(true));
        assert!(glob_match("a[/]b", "a/b").unwrap_or(false), "Go classes may match the separator");
    }

    #[test]
    fn no_panic_on_odd_input() {
        let patterns = ["[", "[^", "[\\", "[a-", "[a-\\", "\\", "*[", "?", "[]", "[é-", "a\u{0}b", "[\u{10FFFF}-]"];
        let names = ["", "/", "a", "é", "\u{10FFFF}", "a/b/c", "[", "\\"];
        for p in patterns {
            for n in names {
                let _ = glob_match(p, n);
            }
            if let Ok(r) = HelmIgnore::parse(p) {
                for n in names {
                    let _ = r.ignored_with_ancestors(n, false);
                    let _ = r.ignored(n, true);
                }
            }
        }
        assert_eq!(decode_rune(b"\xff"), (0xFFFD, 1));
        assert_eq!(decode_rune(b"\xe2\x98"), (0xFFFD, 1));
        assert_eq!(decode_rune("☺".as_bytes()), (0x263A, 3));
    }
}
