//! Small HTTP helpers: conditional requests, content negotiation, query strings.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::extract::Query;
use axum::http::header::{ACCEPT_ENCODING, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use axum::http::{HeaderMap, Uri};

/// Whether the request's validators say the client's copy is current (→ 304).
/// `If-None-Match` wins over `If-Modified-Since` (RFC 9110 §13.2.2); weak comparison.
pub fn not_modified(headers: &HeaderMap, etags: &[&str], last_modified: Option<SystemTime>) -> bool {
    if let Some(inm) = headers.get(IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        return inm.split(',').map(str::trim).any(|tag| {
            tag == "*" || {
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                etags.iter().any(|e| e.strip_prefix("W/").unwrap_or(e) == tag)
            }
        });
    }
    if let (Some(ims), Some(lm)) = (headers.get(IF_MODIFIED_SINCE), last_modified)
        && let Some(since) = ims.to_str().ok().and_then(|s| httpdate::parse_http_date(s).ok())
    {
        return lm <= since;
    }
    false
}

/// Whether the client accepts gzip (`Accept-Encoding: gzip` with a non-zero q-value).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        if !(coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) {
            return false;
        }
        !parts.any(|p| {
            p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")).and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        })
    })
}

/// A request's query parameters, form-decoded (`%XX` escapes and `+`; last value wins); keys
/// without `=` map to "".
pub fn query_map(uri: &Uri) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(uri).map(|q| q.0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.5"));
        assert!(accepts_gzip(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0"));
        assert!(!accepts_gzip(&h));
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        assert!(!accepts_gzip(&h));
    }

    #[test]
    fn conditional() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, &["\"a\""], None));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"b\", W/\"a\""));
        assert!(not_modified(&h, &["\"a\""], None));
        assert!(!not_modified(&h, &["\"c\""], None));
        let mut h = HeaderMap::new();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        h.insert(IF_MODIFIED_SINCE, HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap());
        assert!(not_modified(&h, &[], Some(t)));
        assert!(!not_modified(&h, &[], Some(t + std::time::Duration::from_secs(1))));
    }

    #[test]
    fn decoding() {
        let percent_decode = |s: &str| {
            let uri: Uri = format!("/?k={s}").parse().unwrap();
            query_map(&uri).remove("k").unwrap()
        };
        assert_eq!(percent_decode("%5E1.0"), "^1.0");
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        let query = query_map(&"/api/charts?force&offset=1&offset=2".parse().unwrap());
        assert_eq!((query.get("force"), query.get("offset")), (Some(&String::new()), Some(&"2".to_owned())));
    }
}
