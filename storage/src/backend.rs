//! Opening a [`Storage`] from configuration: local directory, Amazon S3 (and S3-compatible
//! servers), Google Cloud Storage, Microsoft Azure Blob Storage.
//!
//! [`open`] fails fast, before the server listens, with a message that says what to check:
//! 1. a LIST of the prefix proves the bucket exists, is reachable and the credentials work;
//! 2. a create-only write probe: `.chartroom/probe/<random>` is written twice with
//!    [`PutMode::Create`]; the second write must fail with `AlreadyExists`. A store that ignores
//!    `If-None-Match` would silently overwrite charts and break the no-lost/no-duplicate guarantee
//!    that Chartroom relies on, so such a store is refused. The probe is then deleted.
//!
//! Credentials never come from flags or config files, as in ChartMuseum: they come from the
//! environment (with the `<NAME>_FILE` convention, see [`Environment`]), the AWS shared config
//! files, and each cloud's ambient identity (IRSA/web identity, ECS/EC2 metadata, GCE metadata,
//! Azure managed/workload identity).

mod aws_profile;
mod env;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};

pub use env::{
    AMAZON_SECRET_VARS, Environment, GOOGLE_SECRET_VARS, MICROSOFT_SECRET_VARS, parse_bool, read_secret_file,
    secret_vars,
};

use crate::{NameLimits, STATE_DIR, Storage, StorageError};

/// TCP connect timeout for cloud backends: an unreachable endpoint fails in seconds, not minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout for cloud backends (connect to end of body). Chart archives are small
/// (bounded by the upload limit), so 30 s is generous for one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a failed request (object_store's default of 10 over 3 minutes turns an outage into
/// a hang; a few quick retries ride out a blip and surface an outage as an error). Three, as the
/// AWS SDK for Go that ChartMuseum uses: with two, the 20-minute soak on s3s-fs saw one listing
/// fail three times in a row (about 600 first and 40 second retries of its LISTs, which fail
/// while a delete removes a file under its folder walk), answered as a 503 to `POST /api/resync`.
pub const MAX_RETRIES: usize = 3;
/// Bound on the time spent retrying one request.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(5);

/// `--storage-amazon-sse` values (object_store's names; ChartMuseum documents `AES256` and `aws:kms`).
pub const AMAZON_SSE_VALUES: &[&str] = &["AES256", "aws:kms", "aws:kms:dsse", "sse-c"];
/// The region used with a custom endpoint when none is configured (as ChartMuseum does).
pub const DEFAULT_REGION_WITH_ENDPOINT: &str = "us-east-1";

/// Azurite's well-known development account and key (public, documented by Microsoft).
const EMULATOR_ACCOUNT: &str = "devstoreaccount1";
const EMULATOR_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const EMULATOR_DEFAULT_URL: &str = "http://127.0.0.1:10000";

/// Where charts are stored (`--storage` and the backend's own options). Plain data; credentials
/// are read from the environment by [`open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// A directory on the local file system (`--storage-local-rootdir`).
    Local { root: PathBuf },
    /// Amazon S3 or an S3-compatible server (`--storage-amazon-*`).
    Amazon(AmazonConfig),
    /// Google Cloud Storage (`--storage-google-*`).
    Google(GoogleConfig),
    /// Microsoft Azure Blob Storage (`--storage-microsoft-*`).
    Microsoft(MicrosoftConfig),
}

/// `--storage-amazon-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmazonConfig {
    pub bucket: String,
    /// Object name prefix, normalised by [`normalize_prefix`] (`""` or `a/b`).
    pub prefix: String,
    /// Explicit region; `None` falls back to `AWS_REGION`, `AWS_DEFAULT_REGION`, the AWS profile,
    /// then `us-east-1` when an endpoint is set.
    pub region: Option<String>,
    /// Custom endpoint (MinIO, Ceph, R2, ...), normalised by [`normalize_endpoint`]; an `http://`
    /// endpoint is allowed.
    pub endpoint: Option<String>,
    /// Server-side encryption, one of [`AMAZON_SSE_VALUES`]; the KMS key id comes from
    /// `AWS_SSE_KMS_KEY_ID`, the SSE-C key from `AWS_SSE_CUSTOMER_KEY_BASE64`.
    pub sse: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted
    /// (`bucket.endpoint/key`); ChartMuseum's default is `true`.
    pub force_path_style: bool,
}

/// `--storage-google-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    pub bucket: String,
    /// Normalised by [`normalize_prefix`].
    pub prefix: String,
}

/// `--storage-microsoft-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicrosoftConfig {
    pub container: String,
    /// Normalised by [`normalize_prefix`].
    pub prefix: String,
}

impl BackendConfig {
    /// The `--storage` name: `local`, `amazon`, `google` or `microsoft`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::Amazon(_) => "amazon",
            Self::Google(_) => "google",
            Self::Microsoft(_) => "microsoft",
        }
    }
}

/// Why storage could not be opened. Every message says what to check; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("both {var} and {file_var} are set; set only one of them")]
    SecretBothSet { var: String, file_var: String },
    #[error("cannot read the secret file {} named by {file_var}: {source}", path.display())]
    SecretFile {
        file_var: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the AWS shared config file {}: {source}", path.display())]
    AwsConfigFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{backend} storage: {message}")]
    Config { backend: &'static str, message: String },
    #[error("cannot open local storage at {}: {source}", root.display())]
    Local {
        root: PathBuf,
        #[source]
        source: StorageError,
    },
    #[error("cannot set up {what}: {source}")]
    Build {
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error(
        "cannot reach {what}: {detail}. Check the endpoint address, DNS, proxy and firewall \
         (gave up after {MAX_RETRIES} retries)"
    )]
    Unreachable { what: String, detail: String },
    #[error("no credentials for {what}: {detail}. {hint}")]
    NoCredentials { what: String, detail: String, hint: &'static str },
    #[error("access to {what} was denied while trying to {operation}: {detail}. {hint}")]
    AccessDenied { what: String, operation: &'static str, detail: String, hint: &'static str },
    #[error(
        "{what} does not exist: {detail}. Check its name (and region); Chartroom never creates \
         buckets or containers, create it first"
    )]
    NotFound { what: String, detail: String },
    #[error("{what}: cannot {operation}: {detail}")]
    Failed { what: String, operation: &'static str, detail: String },
    #[error(
        "{what} ignores If-None-Match: a second create-only write of {probe} succeeded. Create-only \
         writes, which Chartroom relies on to never lose or duplicate charts, are impossible on \
         this store; refusing to start"
    )]
    ConditionalWritesIgnored { what: String, probe: String },
    #[error(
        "{what} does not support create-only writes ({detail}), which Chartroom relies on to never \
         lose or duplicate charts; refusing to start"
    )]
    ConditionalWritesUnsupported { what: String, detail: String },
}

/// Opens the configured storage with credentials from the process environment and runs the
/// fail-fast checks (see the module documentation).
pub async fn open(cfg: &BackendConfig) -> Result<Storage, OpenError> {
    let env = Environment::from_process(cfg)?;
    open_with(cfg, &env).await
}

/// [`open`] with an explicit environment.
pub async fn open_with(cfg: &BackendConfig, env: &Environment) -> Result<Storage, OpenError> {
    let storage = build(cfg, env)?;
    check(&storage, credentials_hint(cfg)).await?;
    Ok(storage)
}

/// The region from the environment or the AWS profile (without the flag and the endpoint rule):
/// `AWS_REGION`, `AWS_DEFAULT_REGION`, then `region` of profile `AWS_PROFILE` (default `default`)
/// in `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`.
pub fn amazon_env_region(env: &Environment) -> Result<Option<String>, OpenError> {
    if let Some(region) = env.get("AWS_REGION").or_else(|| env.get("AWS_DEFAULT_REGION")) {
        return Ok(Some(region.to_owned()));
    }
    Ok(aws_profile(env)?.and_then(|(_, p)| p.region))
}

/// ChartMuseum's prefix to an object_store path: `/a/b/`, `a//b` and `a/b` are all `a/b`; `""`
/// and `/` are the bucket root. `.` and `..` segments are refused (object stores have no
/// directories to climb; such a key would not mean what it seems).
pub fn normalize_prefix(raw: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for segment in raw.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(format!("path segment {segment:?} is not allowed in a prefix"));
        }
        if let Some(c) = segment.chars().find(|c| c.is_control() || *c == '\\') {
            return Err(format!("character {c:?} is not allowed in a prefix"));
        }
        parts.push(segment);
    }
    Ok(parts.join("/"))
}

/// A custom S3 endpoint: `host[:port]` gets `https://` (as the AWS SDK does), `http://` and
/// `https://` are kept, a trailing `/` is dropped; other schemes are refused.
pub fn normalize_endpoint(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let (scheme, rest) = raw.split_once("://").unwrap_or(("https", raw));
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("scheme {scheme:?} is not supported; use http:// or https://"));
    }
    let rest = rest.trim_end_matches('/');
    if rest.split('/').next().unwrap_or("").is_empty() {
        return Err("the endpoint has no host".to_owned());
    }
    let url = format!("{scheme}://{rest}");
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#')) {
        return Err(format!("character {c:?} is not allowed in the endpoint"));
    }
    Ok(url)
}

fn retry_config() -> RetryConfig {
    RetryConfig { max_retries: MAX_RETRIES, retry_timeout: RETRY_TIMEOUT, ..RetryConfig::default() }
}

/// object_store's duration syntax (humantime).
fn duration_value(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn is_http(url: &str) -> bool {
    url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// ` with prefix "a/b"`, or nothing for the bucket root.
fn prefix_text(prefix: &str) -> String {
    if prefix.is_empty() { String::new() } else { format!(", prefix {prefix:?}") }
}

fn credentials_hint(cfg: &BackendConfig) -> &'static str {
    match cfg {
        BackendConfig::Local { .. } => "Check the directory's owner and permissions",
        BackendConfig::Amazon(_) => {
            "Check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or their _FILE \
             variants, the AWS_PROFILE profile in ~/.aws, or the pod's/instance's IAM role) and \
             that they may list, read, write and delete objects in the bucket"
        }
        BackendConfig::Google(_) => {
            "Check GOOGLE_APPLICATION_CREDENTIALS (a service account key file) or the workload's \
             service account, and that it may list, read, create and delete objects in the bucket"
        }
        BackendConfig::Microsoft(_) => {
            "Check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_ACCESS_KEY (or a SAS token, client \
             secret or managed identity) and that they may list, read, write and delete blobs in \
             the container"
        }
    }
}

/// Builds the store without any request (requests happen in [`check`]).
fn build(cfg: &BackendConfig, env: &Environment) -> Result<Storage, OpenError> {
    match cfg {
        BackendConfig::Local { root } => {
            Storage::local(root).map_err(|source| OpenError::Local { root: root.clone(), source })
        }
        BackendConfig::Amazon(c) => amazon(c, env),
        BackendConfig::Google(c) => google(c, env),
        BackendConfig::Microsoft(c) => microsoft(c, env),
    }
}

/// The AWS profile in effect: `None` when no profile file has it and `AWS_PROFILE` is unset.
fn aws_profile(env: &Environment) -> Result<Option<(String, aws_profile::Profile)>, OpenError> {
    let explicit = env.get("AWS_PROFILE");
    let name = explicit.unwrap_or("default");
    let home = env.get("HOME");
    let read = |var: &str, default_name: &str| -> Result<(Option<PathBuf>, aws_profile::Ini), OpenError> {
        match aws_profile::file_path(env.get(var), home, default_name) {
            Some(path) => aws_profile::read_ini(&path)
                .map(|ini| (Some(path.clone()), ini))
                .map_err(|source| OpenError::AwsConfigFile { path, source }),
            None => Ok((None, aws_profile::Ini::new())),
        }
    };
    let (credentials_path, credentials) = read("AWS_SHARED_CREDENTIALS_FILE", "credentials")?;
    let (config_path, config) = read("AWS_CONFIG_FILE", "config")?;
    let profile = aws_profile::profile(name, &credentials, &config);
    if profile.found {
        return Ok(Some((name.to_owned(), profile)));
    }
    if explicit.is_some() {
        let files: Vec<String> =
            [credentials_path, config_path].into_iter().flatten().map(|p| p.display().to_string()).collect();
        return Err(OpenError::Config {
            backend: "amazon",
            message: format!(
                "AWS_PROFILE is {name:?}, but no such profile is in {}",
                if files.is_empty() { "the AWS config files (HOME is not set)".to_owned() } else { files.join(" or ") }
            ),
        });
    }
    Ok(None)
}

fn amazon(cfg: &AmazonConfig, env: &Environment) -> Result<Storage, OpenError> {
    let config_error = |message: String| OpenError::Config { backend: "amazon", message };
    // Our timeouts first, so that AWS_CONNECT_TIMEOUT / AWS_TIMEOUT in the environment still win.
    let mut builder = AmazonS3Builder::new()
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), duration_value(CONNECT_TIMEOUT))
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), duration_value(REQUEST_TIMEOUT));
    // What `AmazonS3Builder::from_env` does, over this Environment (so `_FILE` secrets apply):
    // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_WEB_IDENTITY_TOKEN_FILE +
    // AWS_ROLE_ARN (IRSA), AWS_CONTAINER_CREDENTIALS_* (ECS, EKS Pod Identity), AWS_SSE_KMS_KEY_ID,
    // AWS_ENDPOINT_URL, ...; without any of these object_store falls back to EC2 instance metadata.
    for (name, value) in env.with_prefix("AWS_") {
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }

    let has_env_keys = env.get("AWS_ACCESS_KEY_ID").is_some() || env.get("AWS_SECRET_ACCESS_KEY").is_some();
    let profile = aws_profile(env)?;
    if !has_env_keys && let Some((name, p)) = &profile {
        match (&p.access_key_id, &p.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder.with_access_key_id(id).with_secret_access_key(secret);
                if let Some(token) = &p.session_token {
                    builder = builder.with_token(token);
                }
            }
            (None, None) if !p.unsupported.is_empty() => tracing::warn!(
                profile = %name,
                settings = %p.unsupported.join(", "),
                "AWS profile settings that Chartroom does not implement are ignored; using the rest of the credential chain"
            ),
            (None, None) => {}
            _ => {
                return Err(config_error(format!(
                    "AWS profile {name:?} has only one of aws_access_key_id and aws_secret_access_key"
                )));
            }
        }
    }

    let env_endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let endpoint = match cfg.endpoint.clone().or(env_endpoint) {
        Some(raw) => Some(normalize_endpoint(&raw).map_err(|e| config_error(format!("endpoint {raw:?}: {e}")))?),
        None => None,
    };
    let region = cfg
        .region
        .clone()
        .or_else(|| env.get("AWS_REGION").or_else(|| env.get("AWS_DEFAULT_REGION")).map(str::to_owned))
        .or_else(|| profile.as_ref().and_then(|(_, p)| p.region.clone()))
        .or_else(|| endpoint.as_ref().map(|_| DEFAULT_REGION_WITH_ENDPOINT.to_owned()))
        .ok_or_else(|| {
            config_error(
                "no region: set --storage-amazon-region (env STORAGE_AMAZON_REGION), AWS_REGION, or \
                 region in the AWS profile"
                    .to_owned(),
            )
        })?;
    builder = builder
        .with_bucket_name(&cfg.bucket)
        .with_region(&region)
        .with_virtual_hosted_style_request(!cfg.force_path_style)
        .with_retry(retry_config());
    if let Some(endpoint) = &endpoint {
        // object_store expects a virtual-hosted endpoint to name the bucket already
        // (`https://bucket.host`); ChartMuseum's endpoint is the service's, as in the AWS SDK.
        let url = if cfg.force_path_style {
            endpoint.clone()
        } else {
            let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
            format!("{scheme}://{}.{rest}", cfg.bucket)
        };
        // `with_allow_http` edits the client options in place (unlike `with_client_options`,
        // which would drop the timeouts set above).
        builder = builder.with_endpoint(url).with_allow_http(is_http(endpoint));
    }
    if let Some(sse) = &cfg.sse {
        // object_store does not export its encryption key enum; the config name is stable.
        let key = "aws_server_side_encryption"
            .parse::<AmazonS3ConfigKey>()
            .map_err(|e| config_error(format!("server-side encryption is unavailable: {e}")))?;
        builder = builder.with_config(key, sse);
    }
    // ChartMuseum's switch for self-signed S3-compatible servers.
    if env.flag("AWS_INSECURE_SKIP_VERIFY") {
        builder = builder.with_config(AmazonS3ConfigKey::Client(ClientConfigKey::AllowInvalidCertificates), "true");
    }

    let what = format!(
        "amazon S3 bucket {:?} ({}region {region}{}{})",
        cfg.bucket,
        endpoint.as_ref().map(|e| format!("endpoint {e}, ")).unwrap_or_default(),
        if cfg.force_path_style { ", path-style" } else { ", virtual-hosted-style" },
        prefix_text(&cfg.prefix),
    );
    let store = builder.build().map_err(|source| OpenError::Build { what: what.clone(), source })?;
    Ok(Storage::new(Arc::new(store), &cfg.prefix, what).with_name_limits(NameLimits::object_store("Amazon S3")))
}

fn google(cfg: &GoogleConfig, env: &Environment) -> Result<Storage, OpenError> {
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_config(GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout), duration_value(CONNECT_TIMEOUT))
        .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), duration_value(REQUEST_TIMEOUT));
    // What `GoogleCloudStorageBuilder::from_env` does, over this Environment:
    // GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_SERVICE_ACCOUNT(_KEY), GOOGLE_BASE_URL, ...; without
    // credentials object_store uses ~/.config/gcloud's application default credentials, then
    // the GCE/GKE metadata server.
    if let Some(path) = env.get("SERVICE_ACCOUNT") {
        builder = builder.with_service_account_path(path);
    }
    for (name, value) in env.with_prefix("GOOGLE_") {
        if let Ok(key) = name.to_ascii_lowercase().parse::<GoogleConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    let base_url = builder.get_config_value(&GoogleConfigKey::BaseUrl);
    if let Some(url) = &base_url
        && is_http(url)
    {
        builder = builder.with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), "true");
    }
    builder = builder.with_bucket_name(&cfg.bucket).with_retry(retry_config());
    let what = format!(
        "google GCS bucket {:?}{}{}",
        cfg.bucket,
        base_url.map(|u| format!(" (base URL {u})")).unwrap_or_default(),
        prefix_text(&cfg.prefix),
    );
    let store = builder.build().map_err(|source| OpenError::Build { what: what.clone(), source })?;
    Ok(Storage::new(Arc::new(store), &cfg.prefix, what)
        .with_name_limits(NameLimits::object_store("Google Cloud Storage")))
}

fn microsoft(cfg: &MicrosoftConfig, env: &Environment) -> Result<Storage, OpenError> {
    let config_error = |message: String| OpenError::Config { backend: "microsoft", message };
    let mut builder = MicrosoftAzureBuilder::new()
        .with_config(AzureConfigKey::Client(ClientConfigKey::ConnectTimeout), duration_value(CONNECT_TIMEOUT))
        .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), duration_value(REQUEST_TIMEOUT));
    // What `MicrosoftAzureBuilder::from_env` does, over this Environment: AZURE_STORAGE_ACCESS_KEY
    // (ChartMuseum's name), AZURE_STORAGE_SAS_TOKEN, AZURE_CLIENT_ID/SECRET/TENANT_ID,
    // AZURE_FEDERATED_TOKEN_FILE (workload identity), AZURE_STORAGE_ENDPOINT, ...; the emulator
    // switch is handled below so that its URL also comes from this Environment.
    for (name, value) in env.with_prefix("AZURE_") {
        if name == "AZURE_STORAGE_USE_EMULATOR" {
            continue;
        }
        if let Ok(key) = name.to_ascii_lowercase().parse::<AzureConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    if let Some(url) = env.get("IDENTITY_ENDPOINT") {
        builder = builder.with_config(AzureConfigKey::MsiEndpoint, url);
    }
    if env.get("AZURE_API_VERSION").is_some() {
        tracing::warn!("AZURE_API_VERSION is ignored: Chartroom uses the Blob API version of its Azure client");
    }
    // ChartMuseum's variable for the account name; object_store's own is AZURE_STORAGE_ACCOUNT_NAME.
    let mut account =
        env.get("AZURE_STORAGE_ACCOUNT").or_else(|| env.get("AZURE_STORAGE_ACCOUNT_NAME")).map(str::to_owned);
    let mut endpoint = builder.get_config_value(&AzureConfigKey::Endpoint);
    if env.flag("AZURE_STORAGE_USE_EMULATOR") {
        // Azurite serves accounts path-style: <url>/<account>/<container>/<blob>.
        let name = account.get_or_insert_with(|| EMULATOR_ACCOUNT.to_owned()).clone();
        let has_credential = ["AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"]
            .iter()
            .chain(&["AZURE_STORAGE_SAS_KEY", "AZURE_STORAGE_TOKEN"])
            .any(|v| env.get(v).is_some());
        if !has_credential {
            builder = builder.with_access_key(EMULATOR_ACCOUNT_KEY);
        }
        let base = env.get("AZURITE_BLOB_STORAGE_URL").unwrap_or(EMULATOR_DEFAULT_URL).trim_end_matches('/');
        endpoint = Some(format!("{base}/{name}"));
    } else if endpoint.is_none()
        && let Some(base) = env.get("AZURE_BASE_URL")
    {
        // ChartMuseum: the service's base domain (default core.windows.net), e.g.
        // core.chinacloudapi.cn; a full URL is accepted too (emulators, private endpoints).
        endpoint = Some(if base.contains("://") {
            base.trim_end_matches('/').to_owned()
        } else {
            let Some(account) = &account else {
                return Err(config_error("AZURE_BASE_URL is set but AZURE_STORAGE_ACCOUNT is not".to_owned()));
            };
            format!("https://{account}.blob.{}", base.trim_matches('/'))
        });
    }
    let Some(account) = account else {
        return Err(config_error(
            "no storage account: set AZURE_STORAGE_ACCOUNT (or AZURE_STORAGE_ACCOUNT_FILE)".to_owned(),
        ));
    };
    builder = builder.with_account(&account).with_container_name(&cfg.container).with_retry(retry_config());
    if let Some(url) = &endpoint {
        builder = builder.with_endpoint(url.clone()).with_allow_http(is_http(url));
    }
    let what = format!(
        "microsoft Azure container {:?} in storage account {account:?}{}{}",
        cfg.container,
        endpoint.as_ref().map(|e| format!(" (endpoint {e})")).unwrap_or_default(),
        prefix_text(&cfg.prefix),
    );
    let store = builder.build().map_err(|source| OpenError::Build { what: what.clone(), source })?;
    Ok(Storage::new(Arc::new(store), &cfg.prefix, what)
        .with_name_limits(NameLimits::object_store("Azure Blob Storage")))
}

/// The fail-fast checks: LIST, then the create-only write probe.
async fn check(storage: &Storage, hint: &'static str) -> Result<(), OpenError> {
    // The storage's own store: the prefix applied, the requests counted like any other.
    let store = &storage.store;
    let what = storage.describe().to_owned();
    // One page is enough: the first response proves reachability, credentials and the bucket.
    if let Some(Err(e)) = store.list(None).next().await {
        return Err(classify(e, &what, "list objects", hint));
    }

    let probe = Path::default().join(STATE_DIR).join("probe").join(probe_name());
    // Where the probe is in the bucket, for messages.
    let probe_in_bucket = storage.prefix.parts().chain(probe.parts()).collect::<Path>();
    let create = || {
        store.put_opts(
            &probe,
            PutPayload::from_static(b"chartroom create-only write probe\n"),
            PutOptions { mode: PutMode::Create, ..PutOptions::default() },
        )
    };
    if let Err(e) = create().await {
        return Err(classify(e, &what, "write objects", hint));
    }
    let second = create().await;
    if let Err(e) = store.delete(&probe).await {
        // Not fatal: a leftover probe is harmless, and a store where deletes are forbidden still
        // serves and accepts charts (deletes and overwrites will fail and say so).
        tracing::warn!(storage = %what, probe = %probe_in_bucket, error = %e, "could not delete the write probe");
    }
    match second {
        Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
        Ok(_) => Err(OpenError::ConditionalWritesIgnored { what, probe: probe_in_bucket.to_string() }),
        Err(e @ object_store::Error::NotImplemented { .. }) | Err(e @ object_store::Error::NotSupported { .. }) => {
            Err(OpenError::ConditionalWritesUnsupported { what, detail: detail(&e) })
        }
        Err(e) => Err(classify(e, &what, "write objects (second create-only write)", hint)),
    }
}

/// A name no other process picks: time, process id and a counter.
fn probe_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}-{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Maps a request error to what the operator should check.
fn classify(err: object_store::Error, what: &str, operation: &'static str, hint: &'static str) -> OpenError {
    let what = what.to_owned();
    let detail = detail(&err);
    let status = http_status(&detail);
    match &err {
        object_store::Error::NotFound { .. } => OpenError::NotFound { what, detail },
        _ if status == Some(404) => OpenError::NotFound { what, detail },
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            OpenError::AccessDenied { what, operation, detail, hint }
        }
        _ if matches!(status, Some(401 | 403)) => OpenError::AccessDenied { what, operation, detail, hint },
        // Checked before reachability: when the instance metadata service is what cannot be
        // reached, the missing piece is credentials, not the bucket's endpoint.
        _ if detail.to_ascii_lowercase().contains("credential") => OpenError::NoCredentials { what, detail, hint },
        _ if unreachable(&err) => OpenError::Unreachable { what, detail },
        _ => OpenError::Failed { what, operation, detail },
    }
}

/// The HTTP status of a failed request. object_store maps statuses to error variants for single
/// objects, but reports a failed LIST as a generic error whose source type (its `RetryError`) is
/// not public, so the status is read from the message: `... status code: 403 Forbidden: ...`.
fn http_status(detail: &str) -> Option<u16> {
    const MARK: &str = "status code: ";
    let at = detail.find(MARK)? + MARK.len();
    detail.get(at..at + 3)?.parse().ok()
}

/// A connection or timeout failure anywhere in the error's source chain.
fn unreachable(err: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<HttpError>()
            && matches!(http.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The error and its sources on one line, skipping sources already quoted by their parent.
fn detail(err: &object_store::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    // Cloud error bodies are multi-line XML; keep the message on one log line.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
