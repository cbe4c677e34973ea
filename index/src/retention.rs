//! Retention by semantic version and the storage limit: the per-tenant lifecycle policies.
//!
//! Retention keeps at most the `keep_prereleases` highest pre-releases of each chart
//! (`--retention-keep-prereleases`), and of the versions left, the `keep` highest
//! (`--per-chart-limit`, ChartMuseum's option, which removes by oldest modification time
//! instead): a pre-release beyond its own bound takes no place among the `keep`. Versions are ranked by SemVer
//! precedence as Helm ranks them (Masterminds: build metadata ignored); versions that differ only
//! in build metadata are then ranked by that metadata, identifier by identifier as pre-release
//! identifiers are (numeric ones numerically and below alphanumeric ones, a longer list above its
//! prefix), a version without build metadata below one with it, so that the choice never
//! depends on when a version was uploaded or on which replica plans it.
//!
//! Pruning deletes through the one delete path ([`Repository::unpublish`]'s, under the version's
//! lock: archive, provenance file, index entry, change log), so a pruned version disappears as
//! a `DELETE` would make it disappear, OCI tags included (they are read from the same index).
//! The version an upload just stored is never pruned by that upload, and the last version of a
//! chart is never pruned.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chartroom_chart::version::Version;
use chartroom_storage::chart_file;

use crate::index::Index;
use crate::publish::UnpublishError;
use crate::repo::Repository;
use crate::reverify::VersionRef;
use crate::tenant::Tenant;

/// A setting with a default and tenants' own values (as the provenance policy is configured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerTenant<T> {
    default: T,
    tenants: BTreeMap<Tenant, T>,
}

impl<T: Clone> PerTenant<T> {
    pub fn new(default: T, tenants: BTreeMap<Tenant, T>) -> Self {
        PerTenant { default, tenants }
    }

    /// `tenant`'s own value, else the default.
    pub fn get(&self, tenant: &Tenant) -> T {
        self.tenants.get(tenant).unwrap_or(&self.default).clone()
    }
}

/// One tenant's retention policy; `None` is no bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// The most versions kept per chart (`--per-chart-limit`; 0 in configuration is off).
    pub keep: Option<usize>,
    /// The most pre-release versions kept per chart (`--retention-keep-prereleases`).
    pub keep_prereleases: Option<usize>,
}

impl Retention {
    pub fn is_off(&self) -> bool {
        self.keep.is_none() && self.keep_prereleases.is_none()
    }
}

/// What a retention run removed (or, for a preview, would remove), in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub removed: Vec<VersionRef>,
}

/// Ranks two versions, highest first: SemVer precedence, then build metadata (module docs).
pub fn rank(a: &Version, b: &Version) -> Ordering {
    b.cmp(a).then_with(|| compare_build(b.build(), a.build()))
}

/// Build metadata compared identifier by identifier, as pre-release identifiers are; none is
/// lowest.
fn compare_build(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (false, false) => {}
    }
    let (mut left, mut right) = (a.split('.'), b.split('.'));
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (numeric(x), numeric(y)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn numeric(identifier: &str) -> Option<u128> {
    if identifier.bytes().all(|b| b.is_ascii_digit()) { identifier.parse().ok() } else { None }
}

/// The versions of one chart that `policy` removes, lowest first. `protect` (the version an
/// upload just stored) is never among them, nor is the chart's last remaining version.
pub(crate) fn plan_chart<'a>(
    versions: impl IntoIterator<Item = &'a Version>,
    policy: Retention,
    protect: Option<&str>,
) -> Vec<&'a Version> {
    let mut ranked: Vec<&Version> = versions.into_iter().collect();
    ranked.sort_by(|a, b| rank(a, b));
    let mut removed = Vec::new();
    let (mut prereleases, mut counted) = (0usize, 0usize);
    for version in &ranked {
        // Pre-releases beyond their own bound go first and take no place among the `keep`.
        let pruned = if version.is_prerelease()
            && policy.keep_prereleases.is_some_and(|keep| {
                prereleases += 1;
                prereleases > keep
            }) {
            true
        } else {
            counted += 1;
            policy.keep.is_some_and(|keep| counted > keep)
        };
        if pruned && protect != Some(version.original()) {
            removed.push(*version);
        }
    }
    // Never the last one: the highest version stays when the policy would empty the chart.
    if removed.len() == ranked.len()
        && let Some(highest) = ranked.first()
    {
        removed.retain(|v| !std::ptr::eq(*v, *highest));
    }
    removed.reverse();
    removed
}

/// The versions `policy` removes from every chart of `index` (or of `only`), chart by chart in
/// name order, each chart's lowest first.
pub(crate) fn plan_index(index: &Index, policy: Retention, only: Option<&str>) -> Vec<VersionRef> {
    if policy.is_off() {
        return Vec::new();
    }
    let mut plan = Vec::new();
    for (name, entries) in index.charts() {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        let entries: Vec<_> = entries.collect();
        let versions = entries.iter().map(|e| e.parsed_version());
        for version in plan_chart(versions, policy, None) {
            plan.push(VersionRef { name: name.to_owned(), version: version.original().to_owned() });
        }
    }
    plan
}

impl Repository {
    /// Whether `tenant` holds its `--max-storage-objects` already: counted from the index (one
    /// object per chart version; its provenance file travels with it), never from a storage
    /// listing.
    pub(crate) fn at_storage_limit(&self, tenant: &Tenant, located: &crate::tenants::Located) -> bool {
        let Some(limit) = self.shared.options.max_objects.get(tenant) else { return false };
        let held = located.state.as_ref().map_or(0, |state| state.index.read().len());
        held >= limit
    }

    /// The tenant's retention policy.
    pub fn retention(&self, tenant: &Tenant) -> Retention {
        self.shared.options.retention.get(tenant)
    }

    /// What applying the tenant's retention policy to its charts now would remove (a dry run:
    /// nothing changes).
    pub fn retention_preview(&self, tenant: &Tenant) -> Result<RetentionOutcome, crate::RepoError> {
        let policy = self.retention(tenant);
        let index = self.index(tenant)?;
        Ok(RetentionOutcome { removed: plan_index(&index, policy, None) })
    }

    /// Applies the tenant's retention policy to its charts: every version the preview lists is
    /// deleted through the delete path. A version deleted meanwhile by someone else is skipped.
    pub async fn apply_retention(&self, tenant: &Tenant) -> Result<RetentionOutcome, UnpublishError> {
        let planned = self.retention_preview(tenant)?;
        let mut removed = Vec::new();
        for version in planned.removed {
            match self.unpublish(tenant, &version.name, &version.version).await {
                Ok(()) => removed.push(version),
                Err(UnpublishError::VersionNotFound { .. } | UnpublishError::ChartNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !removed.is_empty() {
            tracing::info!(%tenant, removed = removed.len(), "retention applied");
        }
        Ok(RetentionOutcome { removed })
    }

    /// After an upload of `name` `version` (inside its write task, so not through the detached
    /// [`Repository::unpublish`]: shutdown waits for the write task, and a second one started
    /// from it could wait behind shutdown): the chart's versions the policy removes, the one just
    /// uploaded excepted. A failure is logged; the upload succeeded either way, and the next
    /// upload or `POST /api/retention` prunes what is left.
    /// Returns the versions it removed.
    pub(crate) async fn prune_after_publish(&self, tenant: &Tenant, name: &str, version: &str) -> Vec<String> {
        let policy = self.retention(tenant);
        if policy.is_off() {
            return Vec::new();
        }
        let Ok(located) = self.locate(tenant) else { return Vec::new() };
        let doomed: Vec<String> = match &located.state {
            None => return Vec::new(),
            Some(state) => {
                let index = state.index.read();
                let Some(entries) = index.versions(name) else { return Vec::new() };
                let entries: Vec<_> = entries.collect();
                plan_chart(entries.iter().map(|e| e.parsed_version()), policy, Some(version))
                    .into_iter()
                    .map(|v| v.original().to_owned())
                    .collect()
            }
        };
        let mut pruned = Vec::new();
        for old in doomed {
            let _guard = self.locks.lock(tenant, &chart_file(name, &old)).await;
            match self.unpublish_version(&located, name, &old).await {
                Ok(()) => {
                    tracing::info!(%tenant, chart = %name, version = %old, "pruned by retention");
                    pruned.push(old);
                }
                Err(UnpublishError::VersionNotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(%tenant, chart = %name, version = %old, error = %e, "cannot prune by retention")
                }
            }
        }
        pruned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[&str]) -> Vec<Version> {
        list.iter().map(|v| Version::parse(v).unwrap()).collect()
    }

    fn plan(list: &[&str], keep: Option<usize>, pre: Option<usize>, protect: Option<&str>) -> Vec<String> {
        let all = versions(list);
        let policy = Retention { keep, keep_prereleases: pre };
        plan_chart(&all, policy, protect).into_iter().map(|v| v.original().to_owned()).collect()
    }

    #[test]
    fn ranks_by_precedence_then_build_metadata() {
        let mut all = versions(&["1.0.0+b.10", "1.0.0-rc.1", "1.0.0", "0.9.0", "1.0.0+b.9", "1.0.0+a", "2.0.0-alpha"]);
        all.sort_by(rank);
        let order: Vec<_> = all.iter().map(Version::original).collect();
        assert_eq!(order, ["2.0.0-alpha", "1.0.0+b.10", "1.0.0+b.9", "1.0.0+a", "1.0.0", "1.0.0-rc.1", "0.9.0"]);
    }

    #[test]
    fn keeps_the_highest_and_bounds_prereleases() {
        let list = ["1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0-rc.2", "1.2.0", "0.1.0"];
        assert_eq!(plan(&list, Some(3), None, None), ["0.1.0", "1.0.0", "1.1.0"]);
        assert_eq!(plan(&list, None, Some(1), None), ["1.2.0-rc.1"]);
        assert_eq!(plan(&list, Some(4), Some(0), None), ["1.2.0-rc.1", "1.2.0-rc.2"]);
        assert_eq!(plan(&list, Some(3), Some(1), None), ["0.1.0", "1.0.0", "1.2.0-rc.1"]);
        // The version just uploaded stays, whatever its rank.
        assert_eq!(plan(&list, Some(3), None, Some("0.1.0")), ["1.0.0", "1.1.0"]);
        // Never the last one.
        assert_eq!(plan(&["1.0.0-rc.1", "1.0.0-rc.2"], None, Some(0), None), ["1.0.0-rc.1"]);
        assert!(plan(&list, None, None, None).is_empty());
    }
}
