//! The in-memory repository index: entries keyed by Chart.yaml name and version, each with its
//! pre-serialized fragment of the served body, so a change costs the serialization of that one
//! entry and the served body is a concatenation of fragments.
//!
//! Memory (issue 16): each version's YAML fragment exists once, as a slice of the rendered page
//! that serves it (an entry made since the last render holds its own until then); versions are
//! kept in a sorted vector per chart rather than a map keyed by a copy of the version; the by-file
//! lookup is keyed by the entry itself.
//!
//! `pages`: the rendered bodies (YAML, JSON or both, [`crate::IndexFormat`]); `api`: the chart
//! API's JSON answers.

mod api;
mod pages;
#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use chartroom_chart::version::Version;
use jiff::Timestamp;

use self::pages::Pages;
pub(crate) use self::pages::{Rendered, Representation};
use crate::entry::{Entry, RenderConfig};
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
    /// The YAML body, when the format renders one.
    yaml: Option<Pages>,
    /// The JSON body, when the format renders one.
    json: Option<Pages>,
}

impl Index {
    pub(crate) fn new(config: RenderConfig) -> Self {
        Self {
            charts: BTreeMap::new(),
            by_file: HashSet::new(),
            generated: Timestamp::now(),
            yaml: config.format.renders_yaml().then(|| Pages::new(Representation::Yaml)),
            json: config.format.renders_json().then(|| Pages::new(Representation::Json)),
            config,
            len: 0,
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

    /// Makes room for `additional` more entries in the by-file lookup (a restart knows how many
    /// its state holds: growing the table step by step rehashed every file name several times).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.by_file.reserve(additional);
    }

    /// Inserts or replaces the entry with the same name and version; returns the replaced one.
    ///
    /// The entry's YAML fragment moves into the index. An entry without one (a copy of an indexed
    /// entry with other provenance, or any entry when only JSON is rendered) keeps the fragment of
    /// the version it replaces: the metadata it renders is the same.
    ///
    /// With a YAML body, such a copy is not indexed when the version it was copied from is gone
    /// or was replaced by another archive meanwhile (a peer's change applied between the read and
    /// the write): it has no YAML of its own, and would bring back, or describe, what storage no
    /// longer holds. (A JSON-only body renders every entry from its metadata and indexes it.)
    pub(crate) fn insert(&mut self, entry: Entry) -> Option<Arc<Entry>> {
        self.insert_claiming(entry).0
    }

    /// [`Index::insert`], and the entry of another name or version that the by-file lookup
    /// found at this entry's file before (it finds this one now; the other stays indexed, for
    /// the caller to judge). One look-up of the file where asking first would take two.
    pub(crate) fn insert_claiming(&mut self, mut entry: Entry) -> (Option<Arc<Entry>>, Option<Arc<Entry>>) {
        let fresh = entry.take_yaml();
        let needs_fragment = fresh.is_none() && self.yaml.is_some();
        let entry = Arc::new(entry);
        let same_archive = |e: &Entry| e.same_digest(&entry) && e.file() == entry.file();
        // Entries that arrive in index order (a restart's state, written in that order) mostly
        // belong to the last chart: found without a name allocation or a look-up in go-yaml's
        // key order (a restart at 100,000 versions made 100,000 of each).
        let in_last = self.charts.last_key_value().is_some_and(|(last, _)| last.0 == entry.name());
        let existing = if in_last {
            self.charts.values_mut().next_back()
        } else {
            self.charts.get_mut(&ChartName(entry.name().to_owned()))
        };
        let versions = match existing {
            Some(versions) => versions,
            None if needs_fragment => return (None, None),
            None => self.charts.entry(ChartName(entry.name().to_owned())).or_default(),
        };
        let old = match find(versions, entry.parsed_version(), entry.version()) {
            Ok(i) => {
                let slot = &mut versions[i];
                match fresh {
                    Some(yaml) => slot.yaml = yaml,
                    None if needs_fragment && !same_archive(&slot.entry) => return (None, None),
                    None => {}
                }
                Some(std::mem::replace(&mut slot.entry, Arc::clone(&entry)))
            }
            Err(_) if needs_fragment => return (None, None),
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
        let displaced = self.by_file.replace(ByFile(entry)).map(|b| b.0);
        (old, displaced)
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

    /// Number of chart names: a field read, where counting [`Index::names`] walks every node of
    /// the map (a third of an upload's CPU at 1,000,000 versions).
    pub fn chart_count(&self) -> usize {
        self.charts.len()
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

    /// Every entry with its fragment of the YAML body (empty when no YAML body is rendered), in
    /// body order: what the persisted state saves, so that a restart need not render them again.
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
        for pages in [&mut self.yaml, &mut self.json].into_iter().flatten() {
            pages.touch(name);
        }
    }

    /// The served body in one representation (`None` when the format does not render it), as
    /// chunks to send in order. Only the pages holding charts changed since the last call are
    /// re-rendered, so the cost of a change does not grow with the size of the repository.
    #[cfg(test)]
    pub(crate) fn render(&mut self, kind: Representation) -> Option<Rendered> {
        let pages = match kind {
            Representation::Yaml => self.yaml.as_mut()?,
            Representation::Json => self.json.as_mut()?,
        };
        let placements = pages.refresh(&self.charts);
        pages::place(&mut self.charts, placements);
        Some(pages.rendered(&self.config, self.generated, self.charts.is_empty()))
    }

    /// Every body the format renders, YAML then JSON ([`Index::render`]).
    pub(crate) fn render_all(&mut self) -> (Option<Rendered>, Option<Rendered>) {
        self.refresh_pages();
        let no_charts = self.charts.is_empty();
        let rendered =
            |pages: &Option<Pages>| pages.as_ref().map(|p| p.rendered(&self.config, self.generated, no_charts));
        (rendered(&self.yaml), rendered(&self.json))
    }

    /// Renders again the pages of the charts changed since the last render, so that the next
    /// [`Index::render_all`] has only what changes after this to render (a restart renders the
    /// restored state while storage is still being listed). With both bodies and many charts
    /// to render (a start renders them all), the two are rendered at once on two threads: a
    /// restart at 100,000 versions spent a fifth of its time rendering them in turn.
    pub(crate) fn refresh_pages(&mut self) {
        let many = |pages: &Option<Pages>| pages.as_ref().is_some_and(|p| p.pending() >= PARALLEL_RENDER_FROM);
        let parallel = self.charts.len() >= PARALLEL_RENDER_FROM && many(&self.yaml) && many(&self.json);
        let charts = &self.charts;
        let placements = match (self.yaml.as_mut(), self.json.as_mut()) {
            (Some(yaml), Some(json)) if parallel => std::thread::scope(|scope| {
                let json_done = scope.spawn(|| json.refresh(charts));
                let placements = yaml.refresh(charts);
                // Nothing to take from the JSON pages' refresh (they place no fragments); a
                // panic in it is this call's, as when the two run in turn.
                if let Err(panic) = json_done.join() {
                    std::panic::resume_unwind(panic);
                }
                placements
            }),
            (yaml, json) => {
                let placements = yaml.map(|yaml| yaml.refresh(charts)).unwrap_or_default();
                if let Some(json) = json {
                    json.refresh(charts);
                }
                placements
            }
        };
        pages::place(&mut self.charts, placements);
    }
}

/// Charts to render again from which [`Index::refresh_pages`] uses a second thread (an upload
/// renders one or two).
const PARALLEL_RENDER_FROM: usize = 64;
