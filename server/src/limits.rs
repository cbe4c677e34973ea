//! Per-client limits (`--rate-limit`, `--rate-limit-burst`, `--max-concurrent-uploads`), keyed by
//! the client's address (the TCP peer: behind a proxy, every client shares the proxy's address,
//! so limits belong on the proxy there).
//!
//! * **Rate**: a token bucket per address, `burst` tokens, refilled at `per_second`; a request
//!   without a token gets 429 with `Retry-After` (whole seconds until the next token).
//! * **Uploads**: at most N `POST`s under `/api/` in progress per address; one more gets 429
//!   with `Retry-After: 1`.
//! * **Memory**: the table holds at most [`MAX_CLIENTS`] addresses. When it is full, addresses
//!   at rest (a full bucket, no upload in progress) are forgotten (they lose nothing); if every
//!   address is busy, the least recently seen ones are. A flood of addresses costs a bounded
//!   table, never unbounded memory.
//!
//! Health, readiness and metrics are never limited (probes and scrapers must see the truth).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use crate::config::{ClientLimits, RateLimit};
use crate::error::{ChartMuseumError, CommonError, OciWireError};
use crate::serve::ClientAddr;

/// Addresses remembered at most.
pub const MAX_CLIENTS: usize = 65_536;

#[derive(Debug)]
struct Client {
    tokens: f64,
    refilled: Instant,
    uploads: usize,
}

/// The per-client table.
#[derive(Debug)]
pub struct Limiter {
    rate: Option<RateLimit>,
    uploads: Option<usize>,
    clients: Mutex<HashMap<IpAddr, Client>>,
    max_clients: usize,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    Rate { retry_after: Duration },
    Uploads,
}

impl Limiter {
    /// `None` when no limit is configured.
    pub fn new(limits: &ClientLimits) -> Option<Arc<Limiter>> {
        (limits.rate.is_some() || limits.concurrent_uploads.is_some()).then(|| {
            Arc::new(Limiter {
                rate: limits.rate,
                uploads: limits.concurrent_uploads,
                clients: Mutex::new(HashMap::new()),
                max_clients: MAX_CLIENTS,
            })
        })
    }

    /// Takes a token (and an upload slot when `upload`), or says why not.
    fn admit(&self, addr: IpAddr, upload: bool, now: Instant) -> Result<(), Refusal> {
        let mut clients = self.clients.lock();
        if !clients.contains_key(&addr) && clients.len() >= self.max_clients {
            self.make_room(&mut clients, now);
        }
        let burst = self.rate.map_or(0.0, |r| r.burst as f64);
        let client = clients.entry(addr).or_insert(Client { tokens: burst, refilled: now, uploads: 0 });
        if let Some(rate) = self.rate {
            let per_second = rate.per_second as f64;
            let elapsed = now.saturating_duration_since(client.refilled).as_secs_f64();
            client.tokens = (client.tokens + elapsed * per_second).min(burst);
            client.refilled = now;
            if client.tokens < 1.0 {
                let wait = (1.0 - client.tokens) / per_second;
                return Err(Refusal::Rate { retry_after: Duration::from_secs_f64(wait) });
            }
        }
        if upload && let Some(max) = self.uploads {
            if client.uploads >= max {
                return Err(Refusal::Uploads);
            }
            client.uploads += 1;
        }
        if self.rate.is_some() {
            client.tokens -= 1.0;
        }
        Ok(())
    }

    fn upload_done(&self, addr: IpAddr) {
        if let Some(client) = self.clients.lock().get_mut(&addr) {
            client.uploads = client.uploads.saturating_sub(1);
        }
    }

    /// Forgets addresses at rest; if none is, the least recently seen quarter of the table.
    fn make_room(&self, clients: &mut HashMap<IpAddr, Client>, now: Instant) {
        let rate = self.rate;
        clients.retain(|_, c| {
            let full = rate.is_none_or(|r| {
                let elapsed = now.saturating_duration_since(c.refilled).as_secs_f64();
                c.tokens + elapsed * r.per_second as f64 >= r.burst as f64
            });
            !(full && c.uploads == 0)
        });
        if clients.len() >= self.max_clients {
            let mut seen: Vec<(Instant, IpAddr)> = clients.iter().map(|(a, c)| (c.refilled, *a)).collect();
            seen.sort_unstable();
            for (_, addr) in seen.into_iter().take(self.max_clients / 4 + 1) {
                clients.remove(&addr);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().len()
    }
}

fn exempt(path: &str) -> bool {
    path.ends_with("/health") || path.ends_with("/health/ready") || path == "/metrics"
}

/// A chart or provenance upload (`POST .../api/...`), or a request that sends a blob or a
/// manifest to the OCI distribution API (`POST`, `PATCH`, `PUT` under `/v2/`).
fn is_upload(req: &Request) -> bool {
    let path = req.uri().path();
    match *req.method() {
        Method::POST => path.contains("/api/") || path.contains("/v2/"),
        Method::PATCH | Method::PUT => path.contains("/v2/"),
        _ => false,
    }
}

/// Gives the upload slot back when the request ends (answered, failed or cancelled).
struct UploadSlot {
    limiter: Arc<Limiter>,
    addr: IpAddr,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.limiter.upload_done(self.addr);
    }
}

/// Whether `path` belongs to the distribution API (`/v2/…`, at the root or under the context
/// path), whose clients expect its own error body.
fn is_distribution_path(path: &str, context_path: &str) -> bool {
    let under = |p: &str| p == "/v2" || p.starts_with("/v2/");
    under(path) || (!context_path.is_empty() && path.strip_prefix(context_path).is_some_and(under))
}

pub async fn limit(limiter: Arc<Limiter>, context_path: Arc<str>, req: Request, next: Next) -> Response {
    let Some(ClientAddr(peer)) = req.extensions().get::<ClientAddr>().copied() else {
        return next.run(req).await;
    };
    if exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let addr = peer.ip();
    let upload = is_upload(&req) && limiter.uploads.is_some();
    match limiter.admit(addr, upload, Instant::now()) {
        Ok(()) => {
            let _slot = upload.then(|| UploadSlot { limiter: Arc::clone(&limiter), addr });
            next.run(req).await
        }
        Err(refusal) => {
            let (reason, retry_after, error) = match refusal {
                Refusal::Rate { retry_after } => {
                    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    ("rate", secs.max(1), CommonError::RateLimited)
                }
                Refusal::Uploads => ("uploads", 1, CommonError::TooManyUploads),
            };
            metrics::counter!("chartroom_http_rejected_total", "reason" => reason).increment(1);
            let mut response = if is_distribution_path(req.uri().path(), &context_path) {
                OciWireError::from(error).into_response()
            } else {
                ChartMuseumError::from(error).into_response()
            };
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_paths_at_the_root_and_under_the_context_path() {
        assert!(is_distribution_path("/v2/", ""));
        assert!(is_distribution_path("/v2", ""));
        assert!(is_distribution_path("/v2/team/demo/blobs/uploads/", "/charts"));
        assert!(is_distribution_path("/charts/v2/demo/tags/list", "/charts"));
        assert!(!is_distribution_path("/charts/v2/demo/tags/list", ""));
        assert!(!is_distribution_path("/v2x/index.yaml", ""));
        assert!(!is_distribution_path("/api/charts", "/charts"));
    }

    fn limiter(rate: Option<(u64, u64)>, uploads: Option<usize>, max_clients: usize) -> Limiter {
        Limiter {
            rate: rate.map(|(per_second, burst)| RateLimit { per_second, burst }),
            uploads,
            clients: Mutex::new(HashMap::new()),
            max_clients,
        }
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn a_bucket_empties_then_refills_at_the_rate() {
        let l = limiter(Some((2, 3)), None, 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.admit(ip(1), false, t0), Ok(()));
        }
        let Err(Refusal::Rate { retry_after }) = l.admit(ip(1), false, t0) else { panic!("the burst is spent") };
        assert_eq!(retry_after, Duration::from_millis(500), "one token every 1/2 s");
        assert_eq!(l.admit(ip(2), false, t0), Ok(()), "another address has its own bucket");
        assert!(l.admit(ip(1), false, t0 + Duration::from_millis(400)).is_err());
        assert_eq!(l.admit(ip(1), false, t0 + Duration::from_millis(500)), Ok(()), "refilled");
        assert_eq!(l.admit(ip(1), false, t0 + Duration::from_secs(60)), Ok(()));
        for _ in 0..2 {
            assert_eq!(l.admit(ip(1), false, t0 + Duration::from_secs(60)), Ok(()), "never more than the burst");
        }
        assert!(l.admit(ip(1), false, t0 + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn uploads_in_progress_are_bounded_per_address() {
        let l = limiter(None, Some(2), 10);
        let t0 = Instant::now();
        assert_eq!(l.admit(ip(1), true, t0), Ok(()));
        assert_eq!(l.admit(ip(1), true, t0), Ok(()));
        assert_eq!(l.admit(ip(1), true, t0), Err(Refusal::Uploads));
        assert_eq!(l.admit(ip(1), false, t0), Ok(()), "reads are not uploads");
        assert_eq!(l.admit(ip(2), true, t0), Ok(()));
        l.upload_done(ip(1));
        assert_eq!(l.admit(ip(1), true, t0), Ok(()));
    }

    #[test]
    fn the_table_stays_bounded_whatever_the_number_of_addresses() {
        let l = limiter(Some((1, 1)), None, 100);
        let t0 = Instant::now();
        for n in 0..10_000 {
            let _ = l.admit(ip(n), false, t0);
            assert!(l.len() <= 100, "{} addresses remembered", l.len());
        }
        // An address at rest is forgotten first; a busy one is kept while others are at rest.
        let l = limiter(Some((1, 1)), None, 2);
        assert_eq!(l.admit(ip(1), false, t0), Ok(()));
        let later = t0 + Duration::from_secs(5);
        assert_eq!(l.admit(ip(2), false, later), Ok(()));
        assert_eq!(l.admit(ip(3), false, later), Ok(()), "ip 1 is at rest again and makes room");
        assert!(l.admit(ip(2), false, later).is_err(), "ip 2 was kept, its bucket still empty");
    }
}
