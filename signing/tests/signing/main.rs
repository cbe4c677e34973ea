//! Integration tests of `chartroom-signing` with real keys made by GnuPG in the test, and real
//! Helm 3.17 / 4.1 signing and verifying (`support.rs` finds the tools; a missing one fails).
//!
//! * `interop`: our `.prov` files pass `helm verify` and `gpg --verify`; `helm package --sign`
//!   files pass ours; keyrings in every format GnuPG writes.
//! * `refusals`: tampered chart or provenance, unknown, expired and revoked keys, another
//!   chart's provenance, passphrases.

mod interop;
mod refusals;
mod support;

use chartroom_signing::{ChartDigest, ExpectedChart};
use jiff::Timestamp;

use crate::support::Chart;

/// What `verify` must be told about a packaged chart.
pub fn expected(chart: &Chart) -> (String, ChartDigest) {
    (chart.file_name(), ChartDigest::of(&chart.bytes))
}

pub fn expected_chart<'a>(chart: &'a Chart, file_name: &'a str, digest: ChartDigest) -> ExpectedChart<'a> {
    ExpectedChart { file_name, name: &chart.name, version: &chart.version, digest }
}

pub fn now() -> Timestamp {
    Timestamp::now()
}

/// The key id of a v4 fingerprint: its last 16 hex digits.
pub fn key_id(fingerprint: &str) -> String {
    fingerprint[fingerprint.len() - 16..].to_owned()
}
