//! JSON written the way Go's `encoding/json.Marshal` writes it.
//!
//! Compact (no whitespace), fields in the order they are serialized, and Go's HTML-safe string
//! escaping: `<` → `\u003c`, `>` → `\u003e`, `&` → `\u0026`, U+2028 → `\u2028`,
//! U+2029 → `\u2029`. Floats use Go's format (`1e+21`, `1e-7`, `1` for 1.0).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// A [`Formatter`] that writes like Go's `encoding/json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape: &[u8] = match c {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(fragment.get(start..i).unwrap_or_default().as_bytes())?;
            writer.write_all(escape)?;
            start = i + c.len_utf8();
        }
        writer.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(go_float(value, 1e21, 1e-6).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        // Go formats float32 with 32-bit precision; Rust's f32 Display is shortest for f32.
        let abs = value.abs();
        let s = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            go_exponent(format!("{value:e}"))
        } else {
            format!("{value}")
        };
        writer.write_all(s.as_bytes())
    }
}

fn go_float(value: f64, hi: f64, lo: f64) -> String {
    let abs = value.abs();
    if abs != 0.0 && (abs < lo || abs >= hi) { go_exponent(format!("{value:e}")) } else { format!("{value}") }
}

/// Rust writes `1e21` / `1e-7`; Go writes `1e+21` / `1e-7` (two-digit negative exponents lose
/// their leading zero in Go too).
fn go_exponent(s: String) -> String {
    match s.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => s,
    }
}

/// Serialize `value` as Go's `json.Marshal` would.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Serialize `value` as Go's `json.Marshal` would, as a `String`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let bytes = to_vec(value)?;
    // The serializer only writes valid UTF-8.
    String::from_utf8(bytes).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Appends `s` as a JSON string (quoted), escaped as [`to_string`] escapes it, without
/// serializing through serde when nothing in it needs escaping (the common case: an index body
/// writes several strings per version).
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    push_string_content(out, s);
    out.push('"');
}

/// Appends the escaped content of `s` without its quotes: the parts of one string may be
/// written one after the other (escaping is per character).
pub fn push_string_content(out: &mut String, s: &str) {
    // 0xE2 leads U+2028 and U+2029 (and other characters, which take the slow path unchanged).
    let plain = s.bytes().all(|b| b >= 0x20 && !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2));
    if plain {
        out.push_str(s);
        return;
    }
    // Serializing a string cannot fail; its quotes are the first and last byte.
    let quoted = to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    out.push_str(&quoted[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Dependency;
    use sha2::{Digest, Sha256};

    #[test]
    fn push_string_writes_what_to_string_writes() {
        let samples = [
            "",
            "plain text-1.0.0.tgz",
            "https://charts.example.com/charts/a-1.0.0.tgz",
            "<a href=\"x\">&amp;</a>",
            "\u{2028}\u{2029}\u{2027}\u{20ac}é",
            "line\nbreak\ttab\u{1}\u{1f}\u{7f}",
            "back\\slash",
        ];
        for s in samples {
            let mut out = String::from("x");
            push_string(&mut out, s);
            assert_eq!(out, format!("x{}", to_string(s).unwrap()), "{s:?}");
        }
        let mut parts = String::new();
        push_string_content(&mut parts, "a<b");
        push_string_content(&mut parts, "/c&d");
        assert_eq!(format!("\"{parts}\""), to_string("a<b/c&d").unwrap());
    }

    #[test]
    fn html_escaping_and_controls() {
        let s = to_string("<a href=\"x\">&amp;</a>\u{2028}\u{2029}\n\t\u{1}\u{7f}é").unwrap();
        assert_eq!(
            s,
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e\\u2028\\u2029\\n\\t\\u0001\u{7f}é\""
        );
    }

    #[test]
    fn floats_like_go() {
        let v: Vec<f64> = vec![1.0, 1.5, 1e21, 1e20, 1e-7, 1e-6, 0.0, -2.5e-10, 123456789.0];
        assert_eq!(to_string(&v).unwrap(), "[1,1.5,1e+21,100000000000000000000,1e-7,0.000001,0,-2.5e-10,123456789]");
    }

    /// helm-client.md §11.2: the Chart.lock digest of a known req/lock pair.
    #[test]
    fn chart_lock_digest_vector() {
        let req = vec![
            Dependency {
                name: "redis".into(),
                version: ">=17.0.0 <18.0.0".into(),
                repository: "https://charts.example.com/stable".into(),
                condition: "redis.enabled".into(),
                alias: "cache".into(),
                ..Default::default()
            },
            Dependency {
                name: "common".into(),
                version: "2.x.x".into(),
                repository: "oci://registry.example.com/charts".into(),
                tags: vec!["base".into()],
                import_values: vec![serde_json::json!("defaults"), serde_json::json!({"parent": "c", "child": "a.b"})],
                ..Default::default()
            },
        ];
        let lock = vec![
            Dependency {
                name: "redis".into(),
                version: "17.3.7".into(),
                repository: "https://charts.example.com/stable".into(),
                ..Default::default()
            },
            Dependency {
                name: "common".into(),
                version: "2.2.1".into(),
                repository: "oci://registry.example.com/charts".into(),
                ..Default::default()
            },
        ];
        let json = to_string(&[req, lock]).unwrap();
        assert_eq!(
            json,
            r#"[[{"name":"redis","version":"\u003e=17.0.0 \u003c18.0.0","repository":"https://charts.example.com/stable","condition":"redis.enabled","alias":"cache"},{"name":"common","version":"2.x.x","repository":"oci://registry.example.com/charts","tags":["base"],"import-values":["defaults",{"child":"a.b","parent":"c"}]}],[{"name":"redis","version":"17.3.7","repository":"https://charts.example.com/stable"},{"name":"common","version":"2.2.1","repository":"oci://registry.example.com/charts"}]]"#
        );
        let digest = hex::encode(Sha256::digest(json.as_bytes()));
        assert_eq!(digest, "84714347ba2070a0526cafed8e8f3ae60bc5e8c6b3a55f471ca613e220f0d194");
    }
}
