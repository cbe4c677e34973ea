//! YAML scalars written so that every reader, Helm's YAML 1.1 one included, reads them back as
//! the same strings (used for `index.yaml` entries and for packaged `Chart.yaml` files).
//!
//! Helm reads `index.yaml` with go-yaml (YAML 1.1) and coerces scalars, so every string that
//! could resolve to anything but a string (`yes`, `1.10`, `2024-01-01`, `null`, ...) must be quoted.
//! Plain style is used only for strings made of a conservative character set that cannot be
//! misread; everything else is written double-quoted with JSON escapes, which YAML accepts.

use std::fmt::Write;

/// Appends `s` as a YAML scalar (plain when unambiguous, else double-quoted).
pub fn scalar(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        quoted(out, s);
    }
}

/// Appends `s` double-quoted (JSON string escapes are valid YAML double-quoted escapes).
pub fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let u = c as u32;
                if u <= 0xFFFF {
                    let _ = write!(out, "\\u{u:04x}");
                } else {
                    let _ = write!(out, "\\U{u:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Characters a YAML reader refuses or folds in a double-quoted scalar: controls, NEL and the
/// C1 range, line and paragraph separators, the BOM and non-characters.
fn needs_escape(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7F..=0xA0).contains(&u)
        || u == 0x2028
        || u == 0x2029
        || u == 0xFEFF
        || (0xFFFE..=0xFFFF).contains(&u)
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !first.is_ascii_alphanumeric() || s.len() > 200 || s.ends_with(' ') {
        return false;
    }
    let charset_ok = s.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'+' | b'-' | b' ' | b'(' | b')' | b',')
    });
    if !charset_ok || s.contains("  ") {
        return false;
    }
    !resolves_to_non_string(s)
}

/// True if a YAML 1.1 or 1.2 reader could take `s` (plain) as a bool, null, number or timestamp.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
    if WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return true;
    }
    let bytes = s.as_bytes();
    // Timestamps: YYYY-M...
    if bytes.len() >= 6 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' && bytes[5].is_ascii_digit() {
        return true;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b") {
        return true;
    }
    // Ints, floats (YAML 1.1 allows '_' separators), exponents: anything made only of number
    // characters with at most one '.' is treated as numeric. `1.2.3` stays a plain string.
    let numeric_chars =
        body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'e' | b'E' | b'+' | b'-'));
    numeric_chars && body.bytes().filter(|&b| b == b'.').count() <= 1 && body.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = String::new();
        scalar(&mut out, v);
        out
    }

    #[test]
    fn quoting() {
        for plain in [
            "1.2.3",
            "mychart",
            "A Helm chart for Kubernetes",
            "1.2.3-rc.1+build.5",
            "v1.2.3",
            "charts/a-1.0.0.tgz",
            "app",
        ] {
            assert_eq!(s(plain), plain, "{plain}");
        }
        for q in [
            "",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "true",
            "null",
            "1.10",
            "1.0",
            "01",
            "007",
            "1e3",
            "12",
            "2024-01-01",
            "0x1f",
            "~",
            "-1",
            ".5",
            ">=1.0",
            "a: b",
            "#x",
            "a #b",
            "*x",
            "&a",
            "!x",
            "%x",
            "@x",
            "`x",
            "'x",
            "\"x",
            "- x",
            "? x",
            "x ",
            " x",
            "http://x",
            "a\nb",
            "{}",
            "[]",
        ] {
            assert!(s(q).starts_with('"'), "{q:?} must be quoted, got {}", s(q));
        }
        assert_eq!(s("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }
}
