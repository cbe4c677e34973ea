//! Graceful shutdown: an upload in flight when SIGTERM arrives is completed and indexed (and the
//! index state persisted), never left half-written.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{ChartBuilder, Server};

#[tokio::test]
async fn sigterm_lets_an_in_flight_upload_finish() {
    let mut server = Server::start(&[]).await;
    let tgz = ChartBuilder::chart("inflight", "1.0.0").build();
    let mut sock = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /api/charts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        tgz.len()
    );
    let half = tgz.len() / 2;
    sock.write_all(head.as_bytes()).unwrap();
    sock.write_all(&tgz[..half]).unwrap();
    sock.flush().unwrap();
    // Give the server time to parse the headers: from then on the request is in flight.
    tokio::time::sleep(Duration::from_millis(1000)).await;

    server.send_sigterm();
    // Shutdown has begun once the listener refuses new connections.
    let mut closed = false;
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", server.port())).is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "the listener should close after SIGTERM; log:\n{}", server.log());
    // ...but the upload already in flight completes.
    sock.write_all(&tgz[half..]).unwrap();
    let mut response = String::new();
    sock.read_to_string(&mut response).expect("read the upload response");
    assert!(response.starts_with("HTTP/1.1 201"), "in-flight upload should finish with 201, got:\n{response}");
    let status = server.wait_for_exit();
    assert!(status.success(), "clean exit after SIGTERM, got {status}; log:\n{}", server.log());

    assert!(server.storage_dir().join("inflight-1.0.0.tgz").exists());
    server.spawn_and_wait().await;
    let index = server.index().await;
    assert_eq!(index.entries.get("inflight").map(Vec::len), Some(1), "the chart survives the restart");
    // The restart found it in the persisted state, without reopening the archive.
    assert!(server.log().contains("reused=1"), "log:\n{}", server.log());
}
