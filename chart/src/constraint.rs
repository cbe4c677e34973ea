//! Masterminds/semver v3 version constraints (`NewConstraint`, `Check`), as Helm uses them.
//!
//! Grammar (helm-client.md §4), reproduced without a regex engine:
//!
//! * `A - B` hyphen ranges (spaces required) are first rewritten to `>= A, <= B `, exactly as
//!   Masterminds' `rewriteRange` does (leftmost-first search, `strings.Replace(.., 1)`), quirks
//!   included;
//! * the result is split on `||` into OR groups;
//! * each group must match `^\s*OP\s*VER\s*((\s+|,\s*)OP\s*VER\s*)*$` (else
//!   `improper constraint`); its terms are then built one by one (a term whose version does not
//!   parse, e.g. `1.2.3-beta.01` or `1x`, is a `constraint parser error`);
//! * `OP` is one of `= != > < >= => <= =< ~ ~> ^` or nothing, `VER` is
//!   `v?P(.P)?(.P)?(-PRE)?(+BUILD)?` with `P` made of `[0-9xX*|]`.
//!
//! Prerelease versions only match when allowed, see [`PrereleasePolicy`].

use std::fmt;
use std::str::FromStr;

use crate::version::{Version, compare_prerelease, go_quote, scan_identifiers};

/// When a prerelease version (`1.5.0-rc.1`) may satisfy a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrereleasePolicy {
    /// Masterminds v3.3.0 (Helm 3.17, 3.18): decided by each comparator on its own; a comparator
    /// admits prereleases only when its own version has a prerelease. So
    /// `>=1.0.0-0 <2.0.0` does not match `1.5.0-rc.1`. (As in v3.3.0, a `!=` comparator without
    /// wildcards never rejects a prerelease.)
    PerComparator,
    /// Masterminds v3.4.0 and later (Helm 3.19+, 4.x, ChartMuseum): decided per AND group; the
    /// group admits prereleases when any of its comparators has a prerelease. So
    /// `>=1.0.0-0 <2.0.0` matches `1.5.0-rc.1`.
    #[default]
    PerGroup,
}

/// A parsed constraint: an OR of AND groups of comparators.
#[derive(Debug, Clone)]
pub struct Constraint {
    groups: Vec<Group>,
}

#[derive(Debug, Clone)]
struct Group {
    terms: Vec<Comparator>,
    /// Some comparator of the group has a prerelease (Masterminds `containsPre`).
    has_pre: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    /// The operator as written (`=>` stays `=>`), Masterminds `origfunc`.
    op_text: String,
    /// The version as written (`v1.x`), Masterminds `orig`.
    orig: String,
    /// The padded version (`1.x` becomes `1.0.0`).
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// Why a constraint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// An OR group does not have the shape of comparators (this includes the empty string).
    /// Carries the offending group, after hyphen-range rewriting.
    #[error("improper constraint: {}", go_quote(.0))]
    Improper(String),
    /// A comparator has the right shape but its version cannot be built (`1.2.3-beta.01`,
    /// `1x.2`, a number above `u64::MAX`). Carries the comparator's version text.
    #[error("constraint parser error: {}", go_quote(.0))]
    Parser(String),
}

impl Constraint {
    /// Masterminds `NewConstraint`. The empty string is an error (Helm substitutes `*` itself).
    pub fn parse(s: &str) -> Result<Constraint, ConstraintError> {
        let rewritten = rewrite_range(s);
        let mut groups = Vec::new();
        for segment in rewritten.split("||") {
            let tokens = tokenize_group(segment).ok_or_else(|| ConstraintError::Improper(segment.to_owned()))?;
            let mut terms = Vec::with_capacity(tokens.len());
            for (op_text, cv) in tokens {
                terms.push(build_comparator(op_text, cv)?);
            }
            let has_pre = terms.iter().any(|c| c.con.is_prerelease());
            groups.push(Group { terms, has_pre });
        }
        Ok(Constraint { groups })
    }

    /// Masterminds v3.4+ `Check` with default options: per-group prerelease policy,
    /// `IncludePrerelease = false`.
    pub fn matches(&self, v: &Version) -> bool {
        self.matches_with(v, PrereleasePolicy::PerGroup, false)
    }

    /// `Check` under the given prerelease policy. `include_prerelease` is Masterminds'
    /// `Constraints.IncludePrerelease`: prereleases are admitted everywhere.
    pub fn matches_with(&self, v: &Version, policy: PrereleasePolicy, include_prerelease: bool) -> bool {
        self.groups.iter().any(|g| {
            g.terms.iter().all(|c| {
                let allow_pre = include_prerelease
                    || match policy {
                        PrereleasePolicy::PerGroup => g.has_pre,
                        PrereleasePolicy::PerComparator => c.con.is_prerelease(),
                    };
                c.check(v, allow_pre, policy)
            })
        })
    }

    /// Number of OR groups.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Number of AND terms in OR group `i` (0 when there is no such group).
    pub fn terms_in_group(&self, i: usize) -> usize {
        self.groups.get(i).map_or(0, |g| g.terms.len())
    }
}

/// Normalised form (Masterminds `String()`): terms joined by one space, groups by ` || `,
/// each term as its operator and version were written (`> 1 , <=1.2.3` prints `>1 <=1.2.3`).
impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (gi, g) in self.groups.iter().enumerate() {
            if gi > 0 {
                f.write_str(" || ")?;
            }
            for (ti, c) in g.terms.iter().enumerate() {
                if ti > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(&c.op_text)?;
                f.write_str(&c.orig)?;
            }
        }
        Ok(())
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

/// Helm's `IndexFile.Get` selection. `candidates` are given newest first.
///
/// As in Helm, `requested` (`""` means `*`) is parsed as a constraint first, so an invalid
/// constraint is an error even when some candidate's version is spelled exactly like it (for
/// versions that are valid in an index this cannot happen). Then, when `requested` is not empty,
/// a candidate whose version string equals it exactly wins; otherwise the first candidate whose
/// version parses (leniently) and satisfies the constraint (per-group prerelease policy, no
/// `IncludePrerelease`) wins. Unparsable versions are skipped.
pub fn select<'a, T>(
    candidates: &'a [T],
    version_of: impl Fn(&T) -> &str,
    requested: &str,
) -> Result<Option<&'a T>, ConstraintError> {
    let constraint = Constraint::parse(if requested.is_empty() { "*" } else { requested })?;
    if !requested.is_empty()
        && let Some(exact) = candidates.iter().find(|c| version_of(c) == requested)
    {
        return Ok(Some(exact));
    }
    Ok(candidates.iter().find(|c| Version::parse(version_of(c)).is_ok_and(|v| constraint.matches(&v))))
}

impl Comparator {
    /// The Masterminds constraint functions. `allow_pre` is the prerelease decision for this
    /// comparator (per group or per comparator, or `IncludePrerelease`).
    fn check(&self, v: &Version, allow_pre: bool, policy: PrereleasePolicy) -> bool {
        let blocked = v.is_prerelease() && !allow_pre;
        match self.op {
            Op::NotEqual => {
                // v3.3.0 only rejected prereleases in the wildcard branch of `!=`.
                if blocked && (policy == PrereleasePolicy::PerGroup || self.dirty) {
                    return false;
                }
                self.not_equal(v)
            }
            _ if blocked => false,
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    *v == self.con
                }
            }
            Op::Greater => self.greater(v),
            Op::Less => *v < self.con,
            Op::GreaterEqual => *v >= self.con,
            Op::LessEqual => self.less_equal(v),
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major() != v.major() {
                return true;
            }
            if c.minor() != v.minor() && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch() != v.patch() && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if v.is_prerelease() || c.is_prerelease() {
                    return compare_prerelease(v.prerelease(), c.prerelease()).is_ne();
                }
                return false;
            }
        }
        *v != *c
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return *v > *c;
        }
        if v.major() > c.major() {
            true
        } else if v.major() < c.major() || self.minor_dirty {
            false
        } else if self.patch_dirty {
            v.minor() > c.minor()
        } else {
            *v > *c
        }
    }

    fn less_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return *v <= *c;
        }
        !(v.major() > c.major() || (v.major() == c.major() && v.minor() > c.minor() && !self.minor_dirty))
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if *v < *c {
            return false;
        }
        // ~0.0.0 (and `*`) accepts everything at or above 0.0.0.
        if c.major() == 0 && c.minor() == 0 && c.patch() == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major() != c.major() {
            return false;
        }
        v.minor() == c.minor() || self.minor_dirty
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if *v < *c {
            return false;
        }
        if c.major() > 0 || self.minor_dirty {
            return v.major() == c.major();
        }
        if v.major() > 0 {
            return false;
        }
        if c.minor() > 0 || self.patch_dirty {
            return v.minor() == c.minor();
        }
        if v.minor() > 0 {
            return false;
        }
        c.patch() == v.patch()
    }
}

/// Go's `\s` (RE2): `[\t\n\f\r ]`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

/// A character of a constraint version part: `[0-9|x|X|\*]` (the `|` is Masterminds' own quirk).
fn is_part_char(c: u8) -> bool {
    c.is_ascii_digit() || matches!(c, b'x' | b'X' | b'*' | b'|')
}

/// Byte ranges of one greedy match of Masterminds' `cvRegex`.
#[derive(Debug, Clone, Copy)]
struct CvMatch {
    end: usize,
    major: (usize, usize),
    /// Includes the leading `.`.
    minor: Option<(usize, usize)>,
    /// Includes the leading `.`.
    patch: Option<(usize, usize)>,
    /// Includes the leading `-`.
    pre: Option<(usize, usize)>,
}

/// Matches `cvRegex` at `i` the way a backtracking engine prefers (greedy everywhere), which for
/// this pattern is also the longest match. `None` when no version starts at `i`.
fn scan_cv(b: &[u8], i: usize) -> Option<CvMatch> {
    let mut j = i;
    if b.get(j) == Some(&b'v') {
        j += 1;
    }
    let start = j;
    while b.get(j).copied().is_some_and(is_part_char) {
        j += 1;
    }
    if j == start {
        return None;
    }
    let major = (start, j);
    let mut parts = [None, None];
    for slot in &mut parts {
        if b.get(j) == Some(&b'.') && b.get(j + 1).copied().is_some_and(is_part_char) {
            let s = j;
            j += 1;
            while b.get(j).copied().is_some_and(is_part_char) {
                j += 1;
            }
            *slot = Some((s, j));
        }
    }
    let mut pre = None;
    if b.get(j) == Some(&b'-') {
        let end = scan_identifiers(b, j + 1);
        if end > j + 1 {
            pre = Some((j, end));
            j = end;
        }
    }
    if b.get(j) == Some(&b'+') {
        let end = scan_identifiers(b, j + 1);
        if end > j + 1 {
            j = end;
        }
    }
    Some(CvMatch { end: j, major, minor: parts[0], patch: parts[1], pre })
}

/// Byte range `start..end`.
type Span = (usize, usize);

/// One match of Masterminds' `constraintRangeRegex` (`\s*(cv)\s+-\s+(cv)\s*`) anchored at `i`:
/// returns (match end, first version range, second version range).
fn match_range_at(b: &[u8], i: usize) -> Option<(usize, Span, Span)> {
    let j = skip_space(b, i);
    let first = scan_cv(b, j)?;
    // The version cannot contain whitespace, so only its longest extent can be followed by `\s+`.
    let k = skip_space(b, first.end);
    if k == first.end || b.get(k) != Some(&b'-') {
        return None;
    }
    let m = skip_space(b, k + 1);
    if m == k + 1 {
        return None;
    }
    let second = scan_cv(b, m)?;
    Some((skip_space(b, second.end), (j, first.end), (m, second.end)))
}

/// Masterminds `rewriteRange`: every `A - B` becomes `>= A, <= B ` (note the trailing space),
/// replacing the first occurrence of each matched text in turn, as Go's `strings.Replace` does.
fn rewrite_range(input: &str) -> String {
    if !input.contains('-') {
        return input.to_owned();
    }
    let b = input.as_bytes();
    let mut found: Vec<(&str, &str, &str)> = Vec::new();
    let mut pos = 0;
    let mut i = pos;
    while i < b.len() {
        // Positions inside a run of whitespace all lead to the same attempt as the run's start.
        if i > pos && b.get(i).copied().is_some_and(is_space) && b.get(i - 1).copied().is_some_and(is_space) {
            i += 1;
            continue;
        }
        match match_range_at(b, i) {
            Some((end, a, c)) => {
                if let (Some(whole), Some(a), Some(c)) = (input.get(i..end), input.get(a.0..a.1), input.get(c.0..c.1)) {
                    found.push((whole, a, c));
                }
                pos = end.max(i + 1);
                i = pos;
            }
            None => i += 1,
        }
    }
    let mut out = input.to_owned();
    for (whole, a, c) in found {
        out = out.replacen(whole, &format!(">= {a}, <= {c} "), 1);
    }
    out
}

/// Validates one OR group against Masterminds' `validConstraintRegex` and splits it into
/// (operator, version) terms the way `findConstraintRegex` does. `None` when improper.
fn tokenize_group(seg: &str) -> Option<Vec<(&str, &str)>> {
    let b = seg.as_bytes();
    let mut terms = Vec::new();
    let mut i = skip_space(b, 0);
    loop {
        let op_len = if b.len() >= i + 2 && matches!(b.get(i..i + 2)?, b"!=" | b">=" | b"=>" | b"<=" | b"=<" | b"~>") {
            2
        } else if matches!(b.get(i), Some(b'=' | b'>' | b'<' | b'~' | b'^')) {
            1
        } else {
            0
        };
        let op = seg.get(i..i + op_len)?;
        let vstart = skip_space(b, i + op_len);
        let cv = scan_cv(b, vstart)?;
        let after = cv.end;
        // The version must end the group or be followed by a separator.
        match b.get(after) {
            None => {}
            Some(&c) if is_space(c) || c == b',' => {}
            Some(_) => return None,
        }
        terms.push((op, seg.get(vstart..after)?));
        let k = skip_space(b, after);
        if k == b.len() {
            return Some(terms);
        }
        if b.get(k) == Some(&b',') {
            i = skip_space(b, k + 1);
        } else if k > after {
            i = k;
        } else {
            return None;
        }
    }
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// Masterminds `parseConstraint` for one term: pads wildcard or missing parts with 0 (dropping
/// build metadata, keeping the prerelease) and parses the result with the lenient parser.
fn build_comparator(op_text: &str, cv_text: &str) -> Result<Comparator, ConstraintError> {
    let parser_error = || ConstraintError::Parser(cv_text.to_owned());
    let b = cv_text.as_bytes();
    let cv = scan_cv(b, 0).ok_or_else(parser_error)?;
    let text = |r: Option<(usize, usize)>| r.and_then(|(s, e)| cv_text.get(s..e)).unwrap_or("");
    let major = text(Some(cv.major));
    let minor = text(cv.minor);
    let patch = text(cv.patch);
    let pre = text(cv.pre);
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let ver = if is_x(major) {
        dirty = true;
        format!("0.0.0{pre}")
    } else if minor.is_empty() || is_x(minor.trim_start_matches('.')) {
        dirty = true;
        minor_dirty = true;
        format!("{major}.0.0{pre}")
    } else if patch.is_empty() || is_x(patch.trim_start_matches('.')) {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        cv_text.to_owned()
    };
    let con = Version::parse(&ver).map_err(|_| parser_error())?;
    let op = match op_text {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        _ => return Err(parser_error()),
    };
    Ok(Comparator { op, op_text: op_text.to_owned(), orig: cv_text.to_owned(), con, dirty, minor_dirty, patch_dirty })
}

#[cfg(test)]
mod tests;
