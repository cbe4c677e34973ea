//! A real S3 protocol server for the tests: one `s3s-fs` process on a plain folder.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::data::truncate;
use crate::process::{Process, free_port};
use crate::tools::s3s_fs_binary;

/// One `s3s-fs` process: a real S3 protocol server (SigV4 authentication with
/// [`S3Server::access_key`]/[`S3Server::secret_key`], path-style requests) on a free loopback
/// port, storing object `<key>` of bucket `<b>` as the plain file `<root>/<b>/<key>`.
///
/// Layout of its temporary folder: `data/` (the root) and `s3s-fs-<n>.log` (output of the n-th
/// start; log level from `CHARTROOM_S3S_FS_LOG`, default `warn`; printed when a test panics).
/// s3s-fs keeps its own files at the root only: `.tmp.<n>.internal.part` while an object is
/// written (removed when it starts), `.bucket-<b64>.object-<b64>.metadata.json` and
/// `.internal.json` per object, `.upload-*` / `.upload_id-*` for multipart uploads.
///
/// Shared as `Arc<S3Server>` by the servers of one test; the process is killed on drop.
pub struct S3Server {
    bin: PathBuf,
    dir: TempDir,
    root: PathBuf,
    port: AtomicU16,
    child: Mutex<Option<Process>>,
    starts: AtomicUsize,
}

impl S3Server {
    const ACCESS_KEY: &str = "chartroom-e2e-access";
    const SECRET_KEY: &str = "chartroom-e2e-secret";

    /// Starts `$CHARTROOM_S3S_FS` or `.tools/bin/s3s-fs` (see [`S3Server::start_binary`]).
    pub fn start() -> Arc<S3Server> {
        S3Server::start_binary(s3s_fs_binary())
    }

    /// Starts the s3s-fs binary `bin` on a free loopback port with a new empty root, and waits
    /// until the port accepts connections.
    pub fn start_binary(bin: PathBuf) -> Arc<S3Server> {
        let bin = std::path::absolute(&bin).unwrap_or(bin);
        let dir = tempfile::Builder::new().prefix("chartroom-e2e-s3-").tempdir().expect("s3 tempdir");
        let root = dir.path().join("data");
        fs::create_dir_all(&root).expect("create s3 root");
        let s3 =
            S3Server { bin, dir, root, port: AtomicU16::new(0), child: Mutex::new(None), starts: AtomicUsize::new(0) };
        for _attempt in 0..5 {
            s3.port.store(free_port(), Ordering::SeqCst);
            // Exited early (maybe the port was taken meanwhile): retry on another port.
            if s3.spawn() {
                return Arc::new(s3);
            }
        }
        panic!("s3s-fs exited before accepting connections (5 attempts); last log:\n{}", s3.log());
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Option<Process>> {
        self.child.lock().expect("s3s-fs child lock")
    }

    /// Starts s3s-fs again after [`S3Server::kill`], on the same port and root (retrying for up
    /// to 10 s while the port is not free yet).
    pub fn start_again(&self) {
        assert!(!self.is_running(), "s3s-fs is still running on port {}", self.port());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "s3s-fs could not start again on port {}; log:\n{}",
                self.port(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Spawns the process on `self.port` and waits until the port accepts connections: true
    /// then, false when the process exited first. Panics when it neither exits nor listens
    /// within 20 s.
    fn spawn(&self) -> bool {
        let n = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        let log = self.dir.path().join(format!("s3s-fs-{n}.log"));
        let out = File::create(&log).expect("create s3s-fs log");
        let err = out.try_clone().expect("clone log file");
        let log_level = std::env::var("CHARTROOM_S3S_FS_LOG").unwrap_or_else(|_| "warn".to_owned());
        let mut child = Process::spawn(
            Command::new(&self.bin)
                .arg("--host")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(self.port().to_string())
                .arg("--access-key")
                .arg(Self::ACCESS_KEY)
                .arg("--secret-key")
                .arg(Self::SECRET_KEY)
                .arg(&self.root)
                .env("RUST_LOG", log_level)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err)),
        )
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().is_some() {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port())).is_ok() {
                *self.child() = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                child.kill();
                panic!("s3s-fs did not listen on port {} within 20 s; log:\n{}", self.port(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process (SIGKILL) and waits for it to be gone; the root is kept. Nothing
    /// happens when it is not running.
    pub fn kill(&self) {
        if let Some(mut child) = self.child().take() {
            child.kill();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child().as_mut().is_some_and(Process::is_running)
    }

    pub fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:<port>` — `STORAGE_AMAZON_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// The folder s3s-fs serves: one folder per bucket.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates bucket `name` (a folder under the root) unless it exists; returns its folder.
    pub fn create_bucket(&self, name: &str) -> PathBuf {
        assert!(!name.is_empty() && !name.starts_with('.') && !name.contains('/'), "invalid bucket name {name:?}");
        let p = self.bucket_dir(name);
        fs::create_dir_all(&p).expect("create bucket folder");
        p
    }

    /// The folder of `bucket`: object `<key>` is the file `<bucket dir>/<key>`.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// `AWS_ACCESS_KEY_ID` the server accepts.
    pub fn access_key(&self) -> &str {
        Self::ACCESS_KEY
    }

    /// `AWS_SECRET_ACCESS_KEY` the server accepts.
    pub fn secret_key(&self) -> &str {
        Self::SECRET_KEY
    }

    /// What s3s-fs printed during its current (or last) start.
    pub fn log(&self) -> String {
        let n = self.starts.load(Ordering::SeqCst);
        fs::read(self.dir.path().join(format!("s3s-fs-{n}.log")))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            if !log.trim().is_empty() {
                eprintln!(
                    "----- s3s-fs log (port {}, root {}) -----\n{}\n----- end of s3s-fs log -----",
                    self.port(),
                    self.root.display(),
                    truncate(&log, 20_000)
                );
            }
        }
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    /// The S3 harness itself: s3s-fs demands signed requests, `kill` closes the port,
    /// `start_again` serves the same root on the same port.
    #[test]
    fn s3_server_kill_and_start_again() {
        fn unsigned_get(port: u16, path: &str) -> String {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to s3s-fs");
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read");
            out
        }
        let s3 = S3Server::start();
        let bucket = s3.create_bucket("harness");
        assert_eq!(bucket, s3.root().join("harness"));
        fs::write(bucket.join("object.txt"), "x").expect("write object file");
        let port = s3.port();
        assert_eq!(s3.endpoint(), format!("http://127.0.0.1:{port}"));
        let r = unsigned_get(port, "/harness/object.txt");
        assert!(r.starts_with("HTTP/1.1 403"), "an unsigned request is refused: {r}");
        assert!(r.contains("AccessDenied"), "S3 error body: {r}");

        s3.kill();
        assert!(!s3.is_running());
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} closed after kill");
        s3.start_again();
        assert!(s3.is_running());
        assert_eq!(s3.port(), port, "same port");
        assert!(unsigned_get(port, "/harness/object.txt").starts_with("HTTP/1.1 403"));
        assert_eq!(fs::read(bucket.join("object.txt")).expect("object survives"), b"x");
    }
}
