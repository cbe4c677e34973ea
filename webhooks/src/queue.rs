//! The persisted queue: one object per (event, endpoint) under
//! `.chartroom/webhooks/<replica>/<seq>-<endpoint>.json`, written before the write's answer and
//! deleted once delivered; each replica's `alive` mark; adoption of folders left by replicas that
//! are gone (see the crate comment).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use chartroom_index::ChartEvent;
use chartroom_storage::{Storage, StorageError};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{ADOPT_AFTER, HEARTBEAT, Webhooks};

/// The journal folder under `.chartroom/`.
pub(crate) const FOLDER: &str = "webhooks";
/// A replica's liveness mark in its folder.
pub(crate) const ALIVE: &str = "alive";

/// One event for one endpoint, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    /// `webhook-id`: `msg_<replica>_<seq>_<endpoint>`, the same for every attempt.
    pub id: String,
    /// The folder (replica) and object name it is stored under.
    pub owner: String,
    pub object: String,
    pub endpoint: String,
    pub kind: String,
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub accepted: Timestamp,
    /// The request body, fixed at acceptance: every attempt sends the same bytes.
    pub body: String,
}

impl Item {
    pub(crate) fn new(replica: &str, seq: u64, endpoint: &str, event: &ChartEvent) -> Item {
        let body = serde_json::json!({
            "type": event.kind.as_str(),
            "timestamp": event.time.to_string(),
            "data": {
                "tenant": event.tenant.as_str(),
                "name": event.name,
                "version": event.version,
                "digest": event.digest,
                "urls": event.urls,
                "identity": event.identity,
                "time": event.time.to_string(),
            },
        });
        Item {
            id: format!("msg_{replica}_{seq}_{endpoint}"),
            owner: replica.to_owned(),
            object: format!("{seq:020}-{endpoint}.json"),
            endpoint: endpoint.to_owned(),
            kind: event.kind.as_str().to_owned(),
            tenant: event.tenant.as_str().to_owned(),
            name: event.name.clone(),
            version: event.version.clone(),
            accepted: event.time,
            body: body.to_string(),
        }
    }
}

pub(crate) async fn persist(storage: &Storage, item: &Item) -> Result<(), String> {
    let bytes = serde_json::to_vec(item).map_err(|e| e.to_string())?;
    storage.put_journal(FOLDER, &item.owner, &item.object, bytes.into()).await.map_err(|e| e.to_string())
}

pub(crate) async fn remove(storage: &Storage, item: &Item) {
    if let Err(e) = storage.delete_journal(FOLDER, &item.owner, &item.object).await {
        // Delivered again after a restart: at least once.
        tracing::warn!(id = %item.id, error = %e, "cannot remove a delivered webhook event from the queue");
    }
}

/// Refreshes this replica's `alive` mark and adopts the folders of replicas that are gone, every
/// [`HEARTBEAT`] (the first time at once: a restarted process adopts what it left).
pub(crate) async fn keep_alive_and_adopt(hooks: Arc<Webhooks>) {
    let mut adopted: HashSet<(String, String)> = HashSet::new();
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let now = Timestamp::now().to_string();
        if let Err(e) = hooks.storage.put_journal(FOLDER, &hooks.replica, ALIVE, now.into_bytes().into()).await {
            tracing::warn!(error = %e, "cannot mark this replica's webhook queue alive");
        }
        if let Err(e) = adopt(&hooks, &mut adopted).await {
            tracing::warn!(error = %e, "cannot look for webhook events left by other replicas");
        }
    }
}

async fn adopt(hooks: &Webhooks, adopted: &mut HashSet<(String, String)>) -> Result<(), StorageError> {
    let listed = hooks.storage.list_journal(FOLDER).await?;
    let mut folders: BTreeMap<String, (Option<SystemTime>, Vec<String>)> = BTreeMap::new();
    for (owner, name, modified) in listed {
        if owner == hooks.replica {
            continue;
        }
        let folder = folders.entry(owner).or_default();
        if name == ALIVE {
            folder.0 = Some(modified);
        } else if name.ends_with(".json") {
            folder.1.push(name);
        }
    }
    let now = SystemTime::now();
    let mut items = Vec::new();
    for (owner, (alive, names)) in folders {
        let gone = alive.is_none_or(|at| now.duration_since(at).unwrap_or_default() > ADOPT_AFTER);
        if !gone {
            continue;
        }
        for name in names {
            if !adopted.insert((owner.clone(), name.clone())) {
                continue;
            }
            let Some(bytes) = hooks.storage.get_journal(FOLDER, &owner, &name).await? else { continue };
            match serde_json::from_slice::<Item>(&bytes) {
                Ok(item) => items.push(item),
                Err(e) => tracing::warn!(%owner, %name, error = %e, "skipping an unreadable webhook queue object"),
            }
        }
    }
    // Oldest first: a chart's events keep their order.
    items.sort_by(|a, b| (a.accepted, &a.owner, &a.object).cmp(&(b.accepted, &b.owner, &b.object)));
    if !items.is_empty() {
        tracing::info!(events = items.len(), "adopted webhook events left by a replica that is gone");
    }
    for item in items {
        if hooks.endpoints.iter().any(|e| e.name == item.endpoint) {
            hooks.queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            hooks.dispatch(item);
        } else {
            tracing::warn!(id = %item.id, endpoint = %item.endpoint, "dropping a queued webhook event for an endpoint no longer configured");
            remove(&hooks.storage, &item).await;
        }
    }
    Ok(())
}
