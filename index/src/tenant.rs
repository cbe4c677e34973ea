//! Which repository an operation is about.

use std::fmt;

/// A repository served by this server: the root repository, or a tenant below it named by a
/// path such as `org/team` (ChartMuseum's multitenancy). Every repository operation takes one;
/// which tenants a server serves is its [`Tenancy`](crate::Tenancy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository path {path:?}: {reason}")]
pub struct TenantError {
    path: String,
    reason: &'static str,
}

const EMPTY_SEGMENT: &str = "a path segment is empty (a leading, trailing or doubled '/')";

/// The longest segment of a tenant path.
const MAX_SEGMENT_LEN: usize = 64;

impl Tenant {
    /// The root repository, the tenant `""`.
    pub fn root() -> Tenant {
        Tenant(String::new())
    }

    /// A tenant path: `/`-separated segments, each a folder in storage: 1 to 64 ASCII letters,
    /// digits, `-`, `_` and `.`, not starting with `.` (so never `.` or `..`, and never
    /// `.chartroom`, where Chartroom keeps its state). `""` is the root.
    pub fn parse(path: &str) -> Result<Tenant, TenantError> {
        let refuse = |reason| Err(TenantError { path: path.to_owned(), reason });
        if path.is_empty() {
            return Ok(Tenant::root());
        }
        for segment in path.split('/') {
            if segment.is_empty() {
                return refuse(EMPTY_SEGMENT);
            }
            if segment.len() > MAX_SEGMENT_LEN {
                return refuse("each path segment must be 1 to 64 characters long");
            }
            if segment == "." || segment == ".." {
                return refuse("'.' and '..' are not repository names");
            }
            if segment.starts_with('.') {
                return refuse("a path segment must not start with '.' (reserved for Chartroom's state, .chartroom)");
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return refuse("a path segment may contain only ASCII letters, digits, '-', '_' and '.'");
            }
        }
        Ok(Tenant(path.to_owned()))
    }

    /// A tenant from the segments of a request path: none is the root; an empty segment is
    /// refused even when it is the only one (`//index.yaml` at depth 1 names no tenant, and is
    /// not the root either).
    pub fn from_segments(segments: &[&str]) -> Result<Tenant, TenantError> {
        let path = segments.join("/");
        if segments.iter().any(|s| s.is_empty()) {
            return Err(TenantError { path, reason: EMPTY_SEGMENT });
        }
        Tenant::parse(&path)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many path segments the tenant has (0 for the root).
    pub fn depth(&self) -> usize {
        if self.is_root() { 0 } else { self.0.split('/').count() }
    }
}

/// The path as it is (`org/team`), for messages and log fields; valid names need no quoting
/// or escaping (letters, digits, `-`, `_`, `.`, `/`). `Debug` keeps the quotes.
impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() { f.write_str("(root)") } else { f.write_str(&self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(Tenant::parse("").unwrap().is_root());
        assert_eq!(Tenant::parse("").unwrap(), Tenant::root());
        let longest = "x".repeat(64);
        for ok in ["org", "org/team", "a.b/c-d/e_f", "a..b", "v1.2", longest.as_str()] {
            assert_eq!(Tenant::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(Tenant::root().to_string(), "(root)");
        assert_eq!(Tenant::parse("org/team").unwrap().to_string(), "org/team");
        assert_eq!(format!("{:?}", Tenant::parse("org/team").unwrap()), "Tenant(\"org/team\")");
        assert_eq!((Tenant::root().depth(), Tenant::parse("a/b/c").unwrap().depth()), (0, 3));
        assert_eq!(Tenant::from_segments(&[]).unwrap(), Tenant::root());
        assert_eq!(Tenant::from_segments(&["org", "team"]).unwrap().as_str(), "org/team");
        for bad in [&[""][..], &["org", ""], &["", "team"], &[".."]] {
            assert!(Tenant::from_segments(bad).is_err(), "{bad:?}");
        }
        assert!(Tenant::from_segments(&[""]).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn refusals_name_the_rule() {
        let too_long = format!("org/{}", "x".repeat(65));
        // (path, words the message must contain)
        for (bad, rule) in [
            ("/", "empty"),
            ("org/", "empty"),
            ("/org", "empty"),
            ("a//b", "empty"),
            (too_long.as_str(), "1 to 64 characters"),
            ("..", "'.' and '..'"),
            ("a/../b", "'.' and '..'"),
            ("a/.", "'.' and '..'"),
            (".chartroom", "must not start with '.'"),
            ("team/.hidden", "must not start with '.'"),
            ("a b", "ASCII letters"),
            ("a\\b", "ASCII letters"),
            ("a%2Fb", "ASCII letters"),
            ("ä", "ASCII letters"),
        ] {
            let err = Tenant::parse(bad).unwrap_err().to_string();
            assert!(err.contains(rule) && err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
    }
}
