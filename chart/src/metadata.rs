//! The `Chart.yaml` model (Helm's `chart.Metadata`), parsing and validation.
//!
//! Parsing follows Helm's loader: a UTF-8 BOM is stripped, unknown keys are ignored, scalars
//! of any YAML type are accepted into string fields exactly as written (`version: 1.10` is
//! `"1.10"`), `null` means "empty", and an empty `apiVersion` becomes `v1`. Validation is
//! Helm's `Metadata.Validate()` plus Chartroom's stricter chart-name rule (the name becomes a
//! storage key).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Longest accepted chart name, in bytes.
pub const MAX_CHART_NAME_LEN: usize = 250;

/// A chart's `Chart.yaml` (Helm `chart.Metadata`), fields in Go struct order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub home: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_string_seq")]
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_string_seq")]
    pub keywords: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_maintainers")]
    pub maintainers: Vec<Maintainer>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub icon: String,
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub condition: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub tags: String,
    #[serde(rename = "appVersion", skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub app_version: String,
    #[serde(skip_serializing_if = "is_false", deserialize_with = "de_bool")]
    pub deprecated: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "de_string_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "kubeVersion", skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub kube_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_dependencies")]
    pub dependencies: Vec<Dependency>,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub chart_type: String,
}

/// A `maintainers[]` item (Helm `chart.Maintainer`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Maintainer {
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub url: String,
}

/// A `dependencies[]` item (Helm `chart.Dependency`), fields in Go struct order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dependency {
    #[serde(deserialize_with = "de_string")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub version: String,
    #[serde(deserialize_with = "de_string")]
    pub repository: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub condition: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_string_seq")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "is_false", deserialize_with = "de_bool")]
    pub enabled: bool,
    #[serde(
        rename = "import-values",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ser_sorted_values",
        deserialize_with = "de_values"
    )]
    pub import_values: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_string")]
    pub alias: String,
}

/// Why a `Chart.yaml` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("Chart.yaml: invalid YAML: {0}")]
    Yaml(String),
    #[error("Chart.yaml: apiVersion is required")]
    ApiVersionRequired,
    #[error("Chart.yaml: apiVersion {0:?} is not supported: must be \"v1\" or \"v2\"")]
    UnsupportedApiVersion(String),
    #[error("Chart.yaml: name is required")]
    NameRequired,
    #[error("Chart.yaml: name {name:?} is invalid: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("Chart.yaml: version is required")]
    VersionRequired,
    #[error("Chart.yaml: version {0:?} is not a valid semantic version")]
    InvalidVersion(String),
    #[error("Chart.yaml: type {0:?} is invalid: must be \"application\" or \"library\"")]
    InvalidType(String),
    #[error("Chart.yaml: dependency name {0:?} is invalid: only letters, digits, '_' and '-' are allowed")]
    InvalidDependencyName(String),
    #[error(
        "Chart.yaml: dependency {name:?} has alias {alias:?} with disallowed characters: only letters, digits, '_' and '-' are allowed"
    )]
    InvalidDependencyAlias { name: String, alias: String },
    #[error("Chart.yaml: more than one dependency with name or alias {0:?}")]
    DuplicateDependency(String),
}

impl Metadata {
    /// Parse `Chart.yaml` bytes as Helm's loader does, then sanitize and validate.
    ///
    /// A UTF-8 BOM is stripped, unknown keys are ignored, YAML scalars of any type are taken
    /// into string fields as written, the default serde-saphyr budget applies (YAML-bomb
    /// protection), an empty `apiVersion` becomes `v1`.
    pub fn from_yaml(bytes: &[u8]) -> Result<Metadata, MetadataError> {
        let mut md: Metadata =
            parse_yaml_doc::<Option<Metadata>>(bytes).map_err(MetadataError::Yaml)?.unwrap_or_default();
        if md.api_version.is_empty() {
            md.api_version = "v1".to_owned();
        }
        md.validate()?;
        Ok(md)
    }

    /// Helm's `Metadata.Validate()` plus Chartroom's chart-name rule.
    ///
    /// Sanitizes, in place and exactly where Helm does, the string fields: every Unicode white
    /// space becomes `' '` and non-printable characters are removed.
    pub fn validate(&mut self) -> Result<(), MetadataError> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            sanitize_in_place(s);
        }
        self.sources.iter_mut().for_each(sanitize_in_place);
        self.keywords.iter_mut().for_each(sanitize_in_place);

        if self.api_version.is_empty() {
            return Err(MetadataError::ApiVersionRequired);
        }
        // Helm 3 and 4 render chart API v1 and v2 only; anything else would be served to clients
        // that refuse it at install time.
        if !matches!(self.api_version.as_str(), "v1" | "v2") {
            return Err(MetadataError::UnsupportedApiVersion(self.api_version.clone()));
        }
        validate_chart_name(&self.name)?;
        if self.version.is_empty() {
            return Err(MetadataError::VersionRequired);
        }
        if crate::version::Version::parse(&self.version).is_err() {
            return Err(MetadataError::InvalidVersion(self.version.clone()));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return Err(MetadataError::InvalidType(self.chart_type.clone()));
        }
        // Helm only sanitizes maintainers here (a missing name is a lint finding, not a load error).
        for m in &mut self.maintainers {
            sanitize_in_place(&mut m.name);
            sanitize_in_place(&mut m.email);
            sanitize_in_place(&mut m.url);
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &mut self.dependencies {
            sanitize_in_place(&mut d.name);
            sanitize_in_place(&mut d.version);
            sanitize_in_place(&mut d.repository);
            sanitize_in_place(&mut d.condition);
            d.tags.iter_mut().for_each(sanitize_in_place);
            if !is_dependency_name(&d.name) {
                return Err(MetadataError::InvalidDependencyName(d.name.clone()));
            }
            if !d.alias.is_empty() && !is_dependency_name(&d.alias) {
                return Err(MetadataError::InvalidDependencyAlias { name: d.name.clone(), alias: d.alias.clone() });
            }
            let key = if d.alias.is_empty() { &d.name } else { &d.alias };
            if !seen.insert(key.clone()) {
                return Err(MetadataError::DuplicateDependency(key.clone()));
            }
        }
        Ok(())
    }
}

/// Check a chart name: Helm's rules (required, not `.`/`..`, equal to its own basename) and
/// Chartroom's storage-safety rule `^[A-Za-z0-9_][A-Za-z0-9._+-]*$`, at most 250 bytes.
pub fn validate_chart_name(name: &str) -> Result<(), MetadataError> {
    let invalid = |reason| MetadataError::InvalidName { name: name.to_owned(), reason };
    if name.is_empty() {
        return Err(MetadataError::NameRequired);
    }
    if name == "." || name == ".." {
        return Err(invalid("it must not be \".\" or \"..\""));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(invalid("it must not contain a path separator"));
    }
    if name.len() > MAX_CHART_NAME_LEN {
        return Err(invalid("it is longer than 250 bytes"));
    }
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok {
        return Err(invalid("it must start with a letter, a digit or '_'"));
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-')) {
        return Err(invalid("only letters, digits, '.', '_', '+' and '-' are allowed"));
    }
    Ok(())
}

/// `^[a-zA-Z0-9_-]+$`
fn is_dependency_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Helm's `sanitizeString`: Unicode white space → `' '`, non-printable runes dropped.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if is_printable(c) {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

fn sanitize_in_place(s: &mut String) {
    if s.chars().any(|c| c != ' ' && (c.is_whitespace() || !is_printable(c))) {
        *s = sanitize(s);
    }
}

/// Approximation of Go's `unicode.IsPrint` for non-space runes: control characters (Cc),
/// format characters (Cf), private-use characters (Co) and noncharacters are not printable.
/// (Unassigned code points are kept: that needs the full Unicode tables.)
fn is_printable(c: char) -> bool {
    let u = c as u32;
    if c.is_control() {
        return false;
    }
    // Private use areas.
    if (0xE000..=0xF8FF).contains(&u) || (0xF0000..=0x10FFFF).contains(&u) {
        return false;
    }
    // Noncharacters.
    if (0xFDD0..=0xFDEF).contains(&u) || (u & 0xFFFE) == 0xFFFE {
        return false;
    }
    // Format characters (Cf).
    const CF: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    !CF.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------------------------------------
// YAML entry points shared with the archive module.

/// Strip one leading UTF-8 byte order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn yaml_error(e: serde_saphyr::Error) -> String {
    let text = e.to_string();
    let text = text.trim();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    // Keep the first line: the message with its location.
    text.lines().next().unwrap_or("").trim().to_owned()
}

/// Parse one YAML document (BOM stripped) from untrusted bytes.
pub(crate) fn parse_yaml_doc<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let bytes = strip_bom(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not valid UTF-8: {e}"))?;
    serde_saphyr::from_str_with_options::<T>(text, crate::yaml::read_options_for(text.len())).map_err(yaml_error)
}

/// Parse every YAML document of a stream (BOM stripped) from untrusted bytes.
pub(crate) fn parse_yaml_docs<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, String> {
    let bytes = strip_bom(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not valid UTF-8: {e}"))?;
    serde_saphyr::from_multiple_with_options::<T>(text, crate::yaml::read_options_for(text.len())).map_err(yaml_error)
}

/// A YAML document that must be a mapping or empty/null (values.yaml, Chart.lock, ...).
/// Its content is walked (so budgets apply) and discarded.
pub(crate) struct MapOrNull;

impl<'de> Deserialize<'de> for MapOrNull {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapOrNull;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<MapOrNull, E> {
                Ok(MapOrNull)
            }
            fn visit_none<E: de::Error>(self) -> Result<MapOrNull, E> {
                Ok(MapOrNull)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MapOrNull, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(MapOrNull)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Lenient field deserializers (Go's decoding: null → zero value, scalars → their text).

/// A string field that accepts any scalar as written and `null` as "".
pub(crate) struct LenientString(pub(crate) String);

struct LenientStringVisitor;

impl<'de> Visitor<'de> for LenientStringVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(LenientStringVisitor)
    }
}

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(LenientStringVisitor).map(LenientString)
    }
}

fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    LenientString::deserialize(d).map(|s| s.0)
}

fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

fn de_string_seq<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<LenientString>>::deserialize(d)?.unwrap_or_default().into_iter().map(|s| s.0).collect())
}

fn de_string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<LenientKey, LenientString>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.0, v.0))
        .collect())
}

fn de_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(Option::<Vec<serde_json::Value>>::deserialize(d)?.unwrap_or_default())
}

/// A sequence whose items must not be `null` (Helm: "must not contain empty or null nodes").
fn de_non_null_seq<'de, D, T>(d: D, what: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct SeqV<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqV<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of {}", self.0)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<Option<T>>()? {
                match item {
                    Some(v) => out.push(v),
                    None => {
                        return Err(de::Error::custom(format_args!("{} must not contain empty or null nodes", self.0)));
                    }
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(SeqV::<T>(what, std::marker::PhantomData))
}

fn de_maintainers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Maintainer>, D::Error> {
    de_non_null_seq(d, "maintainers")
}

/// `requirements.yaml` of an apiVersion v1 chart: only its dependency list matters.
#[derive(Deserialize)]
pub(crate) struct Requirements {
    #[serde(default, deserialize_with = "de_some_dependencies")]
    pub(crate) dependencies: Option<Vec<Dependency>>,
}

fn de_some_dependencies<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Dependency>>, D::Error> {
    de_dependencies(d).map(Some)
}

pub(crate) fn de_dependencies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Dependency>, D::Error> {
    de_non_null_seq(d, "dependencies")
}

/// A map key taken as text (YAML keys may be numbers or booleans).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct LenientKey(String);

impl<'de> Deserialize<'de> for LenientKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_string(LenientStringVisitor).map(LenientKey)
    }
}

/// Serialize JSON values with object keys sorted (Go's encoding/json sorts map keys), whatever
/// serde_json's map ordering feature is.
fn ser_sorted_values<S: serde::Serializer>(values: &[serde_json::Value], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for v in values {
        seq.serialize_element(&SortedValue(v))?;
    }
    seq.end()
}

struct SortedValue<'a>(&'a serde_json::Value);

impl Serialize for SortedValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            serde_json::Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&SortedValue(v))?;
                }
                seq.end()
            }
            serde_json::Value::Object(obj) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = obj.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &SortedValue(v))?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<Metadata, MetadataError> {
        Metadata::from_yaml(y.as_bytes())
    }

    #[test]
    fn scalars_as_written() {
        let md = parse("name: foo\nversion: 1.10\nappVersion: true\nkubeVersion: 01\n").unwrap();
        assert_eq!(md.version, "1.10");
        assert_eq!(md.app_version, "true");
        assert_eq!(md.kube_version, "01");
        assert_eq!(md.api_version, "v1");
    }

    #[test]
    fn bom_and_nulls() {
        let md = parse(
            "\u{feff}apiVersion: v2\nname: foo\nversion: 1.0.0\nhome: ~\nsources:\nkeywords: [a, ~]\nannotations: {a: 1, b: true, c: x}\nunknown: [1, 2]\n",
        )
        .unwrap();
        assert_eq!(md.api_version, "v2");
        assert_eq!(md.home, "");
        assert!(md.sources.is_empty());
        assert_eq!(md.keywords, vec!["a".to_owned(), String::new()]);
        assert_eq!(md.annotations.get("a").map(String::as_str), Some("1"));
        assert_eq!(md.annotations.get("b").map(String::as_str), Some("true"));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let md = parse("name: a\nname: b\nversion: 1.0.0\n").unwrap();
        assert_eq!(md.name, "b");
    }

    #[test]
    fn null_items_are_errors() {
        let e = parse("name: a\nversion: 1.0.0\nmaintainers:\n- ~\n").unwrap_err();
        assert!(e.to_string().contains("maintainers must not contain empty or null nodes"), "{e}");
        let e = parse("name: a\nversion: 1.0.0\ndependencies:\n- name: x\n- null\n").unwrap_err();
        assert!(e.to_string().contains("dependencies must not contain"), "{e}");
        assert!(parse("name: a\nversion: 1.0.0\nmaintainers: ~\ndependencies: ~\n").is_ok());
    }

    #[test]
    fn validation_errors() {
        assert_eq!(parse("version: 1.0.0").unwrap_err(), MetadataError::NameRequired);
        assert_eq!(parse("name: x").unwrap_err(), MetadataError::VersionRequired);
        assert_eq!(
            parse("name: x\nversion: foo").unwrap_err().to_string(),
            "Chart.yaml: version \"foo\" is not a valid semantic version"
        );
        assert!(matches!(parse("name: x\nversion: 1.2.3.4").unwrap_err(), MetadataError::InvalidVersion(_)));
        assert!(matches!(parse("name: ../../x\nversion: 1.0.0").unwrap_err(), MetadataError::InvalidName { .. }));
        assert!(matches!(parse("name: ..\nversion: 1.0.0").unwrap_err(), MetadataError::InvalidName { .. }));
        assert!(matches!(parse("name: .hidden\nversion: 1.0.0").unwrap_err(), MetadataError::InvalidName { .. }));
        assert!(matches!(parse("name: a b\nversion: 1.0.0").unwrap_err(), MetadataError::InvalidName { .. }));
        let long = "a".repeat(251);
        assert!(matches!(
            parse(&format!("name: {long}\nversion: 1.0.0")).unwrap_err(),
            MetadataError::InvalidName { .. }
        ));
        assert!(parse(&format!("name: {}\nversion: 1.0.0", "a".repeat(250))).is_ok());
        assert_eq!(parse("name: x\nversion: 1.0.0\ntype: foo").unwrap_err(), MetadataError::InvalidType("foo".into()));
        assert!(parse("name: x\nversion: 1.0.0\ntype: library").is_ok());
        for api in ["v1", "v2", ""] {
            assert!(parse(&format!("apiVersion: \"{api}\"\nname: x\nversion: 1.0.0")).is_ok(), "{api:?}");
        }
        for api in ["v3", "V2", "v2 ", "2", "apps/v1"] {
            let e = parse(&format!("apiVersion: \"{api}\"\nname: x\nversion: 1.0.0")).unwrap_err();
            assert_eq!(e, MetadataError::UnsupportedApiVersion(api.to_owned()), "{api:?}");
        }
        assert_eq!(
            parse("apiVersion: v3\nname: x\nversion: 1.0.0").unwrap_err().to_string(),
            "Chart.yaml: apiVersion \"v3\" is not supported: must be \"v1\" or \"v2\""
        );
        assert!(
            parse("name: x\nversion: 1.0.0\nmaintainers: [{email: a@b}]").is_ok(),
            "Helm loads maintainers without a name"
        );
        assert!(matches!(
            parse("name: x\nversion: 1.0.0\ndependencies: [{name: a, alias: b.c}]").unwrap_err(),
            MetadataError::InvalidDependencyAlias { .. }
        ));
        assert!(matches!(
            parse("name: x\nversion: 1.0.0\ndependencies: [{name: a/b}]").unwrap_err(),
            MetadataError::InvalidDependencyName(_)
        ));
        assert_eq!(
            parse("name: x\nversion: 1.0.0\ndependencies: [{name: a}, {name: b, alias: a}]").unwrap_err(),
            MetadataError::DuplicateDependency("a".into())
        );
        assert!(parse("name: x\nversion: 1.0.0\ndependencies: [{name: a}, {name: a, alias: b}]").is_ok());
        assert!(matches!(parse("- a\n").unwrap_err(), MetadataError::Yaml(_)));
        assert!(matches!(parse("name: [a]\n").unwrap_err(), MetadataError::Yaml(_)));
        assert!(matches!(parse("name: x\n\tversion: 1\n").unwrap_err(), MetadataError::Yaml(_)));
    }

    #[test]
    fn sanitizes_like_helm() {
        let mut md = Metadata {
            name: "x".into(),
            version: "1.0.0".into(),
            api_version: "v2".into(),
            description: "a\tb\u{0}c\u{200b}d\u{a0}e\u{2028}".into(),
            ..Default::default()
        };
        md.validate().unwrap();
        assert_eq!(md.description, "a bcd e ");
    }

    #[test]
    fn alias_bomb_fails_cleanly() {
        let mut y = String::from("name: x\nversion: 1.0.0\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..10 {
            let p = i - 1;
            y.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
        }
        let e = parse(&y).unwrap_err();
        assert!(matches!(e, MetadataError::Yaml(_)), "{e}");
    }

    #[test]
    fn serializes_omitempty_in_go_order() {
        let md = parse(
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndeprecated: false\ntype: application\ndependencies:\n- name: d\n  repository: ''\n",
        )
        .unwrap();
        let json = serde_json::to_string(&md).unwrap();
        assert_eq!(
            json,
            r#"{"name":"x","version":"1.0.0","apiVersion":"v2","dependencies":[{"name":"d","repository":""}],"type":"application"}"#
        );
        let back: Metadata = serde_json::from_str(&json).unwrap();
        assert_eq!(back, md);
    }
}
