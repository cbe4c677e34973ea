//! The audit log: one JSON line per chart write and per refused or denied write, to a file
//! (appended) or stdout (`--audit-log`), apart from the request log.
//!
//! Written at the edge, around the gate, so that every way a chart enters or leaves is covered
//! the same way: the chart API's uploads (raw, multipart, `helm cm-push`), `POST /api/prov`,
//! deletes, `POST /api/retention` (one line per version it removed), and the distribution API's
//! manifest pushes and deletes. A version retention removes after an upload gets a `retention`
//! line of its own after the upload's. The gate marks a request as a write as soon as its route is
//! known ([`RequestLabels::set_write`]), before authentication, so a 401 or 403 is recorded
//! too; a handler that changed a chart says which one in its response's extensions
//! ([`Written`]). A line holds: `time`, `action` (`push`, `delete`, `retention`), `method`,
//! `route` (the template), `identity` (null when no valid credentials came), `source` (the TCP
//! peer), `tenant` (`""` is the root), `chart`, `version`, `digest` (null when the server did not
//! get that far: a denied upload is never read), `status` and `outcome` (`allowed` for 2xx,
//! `denied` for 401/403, `refused` for other 4xx and 507, `failed` for other 5xx).

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use chartroom_index::RetentionOutcome;
use parking_lot::Mutex;
use serde::Serialize;

use crate::config::AuditTarget;
use crate::request_info::RequestLabels;
use crate::serve::ClientAddr;

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

/// The chart version a write changed, for its audit line (a response extension).
#[derive(Debug, Clone, Default)]
pub(crate) struct Written {
    pub chart: String,
    pub version: Option<String>,
    pub digest: Option<String>,
    /// Other versions of the chart retention removed after this upload: a `retention` line each.
    pub pruned: Vec<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    action: &'a str,
    method: &'a str,
    route: &'a str,
    identity: Option<&'a str>,
    source: Option<String>,
    tenant: &'a str,
    chart: Option<&'a str>,
    version: Option<&'a str>,
    digest: Option<&'a str>,
    status: u16,
    outcome: &'static str,
}

impl AuditLog {
    /// Opens the target (a file is created if needed and appended to).
    pub fn open(target: &AuditTarget) -> std::io::Result<AuditLog> {
        let out: Box<dyn Write + Send> = match target {
            AuditTarget::Stdout => Box::new(std::io::stdout()),
            AuditTarget::File(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        };
        Ok(AuditLog { out: Mutex::new(out) })
    }

    /// One line, written whole and flushed (a line is small; the lock keeps lines apart).
    fn write(&self, line: &Line<'_>) {
        let Ok(mut text) = serde_json::to_vec(line) else { return };
        text.push(b'\n');
        let mut out = self.out.lock();
        if let Err(e) = out.write_all(&text).and_then(|()| out.flush()) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

/// Puts what a write changed into its response, for the audit line.
pub(crate) fn written(mut response: Response, chart: &str, version: Option<&str>, digest: Option<&str>) -> Response {
    let facts = Written {
        chart: chart.to_owned(),
        version: version.map(str::to_owned),
        digest: digest.map(str::to_owned),
        pruned: Vec::new(),
    };
    response.extensions_mut().insert(facts);
    response
}

/// Adds the versions retention removed after an upload to its [`written`] facts.
pub(crate) fn pruned(mut response: Response, versions: &[String]) -> Response {
    if let Some(facts) = response.extensions_mut().get_mut::<Written>() {
        facts.pruned = versions.to_vec();
    }
    response
}

fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "allowed",
        401 | 403 => "denied",
        400..=499 | 507 => "refused",
        _ => "failed",
    }
}

/// The middleware: runs the request, then writes its line if the gate marked it as a write.
pub(crate) async fn audit(log: Arc<AuditLog>, req: Request, next: Next) -> Response {
    let labels = req.extensions().get::<RequestLabels>().cloned();
    let source = req.extensions().get::<ClientAddr>().map(|ClientAddr(addr)| addr.to_string());
    let method = req.method().clone();
    let response = next.run(req).await;
    let Some(labels) = labels else { return response };
    let Some(action) = labels.write() else { return response };
    let (route, tenant, identity) = (labels.route(), labels.tenant().unwrap_or_default(), labels.identity());
    let status = response.status();
    let line = |chart: Option<&str>, version: Option<&str>, digest: Option<&str>, action: &str| {
        log.write(&Line {
            time: jiff::Timestamp::now().to_string(),
            action,
            method: method.as_str(),
            route: &route,
            identity: identity.as_deref(),
            source: source.clone(),
            tenant: &tenant,
            chart,
            version,
            digest,
            status: status.as_u16(),
            outcome: outcome(status),
        })
    };
    match (response.extensions().get::<RetentionOutcome>(), response.extensions().get::<Written>()) {
        (Some(pruned), _) if !pruned.removed.is_empty() => {
            for removed in &pruned.removed {
                line(Some(&removed.name), Some(&removed.version), None, action);
            }
        }
        (_, Some(w)) => {
            line(Some(&w.chart), w.version.as_deref(), w.digest.as_deref(), action);
            for version in &w.pruned {
                line(Some(&w.chart), Some(version), None, "retention");
            }
        }
        _ => line(None, None, None, action),
    }
    response
}
