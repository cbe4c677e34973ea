//! Value readers and normalisers: booleans, integers, the storage backend name, the listen host,
//! the context path, the chart URL and the multipart form field names. Each returns the
//! normalised value or a reason (the caller names the option and the value).

use std::net::{IpAddr, Ipv6Addr};

use chartroom_storage::backend::parse_bool;

use super::chartmuseum::UNSUPPORTED_BACKENDS;

/// What a boolean may be, for error messages.
pub(crate) const BOOL_WANT: &str = "expected true/false, 1/0, yes/no or on/off";

/// Storage backends Chartroom implements (`--storage`).
const BACKENDS: &[&str] = &["local", "amazon", "google", "microsoft"];

/// A boolean flag or environment value ([`parse_bool`], the workspace's one boolean reader).
pub(crate) fn parse_bool_text(raw: &str) -> Result<bool, String> {
    parse_bool(raw).ok_or_else(|| BOOL_WANT.to_owned())
}

/// A non-negative integer flag or environment value up to `max`; `want` names what is expected.
pub(crate) fn parse_uint_text(raw: &str, max: u64, want: &str) -> Result<u64, String> {
    raw.trim().parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| format!("expected {want}"))
}

/// `KEY=VALUE` pairs separated by commas or white space (`a=b,c=d`, `a=b c=d`); empty items are
/// skipped. Keys and values are trimmed and must not be empty; a key given twice is refused.
pub(crate) fn parse_pairs_text(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("expected KEY=VALUE, got {item:?}"));
        };
        push_pair(&mut pairs, key, value)?;
    }
    Ok(pairs)
}

/// `VALUE` or `KEY=VALUE` items, comma- or space-separated: `("", VALUE)` for a bare value.
/// Empty halves and repeated keys are refused.
pub(crate) fn parse_items_text(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut items: Vec<(String, String)> = Vec::new();
    for item in raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or(("", item));
        push_item(&mut items, key, value)?;
    }
    Ok(items)
}

/// Adds one item (an empty key is the bare value's), refusing an empty value and repeated keys.
pub(crate) fn push_item(items: &mut Vec<(String, String)>, key: &str, value: &str) -> Result<(), String> {
    let (key, value) = (key.trim(), value.trim());
    if value.is_empty() {
        return Err(format!("expected VALUE or KEY=VALUE, got {:?}", format!("{key}={value}")));
    }
    if items.iter().any(|(k, _)| k == key) {
        let which = if key.is_empty() { "the value without KEY=" } else { key };
        return Err(format!("{which:?} is given more than once"));
    }
    items.push((key.to_owned(), value.to_owned()));
    Ok(())
}

/// Adds one pair, refusing empty halves and repeated keys.
pub(crate) fn push_pair(pairs: &mut Vec<(String, String)>, key: &str, value: &str) -> Result<(), String> {
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty() || value.is_empty() {
        return Err(format!("expected KEY=VALUE, got {:?}", format!("{key}={value}")));
    }
    if pairs.iter().any(|(k, _)| k == key) {
        return Err(format!("{key:?} is given more than once"));
    }
    pairs.push((key.to_owned(), value.to_owned()));
    Ok(())
}

/// A storage backend Chartroom implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Local,
    Amazon,
    Google,
    Microsoft,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Amazon => "amazon",
            Backend::Google => "google",
            Backend::Microsoft => "microsoft",
        }
    }
}

/// `--storage`, case-insensitive as in ChartMuseum.
pub(crate) fn parse_backend(raw: &str) -> Result<Backend, String> {
    let name = raw.trim().to_ascii_lowercase();
    match name.as_str() {
        "local" => return Ok(Backend::Local),
        "amazon" => return Ok(Backend::Amazon),
        "google" => return Ok(Backend::Google),
        "microsoft" => return Ok(Backend::Microsoft),
        _ => {}
    }
    if UNSUPPORTED_BACKENDS.contains(&name.as_str()) {
        return Err(format!(
            "storage backend {name:?} is not supported yet; supported backends: {}",
            BACKENDS.join(", ")
        ));
    }
    Err(format!(
        "unsupported storage backend; supported backends: {} (ChartMuseum's {} are not supported yet)",
        BACKENDS.join(", "),
        UNSUPPORTED_BACKENDS.join(", ")
    ))
}

/// Accepts IPv4, IPv6 (optionally bracketed, optionally with a `%zone`) and host names;
/// returns the host without brackets.
pub(crate) fn normalize_host(raw: &str) -> Result<String, String> {
    let host = raw.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(raw);
    if host.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(host.to_owned());
    }
    if host.contains(':') {
        let (addr, zone) = host.split_once('%').unwrap_or((host, "x"));
        let zone_ok =
            !zone.is_empty() && zone.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if addr.parse::<Ipv6Addr>().is_ok() && zone_ok {
            return Ok(host.to_owned());
        }
        return Err("not a valid IPv6 address".to_owned());
    }
    if host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        return Ok(host.to_owned());
    }
    Err("expected an IP address or a host name".to_owned())
}

/// `""` or `/a/b`: adds the leading '/', trims one trailing '/', `"/"` is `""`. Segments must be
/// non-empty, not `.` or `..`, and use only `[A-Za-z0-9._~-]`.
pub(crate) fn normalize_context_path(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw == "/" {
        return Ok(String::new());
    }
    let inner = raw.strip_prefix('/').unwrap_or(raw);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    for segment in inner.split('/') {
        if segment.is_empty() {
            return Err("empty path segment".to_owned());
        }
        if segment == "." || segment == ".." {
            return Err(format!("path segment {segment:?} is not allowed"));
        }
        if let Some(c) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'))) {
            return Err(format!(
                "character {c:?} is not allowed (use only A-Z a-z 0-9 . _ ~ - and '/' between segments)"
            ));
        }
    }
    Ok(format!("/{inner}"))
}

/// Empty means none; otherwise an absolute `http://` or `https://` URL, trailing '/' trimmed.
pub(crate) fn normalize_chart_url(raw: &str) -> Result<Option<String>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let lower = raw.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &raw["http://".len()..]
    } else if lower.starts_with("https://") {
        &raw["https://".len()..]
    } else {
        return Err("must be an absolute http:// or https:// URL".to_owned());
    };
    if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#')) {
        return Err(format!("character {c:?} is not allowed in the base URL"));
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

/// A multipart form field name: non-empty, no control characters, quotes or backslashes.
pub(crate) fn check_form_field(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || matches!(c, '"' | '\\')) {
        return Err(format!("character {c:?} is not allowed in a form field name"));
    }
    Ok(name.to_owned())
}
