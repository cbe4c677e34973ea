//! What the catalogue page lists: one summary per chart (its latest version's metadata and its
//! last push), searched, sorted and cut into pages on the server. Summaries are built once per
//! index snapshot (by its ETag) and shared by every request until the next change, so a page at
//! 10,000 versions costs a filter and a sort of references, not 10,000 JSON parses. After a
//! change, only the charts whose shown version changed are read again: an upload costs the
//! catalogue one JSON parse, not one per chart.

use std::collections::HashMap;
use std::sync::Arc;

use chartroom_chart::version::Version;
use chartroom_index::{Entry, Repository, Tenant};
use jiff::Timestamp;
use parking_lot::Mutex;
use serde::Deserialize;

/// Charts per catalogue page.
pub(crate) const PAGE_SIZE: usize = 50;

/// The metadata the pages show, read from an entry's JSON fragment (Helm's `ChartVersion`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Meta {
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub description: String,
    pub icon: String,
    pub deprecated: bool,
    pub keywords: Vec<String>,
    pub home: String,
    pub sources: Vec<String>,
    pub maintainers: Vec<Maintainer>,
    pub dependencies: Vec<Dependency>,
    pub kube_version: String,
    #[serde(rename = "type")]
    pub chart_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub alias: String,
}

impl Meta {
    /// The metadata of `entry` (empty fields when its fragment cannot be read, which the index
    /// never writes).
    pub(crate) fn of(entry: &Entry) -> Meta {
        serde_json::from_str(entry.metadata_json()).unwrap_or_default()
    }
}

/// Whether a version is a pre-release (`1.0.0-rc.1`; build metadata alone is not).
pub(crate) fn is_prerelease(version: &str) -> bool {
    Version::parse(version).is_ok_and(|v| v.is_prerelease())
}

/// One chart of the catalogue.
#[derive(Debug)]
pub(crate) struct Summary {
    /// What is read from the shown version's metadata, shared between snapshots while that
    /// version stays the one shown.
    pub card: Arc<Card>,
    /// How many versions it has.
    pub versions: usize,
    /// The newest `created` of its versions.
    pub pushed: Timestamp,
}

/// The shown version's metadata and what a search looks in.
#[derive(Debug)]
pub(crate) struct Card {
    pub meta: Meta,
    /// Name, description and keywords, lower-cased.
    haystack: String,
    /// The digest of the archive it was read from: the same digest is the same metadata.
    source: Option<String>,
}

impl Card {
    fn new(meta: Meta, source: Option<String>) -> Card {
        let mut haystack = meta.name.to_lowercase();
        haystack.push('\n');
        haystack.push_str(&meta.description.to_lowercase());
        for keyword in &meta.keywords {
            haystack.push('\n');
            haystack.push_str(&keyword.to_lowercase());
        }
        Card { meta, haystack, source }
    }
}

/// The order of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sort {
    Name,
    Pushed,
}

impl Sort {
    pub(crate) fn parse(text: Option<&str>) -> Sort {
        match text {
            Some("pushed") => Sort::Pushed,
            _ => Sort::Name,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Pushed => "pushed",
        }
    }
}

/// A tenant's summaries and the snapshot ETag they were built from.
type Built = (String, Arc<Vec<Summary>>);

/// Summaries by tenant, each for the snapshot ETag it was built from.
#[derive(Default)]
pub(crate) struct Cache {
    tenants: Mutex<HashMap<Tenant, Built>>,
}

impl Cache {
    /// The summaries of `tenant`'s charts in name order, built again when its index changed.
    pub(crate) fn summaries(
        &self,
        repo: &Repository,
        tenant: &Tenant,
    ) -> Result<Arc<Vec<Summary>>, chartroom_index::RepoError> {
        // The ETag is read before the index: a change in between makes the next request build
        // again, never serve a stale list for the newer ETag.
        let etag = repo.snapshot(tenant)?.primary().etag.clone();
        let previous = match self.tenants.lock().get(tenant) {
            Some((built_for, summaries)) if *built_for == etag => return Ok(Arc::clone(summaries)),
            Some((_, summaries)) => Some(Arc::clone(summaries)),
            None => None,
        };
        // Cards of the previous list by chart name, reused where the shown entry is the same.
        let reusable: HashMap<&str, &Arc<Card>> =
            previous.iter().flat_map(|list| list.iter()).map(|s| (s.card.meta.name.as_str(), &s.card)).collect();
        let charts = latest_entries(repo, tenant)?;
        let summaries: Vec<Summary> = charts
            .into_iter()
            .map(|(shown, versions, pushed)| {
                let card = match reusable.get(shown.name()) {
                    Some(card) if card.source.as_deref() == Some(&*shown.digest()) => Arc::clone(card),
                    _ => Arc::new(Card::new(Meta::of(&shown), Some(shown.digest().to_string()))),
                };
                Summary { card, versions, pushed }
            })
            .collect();
        let summaries = Arc::new(summaries);
        let mut tenants = self.tenants.lock();
        // Bounded by the tenants that exist; a removed tenant's list is dropped here.
        if tenants.len() > 1024 {
            tenants.clear();
        }
        tenants.insert(tenant.clone(), (etag, Arc::clone(&summaries)));
        Ok(summaries)
    }
}

/// For each chart (in name order): the version the catalogue shows (the newest stable one, else
/// the newest), the number of versions and the last push. Only references are taken under the
/// index's read lock.
fn latest_entries(
    repo: &Repository,
    tenant: &Tenant,
) -> Result<Vec<(Arc<Entry>, usize, Timestamp)>, chartroom_index::RepoError> {
    let index = repo.index(tenant)?;
    let mut out = Vec::new();
    for (_, versions) in index.charts() {
        let versions: Vec<&Arc<Entry>> = versions.collect();
        let Some(newest) = versions.first() else { continue };
        let shown = versions.iter().find(|e| !is_prerelease(e.version())).unwrap_or(newest);
        let pushed = versions.iter().map(|e| e.created).max().unwrap_or(newest.created);
        out.push((Arc::clone(shown), versions.len(), pushed));
    }
    Ok(out)
}

/// One page of the list.
pub(crate) struct Page<'a> {
    pub charts: Vec<&'a Summary>,
    /// Charts that match the search, on every page.
    pub matched: usize,
    /// 1-based, within `1..=pages`.
    pub page: usize,
    pub pages: usize,
}

/// The charts that match `query` (every word in name, description or keywords), sorted, and the
/// requested page of them (clamped to the last page).
pub(crate) fn select<'a>(all: &'a [Summary], query: &str, sort: Sort, page: usize) -> Page<'a> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut hits: Vec<&Summary> =
        all.iter().filter(|s| words.iter().all(|w| s.card.haystack.contains(w.as_str()))).collect();
    if sort == Sort::Pushed {
        // Stable: charts pushed at the same instant stay in name order.
        hits.sort_by_key(|s| std::cmp::Reverse(s.pushed));
    }
    let matched = hits.len();
    let pages = matched.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let charts = hits.into_iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
    Page { charts, matched, page, pages }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(name: &str, description: &str, keywords: &[&str], pushed: i64) -> Summary {
        let meta = Meta {
            name: name.into(),
            description: description.into(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            ..Meta::default()
        };
        let pushed = Timestamp::from_second(pushed).unwrap();
        Summary { card: Arc::new(Card::new(meta, None)), versions: 1, pushed }
    }

    fn names(page: &Page<'_>) -> Vec<String> {
        page.charts.iter().map(|s| s.card.meta.name.clone()).collect()
    }

    #[test]
    fn search_looks_in_name_description_and_keywords() {
        let all = vec![
            chart("alpha", "A database", &["sql"], 3),
            chart("beta", "A cache", &["memory", "Redis"], 1),
            chart("gamma", "Web server", &[], 2),
        ];
        assert_eq!(names(&select(&all, "", Sort::Name, 1)), ["alpha", "beta", "gamma"]);
        assert_eq!(names(&select(&all, "ALPHA", Sort::Name, 1)), ["alpha"]);
        assert_eq!(names(&select(&all, "cache", Sort::Name, 1)), ["beta"]);
        assert_eq!(names(&select(&all, "redis", Sort::Name, 1)), ["beta"]);
        assert_eq!(names(&select(&all, "a server", Sort::Name, 1)), ["gamma"]);
        assert_eq!(names(&select(&all, "nothing", Sort::Name, 1)), Vec::<String>::new());
        assert_eq!(names(&select(&all, "", Sort::Pushed, 1)), ["alpha", "gamma", "beta"]);
    }

    #[test]
    fn pages_are_cut_and_clamped() {
        let all: Vec<Summary> = (0..120).map(|i| chart(&format!("c{i:03}"), "", &[], i)).collect();
        let first = select(&all, "", Sort::Name, 1);
        assert_eq!((first.charts.len(), first.matched, first.page, first.pages), (50, 120, 1, 3));
        let last = select(&all, "", Sort::Name, 99);
        assert_eq!((last.charts.len(), last.page), (20, 3));
        assert_eq!(last.charts[0].card.meta.name, "c100");
        assert_eq!(select(&all, "", Sort::Name, 0).page, 1);
        let none = select(&all, "zzz", Sort::Name, 1);
        assert_eq!((none.matched, none.page, none.pages), (0, 1, 1));
    }

    #[test]
    fn prerelease_is_read_from_the_version() {
        assert!(is_prerelease("1.0.0-rc.1"));
        assert!(!is_prerelease("1.0.0+build-1"));
        assert!(!is_prerelease("1.0.0"));
    }
}
