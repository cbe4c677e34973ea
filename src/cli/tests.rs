//! The command line: `serve`'s arguments built from the server's option table, flags and
//! environment variables, their precedence over the config file, and `--help`. Resolution on its
//! own is tested in `server/src/config/tests.rs`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chartroom_auth::{BasicCredentials, BearerSettings};
use chartroom_index::{IndexFormat, PerTenant, ProvenanceMode, Retention, Tenant};
use chartroom_server::config::options::*;
use chartroom_server::config::{
    AllowedOrigins, AmazonConfig, ArtifactHub, AuditTarget, AuthSettings, BackendConfig, ClientLimits, Config,
    ConfigError, ConnectionSettings, GoogleConfig, LifecycleSettings, MicrosoftConfig, Owner, ProvenanceSettings,
    RateLimit, Resolved, Tenancy, TlsSettings, TrustedKeyring, resolve,
};
use clap::{CommandFactory, Parser};

use super::{Cli, Command, ServeArgs};

/// Serialises every test that reads or writes the process environment (clap reads it).
static ENV_LOCK: Mutex<()> = Mutex::new(());

fn env_names() -> Vec<&'static str> {
    OPTIONS.iter().map(|o| o.env).collect()
}

/// Holds the environment lock; clears the options' variables and restores them on drop.
struct Env {
    saved: Vec<(&'static str, Option<OsString>)>,
    _lock: MutexGuard<'static, ()>,
}

fn env() -> Env {
    let lock = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let saved = env_names().into_iter().map(|k| (k, std::env::var_os(k))).collect();
    let env = Env { saved, _lock: lock };
    for k in env_names() {
        env.remove(k);
    }
    env
}

impl Env {
    fn set(&self, key: &str, value: &str) {
        // SAFETY: `self` holds ENV_LOCK, which serialises all environment access in these tests.
        unsafe { std::env::set_var(key, value) }
    }
    fn remove(&self, key: &str) {
        // SAFETY: `self` holds ENV_LOCK, which serialises all environment access in these tests.
        unsafe { std::env::remove_var(key) }
    }
    /// `chartroom serve <args>`, parsed by the real command line.
    fn parse(&self, args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let argv = ["chartroom", "serve"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(serve) => Ok(serve),
            _ => unreachable!("parsed `serve`"),
        }
    }
    fn config(&self, args: &[&str]) -> Resolved {
        let args = self.parse(args).unwrap();
        resolve(&args.values, storage_env(&[])).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (k, v) in &self.saved {
            match v {
                // SAFETY: ENV_LOCK is still held (`_lock` drops after this body).
                Some(v) => unsafe { std::env::set_var(k, v) },
                // SAFETY: as above.
                None => unsafe { std::env::remove_var(k) },
            }
        }
    }
}

/// Every default: what the server resolves from no values at all (its own tests compare that
/// with a literal configuration).
/// The endpoint the flag and variable tests configure.
fn webhook() -> chartroom_webhooks::Endpoint {
    chartroom_webhooks::Endpoint {
        name: "ci".into(),
        url: "https://ci.example/hook".into(),
        secret: chartroom_webhooks::Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        events: vec![chartroom_index::EventKind::Pushed, chartroom_index::EventKind::Deleted],
        tenants: vec!["team-a".into()],
    }
}

fn defaults() -> Config {
    resolve(&chartroom_server::config::ArgValues::new(), storage_env(&[])).unwrap().config
}

/// Storage-related variables for [`resolve`]; HOME points nowhere so that a developer's ~/.aws
/// cannot change the outcome.
fn storage_env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    std::iter::once(("HOME", "/nonexistent-chartroom-test-home"))
        .chain(pairs.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn with_env(args: &ServeArgs, vars: &[(&str, &str)]) -> Result<Resolved, ConfigError> {
    resolve(&args.values, storage_env(vars))
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn source_of(c: &Resolved, key: &str) -> &'static str {
    c.describe().into_iter().find(|(k, _, _)| *k == key).map(|(_, _, s)| s).unwrap()
}

fn is_cloud_storage_env(name: &str) -> bool {
    ["STORAGE_AMAZON_", "STORAGE_GOOGLE_", "STORAGE_MICROSOFT_"].iter().any(|p| name.starts_with(p))
}

/// Helm's test public key, a real keyring file.
fn helm_keyring() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/helm/pkg/downloader/testdata/helm-test-key.pub"))
}

/// The provenance settings for `default`, these tenants' policies and Helm's test key.
fn provenance(default: ProvenanceMode, tenants: &[(&str, ProvenanceMode)]) -> ProvenanceSettings {
    let tenants: BTreeMap<Tenant, ProvenanceMode> =
        tenants.iter().map(|(t, m)| (Tenant::parse(t).unwrap(), *m)).collect();
    ProvenanceSettings::new(default, tenants, Some(TrustedKeyring::read(helm_keyring()).unwrap())).unwrap()
}

fn amazon(c: &Resolved) -> &AmazonConfig {
    match &c.config.storage.backend {
        BackendConfig::Amazon(a) => a,
        other => panic!("not amazon: {other:?}"),
    }
}

#[test]
fn defaults_without_anything() {
    let env = env();
    let c = env.config(&[]);
    assert_eq!(c.config, defaults());
    assert!(c.describe().iter().all(|(_, _, s)| *s == "default"));
    assert_eq!(c.config.listen.addr(), "0.0.0.0:8080");
}

fn retention(keep: Option<usize>, keep_prereleases: Option<usize>) -> Retention {
    Retention { keep, keep_prereleases }
}

fn tenants<T: Clone>(values: &[(&str, T)]) -> BTreeMap<Tenant, T> {
    values.iter().map(|(t, v)| (Tenant::parse(t).unwrap(), v.clone())).collect()
}

#[test]
fn every_flag() {
    let env = env();
    let c = env.config(&[
        "--listen-host",
        "127.0.0.1",
        "--port",
        "9000",
        "--storage",
        "LOCAL",
        "--storage-local-rootdir",
        "/srv/charts",
        "--allow-overwrite",
        "--disable-force-overwrite",
        "--disable-delete",
        "--disable-api",
        "--disable-statefiles",
        "--statefile-delay",
        "2m",
        "--context-path",
        "charts/",
        "--chart-url",
        "https://charts.example.com/",
        "--max-upload-size",
        "1024",
        "--max-upload-memory",
        "4096",
        "--chart-post-form-field-name",
        "c",
        "--prov-post-form-field-name",
        "p",
        "--cache-interval",
        "1h30m",
        "--index-limit",
        "4",
        "--json-index",
        "--index-format",
        "json",
        "--log-json",
        "--log-health",
        "--debug",
        "--read-timeout",
        "5",
        "--write-timeout",
        "7",
        "--disable-oci",
        "--disable-ui",
        "--storage-poll-interval",
        "250ms",
        "--depth",
        "2",
        "--depth-dynamic",
        "--basic-auth-user",
        "admin",
        "--basic-auth-pass",
        "s3cret",
        "--auth-anonymous-get",
        "--auth-config",
        "/etc/chartroom/auth.yaml",
        "--auth-config-poll-interval",
        "1m",
        "--bearer-auth",
        "--auth-realm",
        "https://auth.example/token",
        "--auth-service",
        "chartroom",
        "--auth-cert-path",
        "/etc/chartroom/jwt.pem",
        "--auth-actions-search-path",
        "access[].actions[]",
        "--auth-audience",
        "charts",
        "--auth-issuer",
        "https://issuer",
        "--read-header-timeout",
        "3s",
        "--idle-timeout",
        "2m",
        "--shutdown-timeout",
        "40s",
        "--max-connections",
        "100",
        "--max-header-count",
        "50",
        "--max-header-size",
        "16384",
        "--http2-cleartext",
        "--tls-cert",
        "/tls/cert.pem",
        "--tls-key",
        "/tls/key.pem",
        "--tls-ca-cert",
        "/tls/ca.pem",
        "--tls-reload-interval",
        "0",
        "--enable-metrics",
        "--metrics-listen",
        "127.0.0.1:9102",
        "--cors-alloworigin",
        "https://UI.example.com/",
        "--rate-limit",
        "5",
        "--rate-limit-burst",
        "9",
        "--max-concurrent-uploads",
        "2",
        "--provenance",
        "if-present",
        "--provenance-tenant",
        "team-a=required",
        "--provenance-tenant",
        "org/team-b=off,team-c=if-present",
        "--provenance-keyring",
        helm_keyring().to_str().unwrap(),
        "--webhook",
        "ci=https://ci.example/hook",
        "--webhook-secret",
        "ci=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "--webhook-events",
        "ci=chart.pushed+chart.deleted",
        "--webhook-tenants",
        "ci=team-a",
        "--per-chart-limit",
        "10",
        "--per-chart-limit-tenant",
        "team-a=2",
        "--retention-keep-prereleases",
        "3",
        "--retention-keep-prereleases-tenant",
        "team-b=none",
        "--max-storage-objects",
        "500",
        "--max-storage-objects-tenant",
        "team-a=0",
        "--artifact-hub-repo-id",
        "root-id",
        "--artifact-hub-repo-id",
        "team-a=a-id",
        "--artifact-hub-owner",
        "name=Chart Team,email=charts@example.com",
        "--audit-log",
        "/var/log/chartroom-audit.jsonl",
    ]);
    let mut want = defaults();
    want.webhooks = vec![webhook()];
    want.listen.host = "127.0.0.1".into();
    want.listen.port = 9000;
    want.storage.backend = BackendConfig::Local { root: PathBuf::from("/srv/charts") };
    want.storage.poll_interval = Duration::from_millis(250);
    want.repository.overwrite.allow_overwrite = true;
    want.repository.overwrite.disable_force_overwrite = true;
    want.http.disable_delete = true;
    want.http.disable_api = true;
    want.repository.statefiles = false;
    want.repository.statefile_delay = Duration::from_secs(120);
    want.http.context_path = "/charts".into();
    want.repository.context_path = "/charts".into();
    want.repository.chart_url = Some("https://charts.example.com".into());
    want.http.max_upload_size = 1024;
    want.http.max_upload_memory = 4096;
    want.http.chart_form_field = "c".into();
    want.http.prov_form_field = "p".into();
    want.repository.cache_interval = Some(Duration::from_secs(5400));
    want.repository.index_limit = 4;
    want.repository.index_format = IndexFormat::Json;
    want.log.json = true;
    want.http.log_health = true;
    want.log.debug = true;
    want.http.read_timeout = Duration::from_secs(5);
    want.http.write_timeout = Duration::from_secs(7);
    want.http.disable_oci = true;
    want.http.disable_ui = true;
    want.repository.tenancy = Tenancy::Dynamic;
    want.auth = AuthSettings {
        chartmuseum_user: BasicCredentials::from_options(Some("admin"), Some("s3cret")).unwrap(),
        anonymous_get: true,
        config_file: Some(PathBuf::from("/etc/chartroom/auth.yaml")),
        config_poll_interval: Some(Duration::from_secs(60)),
        bearer: Some(BearerSettings {
            realm: "https://auth.example/token".into(),
            service: "chartroom".into(),
            cert_path: PathBuf::from("/etc/chartroom/jwt.pem"),
            actions_search_path: "access[].actions[]".into(),
            audience: vec!["charts".into()],
            issuer: vec!["https://issuer".into()],
            leeway_seconds: 0,
        }),
    };
    want.connections = ConnectionSettings {
        header_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(120),
        stall_timeout: Duration::from_secs(12),
        shutdown_timeout: Duration::from_secs(40),
        max_connections: 100,
        max_header_count: 50,
        max_header_size: 16384,
        http2_cleartext: true,
    };
    want.tls = Some(TlsSettings {
        cert: PathBuf::from("/tls/cert.pem"),
        key: PathBuf::from("/tls/key.pem"),
        client_ca: Some(PathBuf::from("/tls/ca.pem")),
        reload_interval: None,
    });
    want.metrics.enabled = true;
    want.metrics.listen = Some("127.0.0.1:9102".parse().unwrap());
    want.limits = ClientLimits {
        rate: Some(RateLimit { per_second: 5, burst: 9 }),
        concurrent_uploads: Some(2),
        cors: Some(AllowedOrigins::List(vec!["https://ui.example.com".into()])),
    };
    want.provenance = provenance(
        ProvenanceMode::IfPresent,
        &[
            ("team-a", ProvenanceMode::Required),
            ("org/team-b", ProvenanceMode::Off),
            ("team-c", ProvenanceMode::IfPresent),
        ],
    );
    want.lifecycle = LifecycleSettings {
        retention: PerTenant::new(
            retention(Some(10), Some(3)),
            tenants(&[("team-a", retention(Some(2), Some(3))), ("team-b", retention(Some(10), None))]),
        ),
        max_objects: PerTenant::new(Some(500), tenants(&[("team-a", None)])),
        artifact_hub: ArtifactHub {
            repo_ids: tenants(&[("", "root-id".to_owned()), ("team-a", "a-id".to_owned())]),
            owner: Some(Owner { name: "Chart Team".into(), email: "charts@example.com".into() }),
        },
        audit: Some(AuditTarget::File(PathBuf::from("/var/log/chartroom-audit.jsonl"))),
    };
    want.config_file = None;
    assert_eq!(c.config, want);
    let rows = c.describe();
    assert!(rows.iter().filter(|(k, _, _)| *k != "config").all(|(_, _, s)| *s == "flag/env"), "{rows:?}");
    assert_eq!(source_of(&c, "config"), "default");
}

#[test]
fn config_flag_short_and_long() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "c.yaml", "port: 9001\n");
    let p = path.to_str().unwrap();
    for argv in [["-c", p], ["--config", p]] {
        let c = env.config(&argv);
        assert_eq!(c.config.listen.port, 9001);
        assert_eq!(c.config.config_file.as_deref(), Some(path.as_path()));
        assert_eq!(source_of(&c, "config"), "flag/env");
        assert_eq!(source_of(&c, "port"), "file");
    }
    env.set("CONFIG", p);
    assert_eq!(env.config(&[]).config.listen.port, 9001);
}

#[test]
fn boolean_flag_forms() {
    let env = env();
    // The value of an option when the command line gives one, as resolved.
    let given = |argv: &[&str], option: &OptionSpec| {
        let args = env.parse(argv).unwrap();
        let c = with_env(&args, &[]).unwrap().config;
        let value = match option.key {
            "allowoverwrite" => c.repository.overwrite.allow_overwrite.to_string(),
            "debug" => c.log.debug.to_string(),
            _ => c.listen.port.to_string(),
        };
        args.values.get(option).map(|_| value)
    };
    let a = |argv: &[&str]| given(argv, &ALLOW_OVERWRITE).map(|v| v == "true");
    assert_eq!(a(&[]), None);
    assert_eq!(a(&["--allow-overwrite"]), Some(true));
    assert_eq!(a(&["--allow-overwrite=false"]), Some(false));
    assert_eq!(a(&["--allow-overwrite=true"]), Some(true));
    assert_eq!(a(&["--allow-overwrite=off"]), Some(false));
    assert_eq!(a(&["--allow-overwrite", "no"]), Some(false));
    let argv = ["--allow-overwrite", "--debug", "--port", "1"];
    assert_eq!(
        (given(&argv, &ALLOW_OVERWRITE), given(&argv, &DEBUG), given(&argv, &PORT)),
        (Some("true".into()), Some("true".into()), Some("1".into()))
    );
    let e = env.parse(&["--allow-overwrite=maybe"]).unwrap_err().to_string();
    assert!(e.contains("--allow-overwrite") && e.contains("maybe"), "{e}");
    assert!(e.contains("ALLOW_OVERWRITE"), "{e}");
}

#[test]
fn environment_variables() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "empty.yaml", "");
    let keyring = helm_keyring();
    let vars = [
        ("LISTEN_HOST", "::1"),
        ("PORT", "9100"),
        ("STORAGE", "local"),
        ("STORAGE_LOCAL_ROOTDIR", "/data"),
        ("ALLOW_OVERWRITE", "true"),
        ("DISABLE_FORCE_OVERWRITE", "1"),
        ("DISABLE_DELETE", "yes"),
        ("DISABLE_API", "on"),
        ("DISABLE_STATEFILES", "TRUE"),
        ("STATEFILE_DELAY", "1m30s"),
        ("CONTEXT_PATH", "/a/b/"),
        ("CHART_URL", "http://example.com:8080/x/"),
        ("MAX_UPLOAD_SIZE", "2048"),
        ("MAX_UPLOAD_MEMORY", "8192"),
        ("CHART_POST_FORM_FIELD_NAME", "chartfile"),
        ("PROV_POST_FORM_FIELD_NAME", "provfile"),
        ("CACHE_INTERVAL", "0"),
        ("INDEX_LIMIT", "0"),
        ("JSON_INDEX", "Yes"),
        ("INDEX_FORMAT", "json"),
        ("LOG_JSON", "On"),
        ("LOG_HEALTH", "1"),
        ("DEBUG", "true"),
        ("READ_TIMEOUT", "11"),
        ("WRITE_TIMEOUT", "12"),
        ("DISABLE_OCI", "yes"),
        ("DISABLE_UI", "on"),
        ("STORAGE_POLL_INTERVAL", "2s"),
        ("DEPTH", "3"),
        ("DEPTH_DYNAMIC", "false"),
        ("BASIC_AUTH_USER", "admin"),
        ("BASIC_AUTH_PASS", "pw"),
        ("AUTH_ANONYMOUS_GET", "true"),
        ("AUTH_CONFIG", "/auth.yaml"),
        ("AUTH_CONFIG_POLL_INTERVAL", "0"),
        ("BEARER_AUTH", "1"),
        ("AUTH_REALM", "https://a/token"),
        ("AUTH_SERVICE", "svc"),
        ("AUTH_CERT_PATH", "/k.pem"),
        ("AUTH_ACTIONS_SEARCH_PATH", "x[]"),
        ("AUTH_AUDIENCE", "a,b"),
        ("AUTH_ISSUER", "i"),
        ("READ_HEADER_TIMEOUT", "1m"),
        ("IDLE_TIMEOUT", "5s"),
        ("SHUTDOWN_TIMEOUT", "0"),
        ("MAX_CONNECTIONS", "10"),
        ("MAX_HEADER_COUNT", "7"),
        ("MAX_HEADER_SIZE", "9000"),
        ("HTTP2_CLEARTEXT", "yes"),
        ("TLS_CERT", "/c.pem"),
        ("TLS_KEY", "/k.pem"),
        ("TLS_CA_CERT", "/ca.pem"),
        ("TLS_RELOAD_INTERVAL", "1s"),
        ("ENABLE_METRICS", "1"),
        ("METRICS_LISTEN", "[::1]:9102"),
        ("CORS_ALLOW_ORIGIN", "*"),
        ("RATE_LIMIT", "3"),
        ("RATE_LIMIT_BURST", "0"),
        ("MAX_CONCURRENT_UPLOADS", "0"),
        ("CONFIG", file.to_str().unwrap()),
        ("PROVENANCE", "Required"),
        ("PROVENANCE_TENANT", "team-a=off team-b=if-present,, team-c=required"),
        ("PROVENANCE_KEYRING", keyring.to_str().unwrap()),
        ("WEBHOOK", "ci=https://ci.example/hook"),
        ("WEBHOOK_SECRET", "ci=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("WEBHOOK_EVENTS", "ci=chart.pushed+chart.deleted"),
        ("WEBHOOK_TENANTS", "ci=team-a"),
        ("PER_CHART_LIMIT", "4"),
        ("PER_CHART_LIMIT_TENANT", "team-a=1"),
        ("RETENTION_KEEP_PRERELEASES", "0"),
        ("RETENTION_KEEP_PRERELEASES_TENANT", "team-b=2"),
        ("MAX_STORAGE_OBJECTS", "9"),
        ("MAX_STORAGE_OBJECTS_TENANT", "team-c=3 team-d=0"),
        ("ARTIFACT_HUB_REPO_ID", "rid, org/team=tid"),
        ("ARTIFACT_HUB_OWNER", "name=Ops,email=ops@example.com"),
        ("AUDIT_LOG", "stdout"),
    ];
    // The other backends' variables are exercised by `cloud_backends_from_environment`.
    let local_names = env_names().into_iter().filter(|n| !is_cloud_storage_env(n)).count();
    assert_eq!(vars.len(), local_names, "every variable is exercised");
    for (k, v) in vars {
        env.set(k, v);
    }
    let c = env.config(&[]);
    let mut want = defaults();
    want.listen.host = "::1".into();
    want.listen.port = 9100;
    want.webhooks = vec![webhook()];
    want.storage.backend = BackendConfig::Local { root: PathBuf::from("/data") };
    want.storage.poll_interval = Duration::from_secs(2);
    want.repository.overwrite.allow_overwrite = true;
    want.repository.overwrite.disable_force_overwrite = true;
    want.http.disable_delete = true;
    want.http.disable_api = true;
    want.repository.statefiles = false;
    want.repository.statefile_delay = Duration::from_secs(90);
    want.http.context_path = "/a/b".into();
    want.repository.context_path = "/a/b".into();
    want.repository.chart_url = Some("http://example.com:8080/x".into());
    want.http.max_upload_size = 2048;
    want.http.max_upload_memory = 8192;
    want.http.chart_form_field = "chartfile".into();
    want.http.prov_form_field = "provfile".into();
    want.repository.cache_interval = None;
    want.repository.index_limit = 16;
    want.repository.index_format = IndexFormat::Json;
    want.log.json = true;
    want.http.log_health = true;
    want.log.debug = true;
    want.http.read_timeout = Duration::from_secs(11);
    want.http.write_timeout = Duration::from_secs(12);
    want.http.disable_oci = true;
    want.http.disable_ui = true;
    want.repository.tenancy = Tenancy::Depth(3);
    want.auth = AuthSettings {
        chartmuseum_user: BasicCredentials::from_options(Some("admin"), Some("pw")).unwrap(),
        anonymous_get: true,
        config_file: Some(PathBuf::from("/auth.yaml")),
        config_poll_interval: None,
        bearer: Some(BearerSettings {
            realm: "https://a/token".into(),
            service: "svc".into(),
            cert_path: PathBuf::from("/k.pem"),
            actions_search_path: "x[]".into(),
            audience: vec!["a".into(), "b".into()],
            issuer: vec!["i".into()],
            leeway_seconds: 0,
        }),
    };
    want.connections = ConnectionSettings {
        // At most the read timeout.
        header_timeout: Duration::from_secs(11),
        idle_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(23),
        shutdown_timeout: Duration::ZERO,
        max_connections: 10,
        max_header_count: 7,
        max_header_size: 9000,
        http2_cleartext: true,
    };
    want.tls = Some(TlsSettings {
        cert: PathBuf::from("/c.pem"),
        key: PathBuf::from("/k.pem"),
        client_ca: Some(PathBuf::from("/ca.pem")),
        reload_interval: Some(Duration::from_secs(1)),
    });
    want.metrics.enabled = true;
    want.metrics.listen = Some("[::1]:9102".parse().unwrap());
    want.limits = ClientLimits {
        rate: Some(RateLimit { per_second: 3, burst: 6 }),
        concurrent_uploads: None,
        cors: Some(AllowedOrigins::Any),
    };
    want.provenance = provenance(
        ProvenanceMode::Required,
        &[("team-a", ProvenanceMode::Off), ("team-b", ProvenanceMode::IfPresent), ("team-c", ProvenanceMode::Required)],
    );
    want.lifecycle = LifecycleSettings {
        retention: PerTenant::new(
            retention(Some(4), Some(0)),
            tenants(&[("team-a", retention(Some(1), Some(0))), ("team-b", retention(Some(4), Some(2)))]),
        ),
        max_objects: PerTenant::new(Some(9), tenants(&[("team-c", Some(3)), ("team-d", None)])),
        artifact_hub: ArtifactHub {
            repo_ids: tenants(&[("", "rid".to_owned()), ("org/team", "tid".to_owned())]),
            owner: Some(Owner { name: "Ops".into(), email: "ops@example.com".into() }),
        },
        audit: Some(AuditTarget::Stdout),
    };
    want.config_file = Some(file.clone());
    assert_eq!(c.config, want);
    assert!(c.describe().iter().all(|(_, _, s)| *s == "flag/env"));
    assert_eq!(c.config.listen.addr(), "[::1]:9100");
}

#[test]
fn environment_booleans() {
    let env = env();
    for (value, want) in [
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("yes", true),
        ("no", false),
        ("on", true),
        ("off", false),
        ("TRUE", true),
        ("Off", false),
        ("", false),
    ] {
        env.set("DISABLE_DELETE", value);
        let c = env.config(&[]);
        assert_eq!(c.config.http.disable_delete, want, "DISABLE_DELETE={value:?}");
    }
    env.set("DISABLE_DELETE", "maybe");
    let e = env.parse(&[]).unwrap_err().to_string();
    assert!(e.contains("--disable-delete"), "{e}");
    assert!(e.contains("DISABLE_DELETE"), "{e}");
    assert!(e.contains("maybe"), "{e}");
}

#[test]
fn flag_beats_environment() {
    let env = env();
    env.set("PORT", "9100");
    env.set("ALLOW_OVERWRITE", "true");
    env.set("CONTEXT_PATH", "/env");
    let c = env.config(&["--port", "9200", "--allow-overwrite=false"]).config;
    assert_eq!(c.listen.port, 9200);
    assert!(!c.repository.overwrite.allow_overwrite);
    assert_eq!(c.http.context_path, "/env");
}

#[test]
fn precedence_flag_env_file_default() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "c.yaml", "port: 9000\nlisten:\n  host: 127.0.0.1\ndebug: true\ncontextpath: /file\n");
    env.set("CONFIG", file.to_str().unwrap());

    // File beats default; untouched options stay default.
    let c = env.config(&[]);
    assert_eq!((c.config.listen.port, c.config.listen.host.as_str(), c.config.log.debug), (9000, "127.0.0.1", true));
    assert_eq!(c.config.http.context_path, "/file");
    assert_eq!(c.config.http.max_upload_size, 20_971_520);
    assert_eq!(source_of(&c, "port"), "file");
    assert_eq!(source_of(&c, "listen.host"), "file");
    assert_eq!(source_of(&c, "maxuploadsize"), "default");
    assert_eq!(source_of(&c, "config"), "flag/env");

    // Environment beats file.
    env.set("PORT", "9100");
    env.set("DEBUG", "false");
    let c = env.config(&[]);
    assert_eq!((c.config.listen.port, c.config.log.debug), (9100, false));
    assert_eq!(source_of(&c, "port"), "flag/env");
    assert_eq!(source_of(&c, "listen.host"), "file");

    // Flag beats environment and file.
    let c = env.config(&["--port", "9200", "--context-path", "/flag"]).config;
    assert_eq!(c.listen.port, 9200);
    assert_eq!(c.http.context_path, "/flag");
}

#[test]
fn invalid_values_are_refused_as_they_are_parsed() {
    let env = env();
    for (argv, wants) in [
        (["--port", "abc"], ["--port", "PORT", "abc"]),
        (["--port", "65536"], ["--port", "PORT", "65536"]),
        (["--max-upload-size=-1", "x"], ["--max-upload-size", "MAX_UPLOAD_SIZE", "-1"]),
        (["--index-limit", "x"], ["--index-limit", "INDEX_LIMIT", "x"]),
        (["--read-timeout", "5s"], ["--read-timeout", "READ_TIMEOUT", "5s"]),
    ] {
        let e = env.parse(&argv).unwrap_err().to_string();
        for want in wants {
            assert!(e.contains(want), "{argv:?}: {e}\nmissing {want:?}");
        }
    }
    env.set("PORT", "http");
    let e = env.parse(&[]).unwrap_err().to_string();
    assert!(e.contains("PORT") && e.contains("http"), "{e}");
    env.remove("PORT");
    // clap refuses an empty path before the server sees it.
    assert!(env.parse(&["--storage-local-rootdir", ""]).is_err());
}

#[test]
fn help_mentions_every_environment_variable() {
    let env = env();
    let help = serve_help();
    for name in env_names() {
        assert!(help.contains(name), "help lacks {name}:\n{help}");
    }
    for o in OPTIONS {
        assert!(help.contains(o.flag), "help lacks {}", o.flag);
    }
    assert!(help.contains("[default: 8080]"), "{help}");

    // The table used for messages matches the clap definitions.
    let mut cmd = Cli::command();
    let cmd = cmd.find_subcommand_mut("serve").unwrap();
    for o in OPTIONS {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long().map(|l| format!("--{l}")) == Some(o.flag.to_owned()))
            .unwrap_or_else(|| panic!("no clap argument {}", o.flag));
        assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(o.env)));
    }
    let with_env = cmd.get_arguments().filter(|a| a.get_env().is_some()).count();
    assert_eq!(with_env, env_names().len());
    drop(env);
}

/// `chartroom serve --help` as printed.
fn serve_help() -> String {
    match Cli::try_parse_from(["chartroom", "serve", "--help"]) {
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.to_string(),
        _ => panic!("--help did not print help"),
    }
}

/// `--help` shows the values of the options' variables, but never a secret's.
#[test]
fn help_never_shows_a_secret() {
    let env = env();
    env.set("BASIC_AUTH_PASS", "hunter2-in-env");
    env.set("BASIC_AUTH_USER", "admin-in-env");
    let help = serve_help();
    assert!(!help.contains("hunter2-in-env"), "{help}");
    assert!(help.contains("BASIC_AUTH_USER=admin-in-env"), "other values are shown: {help}");
    let c = env.config(&[]);
    let row = c.describe().into_iter().find(|(k, _, _)| *k == "basicauth.pass").unwrap();
    assert_eq!(row.1, "<redacted>");
    drop(env);
}

#[test]
fn help_snapshots() {
    // The environment is cleared of the options' variables: clap shows their values in --help.
    let env = env();
    insta::assert_snapshot!("serve_help", serve_help());
    let top = match Cli::try_parse_from(["chartroom", "--help"]) {
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.to_string(),
        _ => panic!("--help did not print help"),
    };
    insta::assert_snapshot!("chartroom_help", top);
    drop(env);
}

mod storage;
