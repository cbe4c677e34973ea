//! Resolution from flag/env values, the config file and defaults; the value readers; the option
//! table. The command line itself (clap, `--help`, the environment) is tested in the binary
//! (`src/cli/tests.rs`).

use std::path::PathBuf;
use std::time::Duration;

use super::chartmuseum::{UNSUPPORTED, UNSUPPORTED_BACKENDS};
use super::go_duration::{format_go_duration, parse_go_duration};
use super::hints::edit_distance;
use super::options::*;
use super::values::normalize_context_path;
use super::*;
use chartroom_index::IndexFormat;

mod auth;
mod errors;
mod provenance;
mod webhooks;

/// The configuration with every default.
pub(super) fn defaults() -> Config {
    Config {
        listen: ListenSettings { host: "0.0.0.0".into(), port: 8080 },
        storage: StorageSettings {
            backend: BackendConfig::Local { root: PathBuf::from("./chartroom-data") },
            poll_interval: Duration::from_millis(500),
        },
        repository: RepositorySettings {
            overwrite: OverwritePolicy { allow_overwrite: false, disable_force_overwrite: false },
            chart_url: None,
            context_path: String::new(),
            index_format: IndexFormat::Auto,
            statefiles: true,
            statefile_delay: Duration::from_secs(10),
            index_limit: 16,
            cache_interval: Some(Duration::from_secs(300)),
            limits: chartroom_chart::archive::Limits::default(),
            tenancy: Tenancy::Single,
        },
        http: HttpSettings {
            context_path: String::new(),
            disable_api: false,
            disable_delete: false,
            chart_form_field: "chart".into(),
            prov_form_field: "prov".into(),
            max_upload_size: 20_971_520,
            max_upload_memory: 67_108_864,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            log_health: false,
            limits: chartroom_chart::archive::Limits::default(),
            disable_oci: false,
            disable_ui: false,
        },
        auth: AuthSettings {
            chartmuseum_user: None,
            anonymous_get: false,
            config_file: None,
            config_poll_interval: Some(Duration::from_secs(10)),
            bearer: None,
        },
        log: LogSettings { json: false, debug: false },
        connections: ConnectionSettings {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            stall_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(25),
            max_connections: 4096,
            max_header_count: 100,
            max_header_size: 65536,
            http2_cleartext: false,
        },
        tls: None,
        webhooks: Vec::new(),
        metrics: MetricsSettings { enabled: false, listen: None },
        limits: ClientLimits { rate: None, concurrent_uploads: None, cors: None },
        provenance: ProvenanceSettings::default(),
        lifecycle: crate::config::LifecycleSettings::default(),
        config_file: None,
    }
}

/// Storage-related variables for [`resolve`]; HOME points nowhere so that a developer's ~/.aws
/// cannot change the outcome.
pub(super) fn storage_env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    std::iter::once(("HOME", "/nonexistent-chartroom-test-home"))
        .chain(pairs.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub(super) fn from(args: ArgValues) -> Result<Resolved, ConfigError> {
    resolve(&args, storage_env(&[]))
}

pub(super) fn err(args: ArgValues) -> String {
    from(args).unwrap_err().to_string()
}

fn arg(option: &OptionSpec, value: &str) -> ArgValues {
    ArgValues::new().with(option, value)
}

pub(super) fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn with_file(text: &str) -> (tempfile::TempDir, ArgValues) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "chartroom.yaml", text);
    (dir, arg(&CONFIG, path.to_str().unwrap()))
}

fn is_cloud_storage_key(key: &str) -> bool {
    ["storage.amazon.", "storage.google.", "storage.microsoft."].iter().any(|p| key.starts_with(p))
}

#[test]
fn defaults_without_anything() {
    let c = from(ArgValues::default()).unwrap();
    assert_eq!(c.config, defaults());
    assert!(c.describe().iter().all(|(_, _, s)| *s == "default"));
    assert_eq!(c.config.listen.addr(), "0.0.0.0:8080");
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
        let c = from(args).unwrap_or_else(|e| panic!("{e}\n{text}")).config;
        assert_eq!(c.listen.host, "127.0.0.1");
        assert_eq!(c.storage.backend, BackendConfig::Local { root: PathBuf::from("/srv/nested") });
        assert!(c.repository.overwrite.allow_overwrite && c.repository.index_format == IndexFormat::Json);
        assert_eq!(c.repository.cache_interval, Some(Duration::from_secs(30)));
        assert_eq!(c.http.max_upload_size, 4096);
        assert_eq!(c.repository.index_limit, 8);
        assert_eq!(c.http.read_timeout, Duration::from_secs(3));
        configs.push(Config { config_file: None, ..c });
    }
    assert_eq!(configs[0], configs[1]);
    assert_eq!(configs[1], configs[2]);
}

#[test]
fn file_with_long_comment_blocks() {
    // Helm charts and operators' files often document a nested key with a long comment; the YAML
    // parser must not buffer them (33 or more used to stop the start).
    let comments = "# a comment line\n".repeat(40);
    let text = format!("storage:\n{comments}  local:\n{comments}    rootdir: /srv/commented\n{comments}");
    let (_dir, args) = with_file(&text);
    let c = from(args).unwrap();
    assert_eq!(c.config.storage.backend, BackendConfig::Local { root: PathBuf::from("/srv/commented") });
}

#[test]
fn file_empty_and_null_values() {
    for text in ["", "# only a comment\n", "charturl:\nlisten:\n", "storage: {}\nlisten: {}\n"] {
        let (_dir, args) = with_file(text);
        let c = from(args).unwrap().config;
        assert_eq!(Config { config_file: None, ..c }, defaults());
    }
    let (_dir, args) = with_file("cacheinterval: 0\n");
    assert_eq!(from(args).unwrap().config.repository.cache_interval, None);
}

#[test]
fn file_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let e = err(arg(&CONFIG, missing.to_str().unwrap()));
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
        ("web-template-path: x\n", &["`web-template-path`", "does not support yet"]),
        ("maxstorageobjects: -1\n", &["key `maxstorageobjects`", "--max-storage-objects"]),
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
        ("per-chart-limit-tenant: {team: many}\n", &["key `per-chart-limit-tenant`", "tenant team: expected a number"]),
        ("artifact-hub-repo-id: [a, a]\n", &["key `artifact-hub-repo-id`", "more than once"]),
        ("depth: 20\n", &["key `depth`", "--depth", "DEPTH", "at most 16"]),
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
        let e = err(arg(&CONFIG, path.to_str().unwrap()));
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
    let e = err(arg(&CONTEXT_PATH, "/a//b"));
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
    assert_eq!(from(arg(&CACHE_INTERVAL, "0")).unwrap().config.repository.cache_interval, None);
    assert_eq!(
        from(arg(&CACHE_INTERVAL, "1s")).unwrap().config.repository.cache_interval,
        Some(Duration::from_secs(1))
    );
    for tiny in ["1ns", "999ms", "0.5s"] {
        let e = err(arg(&CACHE_INTERVAL, tiny));
        assert!(
            e.contains("--cache-interval") && e.contains("at least 1s") && e.contains("0 (never rescan)"),
            "{tiny}: {e}"
        );
    }
    let e = err(arg(&CACHE_INTERVAL, "bad"));
    assert!(e.contains("--cache-interval") && e.contains("CACHE_INTERVAL") && e.contains("\"bad\""), "{e}");
}

#[test]
fn invalid_values_name_the_option() {
    fn check(args: ArgValues, wants: &[&str]) {
        let e = err(args.clone());
        for want in wants {
            assert!(e.contains(want), "{args:?}: {e}\nmissing {want:?}");
        }
    }
    check(
        arg(&STORAGE, "s3"),
        &["--storage", "STORAGE", "\"s3\"", "local", "amazon, google, microsoft", "not supported yet"],
    );
    check(arg(&STORAGE, "Alibaba"), &["--storage", "STORAGE", "\"Alibaba\"", "not supported yet", "local"]);
    check(arg(&STORAGE_LOCAL_ROOTDIR, ""), &["--storage-local-rootdir", "STORAGE_LOCAL_ROOTDIR", "empty"]);
    check(arg(&CHART_URL, "ftp://example.com"), &["--chart-url", "CHART_URL", "ftp://example.com", "http"]);
    check(arg(&CHART_URL, "https://"), &["--chart-url", "host"]);
    check(arg(&CHART_URL, "https://x.example/?a=b"), &["--chart-url", "'?'"]);
    check(arg(&MAX_UPLOAD_SIZE, "0"), &["--max-upload-size", "MAX_UPLOAD_SIZE", "\"0\""]);
    check(arg(&READ_TIMEOUT, "0"), &["--read-timeout", "READ_TIMEOUT"]);
    check(arg(&WRITE_TIMEOUT, "0"), &["--write-timeout", "WRITE_TIMEOUT"]);
    check(arg(&LISTEN_HOST, "bad host"), &["--listen-host", "LISTEN_HOST", "\"bad host\""]);
    check(arg(&LISTEN_HOST, "::zz"), &["--listen-host", "IPv6"]);
    check(arg(&CHART_FORM_FIELD, ""), &["--chart-post-form-field-name", "CHART_POST_FORM_FIELD_NAME", "empty"]);
    check(arg(&PROV_FORM_FIELD, "chart"), &["--prov-post-form-field-name", "PROV_POST_FORM_FIELD_NAME", "differ"]);
    // Values the command line refuses as it parses them are refused here too when given directly.
    check(arg(&PORT, "65536"), &["--port", "PORT", "65536"]);
    check(arg(&DEBUG, "maybe"), &["--debug", "DEBUG", "maybe"]);
    check(arg(&METRICS_LISTEN, "0.0.0.0:9102"), &["--metrics-listen", "METRICS_LISTEN", "--enable-metrics"]);
    check(
        arg(&METRICS_LISTEN, "localhost").with(&ENABLE_METRICS, "true"),
        &["--metrics-listen", "\"localhost\"", "IP address and a port"],
    );
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
        let c = from(arg(&LISTEN_HOST, host)).unwrap().config;
        assert_eq!(c.listen.host, want_host);
        assert_eq!(c.listen.addr(), addr);
    }
    for host in ["", "[]", "a b", "::1::2", "1.2.3.4:80", "fe80::1%"] {
        assert!(from(arg(&LISTEN_HOST, host)).is_err(), "{host:?}");
    }
}

#[test]
fn index_limit_zero_is_the_builtin_bound() {
    for (given, want) in [(0, 16), (1, 1), (64, 64)] {
        let c = from(arg(&INDEX_LIMIT, &given.to_string())).unwrap().config;
        assert_eq!(c.repository.index_limit, want);
    }
}

#[test]
fn upload_memory_is_at_least_the_largest_upload() {
    let c = |args: ArgValues| from(args).unwrap().config.http;
    assert_eq!(c(ArgValues::new().with(&MAX_UPLOAD_MEMORY, "1048576")).max_upload_memory, 20_971_520);
    let big = ArgValues::new().with(&MAX_UPLOAD_SIZE, "104857600");
    assert_eq!(c(big).max_upload_memory, 104_857_600);
    assert_eq!(c(ArgValues::new().with(&MAX_UPLOAD_MEMORY, "200000000")).max_upload_memory, 200_000_000);
}

#[test]
fn describe_rows() {
    let (_dir, args) = with_file("port: 9000\n");
    let args = args.with(&DEBUG, "true").with(&CHART_URL, "https://c.example/");
    let c = from(args).unwrap();
    let rows = c.describe();
    let keys: Vec<&str> = rows.iter().map(|(k, _, _)| *k).collect();
    // In the table's order: every option but the unselected backends', `config` included.
    let want: Vec<&str> =
        OPTIONS.iter().map(|o| o.key).filter(|k| *k == "config" || !is_cloud_storage_key(k)).collect();
    assert_eq!(keys, want);
    let row = |k: &str| rows.iter().find(|(key, _, _)| *key == k).cloned().unwrap();
    assert_eq!(row("port"), ("port", "9000".into(), "file"));
    assert_eq!(row("debug"), ("debug", "true".into(), "flag/env"));
    assert_eq!(row("charturl"), ("charturl", "https://c.example".into(), "flag/env"));
    assert_eq!(row("cacheinterval"), ("cacheinterval", "5m0s".into(), "default"));
    assert_eq!(row("readtimeout"), ("readtimeout", "30s".into(), "default"));
    assert_eq!(row("storage.local.rootdir"), ("storage.local.rootdir", "./chartroom-data".into(), "default"));
    assert_eq!(c.sources.get("port"), Some(Source::File));
    assert_eq!(c.sources.get("storage.amazon.bucket"), None, "another backend's option is not read");
}

#[test]
fn storage_poll_interval() {
    for (raw, want) in
        [("500ms", Duration::from_millis(500)), ("2s", Duration::from_secs(2)), ("1m", Duration::from_secs(60))]
    {
        let c = from(arg(&STORAGE_POLL_INTERVAL, raw)).unwrap().config;
        assert_eq!(c.storage.poll_interval, want, "{raw}");
    }
    assert_eq!(from(ArgValues::default()).unwrap().config.storage.poll_interval, Duration::from_millis(500));
    for raw in ["0", "0s", "abc", "5"] {
        let e = err(arg(&STORAGE_POLL_INTERVAL, raw));
        assert!(e.contains("--storage-poll-interval") && e.contains("STORAGE_POLL_INTERVAL"), "{raw}: {e}");
    }
    let e = err(arg(&STORAGE_POLL_INTERVAL, "0"));
    assert!(e.contains("greater than 0"), "{e}");
    let c = from(ArgValues::default()).unwrap();
    let row = c.describe().into_iter().find(|(k, _, _)| *k == "storage.pollinterval").unwrap();
    assert_eq!((row.1.as_str(), row.2), ("500ms", "default"));
}

#[test]
fn unsupported_chartmuseum_env_vars_stop_the_start() {
    let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned()), ("PATH".to_owned(), "/bin".to_owned())];
    let err = check_unsupported_env(env("CACHE", "redis")).unwrap_err().to_string();
    assert!(err.contains("CACHE") && err.contains("refusing to start"), "{err}");
    assert!(check_unsupported_env(env("CACHE", "false")).is_ok());
    // Implemented now: no longer refused.
    for name in [
        "MAX_STORAGE_OBJECTS",
        "PER_CHART_LIMIT",
        "BASIC_AUTH_USER",
        "BASIC_AUTH_PASS",
        "BEARER_AUTH",
        "AUTH_REALM",
        "DEPTH",
        "DEPTH_DYNAMIC",
    ] {
        assert!(check_unsupported_env(env(name, "1")).is_ok(), "{name}");
    }
    assert!(check_unsupported_env(env("PORT", "8080")).is_ok());
    // Resolution checks them first.
    let e = resolve(&ArgValues::default(), env("CACHE", "redis")).unwrap_err().to_string();
    assert!(e.contains("CACHE"), "{e}");
}

/// The table is consistent: every name is set and unique, defaults resolve, and no option is
/// also a ChartMuseum option listed as unsupported.
#[test]
fn option_table() {
    let mut keys = std::collections::BTreeSet::new();
    let mut flags = std::collections::BTreeSet::new();
    let mut envs = std::collections::BTreeSet::new();
    for o in OPTIONS {
        assert!(!o.key.is_empty() && !o.help.is_empty() && !o.value_name.is_empty(), "{o:?}");
        assert!(o.flag.starts_with("--") && o.flag.len() > 2, "{o:?}");
        assert!(
            o.env.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && o.env.starts_with(|c: char| c.is_ascii_uppercase()),
            "{o:?}"
        );
        assert_eq!(o.key, o.key.to_lowercase(), "config keys are lower case (the file is read case-insensitively)");
        assert!(keys.insert(o.key) && flags.insert(o.flag) && envs.insert(o.env), "{o:?} is declared twice");
        assert!(!o.help.contains("[default"), "{}: the default is added from the table", o.key);
        assert!(!UNSUPPORTED.iter().any(|u| u.key == o.key || u.env == Some(o.env)), "{} is supported now", o.key);
    }
    assert_eq!(OPTIONS.iter().filter(|o| !o.in_file).map(|o| o.key).collect::<Vec<_>>(), ["config"]);
    assert!(UNSUPPORTED_BACKENDS.iter().all(|b| !keys.iter().any(|k| k.starts_with(&format!("storage.{b}.")))));
    assert_eq!(PORT.default_shown(), "8080");
    assert_eq!(STORAGE_AMAZON_BUCKET.default_shown(), "none");
    assert_eq!(
        STORAGE_AMAZON_PREFIX.help_line(),
        "Object name prefix in the S3 bucket [default: none, the bucket root]"
    );
    // Every backend's defaults resolve too.
    for (backend, extra) in [
        ("amazon", vec![(&STORAGE_AMAZON_BUCKET, "b"), (&STORAGE_AMAZON_REGION, "r")]),
        ("google", vec![(&STORAGE_GOOGLE_BUCKET, "b")]),
        ("microsoft", vec![(&STORAGE_MICROSOFT_CONTAINER, "c")]),
    ] {
        let args = extra.into_iter().fold(arg(&STORAGE, backend), |args, (o, v)| args.with(o, v));
        assert!(from(args).is_ok(), "{backend}");
    }
}

#[test]
fn command_line_checks() {
    assert_eq!(PORT.check_arg("65535"), Ok(()));
    assert_eq!(PORT.check_arg("65536"), Err("expected an integer from 0 to 65535".to_owned()));
    assert_eq!(MAX_UPLOAD_SIZE.check_arg("-1"), Err("expected a number of bytes".to_owned()));
    assert_eq!(DEBUG.check_arg("yes"), Ok(()));
    assert_eq!(DEBUG.check_arg("maybe"), Err("expected true/false, 1/0, yes/no or on/off".to_owned()));
    assert_eq!(CACHE_INTERVAL.check_arg("soon"), Ok(()), "durations are checked when resolved");
}

#[test]
fn overwrite_policy_is_chartmuseums_matrix() {
    for (allow, disable_force, force, allowed, immutable) in [
        (false, false, false, false, false),
        (false, false, true, true, false),
        (false, true, true, false, true),
        (true, false, false, true, false),
        (true, true, false, true, false),
    ] {
        let p = OverwritePolicy { allow_overwrite: allow, disable_force_overwrite: disable_force };
        assert_eq!(p.allows(force), allowed, "{p:?} force={force}");
        assert_eq!(p.charts_immutable(), immutable, "{p:?}");
    }
}

#[test]
fn repo_options_from_the_repository_settings() {
    let c = from(arg(&CONTEXT_PATH, "/helm").with(&CHART_URL, "https://c.example/").with(&INDEX_LIMIT, "0"))
        .unwrap()
        .config;
    let o = c.repo_options();
    assert_eq!(o.render.chart_url.as_deref(), Some("https://c.example/helm"));
    assert_eq!(o.render.context_path, "/helm");
    assert_eq!(o.read_concurrency, 16);
    assert_eq!(o.poll_interval, Some(Duration::from_millis(500)));
    assert_eq!(o.resync_interval, Some(Duration::from_secs(300)));
    assert!(o.statefiles && o.render.format == IndexFormat::Auto);
    // The default keeps the index's own timing: written 1 s after changes pause, at the latest 10 s.
    assert_eq!((o.persist_idle, o.persist_max_delay), (Duration::from_secs(1), Duration::from_secs(10)));
}

#[test]
fn statefile_delay_sets_both_persist_times() {
    let o = from(arg(&STATEFILE_DELAY, "5m")).unwrap().config.repo_options();
    assert_eq!((o.persist_idle, o.persist_max_delay), (Duration::from_secs(30), Duration::from_secs(300)));
    for tiny in ["0", "999ms", "1ns"] {
        let e = err(arg(&STATEFILE_DELAY, tiny));
        assert!(
            e.contains("--statefile-delay") && e.contains("STATEFILE_DELAY") && e.contains("at least 1s"),
            "{tiny}: {e}"
        );
    }
}

#[test]
fn unknown_key_hints() {
    assert_eq!(edit_distance("port", "prot"), 2);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

/// `--index-format` defaults to `auto`; `--json-index` is `json` and may not contradict an explicit
/// other format.
#[test]
fn index_format_and_the_older_json_switch() {
    let format = |args: ArgValues| from(args).map(|r| r.config.repository.index_format);
    assert_eq!(format(ArgValues::new()).unwrap(), IndexFormat::Auto);
    for (text, want) in [("yaml", IndexFormat::Yaml), ("JSON", IndexFormat::Json), ("auto", IndexFormat::Auto)] {
        assert_eq!(format(arg(&INDEX_FORMAT, text)).unwrap(), want, "{text}");
    }
    let e = format(arg(&INDEX_FORMAT, "xml")).unwrap_err().to_string();
    assert!(e.contains("--index-format") && e.contains("auto, yaml or json"), "{e}");
    assert_eq!(format(arg(&JSON_INDEX, "true")).unwrap(), IndexFormat::Json);
    assert_eq!(format(arg(&JSON_INDEX, "true").with(&INDEX_FORMAT, "json")).unwrap(), IndexFormat::Json);
    let e = format(arg(&JSON_INDEX, "true").with(&INDEX_FORMAT, "yaml")).unwrap_err().to_string();
    assert!(e.contains("--json-index") && e.contains("yaml"), "{e}");
    let c = from(arg(&INDEX_FORMAT, "yaml")).unwrap();
    assert!(c.describe().contains(&("index-format", "yaml".to_owned(), "flag/env")), "{:?}", c.describe());
}
