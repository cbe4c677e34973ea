//! The HTTP clients of the tests and benchmarks (no proxy: everything is on loopback). Apart
//! from `http` (requests and responses against a server) so that `server`, which starts the
//! process and waits for it, need not depend on `http`, which extends `Server`.

use std::time::Duration;

/// A client that ignores proxy settings (everything is on loopback) and gives up after 120 s.
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build().expect("reqwest client")
}

/// The benchmarks' load generator: like [`new_client`], keeping up to 64 idle connections per
/// server (so concurrent clients reuse them) and giving up after 30 s.
pub fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}
