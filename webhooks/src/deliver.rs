//! One endpoint's delivery task: its queue in acceptance order, one request at a time (so a
//! chart's events arrive in order), retried with exponential backoff and full jitter until
//! delivered or [`GIVE_UP_AFTER`]; what happened kept for `GET /api/webhooks/deliveries`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chartroom_storage::Storage;
use jiff::Timestamp;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::queue::{self, Item};
use crate::{Endpoint, FIRST_BACKOFF, GIVE_UP_AFTER, MAX_BACKOFF};

/// Attempts kept for the report.
const RECENT: usize = 200;

/// One delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub id: String,
    pub endpoint: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub attempt: u32,
    pub time: Timestamp,
    /// The receiver's status code, if it answered.
    pub status: Option<u16>,
    /// Why it failed (status, timeout, connection), if it did.
    pub error: Option<String>,
    /// `delivered`, `failed` (retried later) or `gave_up`.
    pub outcome: &'static str,
}

/// An event waiting for delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    pub id: String,
    pub endpoint: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub accepted: Timestamp,
    pub attempts: u32,
    #[serde(rename = "lastError")]
    pub last_error: Option<String>,
    #[serde(rename = "nextAttempt")]
    pub next_attempt: Option<Timestamp>,
}

/// What `GET /api/webhooks/deliveries` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every event waiting, oldest first.
    pub pending: Vec<Pending>,
    /// The latest attempts, newest first.
    pub recent: Vec<Attempt>,
}

#[derive(Default)]
pub(crate) struct Reports {
    pending: Mutex<BTreeMap<(Timestamp, String), Pending>>,
    recent: Mutex<VecDeque<Attempt>>,
}

impl Reports {
    /// An event handed to a lane: pending until delivered or given up.
    pub(crate) fn queued(&self, item: &Item) {
        let pending = Pending {
            id: item.id.clone(),
            endpoint: item.endpoint.clone(),
            kind: item.kind.clone(),
            tenant: item.tenant.clone(),
            name: item.name.clone(),
            version: item.version.clone(),
            accepted: item.accepted,
            attempts: 0,
            last_error: None,
            next_attempt: None,
        };
        self.pending.lock().insert((item.accepted, item.id.clone()), pending);
    }

    pub(crate) fn snapshot(&self) -> Report {
        Report {
            pending: self.pending.lock().values().cloned().collect(),
            recent: self.recent.lock().iter().rev().cloned().collect(),
        }
    }

    fn record(&self, attempt: Attempt) {
        let mut recent = self.recent.lock();
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(attempt);
    }
}

pub(crate) struct Lane {
    pub(crate) storage: Storage,
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) client: reqwest::Client,
    pub(crate) report: Arc<Reports>,
    pub(crate) queued: Arc<AtomicUsize>,
    /// Events of this endpoint waiting (its share of `queued`).
    pub(crate) depth: Arc<AtomicUsize>,
}

pub(crate) fn gauge(endpoint: &str, depth: usize) {
    metrics::gauge!("chartroom_webhook_queue_depth", "endpoint" => endpoint.to_owned()).set(depth as f64);
}

impl Lane {
    pub(crate) async fn run(self, mut rx: mpsc::UnboundedReceiver<Item>) {
        while let Some(item) = rx.recv().await {
            self.deliver(&item).await;
            self.report.pending.lock().remove(&(item.accepted, item.id.clone()));
            self.queued.fetch_sub(1, Ordering::Relaxed);
            let depth = self.depth.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
            gauge(&self.endpoint.name, depth);
        }
    }

    /// Tries until delivered or given up, then removes the item from the stored queue.
    async fn deliver(&self, item: &Item) {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.send(item).await;
            let (status, error) = match &result {
                Ok(status) if (200..300).contains(status) => (Some(*status), None),
                Ok(status) => (Some(*status), Some(format!("the receiver answered {status}"))),
                Err(e) => (None, Some(e.clone())),
            };
            let delivered = error.is_none();
            let expired = !delivered
                && Timestamp::now().duration_since(item.accepted).as_secs_f64() > GIVE_UP_AFTER.as_secs_f64();
            let outcome = match (delivered, expired) {
                (true, _) => "delivered",
                (false, true) => "gave_up",
                (false, false) => "failed",
            };
            metrics::counter!("chartroom_webhook_deliveries_total", "endpoint" => self.endpoint.name.clone(),
                "outcome" => outcome)
            .increment(1);
            self.report.record(Attempt {
                id: item.id.clone(),
                endpoint: item.endpoint.clone(),
                kind: item.kind.clone(),
                tenant: item.tenant.clone(),
                name: item.name.clone(),
                version: item.version.clone(),
                attempt,
                time: Timestamp::now(),
                status,
                error: error.clone(),
                outcome,
            });
            if delivered || expired {
                if expired {
                    tracing::error!(id = %item.id, endpoint = %self.endpoint.name, attempts = attempt, error = error.as_deref(),
                        "webhook event not delivered for a day; giving up");
                }
                queue::remove(&self.storage, item).await;
                return;
            }
            let delay = backoff(attempt);
            tracing::warn!(id = %item.id, endpoint = %self.endpoint.name, attempt, error = error.as_deref(),
                retry_in_ms = delay.as_millis() as u64, "webhook delivery failed; will retry");
            if let Some(p) = self.report.pending.lock().get_mut(&(item.accepted, item.id.clone())) {
                p.attempts = attempt;
                p.last_error = error;
                p.next_attempt = Timestamp::now().checked_add(delay).ok();
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One signed POST; the status, or why there was none.
    async fn send(&self, item: &Item) -> Result<u16, String> {
        let timestamp = Timestamp::now().as_second();
        let signature = self.endpoint.secret.sign(&item.id, timestamp, item.body.as_bytes());
        let response = self
            .client
            .post(&self.endpoint.url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("chartroom/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &item.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(item.body.clone())
            .send()
            .await
            .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { format!("request failed: {e}") })?;
        Ok(response.status().as_u16())
    }
}

/// The delay before retry `attempt + 1`: `FIRST_BACKOFF * 2^(attempt-1)` capped at
/// `MAX_BACKOFF`, then a uniformly random point of its upper half (jitter spreads the retries of
/// many events to one receiver).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = doubled.min(MAX_BACKOFF);
    let mut random = [0u8; 8];
    let fraction = match getrandom::fill(&mut random) {
        Ok(()) => (u64::from_le_bytes(random) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    };
    full.mul_f64(0.5 + 0.5 * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempt in 1..=30 {
            let full = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1).min(20)).min(MAX_BACKOFF);
            for _ in 0..20 {
                let d = backoff(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} outside [{:?}, {full:?}]", full / 2);
            }
        }
        let draws: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(draws.len() > 1, "jittered");
    }
}
