//! Shared harness for the end-to-end tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Paths and fixtures
// ---------------------------------------------------------------------------------------------

/// Root of the `chartroom` package (the workspace root).
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    manifest_dir().join("testdata").join(rel)
}

/// Reads a file under `testdata/`.
pub fn read_testdata(rel: &str) -> Vec<u8> {
    let p = testdata(rel);
    fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

pub const SIGNTEST_TGZ: &str = "helm/pkg/downloader/testdata/signtest-0.1.0.tgz";
pub const SIGNTEST_PROV: &str = "helm/pkg/downloader/testdata/signtest-0.1.0.tgz.prov";
pub const SIGNTEST_KEYRING: &str = "helm/pkg/downloader/testdata/helm-test-key.pub";
pub const SIGNTEST_SHA256: &str = "e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55";

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

// ---------------------------------------------------------------------------------------------
// Server harness
// ---------------------------------------------------------------------------------------------

/// One running `chartroom serve` process with its own temporary folder.
///
/// Layout of the temporary folder: `storage/` (the `--storage-local-rootdir` of a local target),
/// `server-<n>.log` (stdout and stderr of the n-th start). The log is printed when a test panics.
pub struct Server {
    dir: TempDir,
    target: StorageTarget,
    env: Vec<(String, String)>,
    args: Vec<String>,
    context_path: String,
    child: Option<Child>,
    port: u16,
    starts: usize,
    log: PathBuf,
    pub client: reqwest::Client,
}

/// A fully read HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// What was requested, for assertion messages.
    pub what: String,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// All values of a header, joined with ", ".
    pub fn header_all(&self, name: &str) -> Option<String> {
        let vals: Vec<String> =
            self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        if vals.is_empty() { None } else { Some(vals.join(", ")) }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{}: expected a JSON body ({e}); status {}, body: {:?}", self.what, self.status, self.text())
        })
    }

    /// The string of a `{"error": "..."}` body (panics if the body is not of that shape).
    pub fn error_message(&self) -> String {
        let v = self.json();
        match v.get("error").and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => panic!(
                "{}: expected a JSON body {{\"error\": \"<string>\"}}, got status {} body {:?}",
                self.what,
                self.status,
                self.text()
            ),
        }
    }

    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "{}: expected status {expected}, got {} with body {:?}",
            self.what,
            self.status,
            truncate(&self.text(), 2000)
        );
        self
    }

    #[track_caller]
    pub fn assert_json(&self, expected: Value) -> &Self {
        assert_eq!(self.json(), expected, "{}: unexpected JSON body", self.what);
        self
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_owned()
    } else {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    }
}

/// Picks a currently free loopback port (bind to port 0, read it, drop the listener).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build().expect("reqwest client")
}

impl Server {
    /// Starts `chartroom serve` plus `extra` flags on the storage chosen by
    /// `CHARTROOM_E2E_STORAGE` (see [`e2e_storage`] and [`StorageTarget::from_env`]): a fresh
    /// temporary folder, or a fresh s3s-fs server and bucket with the prefix [`E2E_S3_PREFIX`].
    pub async fn start(extra: &[&str]) -> Server {
        Server::start_with(StorageTarget::from_env(), extra, &[]).await
    }

    /// Starts `chartroom serve` on `target` with `extra` flags and `env` variables added to the
    /// process environment (after the storage variables, so they can override them). Several
    /// servers may share one S3 target (replicas on one bucket).
    pub async fn start_with(target: StorageTarget, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::Builder::new().prefix("chartroom-e2e-").tempdir().expect("tempdir");
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let context_path = args
            .iter()
            .position(|a| a == "--context-path")
            .and_then(|i| args.get(i + 1))
            .map(|c| {
                let c = c.trim_end_matches('/');
                if c.is_empty() || c.starts_with('/') { c.to_owned() } else { format!("/{c}") }
            })
            .unwrap_or_default();
        let mut s = Server {
            log: dir.path().join("server-0.log"),
            dir,
            target,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            args,
            context_path,
            child: None,
            port: 0,
            starts: 0,
            client: new_client(),
        };
        // The storage folder exists before the first start in both modes, so tests can put
        // files into it (for S3: the folder s3s-fs maps `<prefix>/` of the bucket to).
        fs::create_dir_all(s.storage_dir()).expect("create storage dir");
        s.spawn_and_wait().await;
        s
    }

    /// Where this server keeps its charts.
    pub fn storage_target(&self) -> &StorageTarget {
        &self.target
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context_path(&self) -> &str {
        &self.context_path
    }

    /// `http://127.0.0.1:<port><context path>` — the URL to give to `helm repo add`.
    pub fn repo_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.context_path)
    }

    /// Absolute URL of `path` (which starts with `/`) under the context path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.repo_url(), path)
    }

    /// Absolute URL of `path` ignoring the context path.
    pub fn root_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The folder holding the charts: `storage/` of the temporary folder for a local target;
    /// for S3 the folder s3s-fs keeps the objects `<prefix>/...` of the bucket in
    /// (`<s3 root>/<bucket>/<prefix>`), where files can be read, written and removed directly.
    pub fn storage_dir(&self) -> PathBuf {
        match &self.target {
            StorageTarget::Local => self.dir.path().join("storage"),
            StorageTarget::S3 { s3, bucket, prefix } => {
                let mut p = s3.bucket_dir(bucket);
                for seg in prefix.split('/').filter(|s| !s.is_empty()) {
                    p.push(seg);
                }
                p
            }
        }
    }

    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server printed during the current start.
    pub fn log(&self) -> String {
        fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartroom"));
        cmd.arg("serve")
            .arg("--listen-host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .stdin(Stdio::null());
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"] {
            cmd.env_remove(k);
        }
        // Storage comes from the target only, never from the environment the tests run in.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("STORAGE") || k.starts_with("AWS_") {
                cmd.env_remove(&*k);
            }
        }
        match &self.target {
            StorageTarget::Local => {
                cmd.arg("--storage").arg("local").arg("--storage-local-rootdir").arg(self.storage_dir());
            }
            StorageTarget::S3 { s3, bucket, prefix } => {
                cmd.arg("--storage")
                    .arg("amazon")
                    .env("STORAGE_AMAZON_BUCKET", bucket)
                    .env("STORAGE_AMAZON_REGION", "us-east-1")
                    .env("STORAGE_AMAZON_ENDPOINT", s3.endpoint())
                    .env("STORAGE_AMAZON_FORCE_PATH_STYLE", "true")
                    .env("AWS_ACCESS_KEY_ID", s3.access_key())
                    .env("AWS_SECRET_ACCESS_KEY", s3.secret_key());
                if !prefix.is_empty() {
                    cmd.env("STORAGE_AMAZON_PREFIX", prefix);
                }
            }
        }
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub async fn spawn_and_wait(&mut self) {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            self.starts += 1;
            self.port = free_port();
            self.log = self.dir.path().join(format!("server-{}.log", self.starts));
            let out = File::create(&self.log).expect("create log file");
            let err = out.try_clone().expect("clone log file");
            let mut cmd = self.command();
            cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
            let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", env!("CARGO_BIN_EXE_chartroom")));
            self.child = Some(child);
            match self.wait_healthy().await {
                Ok(()) => return,
                Err(exited) => {
                    last_log = self.log();
                    if !exited {
                        self.kill();
                        panic!(
                            "chartroom did not answer 200 on {} within 20 s; args {:?}; log:\n{}",
                            self.url("/health"),
                            self.args,
                            last_log
                        );
                    }
                    // Exited early (maybe the port was taken meanwhile): retry on another port.
                    self.child = None;
                }
            }
        }
        panic!("chartroom exited before becoming healthy (5 attempts); args {:?}; last log:\n{last_log}", self.args);
    }

    /// Ok when `GET <ctx>/health` answers 200; Err(true) when the process exited, Err(false) on
    /// timeout.
    async fn wait_healthy(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = self.url("/health");
        let probe = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build().expect("client");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return Err(true);
            }
            if let Ok(r) = probe.get(&url).send().await
                && r.status() == StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM without waiting (see [`Server::stop`]).
    pub fn send_sigterm(&self) {
        let pid = self.child.as_ref().expect("server is not running").id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
    }

    /// Sends SIGTERM and waits (up to 15 s) for the process to exit; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_for_exit()
    }

    /// Waits (up to 15 s) for the server process to exit.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return st,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("chartroom did not exit within 15 s of SIGTERM; log:\n{}", self.log());
                }
            }
        }
    }

    /// SIGKILL: the process dies at once, without a graceful shutdown (no drained requests, no
    /// state written at exit). Returns its exit status; [`Server::spawn_and_wait`] starts it again.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        // `Child::kill` is SIGKILL on Unix.
        let _ = child.kill();
        child.wait().expect("wait for the killed server")
    }

    /// Graceful stop (asserting a successful exit) and start again on the same storage (folder
    /// or bucket and prefix), with the same flags and environment, on a new port.
    pub async fn restart(&mut self) {
        let st = self.stop();
        assert!(st.success(), "chartroom should exit successfully on SIGTERM, got {st}; log:\n{}", self.log());
        self.spawn_and_wait().await;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    // ---- HTTP ------------------------------------------------------------------------------

    pub async fn send(&self, what: String, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap_or_else(|e| panic!("{what}: reading body failed: {e:?}")).to_vec();
        Resp { status, headers, body, what }
    }

    /// A request to `path` under the context path.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(format!("GET {path}"), self.req(Method::GET, path)).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut rb = self.req(Method::GET, path);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(format!("GET {path} {headers:?}"), rb).await
    }

    pub async fn head(&self, path: &str) -> Resp {
        self.send(format!("HEAD {path}"), self.req(Method::HEAD, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(format!("DELETE {path}"), self.req(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let rb = self.req(Method::POST, path).header("Content-Type", content_type).body(body);
        self.send(format!("POST {path} ({content_type})"), rb).await
    }

    /// `curl --data-binary @chart.tgz <repo>/api/charts` (curl's default content type).
    pub async fn upload_raw(&self, tgz: Vec<u8>) -> Resp {
        self.post("/api/charts", "application/x-www-form-urlencoded", tgz).await
    }

    pub async fn upload_raw_query(&self, tgz: Vec<u8>, query: &str) -> Resp {
        self.post(&format!("/api/charts{query}"), "application/x-www-form-urlencoded", tgz).await
    }

    /// Multipart upload with parts named `chart` and/or `prov` (as `curl -F chart=@x.tgz`).
    pub async fn upload_multipart(
        &self,
        chart: Option<(&str, Vec<u8>)>,
        prov: Option<(&str, Vec<u8>)>,
        query: &str,
    ) -> Resp {
        let mut parts = Vec::new();
        if let Some((f, b)) = chart {
            parts.push(("chart", f, b));
        }
        if let Some((f, b)) = prov {
            parts.push(("prov", f, b));
        }
        self.upload_form(parts, query).await
    }

    /// Multipart upload with arbitrary field names: (field, file name, bytes).
    pub async fn upload_form(&self, parts: Vec<(&str, &str, Vec<u8>)>, query: &str) -> Resp {
        let mut form = reqwest::multipart::Form::new();
        let mut desc = Vec::new();
        for (field, fname, bytes) in parts {
            desc.push(format!("{field}={fname}"));
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(fname.to_owned())
                .mime_str("application/octet-stream")
                .expect("mime");
            form = form.part(field.to_owned(), part);
        }
        let path = format!("/api/charts{query}");
        let rb = self.req(Method::POST, &path).multipart(form);
        self.send(format!("POST {path} multipart [{}]", desc.join(", ")), rb).await
    }

    /// Uploads a chart (raw) and asserts 201 {"saved":true}.
    pub async fn upload_ok(&self, tgz: Vec<u8>) {
        let r = self.upload_raw(tgz).await;
        r.assert_status(201);
        r.assert_json(serde_json::json!({"saved": true}));
    }

    /// `GET /index.yaml`, asserting 200.
    pub async fn index_bytes(&self) -> Vec<u8> {
        let r = self.get("/index.yaml").await;
        r.assert_status(200);
        r.body
    }

    pub async fn index(&self) -> Index {
        Index::parse(&self.index_bytes().await)
    }

    /// Storage contents (relative path → bytes), excluding Chartroom's `.chartroom/` folder.
    pub fn storage_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        snapshot_dir(&self.storage_dir())
    }

    /// Names of the files directly in the storage folder, excluding `.chartroom`.
    pub fn storage_files(&self) -> Vec<String> {
        self.storage_snapshot().into_keys().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- chartroom log (storage {:?}, args {:?}, port {}, start #{}) -----\n{}\n----- end of chartroom log -----",
                self.target,
                self.args,
                self.port,
                self.starts,
                truncate(&self.log(), 20_000)
            );
        }
        self.kill();
    }
}

/// All regular files under `dir` (recursive), keyed by path relative to `dir`, skipping the
/// top-level `.chartroom` folder. For an S3 target `dir` is inside a bucket folder of s3s-fs,
/// which holds nothing but the objects: s3s-fs keeps its own files (`.tmp.<n>.internal.part`
/// while an object is written, `.bucket-*.object-*.metadata.json` and `.internal.json` per
/// object, `.upload-*` for multipart uploads) at its root, beside the bucket folders.
pub fn snapshot_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
            if rel == ".chartroom" {
                continue;
            }
            let ft = match e.file_type() {
                Ok(ft) => ft,
                Err(_) => continue,
            };
            if ft.is_dir() {
                walk(root, &p, out);
            } else {
                // A file may vanish between listing and reading (temporary files of the server).
                if let Ok(b) = fs::read(&p) {
                    out.insert(rel, b);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Storage targets and the S3 server (s3s-fs)
// ---------------------------------------------------------------------------------------------

/// The bucket of the S3 target [`Server::start`] creates in `CHARTROOM_E2E_STORAGE=s3` mode.
pub const E2E_S3_BUCKET: &str = "chartroom-e2e";
/// The prefix every server started by [`Server::start`] in `s3` mode uses, so that prefix
/// handling is exercised by the whole suite.
pub const E2E_S3_PREFIX: &str = "charts";

/// The storage the suite runs against: `CHARTROOM_E2E_STORAGE` = `local` (default) or `s3`.
/// Any other value fails the test.
pub fn e2e_storage() -> &'static str {
    static MODE: OnceLock<&'static str> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var("CHARTROOM_E2E_STORAGE").as_deref() {
        Err(_) | Ok("") | Ok("local") => "local",
        Ok("s3") => "s3",
        Ok(other) => panic!("CHARTROOM_E2E_STORAGE must be `local` or `s3`, not {other:?}"),
    })
}

/// Where a [`Server`] keeps its charts.
#[derive(Clone)]
pub enum StorageTarget {
    /// `--storage local` on the `storage/` folder of the server's temporary folder.
    Local,
    /// `--storage amazon` on `bucket` of `s3` under `prefix` (no leading or trailing `/`;
    /// empty for none), with the ChartMuseum environment variables.
    S3 { s3: Arc<S3Server>, bucket: String, prefix: String },
}

impl StorageTarget {
    /// What [`Server::start`] uses: [`StorageTarget::Local`], or with `CHARTROOM_E2E_STORAGE=s3`
    /// a fresh s3s-fs with bucket [`E2E_S3_BUCKET`] and prefix [`E2E_S3_PREFIX`].
    pub fn from_env() -> StorageTarget {
        match e2e_storage() {
            "s3" => StorageTarget::fresh_s3(E2E_S3_PREFIX),
            _ => StorageTarget::Local,
        }
    }

    /// A new s3s-fs server with one new bucket ([`E2E_S3_BUCKET`]), used with `prefix`.
    pub fn fresh_s3(prefix: &str) -> StorageTarget {
        let s3 = S3Server::start();
        s3.create_bucket(E2E_S3_BUCKET);
        StorageTarget::S3 { s3, bucket: E2E_S3_BUCKET.to_owned(), prefix: prefix.to_owned() }
    }

    /// The S3 server of an S3 target.
    pub fn s3(&self) -> Option<&Arc<S3Server>> {
        match self {
            StorageTarget::Local => None,
            StorageTarget::S3 { s3, .. } => Some(s3),
        }
    }
}

impl std::fmt::Debug for StorageTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageTarget::Local => f.write_str("local"),
            StorageTarget::S3 { s3, bucket, prefix } => {
                write!(f, "s3 {} bucket {bucket:?} prefix {prefix:?} (root {})", s3.endpoint(), s3.root().display())
            }
        }
    }
}

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
    dir: TempDir,
    root: PathBuf,
    port: AtomicU16,
    child: Mutex<Option<Child>>,
    starts: AtomicUsize,
}

impl S3Server {
    const ACCESS_KEY: &str = "chartroom-e2e-access";
    const SECRET_KEY: &str = "chartroom-e2e-secret";

    /// The binary: `$CHARTROOM_S3S_FS`, else `.tools/bin/s3s-fs`. Panics (fails the test) when it
    /// does not exist.
    pub fn binary() -> PathBuf {
        let p = match std::env::var_os("CHARTROOM_S3S_FS") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => manifest_dir().join(".tools/bin/s3s-fs"),
        };
        assert!(
            p.is_file(),
            "s3s-fs not found at {} (s3s-fs 0.14.1 is required by the S3 end-to-end tests; \
             run scripts/install-test-tools.sh or set CHARTROOM_S3S_FS)",
            p.display()
        );
        p
    }

    /// Starts s3s-fs on a free loopback port with a new empty root, and waits until the port
    /// accepts connections.
    pub fn start() -> Arc<S3Server> {
        let dir = tempfile::Builder::new().prefix("chartroom-e2e-s3-").tempdir().expect("s3 tempdir");
        let root = dir.path().join("data");
        fs::create_dir_all(&root).expect("create s3 root");
        let s3 = S3Server { dir, root, port: AtomicU16::new(0), child: Mutex::new(None), starts: AtomicUsize::new(0) };
        for _attempt in 0..5 {
            s3.port.store(free_port(), Ordering::SeqCst);
            // Exited early (maybe the port was taken meanwhile): retry on another port.
            if s3.spawn() {
                return Arc::new(s3);
            }
        }
        panic!("s3s-fs exited before accepting connections (5 attempts); last log:\n{}", s3.log());
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
        let bin = S3Server::binary();
        let log_level = std::env::var("CHARTROOM_S3S_FS_LOG").unwrap_or_else(|_| "warn".to_owned());
        let mut child = Command::new(&bin)
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
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port())).is_ok() {
                *self.child.lock().expect("s3s-fs child lock") = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("s3s-fs did not listen on port {} within 20 s; log:\n{}", self.port(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process (SIGKILL) and waits for it to be gone; the root is kept. Nothing
    /// happens when it is not running.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("s3s-fs child lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        let mut guard = self.child.lock().expect("s3s-fs child lock");
        match guard.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
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

// ---------------------------------------------------------------------------------------------
// Chart archives
// ---------------------------------------------------------------------------------------------

pub const MTIME: u64 = 1_700_000_000;

pub fn default_chart_yaml(name: &str, version: &str) -> String {
    format!(
        "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: Test chart {name}\ntype: application\nappVersion: \"1.0\"\n"
    )
}

pub fn default_values_yaml(name: &str, version: &str) -> String {
    format!("marker: {name}-{version}-values\nreplicaCount: 1\n")
}

pub const CONFIGMAP_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  marker: {{ .Values.marker | quote }}\n  chartVersion: {{ .Chart.Version | quote }}\n";

/// A chart archive `<name>/Chart.yaml`, `<name>/values.yaml`, `<name>/templates/configmap.yaml`
/// plus `extra` files (paths relative to the chart folder; an extra `Chart.yaml`,
/// `values.yaml` or `templates/configmap.yaml` replaces the default one).
pub fn chart_tgz(name: &str, version: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("Chart.yaml".into(), default_chart_yaml(name, version).into_bytes()),
        ("values.yaml".into(), default_values_yaml(name, version).into_bytes()),
        ("templates/configmap.yaml".into(), CONFIGMAP_TEMPLATE.as_bytes().to_vec()),
    ];
    for (p, c) in extra {
        if let Some(f) = files.iter_mut().find(|(fp, _)| fp == p) {
            f.1 = c.as_bytes().to_vec();
        } else {
            files.push((p.to_string(), c.as_bytes().to_vec()));
        }
    }
    let entries: Vec<TarEntry> = files.into_iter().map(|(p, c)| TarEntry::file(&format!("{name}/{p}"), c)).collect();
    tgz(&entries)
}

/// One tar entry, written with its name bytes copied verbatim into the header (so that names
/// tar-rs would refuse, such as `../x` or `/abs`, can be produced).
pub struct TarEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: TarData,
    pub link: Option<Vec<u8>>,
    pub mode: u32,
}

pub enum TarData {
    Bytes(Vec<u8>),
    /// `n` zero bytes, streamed (never held in memory).
    Zeros(u64),
}

impl TarEntry {
    pub fn file(name: &str, data: impl Into<Vec<u8>>) -> TarEntry {
        TarEntry {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Regular,
            data: TarData::Bytes(data.into()),
            link: None,
            mode: 0o644,
        }
    }

    pub fn zeros(name: &str, n: u64) -> TarEntry {
        TarEntry {
            name: name.as_bytes().to_vec(),
            kind: tar::EntryType::Regular,
            data: TarData::Zeros(n),
            link: None,
            mode: 0o644,
        }
    }

    pub fn special(name: &str, kind: tar::EntryType, link: Option<&str>) -> TarEntry {
        TarEntry {
            name: name.as_bytes().to_vec(),
            kind,
            data: TarData::Bytes(Vec::new()),
            link: link.map(|l| l.as_bytes().to_vec()),
            mode: 0o644,
        }
    }
}

/// Writes the entries as an uncompressed tar into `w`.
pub fn write_tar<W: Write>(w: W, entries: &[TarEntry]) -> W {
    let mut b = tar::Builder::new(w);
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let size = match &e.data {
            TarData::Bytes(b) => b.len() as u64,
            TarData::Zeros(n) => *n,
        };
        assert!(e.name.len() <= 100, "test tar entry names are at most 100 bytes");
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..e.name.len()].copy_from_slice(&e.name);
        }
        h.set_size(size);
        h.set_mode(e.mode);
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(e.kind);
        if let Some(l) = &e.link {
            let old = h.as_old_mut();
            old.linkname = [0; 100];
            old.linkname[..l.len()].copy_from_slice(l);
        }
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(1).expect("device major");
            h.set_device_minor(3).expect("device minor");
        }
        h.set_cksum();
        match &e.data {
            TarData::Bytes(data) => b.append(&h, &data[..]).expect("append"),
            TarData::Zeros(n) => b.append(&h, io::repeat(0).take(*n)).expect("append zeros"),
        }
    }
    b.into_inner().expect("finish tar")
}

/// gzip(tar(entries)).
pub fn tgz(entries: &[TarEntry]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let enc = write_tar(enc, entries);
    enc.finish().expect("finish gzip")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip finish")
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).expect("gunzip");
    out
}

/// Deterministic pseudo-random (incompressible) bytes.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Printable pseudo-random text (incompressible enough), for chart files that must be large.
pub fn noise_text(n: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    noise(n, seed).into_iter().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

/// Standard base64 decoding (for `/templates` bodies).
pub fn base64_decode(s: &str) -> Vec<u8> {
    fn val(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => panic!("invalid base64 character {c:?}"),
        }
    }
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c) << (18 - 6 * i);
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Minimal index parsing (YAML as written by Helm/ChartMuseum, or the JSON form)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct IndexEntry {
    /// Top-level scalar fields of the entry (unquoted).
    pub fields: BTreeMap<String, String>,
    pub urls: Vec<String>,
}

impl IndexEntry {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }
    pub fn version(&self) -> &str {
        self.get("version").unwrap_or("")
    }
    pub fn digest(&self) -> &str {
        self.get("digest").unwrap_or("")
    }
    pub fn created(&self) -> &str {
        self.get("created").unwrap_or("")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Index {
    pub api_version: Option<String>,
    pub generated: Option<String>,
    /// `serverInfo.contextPath`, if any.
    pub context_path: Option<String>,
    /// Chart name → versions in served order.
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
    pub is_json: bool,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.starts_with('"') {
        serde_json::from_str::<String>(v).unwrap_or_else(|_| v.trim_matches('"').to_owned())
    } else if v.starts_with('\'') && v.ends_with('\'') && v.len() >= 2 {
        v[1..v.len() - 1].replace("''", "'")
    } else {
        v.to_owned()
    }
}

fn split_kv(t: &str) -> (String, String) {
    match t.find(": ") {
        Some(i) => (t[..i].to_owned(), unquote(&t[i + 2..])),
        None => (t.trim_end_matches(':').to_owned(), String::new()),
    }
}

impl Index {
    pub fn parse(bytes: &[u8]) -> Index {
        let text = std::str::from_utf8(bytes).expect("index is UTF-8");
        if text.trim_start().starts_with('{') {
            return Index::parse_json(text);
        }
        let mut idx = Index::default();
        let mut section = String::new();
        let mut chart: Option<String> = None;
        let mut chart_indent: Option<usize> = None;
        let mut dash_indent: Option<usize> = None;
        let mut expect_dash = false;
        let mut cur_key = String::new();
        for line in text.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let ind = line.len() - line.trim_start().len();
            let t = line.trim();
            if ind == 0 {
                let (k, v) = split_kv(t);
                section = k.clone();
                match k.as_str() {
                    "apiVersion" => idx.api_version = Some(v),
                    "generated" => idx.generated = Some(v),
                    "serverInfo" if v.starts_with('{') => {
                        // flow style: {contextPath: /x}
                        let inner = v.trim_start_matches('{').trim_end_matches('}');
                        for kv in inner.split(',') {
                            let (k2, v2) = split_kv(kv.trim());
                            if k2 == "contextPath" {
                                idx.context_path = Some(v2);
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match section.as_str() {
                "serverInfo" => {
                    let (k, v) = split_kv(t);
                    if k == "contextPath" {
                        idx.context_path = Some(v);
                    }
                }
                "entries" => {
                    let ci = *chart_indent.get_or_insert(ind);
                    if ind == ci && !t.starts_with("- ") {
                        let (k, v) = split_kv(t);
                        let name = unquote(&k);
                        idx.entries.entry(name.clone()).or_default();
                        chart = Some(name);
                        expect_dash = v.is_empty();
                        continue;
                    }
                    let Some(c) = chart.clone() else { continue };
                    if t.starts_with("- ") && expect_dash {
                        dash_indent = Some(ind);
                        expect_dash = false;
                    }
                    let Some(di) = dash_indent else { continue };
                    if ind == di && t.starts_with("- ") {
                        let (k, v) = split_kv(&t[2..]);
                        let mut e = IndexEntry::default();
                        if !v.is_empty() {
                            e.fields.insert(k.clone(), v);
                        }
                        cur_key = k;
                        idx.entries.get_mut(&c).expect("chart").push(e);
                    } else if ind == di + 2 && !t.starts_with("- ") {
                        let (k, v) = split_kv(t);
                        let e = idx.entries.get_mut(&c).and_then(|v| v.last_mut()).expect("entry");
                        if k == "urls" && v.starts_with('[') {
                            let inner = v.trim_start_matches('[').trim_end_matches(']');
                            e.urls = inner.split(',').map(unquote).filter(|s| !s.is_empty()).collect();
                        } else if !v.is_empty() {
                            e.fields.insert(k.clone(), v);
                        }
                        cur_key = k;
                    } else if t.starts_with("- ") && ind >= di + 2 && cur_key == "urls" {
                        let e = idx.entries.get_mut(&c).and_then(|v| v.last_mut()).expect("entry");
                        e.urls.push(unquote(&t[2..]));
                    }
                }
                _ => {}
            }
        }
        idx
    }

    fn parse_json(text: &str) -> Index {
        let v: Value = serde_json::from_str(text).expect("JSON index parses");
        let mut idx = Index {
            is_json: true,
            api_version: v["apiVersion"].as_str().map(str::to_owned),
            generated: v["generated"].as_str().map(str::to_owned),
            context_path: v["serverInfo"]["contextPath"].as_str().map(str::to_owned),
            ..Index::default()
        };
        if let Some(entries) = v["entries"].as_object() {
            for (name, list) in entries {
                let mut out = Vec::new();
                for e in list.as_array().cloned().unwrap_or_default() {
                    let mut ie = IndexEntry::default();
                    if let Some(obj) = e.as_object() {
                        for (k, val) in obj {
                            match val {
                                Value::String(s) => {
                                    ie.fields.insert(k.clone(), s.clone());
                                }
                                Value::Bool(b) => {
                                    ie.fields.insert(k.clone(), b.to_string());
                                }
                                Value::Number(n) => {
                                    ie.fields.insert(k.clone(), n.to_string());
                                }
                                _ => {}
                            }
                        }
                        ie.urls = obj
                            .get("urls")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default();
                    }
                    out.push(ie);
                }
                idx.entries.insert(name.clone(), out);
            }
        }
        idx
    }

    /// Versions of `chart` in served order (empty when absent).
    pub fn versions(&self, chart: &str) -> Vec<String> {
        self.entries.get(chart).map(|v| v.iter().map(|e| e.version().to_owned()).collect()).unwrap_or_default()
    }

    pub fn entry(&self, chart: &str, version: &str) -> Option<&IndexEntry> {
        self.entries.get(chart)?.iter().find(|e| e.version() == version)
    }

    #[track_caller]
    pub fn expect_entry(&self, chart: &str, version: &str) -> &IndexEntry {
        self.entry(chart, version).unwrap_or_else(|| {
            panic!(
                "index has no entry {chart} {version}; entries: {:?}",
                self.entries
                    .iter()
                    .map(|(k, v)| (k, v.iter().map(|e| e.version()).collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
            )
        })
    }

    pub fn total_versions(&self) -> usize {
        self.entries.values().map(Vec::len).sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Helm
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmVersion {
    V3,
    V4,
}

pub const BOTH_HELMS: [HelmVersion; 2] = [HelmVersion::V3, HelmVersion::V4];

impl HelmVersion {
    pub fn label(self) -> &'static str {
        match self {
            HelmVersion::V3 => "helm3",
            HelmVersion::V4 => "helm4",
        }
    }

    /// The binary: `$CHARTROOM_HELM3`/`$CHARTROOM_HELM4`, else `.tools/bin/helm3|helm4`.
    /// Panics (fails the test) when it does not exist.
    pub fn binary(self) -> PathBuf {
        let (var, expected) = match self {
            HelmVersion::V3 => ("CHARTROOM_HELM3", "v3.17"),
            HelmVersion::V4 => ("CHARTROOM_HELM4", "v4.1"),
        };
        let p = match std::env::var_os(var) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => manifest_dir().join(".tools/bin").join(self.label()),
        };
        assert!(
            p.is_file(),
            "{} not found at {} (Helm {expected}.x is required by the end-to-end tests; \
             run scripts/install-test-tools.sh or set {var})",
            self.label(),
            p.display()
        );
        p
    }
}

/// A Helm binary with its own isolated HELM_CONFIG_HOME / HELM_CACHE_HOME / HELM_DATA_HOME.
pub struct Helm {
    pub version: HelmVersion,
    bin: PathBuf,
    home: TempDir,
}

impl Helm {
    pub fn new(version: HelmVersion) -> Helm {
        let bin = version.binary();
        let home = tempfile::Builder::new()
            .prefix(&format!("chartroom-e2e-{}-", version.label()))
            .tempdir()
            .expect("helm home");
        let h = Helm { version, bin, home };
        let out = h.run(&["version", "--template", "{{.Version}}"]);
        let want = match version {
            HelmVersion::V3 => "v3.",
            HelmVersion::V4 => "v4.",
        };
        assert!(
            out.trim().starts_with(want),
            "{} reports version {out:?}; expected {want}x (run scripts/install-test-tools.sh)",
            h.bin.display()
        );
        h
    }

    pub fn label(&self) -> &'static str {
        self.version.label()
    }

    /// A scratch folder inside this Helm's home.
    pub fn work_dir(&self, name: &str) -> PathBuf {
        let p = self.home.path().join("work").join(name);
        fs::create_dir_all(&p).expect("work dir");
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let h = self.home.path();
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("HOME", h)
            .env("KUBECONFIG", h.join("kubeconfig-absent"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdin(Stdio::null());
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "HELM_REPOSITORY_CONFIG",
            "HELM_REPOSITORY_CACHE",
            "HELM_REGISTRY_CONFIG",
            "HELM_PLUGINS",
        ] {
            cmd.env_remove(k);
        }
        cmd
    }

    fn describe(&self, args: &[&str], out: &Output) -> String {
        format!(
            "{} {:?} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.label(),
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn output_in(&self, cwd: Option<&Path>, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        cmd.output().unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", self.bin.display()))
    }

    /// Runs Helm, asserts success, returns stdout followed by stderr.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> String {
        self.run_in(None, args)
    }

    #[track_caller]
    pub fn run_in(&self, cwd: Option<&Path>, args: &[&str]) -> String {
        let out = self.output_in(cwd, args);
        assert!(out.status.success(), "{}", self.describe(args, &out));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    /// Runs Helm, asserts failure, returns stdout followed by stderr.
    #[track_caller]
    pub fn run_fail(&self, args: &[&str]) -> String {
        let out = self.output_in(None, args);
        assert!(!out.status.success(), "expected failure: {}", self.describe(args, &out));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    #[track_caller]
    pub fn repo_add(&self, name: &str, url: &str) {
        let out = self.run(&["repo", "add", name, url]);
        assert!(out.contains("has been added"), "{} repo add {name} {url}: unexpected output {out:?}", self.label());
    }

    #[track_caller]
    pub fn repo_update(&self) {
        let out = match self.version {
            HelmVersion::V3 => self.run(&["repo", "update", "--fail-on-repo-update-fail"]),
            HelmVersion::V4 => self.run(&["repo", "update"]),
        };
        assert!(out.contains("Successfully got an update"), "{} repo update: unexpected output {out:?}", self.label());
    }

    /// `helm search repo <query> --versions [--devel]` → (name, version) rows.
    #[track_caller]
    pub fn search_versions(&self, query: &str, devel: bool) -> Vec<(String, String)> {
        let mut args = vec!["search", "repo", query, "--versions"];
        if devel {
            args.push("--devel");
        }
        let out = self.run(&args);
        out.lines()
            .filter(|l| !l.starts_with("NAME") && !l.trim().is_empty())
            .filter(|l| !l.starts_with("No results found"))
            .filter_map(|l| {
                let mut cols = l.split('\t').map(str::trim);
                let name = cols.next()?.to_owned();
                let version = cols.next()?.to_owned();
                if name.contains('/') { Some((name, version)) } else { None }
            })
            .collect()
    }

    /// Versions of `repo/chart` listed by `helm search repo <repo>/ --versions [--devel]`.
    #[track_caller]
    pub fn searched_versions(&self, repo: &str, chart: &str, devel: bool) -> Vec<String> {
        let full = format!("{repo}/{chart}");
        self.search_versions(&format!("{repo}/"), devel)
            .into_iter()
            .filter(|(n, _)| *n == full)
            .map(|(_, v)| v)
            .collect()
    }
}

/// Reads the single file in `dir` whose name ends with `suffix`.
pub fn read_single(dir: &Path, name: &str) -> Vec<u8> {
    let p = dir.join(name);
    fs::read(&p).unwrap_or_else(|e| {
        let listing: Vec<String> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        panic!("expected {} ({e}); folder holds {listing:?}", p.display())
    })
}

/// Polls `f` every 100 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The harness's own index parser must read the index shapes Helm and ChartMuseum write, or
/// the server tests would prove nothing.
#[test]
fn index_parser_reads_helm_and_chartmuseum_indexes() {
    let cm = Index::parse(&read_testdata("helm/pkg/repo/v1/testdata/chartmuseum-index.yaml"));
    assert_eq!(cm.context_path.as_deref(), Some("/v1/helm"));
    assert_eq!(cm.api_version.as_deref(), Some("v1"));
    assert_eq!(cm.versions("nginx"), ["0.2.0", "0.1.0"]);
    assert_eq!(cm.versions("alpine"), ["1.0.0"]);
    assert_eq!(cm.versions("chartWithNoURL"), ["1.0.0"]);
    assert_eq!(cm.expect_entry("alpine", "1.0.0").urls.len(), 2);
    assert_eq!(cm.expect_entry("nginx", "0.1.0").digest(), "sha256:1234567890abcdef");
    assert!(cm.expect_entry("chartWithNoURL", "1.0.0").urls.is_empty());

    let js = Index::parse(&read_testdata("helm/pkg/repo/v1/testdata/local-index.json"));
    assert!(js.is_json);
    assert_eq!(js.versions("nginx"), ["0.2.0", "0.1.0"]);
    assert_eq!(js.total_versions(), 4);

    // The shape sigs.k8s.io/yaml (Helm, ChartMuseum) writes: lists not indented under keys.
    let sigs = "apiVersion: v1\nentries:\n  alpha:\n  - apiVersion: v2\n    created: \"2024-05-01T10:00:00.123456789Z\"\n    description: 'it''s'\n    digest: abc\n    maintainers:\n    - name: x\n    name: alpha\n    urls:\n    - charts/alpha-1.0.0.tgz\n    version: 1.0.0\n  - apiVersion: v2\n    created: \"2024-05-01T10:00:00Z\"\n    digest: def\n    name: alpha\n    urls:\n    - charts/alpha-0.9.0.tgz\n    version: 0.9.0\n  beta: []\ngenerated: \"2024-05-01T10:00:01Z\"\nserverInfo:\n  contextPath: /helm/v1\n";
    let s = Index::parse(sigs.as_bytes());
    assert_eq!(s.versions("alpha"), ["1.0.0", "0.9.0"]);
    assert!(s.versions("beta").is_empty());
    let e = s.expect_entry("alpha", "1.0.0");
    assert_eq!(e.urls, ["charts/alpha-1.0.0.tgz"]);
    assert_eq!(e.created(), "2024-05-01T10:00:00.123456789Z");
    assert_eq!(e.get("description"), Some("it's"));
    assert_eq!(e.get("name"), Some("alpha"));
    assert_eq!(s.generated.as_deref(), Some("2024-05-01T10:00:01Z"));
    assert_eq!(s.context_path.as_deref(), Some("/helm/v1"));
    assert!(Index::parse(b"apiVersion: v1\nentries: {}\ngenerated: \"x\"\nserverInfo: {}\n").entries.is_empty());
}

#[test]
fn harness_archives_are_what_they_claim() {
    let t = chart_tgz("h", "1.0.0", &[("README.md", "hi")]);
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&t[..]));
    let mut names: Vec<String> = ar
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["h/Chart.yaml", "h/README.md", "h/templates/configmap.yaml", "h/values.yaml"]);
    // Names tar-rs would refuse are written verbatim.
    let raw = write_tar(Vec::new(), &[TarEntry::file("../evil", "x"), TarEntry::file("/abs", "y")]);
    assert_eq!(&raw[..8], b"../evil\0");
    assert_eq!(&raw[512 + 512..512 + 512 + 5], b"/abs\0");
    assert_eq!(base64_decode("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(base64_decode("YWI="), b"ab");
}

/// The S3 harness itself: s3s-fs demands signed requests, `kill` closes the port, `start_again`
/// serves the same root on the same port. Runs in both modes (it needs s3s-fs, like the S3 run).
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

// ---- chartroom as a client ------------------------------------------------------------------

/// Runs the `chartroom` binary as a client with a Helm instance's environment (its HELM_* homes,
/// so repositories added with `helm repo add` are visible), or with fresh empty homes.
pub struct Cli {
    vars: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)>,
    /// Keeps the empty homes alive for [`Cli::empty`].
    _homes: Option<Helm>,
}

impl Cli {
    pub fn like(helm: &Helm) -> Cli {
        let template = helm.command(&[]);
        let vars = template.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect();
        Cli { vars, _homes: None }
    }

    /// Empty Helm homes (no configured repositories), isolated like a fresh Helm's.
    pub fn empty() -> Cli {
        let helm = Helm::new(HelmVersion::V4);
        let cli = Cli::like(&helm);
        Cli { _homes: Some(helm), ..cli }
    }

    /// Helm's repository cache folder of these homes.
    pub fn cache_dir(&self) -> PathBuf {
        let cache = self.vars.iter().find(|(k, _)| k == "HELM_CACHE_HOME").and_then(|(_, v)| v.clone()).expect("cache");
        Path::new(&cache).join("repository")
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.output_with(args, &[])
    }

    pub fn output_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartroom"));
        for (k, v) in &self.vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run chartroom {args:?}: {e}"))
    }

    /// Runs chartroom, asserts success, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(out.status.success(), "chartroom {args:?} failed: {}", describe_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs chartroom, asserts the exit code and an `Error: ` message with nothing on stdout;
    /// returns stderr.
    #[track_caller]
    pub fn fail(&self, args: &[&str], code: i32) -> String {
        let out = self.output(args);
        assert_eq!(out.status.code(), Some(code), "chartroom {args:?}: {}", describe_output(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.starts_with("Error: "), "chartroom {args:?}: stderr should start with Error: {err:?}");
        assert!(out.stdout.is_empty(), "chartroom {args:?}: nothing on stdout on failure: {}", describe_output(&out));
        err
    }
}

/// A subprocess's exit status and output, for assertion messages.
pub fn describe_output(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
