//! The serving loop against misbehaving clients (issue 17 item 1, 12, 15): connections that send
//! a partial header are closed after the header timeout and never block new clients or a
//! graceful shutdown; the connection cap queues clients instead of failing them; idle
//! keep-alive connections are closed; header count and size limits; HTTP/2 in clear text only
//! when asked for; request ids from clients are echoed only when they are safe tokens.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

/// Opens `n` connections that each send the start of a request head and nothing more.
fn stalled_connections(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(b"GET /index.yaml HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").expect("write");
            s
        })
        .collect()
}

/// Whether the server closed `s` (EOF or reset) within `patience`.
fn closed_by_server(s: &mut TcpStream, patience: Duration) -> bool {
    s.set_read_timeout(Some(patience)).expect("timeout");
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
    }
}

#[tokio::test]
async fn partial_headers_neither_starve_new_clients_nor_block_shutdown() {
    let mut server = Server::start(&["--read-header-timeout", "2s"]).await;
    let mut stalled = stalled_connections(server.port(), 300);
    // New clients are served while 300 heads are stuck half-way.
    for _ in 0..5 {
        server.get("/index.yaml").await.assert_status(200);
    }
    // The stalled connections are closed by the server once the header timeout has passed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (i, s) in stalled.iter_mut().enumerate().take(20) {
        assert!(closed_by_server(s, Duration::from_secs(10)), "stalled connection {i} should have been closed");
    }
    // A fresh batch does not keep the server alive after SIGTERM: nothing is owed to them.
    let mut fresh = stalled_connections(server.port(), 200);
    server.get("/health").await.assert_status(200);
    let status = server.stop();
    assert!(
        status.success(),
        "exit 0 after SIGTERM with 200 stalled connections, got {status}; log:\n{}",
        server.log()
    );
    assert!(closed_by_server(&mut fresh[0], Duration::from_secs(5)));
}

#[tokio::test]
async fn over_the_connection_cap_clients_wait_instead_of_failing() {
    let server = Server::start(&["--max-connections", "4", "--read-header-timeout", "2s"]).await;
    let _held = stalled_connections(server.port(), 4);
    // A fifth client is queued by the kernel until the server closes a stalled connection,
    // then served: it sees a 200, not an error.
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
    let r = client.get(server.url("/index.yaml")).send().await.expect("served after a slot frees");
    assert_eq!(r.status(), 200);
    assert!(server.log().contains("connection limit reached"), "log:\n{}", server.log());
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = Server::start(&["--idle-timeout", "1s"]).await;
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 4096];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then closed by the server after the idle timeout.
    assert!(closed_by_server(&mut s, Duration::from_secs(10)), "an idle connection should be closed");
}

#[tokio::test]
async fn header_count_and_size_limits_answer_431() {
    let server = Server::start(&["--max-header-count", "20", "--max-header-size", "8192"]).await;
    let send = |head: String| {
        let mut s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let many: String = (0..25).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = send(format!("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{many}\r\n"));
    assert!(answer.starts_with("HTTP/1.1 431"), "25 header fields over a limit of 20: {answer:?}");
    let big = "a".repeat(9000);
    let answer = send(format!("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {big}\r\n\r\n"));
    assert!(answer.starts_with("HTTP/1.1 431"), "a 9 KB head over a limit of 8 KB: {answer:?}");
    let few: String = (0..10).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = send(format!("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{few}\r\n"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[tokio::test]
async fn http2_in_clear_text_only_when_enabled() {
    let server = Server::start(&[]).await;
    let h2c = reqwest::Client::builder().no_proxy().http2_prior_knowledge().build().unwrap();
    let refused = h2c.get(server.url("/health")).send().await;
    assert!(refused.is_err(), "h2c must not be served without --http2-cleartext: {refused:?}");
    server.get("/health").await.assert_status(200);

    let server = Server::start(&["--http2-cleartext"]).await;
    let r = h2c.get(server.url("/health")).send().await.expect("h2c when enabled");
    assert_eq!((r.status().as_u16(), r.version()), (200, reqwest::Version::HTTP_2));
    let r = new_client().get(server.url("/health")).send().await.expect("HTTP/1.1 still");
    assert_eq!((r.status().as_u16(), r.version()), (200, reqwest::Version::HTTP_11));
}

#[tokio::test]
async fn request_ids_are_echoed_only_when_safe() {
    let server = Server::start(&[]).await;
    let with_id = |id: &str| server.client.get(server.url("/index.yaml")).header("x-request-id", id);
    let r = server.send("safe id".into(), with_id("build-42.step_7")).await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("build-42.step_7"));
    let forged = "abc\" status=500 route=\"/api/forged";
    let r = server.send("forged id".into(), with_id(forged)).await;
    let echoed = r.header("x-request-id").expect("an id is always echoed");
    assert!(echoed != forged && echoed.bytes().all(|b| b.is_ascii_alphanumeric()), "{echoed:?}");
    let started = Instant::now();
    let log = loop {
        let log = server.log();
        if log.contains(&format!("request_id=\"{echoed}\"")) || started.elapsed() > Duration::from_secs(10) {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(log.contains(&format!("request_id=\"{echoed}\"")), "the generated id is logged:\n{log}");
    assert!(!log.contains("/api/forged"), "the forged text never reaches the log:\n{log}");
}

/// A response sent in full is logged `complete=true`, streamed bodies (the index, chart files)
/// included: hyper stops polling those once their `Content-Length` is out, without an end frame.
#[tokio::test]
async fn responses_sent_in_full_are_logged_complete() {
    let server = Server::start(&[]).await;
    server.upload_ok(ChartBuilder::chart("whole", "1.0.0").build()).await;
    let ids = ["full-index", "full-chart", "full-api"];
    for (id, path) in ids.iter().zip(["/index.yaml", "/charts/whole-1.0.0.tgz", "/api/charts/whole"]) {
        let r = server.send(id.to_string(), server.client.get(server.url(path)).header("x-request-id", *id)).await;
        r.assert_status(200);
    }
    let started = Instant::now();
    let log = loop {
        let log = server.log();
        if ids.iter().all(|id| log.contains(&format!("request_id=\"{id}\"")))
            || started.elapsed() > Duration::from_secs(10)
        {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for id in ids {
        let line = log.lines().find(|l| l.contains(&format!("request_id=\"{id}\""))).expect("logged");
        assert!(line.contains("complete=true"), "{line}");
    }
}
