//! One log line and the request metrics per request, written when the response body has been
//! sent (so `bytes` and `duration` are the real ones, downloads included).
//!
//! The line carries the request id (the client's `X-Request-Id` when it is a safe token,
//! `[A-Za-z0-9._-]{1,128}`, else a generated one; echoed in the response), the method, the route
//! template, the tenant, the identity, the status, the body bytes and the duration. Headers are
//! never logged (no `Authorization`, no tokens), and no raw path either: the route template says
//! which route answered.
//!
//! The route template, tenant and identity come from the request's [`RequestLabels`]
//! (`request_info.rs` says who fills them in). A request no route matched is logged and
//! counted under the one template `unmatched`, so random paths add no series.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::request_info::RequestLabels;

/// `route_layer` middleware: the matched route's template, from axum's `MatchedPath`.
pub async fn record_route(context_path: Arc<str>, req: Request, next: Next) -> Response {
    if let (Some(labels), Some(matched)) =
        (req.extensions().get::<RequestLabels>(), req.extensions().get::<MatchedPath>())
    {
        labels.set_route(cached_template(matched.as_str(), &context_path));
    }
    next.run(req).await
}

/// [`chartmuseum_template`], computed once per route: matched paths are the route table's
/// patterns (a handful), never a request's path.
fn cached_template(matched: &str, context_path: &str) -> Arc<str> {
    static CACHE: std::sync::OnceLock<parking_lot::RwLock<std::collections::HashMap<String, Arc<str>>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(template) = cache.read().get(matched) {
        return Arc::clone(template);
    }
    let template: Arc<str> = Arc::from(chartmuseum_template(matched, context_path));
    cache.write().insert(matched.to_owned(), Arc::clone(&template));
    template
}

/// `/ctx/api/charts/{name}` → `/api/charts/:name`.
fn chartmuseum_template(matched: &str, context_path: &str) -> String {
    let path = matched.strip_prefix(context_path).filter(|p| p.starts_with('/') || p.is_empty()).unwrap_or(matched);
    let path = if path.is_empty() { "/" } else { path };
    path.split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => format!(":{}", param.trim_start_matches('*')),
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a client's request id can be logged and echoed as it is.
fn safe_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{:08x}", std::process::id(), n)
}

/// The methods counted by name; anything else is `other` (a label never takes a client's word).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The outermost middleware: request id, labels, and the log line and metrics once the body
/// has been sent.
pub async fn access_log(log_health: bool, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| safe_request_id(v))
        .map_or_else(new_request_id, str::to_owned);
    let labels = RequestLabels::default();
    req.extensions_mut().insert(labels.clone());
    let method = req.method().clone();
    let path = req.uri().path();
    let quiet = !log_health && (path.ends_with("/health") || path.ends_with("/health/ready"));
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response.extensions_mut().insert(labels.clone());
    // A body with a declared length is complete once that many bytes went out: hyper stops
    // polling a streamed body there and drops it without ever seeing its end.
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let record = Record { id, method, status: response.status(), labels, started, quiet, bytes: 0, declared };
    response.map(|inner| Body::new(LoggedBody { inner, record: Some(record) }))
}

struct Record {
    id: String,
    method: Method,
    status: StatusCode,
    labels: RequestLabels,
    started: Instant,
    quiet: bool,
    bytes: u64,
    /// The response's `Content-Length`, when it has one.
    declared: Option<u64>,
}

impl Record {
    fn finish(self, complete: bool) {
        let elapsed = self.started.elapsed();
        let route = self.labels.route();
        let method = method_label(&self.method);
        if crate::metrics::enabled() {
            let code = self.status.as_u16().to_string();
            let url = route.to_string();
            metrics::counter!("chartmuseum_requests_total", "code" => code.clone(), "method" => method, "url" => url.clone())
                .increment(1);
            metrics::histogram!("chartmuseum_request_duration_seconds", "code" => code, "method" => method, "url" => url)
                .record(elapsed.as_secs_f64());
        }
        if self.quiet {
            return;
        }
        let tenant = self.labels.tenant().unwrap_or_default();
        let identity = self.labels.identity().unwrap_or_default();
        let (tenant, identity) = (tenant.as_str(), identity.as_str());
        let status = self.status.as_u16();
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let bytes = self.bytes;
        let id = self.id.as_str();
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    request_id = id, method, route = %route, tenant, identity, status, bytes, duration_ms, complete,
                    "request served"
                )
            };
        }
        if status >= 500 {
            line!(error);
        } else if status >= 400 && status != 404 {
            line!(warn);
        } else {
            line!(info);
        }
    }
}

/// A response body that counts its bytes and finishes its [`Record`] when it ends or is dropped.
struct LoggedBody {
    inner: Body,
    record: Option<Record>,
}

impl hyper::body::Body for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(record)) = (frame.data_ref(), self.record.as_mut()) {
                    record.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(record) = self.record.take() {
                    record.finish(true);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            // An empty body is complete without ever being polled (HEAD, 304, 204).
            let complete = hyper::body::Body::is_end_stream(&self.inner) || record.declared == Some(record.bytes);
            record.finish(complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_follow_chartmuseum() {
        assert_eq!(chartmuseum_template("/api/charts/{name}/{version}", ""), "/api/charts/:name/:version");
        assert_eq!(chartmuseum_template("/x/y/charts/{file}", "/x/y"), "/charts/:file");
        assert_eq!(chartmuseum_template("/x/y/", "/x/y"), "/");
        assert_eq!(chartmuseum_template("/x/y", "/x/y"), "/");
        assert_eq!(chartmuseum_template("/metrics", "/x"), "/metrics");
        assert_eq!(chartmuseum_template("/static/{*path}", ""), "/static/:path");
    }

    #[test]
    fn request_ids_from_clients_are_safe_tokens_only() {
        for ok in ["abc", "A-1.b_2", &"x".repeat(128), "0193e0c4-5d8e-7bd1-9c2e-1d3f4a5b6c7d"] {
            assert!(safe_request_id(ok), "{ok}");
        }
        for bad in ["", "a b", "x\" level=error msg=\"forged", "a\nb", "é", &"x".repeat(129), "a=b", "a/b"] {
            assert!(!safe_request_id(bad), "{bad:?}");
        }
        assert!(safe_request_id(&new_request_id()));
    }
}
