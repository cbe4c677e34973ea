//! `GET /api/events?since=<cursor>[&tenant=…][&wait=30s][&limit=N]`: the change feed
//! (`chartroom_index::Repository::changes`) as JSON, filtered to the tenants the caller may pull
//! from, with a long poll. `GET /api/webhooks/deliveries`: the webhooks' report, likewise
//! filtered.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use chartroom_auth::{Action, Decision, Identity, Reason};
use chartroom_index::{Cursor, FeedOp, FeedPage, Tenant};
use serde_json::json;
use tokio::time::Instant;

use crate::AppState;
use crate::config::go_duration::parse_go_duration;
use crate::error::ChartMuseumError;
use crate::handlers::json_response;
use crate::http_util::query_map;

/// The longest `wait` honoured (a longer one is shortened, not refused).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Records per answer unless `limit` says otherwise, and the most `limit` may ask for.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// While waiting, the feed is read again at least this often (a missed signal costs no more).
const RECHECK: Duration = Duration::from_secs(1);

pub async fn events(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    uri: Uri,
) -> Result<Response, ChartMuseumError> {
    let query = query_map(&uri);
    let mut since = query.get("since").filter(|s| !s.is_empty()).map(|s| s.parse::<Cursor>()).transpose()?;
    let wait = match query.get("wait") {
        None => Duration::ZERO,
        Some(raw) => parse_go_duration(raw)
            .map_err(|e| ChartMuseumError::InvalidEventsQuery(format!("wait: {e}")))?
            .min(MAX_WAIT),
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ChartMuseumError::InvalidEventsQuery(format!("limit: expected 1 to {MAX_LIMIT}")))?,
    };
    let authorizer = state.auth().authorizer();
    let only = match query.get("tenant") {
        None => None,
        Some(raw) => {
            let tenant = Tenant::parse(raw).map_err(ChartMuseumError::InvalidTenant)?;
            match authorizer.allowed(&identity, tenant.as_str(), Action::Pull) {
                Decision::Allow => {}
                Decision::Unauthenticated => {
                    return Err(ChartMuseumError::Unauthorized {
                        reason: Reason::MissingCredentials,
                        challenge: authorizer.challenge(tenant.as_str(), Action::Pull),
                    });
                }
                Decision::Forbidden => {
                    return Err(ChartMuseumError::Forbidden {
                        identity: identity.name().to_owned(),
                        action: Action::Pull,
                        tenant,
                    });
                }
            }
            Some(tenant.as_str().to_owned())
        }
    };
    let mut allowed: HashMap<String, bool> = HashMap::new();
    let mut visible = |tenant: &str| match &only {
        Some(only) => only == tenant,
        None => *allowed
            .entry(tenant.to_owned())
            .or_insert_with(|| authorizer.allowed(&identity, tenant, Action::Pull).is_allowed()),
    };
    let deadline = Instant::now() + wait;
    let repo = state.repo();
    let mut signal = repo.feed_signal();
    loop {
        signal.borrow_and_update();
        let page = repo.changes(since.as_ref(), limit).await?;
        let events = render(&page, &mut visible);
        let now = Instant::now();
        if !events.is_empty() || now >= deadline {
            let body = json!({ "events": events, "next": page.next.to_string() });
            return Ok(json_response(&Method::GET, body.to_string()));
        }
        // Nothing the caller may see yet: wait from the new cursor (filtered records are passed).
        since = Some(page.next);
        let pause = if page.pending { chartroom_index::FEED_SETTLE / 2 } else { RECHECK };
        let until = deadline.min(now + pause);
        if page.pending {
            tokio::time::sleep_until(until).await;
        } else {
            let _ = tokio::time::timeout_at(until, signal.changed()).await;
        }
    }
}

fn render(page: &FeedPage, visible: &mut impl FnMut(&str) -> bool) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for record in &page.records {
        for change in record.changes.iter().filter(|c| visible(&c.tenant)) {
            let op = match change.op {
                FeedOp::Put => "put",
                FeedOp::Delete => "delete",
            };
            let mut event = json!({
                "op": op,
                "tenant": change.tenant,
                "name": change.name,
                "version": change.version,
                "file": change.file,
                "time": record.time.to_string(),
                "replica": record.replica,
                "seq": record.seq,
            });
            if let Some(digest) = &change.digest {
                event["digest"] = digest.as_str().into();
            }
            out.push(event);
        }
    }
    out
}

/// `GET /api/webhooks/deliveries`: what waits for delivery and the latest attempts, for the
/// tenants the caller may pull from (whoever may read a tenant's charts may see that its events
/// are delivered; the endpoints' secrets are never shown). 404 without webhooks.
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Response, ChartMuseumError> {
    let Some(webhooks) = state.webhooks() else { return Err(ChartMuseumError::RouteNotFound) };
    let authorizer = state.auth().authorizer();
    let mut allowed: HashMap<String, bool> = HashMap::new();
    let mut visible = |tenant: &str| {
        *allowed
            .entry(tenant.to_owned())
            .or_insert_with(|| authorizer.allowed(&identity, tenant, Action::Pull).is_allowed())
    };
    let mut report = webhooks.report();
    report.pending.retain(|p| visible(&p.tenant));
    report.recent.retain(|a| visible(&a.tenant));
    let endpoints: Vec<serde_json::Value> =
        webhooks.endpoints().iter().map(|e| json!({ "name": e.name, "url": e.url })).collect();
    let body = json!({ "endpoints": endpoints, "pending": report.pending, "recent": report.recent });
    Ok(json_response(&Method::GET, body.to_string()))
}
