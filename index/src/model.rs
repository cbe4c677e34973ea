//! The in-memory repository index: entries keyed by Chart.yaml name and version, each carrying
//! its own pre-serialized YAML and JSON fragments, so a change costs the serialization of that one
//! entry and the served body is a concatenation of fragments.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::metadata::{Dependency, Metadata};
use chartroom_chart::version::Version;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use chartroom_chart::yaml;

/// How entries are rendered. URLs are derived here, at render time, never persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderConfig {
    /// Absolute base for chart URLs (`--chart-url` plus context path), without trailing `/`.
    /// `None` gives ChartMuseum's relative `charts/<file>` URLs.
    pub chart_url: Option<String>,
    /// `serverInfo.contextPath` (`""` renders `serverInfo: {}`).
    pub context_path: String,
    /// Serve the index body as JSON instead of YAML.
    pub json: bool,
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
#[derive(Debug)]
pub struct Entry {
    name: Box<str>,
    /// Lowercase hex sha256 of the archive.
    pub digest: String,
    pub created: Timestamp,
    pub object: StoredObject,
    version: Version,
    json: Box<str>,
    yaml: Box<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("chart {name} has an invalid version {version:?}: {reason}")]
    Version { name: String, version: String, reason: String },
    #[error("cannot serialize the entry for {0}: {1}")]
    Serialize(String, String),
}

impl Entry {
    pub fn new(
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
        let url = match &config.chart_url {
            Some(base) => format!("{base}/charts/{}", object.file),
            None => format!("charts/{}", object.file),
        };
        let created_text = format_time(created);
        let json = chart_version_json(&metadata, &url, &created_text, &digest)
            .map_err(|e| EntryError::Serialize(metadata.name.clone(), e.to_string()))?;
        let yaml = if config.json { String::new() } else { yaml_fragment(&metadata, &url, &created_text, &digest) };
        Ok(Entry {
            name: metadata.name.into_boxed_str(),
            digest,
            created,
            object,
            version,
            json: json.into_boxed_str(),
            yaml: yaml.into_boxed_str(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version exactly as written in Chart.yaml.
    pub fn version(&self) -> &str {
        self.version.original()
    }

    pub fn parsed_version(&self) -> &Version {
        &self.version
    }

    /// Helm's `repo.ChartVersion` as JSON, in Go field order (the ChartMuseum API body).
    pub fn json(&self) -> &str {
        &self.json
    }

    fn key(&self) -> VersionKey {
        VersionKey { version: self.version.clone(), text: self.version.original().to_owned() }
    }
}

/// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's `time.RFC3339Nano`), in UTC.
pub fn format_time(t: Timestamp) -> String {
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
        let flow = serde_json::to_string(&d.import_values).unwrap_or_else(|_| "[]".to_owned());
        item.raw("import-values", &flow);
    }
    item.str_always("name", &d.name);
    item.str_always("repository", &d.repository);
    if !d.tags.is_empty() {
        let flow = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".to_owned());
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

/// Versions sort newest first (Helm's `SortEntries`); equal precedence falls back to the text,
/// so `1.0.0` and `1.0.0+build` are distinct, deterministically ordered entries.
#[derive(Debug, Clone)]
struct VersionKey {
    version: Version,
    text: String,
}

impl Ord for VersionKey {
    fn cmp(&self, other: &Self) -> Ordering {
        other.version.cmp(&self.version).then_with(|| other.text.cmp(&self.text))
    }
}
impl PartialOrd for VersionKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for VersionKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for VersionKey {}

/// A chart name ordered as go-yaml orders map keys (letters before... digits runs numerically),
/// so `entries` come out in the order `helm repo index` writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChartName(String);

impl Ord for ChartName {
    fn cmp(&self, other: &Self) -> Ordering {
        go_yaml_key_order(&self.0, &other.0).then_with(|| self.0.cmp(&other.0))
    }
}
impl PartialOrd for ChartName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// go-yaml v2 `keyList.Less` for string keys.
fn go_yaml_key_order(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0u128, 0u128);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.saturating_mul(10).saturating_add(u128::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.saturating_mul(10).saturating_add(u128::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

type Versions = BTreeMap<VersionKey, Arc<Entry>>;

/// The whole index of one repository.
#[derive(Debug)]
pub struct Index {
    charts: BTreeMap<ChartName, Versions>,
    by_file: HashMap<String, Arc<Entry>>,
    generated: Timestamp,
    config: RenderConfig,
    len: usize,
    /// The rendered body between header and footer, in pages of consecutive chart names.
    pages: Vec<Page>,
    /// Charts changed since the last render.
    dirty: BTreeSet<ChartName>,
}

/// Pages are re-rendered whole; this bounds the work of one change (plus that chart's own size).
const PAGE_TARGET: usize = 64 * 1024;

#[derive(Debug)]
struct Page {
    /// First chart name of the page's range (`None` for the first page).
    lower: Option<ChartName>,
    bytes: Bytes,
    hash: [u8; 32],
}

impl Page {
    fn new(lower: Option<ChartName>, text: String) -> Page {
        let hash = Sha256::digest(text.as_bytes()).into();
        Page { lower, bytes: Bytes::from(text), hash }
    }
    fn empty(lower: Option<ChartName>) -> Page {
        Page::new(lower, String::new())
    }
}

/// A rendered index body: chunks to send in order, total length, and a content hash.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub chunks: Vec<Bytes>,
    pub len: usize,
    /// sha256 over the header, every page's sha256 and the footer: changes exactly when the bytes do.
    pub digest: [u8; 32],
}

impl Index {
    pub fn new(config: RenderConfig) -> Self {
        Self {
            charts: BTreeMap::new(),
            by_file: HashMap::new(),
            generated: Timestamp::now(),
            config,
            len: 0,
            pages: Vec::new(),
            dirty: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &RenderConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn generated(&self) -> Timestamp {
        self.generated
    }

    pub fn set_generated(&mut self, t: Timestamp) {
        self.generated = t;
    }

    /// Inserts or replaces the entry with the same name and version; returns the replaced one.
    pub fn insert(&mut self, entry: Entry) -> Option<Arc<Entry>> {
        let entry = Arc::new(entry);
        self.touch(entry.name());
        let versions = self.charts.entry(ChartName(entry.name().to_owned())).or_default();
        let old = versions.insert(entry.key(), Arc::clone(&entry));
        if let Some(old) = &old {
            self.by_file.remove(&old.object.file);
        } else {
            self.len += 1;
        }
        self.by_file.insert(entry.object.file.clone(), Arc::clone(&entry));
        old
    }

    pub fn remove(&mut self, name: &str, version: &str) -> Option<Arc<Entry>> {
        let key = VersionKey { version: Version::parse(version).ok()?, text: version.to_owned() };
        let chart = ChartName(name.to_owned());
        let versions = self.charts.get_mut(&chart)?;
        let removed = versions.remove(&key)?;
        if versions.is_empty() {
            self.charts.remove(&chart);
        }
        self.touch(name);
        self.by_file.remove(&removed.object.file);
        self.len -= 1;
        Some(removed)
    }

    pub fn remove_chart(&mut self, name: &str) -> Vec<Arc<Entry>> {
        let Some(versions) = self.charts.remove(&ChartName(name.to_owned())) else { return Vec::new() };
        self.touch(name);
        let removed: Vec<Arc<Entry>> = versions.into_values().collect();
        for e in &removed {
            self.by_file.remove(&e.object.file);
        }
        self.len -= removed.len();
        removed
    }

    pub fn get(&self, name: &str, version: &str) -> Option<&Arc<Entry>> {
        let key = VersionKey { version: Version::parse(version).ok()?, text: version.to_owned() };
        self.charts.get(&ChartName(name.to_owned()))?.get(&key)
    }

    pub fn by_file(&self, file: &str) -> Option<&Arc<Entry>> {
        self.by_file.get(file)
    }

    /// The versions of a chart, newest first.
    pub fn versions(&self, name: &str) -> Option<impl Iterator<Item = &Arc<Entry>>> {
        self.charts.get(&ChartName(name.to_owned())).map(|v| v.values())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.charts.keys().map(|k| k.0.as_str())
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.charts.values().flat_map(|v| v.values())
    }

    fn touch(&mut self, name: &str) {
        if !self.pages.is_empty() {
            self.dirty.insert(ChartName(name.to_owned()));
        }
    }

    /// The served index body (YAML, or JSON with `RenderConfig::json`), as chunks to send in
    /// order. Only the pages holding charts changed since the last call are re-rendered, so the
    /// cost of a change does not grow with the size of the repository.
    pub fn render(&mut self) -> Rendered {
        self.refresh_pages();
        let (header, footer) = self.header_footer();
        let mut hasher = Sha256::new();
        hasher.update(header.as_bytes());
        let mut chunks = Vec::with_capacity(self.pages.len() + 2);
        chunks.push(Bytes::from(header));
        for page in &self.pages {
            hasher.update(page.hash);
            if !page.bytes.is_empty() {
                chunks.push(page.bytes.clone());
            }
        }
        hasher.update(footer.as_bytes());
        chunks.push(Bytes::from(footer));
        let len = chunks.iter().map(Bytes::len).sum();
        Rendered { chunks, len, digest: hasher.finalize().into() }
    }

    /// The whole body in one buffer (tests and tools; serving uses [`Index::render`]).
    pub fn render_bytes(&mut self) -> Bytes {
        let rendered = self.render();
        let mut out = Vec::with_capacity(rendered.len);
        for c in &rendered.chunks {
            out.extend_from_slice(c);
        }
        Bytes::from(out)
    }

    fn header_footer(&self) -> (String, String) {
        let generated = format_time(self.generated);
        if self.config.json {
            let header = format!("{{\"apiVersion\":\"v1\",\"generated\":\"{generated}\",\"entries\":{{");
            let server_info = if self.config.context_path.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{\"contextPath\":{}}}", json_string(&self.config.context_path))
            };
            (header, format!("}},\"serverInfo\":{server_info}}}"))
        } else {
            let header =
                if self.charts.is_empty() { "apiVersion: v1\nentries: {}\n" } else { "apiVersion: v1\nentries:\n" };
            let mut footer = String::from("generated: ");
            yaml::quoted(&mut footer, &generated);
            if self.config.context_path.is_empty() {
                footer.push_str("\nserverInfo: {}\n");
            } else {
                footer.push_str("\nserverInfo:\n  contextPath: ");
                yaml::scalar(&mut footer, &self.config.context_path);
                footer.push('\n');
            }
            (header.to_owned(), footer)
        }
    }

    fn page_of(&self, name: &ChartName) -> usize {
        // pages[0] has no lower bound, so the partition point is at least 1.
        self.pages.partition_point(|p| p.lower.as_ref().is_none_or(|lower| lower <= name)) - 1
    }

    fn refresh_pages(&mut self) {
        let dirty_pages: BTreeSet<usize> = if self.pages.is_empty() {
            self.pages.push(Page::empty(None));
            BTreeSet::from([0])
        } else {
            let dirty = std::mem::take(&mut self.dirty);
            dirty.iter().map(|name| self.page_of(name)).collect()
        };
        // Highest first, so splicing a page into several leaves lower indices valid.
        for idx in dirty_pages.into_iter().rev() {
            let rebuilt = self.build_pages(idx);
            self.pages.splice(idx..=idx, rebuilt);
        }
        let mut first = true;
        self.pages.retain(|p| std::mem::replace(&mut first, false) || !p.bytes.is_empty());
        // The first chart of the body must sit in pages[0] (JSON puts no comma before it).
        while self.pages.len() > 1 && self.pages[0].bytes.is_empty() {
            self.pages.remove(0);
            self.pages[0].lower = None;
            let rebuilt = self.build_pages(0);
            self.pages.splice(0..=0, rebuilt);
        }
    }

    /// Renders the charts in page `idx`'s name range into one or more pages of about
    /// `PAGE_TARGET` bytes (a page always holds whole charts).
    fn build_pages(&self, idx: usize) -> Vec<Page> {
        use std::ops::Bound;
        let lower = self.pages[idx].lower.clone();
        let upper = self.pages.get(idx + 1).and_then(|p| p.lower.clone());
        let range = (
            lower.as_ref().map_or(Bound::Unbounded, Bound::Included),
            upper.as_ref().map_or(Bound::Unbounded, Bound::Excluded),
        );
        let mut pages = Vec::new();
        let mut current = String::new();
        let mut current_lower = lower.clone();
        for (i, (name, versions)) in self.charts.range::<ChartName, _>(range).enumerate() {
            if current.len() >= PAGE_TARGET {
                pages.push(Page::new(current_lower.take(), std::mem::take(&mut current)));
                current_lower = Some(name.clone());
            }
            if self.config.json {
                if !(idx == 0 && i == 0) {
                    current.push(',');
                }
                current.push_str(&json_string(&name.0));
                current.push(':');
                write_versions_json(&mut current, versions.values());
            } else {
                current.push_str("  ");
                yaml::scalar(&mut current, &name.0);
                current.push_str(":\n");
                for e in versions.values() {
                    current.push_str(&e.yaml);
                }
            }
        }
        pages.push(Page::new(current_lower, current));
        pages
    }

    /// `{"name":[ChartVersion...],...}` for chart names `offset..offset+limit` in index order.
    pub fn entries_json(&self, offset: usize, limit: usize) -> String {
        let mut out = String::new();
        self.write_entries_json(&mut out, offset, limit);
        out
    }

    fn write_entries_json(&self, out: &mut String, offset: usize, limit: usize) {
        out.push('{');
        for (i, (name, versions)) in self.charts.iter().skip(offset).take(limit).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(&name.0));
            out.push(':');
            write_versions_json(out, versions.values());
        }
        out.push('}');
    }

    /// `[ChartVersion...]` for one chart, newest first.
    pub fn chart_json(&self, name: &str) -> Option<String> {
        let versions = self.charts.get(&ChartName(name.to_owned()))?;
        let mut out = String::new();
        write_versions_json(&mut out, versions.values());
        Some(out)
    }
}

fn write_versions_json<'a>(out: &mut String, versions: impl Iterator<Item = &'a Arc<Entry>>) {
    out.push('[');
    for (i, e) in versions.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.json);
    }
    out.push(']');
}

fn json_string(s: &str) -> String {
    chartroom_chart::gojson::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn meta(name: &str, version: &str) -> Metadata {
        Metadata {
            name: name.into(),
            version: version.into(),
            api_version: "v2".into(),
            description: "A Helm chart for Kubernetes".into(),
            app_version: "1.16.0".into(),
            chart_type: "application".into(),
            ..Default::default()
        }
    }

    fn entry(name: &str, version: &str, config: &RenderConfig) -> Entry {
        let object = StoredObject { file: format!("{name}-{version}.tgz"), size: 10, etag: None };
        Entry::new(meta(name, version), "ab".repeat(32), Timestamp::UNIX_EPOCH, object, config).unwrap()
    }

    #[test]
    fn renders_helm_shaped_yaml() {
        let config = RenderConfig::default();
        let mut index = Index::new(config.clone());
        index.set_generated(Timestamp::UNIX_EPOCH);
        assert_eq!(
            &index.render_bytes()[..],
            b"apiVersion: v1\nentries: {}\ngenerated: \"1970-01-01T00:00:00Z\"\nserverInfo: {}\n"
        );
        index.insert(entry("mychart", "0.1.0", &config));
        index.insert(entry("mychart", "0.2.0", &config));
        index.insert(entry("alpha", "1.10", &config));
        let body = String::from_utf8(index.render_bytes().to_vec()).unwrap();
        let expected = r#"apiVersion: v1
entries:
  alpha:
  - apiVersion: v2
    appVersion: 1.16.0
    created: "1970-01-01T00:00:00Z"
    description: A Helm chart for Kubernetes
    digest: abababababababababababababababababababababababababababababababab
    name: alpha
    type: application
    urls:
    - charts/alpha-1.10.tgz
    version: "1.10"
  mychart:
  - apiVersion: v2
    appVersion: 1.16.0
    created: "1970-01-01T00:00:00Z"
    description: A Helm chart for Kubernetes
    digest: abababababababababababababababababababababababababababababababab
    name: mychart
    type: application
    urls:
    - charts/mychart-0.2.0.tgz
    version: 0.2.0
  - apiVersion: v2
    appVersion: 1.16.0
    created: "1970-01-01T00:00:00Z"
    description: A Helm chart for Kubernetes
    digest: abababababababababababababababababababababababababababababababab
    name: mychart
    type: application
    urls:
    - charts/mychart-0.1.0.tgz
    version: 0.1.0
generated: "1970-01-01T00:00:00Z"
serverInfo: {}
"#;
        assert_eq!(body, expected);
        assert_eq!(index.len(), 3);
        assert!(index.remove("mychart", "0.2.0").is_some());
        assert!(index.remove("mychart", "0.2.0").is_none());
        assert_eq!(index.remove_chart("mychart").len(), 1);
        assert_eq!(index.len(), 1);
        assert!(index.by_file("mychart-0.1.0.tgz").is_none());
        assert!(index.by_file("alpha-1.10.tgz").is_some());
    }

    #[test]
    fn json_and_context_path() {
        let config = RenderConfig { chart_url: Some("https://h/x".into()), context_path: "/x".into(), json: true };
        let mut index = Index::new(config.clone());
        index.set_generated(Timestamp::UNIX_EPOCH);
        index.insert(entry("a", "1.0.0", &config));
        let body: serde_json::Value = serde_json::from_slice(&index.render_bytes()).unwrap();
        assert_eq!(body["serverInfo"]["contextPath"], "/x");
        assert_eq!(body["entries"]["a"][0]["urls"][0], "https://h/x/charts/a-1.0.0.tgz");
        assert_eq!(body["entries"]["a"][0]["created"], "1970-01-01T00:00:00Z");
        let first_key = index.chart_json("a").unwrap();
        assert!(first_key.starts_with("[{\"name\":\"a\",\"version\":\"1.0.0\""), "{first_key}");
    }

    /// The body rendered from scratch, without pages.
    fn naive(index: &Index) -> String {
        let (header, footer) = index.header_footer();
        let mut out = header;
        for (i, (name, versions)) in index.charts.iter().enumerate() {
            if index.config.json {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(&name.0));
                out.push(':');
                write_versions_json(&mut out, versions.values());
            } else {
                out.push_str("  ");
                yaml::scalar(&mut out, &name.0);
                out.push_str(":\n");
                for e in versions.values() {
                    out.push_str(&e.yaml);
                }
            }
        }
        out + &footer
    }

    #[test]
    fn paged_rendering_matches_a_full_render_through_any_change_sequence() {
        for json in [false, true] {
            let config = RenderConfig { json, ..Default::default() };
            let mut index = Index::new(config.clone());
            let mut seed = 0x9e3779b97f4a7c15u64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut digests = std::collections::HashSet::new();
            for step in 0..1500 {
                let name = format!("chart{}", next() % 300);
                let version = format!("1.0.{}", next() % 8);
                match next() % 10 {
                    0 => {
                        index.remove_chart(&name);
                    }
                    1..=3 => {
                        index.remove(&name, &version);
                    }
                    _ => {
                        index.insert(entry(&name, &version, &config));
                    }
                }
                if step % 7 == 0 || step > 1400 {
                    index.set_generated(Timestamp::from_second(step).unwrap());
                    let rendered = index.render();
                    let mut body = Vec::new();
                    for c in &rendered.chunks {
                        body.extend_from_slice(c);
                    }
                    assert_eq!(rendered.len, body.len());
                    assert_eq!(String::from_utf8(body).unwrap(), naive(&index), "json={json} step={step}");
                    assert!(digests.insert(rendered.digest), "every change gives a new digest");
                }
            }
            assert!(index.pages.len() > 1, "the test must exercise several pages");
            if json {
                let v: serde_json::Value = serde_json::from_slice(&index.render_bytes()).unwrap();
                assert_eq!(v["entries"].as_object().unwrap().len(), index.charts.len());
            }
            // Emptying the index leaves a valid body.
            let names: Vec<String> = index.names().map(str::to_owned).collect();
            for n in names {
                index.remove_chart(&n);
            }
            assert_eq!(String::from_utf8(index.render_bytes().to_vec()).unwrap(), naive(&index));
        }
    }

    #[test]
    fn go_yaml_name_order() {
        let mut names = vec!["chart10", "chart2", "Zeta", "alpha", "a-b", "a1"];
        names.sort_by_key(|n| ChartName((*n).into()));
        assert_eq!(names, vec!["Zeta", "a-b", "a1", "alpha", "chart2", "chart10"]);
    }
}
