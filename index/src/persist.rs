//! Background persistence of each tenant's index state, debounced per tenant: a tenant's state is
//! written once it has not changed for `persist_idle`, at the latest `persist_max_delay` after
//! its first unpersisted change. One write task runs at a time, writing every due tenant (a few at
//! once); the writer's loop sleeps until the earliest deadline.
//!
//! A tenant dropped (its last chart gone) has its state file deleted instead: a state file is
//! only ever read for a tenant the listing shows charts for, so an orphan would never be read
//! again, only accumulate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use tokio::task::JoinHandle;

use bytes::Bytes;

use crate::entry::{Entry, RenderConfig};
use crate::options::RepoOptions;
use crate::statefile;
use crate::tenant::Tenant;
use crate::tenants::{Place, Shared};

/// How soon a persist that found the previous write still running tries again.
const BUSY_RETRY: Duration = Duration::from_millis(100);
/// State files written at once.
const WRITE_CONCURRENCY: usize = 8;

struct Dirty {
    place: Arc<Place>,
    since: Instant,
    last_change: Instant,
}

pub(crate) struct Persister {
    idle: Duration,
    max_delay: Duration,
    dirty: HashMap<Tenant, Dirty>,
    /// No tenant is due before this (recomputed whenever it passes).
    next: Option<Instant>,
    task: Option<JoinHandle<()>>,
}

/// What a write task does for one tenant.
enum Job {
    /// The entries with their YAML fragments (shared, not copied), rendered with `render`.
    Write {
        place: Arc<Place>,
        generated: Timestamp,
        render: RenderConfig,
        entries: Vec<(Arc<Entry>, Bytes)>,
    },
    Remove {
        place: Arc<Place>,
    },
}

impl Persister {
    pub(crate) fn new(options: &RepoOptions) -> Self {
        Self {
            idle: options.persist_idle,
            max_delay: options.persist_max_delay,
            dirty: HashMap::new(),
            next: None,
            task: None,
        }
    }

    /// `place`'s tenant changed now (or, with `overdue`, its state is due at once: a fresh build).
    pub(crate) fn changed(&mut self, place: &Arc<Place>, overdue: bool) {
        let now = Instant::now();
        let since = if overdue { now.checked_sub(self.max_delay).unwrap_or(now) } else { now };
        let dirty = self.dirty.entry(place.tenant.clone()).or_insert_with(|| Dirty {
            place: Arc::clone(place),
            since,
            last_change: now,
        });
        dirty.since = dirty.since.min(since);
        dirty.last_change = now;
        dirty.place = Arc::clone(place);
        let due = self.due_at(&self.dirty[&place.tenant]);
        self.next = Some(self.next.map_or(due, |next| next.min(due)));
    }

    fn due_at(&self, dirty: &Dirty) -> Instant {
        (dirty.last_change + self.idle).min(dirty.since + self.max_delay)
    }

    /// When the next tenant's state is due, if any is dirty.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// Writes the state of every due tenant (every dirty one with `all`: shutdown). With `all`,
    /// waits for the writes; otherwise they run in the background.
    pub(crate) async fn persist(&mut self, shared: &Shared, all: bool) {
        if let Some(task) = self.task.take() {
            if !task.is_finished() && !all {
                // One write task at a time; come back shortly.
                self.task = Some(task);
                self.next = Some(Instant::now() + BUSY_RETRY);
                return;
            }
            let _ = task.await;
        }
        let now = Instant::now();
        let due: Vec<Tenant> = self
            .dirty
            .iter()
            .filter(|(_, dirty)| all || self.due_at(dirty) <= now)
            .map(|(tenant, _)| tenant.clone())
            .collect();
        let jobs: Vec<Job> = due
            .iter()
            .filter_map(|tenant| self.dirty.remove(tenant))
            .map(|dirty| match shared.tenants.get(&dirty.place.tenant) {
                Some(state) => {
                    let index = state.index.read();
                    Job::Write {
                        place: Arc::clone(&state.place),
                        generated: index.generated(),
                        render: index.config().clone(),
                        entries: index.entries_with_yaml().map(|(e, y)| (Arc::clone(e), y.clone())).collect(),
                    }
                }
                None => Job::Remove { place: dirty.place },
            })
            .collect();
        self.next = self.dirty.values().map(|dirty| self.due_at(dirty)).min();
        if jobs.is_empty() {
            return;
        }
        let task = tokio::spawn(async move {
            futures::stream::iter(jobs).for_each_concurrent(WRITE_CONCURRENCY, run).await;
        });
        if all {
            let _ = task.await;
        } else {
            self.task = Some(task);
        }
    }
}

async fn run(job: Job) {
    let started = Instant::now();
    let (place, generated, render, entries) = match job {
        Job::Remove { place } => {
            match place.storage.delete_state(statefile::STATE_FILE).await {
                Ok(()) => tracing::debug!(tenant = %place.tenant, "removed the state of a tenant without charts"),
                Err(e) => {
                    tracing::warn!(tenant = %place.tenant, error = %e, "cannot remove the state of a tenant without charts")
                }
            }
            return;
        }
        Job::Write { place, generated, render, entries } => (place, generated, render, entries),
    };
    let count = entries.len();
    let encoded = tokio::task::spawn_blocking(move || statefile::encode(generated, &render, &entries)).await;
    let bytes = match encoded {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return tracing::error!(tenant = %place.tenant, error = %e, "cannot encode index state"),
        Err(e) => return tracing::error!(tenant = %place.tenant, error = %e, "index state encoder failed"),
    };
    let size = bytes.len();
    match place.storage.write_state(statefile::STATE_FILE, bytes.into()).await {
        Ok(()) => tracing::debug!(
            tenant = %place.tenant,
            entries = count,
            bytes = size,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "persisted index state"
        ),
        Err(e) => tracing::warn!(
            tenant = %place.tenant,
            error = %e,
            "cannot persist index state (the next start rebuilds what it must)"
        ),
    }
}
