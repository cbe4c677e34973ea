//! Webhooks for chart events: the endpoints of the configuration, each event signed as the
//! Standard Webhooks specification says (`sign`), kept in a queue persisted in the store
//! (`queue`) and delivered in the background (`deliver`).
//!
//! * **Accepting** ([`Webhooks`] as the repository's `EventSink`): for every endpoint whose
//!   filters match, one queue object `.chartroom/webhooks/<replica>/<seq>-<endpoint>.json` is
//!   written (one PUT) before the write's answer, then handed to the delivery task. An event
//!   accepted is therefore in the store even if the process dies right after. The queue is
//!   bounded ([`MAX_QUEUED`]): beyond it events are dropped, logged and counted, never waited for.
//! * **Delivering** (`deliver`): one task per endpoint, in acceptance order (so in order per
//!   chart); a failure or timeout is retried with exponential backoff and full jitter; a
//!   delivered object is deleted. `webhook-id` is the queue object's (stable across retries,
//!   restarts and replicas).
//! * **Who delivers what**: each replica delivers the events of its own writes, from its own
//!   folder. A replica refreshes `alive` in its folder every [`HEARTBEAT`]; a folder whose
//!   `alive` is older than [`ADOPT_AFTER`] (a crashed replica) or missing (a stopped one removes
//!   it at shutdown) is adopted by the first replica that sees it: its events are delivered, in
//!   order before newer ones, and its folder emptied. Two replicas adopting at once deliver some
//!   events twice (at least once, never nobody).

mod deliver;
mod queue;
mod sign;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chartroom_index::{ChartEvent, EventKind, EventSink, Tenant};
use chartroom_storage::Storage;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::mpsc;

pub use deliver::{Attempt, Pending, Report};
pub use sign::Secret;

/// Events waiting for delivery, over all endpoints, above which new ones are dropped.
pub const MAX_QUEUED: usize = 100_000;
/// How often a replica marks its queue folder as alive (and looks for folders to adopt).
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A queue folder whose `alive` mark is this old belongs to a replica that is gone.
pub const ADOPT_AFTER: Duration = Duration::from_secs(60);
/// How long one delivery attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry's delay; each further one doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// An event not delivered for this long is given up (logged, counted, kept in the report).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// One configured endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its name in the configuration (a single path segment: it names queue objects).
    pub name: String,
    pub url: String,
    pub secret: Secret,
    /// The event kinds it receives; empty: all.
    pub events: Vec<EventKind>,
    /// The tenants whose events it receives (`team-a`, `org/*`, `*`, `""` for the root);
    /// empty: all.
    pub tenants: Vec<String>,
}

impl Endpoint {
    pub fn wants(&self, event: &ChartEvent) -> bool {
        (self.events.is_empty() || self.events.contains(&event.kind))
            && (self.tenants.is_empty() || self.tenants.iter().any(|p| tenant_matches(p, &event.tenant)))
    }
}

/// The grant rules' tenant patterns: exact, `*` (every tenant), `prefix/*` (strictly under it).
fn tenant_matches(pattern: &str, tenant: &Tenant) -> bool {
    match pattern {
        "*" => true,
        p => match p.strip_suffix("/*") {
            Some(prefix) => tenant.as_str().strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')),
            None => p == tenant.as_str(),
        },
    }
}

/// The running webhooks of one process.
pub struct Webhooks {
    storage: Storage,
    replica: String,
    endpoints: Vec<Arc<Endpoint>>,
    next_seq: Mutex<u64>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// Per endpoint, the channel of its delivery task and how many events wait for it.
    lanes: BTreeMap<String, (mpsc::UnboundedSender<queue::Item>, Arc<std::sync::atomic::AtomicUsize>)>,
    report: Arc<deliver::Reports>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Webhooks {
    /// Starts delivering to `endpoints` for the replica `replica` (its change-log id) on
    /// `storage` (the repository's root), and adopts what a previous process left.
    pub fn start(storage: Storage, replica: String, endpoints: Vec<Endpoint>) -> Arc<Webhooks> {
        let endpoints: Vec<Arc<Endpoint>> = endpoints.into_iter().map(Arc::new).collect();
        let report = Arc::new(deliver::Reports::default());
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let mut lanes = BTreeMap::new();
        let mut tasks = Vec::new();
        for endpoint in &endpoints {
            let (tx, rx) = mpsc::unbounded_channel();
            let depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            lanes.insert(endpoint.name.clone(), (tx, Arc::clone(&depth)));
            let lane = deliver::Lane {
                storage: storage.clone(),
                endpoint: Arc::clone(endpoint),
                client: client.clone(),
                report: Arc::clone(&report),
                queued: Arc::clone(&queued),
                depth,
            };
            tasks.push(tokio::spawn(lane.run(rx)));
        }
        let hooks = Arc::new(Webhooks {
            storage,
            replica,
            endpoints,
            next_seq: Mutex::new(1),
            queued,
            lanes,
            report,
            tasks: Mutex::new(Vec::new()),
        });
        tasks.push(tokio::spawn(queue::keep_alive_and_adopt(Arc::clone(&hooks))));
        *hooks.tasks.lock() = tasks;
        tracing::info!(endpoints = hooks.endpoints.len(), replica = %hooks.replica, "webhooks ready");
        hooks
    }

    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    /// What is waiting and the latest attempts (newest first), for `GET /api/webhooks/deliveries`.
    pub fn report(&self) -> Report {
        self.report.snapshot()
    }

    /// Stops delivering and removes this replica's `alive` mark, so the next process (or a peer)
    /// adopts what is left at once.
    pub async fn shutdown(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        if let Err(e) = self.storage.delete_journal(queue::FOLDER, &self.replica, queue::ALIVE).await {
            tracing::warn!(error = %e, "cannot remove this replica's webhook queue mark");
        }
    }

    /// Hands an item to its endpoint's lane.
    fn dispatch(&self, item: queue::Item) {
        if let Some((lane, depth)) = self.lanes.get(&item.endpoint) {
            self.report.queued(&item);
            let waiting = depth.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            deliver::gauge(&item.endpoint, waiting);
            let _ = lane.send(item);
        }
    }
}

impl EventSink for Webhooks {
    fn accept(&self, event: ChartEvent) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for endpoint in self.endpoints.iter().filter(|e| e.wants(&event)) {
                if self.queued.load(std::sync::atomic::Ordering::Relaxed) >= MAX_QUEUED {
                    tracing::error!(endpoint = %endpoint.name, kind = event.kind.as_str(), chart = %event.name,
                        version = %event.version, "webhook queue full; event dropped");
                    metrics::counter!("chartroom_webhook_deliveries_total", "endpoint" => endpoint.name.clone(),
                        "outcome" => "dropped")
                    .increment(1);
                    continue;
                }
                let seq = {
                    let mut next = self.next_seq.lock();
                    let seq = *next;
                    *next += 1;
                    seq
                };
                let item = queue::Item::new(&self.replica, seq, &endpoint.name, &event);
                match queue::persist(&self.storage, &item).await {
                    Ok(()) => {}
                    // Delivered anyway (from memory): only a crash before delivery loses it.
                    Err(e) => {
                        tracing::warn!(error = %e, id = %item.id, "cannot persist a webhook event; delivering it from memory")
                    }
                }
                self.queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.dispatch(item);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_patterns_follow_the_grant_rules() {
        let t = |s: &str| Tenant::parse(s).unwrap();
        assert!(tenant_matches("*", &Tenant::root()));
        assert!(tenant_matches("", &Tenant::root()));
        assert!(tenant_matches("team-a", &t("team-a")));
        assert!(!tenant_matches("team-a", &t("team-ab")));
        assert!(tenant_matches("org/*", &t("org/x")));
        assert!(!tenant_matches("org/*", &t("org")));
        assert!(!tenant_matches("org/*", &t("orgx/y")));
    }
}
