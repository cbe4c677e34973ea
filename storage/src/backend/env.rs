//! The process environment as the storage backends see it, with the `<NAME>_FILE` convention for
//! secrets (Docker and Kubernetes secrets are mounted as files).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{BackendConfig, OpenError};

/// Secrets of the Amazon backend that may be given as `<NAME>_FILE`.
pub const AMAZON_SECRET_VARS: &[&str] =
    &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SSE_CUSTOMER_KEY_BASE64"];
/// Secrets of the Google backend that may be given as `<NAME>_FILE` (`GOOGLE_APPLICATION_CREDENTIALS`
/// is a path already).
pub const GOOGLE_SECRET_VARS: &[&str] = &["GOOGLE_SERVICE_ACCOUNT_KEY", "GOOGLE_BEARER_TOKEN"];
/// Secrets of the Microsoft backend that may be given as `<NAME>_FILE`. The account name is not a
/// credential, but ChartMuseum deployments often keep it in the same secret as the key.
pub const MICROSOFT_SECRET_VARS: &[&str] = &[
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CLIENT_SECRET",
];

/// The secret variables `cfg`'s backend reads (none for local storage).
pub fn secret_vars(cfg: &BackendConfig) -> &'static [&'static str] {
    match cfg {
        BackendConfig::Local { .. } => &[],
        BackendConfig::Amazon(_) => AMAZON_SECRET_VARS,
        BackendConfig::Google(_) => GOOGLE_SECRET_VARS,
        BackendConfig::Microsoft(_) => MICROSOFT_SECRET_VARS,
    }
}

/// The one boolean reader of the workspace (storage variables, `chartroom serve` options and the
/// check for unsupported ChartMuseum variables all use it), as ChartMuseum's environment accepts
/// booleans plus yes/no/on/off: `true`, `t`, `1`, `yes`, `y`, `on` are true; `false`, `f`, `0`,
/// `no`, `n`, `off` and the empty string are false; case and surrounding blanks do not matter.
/// Anything else is `None`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "f" | "0" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The value of a `<NAME>_FILE` secret: the file's content without trailing line breaks (secret
/// files usually end with one: `echo key > file`, `kubectl create secret --from-file`; the value
/// itself never does). An unreadable or empty file is an error naming `file_var` and the path.
pub fn read_secret_file(file_var: &str, path: &std::path::Path) -> Result<String, OpenError> {
    let secret_error = |source| OpenError::SecretFile { file_var: file_var.to_owned(), path: path.to_owned(), source };
    let text = std::fs::read_to_string(path).map_err(secret_error)?;
    let value = text.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(secret_error(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty")));
    }
    Ok(value)
}

/// A snapshot of environment variables with `<NAME>_FILE` secrets resolved: for each secret name
/// of the backend, `NAME_FILE` names a file whose content (without trailing line breaks) is the
/// value of `NAME`. Setting both is an error, as is an unreadable file. Empty values count as unset
/// (as in ChartMuseum, which checks `len(value) == 0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The process environment (variables that are not valid UTF-8 are skipped, as object_store's
    /// `from_env` builders do).
    pub fn from_process(cfg: &BackendConfig) -> Result<Self, OpenError> {
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::from_vars(cfg, vars)
    }

    /// Explicit variables (tests, embedding), resolving the `_FILE` secrets of `cfg`'s backend.
    pub fn from_vars(cfg: &BackendConfig, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, OpenError> {
        let mut vars: BTreeMap<String, String> = vars.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        for name in secret_vars(cfg) {
            let file_var = format!("{name}_FILE");
            let Some(path) = vars.remove(&file_var) else { continue };
            if vars.contains_key(*name) {
                return Err(OpenError::SecretBothSet { var: (*name).to_owned(), file_var });
            }
            let value = read_secret_file(&file_var, &PathBuf::from(path))?;
            vars.insert((*name).to_owned(), value);
        }
        Ok(Self { vars })
    }

    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether a boolean variable is set to a true value (see [`parse_bool`]).
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.get(name).and_then(parse_bool) == Some(true)
    }

    /// Variables whose name starts with `prefix`.
    pub(crate) fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.vars.iter().filter(move |(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{AmazonConfig, MicrosoftConfig};

    fn amazon() -> BackendConfig {
        BackendConfig::Amazon(AmazonConfig {
            bucket: "b".into(),
            prefix: String::new(),
            region: None,
            endpoint: None,
            sse: None,
            force_path_style: true,
        })
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn file_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "s3cr3t/with+chars\n").unwrap();
        let crlf = dir.path().join("crlf");
        std::fs::write(&crlf, "AKID\r\n").unwrap();
        let k = key.display().to_string();
        let c = crlf.display().to_string();

        let env = Environment::from_vars(
            &amazon(),
            vars(&[
                ("AWS_SECRET_ACCESS_KEY_FILE", &k),
                ("AWS_ACCESS_KEY_ID_FILE", &c),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_SESSION_TOKEN", ""),
            ]),
        )
        .unwrap();
        assert_eq!(env.get("AWS_SECRET_ACCESS_KEY"), Some("s3cr3t/with+chars"));
        assert_eq!(env.get("AWS_ACCESS_KEY_ID"), Some("AKID"));
        assert_eq!(env.get("AWS_SECRET_ACCESS_KEY_FILE"), None, "the _FILE variable is consumed");
        assert_eq!(env.get("AWS_SESSION_TOKEN"), None, "empty is unset");
        assert_eq!(env.get("AWS_REGION"), Some("eu-west-1"));

        // Both set: the error names both.
        let e = Environment::from_vars(
            &amazon(),
            vars(&[("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_SECRET_ACCESS_KEY_FILE", &k)]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("AWS_SECRET_ACCESS_KEY ") && e.contains("AWS_SECRET_ACCESS_KEY_FILE"), "{e}");

        // Unreadable: the error names the variable and the file.
        let missing = dir.path().join("missing").display().to_string();
        let e =
            Environment::from_vars(&amazon(), vars(&[("AWS_ACCESS_KEY_ID_FILE", &missing)])).unwrap_err().to_string();
        assert!(e.contains("AWS_ACCESS_KEY_ID_FILE") && e.contains(&missing), "{e}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let e = Environment::from_vars(&amazon(), vars(&[("AWS_ACCESS_KEY_ID_FILE", &empty.display().to_string())]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");

        // Only the selected backend's secrets are resolved: a broken Azure file does not stop
        // an Amazon or local start.
        let broken = vars(&[("AZURE_STORAGE_ACCESS_KEY_FILE", &missing)]);
        assert!(Environment::from_vars(&amazon(), broken.clone()).is_ok());
        assert!(Environment::from_vars(&BackendConfig::Local { root: "x".into() }, broken.clone()).is_ok());
        let azure = BackendConfig::Microsoft(MicrosoftConfig { container: "c".into(), prefix: String::new() });
        assert!(Environment::from_vars(&azure, broken).is_err());
        // Names that merely end in _FILE are left alone.
        let env =
            Environment::from_vars(&amazon(), vars(&[("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")])).unwrap();
        assert_eq!(env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), Some("/var/run/token"));
    }

    #[test]
    fn flags() {
        let env = Environment::from_vars(
            &amazon(),
            vars(&[("A", "TRUE"), ("B", "1"), ("C", "false"), ("D", "no"), ("E", "on")]),
        )
        .unwrap();
        assert!(env.flag("A") && env.flag("B") && env.flag("E"));
        assert!(!env.flag("C") && !env.flag("D") && !env.flag("MISSING"));
        assert_eq!(env.with_prefix("B").count(), 1);
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "t", "1", "yes", "Y", "on", " On "] {
            assert_eq!(parse_bool(t), Some(true), "{t:?}");
        }
        for f in ["false", "F", "0", "no", "n", "OFF", "", "  "] {
            assert_eq!(parse_bool(f), Some(false), "{f:?}");
        }
        for other in ["maybe", "2", "truee", "-1"] {
            assert_eq!(parse_bool(other), None, "{other:?}");
        }
    }
}
