//! Chart events (`chart.pushed`, `chart.overwritten`, `chart.deleted`) handed to a sink (the
//! webhooks) by the write path (`publish`), once a change is committed: stored, indexed and
//! announced in the change log. Refused writes produce none. Deletions by any caller (the API,
//! OCI, retention) go through `unpublish`, so they are events too.
//!
//! Who made the change travels as an [`Actor`]-like name set on the handle
//! ([`Repository::acting_as`]), so the write operations keep their signatures.

use std::sync::Arc;

use futures::future::BoxFuture;
use jiff::Timestamp;

use crate::repo::Repository;
use crate::tenant::Tenant;
use crate::tenants::Place;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A version stored that did not exist.
    Pushed,
    /// A version replaced (`?force`, `--allow-overwrite`).
    Overwritten,
    /// A version deleted.
    Deleted,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [EventKind::Pushed, EventKind::Overwritten, EventKind::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Pushed => "chart.pushed",
            EventKind::Overwritten => "chart.overwritten",
            EventKind::Deleted => "chart.deleted",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One committed change of one chart version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartEvent {
    pub kind: EventKind,
    pub tenant: Tenant,
    pub name: String,
    pub version: String,
    /// The archive's SHA-256 (hex): the stored bytes, or for a delete the deleted ones (empty
    /// when the deleted version was not indexed here).
    pub digest: String,
    /// The chart's URLs as the index lists them.
    pub urls: Vec<String>,
    /// Who made the change (`Identity::name`), when the caller said.
    pub identity: Option<String>,
    pub time: Timestamp,
}

/// Where events go. `accept` must be cheap (it runs before the write's answer): record the event
/// durably and return; delivery happens elsewhere.
pub trait EventSink: Send + Sync + 'static {
    fn accept(&self, event: ChartEvent) -> BoxFuture<'_, ()>;
}

impl Repository {
    /// Hands every committed change from now on to `sink` (once; a second sink is ignored).
    pub fn set_event_sink(&self, sink: Arc<dyn EventSink>) {
        if self.shared.events.set(sink).is_err() {
            tracing::warn!("an event sink is already set; ignoring another");
        }
    }

    /// This handle, with the writes it makes attributed to `identity` in events.
    pub fn acting_as(&self, identity: &str) -> Repository {
        let mut repo = self.clone();
        repo.actor = Some(Arc::from(identity));
        repo
    }

    /// Hands one committed change to the sink, if any.
    pub(crate) async fn emit(
        &self,
        kind: EventKind,
        place: &Place,
        name: &str,
        version: &str,
        digest: &str,
        file: &str,
    ) {
        let Some(sink) = self.shared.events.get() else { return };
        let event = ChartEvent {
            kind,
            tenant: place.tenant.clone(),
            name: name.to_owned(),
            version: version.to_owned(),
            digest: digest.to_owned(),
            urls: vec![crate::entry::chart_url(&place.render, file)],
            identity: self.actor.as_deref().map(str::to_owned),
            time: Timestamp::now(),
        };
        sink.accept(event).await;
    }
}
