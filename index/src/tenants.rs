//! The tenants of a running repository: each one's index and snapshot, in one map shared by the
//! handle, the writer and the poller.
//!
//! A tenant exists while it has charts: the writer adds it to the map with its first chart and
//! drops it with its last. Reading a tenant that is not in the map costs nothing: it answers with
//! one empty index and snapshot built at start and shared by every such read, so requests for
//! made-up tenant names never grow memory. The one exception is the root of a single-repository
//! server, which is always there (and keeps its own `generated` time, as before tenants).
//!
//! Reads are lock-free: the map is swapped whole by the writer (copy on write, once per batch
//! that adds or drops tenants, which is rare next to reads).

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chartroom_storage::Storage;
use parking_lot::{ArcRwLockReadGuard, RawRwLock, RwLock};

use crate::entry::{Entry, RenderConfig};
use crate::error::RepoError;
use crate::index::Index;
use crate::options::RepoOptions;
use crate::snapshot::Snapshot;
use crate::tenant::Tenant;

/// State shared by a repository's handle, its writer and its poller.
pub(crate) struct Shared {
    /// This process's replica id (the folder of its change log).
    pub(crate) replica: String,
    /// The storage under the configured prefix: the root tenant's folder, the change logs, and
    /// what start and resync list.
    pub(crate) storage: Storage,
    pub(crate) options: RepoOptions,
    pub(crate) tenants: Tenants,
    /// The change feed's decoded records and the signal that wakes its long polls.
    pub(crate) feed: crate::feed::FeedState,
    /// Where committed changes are announced (`events`), once set.
    pub(crate) events: std::sync::OnceLock<Arc<dyn crate::events::EventSink>>,
    /// Files (tenant path, file name) whose peer observation is in doubt: the writer found a
    /// local write and a peer's change of the same file too close together to know which
    /// storage kept, so the poller looks at storage again on its next round (`peers`).
    pub(crate) rechecks: parking_lot::Mutex<Vec<(String, String)>>,
}

impl Shared {
    /// Where `tenant`'s files live and its state if it has charts; `NotServed` for a tenant
    /// path the layout does not serve.
    pub(crate) fn locate(&self, tenant: &Tenant) -> Result<Located, RepoError> {
        self.check(tenant)?;
        Ok(match self.tenants.get(tenant) {
            Some(state) => Located { place: Arc::clone(&state.place), state: Some(state) },
            None => Located { place: Arc::new(self.place(tenant)?), state: None },
        })
    }

    /// The place of a tenant (allocates a scoped storage handle; no request, nothing kept).
    pub(crate) fn place(&self, tenant: &Tenant) -> Result<Place, RepoError> {
        Ok(Place {
            tenant: tenant.clone(),
            storage: self.storage.scoped(tenant.as_str())?,
            render: render_for(&self.options.render, tenant),
        })
    }

    pub(crate) fn check(&self, tenant: &Tenant) -> Result<(), RepoError> {
        let tenancy = self.options.tenancy;
        if tenancy.serves(tenant) { Ok(()) } else { Err(RepoError::NotServed { tenant: tenant.clone(), tenancy }) }
    }
}

/// Where a tenant's files are and how its entries render: derived from its path alone.
#[derive(Debug)]
pub(crate) struct Place {
    pub(crate) tenant: Tenant,
    /// The storage of the tenant's folder (the root's is the configured prefix itself).
    pub(crate) storage: Storage,
    pub(crate) render: RenderConfig,
}

/// ChartMuseum's chart URLs: a tenant's base is the configured one followed by its path, so
/// `<chart-url>/<tenant>/charts/<file>`; relative URLs (`charts/<file>`) are relative to the
/// tenant's own `index.yaml` and stay as they are.
pub(crate) fn render_for(base: &RenderConfig, tenant: &Tenant) -> RenderConfig {
    let mut render = base.clone();
    if let Some(url) = render.chart_url.as_mut()
        && !tenant.is_root()
    {
        url.push('/');
        url.push_str(tenant.as_str());
    }
    render
}

/// A tenant as an operation sees it: its place, and its state when it has charts.
pub(crate) struct Located {
    pub(crate) place: Arc<Place>,
    pub(crate) state: Option<Arc<TenantState>>,
}

impl Located {
    /// The entry indexed for a name and version, if any.
    pub(crate) fn entry(&self, name: &str, version: &str) -> Option<Arc<Entry>> {
        self.state.as_ref()?.index.read().get(name, version).cloned()
    }

    /// Every indexed version of a chart: (version, file).
    pub(crate) fn versions(&self, name: &str) -> Vec<(String, String)> {
        let Some(state) = &self.state else { return Vec::new() };
        let index = state.index.read();
        index
            .versions(name)
            .map(|v| v.map(|e| (e.version().to_owned(), e.file().to_owned())).collect())
            .unwrap_or_default()
    }
}

/// One tenant with charts: its index and the snapshot served from it. Only the writer changes
/// them.
pub(crate) struct TenantState {
    pub(crate) place: Arc<Place>,
    pub(crate) index: Arc<RwLock<Index>>,
    pub(crate) snapshot: ArcSwap<Snapshot>,
}

impl TenantState {
    pub(crate) fn new(place: Arc<Place>, index: Index, snapshot: Arc<Snapshot>) -> TenantState {
        TenantState { place, index: Arc::new(RwLock::new(index)), snapshot: ArcSwap::new(snapshot) }
    }
}

/// Read access to a tenant's index. Hold it briefly: the writer waits while it is held.
pub struct IndexGuard(ArcRwLockReadGuard<RawRwLock, Index>);

impl Deref for IndexGuard {
    type Target = Index;

    fn deref(&self) -> &Index {
        &self.0
    }
}

type TenantMap = HashMap<Tenant, Arc<TenantState>>;

/// The tenants that have charts, and what the others read.
pub(crate) struct Tenants {
    map: ArcSwap<TenantMap>,
    /// The root of a single-repository server: always served, never dropped.
    pinned: Option<Arc<TenantState>>,
    /// The index and snapshot of every tenant without charts.
    empty_index: Arc<RwLock<Index>>,
    empty_snapshot: Arc<Snapshot>,
}

impl Tenants {
    /// `empty` is the index every tenant without charts reads, and its snapshot.
    pub(crate) fn new(
        states: Vec<Arc<TenantState>>,
        pinned: Option<Arc<TenantState>>,
        (empty, empty_snapshot): (Index, Arc<Snapshot>),
    ) -> Tenants {
        let mut map: TenantMap = states.into_iter().map(|s| (s.place.tenant.clone(), s)).collect();
        if let Some(root) = &pinned {
            map.insert(root.place.tenant.clone(), Arc::clone(root));
        }
        Tenants { map: ArcSwap::from_pointee(map), pinned, empty_index: Arc::new(RwLock::new(empty)), empty_snapshot }
    }

    pub(crate) fn get(&self, tenant: &Tenant) -> Option<Arc<TenantState>> {
        if let Some(root) = &self.pinned
            && tenant.is_root()
        {
            return Some(Arc::clone(root));
        }
        self.map.load().get(tenant).cloned()
    }

    pub(crate) fn is_pinned(&self, tenant: &Tenant) -> bool {
        self.pinned.is_some() && tenant.is_root()
    }

    /// The served snapshot of `tenant` (the shared empty one if it has no charts).
    pub(crate) fn snapshot(&self, tenant: &Tenant) -> Arc<Snapshot> {
        if let Some(root) = &self.pinned
            && tenant.is_root()
        {
            return root.snapshot.load_full();
        }
        match self.map.load().get(tenant) {
            Some(state) => state.snapshot.load_full(),
            None => Arc::clone(&self.empty_snapshot),
        }
    }

    /// The shared empty snapshot (a new tenant serves it until its first batch is published).
    pub(crate) fn empty_snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.empty_snapshot)
    }

    pub(crate) fn index(&self, tenant: &Tenant) -> IndexGuard {
        match self.get(tenant) {
            Some(state) => IndexGuard(state.index.read_arc()),
            None => IndexGuard(self.empty_index.read_arc()),
        }
    }

    /// The tenants that have charts (and a single-repository server's root), sorted.
    pub(crate) fn names(&self) -> Vec<Tenant> {
        let mut names: Vec<Tenant> = self.map.load().keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn len(&self) -> usize {
        self.map.load().len()
    }

    /// Every tenant's state, for a resync of all of them.
    pub(crate) fn all(&self) -> Vec<Arc<TenantState>> {
        self.map.load().values().cloned().collect()
    }

    /// Adds and drops tenants in one swap (writer only).
    pub(crate) fn update(&self, added: Vec<Arc<TenantState>>, dropped: &[Tenant]) {
        if added.is_empty() && dropped.is_empty() {
            return;
        }
        let mut map = TenantMap::clone(&self.map.load());
        for tenant in dropped {
            if !self.is_pinned(tenant) {
                map.remove(tenant);
            }
        }
        for state in added {
            map.insert(state.place.tenant.clone(), state);
        }
        self.map.store(Arc::new(map));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_chart_urls_carry_its_path() {
        let t = |p: &str| Tenant::parse(p).unwrap();
        let relative = RenderConfig::default();
        assert_eq!(render_for(&relative, &t("org/team")).chart_url, None, "relative URLs need no tenant");
        let base = RenderConfig { chart_url: Some("https://charts.example/helm".into()), ..Default::default() };
        // (tenant, chart URL base)
        for (tenant, url) in [
            ("", "https://charts.example/helm"),
            ("team", "https://charts.example/helm/team"),
            ("org/team", "https://charts.example/helm/org/team"),
        ] {
            assert_eq!(render_for(&base, &t(tenant)).chart_url.as_deref(), Some(url), "{tenant:?}");
        }
    }
}
