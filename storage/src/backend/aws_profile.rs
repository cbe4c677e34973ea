//! The AWS shared config files (`~/.aws/credentials`, `~/.aws/config`): a small INI reader and
//! profile lookup, so that a ChartMuseum deployment that relied on the AWS SDK reading these files
//! keeps working. object_store's credential chain does not read them.
//!
//! Supported: static keys (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`) and
//! `region`. Profiles that delegate (`role_arn`, `sso_*`, `credential_process`) are reported so
//! the caller can say why they are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One INI file: section name to (lower-cased key to value).
pub(crate) type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// Parses the AWS flavour of INI: `[section]` headers, `key = value` pairs, full-line comments
/// starting with `#` or `;`. Indented lines continue a nested setting (`s3 =` followed by
/// indented `key = value` lines) and are skipped: nothing Chartroom reads is nested. Keys outside
/// any section are ignored, as the AWS CLI does.
pub(crate) fn parse_ini(text: &str) -> Ini {
    let mut ini = Ini::new();
    let mut section: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation of a nested value (e.g. `s3 =\n  addressing_style = path`).
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.strip_suffix(']').unwrap_or(rest).trim();
            // `[ profile  dev ]` and `[profile dev]` are the same section.
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            ini.entry(name.clone()).or_default();
            section = Some(name);
            continue;
        }
        let (Some(section), Some((key, value))) = (&section, trimmed.split_once('=')) else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = strip_inline_comment(value.trim());
        ini.entry(section.clone()).or_default().insert(key, value.to_owned());
    }
    ini
}

/// The AWS CLI treats ` #` / ` ;` (after whitespace) as the start of a comment in a value.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b'#' || *b == b';') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

/// What a profile provides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// The profile exists in at least one of the files.
    pub found: bool,
    /// Settings this reader does not implement (e.g. `role_arn`), for a warning.
    pub unsupported: Vec<String>,
}

const UNSUPPORTED_KEYS: &[&str] =
    &["role_arn", "source_profile", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file"];

/// The profile's settings from the credentials file (keys) and the config file (region, and keys
/// if the credentials file has none), as the AWS SDKs merge them.
pub(crate) fn profile(name: &str, credentials: &Ini, config: &Ini) -> Profile {
    let from_credentials = credentials.get(name);
    // The config file names non-default profiles `[profile NAME]`; `[NAME]` is accepted too.
    let config_section = if name == "default" {
        config.get("default").or_else(|| config.get("profile default"))
    } else {
        config.get(&format!("profile {name}")).or_else(|| config.get(name))
    };
    let get = |key: &str| {
        from_credentials
            .and_then(|s| s.get(key))
            .or_else(|| config_section.and_then(|s| s.get(key)))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let region = config_section
        .and_then(|s| s.get("region"))
        .or_else(|| from_credentials.and_then(|s| s.get("region")))
        .filter(|v| !v.is_empty())
        .cloned();
    let mut unsupported: Vec<String> = UNSUPPORTED_KEYS
        .iter()
        .filter(|k| {
            from_credentials.is_some_and(|s| s.contains_key(**k)) || config_section.is_some_and(|s| s.contains_key(**k))
        })
        .map(|k| (*k).to_owned())
        .collect();
    unsupported.dedup();
    Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region,
        found: from_credentials.is_some() || config_section.is_some(),
        unsupported,
    }
}

/// Reads an INI file; a missing file is an empty one (the files are optional).
pub(crate) fn read_ini(path: &Path) -> std::io::Result<Ini> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_ini(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ini::new()),
        Err(e) => Err(e),
    }
}

/// `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, else `$HOME/.aws/<default_name>`.
pub(crate) fn file_path(explicit: Option<&str>, home: Option<&str>, default_name: &str) -> Option<PathBuf> {
    match explicit {
        Some(p) if !p.is_empty() => Some(expand_home(p, home)),
        _ => home.filter(|h| !h.is_empty()).map(|h| Path::new(h).join(".aws").join(default_name)),
    }
}

fn expand_home(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "\
# a comment
; another comment
[default]
aws_access_key_id = AKIDEFAULT
aws_secret_access_key=secretdefault\r
[dev]
aws_access_key_id = AKIDEV
aws_secret_access_key = secret/dev+x==   # inline comment
aws_session_token = tok
AWS_Region = eu-west-1
";

    const CONFIG: &str = "\
[default]
region = us-west-2
s3 =
  addressing_style = path
  region = nested-must-be-ignored
[profile dev]
region = eu-central-1
[profile assumed]
role_arn = arn:aws:iam::123:role/x
source_profile = default
[ profile  spaced ]
region=ap-south-1
";

    #[test]
    fn parses_sections_keys_comments_and_nesting() {
        let ini = parse_ini(CREDENTIALS);
        assert_eq!(ini["default"]["aws_access_key_id"], "AKIDEFAULT");
        assert_eq!(ini["default"]["aws_secret_access_key"], "secretdefault");
        assert_eq!(ini["dev"]["aws_secret_access_key"], "secret/dev+x==");
        assert_eq!(ini["dev"]["aws_region"], "eu-west-1", "keys are case-insensitive");
        let config = parse_ini(CONFIG);
        assert_eq!(config["default"]["region"], "us-west-2", "indented nested keys do not override");
        assert_eq!(config["default"]["s3"], "");
        assert_eq!(config["profile spaced"]["region"], "ap-south-1");
        assert!(parse_ini("key = outside a section\n[x]\n").get("x").is_some_and(|s| s.is_empty()));
        assert!(parse_ini("").is_empty());
        // A value keeps '#' that is not preceded by whitespace.
        assert_eq!(parse_ini("[a]\nk = a#b ;c\n")["a"]["k"], "a#b");
        // An unterminated header still names its section.
        assert!(parse_ini("[broken\nk=v\n")["broken"].contains_key("k"));
    }

    #[test]
    fn profiles_merge_credentials_and_config() {
        let (creds, config) = (parse_ini(CREDENTIALS), parse_ini(CONFIG));
        let d = profile("default", &creds, &config);
        assert_eq!(d.access_key_id.as_deref(), Some("AKIDEFAULT"));
        assert_eq!(d.secret_access_key.as_deref(), Some("secretdefault"));
        assert_eq!(d.session_token, None);
        assert_eq!(d.region.as_deref(), Some("us-west-2"));
        assert!(d.found && d.unsupported.is_empty());

        let dev = profile("dev", &creds, &config);
        assert_eq!(dev.session_token.as_deref(), Some("tok"));
        assert_eq!(dev.region.as_deref(), Some("eu-central-1"), "the config file's region wins");

        let assumed = profile("assumed", &creds, &config);
        assert!(assumed.found && assumed.access_key_id.is_none());
        assert_eq!(assumed.unsupported, vec!["role_arn".to_owned(), "source_profile".to_owned()]);

        assert_eq!(profile("spaced", &creds, &config).region.as_deref(), Some("ap-south-1"));
        let missing = profile("nope", &creds, &config);
        assert!(!missing.found && missing == Profile::default());

        // Keys only in the config file are used too.
        let only_config = parse_ini("[profile c]\naws_access_key_id = A\naws_secret_access_key = B\n");
        let c = profile("c", &Ini::new(), &only_config);
        assert_eq!((c.access_key_id.as_deref(), c.secret_access_key.as_deref()), (Some("A"), Some("B")));
    }

    #[test]
    fn file_paths() {
        assert_eq!(file_path(None, Some("/home/u"), "config"), Some(PathBuf::from("/home/u/.aws/config")));
        assert_eq!(file_path(Some("/etc/aws"), Some("/home/u"), "config"), Some(PathBuf::from("/etc/aws")));
        assert_eq!(file_path(Some("~/x"), Some("/home/u"), "config"), Some(PathBuf::from("/home/u/x")));
        assert_eq!(file_path(Some(""), None, "config"), None);
        assert_eq!(file_path(None, None, "credentials"), None);
        let dir = tempfile::tempdir().unwrap();
        assert!(read_ini(&dir.path().join("missing")).unwrap().is_empty());
        std::fs::write(dir.path().join("c"), "[default]\nregion = r\n").unwrap();
        assert_eq!(read_ini(&dir.path().join("c")).unwrap()["default"]["region"], "r");
        assert!(read_ini(dir.path()).is_err(), "a directory is not a readable file");
    }
}
