//! Unit tests of the backend configuration, and `open` against real servers: s3s-fs (S3), and
//! the emulators installed by `scripts/install-test-tools.sh`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, PutMultipartOptions, PutResult,
};

use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn amazon_cfg(bucket: &str, endpoint: Option<&str>) -> AmazonConfig {
    AmazonConfig {
        bucket: bucket.into(),
        prefix: String::new(),
        region: None,
        endpoint: endpoint.map(str::to_owned),
        sse: None,
        force_path_style: true,
    }
}

fn env_for(cfg: &BackendConfig, pairs: &[(&str, &str)]) -> Environment {
    // HOME points nowhere so that a developer's ~/.aws never leaks into a test.
    let mut all = vars(&[("HOME", "/nonexistent-chartroom-test-home")]);
    all.extend(vars(pairs));
    Environment::from_vars(cfg, all).unwrap()
}

#[test]
fn prefixes() {
    for (raw, want) in [
        ("", ""),
        ("/", ""),
        ("a", "a"),
        ("a/b/", "a/b"),
        ("/a/b", "a/b"),
        ("//a//b//", "a/b"),
        ("charts/v1.2", "charts/v1.2"),
    ] {
        assert_eq!(normalize_prefix(raw).as_deref(), Ok(want), "{raw:?}");
    }
    for raw in ["a/../b", "..", "./a", "a/\u{1}", "a\\b"] {
        assert!(normalize_prefix(raw).is_err(), "{raw:?}");
    }
}

#[test]
fn endpoints() {
    for (raw, want) in [
        ("minio:9000", "https://minio:9000"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ("HTTPS://s3.example.com", "HTTPS://s3.example.com"),
        ("https://host/path", "https://host/path"),
    ] {
        assert_eq!(normalize_endpoint(raw).as_deref(), Ok(want), "{raw:?}");
    }
    for raw in ["", "ftp://x", "http://", "https://a b", "http://x?y"] {
        assert!(normalize_endpoint(raw).is_err(), "{raw:?}");
    }
    assert!(is_http("HTTP://x") && !is_http("https://x") && !is_http("http"));
}

#[test]
fn amazon_region_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[default]\nregion = eu-north-1\n[profile ci]\nregion = sa-east-1\n").unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "[ci]\naws_access_key_id = A\naws_secret_access_key = B\n").unwrap();
    let cfg = BackendConfig::Amazon(amazon_cfg("b", None));
    let c = config.display().to_string();
    let k = credentials.display().to_string();

    let region = |pairs: &[(&str, &str)]| amazon_env_region(&env_for(&cfg, pairs)).map_err(|e| e.to_string());
    assert_eq!(region(&[]), Ok(None));
    assert_eq!(region(&[("AWS_DEFAULT_REGION", "d")]), Ok(Some("d".into())));
    assert_eq!(region(&[("AWS_DEFAULT_REGION", "d"), ("AWS_REGION", "r")]), Ok(Some("r".into())));
    assert_eq!(region(&[("AWS_CONFIG_FILE", &c)]), Ok(Some("eu-north-1".into())));
    assert_eq!(region(&[("AWS_CONFIG_FILE", &c), ("AWS_PROFILE", "ci")]), Ok(Some("sa-east-1".into())));
    assert_eq!(region(&[("AWS_CONFIG_FILE", &c), ("AWS_REGION", "r")]), Ok(Some("r".into())));
    // HOME's ~/.aws/config is the default location.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/config"), "[default]\nregion = home-1\n").unwrap();
    let env = Environment::from_vars(&cfg, vars(&[("HOME", &home.path().display().to_string())])).unwrap();
    assert_eq!(amazon_env_region(&env).unwrap().as_deref(), Some("home-1"));
    // An explicit profile that exists nowhere is an error naming it and the files.
    let e =
        region(&[("AWS_CONFIG_FILE", &c), ("AWS_SHARED_CREDENTIALS_FILE", &k), ("AWS_PROFILE", "nope")]).unwrap_err();
    assert!(e.contains("\"nope\"") && e.contains(&c) && e.contains(&k), "{e}");
    // An unreadable file is an error naming it.
    let e = region(&[("AWS_CONFIG_FILE", &dir.path().display().to_string())]).unwrap_err();
    assert!(e.contains(&dir.path().display().to_string()), "{e}");

    // open: no region anywhere and no endpoint → a clear error before any request.
    let e = build(&cfg, &env_for(&cfg, &[])).unwrap_err().to_string();
    assert!(e.contains("--storage-amazon-region") && e.contains("AWS_REGION"), "{e}");
    // An endpoint without a region uses us-east-1, as ChartMuseum does.
    let with_endpoint = BackendConfig::Amazon(amazon_cfg("b", Some("http://127.0.0.1:1")));
    let s =
        build(&with_endpoint, &env_for(&with_endpoint, &[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")]))
            .unwrap();
    assert!(
        s.describe().contains("region us-east-1") && s.describe().contains("http://127.0.0.1:1"),
        "{}",
        s.describe()
    );
}

#[test]
fn descriptions_name_the_place_and_never_secrets() {
    let mut amazon = amazon_cfg("charts", Some("https://s3.example.com"));
    amazon.prefix = "team/a".into();
    amazon.region = Some("eu-west-3".into());
    amazon.sse = Some("aws:kms".into());
    amazon.force_path_style = false;
    let cfg = BackendConfig::Amazon(amazon);
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let s = build(&cfg, &env_for(&cfg, &[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", secret)]))
        .unwrap();
    let d = s.describe();
    for want in ["amazon", "\"charts\"", "eu-west-3", "https://s3.example.com", "team/a", "virtual-hosted"] {
        assert!(d.contains(want), "{d} lacks {want}");
    }
    assert!(!d.contains(secret) && !d.contains("AKIDEXAMPLE"), "{d}");
    assert_eq!(s.prefix.as_ref(), "team/a");

    let cfg = BackendConfig::Google(GoogleConfig { bucket: "g".into(), prefix: String::new() });
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("sa.json");
    std::fs::write(&key, r#"{"private_key":"","private_key_id":"","client_email":"","disable_oauth":true}"#).unwrap();
    let s = build(&cfg, &env_for(&cfg, &[("GOOGLE_SERVICE_ACCOUNT", &key.display().to_string())])).unwrap();
    assert!(s.describe().contains("google") && s.describe().contains("\"g\""), "{}", s.describe());

    let cfg = BackendConfig::Microsoft(MicrosoftConfig { container: "c".into(), prefix: "p".into() });
    let azure_key = "c2VjcmV0LWtleS1ub3QtcmVhbA==";
    let s = build(&cfg, &env_for(&cfg, &[("AZURE_STORAGE_ACCOUNT", "acct"), ("AZURE_STORAGE_ACCESS_KEY", azure_key)]))
        .unwrap();
    let d = s.describe();
    assert!(d.contains("microsoft") && d.contains("\"c\"") && d.contains("\"acct\"") && d.contains("\"p\""), "{d}");
    assert!(!d.contains(azure_key), "{d}");
}

#[test]
fn microsoft_account_endpoint_and_emulator() {
    let cfg = BackendConfig::Microsoft(MicrosoftConfig { container: "c".into(), prefix: String::new() });
    let e = build(&cfg, &env_for(&cfg, &[])).unwrap_err().to_string();
    assert!(e.contains("AZURE_STORAGE_ACCOUNT"), "{e}");
    // ChartMuseum's AZURE_BASE_URL is the service domain.
    let s = build(
        &cfg,
        &env_for(
            &cfg,
            &[
                ("AZURE_STORAGE_ACCOUNT", "acct"),
                ("AZURE_STORAGE_ACCESS_KEY", "a2V5"),
                ("AZURE_BASE_URL", "core.chinacloudapi.cn"),
            ],
        ),
    )
    .unwrap();
    assert!(s.describe().contains("https://acct.blob.core.chinacloudapi.cn"), "{}", s.describe());
    // The emulator switch: Azurite's account, key and URL by default, AZURITE_BLOB_STORAGE_URL to move it.
    let s = build(&cfg, &env_for(&cfg, &[("AZURE_STORAGE_USE_EMULATOR", "true")])).unwrap();
    assert!(s.describe().contains("http://127.0.0.1:10000/devstoreaccount1"), "{}", s.describe());
    let s = build(
        &cfg,
        &env_for(&cfg, &[("AZURE_STORAGE_USE_EMULATOR", "1"), ("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:1234/")]),
    )
    .unwrap();
    assert!(s.describe().contains("http://127.0.0.1:1234/devstoreaccount1"), "{}", s.describe());
}

#[tokio::test]
async fn local_open_runs_the_checks_and_leaves_no_probe() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let cfg = BackendConfig::Local { root: root.clone() };
    let storage = open_with(&cfg, &env_for(&cfg, &[])).await.unwrap();
    assert!(storage.describe().contains(&root.display().to_string()));
    assert_eq!(files_under(&root.join(STATE_DIR).join("probe")), Vec::<String>::new());
    storage.put_new("a-1.0.0.tgz", Bytes::from_static(b"x")).await.unwrap();

    // A file where the directory should be.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let cfg = BackendConfig::Local { root: file.clone() };
    let e = open_with(&cfg, &env_for(&cfg, &[])).await.unwrap_err().to_string();
    assert!(e.contains("local storage") && e.contains(&file.display().to_string()), "{e}");
}

/// A store that silently turns create-only writes into overwrites, like a server that ignores
/// `If-None-Match`.
#[derive(Debug, Default)]
struct IgnoresConditions(InMemory);

impl std::fmt::Display for IgnoresConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IgnoresConditions")
    }
}

#[async_trait::async_trait]
impl ObjectStore for IgnoresConditions {
    async fn put_opts(&self, location: &Path, payload: PutPayload, _: PutOptions) -> object_store::Result<PutResult> {
        self.0.put_opts(location, payload, PutOptions::default()).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> futures::stream::BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_store_that_ignores_create_only_writes_is_refused() {
    let store = Arc::new(IgnoresConditions::default());
    let storage = Storage::new(store.clone(), "p", "test store".into());
    let e = check(&storage, "hint").await.unwrap_err();
    assert!(matches!(e, OpenError::ConditionalWritesIgnored { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("If-None-Match") && text.contains("never lose or duplicate"), "{text}");
    assert!(text.contains("p/.chartroom/probe/"), "{text}");
    let left: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(left.is_empty(), "the probe is deleted even when refusing: {left:?}");

    // The in-memory store honours create-only writes.
    check(&Storage::memory(), "hint").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Real servers.

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A test tool: `.tools/<relative>` (installed by scripts/install-test-tools.sh), else the path in
/// `env_var`. Missing is a failure, never a skip (a skipped storage test proves nothing in CI).
fn tool(relative: &str, env_var: &str) -> PathBuf {
    let installed = repo_root().join(".tools").join(relative);
    if installed.exists() {
        return installed;
    }
    if let Some(path) = std::env::var_os(env_var).map(PathBuf::from)
        && path.exists()
    {
        return path;
    }
    panic!("{} is missing: run scripts/install-test-tools.sh (or set {env_var} to the binary)", installed.display());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child server, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(name: &str, mut command: Command, port: u16, dir: tempfile::TempDir, root: PathBuf) -> Server {
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = command.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap_or_else(|e| {
            panic!("cannot start {name} ({command:?}): {e}");
        });
        let mut server = Server { child, port, _dir: dir, root };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "{name} did not listen on {port} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn s3s_fs() -> Server {
    let bin = tool("bin/s3s-fs", "CHARTROOM_S3S_FS");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let port = free_port();
    let mut command = Command::new(bin);
    command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "AK", "--secret-key", "SK"]);
    command.arg(&root);
    Server::start("s3s-fs", command, port, dir, root)
}

fn files_under(dir: &FsPath) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// The operations the server uses, through `Storage`, on an opened backend.
async fn roundtrip(storage: &Storage) {
    let a = storage.put_new("app-1.0.0.tgz", Bytes::from_static(b"chart bytes")).await.unwrap();
    let again = storage.put_new("app-1.0.0.tgz", Bytes::from_static(b"other")).await;
    assert!(matches!(again, Err(StorageError::AlreadyExists(_))), "{again:?}");
    storage.put_new("app-1.0.0.tgz.prov", Bytes::from_static(b"prov")).await.unwrap();
    assert_eq!(storage.read("app-1.0.0.tgz").await.unwrap(), Bytes::from_static(b"chart bytes"));
    let streamed = storage.stream("app-1.0.0.tgz").await.unwrap();
    assert_eq!(streamed.info.size, 11);
    let body: Vec<Bytes> = streamed.body.try_collect().await.unwrap();
    assert_eq!(body.concat(), b"chart bytes");
    let listed = storage.list_charts().await.unwrap();
    assert_eq!(listed.iter().map(|o| o.file.as_str()).collect::<Vec<_>>(), ["app-1.0.0.tgz"]);
    assert_eq!(listed[0].size, a.size);
    assert!(storage.head("app-1.0.0.tgz").await.is_ok());
    storage.delete("app-1.0.0.tgz").await.unwrap();
    storage.delete("app-1.0.0.tgz.prov").await.unwrap();
    assert!(matches!(storage.delete("app-1.0.0.tgz").await, Err(StorageError::NotFound(_))));
    assert!(storage.list_charts().await.unwrap().is_empty());
}

fn s3_cfg(server: &Server, bucket: &str, prefix: &str) -> BackendConfig {
    let mut c = amazon_cfg(bucket, Some(&server.url()));
    c.prefix = normalize_prefix(prefix).unwrap();
    BackendConfig::Amazon(c)
}

#[tokio::test]
async fn s3s_fs_open_and_roundtrip() {
    let server = s3s_fs();
    std::fs::create_dir(server.root.join("charts")).unwrap();
    let cfg = s3_cfg(&server, "charts", "/team/a/");
    let storage =
        open_with(&cfg, &env_for(&cfg, &[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")])).await.unwrap();
    roundtrip(&storage).await;
    // The prefix lands where ChartMuseum puts it, and the probe is gone.
    storage.put_new("kept-0.1.0.tgz", Bytes::from_static(b"k")).await.unwrap();
    assert_eq!(files_under(&server.root.join("charts/team/a")), [".chartroom", "kept-0.1.0.tgz"]);
    assert!(files_under(&server.root.join("charts/team/a/.chartroom/probe")).is_empty());

    // Credentials from <NAME>_FILE files, and from the AWS shared credentials file.
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = (dir.path().join("id"), dir.path().join("secret"));
    std::fs::write(&id, "AK\n").unwrap();
    std::fs::write(&secret, "SK\n").unwrap();
    let env = env_for(
        &cfg,
        &[
            ("AWS_ACCESS_KEY_ID_FILE", &id.display().to_string()),
            ("AWS_SECRET_ACCESS_KEY_FILE", &secret.display().to_string()),
        ],
    );
    open_with(&cfg, &env).await.unwrap();
    let shared = dir.path().join("credentials");
    std::fs::write(
        &shared,
        "[default]\naws_access_key_id = nope\n[ci]\naws_access_key_id = AK\naws_secret_access_key = SK\n",
    )
    .unwrap();
    let env = env_for(&cfg, &[("AWS_SHARED_CREDENTIALS_FILE", &shared.display().to_string()), ("AWS_PROFILE", "ci")]);
    open_with(&cfg, &env).await.unwrap();
}

#[tokio::test]
async fn s3s_fs_failures_say_what_to_check() {
    let server = s3s_fs();
    std::fs::create_dir(server.root.join("charts")).unwrap();
    let cfg = s3_cfg(&server, "charts", "");

    // Wrong secret.
    let env = env_for(&cfg, &[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "wrong")]);
    let e = open_with(&cfg, &env).await.unwrap_err();
    assert!(matches!(e, OpenError::AccessDenied { .. }), "{e:?}");
    let text = e.to_string();
    eprintln!("wrong secret: {text}");
    assert!(text.contains("denied") && text.contains("AWS_ACCESS_KEY_ID") && !text.contains("wrong"), "{text}");

    // Missing bucket.
    let missing = s3_cfg(&server, "nope", "");
    let env = env_for(&missing, &[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")]);
    let e = open_with(&missing, &env).await.unwrap_err();
    eprintln!("missing bucket: {e}");
    assert!(matches!(e, OpenError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("\"nope\" ") && e.to_string().contains("does not exist"), "{e}");

    // Nothing listening: fails within seconds, saying it cannot reach the endpoint.
    let port = free_port();
    let mut gone = amazon_cfg("charts", Some(&format!("http://127.0.0.1:{port}")));
    gone.region = Some("us-east-1".into());
    let gone = BackendConfig::Amazon(gone);
    let env = env_for(&gone, &[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")]);
    let started = Instant::now();
    let e = open_with(&gone, &env).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    eprintln!("unreachable: {e} ({:?})", started.elapsed());
    assert!(matches!(e, OpenError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot reach") && e.to_string().contains(&port.to_string()), "{e}");
}

#[test]
fn statuses_from_list_errors() {
    let text = "Generic S3 error: Error performing list request: Error performing GET http://x/b?list-type=2 \
                in 1ms - Server returned non-2xx status code: 403 Forbidden: <Error/>";
    assert_eq!(http_status(text), Some(403));
    assert_eq!(http_status("status code: 404 Not Found"), Some(404));
    assert_eq!(http_status("status code: 4"), None);
    assert_eq!(http_status("no status here"), None);
}

// ---------------------------------------------------------------------------------------------
// Azurite (Azure Blob emulator, from the npm registry).

fn azurite() -> Server {
    let bin = tool("azurite/node_modules/.bin/azurite-blob", "CHARTROOM_AZURITE_BLOB");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let port = free_port();
    let mut command = Command::new(bin);
    command.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--skipApiVersionCheck", "--loose"]);
    command.arg("--location").arg(&root);
    Server::start("azurite-blob", command, port, dir, root)
}

#[tokio::test]
async fn azurite_open_and_roundtrip() {
    let server = azurite();
    let cfg = BackendConfig::Microsoft(MicrosoftConfig { container: "charts".into(), prefix: "team".into() });
    let emulator = [("AZURE_STORAGE_USE_EMULATOR", "true"), ("AZURITE_BLOB_STORAGE_URL", &server.url())];

    // The container does not exist yet: a clear error.
    let e = open_with(&cfg, &env_for(&cfg, &emulator)).await.unwrap_err();
    eprintln!("missing container: {e}");
    assert!(matches!(e, OpenError::NotFound { .. }), "{e:?}");

    // Create it (Chartroom never does), through object_store's own client to keep the test small.
    create_azurite_container(&server, "charts").await;
    let storage = open_with(&cfg, &env_for(&cfg, &emulator)).await.unwrap();
    roundtrip(&storage).await;

    // ChartMuseum's variables: account + key, AZURE_BASE_URL as a full URL (emulator style).
    let url = format!("{}/devstoreaccount1", server.url());
    let env = env_for(
        &cfg,
        &[
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1"),
            ("AZURE_STORAGE_ACCESS_KEY", EMULATOR_ACCOUNT_KEY),
            ("AZURE_BASE_URL", &url),
        ],
    );
    open_with(&cfg, &env).await.unwrap();
    // A wrong key is refused with a credentials message.
    let env = env_for(
        &cfg,
        &[
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1"),
            ("AZURE_STORAGE_ACCESS_KEY", "d3Jvbmcta2V5LXdyb25nLWtleQ=="),
            ("AZURE_BASE_URL", &url),
        ],
    );
    let e = open_with(&cfg, &env).await.unwrap_err();
    eprintln!("wrong key: {e}");
    assert!(matches!(e, OpenError::AccessDenied { .. }), "{e:?}");
    assert!(e.to_string().contains("AZURE_STORAGE_ACCESS_KEY"), "{e}");
}

/// Chartroom never creates containers and object_store has no call for it, so the test signs
/// `PUT ?restype=container` itself (SharedKey with Azurite's published key), with the node that
/// runs Azurite anyway.
async fn create_azurite_container(server: &Server, name: &str) {
    let status = Command::new("node")
        .arg("-e")
        .arg(AZURITE_CREATE_CONTAINER_JS)
        .arg(format!("{}/devstoreaccount1/{name}?restype=container", server.url()))
        .env("NODE_PATH", repo_root().join(".tools/azurite/node_modules"))
        .status()
        .unwrap();
    assert!(status.success(), "creating the container failed");
}

/// Signs `PUT <url>` with Azurite's well-known account key (SharedKey, API 2021-08-06).
const AZURITE_CREATE_CONTAINER_JS: &str = r#"
const crypto = require('crypto');
const url = new URL(process.argv[1]);
const account = 'devstoreaccount1';
const key = Buffer.from('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'base64');
const date = new Date().toUTCString();
const version = '2021-08-06';
const params = [...url.searchParams.entries()].sort().map(([k, v]) => `\n${k}:${v}`).join('');
const toSign = `PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:${date}\nx-ms-version:${version}\n/${account}${url.pathname}${params}`;
const sig = crypto.createHmac('sha256', key).update(toSign, 'utf8').digest('base64');
fetch(url, { method: 'PUT', headers: { 'x-ms-date': date, 'x-ms-version': version, 'Authorization': `SharedKey ${account}:${sig}` } })
  .then(r => { if (r.status !== 201 && r.status !== 409) { return r.text().then(t => { console.error(r.status, t); process.exit(1); }); } })
  .catch(e => { console.error(e); process.exit(1); });
"#;
