//! One chart version in the index: its identity, where its archive is stored, what is known of
//! its provenance file, and its `Chart.yaml` as pre-serialized JSON (the served JSON adds the
//! URL, time and digest when asked, [`Entry::json`]). Its YAML fragment is rendered once
//! when the entry is made and handed to the index, which keeps it only inside the served body
//! (see `Index::insert`): one copy of the YAML per version, not two.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use chartroom_chart::metadata::{Dependency, Metadata};
use chartroom_chart::version::Version;
use chartroom_chart::yaml;
use jiff::Timestamp;

use crate::format::IndexFormat;
use crate::provenance::ProvenanceRecord;

/// How entries are rendered. URLs are derived here, at render time, never persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderConfig {
    /// Absolute base for chart URLs (`--chart-url` plus context path), without trailing `/`.
    /// `None` gives ChartMuseum's relative `charts/<file>` URLs.
    pub chart_url: Option<String>,
    /// `serverInfo.contextPath` (`""` renders `serverInfo: {}`).
    pub context_path: String,
    /// Which representations of the index body are rendered (YAML, JSON or both).
    pub format: IndexFormat,
}

/// Where an entry's archive lives, and what a listing said about it (to notice changes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredObject {
    pub file: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// One chart version in the index.
#[derive(Debug, Clone)]
pub struct Entry {
    name: Box<str>,
    /// Lowercase hex sha256 of the archive.
    pub digest: String,
    pub created: Timestamp,
    pub object: StoredObject,
    /// Its provenance file (`<file>.prov`), if it has one. Not part of the served index (Helm
    /// does not know it); shown by the chart API.
    provenance: Option<Box<ProvenanceRecord>>,
    version: Version,
    /// `Chart.yaml` as Go's `json.Marshal(chart.Metadata)` writes it ([`Entry::metadata_json`]).
    metadata: Box<str>,
    /// `--chart-url` plus context path, shared by every entry (`None`: relative URLs).
    url_base: Option<Arc<str>>,
    /// The YAML fragment of a freshly made entry, until the index takes it ([`Entry::take_yaml`]);
    /// `None` once indexed, for a copy of an indexed entry (same metadata, so the fragment it
    /// replaces is kept), and when the index is served as JSON only.
    yaml: Option<Bytes>,
}

#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("chart {name} has an invalid version {version:?}: {reason}")]
    Version { name: String, version: String, reason: String },
    #[error("cannot serialize the entry for {0}: {1}")]
    Serialize(String, String),
    /// A persisted entry whose metadata breaks the chart rules.
    #[error("entry for {file} is invalid: {reason}")]
    Metadata { file: String, reason: String },
}

impl Entry {
    pub(crate) fn new(
        metadata: Metadata,
        digest: String,
        created: Timestamp,
        object: StoredObject,
        config: &RenderConfig,
    ) -> Result<Entry, EntryError> {
        let version = Version::parse(&metadata.version).map_err(|e| EntryError::Version {
            name: metadata.name.clone(),
            version: metadata.version.clone(),
            reason: e.to_string(),
        })?;
        let url = chart_url(config, &object.file);
        let created_text = format_time(created);
        let json = chart_version_json(&metadata, &url, &created_text, &digest)
            .map_err(|e| EntryError::Serialize(metadata.name.clone(), e.to_string()))?;
        // Only the metadata is kept; `json()` appends the rest as `ChartVersionJson` writes it.
        // `"urls":[` with an unescaped quote cannot occur inside a JSON string, and every
        // metadata field comes before it (`ChartVersionJson` flattens the metadata first).
        let metadata_json = match json.rfind(",\"urls\":[") {
            Some(end) => format!("{}}}", &json[..end]),
            None => return Err(EntryError::Serialize(metadata.name.clone(), "no metadata fields".to_owned())),
        };
        let yaml =
            config.format.renders_yaml().then(|| Bytes::from(yaml_fragment(&metadata, &url, &created_text, &digest)));
        Ok(Entry {
            name: metadata.name.into_boxed_str(),
            digest,
            created,
            object,
            provenance: None,
            version,
            metadata: metadata_json.into_boxed_str(),
            url_base: config.chart_url.as_deref().map(shared_base),
            yaml,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version exactly as written in Chart.yaml.
    pub fn version(&self) -> &str {
        self.version.original()
    }

    pub(crate) fn parsed_version(&self) -> &Version {
        &self.version
    }

    /// Helm's `repo.ChartVersion` as JSON, in Go field order (the JSON index body's fragment).
    pub fn json(&self) -> String {
        let mut out = String::with_capacity(self.metadata.len() + 192);
        self.write_json(&mut out);
        out
    }

    /// [`Entry::json`] into `out`: the metadata, then `urls`, `created` and `digest` as
    /// `ChartVersionJson` writes them.
    pub(crate) fn write_json(&self, out: &mut String) {
        out.push_str(self.metadata.strip_suffix('}').unwrap_or(&self.metadata));
        out.push_str(",\"urls\":[");
        let url = match &self.url_base {
            Some(base) => format!("{base}/charts/{}", self.object.file),
            None => format!("charts/{}", self.object.file),
        };
        push_json_string(out, &url);
        out.push_str("],\"created\":");
        push_json_string(out, &format_time(self.created));
        out.push_str(",\"digest\":");
        push_json_string(out, &self.digest);
        out.push('}');
    }

    /// What the chart API shows of this version: [`Entry::json`], then (only when the version
    /// has a provenance file) `"provenance":{"verified":…}` with the signer when it verified.
    pub fn api_json(&self) -> String {
        let mut out = self.json();
        let Some(provenance) = &self.provenance else { return out };
        if out.pop() != Some('}') {
            return self.json();
        }
        out.push_str(",\"provenance\":");
        out.push_str(&provenance.api_json());
        out.push('}');
        out
    }

    /// What is known of this version's provenance file; `None` when it has none.
    pub fn provenance(&self) -> Option<&ProvenanceRecord> {
        self.provenance.as_deref()
    }

    /// This entry with another provenance record (the fragments are shared text, copied).
    pub(crate) fn with_provenance(&self, provenance: Option<ProvenanceRecord>) -> Entry {
        Entry { provenance: provenance.map(Box::new), ..self.clone() }
    }

    pub(crate) fn set_provenance(&mut self, provenance: Option<ProvenanceRecord>) {
        self.provenance = provenance.map(Box::new);
    }

    /// `Chart.yaml` as Go's `json.Marshal(chart.Metadata)` writes it (Helm's OCI config blob):
    /// [`Entry::json`] without the `urls`, `created` and `digest` that follow the metadata.
    pub fn metadata_json(&self) -> &str {
        &self.metadata
    }

    /// The YAML fragment of this entry in `index.yaml`, taken by the index when it indexes the
    /// entry (see the field).
    pub(crate) fn take_yaml(&mut self) -> Option<Bytes> {
        self.yaml.take()
    }
}

/// A JSON string as Go's encoder writes it.
fn push_json_string(out: &mut String, s: &str) {
    match chartroom_chart::gojson::to_string(s) {
        Ok(json) => out.push_str(&json),
        Err(_) => out.push_str("\"\""),
    }
}

/// One shared copy of the URL base for all entries (it changes only with the configuration).
fn shared_base(base: &str) -> Arc<str> {
    static LAST: Mutex<Option<Arc<str>>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*last {
        Some(shared) if **shared == *base => Arc::clone(shared),
        _ => {
            let shared: Arc<str> = Arc::from(base);
            *last = Some(Arc::clone(&shared));
            shared
        }
    }
}

/// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's `time.RFC3339Nano`), in UTC.
/// The URL the index gives a chart file (relative unless `--chart-url` is set).
pub(crate) fn chart_url(config: &RenderConfig, file: &str) -> String {
    match &config.chart_url {
        Some(base) => format!("{base}/charts/{file}"),
        None => format!("charts/{file}"),
    }
}

pub(crate) fn format_time(t: Timestamp) -> String {
    t.to_string()
}

#[derive(serde::Serialize)]
struct ChartVersionJson<'a> {
    #[serde(flatten)]
    metadata: &'a Metadata,
    urls: [&'a str; 1],
    created: &'a str,
    digest: &'a str,
}

fn chart_version_json(
    metadata: &Metadata,
    url: &str,
    created: &str,
    digest: &str,
) -> Result<String, serde_json::Error> {
    chartroom_chart::gojson::to_string(&ChartVersionJson { metadata, urls: [url], created, digest })
}

/// One `entries.<name>` sequence item, keys in the order Helm writes them (alphabetical).
fn yaml_fragment(m: &Metadata, url: &str, created: &str, digest: &str) -> String {
    let mut out = String::with_capacity(384);
    let mut first = true;
    let mut key = |out: &mut String, k: &str| {
        out.push_str(if first { "  - " } else { "    " });
        first = false;
        out.push_str(k);
        out.push(':');
    };
    let str_field = |out: &mut String, key: &mut dyn FnMut(&mut String, &str), k: &str, v: &str| {
        if !v.is_empty() {
            key(out, k);
            out.push(' ');
            yaml::scalar(out, v);
            out.push('\n');
        }
    };
    let list_field = |out: &mut String, key: &mut dyn FnMut(&mut String, &str), k: &str, v: &[String]| {
        if !v.is_empty() {
            key(out, k);
            out.push('\n');
            for item in v {
                out.push_str("    - ");
                yaml::scalar(out, item);
                out.push('\n');
            }
        }
    };
    if !m.annotations.is_empty() {
        key(&mut out, "annotations");
        out.push('\n');
        for (k, v) in &m.annotations {
            out.push_str("      ");
            yaml::scalar(&mut out, k);
            out.push_str(": ");
            yaml::scalar(&mut out, v);
            out.push('\n');
        }
    }
    str_field(&mut out, &mut key, "apiVersion", &m.api_version);
    str_field(&mut out, &mut key, "appVersion", &m.app_version);
    str_field(&mut out, &mut key, "condition", &m.condition);
    key(&mut out, "created");
    out.push(' ');
    yaml::quoted(&mut out, created);
    out.push('\n');
    if !m.dependencies.is_empty() {
        key(&mut out, "dependencies");
        out.push('\n');
        for d in &m.dependencies {
            dependency_yaml(&mut out, d);
        }
    }
    if m.deprecated {
        key(&mut out, "deprecated");
        out.push_str(" true\n");
    }
    str_field(&mut out, &mut key, "description", &m.description);
    str_field(&mut out, &mut key, "digest", digest);
    str_field(&mut out, &mut key, "home", &m.home);
    str_field(&mut out, &mut key, "icon", &m.icon);
    list_field(&mut out, &mut key, "keywords", &m.keywords);
    str_field(&mut out, &mut key, "kubeVersion", &m.kube_version);
    if !m.maintainers.is_empty() {
        key(&mut out, "maintainers");
        out.push('\n');
        for mt in &m.maintainers {
            let mut item = ItemWriter::new(&mut out, "    ");
            item.str("email", &mt.email);
            item.str("name", &mt.name);
            item.str("url", &mt.url);
            item.finish_empty();
        }
    }
    str_field(&mut out, &mut key, "name", &m.name);
    list_field(&mut out, &mut key, "sources", &m.sources);
    str_field(&mut out, &mut key, "tags", &m.tags);
    str_field(&mut out, &mut key, "type", &m.chart_type);
    key(&mut out, "urls");
    out.push_str("\n    - ");
    yaml::scalar(&mut out, url);
    out.push('\n');
    str_field(&mut out, &mut key, "version", &m.version);
    out
}

fn dependency_yaml(out: &mut String, d: &Dependency) {
    let mut item = ItemWriter::new(out, "    ");
    item.str("alias", &d.alias);
    item.str("condition", &d.condition);
    if d.enabled {
        item.raw("enabled", "true");
    }
    if !d.import_values.is_empty() {
        // Arbitrary values: JSON flow style is valid YAML and keeps them exact.
        let json = serde_json::to_string(&d.import_values).unwrap_or_else(|_| "[]".to_owned());
        let mut flow = String::with_capacity(json.len());
        yaml::json_flow(&mut flow, &json);
        item.raw("import-values", &flow);
    }
    item.str_always("name", &d.name);
    item.str_always("repository", &d.repository);
    if !d.tags.is_empty() {
        let json = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".to_owned());
        let mut flow = String::with_capacity(json.len());
        yaml::json_flow(&mut flow, &json);
        item.raw("tags", &flow);
    }
    item.str("version", &d.version);
    item.finish_empty();
}

/// Writes one block-sequence item (`- k: v` then aligned `  k: v`) at a given indentation.
struct ItemWriter<'a> {
    out: &'a mut String,
    indent: &'static str,
    started: bool,
}

impl<'a> ItemWriter<'a> {
    fn new(out: &'a mut String, indent: &'static str) -> Self {
        Self { out, indent, started: false }
    }
    fn key(&mut self, k: &str) {
        self.out.push_str(self.indent);
        self.out.push_str(if self.started { "  " } else { "- " });
        self.started = true;
        self.out.push_str(k);
        self.out.push_str(": ");
    }
    fn str(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.str_always(k, v);
        }
    }
    fn str_always(&mut self, k: &str, v: &str) {
        self.key(k);
        yaml::scalar(self.out, v);
        self.out.push('\n');
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push_str(v);
        self.out.push('\n');
    }
    fn finish_empty(self) {
        if !self.started {
            self.out.push_str(self.indent);
            self.out.push_str("- {}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: the served JSON is assembled from the kept metadata when asked; it must be the
    /// bytes `ChartVersionJson` writes, escapes included (Go's `<`, `>`, `&`, control characters).
    #[test]
    fn json_assembled_on_demand_is_the_chart_version_json() {
        let created: Timestamp = "2024-05-01T10:00:00.123456789Z".parse().unwrap();
        let metadata = Metadata {
            name: "a<b>&c".into(),
            version: "1.0.0+build.1".into(),
            api_version: "v2".into(),
            description: "tab\there \"quoted\" \u{2028} é".into(),
            keywords: vec!["x".into()],
            ..Default::default()
        };
        for chart_url in [None, Some("https://h/x&y".to_owned())] {
            let config = RenderConfig { chart_url, ..Default::default() };
            for (file, digest) in [("a-1.0.0.tgz", "ab".repeat(32)), ("dir/<odd>&.tgz", "0\u{8}\"1".to_owned())] {
                let object = StoredObject { file: file.into(), size: 1, etag: None };
                let entry = Entry::new(metadata.clone(), digest.clone(), created, object, &config).unwrap();
                let url = match &config.chart_url {
                    Some(base) => format!("{base}/charts/{file}"),
                    None => format!("charts/{file}"),
                };
                let expected = chart_version_json(&metadata, &url, &format_time(created), &digest).unwrap();
                assert_eq!(entry.json(), expected);
                let back: Metadata = serde_json::from_str(entry.metadata_json()).unwrap();
                assert_eq!(back, metadata);
            }
        }
    }
}
