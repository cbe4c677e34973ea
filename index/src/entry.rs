//! One chart version in the index: its identity, where its archive is stored, what is known of
//! its provenance file, and its `Chart.yaml` as pre-serialized JSON (the served JSON adds the
//! URL, time and digest when asked, [`Entry::json`]). Its YAML fragment is rendered once
//! when the entry is made and handed to the index, which keeps it only inside the served body
//! (see `Index::insert`): one copy of the YAML per version, not two.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use chartroom_chart::gojson;
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
///
/// Compact (issue 16: one per indexed version, 100,000s of them): the digest is kept as its 32
/// bytes, the chart name as a prefix of the file name when the file has ChartMuseum's canonical
/// name `<name>-<version>.tgz` (almost always), the version's parts as ranges of its text, and
/// what few entries have (a provenance record, a non-canonical name, a digest that is not
/// sha256 hex, a fragment not yet indexed) in one optional side box.
#[derive(Debug, Clone)]
pub struct Entry {
    pub created: Timestamp,
    version: Version,
    /// sha256 of the archive (all zero when the digest text is not 64 hex digits: then the
    /// text is in [`Extra::digest`]).
    digest: [u8; 32],
    /// The archive's size in storage.
    size: u64,
    /// The archive's file name in the tenant's folder.
    file: Box<str>,
    /// The storage ETag the archive had when it was indexed.
    etag: Option<Box<str>>,
    /// `Chart.yaml` as Go's `json.Marshal(chart.Metadata)` writes it ([`Entry::metadata_json`]).
    metadata: Box<str>,
    /// `--chart-url` plus context path, shared by every entry (`None`: relative URLs).
    url_base: Option<Arc<str>>,
    /// What few entries have; `None` for most.
    extra: Option<Box<Extra>>,
}

/// The rarely-set parts of an [`Entry`].
#[derive(Debug, Clone, Default)]
struct Extra {
    /// The chart name, when the file name is not `<name>-<version>.tgz` (otherwise it is the
    /// file name's prefix).
    name: Option<Box<str>>,
    /// The digest text, when it is not 64 lowercase hex digits (a state file edited by hand;
    /// kept as it was so that it is saved back unchanged).
    digest: Option<Box<str>>,
    /// Its provenance file (`<file>.prov`), if it has one. Not part of the served index (Helm
    /// does not know it); shown by the chart API.
    provenance: Option<ProvenanceRecord>,
    /// The YAML fragment of a freshly made entry, until the index takes it ([`Entry::take_yaml`]);
    /// `None` once indexed, for a copy of an indexed entry (same metadata, so the fragment it
    /// replaces is kept), and when the index is served as JSON only.
    yaml: Option<Bytes>,
}

/// What [`Entry::restore`] makes an entry of.
pub(crate) struct Restore {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub created: Timestamp,
    pub object: StoredObject,
    pub metadata_json: String,
    pub yaml: Option<Bytes>,
}

impl Extra {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.digest.is_none() && self.provenance.is_none() && self.yaml.is_none()
    }
}

/// An entry's digest as text: 64 lowercase hex digits (formatted on the stack from the 32 bytes
/// kept), or the text a state recorded when it was not that.
#[derive(Clone, Copy)]
pub struct DigestText<'a>(DigestRepr<'a>);

#[derive(Clone, Copy)]
enum DigestRepr<'a> {
    Hex([u8; 64]),
    Text(&'a str),
}

impl std::ops::Deref for DigestText<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            // Only ASCII hex digits are ever written into it.
            DigestRepr::Hex(hex) => std::str::from_utf8(hex).unwrap_or(""),
            DigestRepr::Text(text) => text,
        }
    }
}

impl std::fmt::Display for DigestText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for DigestText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for DigestText<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<str> for DigestText<'_> {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for DigestText<'_> {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl PartialEq<String> for DigestText<'_> {
    fn eq(&self, other: &String) -> bool {
        **self == **other
    }
}

/// 64 lowercase hex digits as their 32 bytes; `None` for any other text (uppercase included, so
/// that the text formatted back is the text read).
fn parse_hex_digest(text: &str) -> Option<[u8; 32]> {
    let hex = text.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
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
        Ok(Entry::compact(metadata.name, version, digest, created, object, metadata_json, yaml, config))
    }

    /// An entry from its already-serialized parts (the persisted state, issue 16): no
    /// `Chart.yaml` parse, no re-rendering. `metadata_json` is what [`Entry::metadata_json`]
    /// gave when it was saved; `yaml` the fragment the index served for it, rendered with the
    /// same chart URL base as `config`'s (the caller checks), or `None` for a JSON body.
    /// Only the identity is checked here, with the upload's rules: the name and the version
    /// order the index and name its files.
    pub(crate) fn restore(parts: Restore, config: &RenderConfig) -> Result<Entry, EntryError> {
        let Restore { name, version, digest, created, object, metadata_json, yaml } = parts;
        chartroom_chart::metadata::validate_chart_name(&name)
            .map_err(|e| EntryError::Metadata { file: object.file.clone(), reason: e.to_string() })?;
        let version = Version::parse(&version).map_err(|e| EntryError::Version {
            name: name.clone(),
            version: version.clone(),
            reason: e.to_string(),
        })?;
        // The shapes the fragments are spliced into the bodies by: a JSON object (`write_json`
        // replaces its closing brace) and a block-sequence item of `entries.<name>`.
        let shape = |reason: &str| EntryError::Metadata { file: object.file.clone(), reason: reason.to_owned() };
        if !(metadata_json.starts_with("{\"") && metadata_json.ends_with('}')) {
            return Err(shape("its metadata is not a JSON object"));
        }
        match &yaml {
            _ if !config.format.renders_yaml() => {}
            Some(y) if y.starts_with(b"  - ") && y.ends_with(b"\n") => {}
            Some(_) => return Err(shape("its index fragment is not a sequence item")),
            None => return Err(shape("it has no index fragment")),
        }
        let yaml = if config.format.renders_yaml() { yaml } else { None };
        Ok(Entry::compact(name, version, digest, created, object, metadata_json, yaml, config))
    }

    /// The compact form of an entry's parts (see [`Entry`]).
    #[allow(clippy::too_many_arguments)]
    fn compact(
        name: String,
        version: Version,
        digest: String,
        created: Timestamp,
        object: StoredObject,
        metadata_json: String,
        yaml: Option<Bytes>,
        config: &RenderConfig,
    ) -> Entry {
        let canonical = is_canonical_file(&object.file, &name, version.original());
        let hex = parse_hex_digest(&digest);
        let extra = Extra {
            name: (!canonical).then(|| name.into_boxed_str()),
            digest: hex.is_none().then(|| digest.into_boxed_str()),
            provenance: None,
            yaml,
        };
        Entry {
            created,
            version,
            digest: hex.unwrap_or_default(),
            size: object.size,
            file: object.file.into_boxed_str(),
            etag: object.etag.map(String::into_boxed_str),
            metadata: metadata_json.into_boxed_str(),
            url_base: config.chart_url.as_deref().map(shared_base),
            extra: (!extra.is_empty()).then(|| Box::new(extra)),
        }
    }

    pub fn name(&self) -> &str {
        if let Some(name) = self.extra.as_ref().and_then(|x| x.name.as_deref()) {
            return name;
        }
        // Canonical: `<name>-<version>.tgz` (checked when the entry was made).
        let end = self.file.len().saturating_sub(self.version.original().len() + "-.tgz".len());
        self.file.get(..end).unwrap_or("")
    }

    /// The version exactly as written in Chart.yaml.
    pub fn version(&self) -> &str {
        self.version.original()
    }

    pub(crate) fn parsed_version(&self) -> &Version {
        &self.version
    }

    /// The archive's digest as lowercase hex (sha256), as the index serves it.
    pub fn digest(&self) -> DigestText<'_> {
        if let Some(text) = self.extra.as_ref().and_then(|x| x.digest.as_deref()) {
            return DigestText(DigestRepr::Text(text));
        }
        let mut hex = [0u8; 64];
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, byte) in hex.chunks_exact_mut(2).zip(self.digest) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        DigestText(DigestRepr::Hex(hex))
    }

    /// Whether both entries are of archives with the same digest.
    pub fn same_digest(&self, other: &Entry) -> bool {
        self.digest() == other.digest()
    }

    /// The archive's file name in the tenant's folder.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The archive's size in storage.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The storage ETag the archive had when it was indexed.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Where the archive lives and what a listing said about it (a copy).
    pub fn object(&self) -> StoredObject {
        StoredObject { file: self.file.to_string(), size: self.size, etag: self.etag.as_deref().map(str::to_owned) }
    }

    /// Whether the archive is `object` (same file, size and ETag).
    pub fn is_object(&self, object: &StoredObject) -> bool {
        *self.file == *object.file && self.size == object.size && self.etag.as_deref() == object.etag.as_deref()
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
        // Written in place, part by part: an index body writes this for every version.
        out.push_str(",\"urls\":[\"");
        if let Some(base) = &self.url_base {
            gojson::push_string_content(out, base);
            out.push('/');
        }
        out.push_str("charts/");
        gojson::push_string_content(out, &self.file);
        // RFC 3339 (`format_time`) has nothing to escape.
        let _ = write!(out, "\"],\"created\":\"{}\",\"digest\":", self.created);
        gojson::push_string(out, &self.digest());
        out.push('}');
    }

    /// What the chart API shows of this version: [`Entry::json`], then (only when the version
    /// has a provenance file) `"provenance":{"verified":…}` with the signer when it verified.
    pub fn api_json(&self) -> String {
        let mut out = self.json();
        let Some(provenance) = self.provenance() else { return out };
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
        self.extra.as_ref()?.provenance.as_ref()
    }

    /// This entry with another provenance record (the fragments are shared text, copied).
    pub(crate) fn with_provenance(&self, provenance: Option<ProvenanceRecord>) -> Entry {
        let mut entry = self.clone();
        entry.set_provenance(provenance);
        entry
    }

    pub(crate) fn set_provenance(&mut self, provenance: Option<ProvenanceRecord>) {
        self.update_extra(|extra| extra.provenance = provenance);
    }

    /// `Chart.yaml` as Go's `json.Marshal(chart.Metadata)` writes it (Helm's OCI config blob):
    /// [`Entry::json`] without the `urls`, `created` and `digest` that follow the metadata.
    pub fn metadata_json(&self) -> &str {
        &self.metadata
    }

    /// The YAML fragment of this entry in `index.yaml`, taken by the index when it indexes the
    /// entry (see [`Extra::yaml`]).
    pub(crate) fn take_yaml(&mut self) -> Option<Bytes> {
        let mut yaml = None;
        if self.extra.as_ref().is_some_and(|x| x.yaml.is_some()) {
            self.update_extra(|extra| yaml = extra.yaml.take());
        }
        yaml
    }

    /// Changes the side box, dropping it when nothing is left in it.
    fn update_extra(&mut self, change: impl FnOnce(&mut Extra)) {
        let mut extra = self.extra.take().unwrap_or_default();
        change(&mut extra);
        self.extra = (!extra.is_empty()).then_some(extra);
    }
}

/// Whether `file` is ChartMuseum's name for the chart, `<name>-<version>.tgz`.
fn is_canonical_file(file: &str, name: &str, version: &str) -> bool {
    file.strip_prefix(name).and_then(|rest| rest.strip_prefix('-')).and_then(|rest| rest.strip_prefix(version))
        == Some(".tgz")
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

/// The URL the index gives a chart file (relative unless `--chart-url` is set).
pub(crate) fn chart_url(config: &RenderConfig, file: &str) -> String {
    match &config.chart_url {
        Some(base) => format!("{base}/charts/{file}"),
        None => format!("charts/{file}"),
    }
}

/// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's `time.RFC3339Nano`), in UTC.
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

    /// Issue 16: the compact entry gives back exactly what it was made of, whichever parts it
    /// derives (the name from a canonical file name, the digest text from its bytes) and
    /// whichever it keeps aside (a non-canonical name, a digest that is not lowercase hex).
    #[test]
    fn a_compact_entry_gives_back_what_it_was_made_of() {
        let created: Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
        let hex = "0123456789abcdef".repeat(4);
        // (name, version, file, digest, whether a side box is needed)
        let cases = [
            ("a", "1.0.0", "a-1.0.0.tgz", hex.clone(), false),
            ("my-chart", "v2.0-rc.1+b.7", "my-chart-v2.0-rc.1+b.7.tgz", hex.clone(), false),
            ("a", "1.0.0", "renamed.tgz", hex.clone(), true),
            ("a", "1.0.0", "a-1.0.0.tgz", hex.to_uppercase(), true),
            ("a", "1.0.0", "a-1.0.0.tgz", "d1".to_owned(), true),
            ("a", "1.0.0", "a-1.0.00.tgz", hex.clone(), true),
            ("é", "1.0.0", "é-1.0.0.tgz", hex.clone(), false),
        ];
        let json = RenderConfig { format: crate::IndexFormat::Json, ..Default::default() };
        for (name, version, file, digest, aside) in cases {
            let metadata =
                Metadata { name: name.into(), version: version.into(), api_version: "v2".into(), ..Default::default() };
            let object = StoredObject { file: file.into(), size: 42, etag: Some("\"e1\"".into()) };
            let entry = Entry::new(metadata, digest.clone(), created, object.clone(), &json).unwrap();
            assert_eq!((entry.name(), entry.version(), entry.file()), (name, version, file));
            assert_eq!(entry.digest(), digest.as_str());
            assert_eq!((entry.size(), entry.etag(), entry.object()), (42, Some("\"e1\""), object.clone()));
            assert!(entry.is_object(&object));
            assert_eq!(entry.extra.is_some(), aside, "{name} {version} {file} {digest}");
            assert!(entry.json().ends_with(&format!(",\"digest\":\"{digest}\"}}")));
        }
    }

    /// Issue 16: the side box holds only what is there; a provenance record or a fragment comes
    /// and goes without leaving an empty box behind.
    #[test]
    fn the_side_box_exists_only_while_it_holds_something() {
        let metadata =
            Metadata { name: "a".into(), version: "1.0.0".into(), api_version: "v2".into(), ..Default::default() };
        let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 1, etag: None };
        let created = Timestamp::UNIX_EPOCH;
        let mut entry = Entry::new(metadata, "ab".repeat(32), created, object, &RenderConfig::default()).unwrap();
        assert!(entry.extra.is_some(), "a fresh YAML entry holds its fragment");
        assert!(entry.take_yaml().is_some_and(|y| !y.is_empty()));
        assert!(entry.extra.is_none() && entry.take_yaml().is_none());
        let record = ProvenanceRecord { size: 1, etag: None, signature: None, failure: None };
        let signed = entry.with_provenance(Some(record.clone()));
        assert_eq!((signed.provenance(), entry.provenance()), (Some(&record), None));
        let mut unsigned = signed.clone();
        unsigned.set_provenance(None);
        assert!(unsigned.extra.is_none());
        assert!(std::mem::size_of::<Entry>() <= 184, "{} bytes", std::mem::size_of::<Entry>());
    }
}
