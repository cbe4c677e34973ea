//! `chartroom healthcheck`: for container HEALTHCHECKs, which cannot rely on curl or a shell.

use std::io::{Read, Write};

use anyhow::Context;

use crate::cli::HealthcheckArgs;

/// A minimal HTTP/1.1 GET of `/health` on the loopback interface (no client library needed).
pub fn run(args: &HealthcheckArgs) -> anyhow::Result<()> {
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let context = args.context_path.trim_end_matches('/');
    let context =
        if context.is_empty() || context.starts_with('/') { context.to_owned() } else { format!("/{context}") };
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {context}/health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", args.port)?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {status:?}")
    }
}
