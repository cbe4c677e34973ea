//! `chartroom healthcheck`: for container HEALTHCHECKs, which cannot rely on curl or a shell.

use anyhow::Context;

use super::{Flavor, runtime};
use crate::cli::HealthcheckArgs;

/// A GET of `/health` (or `/health/ready` with `--ready`) on the loopback interface: HTTP, or HTTPS when the server has a
/// certificate (`TLS_CERT`). Exit 0 on a 200.
pub fn run(args: &HealthcheckArgs) -> anyhow::Result<()> {
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    let context = args.context_path.trim_end_matches('/');
    let context =
        if context.is_empty() || context.starts_with('/') { context.to_owned() } else { format!("/{context}") };
    let mut tls = args.tls.options();
    let https = args.tls_cert.is_some() || tls.ca_file.is_some() || tls.cert_file.is_some();
    if https && tls.ca_file.is_none() {
        // Its own process on loopback: the certificate names the service, not 127.0.0.1.
        tls.insecure_skip_tls_verify = true;
    }
    let scheme = if https { "https" } else { "http" };
    let path = if args.ready { "/health/ready" } else { "/health" };
    let url = format!("{scheme}://127.0.0.1:{}{context}{path}", args.port);
    let builder = reqwest::Client::builder().no_proxy().timeout(timeout).connect_timeout(timeout);
    let client = tls.apply(builder)?.build().context("setting up the HTTP client")?;
    let status = runtime(Flavor::Client)?
        .block_on(async { client.get(&url).send().await.map(|r| r.status()) })
        .with_context(|| format!("requesting {url}"))?;
    if status == reqwest::StatusCode::OK {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {url} answered {status}")
    }
}
