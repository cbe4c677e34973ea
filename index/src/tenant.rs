//! Which repository an operation is about.

use std::fmt;

/// A repository served by this server: the root repository, or a tenant below it named by a
/// path such as `org/team` (ChartMuseum's multitenancy). Every repository operation takes one,
/// so that serving several tenants changes what a tenant resolves to, not the operations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository path {path:?}: {reason}")]
pub struct TenantError {
    path: String,
    reason: &'static str,
}

impl Tenant {
    /// The root repository, the tenant `""`.
    pub fn root() -> Tenant {
        Tenant(String::new())
    }

    /// A tenant path: `/`-separated segments of ASCII letters, digits, `-`, `_` and `.`, none of
    /// them empty, `.` or `..` (each is a folder in storage). `""` is the root.
    pub fn parse(path: &str) -> Result<Tenant, TenantError> {
        let refuse = |reason| Err(TenantError { path: path.to_owned(), reason });
        if path.is_empty() {
            return Ok(Tenant::root());
        }
        for segment in path.split('/') {
            if segment.is_empty() {
                return refuse("empty segment");
            }
            if segment == "." || segment == ".." {
                return refuse("'.' and '..' are not repository names");
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return refuse("only ASCII letters, digits, '-', '_' and '.' are allowed");
            }
        }
        Ok(Tenant(path.to_owned()))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() { f.write_str("(root)") } else { write!(f, "{:?}", self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(Tenant::parse("").unwrap().is_root());
        assert_eq!(Tenant::parse("").unwrap(), Tenant::root());
        for ok in ["org", "org/team", "a.b/c-d/e_f"] {
            assert_eq!(Tenant::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["/", "org/", "/org", "a//b", "..", "a/../b", "a/.", "a b", "a\\b", "ä"] {
            assert!(Tenant::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Tenant::root().to_string(), "(root)");
        assert_eq!(Tenant::parse("org/team").unwrap().to_string(), "\"org/team\"");
    }
}
