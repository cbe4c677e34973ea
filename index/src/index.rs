//! The in-memory repository index: entries keyed by Chart.yaml name and version, each with its
//! pre-serialized fragment of the served body, so a change costs the serialization of that one
//! entry and the served body is a concatenation of fragments.
//!
//! Memory (issue 16): each version's YAML fragment exists once, as a slice of the rendered page
//! that serves it (an entry made since the last render holds its own until then); versions are
//! kept in a sorted vector per chart rather than a map keyed by a copy of the version; the by-file
//! lookup is keyed by the entry itself.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
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
fn newest_first(a: (&Version, &str), b: (&Version, &str)) -> Ordering {
    b.0.cmp(a.0).then_with(|| b.1.cmp(a.1))
}

/// One indexed version: the entry and its fragment of the served YAML body (empty when the body
/// is JSON, which is rendered from [`Entry::json`]).
#[derive(Debug)]
struct Slot {
    entry: Arc<Entry>,
    yaml: Bytes,
}

/// A chart's versions, newest first.
type Versions = Vec<Slot>;

/// Where a version is, or would go, in a chart's versions.
fn find(versions: &Versions, version: &Version, text: &str) -> Result<usize, usize> {
    versions.binary_search_by(|s| newest_first((s.entry.parsed_version(), s.entry.version()), (version, text)))
}

/// An entry in the by-file lookup, hashed and compared by its file (no second copy of the name).
#[derive(Debug)]
struct ByFile(Arc<Entry>);

impl Borrow<str> for ByFile {
    fn borrow(&self) -> &str {
        self.0.file()
    }
}
impl Hash for ByFile {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.file().hash(state);
    }
}
impl PartialEq for ByFile {
    fn eq(&self, other: &Self) -> bool {
        self.0.file() == other.0.file()
    }
}
impl Eq for ByFile {}

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

/// The whole index of one repository.
#[derive(Debug)]
pub struct Index {
    charts: BTreeMap<ChartName, Versions>,
    by_file: HashSet<ByFile>,
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
    fn new(lower: Option<ChartName>, text: Vec<u8>) -> Page {
        let hash = Sha256::digest(&text).into();
        // Exactly its length: the growth slack of the buffer was about a third of the body.
        Page { lower, bytes: Bytes::from(text.into_boxed_slice()), hash }
    }
    fn empty(lower: Option<ChartName>) -> Page {
        Page::new(lower, Vec::new())
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
            by_file: HashSet::new(),
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
    ///
    /// The entry's YAML fragment moves into the index. An entry without one (a copy of an indexed
    /// entry with other provenance, or any entry of a JSON body) keeps the fragment of the version
    /// it replaces: the metadata it renders is the same.
    ///
    /// With a YAML body, such a copy is not indexed when the version it was copied from is gone
    /// or was replaced by another archive meanwhile (a peer's change applied between the read and
    /// the write): it has no YAML of its own, and would bring back, or describe, what storage no
    /// longer holds. (A JSON body renders every entry from its metadata and indexes it as before.)
    pub(crate) fn insert(&mut self, mut entry: Entry) -> Option<Arc<Entry>> {
        let fresh = entry.take_yaml();
        let needs_fragment = fresh.is_none() && !self.config.json;
        let entry = Arc::new(entry);
        let same_archive = |e: &Entry| e.same_digest(&entry) && e.file() == entry.file();
        let versions = match self.charts.get_mut(&ChartName(entry.name().to_owned())) {
            Some(versions) => versions,
            None if needs_fragment => return None,
            None => self.charts.entry(ChartName(entry.name().to_owned())).or_default(),
        };
        let old = match find(versions, entry.parsed_version(), entry.version()) {
            Ok(i) => {
                let slot = &mut versions[i];
                match fresh {
                    Some(yaml) => slot.yaml = yaml,
                    None if needs_fragment && !same_archive(&slot.entry) => return None,
                    None => {}
                }
                Some(std::mem::replace(&mut slot.entry, Arc::clone(&entry)))
            }
            Err(_) if needs_fragment => return None,
            Err(i) => {
                versions.insert(i, Slot { entry: Arc::clone(&entry), yaml: fresh.unwrap_or_default() });
                self.len += 1;
                None
            }
        };
        self.touch(entry.name());
        if let Some(old) = &old {
            self.by_file.remove(old.file());
        }
        self.by_file.replace(ByFile(entry));
        old
    }

    pub(crate) fn remove(&mut self, name: &str, version: &str) -> Option<Arc<Entry>> {
        let parsed = Version::parse(version).ok()?;
        let chart = ChartName(name.to_owned());
        let versions = self.charts.get_mut(&chart)?;
        let i = find(versions, &parsed, version).ok()?;
        let removed = versions.remove(i).entry;
        if versions.is_empty() {
            self.charts.remove(&chart);
        }
        self.touch(name);
        self.by_file.remove(removed.file());
        self.len -= 1;
        Some(removed)
    }

    /// Removes every version of a chart (the repository removes them one by one, each with its
    /// files; this checks the bookkeeping of a bulk removal).
    #[cfg(test)]
    pub(crate) fn remove_chart(&mut self, name: &str) -> Vec<Arc<Entry>> {
        let Some(versions) = self.charts.remove(&ChartName(name.to_owned())) else { return Vec::new() };
        self.touch(name);
        let removed: Vec<Arc<Entry>> = versions.into_iter().map(|s| s.entry).collect();
        for e in &removed {
            self.by_file.remove(e.file());
        }
        self.len -= removed.len();
        removed
    }

    pub fn get(&self, name: &str, version: &str) -> Option<&Arc<Entry>> {
        let parsed = Version::parse(version).ok()?;
        let versions = self.charts.get(&ChartName(name.to_owned()))?;
        find(versions, &parsed, version).ok().map(|i| &versions[i].entry)
    }

    pub(crate) fn by_file(&self, file: &str) -> Option<&Arc<Entry>> {
        self.by_file.get(file).map(|b| &b.0)
    }

    /// The versions of a chart, newest first.
    pub fn versions(&self, name: &str) -> Option<impl Iterator<Item = &Arc<Entry>>> {
        self.charts.get(&ChartName(name.to_owned())).map(|v| v.iter().map(|s| &s.entry))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.charts.keys().map(|k| k.0.as_str())
    }

    /// Every chart with its versions (newest first), in name order: one pass, where a
    /// [`Index::versions`] lookup per name would compare names in Go's key order each time.
    pub fn charts(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &Arc<Entry>>)> {
        self.charts.iter().map(|(k, v)| (k.0.as_str(), v.iter().map(|s| &s.entry)))
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.charts.values().flat_map(|v| v.iter().map(|s| &s.entry))
    }

    /// Every entry with its fragment of the YAML body (empty when the body is JSON), in body
    /// order: what the persisted state saves, so that a restart need not render them again.
    pub(crate) fn entries_with_yaml(&self) -> impl Iterator<Item = (&Arc<Entry>, &Bytes)> {
        self.charts.values().flat_map(|v| v.iter().map(|s| (&s.entry, &s.yaml)))
    }

    /// Whether a chart version found at `file` may be indexed (see [`Admission`]).
    pub(crate) fn admission(&self, name: &str, version: &str, file: &str) -> Admission {
        match self.get(name, version) {
            Some(existing)
                if existing_copy_wins(existing.file(), file, &chartroom_storage::chart_file(name, version)) =>
            {
                Admission::Duplicate { kept: existing.file().to_owned() }
            }
            _ => Admission::Admit,
        }
    }

    /// Indexes an admitted entry at its file: whatever that file held before, even under another
    /// name or version, is replaced.
    pub(crate) fn admit(&mut self, entry: Entry) {
        if let Some(old) = self.by_file(entry.file()).cloned()
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
    /// `PAGE_TARGET` bytes (a page always holds whole charts). Every YAML fragment copied into a
    /// page is then held as a slice of it: the page is the fragment's only copy.
    fn build_pages(&mut self, idx: usize) -> Vec<Page> {
        use std::ops::Bound;
        let json = self.config.json;
        let lower = self.pages[idx].lower.clone();
        let upper = self.pages.get(idx + 1).and_then(|p| p.lower.clone());
        let range = (
            lower.as_ref().map_or(Bound::Unbounded, Bound::Included),
            upper.as_ref().map_or(Bound::Unbounded, Bound::Excluded),
        );
        let mut pages = Vec::new();
        let mut current = Vec::new();
        let mut current_lower = lower.clone();
        // Fragments written into `current`, re-pointed at the page once it is made.
        let mut placed: Placed<'_> = Vec::new();
        for (i, (name, versions)) in self.charts.range_mut::<ChartName, _>(range).enumerate() {
            if current.len() >= PAGE_TARGET {
                pages.push(finish_page(current_lower.take(), std::mem::take(&mut current), &mut placed));
                current_lower = Some(name.clone());
            }
            if json {
                let mut text = String::new();
                write_chart(&mut text, true, idx == 0 && i == 0, &name.0, versions);
                current.extend_from_slice(text.as_bytes());
            } else {
                current.extend_from_slice(yaml_chart_key(&name.0).as_bytes());
                for slot in versions.iter_mut() {
                    let start = current.len();
                    current.extend_from_slice(&slot.yaml);
                    placed.push((&mut slot.yaml, start..current.len()));
                }
            }
        }
        pages.push(finish_page(current_lower, current, &mut placed));
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
            write_versions_json(out, versions, Body::Api);
        }
        out.push('}');
    }

    /// `[ChartVersion...]` for one chart, newest first, as the chart API shows them.
    pub fn chart_json(&self, name: &str) -> Option<String> {
        let versions = self.charts.get(&ChartName(name.to_owned()))?;
        let mut out = String::new();
        write_versions_json(&mut out, versions, Body::Api);
        Some(out)
    }
}

/// YAML fragments written into a page being built, and where.
type Placed<'a> = Vec<(&'a mut Bytes, std::ops::Range<usize>)>;

/// The page of `text`; the fragments placed in it become slices of it.
fn finish_page(lower: Option<ChartName>, text: Vec<u8>, placed: &mut Placed<'_>) -> Page {
    let page = Page::new(lower, text);
    for (fragment, at) in placed.drain(..) {
        *fragment = page.bytes.slice(at);
    }
    page
}

/// One chart of the `entries` map: `name: [versions]` in JSON (after a comma unless `first`), or
/// its YAML key and version items.
fn write_chart(out: &mut String, json: bool, first: bool, name: &str, versions: &[Slot]) {
    if json {
        if !first {
            out.push(',');
        }
        out.push_str(&json_string(name));
        out.push(':');
        write_versions_json(out, versions, Body::Index);
    } else {
        out.push_str(&yaml_chart_key(name));
        for s in versions {
            out.push_str(&String::from_utf8_lossy(&s.yaml));
        }
    }
}

/// `  <name>:` and a newline: a chart's key in the YAML `entries` map.
fn yaml_chart_key(name: &str) -> String {
    let mut out = String::from("  ");
    yaml::scalar(&mut out, name);
    out.push_str(":\n");
    out
}

/// Which JSON a version is written as.
#[derive(Clone, Copy)]
enum Body {
    /// The served index: Helm's `ChartVersion` only.
    Index,
    /// The chart API: Helm's fields, then Chartroom's (`provenance`).
    Api,
}

fn write_versions_json(out: &mut String, versions: &[Slot], body: Body) {
    out.push('[');
    for (i, e) in versions.iter().map(|s| &s.entry).enumerate() {
        if i > 0 {
            out.push(',');
        }
        match body {
            Body::Index => e.write_json(out),
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
            write_chart(&mut out, index.config.json, i == 0, &name.0, versions);
        }
        out + &footer
    }

    /// Issue 16: after a render, each version's YAML is a slice of a served page, not a copy.
    fn assert_fragments_live_in_pages(index: &Index) {
        for slot in index.charts.values().flatten() {
            let at = slot.yaml.as_ptr_range();
            assert!(
                index.pages.iter().any(|p| {
                    let page = p.bytes.as_ptr_range();
                    page.start <= at.start && at.end <= page.end
                }),
                "{} {} holds its own copy of its YAML",
                slot.entry.name(),
                slot.entry.version()
            );
        }
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
                    if !json {
                        assert_fragments_live_in_pages(&index);
                    }
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

    /// A copy of an indexed entry with other provenance keeps the version's YAML; a copy whose
    /// version is gone, or now held by another archive, is not indexed (it has no YAML of its own).
    #[test]
    fn copies_of_indexed_entries_keep_their_fragment_or_are_refused() {
        use crate::provenance::ProvenanceRecord;
        let config = RenderConfig::default();
        let mut index = Index::new(config.clone());
        index.set_generated(Timestamp::UNIX_EPOCH);
        index.insert(entry("a", "1.0.0", &config));
        let body = index.render_bytes();
        let indexed = Arc::clone(index.get("a", "1.0.0").unwrap());
        let record = ProvenanceRecord { size: 1, etag: None, signature: None, failure: None };
        assert!(index.insert(indexed.with_provenance(Some(record))).is_some());
        assert!(index.get("a", "1.0.0").unwrap().provenance().is_some());
        assert_eq!(index.render_bytes(), body, "same YAML");
        // Another archive now holds the version: the stale copy does not replace it.
        let object = StoredObject { file: "a-1.0.0.tgz".into(), size: 10, etag: None };
        let other = Entry::new(meta("a", "1.0.0"), "cd".repeat(32), Timestamp::UNIX_EPOCH, object, &config).unwrap();
        index.insert(other);
        let body = index.render_bytes();
        assert!(index.insert(indexed.with_provenance(None)).is_none());
        assert_eq!(index.get("a", "1.0.0").unwrap().digest(), "cd".repeat(32));
        assert_eq!(index.render_bytes(), body);
        // The version is gone: the copy does not bring it back.
        index.remove("a", "1.0.0");
        assert!(index.insert(indexed.with_provenance(None)).is_none());
        assert!(index.is_empty());
        assert_eq!(index.by_file("a-1.0.0.tgz").map(|e| e.digest().to_string()), None);
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
        assert_eq!(index.get("a", "1.0.0").map(|e| e.file()), Some("a-1.0.0.tgz"));
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
