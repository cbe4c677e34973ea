//! The rendered index bodies: each representation (YAML, JSON) is a header, pages of
//! consecutive charts and a footer. A change re-renders only the pages holding the charts it
//! touched, so its cost does not grow with the size of the repository.
//!
//! In the YAML pages each version's fragment is copied once and then held as a slice of its page
//! (the page is the fragment's only copy). JSON pages are written from each entry's metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, Range};

use bytes::Bytes;
use chartroom_chart::{gojson, yaml};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::api::{Body, write_versions_json};
use super::{ChartName, Slot, Versions};
use crate::entry::{RenderConfig, format_time};

/// Pages are re-rendered whole; this bounds the work of one change (plus that chart's own size).
const PAGE_TARGET: usize = 64 * 1024;

/// One representation of the index body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    Yaml,
    Json,
}

#[derive(Debug)]
pub(super) struct Page {
    /// First chart name of the page's range (`None` for the first page).
    pub(super) lower: Option<ChartName>,
    pub(super) bytes: Bytes,
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

/// The pages of one representation, and the charts changed since they were rendered.
#[derive(Debug)]
pub(super) struct Pages {
    kind: Representation,
    /// The rendered body between header and footer; empty until the first render.
    pub(super) pages: Vec<Page>,
    dirty: BTreeSet<ChartName>,
}

impl Pages {
    pub(super) fn new(kind: Representation) -> Pages {
        Pages { kind, pages: Vec::new(), dirty: BTreeSet::new() }
    }

    /// Notes that a chart changed (nothing to note before the first render).
    pub(super) fn touch(&mut self, name: &str) {
        if !self.pages.is_empty() {
            self.dirty.insert(ChartName(name.to_owned()));
        }
    }

    /// Re-renders the pages changed since the last call, reading the charts only (so the YAML
    /// and the JSON body can be rendered at once); what it returns is [`place`]d in the charts.
    pub(super) fn refresh(&mut self, charts: &BTreeMap<ChartName, Versions>) -> Placements {
        let dirty_pages: BTreeSet<usize> = if self.pages.is_empty() {
            self.pages.push(Page::empty(None));
            BTreeSet::from([0])
        } else {
            let dirty = std::mem::take(&mut self.dirty);
            dirty.iter().map(|name| self.page_of(name)).collect()
        };
        let mut placements = Vec::new();
        // Highest first, so splicing a page into several leaves lower indices valid.
        for idx in dirty_pages.into_iter().rev() {
            let (rebuilt, placement) = self.build_pages(charts, idx);
            self.pages.splice(idx..=idx, rebuilt);
            placements.extend(placement);
        }
        let mut first = true;
        self.pages.retain(|p| std::mem::replace(&mut first, false) || !p.bytes.is_empty());
        // The first chart of the body must sit in pages[0]: JSON puts no comma before it, so its
        // page is rendered again (a YAML page reads the same wherever it is).
        while self.pages.len() > 1 && self.pages[0].bytes.is_empty() {
            self.pages.remove(0);
            self.pages[0].lower = None;
            if self.kind == Representation::Json {
                let (rebuilt, _) = self.build_pages(charts, 0);
                self.pages.splice(0..=0, rebuilt);
            }
        }
        placements
    }

    /// The body: header, pages and footer (after [`Pages::refresh`]).
    pub(super) fn rendered(&self, config: &RenderConfig, generated: Timestamp, no_charts: bool) -> Rendered {
        let (header, footer) = header_footer(self.kind, config, generated, no_charts);
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

    /// How many charts the next [`Pages::refresh`] renders again (`usize::MAX` before the
    /// first render: all of them).
    pub(super) fn pending(&self) -> usize {
        if self.pages.is_empty() { usize::MAX } else { self.dirty.len() }
    }

    fn page_of(&self, name: &ChartName) -> usize {
        // pages[0] has no lower bound, so the partition point is at least 1.
        self.pages.partition_point(|p| p.lower.as_ref().is_none_or(|lower| lower <= name)) - 1
    }

    /// Renders the charts in page `idx`'s name range into one or more pages of about
    /// `PAGE_TARGET` bytes (a page always holds whole charts). A YAML page's fragments come
    /// back as slices of it, to be [`place`]d: the page becomes each fragment's only copy.
    fn build_pages(&self, charts: &BTreeMap<ChartName, Versions>, idx: usize) -> (Vec<Page>, Option<Placement>) {
        let lower = self.pages[idx].lower.clone();
        let upper = self.pages.get(idx + 1).and_then(|p| p.lower.clone());
        let range =
            (lower.clone().map_or(Bound::Unbounded, Bound::Included), upper.map_or(Bound::Unbounded, Bound::Excluded));
        let mut pages = Vec::new();
        let mut current = Vec::new();
        let mut current_lower = lower;
        let mut fragments = Vec::new();
        // Where the fragments of `current` are, sliced out once the page is made.
        let mut at: Vec<Range<usize>> = Vec::new();
        let mut finish = |lower: Option<ChartName>, text: Vec<u8>, at: &mut Vec<Range<usize>>| {
            let page = Page::new(lower, text);
            fragments.extend(at.drain(..).map(|r| page.bytes.slice(r)));
            page
        };
        for (i, (name, versions)) in charts.range::<ChartName, _>(range.clone()).enumerate() {
            if current.len() >= PAGE_TARGET {
                pages.push(finish(current_lower.take(), std::mem::take(&mut current), &mut at));
                current_lower = Some(name.clone());
            }
            match self.kind {
                Representation::Json => {
                    let mut text = String::new();
                    write_chart(&mut text, Representation::Json, idx == 0 && i == 0, &name.0, versions);
                    current.extend_from_slice(text.as_bytes());
                }
                Representation::Yaml => {
                    current.extend_from_slice(yaml_chart_key(&name.0).as_bytes());
                    for slot in versions {
                        let start = current.len();
                        current.extend_from_slice(&slot.yaml);
                        at.push(start..current.len());
                    }
                }
            }
        }
        pages.push(finish(current_lower, current, &mut at));
        let placement = (self.kind == Representation::Yaml).then_some(Placement { range, fragments });
        (pages, placement)
    }
}

/// The YAML fragments of a range of charts as slices of the pages just rendered, in the order
/// of its versions.
pub(super) struct Placement {
    range: (Bound<ChartName>, Bound<ChartName>),
    fragments: Vec<Bytes>,
}

pub(super) type Placements = Vec<Placement>;

/// Makes each re-rendered version's fragment the slice of its page.
pub(super) fn place(charts: &mut BTreeMap<ChartName, Versions>, placements: Placements) {
    for Placement { range, fragments } in placements {
        let slots = charts.range_mut::<ChartName, _>(range).flat_map(|(_, versions)| versions.iter_mut());
        for (slot, fragment) in slots.zip(fragments) {
            slot.yaml = fragment;
        }
    }
}

/// The text before and after the `entries` of a body.
pub(super) fn header_footer(
    kind: Representation,
    config: &RenderConfig,
    generated: Timestamp,
    no_charts: bool,
) -> (String, String) {
    let generated = format_time(generated);
    match kind {
        Representation::Json => {
            let header = format!("{{\"apiVersion\":\"v1\",\"generated\":\"{generated}\",\"entries\":{{");
            let mut server_info = String::from("{");
            if !config.context_path.is_empty() {
                server_info.push_str("\"contextPath\":");
                gojson::push_string(&mut server_info, &config.context_path);
            }
            server_info.push('}');
            (header, format!("}},\"serverInfo\":{server_info}}}"))
        }
        Representation::Yaml => {
            let header = if no_charts { "apiVersion: v1\nentries: {}\n" } else { "apiVersion: v1\nentries:\n" };
            let mut footer = String::from("generated: ");
            yaml::quoted(&mut footer, &generated);
            if config.context_path.is_empty() {
                footer.push_str("\nserverInfo: {}\n");
            } else {
                footer.push_str("\nserverInfo:\n  contextPath: ");
                yaml::scalar(&mut footer, &config.context_path);
                footer.push('\n');
            }
            (header.to_owned(), footer)
        }
    }
}

/// One chart of the `entries` map: `name: [versions]` in JSON (after a comma unless `first`), or
/// its YAML key and version items.
pub(super) fn write_chart(out: &mut String, kind: Representation, first: bool, name: &str, versions: &[Slot]) {
    match kind {
        Representation::Json => {
            if !first {
                out.push(',');
            }
            gojson::push_string(out, name);
            out.push(':');
            write_versions_json(out, versions, Body::Index);
        }
        Representation::Yaml => {
            out.push_str(&yaml_chart_key(name));
            for s in versions {
                out.push_str(&String::from_utf8_lossy(&s.yaml));
            }
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
