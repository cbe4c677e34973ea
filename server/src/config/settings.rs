//! The validated configuration, one struct per concern, each resolved from its options.
//!
//! Later concerns get their own struct and `resolve` here the same way (OCI), so
//! that the code that serves a feature only sees that feature's settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chartroom_auth::{Auth, BasicCredentials, BearerSettings};
use chartroom_chart::archive::Limits;
use chartroom_index::{IndexFormat, RenderConfig, RepoOptions};
pub use chartroom_index::{OverwritePolicy, Tenancy};
use chartroom_storage::backend::{self, Environment};

use super::error::ConfigError;
use super::options::*;
use super::provenance::ProvenanceSettings;
use super::resolve::{Resolver, Shown, Source};
use super::values::{
    Backend, check_form_field, normalize_chart_url, normalize_context_path, normalize_host, parse_backend,
};

pub use chartroom_storage::backend::{AmazonConfig, BackendConfig, GoogleConfig, MicrosoftConfig};

/// `--index-limit 0` (the default) means this many parallel archive reads.
const DEFAULT_INDEX_LIMIT: usize = 16;

/// The validated server configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: ListenSettings,
    pub storage: StorageSettings,
    pub repository: RepositorySettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub connections: ConnectionSettings,
    /// `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    pub metrics: MetricsSettings,
    pub limits: ClientLimits,
    pub provenance: ProvenanceSettings,
    /// `--webhook` and its companions (`config/webhooks.rs`): where chart events are delivered.
    pub webhooks: Vec<chartroom_webhooks::Endpoint>,
    pub lifecycle: super::lifecycle::LifecycleSettings,
    /// `--config` / `-c`, `CONFIG`: the file the other values were read from, if any.
    pub config_file: Option<PathBuf>,
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSettings {
    /// `--listen-host`, `LISTEN_HOST`, key `listen.host`; IPv6 addresses without brackets.
    pub host: String,
    /// `--port`, `PORT`, key `port`.
    pub port: u16,
}

/// Where charts are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// `--storage` / `STORAGE` / `storage.backend` and the backend's own options.
    pub backend: BackendConfig,
    /// `--storage-poll-interval`, `STORAGE_POLL_INTERVAL`, key `storage.pollinterval`: how often
    /// to look for changes made by other replicas (> 0).
    pub poll_interval: Duration,
}

/// The repository and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySettings {
    pub overwrite: OverwritePolicy,
    /// `--chart-url`, `CHART_URL`, key `charturl`: `http(s)://...` without trailing slash.
    pub chart_url: Option<String>,
    /// The context path (see [`HttpSettings::context_path`]), for `serverInfo` and chart URLs.
    pub context_path: String,
    /// `--index-format`, `INDEX_FORMAT`, key `index-format` (`--json-index`, `JSON_INDEX`, key
    /// `json-index`, is `json`).
    pub index_format: IndexFormat,
    /// Not `--disable-statefiles` (`DISABLE_STATEFILES`, key `disablestatefiles`): persist the
    /// index state in storage.
    pub statefiles: bool,
    /// `--statefile-delay`, `STATEFILE_DELAY`, key `statefiledelay`: the longest a change waits
    /// before the state is written; a pause of a tenth of it writes sooner.
    pub statefile_delay: Duration,
    /// `--index-limit`, `INDEX_LIMIT`, key `indexlimit`: max parallel archive reads when
    /// (re)building the index. Always >= 1: a configured 0 resolves to the built-in bound (16).
    pub index_limit: usize,
    /// `--cache-interval`, `CACHE_INTERVAL`, key `cacheinterval`; `None` = never rescan.
    pub cache_interval: Option<Duration>,
    /// Bounds applied to every archive read.
    pub limits: Limits,
    /// `--depth` (`DEPTH`, key `depth`) and `--depth-dynamic` (`DEPTH_DYNAMIC`, key
    /// `depthdynamic`): which tenants are served. Dynamic wins over a depth, as in ChartMuseum.
    pub tenancy: Tenancy,
}

/// The HTTP API and how requests are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `--context-path`, `CONTEXT_PATH`, key `contextpath`: `""` or `/a/b` (no trailing slash).
    pub context_path: String,
    /// `--disable-api`, `DISABLE_API`, key `disableapi`.
    pub disable_api: bool,
    /// `--disable-delete`, `DISABLE_DELETE`, key `disabledelete`.
    pub disable_delete: bool,
    /// `--chart-post-form-field-name`, `CHART_POST_FORM_FIELD_NAME`, key `chartpostformfieldname`.
    pub chart_form_field: String,
    /// `--prov-post-form-field-name`, `PROV_POST_FORM_FIELD_NAME`, key `provpostformfieldname`.
    pub prov_form_field: String,
    /// `--max-upload-size`, `MAX_UPLOAD_SIZE`, key `maxuploadsize`, in bytes (> 0).
    pub max_upload_size: u64,
    /// `--max-upload-memory`, `MAX_UPLOAD_MEMORY`, key `maxuploadmemory`, in bytes: the total of
    /// request bodies held at once (at least `max_upload_size`: a smaller value is raised to it,
    /// so that one largest upload always fits).
    pub max_upload_memory: u64,
    /// `--read-timeout`, `READ_TIMEOUT`, key `readtimeout` (whole seconds, >= 1).
    pub read_timeout: Duration,
    /// `--write-timeout`, `WRITE_TIMEOUT`, key `writetimeout` (whole seconds, >= 1).
    pub write_timeout: Duration,
    /// `--log-health`, `LOG_HEALTH`, key `loghealth`.
    pub log_health: bool,
    /// Bounds applied to uploaded archives (the repository's [`RepositorySettings::limits`]).
    pub limits: Limits,
    /// `--disable-oci`, `DISABLE_OCI`, key `disableoci`: no distribution API at `/v2/`.
    pub disable_oci: bool,
    /// `--disable-ui`, `DISABLE_UI`, key `disableui`: no web catalogue pages.
    pub disable_ui: bool,
}

/// Authentication and authorization (`chartroom-auth`). Nothing set: every request is allowed,
/// as in ChartMuseum without auth settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// `--basic-auth-user` / `--basic-auth-pass` (`BASIC_AUTH_USER`, `BASIC_AUTH_PASS` or
    /// `BASIC_AUTH_PASS_FILE`; keys `basicauth.user`, `basicauth.pass`): ChartMuseum's single user.
    pub chartmuseum_user: Option<BasicCredentials>,
    /// `--auth-anonymous-get`, `AUTH_ANONYMOUS_GET`, key `authanonymousget`.
    pub anonymous_get: bool,
    /// `--auth-config`, `AUTH_CONFIG`, key `authconfig`: users, tokens and grants.
    pub config_file: Option<PathBuf>,
    /// `--auth-config-poll-interval`, `AUTH_CONFIG_POLL_INTERVAL`, key `authconfigpollinterval`:
    /// how often the auth config is checked for changes; `None` = on SIGHUP only.
    pub config_poll_interval: Option<Duration>,
    /// `--bearer-auth` (`BEARER_AUTH`, key `bearerauth`) with its realm, service, key file,
    /// JMESPath, audiences and issuers.
    pub bearer: Option<BearerSettings>,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `--log-json`, `LOG_JSON`, key `logjson`.
    pub json: bool,
    /// `--debug`, `DEBUG`, key `debug`.
    pub debug: bool,
}

/// How connections are served: timeouts, sizes, caps, protocols (`server::serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `--read-header-timeout`, `READ_HEADER_TIMEOUT`, key `readheadertimeout`: from a
    /// request's first byte to the end of its headers; at most the read timeout.
    pub header_timeout: Duration,
    /// `--idle-timeout`, `IDLE_TIMEOUT`, key `idletimeout`: a connection without a request.
    pub idle_timeout: Duration,
    /// A connection with a request in flight on which no byte moves this long is closed: the
    /// read timeout plus the write timeout (a handler is silent for at most the write timeout).
    pub stall_timeout: Duration,
    /// `--shutdown-timeout`, `SHUTDOWN_TIMEOUT`, key `shutdowntimeout`.
    pub shutdown_timeout: Duration,
    /// `--max-connections`, `MAX_CONNECTIONS`, key `maxconnections` (>= 1).
    pub max_connections: usize,
    /// `--max-header-count`, `MAX_HEADER_COUNT`, key `maxheadercount` (>= 1).
    pub max_header_count: usize,
    /// `--max-header-size`, `MAX_HEADER_SIZE`, key `maxheadersize` (>= 1024).
    pub max_header_size: usize,
    /// `--http2-cleartext`, `HTTP2_CLEARTEXT`, key `http2cleartext`.
    pub http2_cleartext: bool,
}

/// HTTPS: `--tls-cert`, `--tls-key` (both or neither), `--tls-ca-cert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `--tls-cert`, `TLS_CERT`, key `tls.cert`.
    pub cert: PathBuf,
    /// `--tls-key`, `TLS_KEY`, key `tls.key`.
    pub key: PathBuf,
    /// `--tls-ca-cert`, `TLS_CA_CERT`, key `tls.cacert`: client certificates required.
    pub client_ca: Option<PathBuf>,
    /// `--tls-reload-interval`, `TLS_RELOAD_INTERVAL`, key `tls.reloadinterval`; `None`: never.
    pub reload_interval: Option<Duration>,
}

/// Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `--enable-metrics`, `ENABLE_METRICS`, key `enablemetrics`.
    pub enabled: bool,
    /// `--metrics-listen`, `METRICS_LISTEN`, key `metrics.listen`: a separate plain-HTTP
    /// listener for `/metrics` (then not served on the main port); `None`: the main port.
    pub listen: Option<SocketAddr>,
}

/// Per-client limits and browser access (`server::limits`, `server::cors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// `--rate-limit` (`RATE_LIMIT`) and `--rate-limit-burst` (`RATE_LIMIT_BURST`); `None`: off.
    pub rate: Option<RateLimit>,
    /// `--max-concurrent-uploads`, `MAX_CONCURRENT_UPLOADS`, key `maxconcurrentuploads`; `None`: off.
    pub concurrent_uploads: Option<usize>,
    /// `--cors-alloworigin`, `CORS_ALLOW_ORIGIN`, key `cors.alloworigin`; `None`: no CORS.
    pub cors: Option<AllowedOrigins>,
}

/// A token bucket per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u64,
    pub burst: u64,
}

/// Which origins may read responses in a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `*`: any origin (without credentials, as the Fetch standard requires for `*`).
    Any,
    /// Exact origins (`scheme://host[:port]`, lower case, no trailing `/`).
    List(Vec<String>),
}

impl Config {
    /// Each concern in turn; `env` is what storage reads beside its options.
    pub(crate) fn resolve(r: &mut Resolver<'_>, env: Vec<(String, String)>) -> Result<Config, ConfigError> {
        let listen = ListenSettings::resolve(r)?;
        let pass_file = env.iter().find(|(k, v)| k == BASIC_AUTH_PASS_FILE && !v.is_empty()).map(|(_, v)| v.clone());
        let storage = StorageSettings::resolve(r, env)?;
        let limits = Limits::default();
        let http = HttpSettings::resolve(r, limits.clone())?;
        let repository = RepositorySettings::resolve(r, &http.context_path, limits)?;
        let auth = AuthSettings::resolve(r, pass_file)?;
        let log = LogSettings { json: r.bool(&LOG_JSON)?, debug: r.bool(&DEBUG)? };
        let connections = ConnectionSettings::resolve(r, &http)?;
        let tls = TlsSettings::resolve(r)?;
        let metrics = MetricsSettings::resolve(r)?;
        let limits = ClientLimits::resolve(r)?;
        let config_file = r.path(&CONFIG, |p| Ok((!p.as_os_str().is_empty()).then_some(p)))?;
        let provenance = ProvenanceSettings::resolve(r)?;
        let webhooks = super::webhooks::resolve(r)?;
        let lifecycle = super::lifecycle::LifecycleSettings::resolve(r)?;
        Ok(Config {
            webhooks,
            listen,
            storage,
            repository,
            http,
            auth,
            log,
            connections,
            tls,
            metrics,
            limits,
            provenance,
            lifecycle,
            config_file,
        })
    }

    /// The authentication and authorization of this configuration: checks the settings and
    /// reads the files they name (the auth config and its htpasswd file, the JWT key file).
    /// Blocking file I/O; call it at startup.
    pub fn auth(&self) -> Result<Auth, chartroom_auth::ConfigError> {
        Auth::new(self.auth.auth_settings())
    }

    /// What the index needs: the one mapping from these settings to [`RepoOptions`].
    pub fn repo_options(&self) -> RepoOptions {
        let repo = &self.repository;
        let chart_url = repo.chart_url.as_ref().map(|base| format!("{base}{}", repo.context_path));
        RepoOptions {
            render: RenderConfig { chart_url, context_path: repo.context_path.clone(), format: repo.index_format },
            overwrite: repo.overwrite,
            statefiles: repo.statefiles,
            persist_idle: repo.statefile_delay / 10,
            persist_max_delay: repo.statefile_delay,
            read_concurrency: repo.index_limit,
            limits: repo.limits.clone(),
            resync_interval: repo.cache_interval,
            poll_interval: Some(self.storage.poll_interval),
            tenancy: repo.tenancy,
            provenance: self.provenance.policy.clone(),
            retention: self.lifecycle.retention.clone(),
            max_objects: self.lifecycle.max_objects.clone(),
            ..RepoOptions::default()
        }
    }
}

impl ListenSettings {
    fn resolve(r: &mut Resolver<'_>) -> Result<Self, ConfigError> {
        let host = r.text(&LISTEN_HOST, normalize_host)?;
        let port = r.uint(&PORT, |n| u16::try_from(n).map_err(|_| format!("must be at most {}", u16::MAX)))?;
        Ok(ListenSettings { host, port })
    }

    /// `host:port`, with IPv6 hosts bracketed (`[::1]:8080`).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl StorageSettings {
    fn resolve(r: &mut Resolver<'_>, env: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let backend = match r.text(&STORAGE, parse_backend)? {
            Backend::Local => {
                let root = r.path(&STORAGE_LOCAL_ROOTDIR, |root| {
                    if root.as_os_str().is_empty() { Err("must not be empty".to_owned()) } else { Ok(root) }
                })?;
                BackendConfig::Local { root }
            }
            Backend::Amazon => {
                let bucket = required(r, &STORAGE_AMAZON_BUCKET, "bucket")?;
                let prefix = prefix(r, &STORAGE_AMAZON_PREFIX)?;
                let region = r.optional(&STORAGE_AMAZON_REGION, |v| Ok(v.to_owned()))?;
                let endpoint = r.optional(&STORAGE_AMAZON_ENDPOINT, backend::normalize_endpoint)?;
                let sse = r.optional(&STORAGE_AMAZON_SSE, |v| match backend::AMAZON_SSE_VALUES.contains(&v) {
                    true => Ok(v.to_owned()),
                    false => Err(format!("expected one of {}", backend::AMAZON_SSE_VALUES.join(", "))),
                })?;
                let force_path_style = r.bool(&STORAGE_AMAZON_FORCE_PATH_STYLE)?;
                BackendConfig::Amazon(AmazonConfig { bucket, prefix, region, endpoint, sse, force_path_style })
            }
            Backend::Google => BackendConfig::Google(GoogleConfig {
                bucket: required(r, &STORAGE_GOOGLE_BUCKET, "bucket")?,
                prefix: prefix(r, &STORAGE_GOOGLE_PREFIX)?,
            }),
            Backend::Microsoft => BackendConfig::Microsoft(MicrosoftConfig {
                container: required(r, &STORAGE_MICROSOFT_CONTAINER, "container")?,
                prefix: prefix(r, &STORAGE_MICROSOFT_PREFIX)?,
            }),
        };
        let env = Environment::from_vars(&backend, env).map_err(ConfigError::StorageEnv)?;
        if let BackendConfig::Amazon(amazon) = &backend
            && amazon.region.is_none()
            && amazon.endpoint.is_none()
            && backend::amazon_env_region(&env).map_err(ConfigError::StorageEnv)?.is_none()
        {
            return Err(r.missing(
                &STORAGE_AMAZON_REGION,
                "the amazon backend needs a region: set it, or AWS_REGION / AWS_DEFAULT_REGION, or \
                 region in the AWS profile (with --storage-amazon-endpoint it defaults to us-east-1)",
            ));
        }
        let poll_interval = r.duration(&STORAGE_POLL_INTERVAL, |d| match d.is_zero() {
            true => Err("must be greater than 0".to_owned()),
            false => Ok(d),
        })?;
        Ok(StorageSettings { backend, poll_interval })
    }
}

/// A bucket or container: the selected backend cannot work without it.
fn required(r: &mut Resolver<'_>, opt: &Opt<kind::Text>, what: &str) -> Result<String, ConfigError> {
    match r.optional(opt, |v| Ok(v.to_owned()))? {
        Some(v) => Ok(v),
        None => Err(r.missing(opt, &format!("the selected storage backend needs a {what}"))),
    }
}

/// An object name prefix; none is the bucket or container root.
fn prefix(r: &mut Resolver<'_>, opt: &Opt<kind::Text>) -> Result<String, ConfigError> {
    Ok(r.optional(opt, backend::normalize_prefix)?.unwrap_or_default())
}

/// The shortest `--statefile-delay` accepted.
pub const MIN_STATEFILE_DELAY: Duration = Duration::from_secs(1);

/// The shortest periodic resync (`--cache-interval`) accepted, `0` aside.
pub const MIN_CACHE_INTERVAL: Duration = Duration::from_secs(1);

impl RepositorySettings {
    fn resolve(r: &mut Resolver<'_>, context_path: &str, limits: Limits) -> Result<Self, ConfigError> {
        let overwrite = OverwritePolicy {
            allow_overwrite: r.bool(&ALLOW_OVERWRITE)?,
            disable_force_overwrite: r.bool(&DISABLE_FORCE_OVERWRITE)?,
        };
        let statefiles = !r.bool(&DISABLE_STATEFILES)?;
        // Each write rewrites a tenant's whole state (650 MB at 1,000,000 versions): a shorter
        // delay than a second would rewrite it on almost every upload.
        let statefile_delay = r.duration(&STATEFILE_DELAY, |d| match d {
            d if d < MIN_STATEFILE_DELAY => {
                Err(format!("must be at least {}s: each write rewrites the whole state", MIN_STATEFILE_DELAY.as_secs()))
            }
            d => Ok(d),
        })?;
        let chart_url = r.text(&CHART_URL, normalize_chart_url)?;
        let cache_interval = r.duration(&CACHE_INTERVAL, |d| match d {
            d if d.is_zero() => Ok(None),
            // Each resync is a full LIST of storage: a nanosecond interval is thousands per second.
            d if d < MIN_CACHE_INTERVAL => Err(format!(
                "must be 0 (never rescan) or at least {}s: every rescan lists the whole storage",
                MIN_CACHE_INTERVAL.as_secs()
            )),
            d => Ok(Some(d)),
        })?;
        let index_limit = r.uint(&INDEX_LIMIT, |n| match usize::try_from(n) {
            Ok(0) => Ok(DEFAULT_INDEX_LIMIT),
            Ok(n) => Ok(n),
            Err(_) => Err("too large".to_owned()),
        })?;
        let index_format = r.text(&INDEX_FORMAT, |text| text.parse::<IndexFormat>())?;
        // `--json-index` (the older switch) is `--index-format json`; it may not contradict an
        // explicit other format.
        let index_format = match (r.bool(&JSON_INDEX)?, index_format) {
            (false, format) => format,
            (true, IndexFormat::Json) => IndexFormat::Json,
            (true, _) if r.source(&INDEX_FORMAT) == Some(Source::Default) => IndexFormat::Json,
            (true, other) => {
                return Err(ConfigError::Inconsistent(format!(
                    "--json-index (JSON_INDEX) serves JSON to every client, --index-format (INDEX_FORMAT) asks for {other}: \
                     set only --index-format"
                )));
            }
        };
        let depth = r.uint(&DEPTH, |n| usize::try_from(n).map_err(|_| "too large".to_owned()))?;
        let tenancy = match (r.bool(&DEPTH_DYNAMIC)?, depth) {
            (true, _) => Tenancy::Dynamic,
            (false, 0) => Tenancy::Single,
            (false, n) => Tenancy::Depth(n),
        };
        Ok(RepositorySettings {
            overwrite,
            chart_url,
            context_path: context_path.to_owned(),
            index_format,
            statefiles,
            statefile_delay,
            index_limit,
            cache_interval,
            limits,
            tenancy,
        })
    }
}

impl HttpSettings {
    fn resolve(r: &mut Resolver<'_>, limits: Limits) -> Result<Self, ConfigError> {
        let disable_delete = r.bool(&DISABLE_DELETE)?;
        let disable_api = r.bool(&DISABLE_API)?;
        let context_path = r.text(&CONTEXT_PATH, normalize_context_path)?;
        let max_upload_size = r.uint(&MAX_UPLOAD_SIZE, |n| match n {
            0 => Err("must be at least 1 byte".to_owned()),
            n => Ok(n),
        })?;
        let max_upload_memory = r.uint(&MAX_UPLOAD_MEMORY, |n| match n {
            0 => Err("must be at least 1 byte".to_owned()),
            n => Ok(n),
        })?;
        let max_upload_memory = max_upload_memory.max(max_upload_size);
        let chart_form_field = r.text(&CHART_FORM_FIELD, check_form_field)?;
        let prov_form_field = r.text(&PROV_FORM_FIELD, |name| {
            let name = check_form_field(name)?;
            if name == chart_form_field {
                return Err(format!(
                    "must differ from the chart form field name ({} / {})",
                    CHART_FORM_FIELD.flag, CHART_FORM_FIELD.env
                ));
            }
            Ok(name)
        })?;
        let log_health = r.bool(&LOG_HEALTH)?;
        let read_timeout = r.uint(&READ_TIMEOUT, whole_seconds)?;
        let write_timeout = r.uint(&WRITE_TIMEOUT, whole_seconds)?;
        let disable_oci = r.bool(&DISABLE_OCI)?;
        let disable_ui = r.bool(&DISABLE_UI)?;
        Ok(HttpSettings {
            context_path,
            disable_api,
            disable_delete,
            chart_form_field,
            prov_form_field,
            max_upload_size,
            max_upload_memory,
            read_timeout,
            write_timeout,
            log_health,
            limits,
            disable_oci,
            disable_ui,
        })
    }
}

/// A timeout of at least one second.
fn whole_seconds(secs: u64) -> Result<Duration, String> {
    match secs {
        0 => Err("must be at least 1 second".to_owned()),
        secs => Ok(Duration::from_secs(secs)),
    }
}

/// The variable naming a file that holds `BASIC_AUTH_PASS` (the `<NAME>_FILE` convention of
/// Docker and Kubernetes secrets, as for the storage credentials).
pub const BASIC_AUTH_PASS_FILE: &str = "BASIC_AUTH_PASS_FILE";

impl AuthSettings {
    fn resolve(r: &mut Resolver<'_>, pass_file: Option<String>) -> Result<Self, ConfigError> {
        let user = r.optional(&BASIC_AUTH_USER, |v| Ok(v.to_owned()))?;
        // A password is taken as written: blanks around it are part of it.
        let password = r.text(&BASIC_AUTH_PASS, |v| Ok(v.to_owned()))?;
        let password = match pass_file {
            None => password,
            Some(_) if !password.is_empty() => {
                return Err(ConfigError::AuthSecret(backend::OpenError::SecretBothSet {
                    var: BASIC_AUTH_PASS.env.to_owned(),
                    file_var: BASIC_AUTH_PASS_FILE.to_owned(),
                }));
            }
            Some(path) => backend::read_secret_file(BASIC_AUTH_PASS_FILE, std::path::Path::new(&path))
                .map_err(ConfigError::AuthSecret)?,
        };
        let chartmuseum_user = BasicCredentials::from_options(user.as_deref(), Some(&password))
            .map_err(|e| ConfigError::Inconsistent(e.to_string()))?;
        let anonymous_get = r.bool(&AUTH_ANONYMOUS_GET)?;
        let config_file = r.path(&AUTH_CONFIG, |p| Ok((!p.as_os_str().is_empty()).then_some(p)))?;
        let config_poll_interval = r.duration(&AUTH_CONFIG_POLL_INTERVAL, |d| Ok((!d.is_zero()).then_some(d)))?;
        let bearer = resolve_bearer(r)?;
        Ok(AuthSettings { chartmuseum_user, anonymous_get, config_file, config_poll_interval, bearer })
    }

    /// Whether any source of identities is configured (without one, everything is allowed).
    pub fn is_enabled(&self) -> bool {
        self.chartmuseum_user.is_some() || self.config_file.is_some() || self.bearer.is_some()
    }

    /// The auth crate's settings (its defaults for the verification cache and concurrency).
    pub fn auth_settings(&self) -> chartroom_auth::AuthSettings {
        chartroom_auth::AuthSettings {
            chartmuseum_user: self.chartmuseum_user.clone(),
            anonymous_get: self.anonymous_get,
            config_file: self.config_file.clone(),
            bearer: self.bearer.clone(),
            ..chartroom_auth::AuthSettings::default()
        }
    }
}

/// `--bearer-auth` and the options that only mean something with it. They are refused without
/// it: an operator who sets a key file or an audience believes tokens are checked.
fn resolve_bearer(r: &mut Resolver<'_>) -> Result<Option<BearerSettings>, ConfigError> {
    let enabled = r.bool(&BEARER_AUTH)?;
    let realm = r.optional(&AUTH_REALM, |v| Ok(v.to_owned()))?;
    let service = r.optional(&AUTH_SERVICE, |v| Ok(v.to_owned()))?;
    let cert_path = r.path(&AUTH_CERT_PATH, |p| Ok((!p.as_os_str().is_empty()).then_some(p)))?;
    let actions_search_path = r.optional(&AUTH_ACTIONS_SEARCH_PATH, |v| Ok(v.to_owned()))?;
    let audience = r.optional(&AUTH_AUDIENCE, comma_list)?;
    let issuer = r.optional(&AUTH_ISSUER, comma_list)?;
    if !enabled {
        let given = [
            (AUTH_REALM.flag, AUTH_REALM.env, realm.is_some()),
            (AUTH_SERVICE.flag, AUTH_SERVICE.env, service.is_some()),
            (AUTH_CERT_PATH.flag, AUTH_CERT_PATH.env, cert_path.is_some()),
            (AUTH_ACTIONS_SEARCH_PATH.flag, AUTH_ACTIONS_SEARCH_PATH.env, actions_search_path.is_some()),
            (AUTH_AUDIENCE.flag, AUTH_AUDIENCE.env, audience.is_some()),
            (AUTH_ISSUER.flag, AUTH_ISSUER.env, issuer.is_some()),
        ];
        if let Some((flag, env, _)) = given.iter().find(|(_, _, set)| *set) {
            return Err(ConfigError::Inconsistent(format!(
                "{flag} (env {env}) is set but {} (env {}) is not: it only applies to bearer JWTs; set {}=true, \
                 or unset {env}",
                BEARER_AUTH.flag, BEARER_AUTH.env, BEARER_AUTH.env
            )));
        }
        return Ok(None);
    }
    // ChartMuseum's start errors, with the option to set.
    let Some(realm) = realm else {
        return Err(r.missing(&AUTH_REALM, "Missing Auth Realm: bearer authentication announces it in 401 challenges"));
    };
    let Some(service) = service else {
        return Err(
            r.missing(&AUTH_SERVICE, "Missing Auth Service: bearer authentication announces it in 401 challenges")
        );
    };
    let Some(cert_path) = cert_path else {
        return Err(r.missing(
            &AUTH_CERT_PATH,
            "Missing Auth Server Public Cert Path: bearer authentication verifies tokens with it",
        ));
    };
    Ok(Some(BearerSettings {
        realm,
        service,
        cert_path,
        actions_search_path: actions_search_path.unwrap_or_default(),
        audience: audience.unwrap_or_default(),
        issuer: issuer.unwrap_or_default(),
        leeway_seconds: 0,
    }))
}

/// `a, b,c` → `[a, b, c]`; empty items are refused.
fn comma_list(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(|item| match item.trim() {
            "" => Err("expected comma-separated non-empty values".to_owned()),
            item => Ok(item.to_owned()),
        })
        .collect()
}

impl ConnectionSettings {
    fn resolve(r: &mut Resolver<'_>, http: &HttpSettings) -> Result<Self, ConfigError> {
        let positive = |d: Duration| match d.is_zero() {
            true => Err("must be greater than 0".to_owned()),
            false => Ok(d),
        };
        let header_timeout = r.duration(&READ_HEADER_TIMEOUT, positive)?.min(http.read_timeout);
        let idle_timeout = r.duration(&IDLE_TIMEOUT, positive)?;
        let shutdown_timeout = r.duration(&SHUTDOWN_TIMEOUT, Ok)?;
        let at_least = |min: u64| {
            move |n: u64| match usize::try_from(n) {
                Ok(n) if n as u64 >= min => Ok(n),
                _ => Err(format!("must be at least {min}")),
            }
        };
        let max_connections = r.uint(&MAX_CONNECTIONS, at_least(1))?;
        let max_header_count = r.uint(&MAX_HEADER_COUNT, at_least(1))?;
        let max_header_size = r.uint(&MAX_HEADER_SIZE, at_least(1024))?;
        let http2_cleartext = r.bool(&HTTP2_CLEARTEXT)?;
        Ok(ConnectionSettings {
            header_timeout,
            idle_timeout,
            stall_timeout: http.read_timeout + http.write_timeout,
            shutdown_timeout,
            max_connections,
            max_header_count,
            max_header_size,
            http2_cleartext,
        })
    }
}

impl TlsSettings {
    fn resolve(r: &mut Resolver<'_>) -> Result<Option<Self>, ConfigError> {
        let optional = |p: PathBuf| Ok((!p.as_os_str().is_empty()).then_some(p));
        let cert = r.path(&TLS_CERT, optional)?;
        let key = r.path(&TLS_KEY, optional)?;
        let client_ca = r.path(&TLS_CA_CERT, optional)?;
        let reload_interval = r.duration(&TLS_RELOAD_INTERVAL, |d| Ok((!d.is_zero()).then_some(d)))?;
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(TlsSettings { cert, key, client_ca, reload_interval })),
            (None, None) if client_ca.is_none() => Ok(None),
            (None, None) => {
                Err(r.missing(&TLS_CERT, "client certificates (--tls-ca-cert) need TLS: set --tls-cert and --tls-key"))
            }
            (Some(_), None) => Err(r.missing(&TLS_KEY, "--tls-cert needs its private key")),
            (None, Some(_)) => Err(r.missing(&TLS_CERT, "--tls-key needs its certificate")),
        }
    }
}

impl MetricsSettings {
    fn resolve(r: &mut Resolver<'_>) -> Result<Self, ConfigError> {
        let enabled = r.bool(&ENABLE_METRICS)?;
        let listen = r.optional(&METRICS_LISTEN, |text| {
            let addr = text
                .parse::<SocketAddr>()
                .map_err(|_| "expected an IP address and a port, e.g. 0.0.0.0:9102 or [::]:9102".to_owned())?;
            match enabled {
                true => Ok(addr),
                false => Err("a metrics listener needs --enable-metrics (ENABLE_METRICS)".to_owned()),
            }
        })?;
        Ok(MetricsSettings { enabled, listen })
    }
}

impl ClientLimits {
    fn resolve(r: &mut Resolver<'_>) -> Result<Self, ConfigError> {
        let per_second = r.uint(&RATE_LIMIT, Ok)?;
        let burst = r.uint(&RATE_LIMIT_BURST, Ok)?;
        let rate = (per_second > 0)
            .then(|| RateLimit { per_second, burst: if burst == 0 { per_second.saturating_mul(2) } else { burst } });
        let concurrent_uploads = r.uint(&MAX_CONCURRENT_UPLOADS, |n| {
            usize::try_from(n).map(|n| (n > 0).then_some(n)).map_err(|_| "too large".to_owned())
        })?;
        let cors = r.optional(&CORS_ALLOW_ORIGIN, parse_origins)?;
        Ok(ClientLimits { rate, concurrent_uploads, cors })
    }
}

/// `*`, or origins separated by commas or spaces: each `http(s)://host[:port]`, no path.
fn parse_origins(text: &str) -> Result<AllowedOrigins, String> {
    if text == "*" {
        return Ok(AllowedOrigins::Any);
    }
    let mut origins = Vec::new();
    for origin in text.split([',', ' ']).map(str::trim).filter(|o| !o.is_empty()) {
        let lower = origin.trim_end_matches('/').to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '*', '@']) => origins.push(lower),
            _ => {
                return Err(format!(
                    "{origin:?} is not an origin: expected * or http(s)://host[:port] (no path), separated by commas"
                ));
            }
        }
    }
    if origins.is_empty() {
        return Err("expected * or at least one origin".to_owned());
    }
    Ok(AllowedOrigins::List(origins))
}

impl Shown for IndexFormat {
    fn shown(&self) -> String {
        self.as_str().to_owned()
    }
}
