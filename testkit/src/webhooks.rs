//! A webhook receiver: `tests/webhooks/receiver.py`, which verifies every request with the
//! Standard Webhooks reference library (PyPI `standardwebhooks` 1.1.0 in `.tools/webhooks-py`,
//! run as `.tools/bin/webhooks-python`, or `CHARTROOM_WEBHOOKS_PYTHON`; a missing interpreter
//! fails). Used by the end-to-end `webhooks` module and the `webhooks` benchmark.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::data::eventually;
use crate::process::Process;

/// 24 bytes, base64: the secret of the Standard Webhooks libraries' own tests.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct WebhookReceiver {
    _process: Process,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl WebhookReceiver {
    /// The receiver on loopback `port`, checking signatures made with [`WEBHOOK_SECRET`]: 500 to
    /// the first `fail_first` requests, 204 after; each answer after `sleep` seconds.
    pub async fn start(port: u16, fail_first: u32, sleep: f64) -> WebhookReceiver {
        let python = crate::tools::tool(
            "CHARTROOM_WEBHOOKS_PYTHON",
            "webhooks-python",
            "Python with the standardwebhooks package 1.1.0",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("requests.jsonl");
        let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/webhooks/receiver.py"));
        let mut cmd = std::process::Command::new(python);
        cmd.arg(script)
            .args(["--port", &port.to_string(), "--secret", WEBHOOK_SECRET, "--log"])
            .arg(&log)
            .args(["--fail-first", &fail_first.to_string(), "--sleep", &sleep.to_string()])
            .stdout(std::process::Stdio::null());
        let process = Process::spawn(&mut cmd).expect("start the webhook receiver");
        let up = eventually(Duration::from_secs(20), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        assert!(up, "the webhook receiver did not listen on {port}");
        WebhookReceiver { _process: process, log, _dir: dir }
    }

    /// Every request answered so far, in order: `id` (webhook-id), `timestamp`, `verified`
    /// (by `standardwebhooks`), `error`, `status` (answered), `body`.
    pub fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits up to 30 s for `n` requests; fails with what arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let ok = eventually(Duration::from_secs(30), || async { self.requests().len() >= n }).await;
        let got = self.requests();
        assert!(ok, "expected {n} webhook requests, got {}: {got:#?}", got.len());
        got
    }
}
