//! CORS (`--cors-alloworigin`): browsers may read the API, the index and chart files from the
//! allowed origins. ChartMuseum only adds `Access-Control-Allow-Origin` to API responses and
//! answers no preflight; here both follow the Fetch standard (fetch.spec.whatwg.org, "CORS
//! protocol"):
//!
//! * **Preflight**: an `OPTIONS` request with `Origin` and `Access-Control-Request-Method` is
//!   answered here, 204, with `Access-Control-Allow-Origin` (the origin, or `*`),
//!   `Access-Control-Allow-Methods` and `Access-Control-Allow-Headers` (listed by name: a `*`
//!   would not cover `Authorization`), `Access-Control-Max-Age`. An origin not allowed gets a
//!   403 without CORS headers, so the browser refuses the request.
//! * **Other requests** from an allowed origin get `Access-Control-Allow-Origin` and
//!   `Access-Control-Expose-Headers` (ETag, Last-Modified, X-Request-Id, Retry-After), errors
//!   included (a browser can then read why). With a list of origins, responses vary by `Origin`.
//! * No `Access-Control-Allow-Credentials`: cookies play no part here; clients send
//!   `Authorization` themselves.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::AllowedOrigins;
use crate::error::{ChartMuseumError, CommonError};

const ALLOW_METHODS: &str = "GET, HEAD, POST, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type, if-none-match, if-modified-since, x-request-id";
const EXPOSE_HEADERS: &str = "etag, last-modified, x-request-id, retry-after";
const MAX_AGE: &str = "600";

/// The value of `Access-Control-Allow-Origin` for a request from `origin`, if it is allowed.
fn allow_origin(allowed: &AllowedOrigins, origin: &str) -> Option<HeaderValue> {
    match allowed {
        AllowedOrigins::Any => Some(HeaderValue::from_static("*")),
        AllowedOrigins::List(list) => {
            let origin = origin.trim_end_matches('/').to_ascii_lowercase();
            list.contains(&origin).then(|| HeaderValue::from_str(&origin).ok()).flatten()
        }
    }
}

fn add_vary(headers: &mut HeaderMap, value: &'static str) {
    headers.append(header::VARY, HeaderValue::from_static(value));
}

pub async fn cors(allowed: Arc<AllowedOrigins>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let listed = matches!(*allowed, AllowedOrigins::List(_));
    match (origin, preflight) {
        (Some(origin), true) => {
            let Some(allow) = allow_origin(&allowed, &origin) else {
                return ChartMuseumError::from(CommonError::OriginNotAllowed(origin)).into_response();
            };
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
            if listed {
                add_vary(h, "origin");
            }
            add_vary(h, "access-control-request-method");
            add_vary(h, "access-control-request-headers");
            response
        }
        (origin, _) => {
            let mut response = next.run(req).await;
            let h = response.headers_mut();
            if let Some(allow) = origin.as_deref().and_then(|o| allow_origin(&allowed, o)) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
            }
            if listed {
                add_vary(h, "origin");
            }
            response
        }
    }
}
