//! `chartroom serve` configuration.
//!
//! Every option has a long flag, the ChartMuseum environment variable name and the ChartMuseum
//! config file key (`helm/chartmuseum:pkg/config/vars.go`). Precedence: flag or environment
//! variable (clap: the flag wins over the variable) > YAML config file (`--config`) > built-in
//! default. [`Config::from_args`] resolves and validates everything once; the rest of the server
//! only sees the typed [`Config`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chartroom_storage::backend::{self, Environment};
use serde_json::Value;

pub use chartroom_storage::backend::{AmazonConfig, BackendConfig, GoogleConfig, MicrosoftConfig};

const DEFAULT_LISTEN_HOST: &str = "0.0.0.0";
const DEFAULT_PORT: u16 = 8080;
const DEFAULT_STORAGE: &str = "local";
const DEFAULT_LOCAL_ROOTDIR: &str = "./chartroom-data";
const DEFAULT_MAX_UPLOAD_SIZE: u64 = 20_971_520;
const DEFAULT_CHART_FORM_FIELD: &str = "chart";
const DEFAULT_PROV_FORM_FIELD: &str = "prov";
const DEFAULT_CACHE_INTERVAL: &str = "5m";
/// `--index-limit 0` (the default) means this many parallel archive reads.
const DEFAULT_INDEX_LIMIT: usize = 16;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// How often replicas poll shared storage for changes made by others.
const DEFAULT_STORAGE_POLL_INTERVAL: &str = "500ms";

/// Storage backends Chartroom implements (`--storage`).
const BACKENDS: &[&str] = &["local", "amazon", "google", "microsoft"];
/// ChartMuseum storage backends Chartroom does not implement (yet).
const CHARTMUSEUM_ONLY_BACKENDS: &[&str] = &["alibaba", "openstack", "oracle", "baidu", "tencent", "etcd"];

const SOURCE_ARG: &str = "flag/env";
const SOURCE_FILE: &str = "file";
const SOURCE_DEFAULT: &str = "default";

/// `chartroom serve` options. Every option has a long flag and the ChartMuseum environment
/// variable name.
//
// All values are optional (no clap `default_value`) so that [`Config::from_args`] can apply the
// precedence flag/env > config file > default; each help text states the default.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    about = "Serve a ChartMuseum-compatible Helm chart repository",
    long_about = None
)]
pub struct ServeArgs {
    /// Host or IP address to listen on [default: 0.0.0.0]
    #[arg(long = "listen-host", env = "LISTEN_HOST", value_name = "HOST")]
    pub listen_host: Option<String>,

    /// Port to listen on; 0 picks a free port [default: 8080]
    #[arg(long = "port", env = "PORT", value_name = "PORT",
          value_parser = uint_arg::<u16>("PORT", "an integer from 0 to 65535"))]
    pub port: Option<u16>,

    /// Storage backend: local, amazon, google or microsoft [default: local]
    #[arg(long = "storage", env = "STORAGE", value_name = "BACKEND")]
    pub storage: Option<String>,

    /// Root directory of the local storage backend [default: ./chartroom-data]
    #[arg(long = "storage-local-rootdir", env = "STORAGE_LOCAL_ROOTDIR", value_name = "DIR")]
    pub storage_local_rootdir: Option<PathBuf>,

    /// S3 bucket of the amazon backend (required for amazon) [default: none]
    #[arg(long = "storage-amazon-bucket", env = "STORAGE_AMAZON_BUCKET", value_name = "BUCKET")]
    pub storage_amazon_bucket: Option<String>,

    /// Object name prefix in the S3 bucket [default: none, the bucket root]
    #[arg(long = "storage-amazon-prefix", env = "STORAGE_AMAZON_PREFIX", value_name = "PREFIX")]
    pub storage_amazon_prefix: Option<String>,

    /// S3 region; falls back to AWS_REGION, AWS_DEFAULT_REGION and the AWS profile, and to
    /// us-east-1 when an endpoint is set [default: none]
    #[arg(long = "storage-amazon-region", env = "STORAGE_AMAZON_REGION", value_name = "REGION")]
    pub storage_amazon_region: Option<String>,

    /// Endpoint of an S3-compatible server, e.g. http://minio:9000 (http:// is allowed)
    /// [default: none, AWS]
    #[arg(long = "storage-amazon-endpoint", env = "STORAGE_AMAZON_ENDPOINT", value_name = "URL")]
    pub storage_amazon_endpoint: Option<String>,

    /// S3 server-side encryption: AES256, aws:kms (key id from AWS_SSE_KMS_KEY_ID),
    /// aws:kms:dsse or sse-c [default: none]
    #[arg(long = "storage-amazon-sse", env = "STORAGE_AMAZON_SSE", value_name = "ALGORITHM")]
    pub storage_amazon_sse: Option<String>,

    /// Path-style S3 requests (endpoint/bucket/key) instead of virtual-hosted (bucket.endpoint/key)
    /// [default: true]
    #[arg(long = "storage-amazon-force-path-style", env = "STORAGE_AMAZON_FORCE_PATH_STYLE", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("STORAGE_AMAZON_FORCE_PATH_STYLE"))]
    pub storage_amazon_force_path_style: Option<bool>,

    /// GCS bucket of the google backend (required for google) [default: none]
    #[arg(long = "storage-google-bucket", env = "STORAGE_GOOGLE_BUCKET", value_name = "BUCKET")]
    pub storage_google_bucket: Option<String>,

    /// Object name prefix in the GCS bucket [default: none, the bucket root]
    #[arg(long = "storage-google-prefix", env = "STORAGE_GOOGLE_PREFIX", value_name = "PREFIX")]
    pub storage_google_prefix: Option<String>,

    /// Azure Blob container of the microsoft backend (required for microsoft) [default: none]
    #[arg(long = "storage-microsoft-container", env = "STORAGE_MICROSOFT_CONTAINER", value_name = "CONTAINER")]
    pub storage_microsoft_container: Option<String>,

    /// Blob name prefix in the Azure container [default: none, the container root]
    #[arg(long = "storage-microsoft-prefix", env = "STORAGE_MICROSOFT_PREFIX", value_name = "PREFIX")]
    pub storage_microsoft_prefix: Option<String>,

    /// How often to poll storage for changes made by other replicas, as a Go duration (must be
    /// greater than 0) [default: 500ms]
    #[arg(long = "storage-poll-interval", env = "STORAGE_POLL_INTERVAL", value_name = "DURATION")]
    pub storage_poll_interval: Option<String>,

    /// Allow uploads to overwrite an existing chart version without ?force [default: false]
    #[arg(long = "allow-overwrite", env = "ALLOW_OVERWRITE", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("ALLOW_OVERWRITE"))]
    pub allow_overwrite: Option<bool>,

    /// Refuse to overwrite an existing chart version even with ?force [default: false]
    #[arg(long = "disable-force-overwrite", env = "DISABLE_FORCE_OVERWRITE", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("DISABLE_FORCE_OVERWRITE"))]
    pub disable_force_overwrite: Option<bool>,

    /// Remove the DELETE chart route [default: false]
    #[arg(long = "disable-delete", env = "DISABLE_DELETE", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("DISABLE_DELETE"))]
    pub disable_delete: Option<bool>,

    /// Remove all /api routes [default: false]
    #[arg(long = "disable-api", env = "DISABLE_API", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("DISABLE_API"))]
    pub disable_api: Option<bool>,

    /// Do not persist index state in storage [default: false]
    #[arg(long = "disable-statefiles", env = "DISABLE_STATEFILES", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("DISABLE_STATEFILES"))]
    pub disable_statefiles: Option<bool>,

    /// Serve all routes under this URL path prefix, e.g. /charts [default: none]
    #[arg(long = "context-path", env = "CONTEXT_PATH", value_name = "PATH")]
    pub context_path: Option<String>,

    /// Absolute http(s) base URL for chart URLs in index.yaml, e.g. https://charts.example.com
    /// [default: none, URLs relative to the repository]
    #[arg(long = "chart-url", env = "CHART_URL", value_name = "URL")]
    pub chart_url: Option<String>,

    /// Largest accepted request body, in bytes [default: 20971520]
    #[arg(long = "max-upload-size", env = "MAX_UPLOAD_SIZE", value_name = "BYTES",
          value_parser = uint_arg::<u64>("MAX_UPLOAD_SIZE", "a number of bytes"))]
    pub max_upload_size: Option<u64>,

    /// Multipart form field name of the chart archive in uploads [default: chart]
    #[arg(long = "chart-post-form-field-name", env = "CHART_POST_FORM_FIELD_NAME", value_name = "NAME")]
    pub chart_post_form_field_name: Option<String>,

    /// Multipart form field name of the provenance file in uploads [default: prov]
    #[arg(long = "prov-post-form-field-name", env = "PROV_POST_FORM_FIELD_NAME", value_name = "NAME")]
    pub prov_post_form_field_name: Option<String>,

    /// How often to rescan storage for changes, as a Go duration (30s, 5m, 1h30m); 0 never
    /// rescans [default: 5m]
    #[arg(long = "cache-interval", env = "CACHE_INTERVAL", value_name = "DURATION")]
    pub cache_interval: Option<String>,

    /// Maximum parallel chart archive reads when (re)building the index; 0 means the built-in
    /// bound of 16 [default: 0]
    #[arg(long = "index-limit", env = "INDEX_LIMIT", value_name = "N",
          value_parser = uint_arg::<usize>("INDEX_LIMIT", "a non-negative integer"))]
    pub index_limit: Option<usize>,

    /// Serve the index as compact JSON instead of YAML [default: false]
    #[arg(long = "json-index", env = "JSON_INDEX", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("JSON_INDEX"))]
    pub json_index: Option<bool>,

    /// Write logs as JSON lines [default: false]
    #[arg(long = "log-json", env = "LOG_JSON", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("LOG_JSON"))]
    pub log_json: Option<bool>,

    /// Log requests to /health [default: false]
    #[arg(long = "log-health", env = "LOG_HEALTH", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("LOG_HEALTH"))]
    pub log_health: Option<bool>,

    /// Debug logging [default: false]
    #[arg(long = "debug", env = "DEBUG", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_arg("DEBUG"))]
    pub debug: Option<bool>,

    /// Server read timeout, in whole seconds [default: 30]
    #[arg(long = "read-timeout", env = "READ_TIMEOUT", value_name = "SECONDS",
          value_parser = uint_arg::<u64>("READ_TIMEOUT", "a whole number of seconds"))]
    pub read_timeout: Option<u64>,

    /// Server write timeout, in whole seconds [default: 30]
    #[arg(long = "write-timeout", env = "WRITE_TIMEOUT", value_name = "SECONDS",
          value_parser = uint_arg::<u64>("WRITE_TIMEOUT", "a whole number of seconds"))]
    pub write_timeout: Option<u64>,

    /// YAML config file (ChartMuseum keys, nested or dotted); flags and environment variables
    /// override its values [default: none]
    #[arg(short = 'c', long = "config", env = "CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Where charts are stored (the storage crate's plain configuration).
pub type StorageConfig = BackendConfig;

/// The validated server configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `--listen-host`, `LISTEN_HOST`, key `listen.host`; IPv6 addresses without brackets.
    pub listen_host: String,
    /// `--port`, `PORT`, key `port`.
    pub port: u16,
    /// `--storage` / `STORAGE` / `storage.backend` and the backend's own options.
    pub storage: StorageConfig,
    /// `--storage-poll-interval`, `STORAGE_POLL_INTERVAL`, key `storage.pollinterval`: how often
    /// to look for changes made by other replicas (> 0).
    pub storage_poll_interval: Duration,
    /// `--allow-overwrite`, `ALLOW_OVERWRITE`, key `allowoverwrite`.
    pub allow_overwrite: bool,
    /// `--disable-force-overwrite`, `DISABLE_FORCE_OVERWRITE`, key `disableforceoverwrite`.
    pub disable_force_overwrite: bool,
    /// `--disable-delete`, `DISABLE_DELETE`, key `disabledelete`.
    pub disable_delete: bool,
    /// `--disable-api`, `DISABLE_API`, key `disableapi`.
    pub disable_api: bool,
    /// `--disable-statefiles`, `DISABLE_STATEFILES`, key `disablestatefiles`: no persisted index state.
    pub disable_statefiles: bool,
    /// `--context-path`, `CONTEXT_PATH`, key `contextpath`: `""` or `/a/b` (no trailing slash).
    pub context_path: String,
    /// `--chart-url`, `CHART_URL`, key `charturl`: `http(s)://...` without trailing slash.
    pub chart_url: Option<String>,
    /// `--max-upload-size`, `MAX_UPLOAD_SIZE`, key `maxuploadsize`, in bytes (> 0).
    pub max_upload_size: u64,
    /// `--chart-post-form-field-name`, `CHART_POST_FORM_FIELD_NAME`, key `chartpostformfieldname`.
    pub chart_form_field: String,
    /// `--prov-post-form-field-name`, `PROV_POST_FORM_FIELD_NAME`, key `provpostformfieldname`.
    pub prov_form_field: String,
    /// `--cache-interval`, `CACHE_INTERVAL`, key `cacheinterval`; `None` = never rescan.
    pub cache_interval: Option<Duration>,
    /// `--index-limit`, `INDEX_LIMIT`, key `indexlimit`: max parallel archive reads when
    /// (re)building the index. Always >= 1: a configured 0 resolves to the built-in bound (16).
    pub index_limit: usize,
    /// `--json-index`, `JSON_INDEX`, key `json-index`.
    pub json_index: bool,
    /// `--log-json`, `LOG_JSON`, key `logjson`.
    pub log_json: bool,
    /// `--log-health`, `LOG_HEALTH`, key `loghealth`.
    pub log_health: bool,
    /// `--debug`, `DEBUG`, key `debug`.
    pub debug: bool,
    /// `--read-timeout`, `READ_TIMEOUT`, key `readtimeout` (whole seconds, >= 1).
    pub read_timeout: Duration,
    /// `--write-timeout`, `WRITE_TIMEOUT`, key `writetimeout` (whole seconds, >= 1).
    pub write_timeout: Duration,
    /// `--config` / `-c`, `CONFIG`.
    pub config_file: Option<PathBuf>,
    /// Where each value came from, for [`Config::describe`]; ignored by `==`.
    sources: Sources,
}

/// A configuration error. Messages name the option (flag, environment variable, config key)
/// and the offending value or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("invalid value {value:?} for {}: {reason}", origin(flag, env, key, file.as_deref()))]
    Invalid {
        /// The long flag, e.g. `--port`.
        flag: &'static str,
        /// The environment variable, e.g. `PORT`.
        env: &'static str,
        /// The config file key, e.g. `port`.
        key: &'static str,
        /// The config file, when the value came from it.
        file: Option<PathBuf>,
        value: String,
        reason: String,
    },
    /// The config file cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML.
    #[error("config file {} is not valid YAML: {source}", path.display())]
    ParseFile {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// The config file's top level is not a mapping.
    #[error("config file {}: the top level must be a mapping of keys to values", path.display())]
    FileNotMapping { path: PathBuf },
    /// A key Chartroom does not know (most likely a typo).
    #[error("config file {}: unknown key `{key}`{hint}", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        /// A suggestion, starting with a separator, or empty.
        hint: String,
    },
    /// A ChartMuseum key that Chartroom does not implement yet.
    #[error("config file {}: key `{key}` is a ChartMuseum option that Chartroom does not support yet", path.display())]
    UnsupportedKey { path: PathBuf, key: String },
    /// A ChartMuseum environment variable whose feature Chartroom lacks is set: starting anyway
    /// could, for example, serve without the authentication the operator asked for.
    #[error(
        "environment variable {name} is set, but Chartroom does not support that ChartMuseum option yet; \
         refusing to start (unset it to run without that feature)"
    )]
    UnsupportedEnv { name: String },
    /// A required option is missing.
    #[error(
        "missing required option {flag} (env {env}, config key `{key}`{}): {reason}",
        file.as_ref().map(|p| format!(" in config file {}", p.display())).unwrap_or_default()
    )]
    Missing {
        flag: &'static str,
        env: &'static str,
        key: &'static str,
        /// The config file, when one was given (it lacks the key too).
        file: Option<PathBuf>,
        reason: String,
    },
    /// A storage credential variable is unusable (a `<NAME>_FILE` secret, an AWS profile).
    #[error("storage credentials: {0}")]
    StorageEnv(#[source] backend::OpenError),
    /// The same key twice (for example nested and dotted, or in different letter case).
    #[error("config file {}: key `{key}` is set more than once", path.display())]
    DuplicateKey { path: PathBuf, key: String },
}

fn origin(flag: &str, env: &str, key: &str, file: Option<&Path>) -> String {
    match file {
        Some(path) => format!("key `{key}` in config file {} (flag {flag}, env {env})", path.display()),
        None => format!("{flag} (env {env})"),
    }
}

/// One option's three names.
#[derive(Debug, Clone, Copy)]
struct Opt {
    key: &'static str,
    flag: &'static str,
    env: &'static str,
}

const fn opt(key: &'static str, flag: &'static str, env: &'static str) -> Opt {
    Opt { key, flag, env }
}

const LISTEN_HOST: Opt = opt("listen.host", "--listen-host", "LISTEN_HOST");
const PORT: Opt = opt("port", "--port", "PORT");
const STORAGE: Opt = opt("storage.backend", "--storage", "STORAGE");
const STORAGE_LOCAL_ROOTDIR: Opt = opt("storage.local.rootdir", "--storage-local-rootdir", "STORAGE_LOCAL_ROOTDIR");
const STORAGE_AMAZON_BUCKET: Opt = opt("storage.amazon.bucket", "--storage-amazon-bucket", "STORAGE_AMAZON_BUCKET");
const STORAGE_AMAZON_PREFIX: Opt = opt("storage.amazon.prefix", "--storage-amazon-prefix", "STORAGE_AMAZON_PREFIX");
const STORAGE_AMAZON_REGION: Opt = opt("storage.amazon.region", "--storage-amazon-region", "STORAGE_AMAZON_REGION");
const STORAGE_AMAZON_ENDPOINT: Opt =
    opt("storage.amazon.endpoint", "--storage-amazon-endpoint", "STORAGE_AMAZON_ENDPOINT");
const STORAGE_AMAZON_SSE: Opt = opt("storage.amazon.sse", "--storage-amazon-sse", "STORAGE_AMAZON_SSE");
const STORAGE_AMAZON_FORCE_PATH_STYLE: Opt =
    opt("storage.amazon.forcepathstyle", "--storage-amazon-force-path-style", "STORAGE_AMAZON_FORCE_PATH_STYLE");
const STORAGE_GOOGLE_BUCKET: Opt = opt("storage.google.bucket", "--storage-google-bucket", "STORAGE_GOOGLE_BUCKET");
const STORAGE_GOOGLE_PREFIX: Opt = opt("storage.google.prefix", "--storage-google-prefix", "STORAGE_GOOGLE_PREFIX");
const STORAGE_MICROSOFT_CONTAINER: Opt =
    opt("storage.microsoft.container", "--storage-microsoft-container", "STORAGE_MICROSOFT_CONTAINER");
const STORAGE_MICROSOFT_PREFIX: Opt =
    opt("storage.microsoft.prefix", "--storage-microsoft-prefix", "STORAGE_MICROSOFT_PREFIX");
const STORAGE_POLL_INTERVAL: Opt = opt("storage.pollinterval", "--storage-poll-interval", "STORAGE_POLL_INTERVAL");
const ALLOW_OVERWRITE: Opt = opt("allowoverwrite", "--allow-overwrite", "ALLOW_OVERWRITE");
const DISABLE_FORCE_OVERWRITE: Opt =
    opt("disableforceoverwrite", "--disable-force-overwrite", "DISABLE_FORCE_OVERWRITE");
const DISABLE_DELETE: Opt = opt("disabledelete", "--disable-delete", "DISABLE_DELETE");
const DISABLE_API: Opt = opt("disableapi", "--disable-api", "DISABLE_API");
const DISABLE_STATEFILES: Opt = opt("disablestatefiles", "--disable-statefiles", "DISABLE_STATEFILES");
const CONTEXT_PATH: Opt = opt("contextpath", "--context-path", "CONTEXT_PATH");
const CHART_URL: Opt = opt("charturl", "--chart-url", "CHART_URL");
const MAX_UPLOAD_SIZE: Opt = opt("maxuploadsize", "--max-upload-size", "MAX_UPLOAD_SIZE");
const CHART_FORM_FIELD: Opt =
    opt("chartpostformfieldname", "--chart-post-form-field-name", "CHART_POST_FORM_FIELD_NAME");
const PROV_FORM_FIELD: Opt = opt("provpostformfieldname", "--prov-post-form-field-name", "PROV_POST_FORM_FIELD_NAME");
const CACHE_INTERVAL: Opt = opt("cacheinterval", "--cache-interval", "CACHE_INTERVAL");
const INDEX_LIMIT: Opt = opt("indexlimit", "--index-limit", "INDEX_LIMIT");
const JSON_INDEX: Opt = opt("json-index", "--json-index", "JSON_INDEX");
const LOG_JSON: Opt = opt("logjson", "--log-json", "LOG_JSON");
const LOG_HEALTH: Opt = opt("loghealth", "--log-health", "LOG_HEALTH");
const DEBUG: Opt = opt("debug", "--debug", "DEBUG");
const READ_TIMEOUT: Opt = opt("readtimeout", "--read-timeout", "READ_TIMEOUT");
const WRITE_TIMEOUT: Opt = opt("writetimeout", "--write-timeout", "WRITE_TIMEOUT");
/// `--config` has no config file key; `key` is only its name in [`Config::describe`].
const CONFIG: Opt = opt("config", "--config", "CONFIG");

/// Every option that may appear in a config file.
const FILE_OPTS: &[Opt] = &[
    LISTEN_HOST,
    PORT,
    STORAGE,
    STORAGE_LOCAL_ROOTDIR,
    STORAGE_AMAZON_BUCKET,
    STORAGE_AMAZON_PREFIX,
    STORAGE_AMAZON_REGION,
    STORAGE_AMAZON_ENDPOINT,
    STORAGE_AMAZON_SSE,
    STORAGE_AMAZON_FORCE_PATH_STYLE,
    STORAGE_GOOGLE_BUCKET,
    STORAGE_GOOGLE_PREFIX,
    STORAGE_MICROSOFT_CONTAINER,
    STORAGE_MICROSOFT_PREFIX,
    STORAGE_POLL_INTERVAL,
    ALLOW_OVERWRITE,
    DISABLE_FORCE_OVERWRITE,
    DISABLE_DELETE,
    DISABLE_API,
    DISABLE_STATEFILES,
    CONTEXT_PATH,
    CHART_URL,
    MAX_UPLOAD_SIZE,
    CHART_FORM_FIELD,
    PROV_FORM_FIELD,
    CACHE_INTERVAL,
    INDEX_LIMIT,
    JSON_INDEX,
    LOG_JSON,
    LOG_HEALTH,
    DEBUG,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
];

/// ChartMuseum config keys Chartroom does not implement (yet): a clear error beats silently
/// ignoring, say, `basicauth.user`.
const CHARTMUSEUM_ONLY_KEYS: &[&str] = &[
    "genindex",
    "loglatencyinteger",
    "enablemetrics",
    "disablemetrics",
    "basicauth.user",
    "basicauth.pass",
    "authanonymousget",
    "bearerauth",
    "authrealm",
    "authservice",
    "authcertpath",
    "authactionssearchpath",
    "tls.cert",
    "tls.key",
    "tls.cacert",
    "cors.alloworigin",
    "cache.store",
    "cache.redis.addr",
    "cache.redis.password",
    "cache.redis.db",
    "always-regenerate-chart-index",
    "depth",
    "depthdynamic",
    "maxstorageobjects",
    "per-chart-limit",
    "web-template-path",
    "artifact-hub-repo-id",
    "enforce-semver2",
    "storage.timestamptolerance",
];

/// Source of each value, by option key. Compares equal to any other `Sources`, so that
/// `Config == Config` compares values only.
#[derive(Debug, Clone, Default)]
struct Sources(BTreeMap<&'static str, &'static str>);

impl PartialEq for Sources {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

/// ChartMuseum environment variables of features Chartroom does not implement yet. Ignoring them
/// silently would be unsafe (auth, TLS) or wrong (tenancy depth, limits), so they stop the start.
pub const UNSUPPORTED_CHARTMUSEUM_ENV: &[&str] = &[
    "BASIC_AUTH_USER",
    "BASIC_AUTH_PASS",
    "BEARER_AUTH",
    "AUTH_REALM",
    "AUTH_SERVICE",
    "AUTH_CERT_PATH",
    "TLS_CERT",
    "TLS_KEY",
    "TLS_CA_CERT",
    "DEPTH",
    "DEPTH_DYNAMIC",
    "MAX_STORAGE_OBJECTS",
    "PER_CHART_LIMIT",
    "CACHE",
    "CORS_ALLOW_ORIGIN",
];

/// Fails if any of [`UNSUPPORTED_CHARTMUSEUM_ENV`] is set to a value that would enable its
/// feature (non-empty, and not a false boolean or zero).
pub fn check_unsupported_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (name, value) in vars {
        let value = value.trim();
        let off = value.is_empty()
            || value == "0"
            || ["false", "no", "off", "f", "n"].iter().any(|f| value.eq_ignore_ascii_case(f));
        if !off && UNSUPPORTED_CHARTMUSEUM_ENV.contains(&name.as_str()) {
            return Err(ConfigError::UnsupportedEnv { name });
        }
    }
    Ok(())
}

impl Config {
    /// Resolve: flag or env var > YAML config file (--config) > default; validate everything once.
    /// Storage credentials are read from the process environment (see [`Config::from_args_with_env`]).
    pub fn from_args(args: &ServeArgs) -> Result<Config, ConfigError> {
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Config::from_args_with_env(args, vars)
    }

    /// [`Config::from_args`] with an explicit environment for what storage reads beside the
    /// options: `<NAME>_FILE` secrets (checked here, so that a broken secret stops the start
    /// before anything else) and the AWS region (`AWS_REGION`, `AWS_DEFAULT_REGION`, profile).
    pub fn from_args_with_env(
        args: &ServeArgs,
        env_vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => Some(ConfigFile::load(path)?),
            None => None,
        };
        let mut r = Resolver { file: file.as_ref(), sources: Sources::default() };

        let (raw, o) = r.take(LISTEN_HOST, args.listen_host.clone(), file_string, DEFAULT_LISTEN_HOST.to_owned())?;
        let listen_host = normalize_host(&raw).map_err(|e| r.invalid(LISTEN_HOST, o, &raw, e))?;

        let (port, _) = r.take(
            PORT,
            args.port,
            |v| file_uint(v).and_then(|n| u16::try_from(n).map_err(|_| "must be at most 65535".to_owned())),
            DEFAULT_PORT,
        )?;

        let (raw, o) = r.take(STORAGE, args.storage.clone(), file_string, DEFAULT_STORAGE.to_owned())?;
        let backend = parse_backend(&raw).map_err(|e| r.invalid(STORAGE, o, &raw, e))?;
        let storage = r.storage(backend, args)?;
        let env = Environment::from_vars(&storage, env_vars).map_err(ConfigError::StorageEnv)?;
        if let StorageConfig::Amazon(amazon) = &storage
            && amazon.region.is_none()
            && amazon.endpoint.is_none()
            && backend::amazon_env_region(&env).map_err(ConfigError::StorageEnv)?.is_none()
        {
            return Err(r.missing(
                STORAGE_AMAZON_REGION,
                "the amazon backend needs a region: set it, or AWS_REGION / AWS_DEFAULT_REGION, or \
                 region in the AWS profile (with --storage-amazon-endpoint it defaults to us-east-1)",
            ));
        }

        let (raw, o) = r.take(
            STORAGE_POLL_INTERVAL,
            args.storage_poll_interval.clone(),
            file_duration_string,
            DEFAULT_STORAGE_POLL_INTERVAL.to_owned(),
        )?;
        let storage_poll_interval =
            parse_go_duration(&raw).map_err(|e| r.invalid(STORAGE_POLL_INTERVAL, o, &raw, e))?;
        if storage_poll_interval.is_zero() {
            return Err(r.invalid(STORAGE_POLL_INTERVAL, o, &raw, "must be greater than 0"));
        }

        let allow_overwrite = r.flag(ALLOW_OVERWRITE, args.allow_overwrite)?;
        let disable_force_overwrite = r.flag(DISABLE_FORCE_OVERWRITE, args.disable_force_overwrite)?;
        let disable_delete = r.flag(DISABLE_DELETE, args.disable_delete)?;
        let disable_api = r.flag(DISABLE_API, args.disable_api)?;
        let disable_statefiles = r.flag(DISABLE_STATEFILES, args.disable_statefiles)?;

        let (raw, o) = r.take(CONTEXT_PATH, args.context_path.clone(), file_string, String::new())?;
        let context_path = normalize_context_path(&raw).map_err(|e| r.invalid(CONTEXT_PATH, o, &raw, e))?;

        let (raw, o) = r.take(CHART_URL, args.chart_url.clone(), file_string, String::new())?;
        let chart_url = normalize_chart_url(&raw).map_err(|e| r.invalid(CHART_URL, o, &raw, e))?;

        let (max_upload_size, o) = r.take(MAX_UPLOAD_SIZE, args.max_upload_size, file_uint, DEFAULT_MAX_UPLOAD_SIZE)?;
        if max_upload_size == 0 {
            return Err(r.invalid(MAX_UPLOAD_SIZE, o, "0", "must be at least 1 byte"));
        }

        let (chart_form_field, o) = r.take(
            CHART_FORM_FIELD,
            args.chart_post_form_field_name.clone(),
            file_string,
            DEFAULT_CHART_FORM_FIELD.to_owned(),
        )?;
        check_form_field(&chart_form_field).map_err(|e| r.invalid(CHART_FORM_FIELD, o, &chart_form_field, e))?;
        let (prov_form_field, o) = r.take(
            PROV_FORM_FIELD,
            args.prov_post_form_field_name.clone(),
            file_string,
            DEFAULT_PROV_FORM_FIELD.to_owned(),
        )?;
        check_form_field(&prov_form_field).map_err(|e| r.invalid(PROV_FORM_FIELD, o, &prov_form_field, e))?;
        if prov_form_field == chart_form_field {
            return Err(r.invalid(
                PROV_FORM_FIELD,
                o,
                &prov_form_field,
                format!(
                    "must differ from the chart form field name ({} / {})",
                    CHART_FORM_FIELD.flag, CHART_FORM_FIELD.env
                ),
            ));
        }

        let (raw, o) = r.take(
            CACHE_INTERVAL,
            args.cache_interval.clone(),
            file_duration_string,
            DEFAULT_CACHE_INTERVAL.to_owned(),
        )?;
        let interval = parse_go_duration(&raw).map_err(|e| r.invalid(CACHE_INTERVAL, o, &raw, e))?;
        let cache_interval = (!interval.is_zero()).then_some(interval);

        let (index_limit, _) = r.take(
            INDEX_LIMIT,
            args.index_limit,
            |v| file_uint(v).and_then(|n| usize::try_from(n).map_err(|_| "too large".to_owned())),
            0,
        )?;
        let index_limit = if index_limit == 0 { DEFAULT_INDEX_LIMIT } else { index_limit };

        let json_index = r.flag(JSON_INDEX, args.json_index)?;
        let log_json = r.flag(LOG_JSON, args.log_json)?;
        let log_health = r.flag(LOG_HEALTH, args.log_health)?;
        let debug = r.flag(DEBUG, args.debug)?;

        let read_timeout = r.timeout(READ_TIMEOUT, args.read_timeout)?;
        let write_timeout = r.timeout(WRITE_TIMEOUT, args.write_timeout)?;

        let config_file = args.config.clone();
        r.record(CONFIG, if config_file.is_some() { Origin::Arg } else { Origin::Default });

        Ok(Config {
            listen_host,
            port,
            storage,
            storage_poll_interval,
            allow_overwrite,
            disable_force_overwrite,
            disable_delete,
            disable_api,
            disable_statefiles,
            context_path,
            chart_url,
            max_upload_size,
            chart_form_field,
            prov_form_field,
            cache_interval,
            index_limit,
            json_index,
            log_json,
            log_health,
            debug,
            read_timeout,
            write_timeout,
            config_file,
            sources: r.sources,
        })
    }

    /// `host:port`, with IPv6 hosts bracketed (`[::1]:8080`).
    pub fn listen_addr(&self) -> String {
        if self.listen_host.contains(':') {
            format!("[{}]:{}", self.listen_host, self.port)
        } else {
            format!("{}:{}", self.listen_host, self.port)
        }
    }

    /// Effective configuration as (key, value, source) rows for one startup log line; source is
    /// "flag/env", "file" or "default". Keys are the ChartMuseum config file keys (`config` for
    /// the config file itself).
    pub fn describe(&self) -> Vec<(&'static str, String, &'static str)> {
        let source = |o: Opt| self.sources.0.get(o.key).copied().unwrap_or(SOURCE_DEFAULT);
        let row = |o: Opt, value: String| (o.key, value, source(o));
        let mut rows = vec![
            row(LISTEN_HOST, self.listen_host.clone()),
            row(PORT, self.port.to_string()),
            row(STORAGE, self.storage.name().to_owned()),
        ];
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        match &self.storage {
            StorageConfig::Local { root } => rows.push(row(STORAGE_LOCAL_ROOTDIR, root.display().to_string())),
            StorageConfig::Amazon(c) => rows.extend([
                row(STORAGE_AMAZON_BUCKET, c.bucket.clone()),
                row(STORAGE_AMAZON_PREFIX, c.prefix.clone()),
                row(STORAGE_AMAZON_REGION, text(&c.region)),
                row(STORAGE_AMAZON_ENDPOINT, text(&c.endpoint)),
                row(STORAGE_AMAZON_SSE, text(&c.sse)),
                row(STORAGE_AMAZON_FORCE_PATH_STYLE, c.force_path_style.to_string()),
            ]),
            StorageConfig::Google(c) => rows
                .extend([row(STORAGE_GOOGLE_BUCKET, c.bucket.clone()), row(STORAGE_GOOGLE_PREFIX, c.prefix.clone())]),
            StorageConfig::Microsoft(c) => rows.extend([
                row(STORAGE_MICROSOFT_CONTAINER, c.container.clone()),
                row(STORAGE_MICROSOFT_PREFIX, c.prefix.clone()),
            ]),
        }
        rows.push(row(STORAGE_POLL_INTERVAL, format_go_duration(self.storage_poll_interval)));
        rows.extend([
            row(ALLOW_OVERWRITE, self.allow_overwrite.to_string()),
            row(DISABLE_FORCE_OVERWRITE, self.disable_force_overwrite.to_string()),
            row(DISABLE_DELETE, self.disable_delete.to_string()),
            row(DISABLE_API, self.disable_api.to_string()),
            row(DISABLE_STATEFILES, self.disable_statefiles.to_string()),
            row(CONTEXT_PATH, self.context_path.clone()),
            row(CHART_URL, self.chart_url.clone().unwrap_or_default()),
            row(MAX_UPLOAD_SIZE, self.max_upload_size.to_string()),
            row(CHART_FORM_FIELD, self.chart_form_field.clone()),
            row(PROV_FORM_FIELD, self.prov_form_field.clone()),
            row(CACHE_INTERVAL, self.cache_interval.map_or_else(|| "0".to_owned(), format_go_duration)),
            row(INDEX_LIMIT, self.index_limit.to_string()),
            row(JSON_INDEX, self.json_index.to_string()),
            row(LOG_JSON, self.log_json.to_string()),
            row(LOG_HEALTH, self.log_health.to_string()),
            row(DEBUG, self.debug.to_string()),
            row(READ_TIMEOUT, format_go_duration(self.read_timeout)),
            row(WRITE_TIMEOUT, format_go_duration(self.write_timeout)),
            row(CONFIG, self.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
        ]);
        rows
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    Arg,
    File,
    Default,
}

struct Resolver<'a> {
    file: Option<&'a ConfigFile>,
    sources: Sources,
}

impl Resolver<'_> {
    /// The value of one option by precedence, and where it came from.
    fn take<T>(
        &mut self,
        opt: Opt,
        arg: Option<T>,
        from_file: impl FnOnce(&Value) -> Result<T, String>,
        default: T,
    ) -> Result<(T, Origin), ConfigError> {
        if let Some(v) = arg {
            self.record(opt, Origin::Arg);
            return Ok((v, Origin::Arg));
        }
        if let Some(file) = self.file
            && let Some(raw) = file.values.get(opt.key)
        {
            let v = from_file(raw).map_err(|e| self.invalid(opt, Origin::File, &render(raw), e))?;
            self.record(opt, Origin::File);
            return Ok((v, Origin::File));
        }
        self.record(opt, Origin::Default);
        Ok((default, Origin::Default))
    }

    /// The selected backend's options (other backends' options are ignored, as in ChartMuseum).
    fn storage(&mut self, backend: Backend, args: &ServeArgs) -> Result<StorageConfig, ConfigError> {
        Ok(match backend {
            Backend::Local => {
                let (root, o) = self.take(
                    STORAGE_LOCAL_ROOTDIR,
                    args.storage_local_rootdir.clone(),
                    |v| file_string(v).map(PathBuf::from),
                    PathBuf::from(DEFAULT_LOCAL_ROOTDIR),
                )?;
                if root.as_os_str().is_empty() {
                    return Err(self.invalid(STORAGE_LOCAL_ROOTDIR, o, "", "must not be empty"));
                }
                StorageConfig::Local { root }
            }
            Backend::Amazon => {
                let bucket = self.required(STORAGE_AMAZON_BUCKET, &args.storage_amazon_bucket, "bucket")?;
                let prefix = self.prefix(STORAGE_AMAZON_PREFIX, &args.storage_amazon_prefix)?;
                let region = self.optional(STORAGE_AMAZON_REGION, &args.storage_amazon_region)?.map(|(v, _)| v);
                let endpoint = match self.optional(STORAGE_AMAZON_ENDPOINT, &args.storage_amazon_endpoint)? {
                    Some((raw, o)) => Some(
                        backend::normalize_endpoint(&raw)
                            .map_err(|e| self.invalid(STORAGE_AMAZON_ENDPOINT, o, &raw, e))?,
                    ),
                    None => None,
                };
                let sse = match self.optional(STORAGE_AMAZON_SSE, &args.storage_amazon_sse)? {
                    Some((raw, o)) if !backend::AMAZON_SSE_VALUES.contains(&raw.as_str()) => {
                        return Err(self.invalid(
                            STORAGE_AMAZON_SSE,
                            o,
                            &raw,
                            format!("expected one of {}", backend::AMAZON_SSE_VALUES.join(", ")),
                        ));
                    }
                    other => other.map(|(v, _)| v),
                };
                // ChartMuseum's default: path-style, which every S3-compatible server supports.
                let (force_path_style, _) =
                    self.take(STORAGE_AMAZON_FORCE_PATH_STYLE, args.storage_amazon_force_path_style, file_bool, true)?;
                StorageConfig::Amazon(AmazonConfig { bucket, prefix, region, endpoint, sse, force_path_style })
            }
            Backend::Google => StorageConfig::Google(GoogleConfig {
                bucket: self.required(STORAGE_GOOGLE_BUCKET, &args.storage_google_bucket, "bucket")?,
                prefix: self.prefix(STORAGE_GOOGLE_PREFIX, &args.storage_google_prefix)?,
            }),
            Backend::Microsoft => StorageConfig::Microsoft(MicrosoftConfig {
                container: self.required(
                    STORAGE_MICROSOFT_CONTAINER,
                    &args.storage_microsoft_container,
                    "container",
                )?,
                prefix: self.prefix(STORAGE_MICROSOFT_PREFIX, &args.storage_microsoft_prefix)?,
            }),
        })
    }

    /// A string option where empty means unset (ChartMuseum's defaults are empty strings).
    fn optional(&mut self, opt: Opt, arg: &Option<String>) -> Result<Option<(String, Origin)>, ConfigError> {
        let (value, o) = self.take(opt, arg.clone(), file_string, String::new())?;
        let value = value.trim();
        Ok((!value.is_empty()).then(|| (value.to_owned(), o)))
    }

    fn required(&mut self, opt: Opt, arg: &Option<String>, what: &str) -> Result<String, ConfigError> {
        match self.optional(opt, arg)? {
            Some((v, _)) => Ok(v),
            None => Err(self.missing(opt, &format!("the selected storage backend needs a {what}"))),
        }
    }

    fn prefix(&mut self, opt: Opt, arg: &Option<String>) -> Result<String, ConfigError> {
        match self.optional(opt, arg)? {
            Some((raw, o)) => backend::normalize_prefix(&raw).map_err(|e| self.invalid(opt, o, &raw, e)),
            None => Ok(String::new()),
        }
    }

    fn flag(&mut self, opt: Opt, arg: Option<bool>) -> Result<bool, ConfigError> {
        Ok(self.take(opt, arg, file_bool, false)?.0)
    }

    fn timeout(&mut self, opt: Opt, arg: Option<u64>) -> Result<Duration, ConfigError> {
        let (secs, o) = self.take(opt, arg, file_uint, DEFAULT_TIMEOUT_SECS)?;
        if secs == 0 {
            return Err(self.invalid(opt, o, "0", "must be at least 1 second"));
        }
        Ok(Duration::from_secs(secs))
    }

    fn record(&mut self, opt: Opt, origin: Origin) {
        let source = match origin {
            Origin::Arg => SOURCE_ARG,
            Origin::File => SOURCE_FILE,
            Origin::Default => SOURCE_DEFAULT,
        };
        self.sources.0.insert(opt.key, source);
    }

    fn missing(&self, opt: Opt, reason: &str) -> ConfigError {
        ConfigError::Missing {
            flag: opt.flag,
            env: opt.env,
            key: opt.key,
            file: self.file.map(|f| f.path.clone()),
            reason: reason.to_owned(),
        }
    }

    fn invalid(&self, opt: Opt, origin: Origin, value: &str, reason: impl Into<String>) -> ConfigError {
        let file = match (origin, self.file) {
            (Origin::File, Some(f)) => Some(f.path.clone()),
            _ => None,
        };
        ConfigError::Invalid {
            flag: opt.flag,
            env: opt.env,
            key: opt.key,
            file,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A parsed config file: dotted, lower-cased keys to non-mapping values.
struct ConfigFile {
    path: PathBuf,
    values: BTreeMap<String, Value>,
}

impl ConfigFile {
    fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        ConfigFile::parse(path, text)
    }

    fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let doc: Value = serde_saphyr::from_str(text)
            .map_err(|source| ConfigError::ParseFile { path: path.to_owned(), source: Box::new(source) })?;
        let mut flat = BTreeMap::new();
        match &doc {
            Value::Null => {}
            Value::Object(map) => flatten(path, "", map, &mut flat)?,
            _ => {
                return Err(ConfigError::FileNotMapping { path: path.to_owned() });
            }
        }
        let mut values = BTreeMap::new();
        for (key, value) in flat {
            if FILE_OPTS.iter().any(|o| o.key == key) {
                if !value.is_null() {
                    values.insert(key, value);
                }
                continue;
            }
            let is_section = FILE_OPTS.iter().any(|o| is_under(o.key, &key));
            if is_section && (value.is_null() || value.as_object().is_some_and(|m| m.is_empty())) {
                // `listen:` or `storage: {}` with nothing under it.
                continue;
            }
            if CHARTMUSEUM_ONLY_KEYS.contains(&key.as_str())
                || CHARTMUSEUM_ONLY_BACKENDS.iter().any(|b| key.starts_with(&format!("storage.{b}.")))
            {
                return Err(ConfigError::UnsupportedKey { path: path.to_owned(), key });
            }
            let hint = unknown_key_hint(&key, is_section);
            return Err(ConfigError::UnknownKey { path: path.to_owned(), key, hint });
        }
        Ok(ConfigFile { path: path.to_owned(), values })
    }
}

/// Nested mappings and dotted keys to one flat map; keys are case-insensitive (as in viper).
fn flatten(
    path: &Path,
    prefix: &str,
    map: &serde_json::Map<String, Value>,
    out: &mut BTreeMap<String, Value>,
) -> Result<(), ConfigError> {
    for (key, value) in map {
        let key = key.to_lowercase();
        let full = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten(path, &full, inner, out)?,
            _ => {
                if out.contains_key(&full) {
                    return Err(ConfigError::DuplicateKey { path: path.to_owned(), key: full });
                }
                out.insert(full, value.clone());
            }
        }
    }
    Ok(())
}

/// Whether `key` lies inside the section `section` (`storage.local.rootdir` in `storage.local`).
fn is_under(key: &str, section: &str) -> bool {
    key.strip_prefix(section).is_some_and(|rest| rest.starts_with('.'))
}

fn unknown_key_hint(key: &str, is_section: bool) -> String {
    if is_section {
        let keys: Vec<&str> = FILE_OPTS.iter().map(|o| o.key).filter(|k| is_under(k, key)).collect();
        return format!(
            " (a section, not a value: use {})",
            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        );
    }
    let squash = |s: &str| s.replace(['_', '-', '.'], "");
    let best = FILE_OPTS
        .iter()
        .map(|o| {
            let d = if squash(o.key) == squash(key) { 0 } else { edit_distance(o.key, key) };
            (d, o.key)
        })
        .min();
    match best {
        Some((d, k)) if d <= 2 => format!(" (did you mean `{k}`?)"),
        _ => format!(" (known keys: {})", FILE_OPTS.iter().map(|o| o.key).collect::<Vec<_>>().join(", ")),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur.push(subst.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A config file value as it would be written on the command line (for error messages).
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn file_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Value::Bool(_) | Value::Number(_) => Err("expected a string; quote the value".to_owned()),
        _ => Err("expected a string".to_owned()),
    }
}

/// Durations: strings, or the bare number 0.
fn file_duration_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.as_u64() == Some(0) => Ok("0".to_owned()),
        Value::Number(_) => Err("expected a duration with a unit, e.g. \"30s\", \"5m\", \"1h\"".to_owned()),
        _ => Err("expected a duration string".to_owned()),
    }
}

fn file_uint(v: &Value) -> Result<u64, String> {
    const WANT: &str = "expected a non-negative integer";
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| WANT.to_owned()),
        Value::String(s) => s.trim().parse::<u64>().map_err(|_| WANT.to_owned()),
        _ => Err(WANT.to_owned()),
    }
}

fn file_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::String(s) => parse_bool(s),
        _ => Err(BOOL_WANT.to_owned()),
    }
}

const BOOL_WANT: &str = "expected true/false, 1/0, yes/no or on/off";

/// Booleans as ChartMuseum's environment accepts them, plus yes/no/on/off; empty is false.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "f" | "0" | "no" | "n" | "off" | "" => Ok(false),
        _ => Err(BOOL_WANT.to_owned()),
    }
}

/// clap value parser for a boolean option; the message names the environment variable too.
fn bool_arg(env: &'static str) -> impl Fn(&str) -> Result<bool, String> + Clone + Send + Sync + 'static {
    move |s: &str| parse_bool(s).map_err(|e| format!("{e} (env {env})"))
}

/// clap value parser for an unsigned integer option; the message names the environment variable too.
fn uint_arg<T>(
    env: &'static str,
    want: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
{
    move |s: &str| s.trim().parse::<T>().map_err(|_| format!("expected {want} (env {env})"))
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Local,
    Amazon,
    Google,
    Microsoft,
}

/// `--storage`, case-insensitive as in ChartMuseum.
fn parse_backend(raw: &str) -> Result<Backend, String> {
    let name = raw.trim().to_ascii_lowercase();
    match name.as_str() {
        "local" => return Ok(Backend::Local),
        "amazon" => return Ok(Backend::Amazon),
        "google" => return Ok(Backend::Google),
        "microsoft" => return Ok(Backend::Microsoft),
        _ => {}
    }
    if CHARTMUSEUM_ONLY_BACKENDS.contains(&name.as_str()) {
        return Err(format!(
            "storage backend {name:?} is not supported yet; supported backends: {}",
            BACKENDS.join(", ")
        ));
    }
    Err(format!(
        "unsupported storage backend; supported backends: {} (ChartMuseum's {} are not supported yet)",
        BACKENDS.join(", "),
        CHARTMUSEUM_ONLY_BACKENDS.join(", ")
    ))
}

/// Accepts IPv4, IPv6 (optionally bracketed, optionally with a `%zone`) and host names;
/// returns the host without brackets.
fn normalize_host(raw: &str) -> Result<String, String> {
    let host = raw.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(raw);
    if host.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(host.to_owned());
    }
    if host.contains(':') {
        let (addr, zone) = host.split_once('%').unwrap_or((host, "x"));
        let zone_ok =
            !zone.is_empty() && zone.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if addr.parse::<Ipv6Addr>().is_ok() && zone_ok {
            return Ok(host.to_owned());
        }
        return Err("not a valid IPv6 address".to_owned());
    }
    if host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        return Ok(host.to_owned());
    }
    Err("expected an IP address or a host name".to_owned())
}

/// `""` or `/a/b`: adds the leading '/', trims one trailing '/', `"/"` is `""`. Segments must be
/// non-empty, not `.` or `..`, and use only `[A-Za-z0-9._~-]`.
fn normalize_context_path(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw == "/" {
        return Ok(String::new());
    }
    let inner = raw.strip_prefix('/').unwrap_or(raw);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    for segment in inner.split('/') {
        if segment.is_empty() {
            return Err("empty path segment".to_owned());
        }
        if segment == "." || segment == ".." {
            return Err(format!("path segment {segment:?} is not allowed"));
        }
        if let Some(c) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'))) {
            return Err(format!(
                "character {c:?} is not allowed (use only A-Z a-z 0-9 . _ ~ - and '/' between segments)"
            ));
        }
    }
    Ok(format!("/{inner}"))
}

/// Empty means none; otherwise an absolute `http://` or `https://` URL, trailing '/' trimmed.
fn normalize_chart_url(raw: &str) -> Result<Option<String>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let lower = raw.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &raw["http://".len()..]
    } else if lower.starts_with("https://") {
        &raw["https://".len()..]
    } else {
        return Err("must be an absolute http:// or https:// URL".to_owned());
    };
    if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#')) {
        return Err(format!("character {c:?} is not allowed in the base URL"));
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

fn check_form_field(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || matches!(c, '"' | '\\')) {
        return Err(format!("character {c:?} is not allowed in a form field name"));
    }
    Ok(())
}

/// Go's `time.ParseDuration` for non-negative values: `0`, or a sequence of decimal numbers
/// (optional fraction) each with a unit `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`.
fn parse_go_duration(raw: &str) -> Result<Duration, String> {
    const MAX_NANOS: u128 = i64::MAX as u128;
    let (negative, mut s) = if let Some(rest) = raw.strip_prefix('-') {
        (true, rest)
    } else {
        (false, raw.strip_prefix('+').unwrap_or(raw))
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("expected a duration such as 30s, 5m or 1h30m (or 0)".to_owned());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(after) => {
                let n = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
                after.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("expected a number before each unit".to_owned());
        }
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err("missing unit (ns, us, ms, s, m, h)".to_owned()),
            other => {
                return Err(format!("unknown unit {other:?} (use ns, us, ms, s, m or h)"));
            }
        };
        let too_long = || "duration too long".to_owned();
        let int: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| too_long())? };
        // Fraction digits beyond nanosecond precision of the largest unit are irrelevant.
        let frac_digits = &frac_part[..frac_part.len().min(18)];
        let frac: u128 = if frac_digits.is_empty() { 0 } else { frac_digits.parse().map_err(|_| too_long())? };
        let scale = 10u128.pow(frac_digits.len() as u32);
        let part =
            int.checked_mul(unit_nanos).and_then(|v| v.checked_add(frac * unit_nanos / scale)).ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        if total > MAX_NANOS {
            return Err(too_long());
        }
        s = rest;
    }
    if negative && total > 0 {
        return Err("must not be negative".to_owned());
    }
    let nanos = u64::try_from(total).map_err(|_| "duration too long".to_owned())?;
    Ok(Duration::from_nanos(nanos))
}

/// Go's `time.Duration.String()`: `5m0s`, `1h30m0s`, `1.5s`, `250ms`, `0s`.
fn format_go_duration(d: Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".to_owned();
    }
    let frac = |n: u128, digits: usize| {
        let s = format!("{n:0digits$}");
        let s = s.trim_end_matches('0');
        if s.is_empty() { String::new() } else { format!(".{s}") }
    };
    if total < 1_000 {
        return format!("{total}ns");
    }
    if total < 1_000_000 {
        return format!("{}{}µs", total / 1_000, frac(total % 1_000, 3));
    }
    if total < 1_000_000_000 {
        return format!("{}{}ms", total / 1_000_000, frac(total % 1_000_000, 6));
    }
    let secs = total / 1_000_000_000;
    let f = frac(total % 1_000_000_000, 9);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}{f}s")
    } else if m > 0 {
        format!("{m}m{s}{f}s")
    } else {
        format!("{s}{f}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use std::ffi::OsString;
    use std::sync::{Mutex, MutexGuard};

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    /// Serialises every test that reads or writes the process environment (clap reads it).
    static ENV_LOCK: Mutex<()> = Mutex::new(());

    fn env_names() -> Vec<&'static str> {
        FILE_OPTS.iter().map(|o| o.env).chain([CONFIG.env]).collect()
    }

    /// Holds the environment lock; clears our variables and restores them on drop.
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
        fn parse(&self, args: &[&str]) -> Result<ServeArgs, clap::Error> {
            let argv = std::iter::once("chartroom").chain(args.iter().copied());
            Cli::try_parse_from(argv).map(|cli| cli.serve)
        }
        fn config(&self, args: &[&str]) -> Config {
            let args = self.parse(args).unwrap();
            Config::from_args(&args).unwrap()
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

    fn defaults() -> Config {
        Config {
            listen_host: "0.0.0.0".into(),
            port: 8080,
            storage: StorageConfig::Local { root: PathBuf::from("./chartroom-data") },
            storage_poll_interval: Duration::from_millis(500),
            allow_overwrite: false,
            disable_force_overwrite: false,
            disable_delete: false,
            disable_api: false,
            disable_statefiles: false,
            context_path: String::new(),
            chart_url: None,
            max_upload_size: 20_971_520,
            chart_form_field: "chart".into(),
            prov_form_field: "prov".into(),
            cache_interval: Some(Duration::from_secs(300)),
            index_limit: 16,
            json_index: false,
            log_json: false,
            log_health: false,
            debug: false,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            config_file: None,
            sources: Sources::default(),
        }
    }

    fn from(args: ServeArgs) -> Result<Config, ConfigError> {
        Config::from_args(&args)
    }

    fn err(args: ServeArgs) -> String {
        from(args).unwrap_err().to_string()
    }

    fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "chartroom.yaml", text);
        let args = ServeArgs { config: Some(path), ..ServeArgs::default() };
        (dir, args)
    }

    fn source_of(c: &Config, key: &str) -> &'static str {
        c.describe().into_iter().find(|(k, _, _)| *k == key).map(|(_, _, s)| s).unwrap()
    }

    #[test]
    fn defaults_without_anything() {
        assert_eq!(from(ServeArgs::default()).unwrap(), defaults());
        let env = env();
        let c = env.config(&[]);
        assert_eq!(c, defaults());
        assert!(c.describe().iter().all(|(_, _, s)| *s == "default"));
        assert_eq!(c.listen_addr(), "0.0.0.0:8080");
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
            "--context-path",
            "charts/",
            "--chart-url",
            "https://charts.example.com/",
            "--max-upload-size",
            "1024",
            "--chart-post-form-field-name",
            "c",
            "--prov-post-form-field-name",
            "p",
            "--cache-interval",
            "1h30m",
            "--index-limit",
            "4",
            "--json-index",
            "--log-json",
            "--log-health",
            "--debug",
            "--read-timeout",
            "5",
            "--write-timeout",
            "7",
            "--storage-poll-interval",
            "250ms",
        ]);
        let want = Config {
            listen_host: "127.0.0.1".into(),
            port: 9000,
            storage: StorageConfig::Local { root: PathBuf::from("/srv/charts") },
            storage_poll_interval: Duration::from_millis(250),
            allow_overwrite: true,
            disable_force_overwrite: true,
            disable_delete: true,
            disable_api: true,
            disable_statefiles: true,
            context_path: "/charts".into(),
            chart_url: Some("https://charts.example.com".into()),
            max_upload_size: 1024,
            chart_form_field: "c".into(),
            prov_form_field: "p".into(),
            cache_interval: Some(Duration::from_secs(5400)),
            index_limit: 4,
            json_index: true,
            log_json: true,
            log_health: true,
            debug: true,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(7),
            config_file: None,
            sources: Sources::default(),
        };
        assert_eq!(c, want);
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
            assert_eq!(c.port, 9001);
            assert_eq!(c.config_file.as_deref(), Some(path.as_path()));
            assert_eq!(source_of(&c, "config"), "flag/env");
            assert_eq!(source_of(&c, "port"), "file");
        }
        env.set("CONFIG", p);
        assert_eq!(env.config(&[]).port, 9001);
    }

    #[test]
    fn boolean_flag_forms() {
        let env = env();
        let a = |argv: &[&str]| env.parse(argv).unwrap().allow_overwrite;
        assert_eq!(a(&[]), None);
        assert_eq!(a(&["--allow-overwrite"]), Some(true));
        assert_eq!(a(&["--allow-overwrite=false"]), Some(false));
        assert_eq!(a(&["--allow-overwrite=true"]), Some(true));
        assert_eq!(a(&["--allow-overwrite=off"]), Some(false));
        assert_eq!(a(&["--allow-overwrite", "no"]), Some(false));
        let args = env.parse(&["--allow-overwrite", "--debug", "--port", "1"]).unwrap();
        assert_eq!((args.allow_overwrite, args.debug, args.port), (Some(true), Some(true), Some(1)));
        let e = env.parse(&["--allow-overwrite=maybe"]).unwrap_err().to_string();
        assert!(e.contains("--allow-overwrite") && e.contains("maybe"), "{e}");
        assert!(e.contains("ALLOW_OVERWRITE"), "{e}");
    }

    #[test]
    fn environment_variables() {
        let env = env();
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(&dir, "empty.yaml", "");
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
            ("CONTEXT_PATH", "/a/b/"),
            ("CHART_URL", "http://example.com:8080/x/"),
            ("MAX_UPLOAD_SIZE", "2048"),
            ("CHART_POST_FORM_FIELD_NAME", "chartfile"),
            ("PROV_POST_FORM_FIELD_NAME", "provfile"),
            ("CACHE_INTERVAL", "0"),
            ("INDEX_LIMIT", "0"),
            ("JSON_INDEX", "Yes"),
            ("LOG_JSON", "On"),
            ("LOG_HEALTH", "1"),
            ("DEBUG", "true"),
            ("READ_TIMEOUT", "11"),
            ("WRITE_TIMEOUT", "12"),
            ("STORAGE_POLL_INTERVAL", "2s"),
            ("CONFIG", file.to_str().unwrap()),
        ];
        // The other backends' variables are exercised by `cloud_backends_from_environment`.
        let local_names = env_names().into_iter().filter(|n| !is_cloud_storage_env(n)).count();
        assert_eq!(vars.len(), local_names, "every variable is exercised");
        for (k, v) in vars {
            env.set(k, v);
        }
        let c = env.config(&[]);
        let want = Config {
            listen_host: "::1".into(),
            port: 9100,
            storage: StorageConfig::Local { root: PathBuf::from("/data") },
            storage_poll_interval: Duration::from_secs(2),
            allow_overwrite: true,
            disable_force_overwrite: true,
            disable_delete: true,
            disable_api: true,
            disable_statefiles: true,
            context_path: "/a/b".into(),
            chart_url: Some("http://example.com:8080/x".into()),
            max_upload_size: 2048,
            chart_form_field: "chartfile".into(),
            prov_form_field: "provfile".into(),
            cache_interval: None,
            index_limit: 16,
            json_index: true,
            log_json: true,
            log_health: true,
            debug: true,
            read_timeout: Duration::from_secs(11),
            write_timeout: Duration::from_secs(12),
            config_file: Some(file.clone()),
            sources: Sources::default(),
        };
        assert_eq!(c, want);
        assert!(c.describe().iter().all(|(_, _, s)| *s == "flag/env"));
        assert_eq!(c.listen_addr(), "[::1]:9100");
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
            assert_eq!(c.disable_delete, want, "DISABLE_DELETE={value:?}");
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
        let c = env.config(&["--port", "9200", "--allow-overwrite=false"]);
        assert_eq!(c.port, 9200);
        assert!(!c.allow_overwrite);
        assert_eq!(c.context_path, "/env");
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let env = env();
        let dir = tempfile::tempdir().unwrap();
        let file =
            write_file(&dir, "c.yaml", "port: 9000\nlisten:\n  host: 127.0.0.1\ndebug: true\ncontextpath: /file\n");
        env.set("CONFIG", file.to_str().unwrap());

        // File beats default; untouched options stay default.
        let c = env.config(&[]);
        assert_eq!((c.port, c.listen_host.as_str(), c.debug), (9000, "127.0.0.1", true));
        assert_eq!(c.context_path, "/file");
        assert_eq!(c.max_upload_size, 20_971_520);
        assert_eq!(source_of(&c, "port"), "file");
        assert_eq!(source_of(&c, "listen.host"), "file");
        assert_eq!(source_of(&c, "maxuploadsize"), "default");
        assert_eq!(source_of(&c, "config"), "flag/env");

        // Environment beats file.
        env.set("PORT", "9100");
        env.set("DEBUG", "false");
        let c = env.config(&[]);
        assert_eq!((c.port, c.debug), (9100, false));
        assert_eq!(source_of(&c, "port"), "flag/env");
        assert_eq!(source_of(&c, "listen.host"), "file");

        // Flag beats environment and file.
        let c = env.config(&["--port", "9200", "--context-path", "/flag"]);
        assert_eq!(c.port, 9200);
        assert_eq!(c.context_path, "/flag");
    }

    #[test]
    fn file_nested_dotted_and_case_insensitive_keys() {
        let nested = "\
listen:
  host: 127.0.0.1
storage:
  backend: local
  local:
    rootdir: /srv/nested
allowOverwrite: yes
json-index: true
cacheinterval: 30s
maxuploadsize: '4096'
indexlimit: 8
readtimeout: 3
";
        let dotted = "\
listen.host: 127.0.0.1
storage.backend: local
storage.local.rootdir: /srv/nested
allowoverwrite: \"on\"
JSON-INDEX: 1
cacheinterval: \"30s\"
maxuploadsize: 4096
indexlimit: 8
readtimeout: \"3\"
";
        let mixed = "\
listen: {host: 127.0.0.1}
storage:
  backend: local
  local.rootdir: /srv/nested
allowoverwrite: true
json-index: true
cacheinterval: 30s
maxuploadsize: 4096
indexlimit: 8
readtimeout: 3
";
        let mut configs = Vec::new();
        for text in [nested, dotted, mixed] {
            let (_dir, args) = with_file(text);
            let c = from(args).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(c.listen_host, "127.0.0.1");
            assert_eq!(c.storage, StorageConfig::Local { root: PathBuf::from("/srv/nested") });
            assert!(c.allow_overwrite && c.json_index);
            assert_eq!(c.cache_interval, Some(Duration::from_secs(30)));
            assert_eq!(c.max_upload_size, 4096);
            assert_eq!(c.index_limit, 8);
            assert_eq!(c.read_timeout, Duration::from_secs(3));
            configs.push(Config { config_file: None, ..c });
        }
        assert_eq!(configs[0], configs[1]);
        assert_eq!(configs[1], configs[2]);
    }

    #[test]
    fn file_empty_and_null_values() {
        for text in ["", "# only a comment\n", "charturl:\nlisten:\n", "storage: {}\nlisten: {}\n"] {
            let (_dir, args) = with_file(text);
            let c = from(args).unwrap();
            assert_eq!(Config { config_file: None, ..c }, defaults());
        }
        let (_dir, args) = with_file("cacheinterval: 0\n");
        assert_eq!(from(args).unwrap().cache_interval, None);
    }

    #[test]
    fn file_errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        let e = err(ServeArgs { config: Some(missing.clone()), ..ServeArgs::default() });
        assert!(e.contains("missing.yaml") && e.contains("cannot read"), "{e}");

        let cases: &[(&str, &[&str])] = &[
            ("port: [1\n", &["not valid YAML"]),
            ("- port\n- 1\n", &["top level must be a mapping"]),
            ("allowoverwrit: true\n", &["unknown key `allowoverwrit`", "did you mean `allowoverwrite`"]),
            ("allow_overwrite: true\n", &["unknown key `allow_overwrite`", "did you mean `allowoverwrite`"]),
            ("bogus: 1\n", &["unknown key `bogus`", "known keys:", "storage.local.rootdir"]),
            ("storage: local\n", &["unknown key `storage`", "`storage.backend`"]),
            ("storage:\n  local:\n    root: x\n", &["unknown key `storage.local.root`"]),
            ("port:\n  number: 1\n", &["unknown key `port.number`"]),
            ("basicauth:\n  user: admin\n", &["`basicauth.user`", "does not support yet"]),
            ("storage.alibaba.bucket: b\n", &["`storage.alibaba.bucket`", "does not support yet"]),
            ("storage:\n  amazon:\n    bucketname: b\n", &["unknown key `storage.amazon.bucketname`"]),
            ("storage.pollinterval: 0\n", &["key `storage.pollinterval`", "--storage-poll-interval", "greater than 0"]),
            ("storage.pollinterval: 5\n", &["key `storage.pollinterval`", "unit"]),
            ("storage: {backend: amazon}\n", &["--storage-amazon-bucket", "STORAGE_AMAZON_BUCKET", "bucket"]),
            (
                "storage: {backend: amazon, amazon: {bucket: b, region: r, sse: AES128}}\n",
                &["key `storage.amazon.sse`", "AES256, aws:kms"],
            ),
            (
                "storage: {backend: amazon, amazon: {bucket: b, endpoint: 'ftp://x'}}\n",
                &["key `storage.amazon.endpoint`", "\"ftp\""],
            ),
            ("storage: {backend: google, google: {prefix: a/../b}}\n", &["--storage-google-bucket"]),
            ("storage: {backend: microsoft}\n", &["--storage-microsoft-container", "STORAGE_MICROSOFT_CONTAINER"]),
            (
                "storage: {backend: amazon, amazon: {bucket: b, region: r, forcepathstyle: sometimes}}\n",
                &["key `storage.amazon.forcepathstyle`", "--storage-amazon-force-path-style"],
            ),
            ("depth: 1\n", &["`depth`", "does not support yet"]),
            ("storage.backend: local\nstorage:\n  backend: local\n", &["`storage.backend` is set more than once"]),
            ("port: 1\nPort: 2\n", &["`port` is set more than once"]),
            ("port: 70000\n", &["\"70000\"", "key `port`", "--port", "PORT", "at most 65535"]),
            ("port: abc\n", &["\"abc\"", "key `port`", "non-negative integer"]),
            ("maxuploadsize: 1.5\n", &["key `maxuploadsize`", "--max-upload-size", "MAX_UPLOAD_SIZE"]),
            ("debug: maybe\n", &["key `debug`", "--debug", "DEBUG", "\"maybe\""]),
            ("cacheinterval: 300\n", &["key `cacheinterval`", "unit"]),
            ("cacheinterval: soon\n", &["key `cacheinterval`", "\"soon\""]),
            ("contextpath: /a/../b\n", &["key `contextpath`", "--context-path", "CONTEXT_PATH", "\"..\""]),
            ("charturl: ftp://x\n", &["key `charturl`", "--chart-url", "CHART_URL", "http"]),
            ("storage: {backend: alibaba}\n", &["key `storage.backend`", "not supported yet"]),
            ("listen: {host: true}\n", &["key `listen.host`", "quote"]),
        ];
        for (text, wants) in cases {
            let path = write_file(&dir, "bad.yaml", text);
            let e = err(ServeArgs { config: Some(path), ..ServeArgs::default() });
            assert!(e.contains("bad.yaml"), "{text:?}: {e}");
            for want in *wants {
                assert!(e.contains(want), "{text:?}: {e}\nmissing {want:?}");
            }
        }
    }

    #[test]
    fn context_path_normalisation() {
        for (raw, want) in [
            ("", ""),
            ("/", ""),
            ("charts", "/charts"),
            ("/charts", "/charts"),
            ("/charts/", "/charts"),
            ("charts/", "/charts"),
            ("/a/b", "/a/b"),
            ("a/b/", "/a/b"),
            ("/v1.2_x~y-z", "/v1.2_x~y-z"),
            ("/...", "/..."),
        ] {
            assert_eq!(normalize_context_path(raw).as_deref(), Ok(want), "{raw:?}");
        }
        for raw in ["//", "/a//b", "/a//", "/./a", "/a/..", "..", "/a b", "/a?b", "/a#b", "/a%20", "/ä", "\\a"] {
            assert!(normalize_context_path(raw).is_err(), "{raw:?}");
        }
        let e = err(ServeArgs { context_path: Some("/a//b".into()), ..ServeArgs::default() });
        assert!(e.contains("--context-path") && e.contains("CONTEXT_PATH") && e.contains("/a//b"), "{e}");
    }

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        for (raw, want) in [
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("5m", ms(300_000)),
            ("30s", ms(30_000)),
            ("1h30m", ms(5_400_000)),
            ("1.5s", ms(1_500)),
            ("250ms", ms(250)),
            (".5s", ms(500)),
            ("5.s", ms(5_000)),
            ("+1m", ms(60_000)),
            ("1h1m1s1ms", ms(3_661_001)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ] {
            assert_eq!(parse_go_duration(raw), Ok(want), "{raw:?}");
        }
        for raw in
            ["", "bad", "5", "300", "1x", "m", ".s", "1.5", "-5m", "5m-", "1 m", "2562048h", "99999999999999999999999s"]
        {
            assert!(parse_go_duration(raw).is_err(), "{raw:?}");
        }
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (ms(300_000), "5m0s"),
            (ms(5_400_000), "1h30m0s"),
            (ms(1_500), "1.5s"),
            (ms(250), "250ms"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_nanos(7), "7ns"),
        ] {
            assert_eq!(format_go_duration(d), want);
        }
        assert_eq!(
            from(ServeArgs { cache_interval: Some("0".into()), ..ServeArgs::default() }).unwrap().cache_interval,
            None
        );
        let e = err(ServeArgs { cache_interval: Some("bad".into()), ..ServeArgs::default() });
        assert!(e.contains("--cache-interval") && e.contains("CACHE_INTERVAL") && e.contains("\"bad\""), "{e}");
    }

    #[test]
    fn invalid_values_name_the_option() {
        fn check(set: impl FnOnce(&mut ServeArgs), wants: &[&str]) {
            let mut args = ServeArgs::default();
            set(&mut args);
            let e = err(args.clone());
            for want in wants {
                assert!(e.contains(want), "{args:?}: {e}\nmissing {want:?}");
            }
        }
        let s = |v: &str| Some(v.to_owned());
        check(
            |a| a.storage = s("s3"),
            &["--storage", "STORAGE", "\"s3\"", "local", "amazon, google, microsoft", "not supported yet"],
        );
        check(|a| a.storage = s("Alibaba"), &["--storage", "STORAGE", "\"Alibaba\"", "not supported yet", "local"]);
        check(
            |a| a.storage_local_rootdir = Some(PathBuf::new()),
            &["--storage-local-rootdir", "STORAGE_LOCAL_ROOTDIR", "empty"],
        );
        check(|a| a.chart_url = s("ftp://example.com"), &["--chart-url", "CHART_URL", "ftp://example.com", "http"]);
        check(|a| a.chart_url = s("https://"), &["--chart-url", "host"]);
        check(|a| a.chart_url = s("https://x.example/?a=b"), &["--chart-url", "'?'"]);
        check(|a| a.max_upload_size = Some(0), &["--max-upload-size", "MAX_UPLOAD_SIZE", "\"0\""]);
        check(|a| a.read_timeout = Some(0), &["--read-timeout", "READ_TIMEOUT"]);
        check(|a| a.write_timeout = Some(0), &["--write-timeout", "WRITE_TIMEOUT"]);
        check(|a| a.listen_host = s("bad host"), &["--listen-host", "LISTEN_HOST", "\"bad host\""]);
        check(|a| a.listen_host = s("::zz"), &["--listen-host", "IPv6"]);
        check(
            |a| a.chart_post_form_field_name = s(""),
            &["--chart-post-form-field-name", "CHART_POST_FORM_FIELD_NAME", "empty"],
        );
        check(
            |a| a.prov_post_form_field_name = s("chart"),
            &["--prov-post-form-field-name", "PROV_POST_FORM_FIELD_NAME", "differ"],
        );

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
    }

    #[test]
    fn listen_addresses() {
        for (host, want_host, addr) in [
            ("127.0.0.1", "127.0.0.1", "127.0.0.1:8080"),
            ("localhost", "localhost", "localhost:8080"),
            ("::", "::", "[::]:8080"),
            ("::1", "::1", "[::1]:8080"),
            ("[::1]", "::1", "[::1]:8080"),
            ("fe80::1%eth0", "fe80::1%eth0", "[fe80::1%eth0]:8080"),
        ] {
            let c = from(ServeArgs { listen_host: Some(host.into()), ..ServeArgs::default() }).unwrap();
            assert_eq!(c.listen_host, want_host);
            assert_eq!(c.listen_addr(), addr);
        }
        for host in ["", "[]", "a b", "::1::2", "1.2.3.4:80", "fe80::1%"] {
            assert!(from(ServeArgs { listen_host: Some(host.into()), ..ServeArgs::default() }).is_err(), "{host:?}");
        }
    }

    #[test]
    fn index_limit_zero_is_the_builtin_bound() {
        for (given, want) in [(0, 16), (1, 1), (64, 64)] {
            let c = from(ServeArgs { index_limit: Some(given), ..ServeArgs::default() }).unwrap();
            assert_eq!(c.index_limit, want);
        }
    }

    #[test]
    fn describe_rows() {
        let (_dir, mut args) = with_file("port: 9000\n");
        args.debug = Some(true);
        args.chart_url = Some("https://c.example/".into());
        let c = from(args).unwrap();
        let rows = c.describe();
        let keys: Vec<&str> = rows.iter().map(|(k, _, _)| *k).collect();
        let mut want: Vec<&str> = FILE_OPTS.iter().map(|o| o.key).filter(|k| !is_cloud_storage_key(k)).collect();
        want.push("config");
        assert_eq!(keys, want);
        let row = |k: &str| rows.iter().find(|(key, _, _)| *key == k).cloned().unwrap();
        assert_eq!(row("port"), ("port", "9000".into(), "file"));
        assert_eq!(row("debug"), ("debug", "true".into(), "flag/env"));
        assert_eq!(row("charturl"), ("charturl", "https://c.example".into(), "flag/env"));
        assert_eq!(row("cacheinterval"), ("cacheinterval", "5m0s".into(), "default"));
        assert_eq!(row("readtimeout"), ("readtimeout", "30s".into(), "default"));
        assert_eq!(row("storage.local.rootdir"), ("storage.local.rootdir", "./chartroom-data".into(), "default"));
    }

    #[test]
    fn help_mentions_every_environment_variable() {
        let env = env();
        let help = Cli::command().render_long_help().to_string();
        for name in env_names() {
            assert!(help.contains(name), "help lacks {name}:\n{help}");
        }
        for o in FILE_OPTS.iter().chain([&CONFIG]) {
            assert!(help.contains(o.flag), "help lacks {}", o.flag);
        }
        assert!(help.contains("[default: 8080]"), "{help}");

        // The table used for messages matches the clap definitions.
        let cmd = Cli::command();
        for o in FILE_OPTS.iter().chain([&CONFIG]) {
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

    fn is_cloud_storage_key(key: &str) -> bool {
        ["storage.amazon.", "storage.google.", "storage.microsoft."].iter().any(|p| key.starts_with(p))
    }

    fn is_cloud_storage_env(name: &str) -> bool {
        ["STORAGE_AMAZON_", "STORAGE_GOOGLE_", "STORAGE_MICROSOFT_"].iter().any(|p| name.starts_with(p))
    }

    /// Storage-related variables for [`Config::from_args_with_env`]; HOME points nowhere so that
    /// a developer's ~/.aws cannot change the outcome.
    fn storage_env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        std::iter::once(("HOME", "/nonexistent-chartroom-test-home"))
            .chain(pairs.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn amazon(c: &Config) -> &AmazonConfig {
        match &c.storage {
            StorageConfig::Amazon(a) => a,
            other => panic!("not amazon: {other:?}"),
        }
    }

    #[test]
    fn amazon_from_flags() {
        let env = env();
        let args = env
            .parse(&[
                "--storage",
                "Amazon",
                "--storage-amazon-bucket",
                "charts",
                "--storage-amazon-prefix",
                "/team/a/",
                "--storage-amazon-region",
                "eu-west-1",
                "--storage-amazon-endpoint",
                "minio.internal:9000/",
                "--storage-amazon-sse",
                "aws:kms",
                "--storage-amazon-force-path-style=false",
            ])
            .unwrap();
        let c = Config::from_args_with_env(&args, storage_env(&[])).unwrap();
        assert_eq!(
            c.storage,
            StorageConfig::Amazon(AmazonConfig {
                bucket: "charts".into(),
                prefix: "team/a".into(),
                region: Some("eu-west-1".into()),
                endpoint: Some("https://minio.internal:9000".into()),
                sse: Some("aws:kms".into()),
                force_path_style: false,
            })
        );
        let rows = c.describe();
        let keys: Vec<&str> = rows.iter().map(|(k, _, _)| *k).collect();
        assert!(keys.contains(&"storage.amazon.forcepathstyle") && !keys.contains(&"storage.local.rootdir"));
        assert_eq!(source_of(&c, "storage.amazon.bucket"), "flag/env");
        // The bare flag means true; the default is true (ChartMuseum's).
        let args = env.parse(&["--storage=amazon", "--storage-amazon-bucket=b", "--storage-amazon-region=r"]).unwrap();
        assert!(amazon(&Config::from_args_with_env(&args, storage_env(&[])).unwrap()).force_path_style);
        let args = env
            .parse(&[
                "--storage=amazon",
                "--storage-amazon-bucket=b",
                "--storage-amazon-region=r",
                "--storage-amazon-force-path-style",
            ])
            .unwrap();
        assert!(amazon(&Config::from_args_with_env(&args, storage_env(&[])).unwrap()).force_path_style);
    }

    #[test]
    fn cloud_backends_from_environment() {
        let env = env();
        for (k, v) in [
            ("STORAGE", "amazon"),
            ("STORAGE_AMAZON_BUCKET", "env-bucket"),
            ("STORAGE_AMAZON_PREFIX", "p"),
            ("STORAGE_AMAZON_REGION", "ap-south-1"),
            ("STORAGE_AMAZON_ENDPOINT", "http://127.0.0.1:9000"),
            ("STORAGE_AMAZON_SSE", "AES256"),
            ("STORAGE_AMAZON_FORCE_PATH_STYLE", "false"),
            ("STORAGE_GOOGLE_BUCKET", "g-bucket"),
            ("STORAGE_GOOGLE_PREFIX", "g/p/"),
            ("STORAGE_MICROSOFT_CONTAINER", "m-container"),
            ("STORAGE_MICROSOFT_PREFIX", "/m"),
        ] {
            env.set(k, v);
        }
        let exercised = 10;
        assert_eq!(env_names().into_iter().filter(|n| is_cloud_storage_env(n)).count(), exercised);
        let config = |env: &Env| Config::from_args_with_env(&env.parse(&[]).unwrap(), storage_env(&[])).unwrap();
        let c = config(&env);
        assert_eq!(
            amazon(&c),
            &AmazonConfig {
                bucket: "env-bucket".into(),
                prefix: "p".into(),
                region: Some("ap-south-1".into()),
                endpoint: Some("http://127.0.0.1:9000".into()),
                sse: Some("AES256".into()),
                force_path_style: false,
            }
        );
        env.set("STORAGE", "google");
        assert_eq!(
            config(&env).storage,
            StorageConfig::Google(GoogleConfig { bucket: "g-bucket".into(), prefix: "g/p".into() })
        );
        env.set("STORAGE", "MICROSOFT");
        assert_eq!(
            config(&env).storage,
            StorageConfig::Microsoft(MicrosoftConfig { container: "m-container".into(), prefix: "m".into() })
        );
    }

    #[test]
    fn cloud_backends_precedence_flag_env_file() {
        let env = env();
        let text = "\
storage:
  backend: amazon
  amazon:
    bucket: file-bucket
    prefix: file/prefix
    region: file-region
    forcepathstyle: false
  google: {bucket: file-g}
  microsoft.container: file-m
  pollinterval: 1s
";
        let (_dir, args) = with_file(text);
        let path = args.config.clone().unwrap();
        let p = path.to_str().unwrap();
        let from = |argv: &[&str]| {
            let mut all = vec!["--config", p];
            all.extend_from_slice(argv);
            Config::from_args_with_env(&env.parse(&all).unwrap(), storage_env(&[])).unwrap()
        };
        let c = from(&[]);
        let a = amazon(&c);
        assert_eq!(
            (a.bucket.as_str(), a.prefix.as_str(), a.region.as_deref()),
            ("file-bucket", "file/prefix", Some("file-region"))
        );
        assert!(!a.force_path_style);
        assert_eq!(c.storage_poll_interval, Duration::from_secs(1));
        assert_eq!(source_of(&c, "storage.amazon.bucket"), "file");
        assert_eq!(source_of(&c, "storage.pollinterval"), "file");

        env.set("STORAGE_AMAZON_BUCKET", "env-bucket");
        let c = from(&[]);
        assert_eq!(amazon(&c).bucket, "env-bucket");
        assert_eq!(amazon(&c).region.as_deref(), Some("file-region"));
        assert_eq!(source_of(&c, "storage.amazon.bucket"), "flag/env");
        let c = from(&["--storage-amazon-bucket", "flag-bucket", "--storage-poll-interval", "100ms"]);
        assert_eq!(amazon(&c).bucket, "flag-bucket");
        assert_eq!(c.storage_poll_interval, Duration::from_millis(100));

        env.set("STORAGE", "google");
        assert_eq!(
            from(&[]).storage,
            StorageConfig::Google(GoogleConfig { bucket: "file-g".into(), prefix: String::new() })
        );
        let c = from(&["--storage", "microsoft"]);
        assert_eq!(
            c.storage,
            StorageConfig::Microsoft(MicrosoftConfig { container: "file-m".into(), prefix: String::new() })
        );
    }

    #[test]
    fn amazon_region_rule() {
        let env = env();
        let base = ["--storage", "amazon", "--storage-amazon-bucket", "b"];
        let try_with = |extra: &[&str], vars: &[(&str, &str)]| {
            let argv: Vec<&str> = base.iter().chain(extra).copied().collect();
            Config::from_args_with_env(&env.parse(&argv).unwrap(), storage_env(vars)).map_err(|e| e.to_string())
        };
        let e = try_with(&[], &[]).unwrap_err();
        for want in
            ["--storage-amazon-region", "STORAGE_AMAZON_REGION", "storage.amazon.region", "AWS_REGION", "us-east-1"]
        {
            assert!(e.contains(want), "{e}\nmissing {want:?}");
        }
        // An endpoint: open() uses us-east-1 unless the environment has a region.
        let c = try_with(&["--storage-amazon-endpoint", "http://127.0.0.1:9000"], &[]).unwrap();
        assert_eq!(amazon(&c).region, None);
        assert!(try_with(&[], &[("AWS_REGION", "eu-west-1")]).is_ok());
        assert!(try_with(&[], &[("AWS_DEFAULT_REGION", "eu-west-1")]).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let profile = write_file(&dir, "config", "[profile ci]\nregion = sa-east-1\n");
        let profile = profile.to_str().unwrap();
        assert!(try_with(&[], &[("AWS_CONFIG_FILE", profile), ("AWS_PROFILE", "ci")]).is_ok());
        assert!(try_with(&[], &[("AWS_CONFIG_FILE", profile)]).is_err(), "no default profile, no region");
        let e = try_with(&[], &[("AWS_CONFIG_FILE", profile), ("AWS_PROFILE", "other")]).unwrap_err();
        assert!(e.contains("\"other\"") && e.contains(profile), "{e}");
        // An empty value is unset, as in ChartMuseum.
        assert!(try_with(&["--storage-amazon-region", ""], &[]).is_err());
    }

    #[test]
    fn missing_bucket_or_container() {
        let env = env();
        for (argv, wants) in [
            (
                &["--storage", "amazon"][..],
                ["--storage-amazon-bucket", "STORAGE_AMAZON_BUCKET", "storage.amazon.bucket"],
            ),
            (
                &["--storage", "amazon", "--storage-amazon-bucket", " "][..],
                ["--storage-amazon-bucket", "STORAGE_AMAZON_BUCKET", "bucket"],
            ),
            (
                &["--storage", "google"][..],
                ["--storage-google-bucket", "STORAGE_GOOGLE_BUCKET", "storage.google.bucket"],
            ),
            (
                &["--storage", "microsoft"][..],
                ["--storage-microsoft-container", "STORAGE_MICROSOFT_CONTAINER", "storage.microsoft.container"],
            ),
        ] {
            let e = Config::from_args_with_env(&env.parse(argv).unwrap(), storage_env(&[])).unwrap_err().to_string();
            assert!(e.starts_with("missing required option"), "{e}");
            for want in wants {
                assert!(e.contains(want), "{argv:?}: {e}\nmissing {want:?}");
            }
        }
        let e = Config::from_args_with_env(
            &env.parse(&["--storage", "google", "--storage-google-bucket", "b", "--storage-google-prefix", "a/../b"])
                .unwrap(),
            storage_env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--storage-google-prefix") && e.contains("\"..\""), "{e}");
    }

    #[test]
    fn file_secrets_are_checked_at_startup() {
        let env = env();
        let dir = tempfile::tempdir().unwrap();
        let secret = write_file(&dir, "secret", "SK\n");
        let secret = secret.to_str().unwrap();
        let missing = dir.path().join("missing");
        let missing = missing.to_str().unwrap();
        let amazon_args = env
            .parse(&["--storage", "amazon", "--storage-amazon-bucket", "b", "--storage-amazon-region", "r"])
            .unwrap();
        let azure_args = env.parse(&["--storage", "microsoft", "--storage-microsoft-container", "c"]).unwrap();
        let check = |args: &ServeArgs, vars: &[(&str, &str)]| {
            Config::from_args_with_env(args, storage_env(vars)).map(|_| ()).map_err(|e| e.to_string())
        };
        assert_eq!(check(&amazon_args, &[("AWS_SECRET_ACCESS_KEY_FILE", secret)]), Ok(()));
        let e =
            check(&amazon_args, &[("AWS_SECRET_ACCESS_KEY_FILE", secret), ("AWS_SECRET_ACCESS_KEY", "x")]).unwrap_err();
        assert!(e.contains("AWS_SECRET_ACCESS_KEY and AWS_SECRET_ACCESS_KEY_FILE") && e.contains("only one"), "{e}");
        let e = check(&amazon_args, &[("AWS_ACCESS_KEY_ID_FILE", missing)]).unwrap_err();
        assert!(e.contains("AWS_ACCESS_KEY_ID_FILE") && e.contains(missing), "{e}");
        let e = check(&azure_args, &[("AZURE_STORAGE_ACCESS_KEY_FILE", missing)]).unwrap_err();
        assert!(e.contains("AZURE_STORAGE_ACCESS_KEY_FILE") && e.contains(missing), "{e}");
        let e =
            check(&azure_args, &[("AZURE_STORAGE_ACCOUNT_FILE", secret), ("AZURE_STORAGE_ACCOUNT", "a")]).unwrap_err();
        assert!(e.contains("AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_ACCOUNT_FILE"), "{e}");
        // Another backend's secrets do not matter.
        assert_eq!(check(&env.parse(&[]).unwrap(), &[("AWS_ACCESS_KEY_ID_FILE", missing)]), Ok(()));
        assert_eq!(check(&azure_args, &[("AWS_ACCESS_KEY_ID_FILE", missing)]), Ok(()));
    }

    #[test]
    fn storage_poll_interval() {
        for (raw, want) in
            [("500ms", Duration::from_millis(500)), ("2s", Duration::from_secs(2)), ("1m", Duration::from_secs(60))]
        {
            let c = from(ServeArgs { storage_poll_interval: Some(raw.into()), ..ServeArgs::default() }).unwrap();
            assert_eq!(c.storage_poll_interval, want, "{raw}");
        }
        assert_eq!(from(ServeArgs::default()).unwrap().storage_poll_interval, Duration::from_millis(500));
        for raw in ["0", "0s", "abc", "5"] {
            let e = err(ServeArgs { storage_poll_interval: Some(raw.into()), ..ServeArgs::default() });
            assert!(e.contains("--storage-poll-interval") && e.contains("STORAGE_POLL_INTERVAL"), "{raw}: {e}");
        }
        let e = err(ServeArgs { storage_poll_interval: Some("0".into()), ..ServeArgs::default() });
        assert!(e.contains("greater than 0"), "{e}");
        let c = from(ServeArgs::default()).unwrap();
        let row = c.describe().into_iter().find(|(k, _, _)| *k == "storage.pollinterval").unwrap();
        assert_eq!((row.1.as_str(), row.2), ("500ms", "default"));
    }

    #[test]
    fn unsupported_chartmuseum_env_vars_stop_the_start() {
        let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned()), ("PATH".to_owned(), "/bin".to_owned())];
        let err = check_unsupported_env(env("BASIC_AUTH_USER", "admin")).unwrap_err().to_string();
        assert!(err.contains("BASIC_AUTH_USER") && err.contains("refusing to start"), "{err}");
        assert!(check_unsupported_env(env("DEPTH", "1")).is_err());
        assert!(check_unsupported_env(env("BEARER_AUTH", "true")).is_err());
        assert!(check_unsupported_env(env("BEARER_AUTH", "false")).is_ok());
        assert!(check_unsupported_env(env("DEPTH", "0")).is_ok());
        assert!(check_unsupported_env(env("BASIC_AUTH_USER", "")).is_ok());
        assert!(check_unsupported_env(env("PORT", "8080")).is_ok());
    }
}
