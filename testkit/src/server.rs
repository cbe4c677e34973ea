//! The `chartroom serve` process harness, shared by the end-to-end tests and the benchmarks.
//! Its HTTP helpers (requests, responses, uploads) are in the `http` module, which extends it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tempfile::TempDir;

use crate::clients::new_client;
use crate::data::truncate;
use crate::files::snapshot_dir;
use crate::process::{Process, free_port};
use crate::storage::StorageTarget;
use crate::tools::chartroom_binary;

/// How to start `chartroom serve`: storage, flags, environment and patience.
#[derive(Clone, Debug)]
pub struct Launch {
    pub target: StorageTarget,
    /// Flags after `serve --listen-host 127.0.0.1 --port <free port>` and the storage flags.
    pub args: Vec<String>,
    /// Added to the environment after the storage variables, so they can override them.
    pub env: Vec<(String, String)>,
    /// How long a start may take until `GET /health/ready` answers 200 (default 20 s).
    pub ready_within: Duration,
    /// How often `/health` is polled while starting (default 20 ms; a benchmark that times
    /// starts polls more often).
    pub poll_every: Duration,
    /// How long a SIGTERM may take to end the process (default 15 s).
    pub stop_within: Duration,
    /// HTTPS: what the harness's clients trust and present (the server's `--tls-*` flags go in
    /// `args`).
    pub tls: Option<TlsClient>,
    /// What a start waits for: `/health/ready` (default: the index is built), or `/health` (the
    /// port answers; the index may still be building).
    pub ready_path: &'static str,
}

/// How the harness's clients talk to a server started with `--tls-cert`.
#[derive(Clone, Debug)]
pub struct TlsClient {
    /// The CA the server certificate chains to.
    pub ca_pem: Vec<u8>,
    /// A client certificate and key in one PEM, for servers that require one (`--tls-ca-cert`).
    pub identity_pem: Option<Vec<u8>>,
}

impl TlsClient {
    /// A client of this TLS setup (no proxy, 120 s per request).
    pub fn client(&self) -> reqwest::Client {
        self.builder().build().expect("reqwest client")
    }

    /// A client builder trusting the CA and presenting the identity.
    pub fn builder(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem).expect("CA certificate");
        let mut b = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).tls_certs_only([ca]);
        if let Some(identity) = &self.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(identity).expect("client identity"));
        }
        b
    }
}

impl Launch {
    pub fn new(target: StorageTarget) -> Launch {
        Launch {
            target,
            args: Vec::new(),
            env: Vec::new(),
            ready_within: Duration::from_secs(20),
            poll_every: Duration::from_millis(20),
            stop_within: Duration::from_secs(15),
            tls: None,
            ready_path: "/health/ready",
        }
    }

    /// Talk HTTPS to the server with this trust and identity.
    pub fn tls(mut self, tls: TlsClient) -> Launch {
        self.tls = Some(tls);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// [`Launch::args`] on a running server's launch (`Server::launch_mut`), for its next start.
    pub fn add_args(&mut self, args: &[&str]) {
        self.args.extend(args.iter().map(|a| a.to_string()));
    }

    pub fn env(mut self, env: &[(&str, &str)]) -> Launch {
        self.env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// The `--context-path` among the flags, normalized as the server does (`/x`, no trailing
    /// `/`; empty for none).
    fn context_path(&self) -> String {
        self.args
            .iter()
            .position(|a| a == "--context-path")
            .and_then(|i| self.args.get(i + 1))
            .map(|c| {
                let c = c.trim_end_matches('/');
                if c.is_empty() || c.starts_with('/') { c.to_owned() } else { format!("/{c}") }
            })
            .unwrap_or_default()
    }
}

/// One running `chartroom serve` process with its own temporary folder.
///
/// Layout of the temporary folder: `storage/` (the `--storage-local-rootdir` of a
/// [`StorageTarget::Local`] target), `server-<n>.log` (stdout and stderr of the n-th start). The
/// log is printed when a test panics.
pub struct Server {
    dir: TempDir,
    launch: Launch,
    context_path: String,
    child: Option<Process>,
    port: u16,
    starts: usize,
    log: PathBuf,
    started_in: Duration,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts `chartroom serve` plus `extra` flags on the storage chosen by
    /// `CHARTROOM_E2E_STORAGE` (see [`crate::e2e_storage`] and [`StorageTarget::from_env`]): a
    /// fresh temporary folder, or a fresh s3s-fs server and bucket with the prefix
    /// [`crate::E2E_S3_PREFIX`].
    pub async fn start(extra: &[&str]) -> Server {
        Server::start_with(StorageTarget::from_env(), extra, &[]).await
    }

    /// Starts `chartroom serve` on `target` with `extra` flags and `env` variables added to the
    /// process environment (after the storage variables, so they can override them). Several
    /// servers may share one S3 target (replicas on one bucket).
    pub async fn start_with(target: StorageTarget, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(Launch::new(target).args(extra).env(env)).await
    }

    /// Starts the binary of [`chartroom_binary`] as `launch` says and waits until it is healthy.
    pub async fn launch(launch: Launch) -> Server {
        let dir = tempfile::Builder::new().prefix("chartroom-e2e-").tempdir().expect("tempdir");
        let mut s = Server {
            log: dir.path().join("server-0.log"),
            dir,
            context_path: launch.context_path(),
            child: None,
            port: 0,
            starts: 0,
            started_in: Duration::ZERO,
            client: match &launch.tls {
                Some(tls) => tls.client(),
                None => new_client(),
            },
            launch,
        };
        // The storage folder exists before the first start in every mode, so tests can put
        // files into it (for S3: the folder s3s-fs maps `<prefix>/` of the bucket to).
        fs::create_dir_all(s.storage_dir()).expect("create storage dir");
        s.spawn_and_wait().await;
        s
    }

    /// How the next (re)start runs.
    pub fn launch_mut(&mut self) -> &mut Launch {
        &mut self.launch
    }

    /// Where this server keeps its charts.
    pub fn storage_target(&self) -> &StorageTarget {
        &self.launch.target
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// How long the last start took, from spawning the process to the first 200 of `/health`.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    pub fn context_path(&self) -> &str {
        &self.context_path
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.launch.tls.is_some() { "https" } else { "http" }
    }

    /// `http(s)://127.0.0.1:<port><context path>` — the URL to give to `helm repo add`.
    pub fn repo_url(&self) -> String {
        format!("{}://127.0.0.1:{}{}", self.scheme(), self.port, self.context_path)
    }

    /// Absolute URL of `path` (which starts with `/`) under the context path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.repo_url(), path)
    }

    /// Absolute URL of `path` ignoring the context path.
    pub fn root_url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{}", self.scheme(), self.port, path)
    }

    /// The folder holding the charts: `storage/` of the temporary folder for a local target, the
    /// given folder for [`StorageTarget::LocalDir`]; for S3 the folder s3s-fs keeps the objects
    /// `<prefix>/...` of the bucket in (`<s3 root>/<bucket>/<prefix>`), where files can be read,
    /// written and removed directly.
    pub fn storage_dir(&self) -> PathBuf {
        match &self.launch.target {
            StorageTarget::Local => self.dir.path().join("storage"),
            StorageTarget::LocalDir(dir) => dir.clone(),
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

    /// Storage contents (relative path → bytes), excluding Chartroom's `.chartroom/` folders
    /// (the root's and the tenants').
    pub fn storage_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        snapshot_dir(&self.storage_dir())
    }

    /// Names of the files in the storage folder (recursively), excluding `.chartroom`.
    pub fn storage_files(&self) -> Vec<String> {
        self.storage_snapshot().into_keys().collect()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(chartroom_binary());
        cmd.arg("serve")
            .arg("--listen-host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .stdin(Stdio::null());
        // The log format is the default one, which the harness reads (`index ready`).
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "CHARTROOM_LOG"] {
            cmd.env_remove(k);
        }
        // Storage comes from the target only, never from the environment the tests run in.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("STORAGE") || k.starts_with("AWS_") {
                cmd.env_remove(&*k);
            }
        }
        match &self.launch.target {
            StorageTarget::Local | StorageTarget::LocalDir(_) => {
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
        cmd.args(&self.launch.args);
        for (k, v) in &self.launch.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the process on a new free port and waits until `/health` answers 200 (retrying on
    /// another port when the process exits first: the port may have been taken meanwhile).
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
            let probe = match &self.launch.tls {
                Some(tls) => tls.builder(),
                None => reqwest::Client::builder().no_proxy(),
            }
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
            let spawned = Instant::now();
            let child = Process::spawn(&mut cmd)
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chartroom_binary().display()));
            self.child = Some(child);
            match self.wait_healthy(&probe, spawned).await {
                Ok(()) => {
                    self.started_in = spawned.elapsed();
                    return;
                }
                Err(exited) => {
                    last_log = self.log();
                    if !exited {
                        self.kill();
                        panic!(
                            "chartroom did not answer 200 on {} within {:?}; args {:?}; log:\n{}",
                            self.url(self.launch.ready_path),
                            self.launch.ready_within,
                            self.launch.args,
                            last_log
                        );
                    }
                    self.child = None;
                }
            }
        }
        panic!(
            "chartroom exited before becoming healthy (5 attempts); args {:?}; last log:\n{last_log}",
            self.launch.args
        );
    }

    /// Ok when `GET <ctx>/health/ready` answers 200 (the port opens while the index is still
    /// being built; ready means built and storage answering); Err(true) when the process exited,
    /// Err(false) on timeout.
    async fn wait_healthy(&mut self, probe: &reqwest::Client, spawned: Instant) -> Result<(), bool> {
        let deadline = spawned + self.launch.ready_within;
        let url = self.url(self.launch.ready_path);
        loop {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().is_some()
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
            tokio::time::sleep(self.launch.poll_every).await;
        }
    }

    /// Sends SIGTERM without waiting (see [`Server::stop`]).
    pub fn send_sigterm(&mut self) {
        self.child.as_mut().expect("server is not running").signal("TERM");
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_for_exit()
    }

    /// Waits (up to [`Launch::stop_within`]) for the server process to exit.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        match child.wait_for(self.launch.stop_within) {
            Some(status) => status,
            None => {
                child.kill();
                panic!("chartroom did not exit within {:?} of SIGTERM; log:\n{}", self.launch.stop_within, self.log());
            }
        }
    }

    /// SIGKILL: the process dies at once, without a graceful shutdown (no drained requests, no
    /// state written at exit). Returns its exit status; [`Server::spawn_and_wait`] starts it again.
    pub fn kill9(&mut self) -> ExitStatus {
        self.child.take().expect("server is not running").kill()
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
            child.kill();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- chartroom log (storage {:?}, args {:?}, port {}, start #{}) -----\n{}\n----- end of chartroom log -----",
                self.launch.target,
                self.launch.args,
                self.port,
                self.starts,
                truncate(&self.log(), 20_000)
            );
        }
        self.kill();
    }
}
