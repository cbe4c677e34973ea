//! The YAML config file (`--config`): ChartMuseum's keys, nested (`storage: {local: {rootdir: x}}`)
//! or dotted (`storage.local.rootdir: x`), case-insensitive as in viper. Flattened to dotted keys
//! once; a key set twice, an unknown key (with a did-you-mean hint) and a ChartMuseum key that
//! Chartroom lacks are errors. Values are read per option kind by the `file_*` functions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::chartmuseum::is_unsupported_key;
use super::error::ConfigError;
use super::hints::{is_under, unknown_key_hint};
use super::options::{Kind, file_options};
use super::values::{BOOL_WANT, parse_items_text, parse_pairs_text, push_item, push_pair};
use chartroom_storage::backend::parse_bool;

/// A parsed config file: dotted, lower-cased keys to non-mapping values.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    pub path: PathBuf,
    pub values: BTreeMap<String, Value>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        ConfigFile::parse(path, text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        // Comments are never needed; capturing them limits how many may precede a nested key.
        let doc: Value = serde_saphyr::from_str_with_options(text, serde_saphyr::options! { emit_comments: false })
            .map_err(|source| ConfigError::ParseFile { path: path.to_owned(), source: Box::new(source) })?;
        let mut flat = BTreeMap::new();
        match &doc {
            Value::Null => {}
            Value::Object(map) => flatten(path, "", map, &mut flat)?,
            _ => {
                return Err(ConfigError::FileNotMapping { path: path.to_owned() });
            }
        }
        let mut values = BTreeMap::new();
        for (key, value) in flat {
            if file_options().any(|o| o.key == key) {
                if !value.is_null() {
                    values.insert(key, value);
                }
                continue;
            }
            let is_section = file_options().any(|o| is_under(o.key, &key));
            if is_section && (value.is_null() || value.as_object().is_some_and(|m| m.is_empty())) {
                // `listen:` or `storage: {}` with nothing under it.
                continue;
            }
            if is_unsupported_key(&key) {
                return Err(ConfigError::UnsupportedKey { path: path.to_owned(), key });
            }
            let hint = unknown_key_hint(&key, is_section);
            return Err(ConfigError::UnknownKey { path: path.to_owned(), key, hint });
        }
        Ok(ConfigFile { path: path.to_owned(), values })
    }
}

/// Nested mappings and dotted keys to one flat map; keys are case-insensitive (as in viper).
fn flatten(
    path: &Path,
    prefix: &str,
    map: &serde_json::Map<String, Value>,
    out: &mut BTreeMap<String, Value>,
) -> Result<(), ConfigError> {
    for (key, value) in map {
        let key = key.to_lowercase();
        let full = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        // A mapping that is an option's value (`provenancetenant: {team-a: required}`) is kept
        // whole, its keys as written.
        let is_pairs = file_options().any(|o| o.key == full && matches!(o.kind, Kind::Pairs | Kind::Items));
        match value {
            Value::Object(inner) if !inner.is_empty() && !is_pairs => flatten(path, &full, inner, out)?,
            _ => {
                if out.contains_key(&full) {
                    return Err(ConfigError::DuplicateKey { path: path.to_owned(), key: full });
                }
                out.insert(full, value.clone());
            }
        }
    }
    Ok(())
}

/// A config file value as it would be written on the command line (for error messages).
pub(crate) fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn file_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Value::Bool(_) | Value::Number(_) => Err("expected a string; quote the value".to_owned()),
        _ => Err("expected a string".to_owned()),
    }
}

/// Durations: strings, or the bare number 0.
pub(crate) fn file_duration_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.as_u64() == Some(0) => Ok("0".to_owned()),
        Value::Number(_) => Err("expected a duration with a unit, e.g. \"30s\", \"5m\", \"1h\"".to_owned()),
        _ => Err("expected a duration string".to_owned()),
    }
}

/// Integers: numbers, or strings holding one, up to `max`.
pub(crate) fn file_uint(v: &Value, max: u64) -> Result<u64, String> {
    const WANT: &str = "expected a non-negative integer";
    let n = match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| WANT.to_owned())?,
        Value::String(s) => s.trim().parse::<u64>().map_err(|_| WANT.to_owned())?,
        _ => return Err(WANT.to_owned()),
    };
    if n > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(n)
}

/// `KEY=VALUE` pairs: a mapping, a list of `KEY=VALUE` strings, or one such string (comma- or
/// space-separated).
pub(crate) fn file_pairs(v: &Value) -> Result<Vec<(String, String)>, String> {
    const WANT: &str = "expected a mapping of KEY: VALUE, or a list of KEY=VALUE strings";
    match v {
        Value::Object(map) => {
            let mut pairs = Vec::new();
            for (key, value) in map {
                push_pair(&mut pairs, key, &file_string(value).map_err(|e| format!("{key}: {e}"))?)?;
            }
            Ok(pairs)
        }
        Value::Array(items) => {
            let mut pairs = Vec::new();
            for item in items {
                let text = file_string(item).map_err(|_| WANT.to_owned())?;
                for (key, value) in parse_pairs_text(&text)? {
                    push_pair(&mut pairs, &key, &value)?;
                }
            }
            Ok(pairs)
        }
        Value::String(s) => parse_pairs_text(s),
        _ => Err(WANT.to_owned()),
    }
}

/// `VALUE` or `KEY=VALUE` items: a mapping (the key `""` is the bare value's), a list of such
/// strings, or one such string (comma- or space-separated).
pub(crate) fn file_items(v: &Value) -> Result<Vec<(String, String)>, String> {
    const WANT: &str = "expected a mapping of KEY: VALUE, or a list of VALUE or KEY=VALUE strings";
    match v {
        Value::Object(map) => {
            let mut items = Vec::new();
            for (key, value) in map {
                push_item(&mut items, key, &file_string(value).map_err(|e| format!("{key}: {e}"))?)?;
            }
            Ok(items)
        }
        Value::Array(list) => {
            let mut items = Vec::new();
            for item in list {
                let text = file_string(item).map_err(|_| WANT.to_owned())?;
                for (key, value) in parse_items_text(&text)? {
                    push_item(&mut items, &key, &value)?;
                }
            }
            Ok(items)
        }
        Value::String(s) => parse_items_text(s),
        _ => Err(WANT.to_owned()),
    }
}

/// Booleans: YAML booleans, 0 and 1, or strings as [`parse_bool`] reads them.
pub(crate) fn file_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::String(s) => parse_bool(s).ok_or_else(|| BOOL_WANT.to_owned()),
        _ => Err(BOOL_WANT.to_owned()),
    }
}
