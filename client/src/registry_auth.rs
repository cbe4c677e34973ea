//! Credentials of OCI registries from Helm's registry config (`helm registry login` writes it):
//! `$HELM_REGISTRY_CONFIG`, else `<Helm config home>/registry/config.json`
//! (`~/.config/helm/registry/config.json` on Linux), a docker-style file:
//! `{"auths": {"<host[:port]>": {"auth": "<base64 user:password>"}}}`. Keys may carry a scheme
//! (`https://host`), as docker writes some. Identity tokens and credential helpers
//! (`credsStore`) are not read: a registry with only those gets no credentials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::error::ClientError;

/// `Basic` credentials per registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAuths {
    by_host: HashMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ConfigFile {
    auths: HashMap<String, AuthEntry>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthEntry {
    auth: String,
    username: String,
    password: String,
}

/// `https://host:port/` → `host:port`.
fn host_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or("").to_ascii_lowercase()
}

impl RegistryAuths {
    /// The registry config of this process's environment (missing file: no credentials).
    pub fn from_env() -> Result<RegistryAuths, ClientError> {
        match config_path(|k| std::env::var_os(k).map(PathBuf::from)) {
            Some(path) => RegistryAuths::load(&path),
            None => Ok(RegistryAuths::default()),
        }
    }

    /// Reads `path`; a missing file is no credentials, an unreadable or invalid one an error.
    pub fn load(path: &Path) -> Result<RegistryAuths, ClientError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuths::default()),
            Err(e) => return Err(ClientError::usage(format!("cannot read {}: {e}", path.display()))),
        };
        let file: ConfigFile = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::usage(format!("cannot parse {}: {e}", path.display())))?;
        let mut by_host = HashMap::new();
        for (key, entry) in file.auths {
            let auth = if !entry.auth.is_empty() {
                entry.auth
            } else if !entry.username.is_empty() {
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", entry.username, entry.password))
            } else {
                continue;
            };
            by_host.insert(host_key(&key), format!("Basic {auth}"));
        }
        Ok(RegistryAuths { by_host })
    }

    /// The `Authorization` value for `host[:port]`, if the config has credentials for it.
    pub fn for_host(&self, host: &str) -> Option<&str> {
        self.by_host.get(&host_key(host)).map(String::as_str)
    }
}

/// `$HELM_REGISTRY_CONFIG`, else `registry/config.json` of Helm's config home
/// (`$HELM_CONFIG_HOME`, `$XDG_CONFIG_HOME/helm`, `~/.config/helm`); `None` without any of them.
pub fn config_path(var: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    let get = |k: &str| var(k).filter(|v| !v.as_os_str().is_empty());
    if let Some(path) = get("HELM_REGISTRY_CONFIG") {
        return Some(path);
    }
    let home = get("HELM_CONFIG_HOME").or_else(|| get("XDG_CONFIG_HOME").map(|x| x.join("helm"))).or_else(|| {
        let default: &[&str] = if cfg!(target_os = "macos") { &["Library", "Preferences"] } else { &[".config"] };
        get("HOME").map(|h| default.iter().fold(h, |p, part| p.join(part)).join("helm"))
    })?;
    Some(home.join("registry").join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_helm_registry_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(RegistryAuths::load(&path).unwrap(), RegistryAuths::default(), "missing file");
        let alice = base64::engine::general_purpose::STANDARD.encode("alice:pw");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{alice}"}},"https://Registry.example.com/":{{"username":"bob","password":"s"}},"empty.example":{{}}}},"credsStore":"desktop"}}"#
            ),
        )
        .unwrap();
        let auths = RegistryAuths::load(&path).unwrap();
        assert_eq!(auths.for_host("127.0.0.1:5000"), Some(format!("Basic {alice}").as_str()));
        let bob = base64::engine::general_purpose::STANDARD.encode("bob:s");
        assert_eq!(auths.for_host("registry.example.com"), Some(format!("Basic {bob}").as_str()));
        assert_eq!(auths.for_host("empty.example"), None);
        assert_eq!(auths.for_host("127.0.0.1:5001"), None);
        std::fs::write(&path, "not json").unwrap();
        assert!(RegistryAuths::load(&path).unwrap_err().message.contains("cannot parse"));
    }

    #[test]
    fn config_path_like_helm() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| PathBuf::from(v))
        };
        assert_eq!(
            config_path(vars(&[("HELM_REGISTRY_CONFIG", "/r.json"), ("HOME", "/h")])),
            Some(PathBuf::from("/r.json"))
        );
        assert_eq!(
            config_path(vars(&[("HELM_CONFIG_HOME", "/c"), ("HOME", "/h")])),
            Some(PathBuf::from("/c/registry/config.json"))
        );
        assert_eq!(
            config_path(vars(&[("XDG_CONFIG_HOME", "/x")])),
            Some(PathBuf::from("/x/helm/registry/config.json"))
        );
        if !cfg!(target_os = "macos") {
            assert_eq!(
                config_path(vars(&[("HOME", "/h")])),
                Some(PathBuf::from("/h/.config/helm/registry/config.json"))
            );
        }
        assert_eq!(config_path(vars(&[])), None);
    }
}
