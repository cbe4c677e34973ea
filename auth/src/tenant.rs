//! Tenant names and the tenant patterns of grants.
//!
//! A tenant is a path of segments joined with `/` (`team-a`, `org1/repo1`); the root repository
//! (depth 0) is the empty tenant `""`. The rules are the ones issue 10 fixes for the routes, so a
//! grant can only name tenants that a request could address.

use std::fmt;

/// Longest segment of a tenant path, in bytes (all allowed characters are ASCII).
pub const MAX_SEGMENT_LEN: usize = 64;

/// Why a tenant path is not valid. The text names the rule, never echoes the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantNameError {
    /// A segment is empty (`a//b`, a leading or trailing `/`).
    EmptySegment,
    /// A segment is longer than [`MAX_SEGMENT_LEN`].
    SegmentTooLong,
    /// A segment holds a character outside `A-Z a-z 0-9 . _ -`.
    BadCharacter,
    /// A segment starts with `.` (this also covers `.` and `..`); such names are reserved for
    /// Chartroom's own state.
    LeadingDot,
}

impl fmt::Display for TenantNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TenantNameError::EmptySegment => "a tenant path has no empty segments",
            TenantNameError::SegmentTooLong => "each tenant segment is at most 64 characters",
            TenantNameError::BadCharacter => "tenant segments use only the characters A-Z a-z 0-9 . _ -",
            TenantNameError::LeadingDot => {
                "a tenant segment does not start with '.' (reserved; '.' and '..' are never tenants)"
            }
        })
    }
}

impl std::error::Error for TenantNameError {}

/// Checks a tenant path: `""` (the root repository) or segments of 1-64 characters of
/// `A-Z a-z 0-9 . _ -`, none starting with `.`.
pub fn validate_tenant(tenant: &str) -> Result<(), TenantNameError> {
    if tenant.is_empty() {
        return Ok(());
    }
    tenant.split('/').try_for_each(validate_segment)
}

fn validate_segment(segment: &str) -> Result<(), TenantNameError> {
    if segment.is_empty() {
        return Err(TenantNameError::EmptySegment);
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(TenantNameError::SegmentTooLong);
    }
    if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(TenantNameError::BadCharacter);
    }
    if segment.starts_with('.') {
        return Err(TenantNameError::LeadingDot);
    }
    Ok(())
}

/// The tenants one grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantPattern {
    /// `""`: the root repository (depth 0) only.
    Root,
    /// `"*"`: every tenant, the root repository included.
    All,
    /// `"team-a"`: exactly that tenant.
    Exact(String),
    /// `"platform/*"`: every tenant strictly under `platform/` (not `platform` itself).
    Under(String),
}

impl TenantPattern {
    /// Parses a pattern as written in a grant.
    pub fn parse(text: &str) -> Result<TenantPattern, TenantNameError> {
        match text {
            "" => Ok(TenantPattern::Root),
            "*" => Ok(TenantPattern::All),
            _ => match text.strip_suffix("/*") {
                Some(prefix) if !prefix.is_empty() => {
                    validate_tenant(prefix)?;
                    Ok(TenantPattern::Under(prefix.to_owned()))
                }
                _ => {
                    validate_tenant(text)?;
                    Ok(TenantPattern::Exact(text.to_owned()))
                }
            },
        }
    }

    /// Whether this pattern covers `tenant`.
    pub fn matches(&self, tenant: &str) -> bool {
        match self {
            TenantPattern::Root => tenant.is_empty(),
            TenantPattern::All => true,
            TenantPattern::Exact(name) => name == tenant,
            TenantPattern::Under(prefix) => {
                tenant.len() > prefix.len() + 1
                    && tenant.starts_with(prefix.as_str())
                    && tenant.as_bytes()[prefix.len()] == b'/'
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_tenant_names() {
        for ok in ["", "team-a", "org1/repo1", "A.b_c-9", &"x".repeat(64), "a/b/c"] {
            assert_eq!(validate_tenant(ok), Ok(()), "{ok:?}");
        }
        let cases = [
            ("..", TenantNameError::LeadingDot),
            (".", TenantNameError::LeadingDot),
            (".chartroom", TenantNameError::LeadingDot),
            ("a/../b", TenantNameError::LeadingDot),
            ("a//b", TenantNameError::EmptySegment),
            ("/a", TenantNameError::EmptySegment),
            ("a/", TenantNameError::EmptySegment),
            ("a%2Fb", TenantNameError::BadCharacter),
            ("a b", TenantNameError::BadCharacter),
            ("é", TenantNameError::BadCharacter),
            ("a'b", TenantNameError::BadCharacter),
        ];
        for (bad, want) in cases {
            assert_eq!(validate_tenant(bad), Err(want), "{bad:?}");
        }
        assert_eq!(validate_tenant(&"x".repeat(65)), Err(TenantNameError::SegmentTooLong));
    }

    #[test]
    fn patterns_match_what_they_say() {
        let root = TenantPattern::parse("").unwrap();
        let all = TenantPattern::parse("*").unwrap();
        let exact = TenantPattern::parse("team-a").unwrap();
        let under = TenantPattern::parse("platform/*").unwrap();
        assert!(root.matches("") && !root.matches("team-a"));
        assert!(all.matches("") && all.matches("team-a") && all.matches("x/y/z"));
        assert!(exact.matches("team-a") && !exact.matches("team-ab") && !exact.matches("team-a/x"));
        assert!(!exact.matches(""));
        assert!(under.matches("platform/a") && under.matches("platform/a/b"));
        assert!(!under.matches("platform") && !under.matches("platformx/a") && !under.matches("platform/"));
        assert!(!under.matches("other/platform/a"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["/*", "a/*/b", "**", "a*", "../*", "a//*", ".x"] {
            assert!(TenantPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
