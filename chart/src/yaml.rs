//! YAML reading options for files Chartroom did not write, and YAML scalars written so that every
//! reader, Helm's YAML 1.1 one included, reads them back as the same strings (used for
//! `index.yaml` entries and for packaged `Chart.yaml` files).
//!
//! Reading: [`read_options`] is how every YAML file of a chart (and every other YAML file a user
//! or a repository hands over) is parsed.
//!
//! Writing:
//! Helm reads `index.yaml` with go-yaml (YAML 1.1) and coerces scalars, so every string that
//! could resolve to anything but a string (`yes`, `1.10`, `2024-01-01`, `null`, ...) must be quoted.
//! Plain style is used only for strings made of a conservative character set that cannot be
//! misread; everything else is written double-quoted with JSON escapes, which YAML accepts.

use std::fmt::Write;

/// Options for YAML Chartroom did not write (`Chart.yaml`, `values.yaml`, `Chart.lock`,
/// `requirements.yaml`, repository indexes, Helm's `repositories.yaml`):
///
/// * comments are skipped, not captured: Chartroom never needs their text, and the parser buffers
///   captured comments while it looks ahead for a collection entry, refusing more than
///   `max_buffered_comment_events` (32) in a row. Real charts have longer blocks: argocd-notifications'
///   `values.yaml` has a key followed by 33 comment lines before its nested value, which Helm reads;
/// * the default serde-saphyr budget: alias bombs (alias count and alias/anchor ratio, retained
///   anchor events), deep nesting (depth 64), node, event, document and scalar-size caps;
/// * duplicate keys: the last one wins, as in Go's YAML decoder (Helm);
/// * a plain scalar shaped like a number that overflows a float (`66e13306`, a short Git hash
///   used as an image tag) is read, not refused: Go's YAML decoders (Helm's) read it as a
///   string, serde-saphyr's default refuses it as a non-finite float. Read without a type (a
///   `values.yaml` being checked) it passes as a float, which `serde_json::Value` makes null;
/// * error messages without source snippets (they end up in one-line API errors).
///
/// Callers that need a larger budget (big repository indexes) replace `budget` and keep the rest.
pub fn read_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        emit_comments: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// Events an alias may replay in a document of no size at all: enough for any hand-written use
/// of anchors (shared labels, resource blocks reused a few times).
const REPLAY_BASE: usize = 10_000;
/// Events aliases may replay per byte of input, beyond [`REPLAY_BASE`]. A document without
/// aliases has at most about one event per byte, so a document's aliases may at most double it:
/// memory stays proportional to the input, never to the expansion (a 302-byte `Chart.yaml` of
/// nested aliases used to replay a million events, about 110 MB, before it was refused).
const REPLAY_PER_BYTE: usize = 1;

/// [`read_options`] for a document of `len` bytes: alias replay bounded by the input's size
/// ([`REPLAY_BASE`] + [`REPLAY_PER_BYTE`] per byte) instead of serde-saphyr's fixed million
/// events, so that what a document costs to read is proportional to its size. Every YAML file a
/// client sends (chart files, a ChartMuseum `index-cache.yaml`) is read with these.
pub fn read_options_for(len: usize) -> serde_saphyr::Options {
    let mut options = read_options();
    options.alias_limits.max_total_replayed_events = REPLAY_BASE.saturating_add(len.saturating_mul(REPLAY_PER_BYTE));
    options
}

/// A YAML value as JSON, the way Helm's YAML-to-JSON conversion (sigs.k8s.io/yaml) makes it:
/// mapping keys that are not strings become their text (`1`, `true`, `null`; a sequence or
/// mapping as a key becomes its JSON text), so every mapping a YAML reader accepts converts
/// (`serde_json::Value` alone refuses such keys). Non-finite floats become `null`, as in
/// `serde_json::Value`.
pub struct JsonValue(pub serde_json::Value);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor).map(JsonValue)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(JsonValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some((JsonValue(k), JsonValue(v))) = map.next_entry()? {
            let key = match k {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(key, v);
        }
        Ok(serde_json::Value::Object(out))
    }
}

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

/// Appends `json` (JSON text, such as `serde_json::to_string` writes) as a YAML flow value.
///
/// JSON is YAML flow syntax, except that JSON writers leave characters in strings that a YAML
/// reader refuses (DEL and the C1 controls: "control characters are not allowed") or folds (line
/// and paragraph separators); those are written as `\uXXXX`, an escape both languages read. They
/// can only occur inside strings (the JSON syntax itself is ASCII), so escaping them anywhere is
/// exact.
pub fn json_flow(out: &mut String, json: &str) {
    for c in json.chars() {
        if needs_escape(c) && c as u32 >= 0x20 {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
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

    /// Found by the `state` fuzz target: a DEL in an `import-values` key, written as JSON flow,
    /// made the whole `index.yaml` unreadable.
    #[test]
    fn json_flow_escapes_what_yaml_refuses() {
        let value =
            serde_json::json!([{"child": "a\u{7f}", "parent\u{85}\u{2028}": ["\u{9f}\u{feff}\u{ffff}", "é\u{1}"]}]);
        let json = serde_json::to_string(&value).unwrap();
        let mut out = String::from("v: ");
        json_flow(&mut out, &json);
        assert!(out.is_ascii() || !out.chars().any(needs_escape), "{out:?}");
        let read: serde_json::Value = serde_saphyr::from_str_with_options(&out, read_options()).unwrap();
        assert_eq!(read["v"], value);
        // Without the escaping, a YAML reader refuses the same text.
        assert!(serde_saphyr::from_str::<serde_json::Value>(&format!("v: {json}")).is_err());
    }

    /// `66e13306` overflows a float; Helm's YAML decoder reads it as a string, so a chart whose
    /// values hold it (an image tag that is a short Git hash) is a chart Helm installs.
    #[test]
    fn numbers_that_overflow_a_float_are_read() {
        let docs = read("image:\n  tag: 66e13306\nbig: -1e999\nfine: 1.5e3\n").unwrap();
        assert_eq!(docs, [serde_json::json!({"image": {"tag": null}, "big": null, "fine": 1500.0})]);
        let typed: std::collections::BTreeMap<String, String> =
            serde_saphyr::from_str_with_options("tag: 66e13306\n", read_options()).unwrap();
        assert_eq!(typed["tag"], "66e13306", "read as its text where a string is expected");
    }

    fn read(text: &str) -> Result<Vec<serde_json::Value>, serde_saphyr::Error> {
        serde_saphyr::from_multiple_with_options(text, read_options())
    }

    fn comments(n: usize, indent: &str) -> String {
        (0..n).map(|i| format!("{indent}# - example line {i}: {{{{ .app.metadata.name }}}}\n")).collect()
    }

    /// argocd-notifications' values.yaml: a key, then a long commented-out example, then its
    /// nested value or the next key; also at the end of the file.
    #[test]
    fn long_comment_blocks_are_read() {
        for n in [32, 33, 40, 1000] {
            let text = format!(
                "subscriptions:\n  # see the docs\n\n{}\ntemplates:\n{}  template.app-deployed: |\n    message: hi\ntriggers:\n{}",
                comments(n, "  "),
                comments(n, "  "),
                comments(n, "")
            );
            let docs = read(&text).unwrap_or_else(|e| panic!("{n} comment lines: {e}"));
            assert_eq!(
                docs,
                [serde_json::json!({
                    "subscriptions": null,
                    "templates": {"template.app-deployed": "message: hi\n"},
                    "triggers": null
                })],
                "{n}"
            );
            // In sequences and flow collections as well.
            let text =
                format!("list:\n{}- a\n{}- b\nflow: [\n{}  c]\n", comments(n, ""), comments(n, ""), comments(n, ""));
            assert_eq!(read(&text).expect("sequence"), [serde_json::json!({"list": ["a", "b"], "flow": ["c"]})]);
        }
        // The parser's default (comments captured) refuses 33: the limit this option removes.
        let text = format!("key:\n{}  nested: 1\n", comments(33, "  "));
        let captured = serde_saphyr::options! { with_snippet: false };
        let e = serde_saphyr::from_str_with_options::<serde_json::Value>(&text, captured).expect_err("default");
        assert!(e.to_string().contains("too many buffered comments"), "{e}");
        assert_eq!(read(&text).expect("read")[0], serde_json::json!({"key": {"nested": 1}}));
    }

    #[test]
    fn protections_stay() {
        // Alias bomb: a billion laughs.
        let mut bomb = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
        }
        assert!(read(&bomb).is_err());
        // Deep nesting: 64 levels are read (real charts nest at most 8 deep), 65 are not.
        let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        read(&nested(64)).expect("64 levels");
        assert!(read(&nested(65)).is_err());
        let block: String = (0..65).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect();
        assert!(read(&block).is_err());
        // Duplicate keys: the last one wins, as in Go.
        assert_eq!(read("a: 1\na: 2\n").expect("dup")[0], serde_json::json!({"a": 2}));
    }
}
