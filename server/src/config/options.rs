//! The option table: every `chartroom serve` option declared once.
//!
//! Each entry gives the option's names (config-file key, long flag, ChartMuseum environment
//! variable), its value shape ([`Kind`]), its default and its help line. Everything else is
//! derived from [`OPTIONS`]: the binary's clap arguments and `--help`, the keys a config file may
//! hold, the did-you-mean hints for unknown keys, the rows of the startup log
//! ([`Resolved::describe`](super::Resolved::describe)) and the checks against ChartMuseum's
//! unsupported options. A new option is one entry here plus the code that resolves and uses its
//! value (a field of one of the settings structs in `settings.rs`).

use std::marker::PhantomData;
use std::ops::Deref;

use super::values::{parse_bool_text, parse_items_text, parse_pairs_text, parse_uint_text};

/// How an option's value is written. It decides the command-line shape (a bare `--flag` is
/// `true` for [`Kind::Bool`]) and how flag, environment and config-file values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// A file-system path (need not be UTF-8; never empty on the command line).
    Path,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; a bare flag means `true`.
    Bool,
    /// A non-negative integer up to `max`; `want` names the expected value in command-line errors.
    UInt { max: u64, want: &'static str },
    /// A Go duration (`30s`, `5m`, `1h30m`, `0`).
    Duration,
    /// `KEY=VALUE` pairs: a repeatable flag, a comma- or space-separated list in the
    /// environment, a mapping (or a list of `KEY=VALUE` strings) in the config file.
    Pairs,
    /// `VALUE` or `KEY=VALUE` items: repeatable as [`Kind::Pairs`] is, a bare value being the
    /// root repository's (`--artifact-hub-repo-id ID` or `team-a=ID`).
    Items,
}

/// One option, declared once.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// ChartMuseum's config-file key (`helm/chartmuseum:pkg/config/vars.go`), lower case, dotted
    /// for nested keys. Also the option's name in the startup log and in [`ArgValues`](super::ArgValues).
    pub key: &'static str,
    /// The long flag, with its dashes (`--port`).
    pub flag: &'static str,
    /// A one-letter flag, if any.
    pub short: Option<char>,
    /// ChartMuseum's environment variable.
    pub env: &'static str,
    /// The placeholder for the value in `--help` (`<PORT>`).
    pub value_name: &'static str,
    pub kind: Kind,
    /// The default, written as it would be on the command line (`""` is unset).
    pub default: &'static str,
    /// What `--help` shows as the default when the raw default says too little (`none, AWS`).
    pub default_help: Option<&'static str>,
    /// The help line, without the default.
    pub help: &'static str,
    /// Whether a config file may set it (only `--config` itself may not).
    pub in_file: bool,
    /// A secret: its value is never shown (`--help` hides its environment value, the startup log
    /// shows only whether it is set).
    pub secret: bool,
}

impl OptionSpec {
    /// What `--help` shows after the help line: `[default: ...]` (`none` for an empty default).
    pub fn default_shown(&self) -> &'static str {
        match (self.default_help, self.default) {
            (Some(shown), _) => shown,
            (None, "") => "none",
            (None, raw) => raw,
        }
    }

    /// The whole help line: the text and the default.
    pub fn help_line(&self) -> String {
        format!("{} [default: {}]", self.help, self.default_shown())
    }

    /// Checks a flag or environment value the way the command line must refuse it at once
    /// (booleans and integers; the other kinds are checked when the configuration is resolved).
    /// The message says what was expected, without naming the option.
    pub fn check_arg(&self, raw: &str) -> Result<(), String> {
        match self.kind {
            Kind::Bool => parse_bool_text(raw).map(|_| ()),
            Kind::UInt { max, want } => parse_uint_text(raw, max, want).map(|_| ()),
            Kind::Pairs => parse_pairs_text(raw).map(|_| ()),
            Kind::Items => parse_items_text(raw).map(|_| ()),
            Kind::Text | Kind::Path | Kind::Duration => Ok(()),
        }
    }
}

/// The value shapes as types, so that the resolver reads each option the way it is declared
/// (`Resolver::uint` takes only an `Opt<kind::UInt>`).
pub mod kind {
    pub struct Text;
    pub struct Path;
    pub struct Bool;
    pub struct UInt;
    pub struct Duration;
    pub struct Pairs;
    pub struct Items;
}

/// An option with its value shape in the type. Dereferences to its [`OptionSpec`].
#[derive(Debug)]
pub struct Opt<K> {
    spec: OptionSpec,
    kind: PhantomData<K>,
}

impl<K> Deref for Opt<K> {
    type Target = OptionSpec;
    fn deref(&self) -> &OptionSpec {
        &self.spec
    }
}

impl Opt<kind::Text> {
    const fn text(spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::Text, ..spec }, kind: PhantomData }
    }
}

impl Opt<kind::Path> {
    const fn path(spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::Path, ..spec }, kind: PhantomData }
    }
}

impl Opt<kind::Bool> {
    const fn bool(spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::Bool, value_name: "BOOL", ..spec }, kind: PhantomData }
    }
}

impl Opt<kind::UInt> {
    const fn uint(max: u64, want: &'static str, spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::UInt { max, want }, ..spec }, kind: PhantomData }
    }
}

impl Opt<kind::Duration> {
    const fn duration(spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::Duration, value_name: "DURATION", ..spec }, kind: PhantomData }
    }
}

impl Opt<kind::Pairs> {
    const fn pairs(spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::Pairs, ..spec }, kind: PhantomData }
    }
}

impl Opt<kind::Items> {
    const fn items(spec: OptionSpec) -> Self {
        Opt { spec: OptionSpec { kind: Kind::Items, ..spec }, kind: PhantomData }
    }
}

/// The fields every entry leaves as they are unless it says otherwise.
const BASE: OptionSpec = OptionSpec {
    key: "",
    flag: "",
    short: None,
    env: "",
    value_name: "",
    kind: Kind::Text,
    default: "",
    default_help: None,
    help: "",
    in_file: true,
    secret: false,
};

/// The deepest tenant layout `--depth` accepts.
pub const MAX_DEPTH: usize = 16;

/// Declares the options and [`OPTIONS`], their list in `--help` order.
macro_rules! options {
    ($( $(#[$meta:meta])* pub const $name:ident: $ty:ty = $value:expr; )*) => {
        $( $(#[$meta])* pub const $name: $ty = $value; )*
        /// Every option, in `--help` and startup-log order.
        pub const OPTIONS: &[&OptionSpec] = &[$(&$name.spec),*];
    };
}

options! {
    pub const LISTEN_HOST: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "listen.host", flag: "--listen-host", env: "LISTEN_HOST", value_name: "HOST",
        default: "0.0.0.0",
        help: "Host or IP address to listen on",
        ..BASE
    });
    pub const PORT: Opt<kind::UInt> = Opt::uint(u16::MAX as u64, "an integer from 0 to 65535", OptionSpec {
        key: "port", flag: "--port", env: "PORT", value_name: "PORT",
        default: "8080",
        help: "Port to listen on; 0 picks a free port",
        ..BASE
    });
    pub const STORAGE: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.backend", flag: "--storage", env: "STORAGE", value_name: "BACKEND",
        default: "local",
        help: "Storage backend: local, amazon, google or microsoft",
        ..BASE
    });
    pub const STORAGE_LOCAL_ROOTDIR: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "storage.local.rootdir", flag: "--storage-local-rootdir", env: "STORAGE_LOCAL_ROOTDIR", value_name: "DIR",
        default: "./chartroom-data",
        help: "Root directory of the local storage backend",
        ..BASE
    });
    pub const STORAGE_AMAZON_BUCKET: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.amazon.bucket", flag: "--storage-amazon-bucket", env: "STORAGE_AMAZON_BUCKET",
        value_name: "BUCKET",
        help: "S3 bucket of the amazon backend (required for amazon)",
        ..BASE
    });
    pub const STORAGE_AMAZON_PREFIX: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.amazon.prefix", flag: "--storage-amazon-prefix", env: "STORAGE_AMAZON_PREFIX",
        value_name: "PREFIX",
        default_help: Some("none, the bucket root"),
        help: "Object name prefix in the S3 bucket",
        ..BASE
    });
    pub const STORAGE_AMAZON_REGION: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.amazon.region", flag: "--storage-amazon-region", env: "STORAGE_AMAZON_REGION",
        value_name: "REGION",
        help: "S3 region; falls back to AWS_REGION, AWS_DEFAULT_REGION and the AWS profile, and to \
               us-east-1 when an endpoint is set",
        ..BASE
    });
    pub const STORAGE_AMAZON_ENDPOINT: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.amazon.endpoint", flag: "--storage-amazon-endpoint", env: "STORAGE_AMAZON_ENDPOINT",
        value_name: "URL",
        default_help: Some("none, AWS"),
        help: "Endpoint of an S3-compatible server, e.g. http://minio:9000 (http:// is allowed)",
        ..BASE
    });
    pub const STORAGE_AMAZON_SSE: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.amazon.sse", flag: "--storage-amazon-sse", env: "STORAGE_AMAZON_SSE", value_name: "ALGORITHM",
        help: "S3 server-side encryption: AES256, aws:kms (key id from AWS_SSE_KMS_KEY_ID), aws:kms:dsse or sse-c",
        ..BASE
    });
    /// ChartMuseum's default: path-style, which every S3-compatible server supports.
    pub const STORAGE_AMAZON_FORCE_PATH_STYLE: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "storage.amazon.forcepathstyle", flag: "--storage-amazon-force-path-style",
        env: "STORAGE_AMAZON_FORCE_PATH_STYLE",
        default: "true",
        help: "Path-style S3 requests (endpoint/bucket/key) instead of virtual-hosted (bucket.endpoint/key)",
        ..BASE
    });
    pub const STORAGE_GOOGLE_BUCKET: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.google.bucket", flag: "--storage-google-bucket", env: "STORAGE_GOOGLE_BUCKET",
        value_name: "BUCKET",
        help: "GCS bucket of the google backend (required for google)",
        ..BASE
    });
    pub const STORAGE_GOOGLE_PREFIX: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.google.prefix", flag: "--storage-google-prefix", env: "STORAGE_GOOGLE_PREFIX",
        value_name: "PREFIX",
        default_help: Some("none, the bucket root"),
        help: "Object name prefix in the GCS bucket",
        ..BASE
    });
    pub const STORAGE_MICROSOFT_CONTAINER: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.microsoft.container", flag: "--storage-microsoft-container",
        env: "STORAGE_MICROSOFT_CONTAINER", value_name: "CONTAINER",
        help: "Azure Blob container of the microsoft backend (required for microsoft)",
        ..BASE
    });
    pub const STORAGE_MICROSOFT_PREFIX: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "storage.microsoft.prefix", flag: "--storage-microsoft-prefix", env: "STORAGE_MICROSOFT_PREFIX",
        value_name: "PREFIX",
        default_help: Some("none, the container root"),
        help: "Blob name prefix in the Azure container",
        ..BASE
    });
    pub const STORAGE_POLL_INTERVAL: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "storage.pollinterval", flag: "--storage-poll-interval", env: "STORAGE_POLL_INTERVAL",
        default: "500ms",
        help: "How often to poll storage for changes made by other replicas, as a Go duration (must be \
               greater than 0)",
        ..BASE
    });
    pub const ALLOW_OVERWRITE: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "allowoverwrite", flag: "--allow-overwrite", env: "ALLOW_OVERWRITE",
        default: "false",
        help: "Allow uploads to overwrite an existing chart version without ?force",
        ..BASE
    });
    pub const DISABLE_FORCE_OVERWRITE: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "disableforceoverwrite", flag: "--disable-force-overwrite", env: "DISABLE_FORCE_OVERWRITE",
        default: "false",
        help: "Refuse to overwrite an existing chart version even with ?force",
        ..BASE
    });
    pub const DISABLE_DELETE: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "disabledelete", flag: "--disable-delete", env: "DISABLE_DELETE",
        default: "false",
        help: "Remove the DELETE chart route",
        ..BASE
    });
    pub const DISABLE_API: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "disableapi", flag: "--disable-api", env: "DISABLE_API",
        default: "false",
        help: "Remove all /api routes",
        ..BASE
    });
    pub const DISABLE_STATEFILES: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "disablestatefiles", flag: "--disable-statefiles", env: "DISABLE_STATEFILES",
        default: "false",
        help: "Do not persist index state in storage",
        ..BASE
    });
    pub const STATEFILE_DELAY: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "statefiledelay", flag: "--statefile-delay", env: "STATEFILE_DELAY",
        default: "10s",
        help: "Longest time index changes wait before the persisted state is written again, as a Go duration \
               (at least 1s); a pause in changes of a tenth of it writes sooner",
        ..BASE
    });
    pub const CONTEXT_PATH: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "contextpath", flag: "--context-path", env: "CONTEXT_PATH", value_name: "PATH",
        help: "Serve all routes under this URL path prefix, e.g. /charts",
        ..BASE
    });
    pub const CHART_URL: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "charturl", flag: "--chart-url", env: "CHART_URL", value_name: "URL",
        default_help: Some("none, URLs relative to the repository"),
        help: "Absolute http(s) base URL for chart URLs in index.yaml, e.g. https://charts.example.com",
        ..BASE
    });
    pub const MAX_UPLOAD_SIZE: Opt<kind::UInt> = Opt::uint(u64::MAX, "a number of bytes", OptionSpec {
        key: "maxuploadsize", flag: "--max-upload-size", env: "MAX_UPLOAD_SIZE", value_name: "BYTES",
        default: "20971520",
        help: "Largest accepted request body, in bytes",
        ..BASE
    });
    pub const MAX_UPLOAD_MEMORY: Opt<kind::UInt> = Opt::uint(u64::MAX, "a number of bytes", OptionSpec {
        key: "maxuploadmemory", flag: "--max-upload-memory", env: "MAX_UPLOAD_MEMORY", value_name: "BYTES",
        default: "67108864",
        help: "Request bodies held in memory at once, in bytes, all requests together (503 with Retry-After \
               above); at least --max-upload-size",
        ..BASE
    });
    pub const CHART_FORM_FIELD: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "chartpostformfieldname", flag: "--chart-post-form-field-name", env: "CHART_POST_FORM_FIELD_NAME",
        value_name: "NAME",
        default: "chart",
        help: "Multipart form field name of the chart archive in uploads",
        ..BASE
    });
    pub const PROV_FORM_FIELD: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "provpostformfieldname", flag: "--prov-post-form-field-name", env: "PROV_POST_FORM_FIELD_NAME",
        value_name: "NAME",
        default: "prov",
        help: "Multipart form field name of the provenance file in uploads",
        ..BASE
    });
    pub const DEPTH: Opt<kind::UInt> = Opt::uint(MAX_DEPTH as u64, "an integer from 0 to 16", OptionSpec {
        key: "depth", flag: "--depth", env: "DEPTH", value_name: "N",
        default: "0",
        help: "Serve one repository per tenant path of exactly N segments (/<t1>/../<tN>/index.yaml, \
               /api/<t1>/../<tN>/charts); 0 serves the root repository only",
        ..BASE
    });
    pub const DEPTH_DYNAMIC: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "depthdynamic", flag: "--depth-dynamic", env: "DEPTH_DYNAMIC",
        default: "false",
        help: "Serve a repository at any tenant path depth, the root included (overrides --depth, as in \
               ChartMuseum)",
        ..BASE
    });
    pub const BASIC_AUTH_USER: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "basicauth.user", flag: "--basic-auth-user", env: "BASIC_AUTH_USER", value_name: "USER",
        help: "User name of ChartMuseum's single basic-auth user, who may do everything on every tenant \
               (needs --basic-auth-pass)",
        ..BASE
    });
    pub const BASIC_AUTH_PASS: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "basicauth.pass", flag: "--basic-auth-pass", env: "BASIC_AUTH_PASS", value_name: "PASSWORD",
        help: "Password of the --basic-auth-user (or a file named by BASIC_AUTH_PASS_FILE); never logged",
        secret: true,
        ..BASE
    });
    pub const AUTH_ANONYMOUS_GET: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "authanonymousget", flag: "--auth-anonymous-get", env: "AUTH_ANONYMOUS_GET",
        default: "false",
        help: "Let anyone pull (index, charts, API reads) from every tenant while authentication is on",
        ..BASE
    });
    pub const AUTH_CONFIG: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "authconfig", flag: "--auth-config", env: "AUTH_CONFIG", value_name: "FILE",
        help: "YAML file of users (bcrypt/argon2id, htpasswd), tokens and per-tenant grants; reloaded on \
               SIGHUP and when it changes",
        ..BASE
    });
    pub const AUTH_CONFIG_POLL_INTERVAL: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "authconfigpollinterval", flag: "--auth-config-poll-interval", env: "AUTH_CONFIG_POLL_INTERVAL",
        default: "10s",
        help: "How often the --auth-config file (and its htpasswd file) is checked for changes, as a Go \
               duration; 0 reloads on SIGHUP only",
        ..BASE
    });
    pub const BEARER_AUTH: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "bearerauth", flag: "--bearer-auth", env: "BEARER_AUTH",
        default: "false",
        help: "Accept bearer JWTs signed by the --auth-cert-path key(s) (needs --auth-realm, --auth-service \
               and --auth-cert-path)",
        ..BASE
    });
    pub const AUTH_REALM: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "authrealm", flag: "--auth-realm", env: "AUTH_REALM", value_name: "URL",
        help: "Token service announced in the Bearer challenge of a 401 (with --bearer-auth)",
        ..BASE
    });
    pub const AUTH_SERVICE: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "authservice", flag: "--auth-service", env: "AUTH_SERVICE", value_name: "NAME",
        help: "Service name announced in the Bearer challenge of a 401 (with --bearer-auth)",
        ..BASE
    });
    pub const AUTH_CERT_PATH: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "authcertpath", flag: "--auth-cert-path", env: "AUTH_CERT_PATH", value_name: "FILE",
        help: "PEM file with the token issuer's public key(s) or certificate(s): RSA, EC P-256/P-384 or \
               Ed25519 (with --bearer-auth)",
        ..BASE
    });
    pub const AUTH_ACTIONS_SEARCH_PATH: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "authactionssearchpath", flag: "--auth-actions-search-path", env: "AUTH_ACTIONS_SEARCH_PATH",
        value_name: "JMESPATH",
        default_help: Some("access[?name=='$NAMESPACE' && type=='$ACCESS_ENTRY_TYPE'].actions[]"),
        help: "JMESPath expression finding a JWT's actions on a tenant in its claims (with --bearer-auth)",
        ..BASE
    });
    pub const AUTH_AUDIENCE: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "authaudience", flag: "--auth-audience", env: "AUTH_AUDIENCE", value_name: "AUD",
        default_help: Some("none, aud not checked"),
        help: "Comma-separated audiences a JWT's aud must name one of (with --bearer-auth)",
        ..BASE
    });
    pub const AUTH_ISSUER: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "authissuer", flag: "--auth-issuer", env: "AUTH_ISSUER", value_name: "ISS",
        default_help: Some("none, iss not checked"),
        help: "Comma-separated issuers a JWT's iss must be one of (with --bearer-auth)",
        ..BASE
    });
    pub const CACHE_INTERVAL: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "cacheinterval", flag: "--cache-interval", env: "CACHE_INTERVAL",
        default: "5m",
        help: "How often to rescan storage for changes, as a Go duration (30s, 5m, 1h30m); 0 never rescans, otherwise at least 1s",
        ..BASE
    });
    pub const INDEX_LIMIT: Opt<kind::UInt> = Opt::uint(usize::MAX as u64, "a non-negative integer", OptionSpec {
        key: "indexlimit", flag: "--index-limit", env: "INDEX_LIMIT", value_name: "N",
        default: "0",
        help: "Maximum parallel chart archive reads when (re)building the index; 0 means the built-in \
               bound of 16",
        ..BASE
    });
    pub const INDEX_FORMAT: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "index-format", flag: "--index-format", env: "INDEX_FORMAT", value_name: "FORMAT",
        default: "auto",
        help: "What /index.yaml is: auto (compact JSON to Helm >= 3.13, which parses it ~6x faster, \
               YAML to every other client), yaml, or json",
        ..BASE
    });
    pub const JSON_INDEX: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "json-index", flag: "--json-index", env: "JSON_INDEX",
        default: "false",
        help: "Serve the index as compact JSON to every client (--index-format json)",
        ..BASE
    });
    pub const LOG_JSON: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "logjson", flag: "--log-json", env: "LOG_JSON",
        default: "false",
        help: "Write logs as JSON lines",
        ..BASE
    });
    pub const LOG_HEALTH: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "loghealth", flag: "--log-health", env: "LOG_HEALTH",
        default: "false",
        help: "Log requests to /health",
        ..BASE
    });
    pub const DEBUG: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "debug", flag: "--debug", env: "DEBUG",
        default: "false",
        help: "Debug logging",
        ..BASE
    });
    pub const READ_TIMEOUT: Opt<kind::UInt> = Opt::uint(u64::MAX, "a whole number of seconds", OptionSpec {
        key: "readtimeout", flag: "--read-timeout", env: "READ_TIMEOUT", value_name: "SECONDS",
        default: "30",
        help: "Server read timeout, in whole seconds",
        ..BASE
    });
    pub const WRITE_TIMEOUT: Opt<kind::UInt> = Opt::uint(u64::MAX, "a whole number of seconds", OptionSpec {
        key: "writetimeout", flag: "--write-timeout", env: "WRITE_TIMEOUT", value_name: "SECONDS",
        default: "30",
        help: "Server write timeout, in whole seconds",
        ..BASE
    });
    pub const DISABLE_OCI: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "disableoci", flag: "--disable-oci", env: "DISABLE_OCI",
        default: "false",
        help: "Remove the OCI distribution API (/v2/: helm push/pull oci://)",
        ..BASE
    });
    pub const DISABLE_UI: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "disableui", flag: "--disable-ui", env: "DISABLE_UI",
        default: "false",
        help: "Remove the web catalogue (browsers get the plain welcome text at /)",
        ..BASE
    });
    pub const READ_HEADER_TIMEOUT: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "readheadertimeout", flag: "--read-header-timeout", env: "READ_HEADER_TIMEOUT",
        default: "10s",
        help: "Time allowed to receive a request's headers, from its first byte (at most --read-timeout); \
               a slower connection is closed",
        ..BASE
    });
    pub const IDLE_TIMEOUT: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "idletimeout", flag: "--idle-timeout", env: "IDLE_TIMEOUT",
        default: "75s",
        help: "How long a keep-alive connection may wait for its next request before it is closed \
               (longer than a load balancer's idle timeout, 60s on AWS)",
        ..BASE
    });
    pub const SHUTDOWN_TIMEOUT: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "shutdowntimeout", flag: "--shutdown-timeout", env: "SHUTDOWN_TIMEOUT",
        default: "25s",
        help: "Grace period after SIGTERM for requests in flight; connections still open then are closed",
        ..BASE
    });
    pub const MAX_CONNECTIONS: Opt<kind::UInt> = Opt::uint(1_000_000, "an integer from 1 to 1000000", OptionSpec {
        key: "maxconnections", flag: "--max-connections", env: "MAX_CONNECTIONS", value_name: "N",
        default: "4096",
        help: "Open connections at most; further clients wait in the listen queue until one closes \
               (lowered to fit the open-file limit)",
        ..BASE
    });
    pub const MAX_HEADER_COUNT: Opt<kind::UInt> = Opt::uint(10_000, "an integer from 1 to 10000", OptionSpec {
        key: "maxheadercount", flag: "--max-header-count", env: "MAX_HEADER_COUNT", value_name: "N",
        default: "100",
        help: "Request header fields at most (431 above)",
        ..BASE
    });
    pub const MAX_HEADER_SIZE: Opt<kind::UInt> = Opt::uint(16 << 20, "a number of bytes from 1024 to 16777216", OptionSpec {
        key: "maxheadersize", flag: "--max-header-size", env: "MAX_HEADER_SIZE", value_name: "BYTES",
        default: "65536",
        help: "Size of a request's headers (request line included) at most, in bytes (431 above)",
        ..BASE
    });
    pub const HTTP2_CLEARTEXT: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "http2cleartext", flag: "--http2-cleartext", env: "HTTP2_CLEARTEXT",
        default: "false",
        help: "Also serve HTTP/2 without TLS (h2c, prior knowledge) on the plain port, e.g. behind a \
               proxy that speaks h2c; HTTP/2 over TLS is always offered",
        ..BASE
    });
    pub const TLS_CERT: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "tls.cert", flag: "--tls-cert", env: "TLS_CERT", value_name: "FILE",
        default_help: Some("none, plain HTTP"),
        help: "PEM certificate chain; with --tls-key, serve HTTPS (HTTP/1.1 and HTTP/2). Reloaded when it changes",
        ..BASE
    });
    pub const TLS_KEY: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "tls.key", flag: "--tls-key", env: "TLS_KEY", value_name: "FILE",
        help: "PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1). Reloaded when it changes",
        ..BASE
    });
    pub const TLS_CA_CERT: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "tls.cacert", flag: "--tls-ca-cert", env: "TLS_CA_CERT", value_name: "FILE",
        default_help: Some("none, no client certificates"),
        help: "PEM CA certificates; clients must present a certificate signed by one of them (mTLS)",
        ..BASE
    });
    pub const TLS_RELOAD_INTERVAL: Opt<kind::Duration> = Opt::duration(OptionSpec {
        key: "tls.reloadinterval", flag: "--tls-reload-interval", env: "TLS_RELOAD_INTERVAL",
        default: "10s",
        help: "How often the TLS files are checked for changes; 0 never reloads",
        ..BASE
    });
    pub const ENABLE_METRICS: Opt<kind::Bool> = Opt::bool(OptionSpec {
        key: "enablemetrics", flag: "--enable-metrics", env: "ENABLE_METRICS",
        default: "false",
        help: "Serve Prometheus metrics at /metrics (outside the context path)",
        ..BASE
    });
    pub const METRICS_LISTEN: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "metrics.listen", flag: "--metrics-listen", env: "METRICS_LISTEN", value_name: "HOST:PORT",
        default_help: Some("none, /metrics on the main port"),
        help: "Serve /metrics on this address only (plain HTTP), e.g. 0.0.0.0:9102, so that it can be kept \
               off the network clients reach; needs --enable-metrics",
        ..BASE
    });
    pub const CORS_ALLOW_ORIGIN: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "cors.alloworigin", flag: "--cors-alloworigin", env: "CORS_ALLOW_ORIGIN", value_name: "ORIGINS",
        default_help: Some("none, no CORS headers"),
        help: "Origins browsers may call the API and the index from: * or a comma-separated list of \
               origins (https://ui.example.com)",
        ..BASE
    });
    pub const RATE_LIMIT: Opt<kind::UInt> = Opt::uint(1_000_000, "a number of requests per second", OptionSpec {
        key: "ratelimit", flag: "--rate-limit", env: "RATE_LIMIT", value_name: "PER_SECOND",
        default: "0",
        help: "Requests per second allowed to each client address (429 with Retry-After above); 0 is no limit",
        ..BASE
    });
    pub const RATE_LIMIT_BURST: Opt<kind::UInt> = Opt::uint(10_000_000, "a number of requests", OptionSpec {
        key: "ratelimitburst", flag: "--rate-limit-burst", env: "RATE_LIMIT_BURST", value_name: "N",
        default: "0",
        default_help: Some("0, twice --rate-limit"),
        help: "Requests a client may send at once before --rate-limit applies",
        ..BASE
    });
    pub const MAX_CONCURRENT_UPLOADS: Opt<kind::UInt> = Opt::uint(1_000_000, "a number of uploads", OptionSpec {
        key: "maxconcurrentuploads", flag: "--max-concurrent-uploads", env: "MAX_CONCURRENT_UPLOADS",
        value_name: "N",
        default: "0",
        help: "Uploads in progress at once from one client address (429 with Retry-After above); 0 is no limit",
        ..BASE
    });
    pub const PER_CHART_LIMIT: Opt<kind::UInt> = Opt::uint(u32::MAX as u64, "a number of versions", OptionSpec {
        key: "per-chart-limit", flag: "--per-chart-limit", env: "PER_CHART_LIMIT", value_name: "N",
        default: "0",
        default_help: Some("0, keep every version"),
        help: "Keep the N highest versions of each chart by semantic version; an upload prunes the rest \
               of its chart (never itself, never the last version) through the delete path",
        ..BASE
    });
    pub const PER_CHART_LIMIT_TENANT: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "per-chart-limit-tenant", flag: "--per-chart-limit-tenant", env: "PER_CHART_LIMIT_TENANT",
        value_name: "TENANT=N",
        default_help: Some("none, every tenant has --per-chart-limit"),
        help: "A tenant's own --per-chart-limit, e.g. team-a=10 (0 keeps every version; repeatable)",
        ..BASE
    });
    pub const RETENTION_KEEP_PRERELEASES: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "retention-keep-prereleases", flag: "--retention-keep-prereleases", env: "RETENTION_KEEP_PRERELEASES",
        value_name: "M",
        default_help: Some("none, pre-releases count only towards --per-chart-limit"),
        help: "Keep at most the M highest pre-release versions of each chart (0 keeps none)",
        ..BASE
    });
    pub const RETENTION_KEEP_PRERELEASES_TENANT: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "retention-keep-prereleases-tenant", flag: "--retention-keep-prereleases-tenant",
        env: "RETENTION_KEEP_PRERELEASES_TENANT", value_name: "TENANT=M",
        default_help: Some("none, every tenant has --retention-keep-prereleases"),
        help: "A tenant's own --retention-keep-prereleases, e.g. team-a=2 (none: no bound; repeatable)",
        ..BASE
    });
    pub const MAX_STORAGE_OBJECTS: Opt<kind::UInt> = Opt::uint(u32::MAX as u64, "a number of objects", OptionSpec {
        key: "maxstorageobjects", flag: "--max-storage-objects", env: "MAX_STORAGE_OBJECTS", value_name: "N",
        default: "0",
        default_help: Some("0, no limit"),
        help: "Chart versions a tenant may hold; a new version beyond it is 507 (every upload path)",
        ..BASE
    });
    pub const MAX_STORAGE_OBJECTS_TENANT: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "maxstorageobjectstenant", flag: "--max-storage-objects-tenant", env: "MAX_STORAGE_OBJECTS_TENANT",
        value_name: "TENANT=N",
        default_help: Some("none, every tenant has --max-storage-objects"),
        help: "A tenant's own --max-storage-objects, e.g. team-a=500 (0 is no limit; repeatable)",
        ..BASE
    });
    pub const ARTIFACT_HUB_REPO_ID: Opt<kind::Items> = Opt::items(OptionSpec {
        key: "artifact-hub-repo-id", flag: "--artifact-hub-repo-id", env: "ARTIFACT_HUB_REPO_ID",
        value_name: "[TENANT=]ID",
        default_help: Some("none, no artifacthub-repo.yml"),
        help: "Artifact Hub repository ID served as artifacthub-repo.yml: ID for the root repository, \
               TENANT=ID for a tenant (repeatable)",
        ..BASE
    });
    pub const ARTIFACT_HUB_OWNER: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "artifact-hub-owner", flag: "--artifact-hub-owner", env: "ARTIFACT_HUB_OWNER",
        value_name: "name=NAME,email=EMAIL",
        default_help: Some("none, no owners listed"),
        help: "The repository owner listed in every artifacthub-repo.yml: name and email separated by a \
               comma (the name may hold spaces)",
        ..BASE
    });
    pub const AUDIT_LOG: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "auditlog", flag: "--audit-log", env: "AUDIT_LOG", value_name: "FILE|stdout",
        default_help: Some("none, no audit log"),
        help: "Write one JSON line per chart write and per refused write (who, from where, what, \
               outcome) to this file (appended) or to stdout; separate from the request log",
        ..BASE
    });
    /// The config file itself: a flag and a variable, never a key (`config` names it in the log).
    pub const CONFIG: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "config", flag: "--config", short: Some('c'), env: "CONFIG", value_name: "FILE",
        help: "YAML config file (ChartMuseum keys, nested or dotted); flags and environment variables \
               override its values",
        in_file: false,
        ..BASE
    });
    pub const PROVENANCE: Opt<kind::Text> = Opt::text(OptionSpec {
        key: "provenance", flag: "--provenance", env: "PROVENANCE", value_name: "POLICY",
        default: "off",
        help: "Provenance policy for uploads: off, if-present (a .prov must verify with the trusted \
               keyring) or required (every chart needs a .prov that verifies)",
        ..BASE
    });
    pub const PROVENANCE_TENANT: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "provenancetenant", flag: "--provenance-tenant", env: "PROVENANCE_TENANT", value_name: "TENANT=POLICY",
        default_help: Some("none, every tenant has the --provenance policy"),
        help: "A tenant's own provenance policy, e.g. team-a=required (repeatable; the variable takes a \
               comma- or space-separated list, the config file a mapping)",
        ..BASE
    });
    pub const WEBHOOK: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "webhook", flag: "--webhook", env: "WEBHOOK", value_name: "NAME=URL",
        default_help: Some("none"),
        help: "A webhook endpoint receiving signed chart.pushed, chart.overwritten and chart.deleted \
               events, e.g. ci=https://ci.example/hooks/charts (repeatable; each needs --webhook-secret)",
        ..BASE
    });
    pub const WEBHOOK_SECRET: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "webhooksecret", flag: "--webhook-secret", env: "WEBHOOK_SECRET", value_name: "NAME=whsec_…",
        default_help: Some("none"),
        help: "An endpoint's Standard Webhooks signing secret: whsec_ and base64 of 24 to 64 random bytes \
               (repeatable)",
        secret: true,
        ..BASE
    });
    pub const WEBHOOK_EVENTS: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "webhookevents", flag: "--webhook-events", env: "WEBHOOK_EVENTS", value_name: "NAME=KIND[+KIND]",
        default_help: Some("every kind"),
        help: "The event kinds an endpoint receives, e.g. ci=chart.pushed+chart.deleted (repeatable)",
        ..BASE
    });
    pub const WEBHOOK_TENANTS: Opt<kind::Pairs> = Opt::pairs(OptionSpec {
        key: "webhooktenants", flag: "--webhook-tenants", env: "WEBHOOK_TENANTS", value_name: "NAME=TENANT[+TENANT]",
        default_help: Some("every tenant"),
        help: "The tenants whose events an endpoint receives, as in grants: team-a, org/*, * (repeatable)",
        ..BASE
    });
    pub const PROVENANCE_KEYRING: Opt<kind::Path> = Opt::path(OptionSpec {
        key: "provenancekeyring", flag: "--provenance-keyring", env: "PROVENANCE_KEYRING", value_name: "FILE",
        help: "Trusted public keys for provenance checks: ASCII-armored keys or a GnuPG binary keyring \
               (gpg --export, Helm's pubring.gpg); required unless every policy is off",
        ..BASE
    });
}

/// The options a config file may set.
pub fn file_options() -> impl Iterator<Item = &'static OptionSpec> {
    OPTIONS.iter().copied().filter(|o| o.in_file)
}

/// The option with this config-file key.
pub fn by_key(key: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().copied().find(|o| o.key == key)
}
