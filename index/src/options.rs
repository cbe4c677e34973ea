//! How a repository is served and maintained.

use std::time::Duration;

use chartroom_chart::archive::Limits;

use crate::entry::RenderConfig;
use crate::provenance::ProvenancePolicy;
use crate::retention::{PerTenant, Retention};
use crate::tenancy::Tenancy;

/// How a repository is served and maintained.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    /// Which tenants are served, and so where charts are looked for in storage.
    pub tenancy: Tenancy,
    /// How entries are rendered (a tenant's chart URLs get its path after `chart_url`).
    pub render: RenderConfig,
    /// Which writes may replace a stored chart.
    pub overwrite: OverwritePolicy,
    /// Which provenance files writes must carry and verify, per tenant, and the trusted keys.
    pub provenance: ProvenancePolicy,
    /// Persist index state under `.chartroom/` (and read it at start).
    pub statefiles: bool,
    /// Maximum archives read in parallel when (re)building, across all tenants; also the number
    /// of tenants' state files read at once at start.
    pub read_concurrency: usize,
    /// Bounds on the archives accepted by uploads and read from storage.
    pub limits: Limits,
    /// Periodic resync with storage; `None` disables it.
    pub resync_interval: Option<Duration>,
    /// Persist state once no change has happened for this long...
    pub persist_idle: Duration,
    /// ...or at the latest this long after the first unpersisted change.
    pub persist_max_delay: Duration,
    /// How often peers' change logs are polled; `None` disables polling (a lone replica).
    pub poll_interval: Option<Duration>,
    /// Change-log records older than this are pruned (every replica polls far more often).
    pub log_retention: Duration,
    /// Retention by semantic version, per tenant (`crate::retention`).
    pub retention: PerTenant<Retention>,
    /// The most chart versions a tenant may hold (`--max-storage-objects`), per tenant.
    pub max_objects: PerTenant<Option<usize>>,
    /// Requests that wait for a turn to unpack an archive (`/templates`, `/values`, the chart
    /// page) while [`MAX_ARCHIVE_READS`](crate::MAX_ARCHIVE_READS) unpack; more get a 503.
    pub archive_read_queue: usize,
    /// How long such a request waits for its turn before it gets a 503.
    pub archive_read_wait: Duration,
}

impl Default for RepoOptions {
    fn default() -> Self {
        Self {
            tenancy: Tenancy::default(),
            render: RenderConfig::default(),
            overwrite: OverwritePolicy::default(),
            provenance: ProvenancePolicy::default(),
            statefiles: true,
            read_concurrency: 16,
            limits: Limits::default(),
            resync_interval: Some(Duration::from_secs(300)),
            persist_idle: Duration::from_secs(1),
            persist_max_delay: Duration::from_secs(10),
            poll_interval: Some(Duration::from_millis(500)),
            log_retention: Duration::from_secs(600),
            retention: PerTenant::default(),
            max_objects: PerTenant::default(),
            archive_read_queue: 32,
            archive_read_wait: Duration::from_secs(5),
        }
    }
}

/// ChartMuseum's overwrite matrix (`--allow-overwrite`, `--disable-force-overwrite`). The
/// default, as in ChartMuseum, refuses to replace a stored chart unless the request forces it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverwritePolicy {
    /// Every write may replace a stored chart.
    pub allow_overwrite: bool,
    /// A request's `?force` does not allow replacing a stored chart.
    pub disable_force_overwrite: bool,
}

impl OverwritePolicy {
    /// May a write whose request asked for `force` replace an existing object?
    pub fn allows(&self, force: bool) -> bool {
        self.allow_overwrite || (force && !self.disable_force_overwrite)
    }

    /// Whether a stored chart's bytes can never change (decides its caching headers).
    pub fn charts_immutable(&self) -> bool {
        !self.allows(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chartmuseum_overwrite_matrix() {
        // (allow_overwrite, disable_force_overwrite, force) -> may replace
        for (allow_overwrite, disable_force_overwrite, force, allowed) in [
            (false, false, false, false),
            (false, false, true, true),
            (false, true, false, false),
            (false, true, true, false),
            (true, false, false, true),
            (true, false, true, true),
            (true, true, false, true),
            (true, true, true, true),
        ] {
            let policy = OverwritePolicy { allow_overwrite, disable_force_overwrite };
            assert_eq!(policy.allows(force), allowed, "{policy:?} force={force}");
            assert_eq!(policy.charts_immutable(), !allow_overwrite && disable_force_overwrite, "{policy:?}");
        }
    }
}
