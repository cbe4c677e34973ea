//! The in-memory repository index: entries keyed by Chart.yaml name and version, each carrying
//! its own pre-serialized YAML and JSON fragments, so a change costs the serialization of that one
//! entry and the served body is a concatenation of fragments.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::version::Version;
use chartroom_chart::yaml;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::entry::{Entry, RenderConfig, format_time};
use crate::key_order::go_yaml_key_order;

/// Versions sort newest first (Helm's `SortEntries`); equal precedence falls back to the text,
/// so `1.0.0` and `1.0.0+build` are distinct, deterministically ordered entries.
#[derive(Debug, Clone)]
struct VersionKey {
    version: Version,
    text: String,
}

impl VersionKey {
    fn of(entry: &Entry) -> VersionKey {
        VersionKey { version: entry.parsed_version().clone(), text: entry.version().to_owned() }
    }
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

/// A chart name ordered as go-yaml orders map keys (a non-letter before a letter, runs of digits
/// by their numeric value), so `entries` come out in the order `helm repo index` writes them.
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

/// What the index does with a chart version found in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Index it, replacing the entry this name and version had (if any).
    Admit,
    /// Another file holds the same name and version and keeps it; this copy is not indexed.
    Duplicate { kept: String },
}

/// Which copy of a chart version wins when two files hold the same name and version (a copy
/// made by hand, a renamed archive): the one at ChartMuseum's canonical file name
/// `<name>-<version>.tgz`, else the one indexed first. The same file is never its own duplicate.
fn existing_copy_wins(existing: &str, candidate: &str, canonical: &str) -> bool {
    existing != candidate && (existing == canonical || candidate != canonical)
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
pub(crate) struct Rendered {
    pub chunks: Vec<Bytes>,
    pub len: usize,
    /// sha256 over the header, every page's sha256 and the footer: changes exactly when the bytes do.
    pub digest: [u8; 32],
}

impl Index {
    pub(crate) fn new(config: RenderConfig) -> Self {
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

    pub(crate) fn config(&self) -> &RenderConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn generated(&self) -> Timestamp {
        self.generated
    }

    pub(crate) fn set_generated(&mut self, t: Timestamp) {
        self.generated = t;
    }

    /// Inserts or replaces the entry with the same name and version; returns the replaced one.
    pub(crate) fn insert(&mut self, entry: Entry) -> Option<Arc<Entry>> {
        let entry = Arc::new(entry);
        self.touch(entry.name());
        let versions = self.charts.entry(ChartName(entry.name().to_owned())).or_default();
        let old = versions.insert(VersionKey::of(&entry), Arc::clone(&entry));
        if let Some(old) = &old {
            self.by_file.remove(&old.object.file);
        } else {
            self.len += 1;
        }
        self.by_file.insert(entry.object.file.clone(), Arc::clone(&entry));
        old
    }

    pub(crate) fn remove(&mut self, name: &str, version: &str) -> Option<Arc<Entry>> {
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

    /// Removes every version of a chart (the repository removes them one by one, each with its
    /// files; this checks the bookkeeping of a bulk removal).
    #[cfg(test)]
    pub(crate) fn remove_chart(&mut self, name: &str) -> Vec<Arc<Entry>> {
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

    pub(crate) fn by_file(&self, file: &str) -> Option<&Arc<Entry>> {
        self.by_file.get(file)
    }

    /// The versions of a chart, newest first.
    pub fn versions(&self, name: &str) -> Option<impl Iterator<Item = &Arc<Entry>>> {
        self.charts.get(&ChartName(name.to_owned())).map(|v| v.values())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.charts.keys().map(|k| k.0.as_str())
    }

    /// Every chart with its versions (newest first), in name order: one pass, where a
    /// [`Index::versions`] lookup per name would compare names in Go's key order each time.
    pub fn charts(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &Arc<Entry>>)> {
        self.charts.iter().map(|(k, v)| (k.0.as_str(), v.values()))
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.charts.values().flat_map(|v| v.values())
    }

    /// Whether a chart version found at `file` may be indexed (see [`Admission`]).
    pub(crate) fn admission(&self, name: &str, version: &str, file: &str) -> Admission {
        match self.get(name, version) {
            Some(existing)
                if existing_copy_wins(&existing.object.file, file, &chartroom_storage::chart_file(name, version)) =>
            {
                Admission::Duplicate { kept: existing.object.file.clone() }
            }
            _ => Admission::Admit,
        }
    }

    /// Indexes an admitted entry at its file: whatever that file held before, even under another
    /// name or version, is replaced.
    pub(crate) fn admit(&mut self, entry: Entry) {
        if let Some(old) = self.by_file(&entry.object.file).cloned()
            && (old.name() != entry.name() || old.version() != entry.version())
        {
            self.remove(old.name(), old.version());
        }
        self.insert(entry);
    }

    fn touch(&mut self, name: &str) {
        if !self.pages.is_empty() {
            self.dirty.insert(ChartName(name.to_owned()));
        }
    }

    /// The served index body (YAML, or JSON with `RenderConfig::json`), as chunks to send in
    /// order. Only the pages holding charts changed since the last call are re-rendered, so the
    /// cost of a change does not grow with the size of the repository.
    pub(crate) fn render(&mut self) -> Rendered {
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

    /// The whole body in one buffer (serving uses [`Index::render`]).
    #[cfg(test)]
    fn render_bytes(&mut self) -> Bytes {
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
            write_chart(&mut current, self.config.json, idx == 0 && i == 0, &name.0, versions.values());
        }
        pages.push(Page::new(current_lower, current));
        pages
    }

    /// `{"name":[ChartVersion...],...}` for chart names `offset..offset+limit` in index order, as
    /// the chart API shows them ([`Entry::api_json`]).
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
            write_versions_json(out, versions.values(), Body::Api);
        }
        out.push('}');
    }

    /// `[ChartVersion...]` for one chart, newest first, as the chart API shows them.
    pub fn chart_json(&self, name: &str) -> Option<String> {
        let versions = self.charts.get(&ChartName(name.to_owned()))?;
        let mut out = String::new();
        write_versions_json(&mut out, versions.values(), Body::Api);
        Some(out)
    }
}

/// One chart of the `entries` map: `name: [versions]` in JSON (after a comma unless `first`), or
/// its YAML key and version items.
fn write_chart<'a>(
    out: &mut String,
    json: bool,
    first: bool,
    name: &str,
    versions: impl Iterator<Item = &'a Arc<Entry>>,
) {
    if json {
        if !first {
            out.push(',');
        }
        out.push_str(&json_string(name));
        out.push(':');
        write_versions_json(out, versions, Body::Index);
    } else {
        out.push_str("  ");
        yaml::scalar(out, name);
        out.push_str(":\n");
        for e in versions {
            out.push_str(e.yaml());
        }
    }
}

/// Which JSON a version is written as.
#[derive(Clone, Copy)]
enum Body {
    /// The served index: Helm's `ChartVersion` only.
    Index,
    /// The chart API: Helm's fields, then Chartroom's (`provenance`).
    Api,
}

fn write_versions_json<'a>(out: &mut String, versions: impl Iterator<Item = &'a Arc<Entry>>, body: Body) {
    out.push('[');
    for (i, e) in versions.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match body {
            Body::Index => out.push_str(e.json()),
            Body::Api => out.push_str(&e.api_json()),
        }
    }
    out.push(']');
}

fn json_string(s: &str) -> String {
    chartroom_chart::gojson::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::StoredObject;
    use chartroom_chart::metadata::Metadata;

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

    /// Found by fuzzing: a `Chart.yaml` an upload accepts, with a DEL or a C1 control inside
    /// a dependency's `import-values` or `tags` (escaped in the `Chart.yaml`), made the whole
    /// `index.yaml` unreadable for YAML readers ("control characters are not allowed").
    #[test]
    fn control_characters_in_dependency_values_keep_the_index_readable() {
        let chart_yaml = "apiVersion: v2\nname: dep\nversion: 1.0.0\ndependencies:\n- name: sub\n  repository: \"\"\n  tags: [\"t\\x7f\"]\n  import-values: [{child: \"a\\x85\", \"parent\\u2028\": \"b\\x9f\"}]\n";
        let md = Metadata::from_yaml(chart_yaml.as_bytes()).expect("an upload accepts this Chart.yaml");
        let config = RenderConfig::default();
        let object = StoredObject { file: "dep-1.0.0.tgz".into(), size: 10, etag: None };
        let mut index = Index::new(config.clone());
        index.insert(Entry::new(md.clone(), "ab".repeat(32), Timestamp::UNIX_EPOCH, object, &config).unwrap());
        let body = index.render_bytes();
        #[derive(serde::Deserialize)]
        struct File {
            entries: std::collections::BTreeMap<String, Vec<Metadata>>,
        }
        let read: File =
            serde_saphyr::from_slice(&body).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&body)));
        assert_eq!(read.entries["dep"][0].dependencies, md.dependencies);
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
            write_chart(&mut out, index.config.json, i == 0, &name.0, versions.values());
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
    fn which_copy_of_a_duplicate_version_wins() {
        let canonical = "a-1.0.0.tgz";
        // (indexed copy, candidate copy, does the indexed copy keep the version?)
        for (existing, candidate, kept) in [
            ("a-1.0.0.tgz", "a-1.0.0.tgz", false),
            ("a-1.0.0.tgz", "copy.tgz", true),
            ("copy.tgz", "a-1.0.0.tgz", false),
            ("copy.tgz", "other.tgz", true),
            ("copy.tgz", "copy.tgz", false),
        ] {
            assert_eq!(existing_copy_wins(existing, candidate, canonical), kept, "{existing} vs {candidate}");
        }
    }

    #[test]
    fn admission_and_replacement_at_a_file() {
        let config = RenderConfig::default();
        let mut index = Index::new(config.clone());
        let at = |name: &str, version: &str, file: &str| {
            let object = StoredObject { file: file.into(), size: 1, etag: None };
            Entry::new(meta(name, version), "ab".repeat(32), Timestamp::UNIX_EPOCH, object, &config).unwrap()
        };
        assert_eq!(index.admission("a", "1.0.0", "copy.tgz"), Admission::Admit);
        index.admit(at("a", "1.0.0", "copy.tgz"));
        assert_eq!(index.admission("a", "1.0.0", "other.tgz"), Admission::Duplicate { kept: "copy.tgz".into() });
        assert_eq!(index.admission("a", "1.0.0", "a-1.0.0.tgz"), Admission::Admit);
        index.admit(at("a", "1.0.0", "a-1.0.0.tgz"));
        assert_eq!(index.get("a", "1.0.0").map(|e| e.object.file.as_str()), Some("a-1.0.0.tgz"));
        assert!(index.by_file("copy.tgz").is_none(), "the replaced copy is no longer indexed");
        // A file now holding another version: its old entry goes.
        index.admit(at("a", "2.0.0", "a-1.0.0.tgz"));
        assert!(index.get("a", "1.0.0").is_none());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn go_yaml_name_order() {
        let mut names = vec!["chart10", "chart2", "Zeta", "alpha", "a-b", "a1"];
        names.sort_by_key(|n| ChartName((*n).into()));
        assert_eq!(names, vec!["Zeta", "a-b", "a1", "alpha", "chart2", "chart10"]);
    }

    /// Property test (issue 17): the index is a function of the set of versions it holds, not of
    /// the order in which they were added and removed.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn versions() -> impl Strategy<Value = Vec<(String, String)>> {
            proptest::collection::btree_set(
                (prop_oneof![Just("alpha"), Just("beta"), Just("mychart"), Just("z")], 0u64..4, 0u64..12, 0u64..3),
                1..24,
            )
            .prop_map(|set| set.into_iter().map(|(name, a, b, c)| (name.to_owned(), format!("{a}.{b}.{c}"))).collect())
        }

        fn body(index: &mut Index) -> String {
            index.set_generated(Timestamp::UNIX_EPOCH);
            String::from_utf8(index.render_bytes().to_vec()).unwrap()
        }

        proptest! {
            #[test]
            fn adds_and_removes_in_any_order_give_the_same_index(
                (all, removed, adds, removes) in versions().prop_flat_map(|all| {
                    let n = all.len();
                    (
                        Just(all.clone()),
                        proptest::collection::vec(any::<bool>(), n),
                        Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                        Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                    )
                }),
                interleave in any::<bool>(),
            ) {
                let config = RenderConfig::default();
                // Straight: only what stays, in sorted order.
                let mut straight = Index::new(config.clone());
                for (i, (name, version)) in all.iter().enumerate() {
                    if !removed[i] {
                        straight.insert(entry(name, version, &config));
                    }
                }
                // Shuffled: everything added in one order, the removed ones taken out in another
                // (each removal right after its add, or all at the end).
                let mut shuffled = Index::new(config.clone());
                for &i in &adds {
                    let (name, version) = &all[i];
                    shuffled.insert(entry(name, version, &config));
                    if interleave && removed[i] {
                        shuffled.remove(name, version);
                    }
                }
                for &i in &removes {
                    if removed[i] {
                        let (name, version) = &all[i];
                        shuffled.remove(name, version);
                    }
                }
                prop_assert_eq!(shuffled.len(), straight.len());
                prop_assert_eq!(body(&mut shuffled), body(&mut straight));
            }
        }
    }
}
