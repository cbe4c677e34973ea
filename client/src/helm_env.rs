//! Helm's files and environment variables, resolved exactly as Helm resolves them
//! (`pkg/helmpath/lazypath.go`, `pkg/cli/environment.go`), so that repositories added with
//! `helm repo add` are usable by name and caches land where Helm users expect them.
//!
//! | what | variable | default |
//! |---|---|---|
//! | configuration home | `HELM_CONFIG_HOME` | `$XDG_CONFIG_HOME/helm`, else `~/.config/helm` |
//! | cache home | `HELM_CACHE_HOME` | `$XDG_CACHE_HOME/helm`, else `~/.cache/helm` |
//! | repositories file | `HELM_REPOSITORY_CONFIG` | `<config home>/repositories.yaml` |
//! | repository cache | `HELM_REPOSITORY_CACHE` | `<cache home>/repository` |
//!
//! (On macOS the last-resort defaults are `~/Library/Preferences/helm` and
//! `~/Library/Caches/helm`, as in Helm.) An empty variable counts as unset, as in Helm.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ClientError, ErrorKind};

/// Helm's resolved paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmEnv {
    /// `repositories.yaml` (`HELM_REPOSITORY_CONFIG`).
    pub repository_config: PathBuf,
    /// The repository cache folder (`HELM_REPOSITORY_CACHE`), where Helm keeps
    /// `<name>-index.yaml`; Chartroom keeps its own index copies there under `chartroom-*` names.
    pub repository_cache: PathBuf,
}

/// One repository of `repositories.yaml` (Helm's `repo.Entry`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RepoEntry {
    pub name: String,
    pub url: String,
    pub username: String,
    pub password: String,
    #[serde(rename = "caFile")]
    pub ca_file: String,
    #[serde(rename = "certFile")]
    pub cert_file: String,
    #[serde(rename = "keyFile")]
    pub key_file: String,
    pub insecure_skip_tls_verify: bool,
    pub pass_credentials_all: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RepoFile {
    #[serde(rename = "apiVersion")]
    #[allow(dead_code)]
    api_version: String,
    repositories: Vec<Option<RepoEntry>>,
}

impl HelmEnv {
    /// Resolves the paths from the process environment.
    ///
    /// ```no_run
    /// let env = chartroom_client::helm_env::HelmEnv::from_env()?;
    /// for repo in env.repositories()? {
    ///     println!("{} {}", repo.name, repo.url);
    /// }
    /// # Ok::<(), chartroom_client::ClientError>(())
    /// ```
    pub fn from_env() -> Result<HelmEnv, ClientError> {
        HelmEnv::from_vars(|k| std::env::var_os(k).map(PathBuf::from))
    }

    /// Resolves the paths from the variables `var` returns (for tests and embedding tools).
    pub fn from_vars(var: impl Fn(&str) -> Option<PathBuf>) -> Result<HelmEnv, ClientError> {
        let get = |k: &str| var(k).filter(|v| !v.as_os_str().is_empty());
        let home = || {
            get("HOME").ok_or_else(|| {
                ClientError::usage(
                    "cannot locate Helm's folders: HOME is not set (set HELM_CONFIG_HOME and HELM_CACHE_HOME)",
                )
            })
        };
        let lazy = |helm_var: &str, xdg_var: &str, default: &[&str]| -> Result<PathBuf, ClientError> {
            if let Some(p) = get(helm_var) {
                return Ok(p);
            }
            let base = match get(xdg_var) {
                Some(p) => p,
                None => default.iter().fold(home()?, |p, part| p.join(part)),
            };
            Ok(base.join("helm"))
        };
        let (config_default, cache_default): (&[&str], &[&str]) = if cfg!(target_os = "macos") {
            (&["Library", "Preferences"], &["Library", "Caches"])
        } else {
            (&[".config"], &[".cache"])
        };
        let repository_config = match get("HELM_REPOSITORY_CONFIG") {
            Some(p) => p,
            None => lazy("HELM_CONFIG_HOME", "XDG_CONFIG_HOME", config_default)?.join("repositories.yaml"),
        };
        let repository_cache = match get("HELM_REPOSITORY_CACHE") {
            Some(p) => p,
            None => lazy("HELM_CACHE_HOME", "XDG_CACHE_HOME", cache_default)?.join("repository"),
        };
        Ok(HelmEnv { repository_config, repository_cache })
    }

    /// The repositories of `repositories.yaml`; a missing (or empty) file is an empty list.
    pub fn repositories(&self) -> Result<Vec<RepoEntry>, ClientError> {
        read_repositories(&self.repository_config)
    }

    /// The configured repository called `name`, if any.
    pub fn repository(&self, name: &str) -> Result<Option<RepoEntry>, ClientError> {
        Ok(self.repositories()?.into_iter().find(|r| r.name == name))
    }
}

fn read_repositories(path: &Path) -> Result<Vec<RepoEntry>, ClientError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClientError::other(format!("cannot read {}: {e}", path.display()))),
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let bad = |reason: String| ClientError::new(ErrorKind::Usage, format!("cannot parse {}: {reason}", path.display()));
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not valid UTF-8: {e}")))?;
    let file: Option<RepoFile> = serde_saphyr::from_str_with_options(text, chartroom_chart::yaml::read_options())
        .map_err(|e| bad(first_line(&e.to_string())))?;
    Ok(file.map(|f| f.repositories.into_iter().flatten().collect()).unwrap_or_default())
}

fn first_line(s: &str) -> String {
    s.trim().lines().next().unwrap_or("").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> Result<HelmEnv, ClientError> {
        let map: HashMap<String, PathBuf> = vars.iter().map(|(k, v)| (k.to_string(), PathBuf::from(v))).collect();
        HelmEnv::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn resolves_paths_like_helm() {
        let e = env_of(&[("HOME", "/home/u")]).expect("env");
        if !cfg!(target_os = "macos") {
            assert_eq!(e.repository_config, Path::new("/home/u/.config/helm/repositories.yaml"));
            assert_eq!(e.repository_cache, Path::new("/home/u/.cache/helm/repository"));
        }
        let e = env_of(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x/c"), ("XDG_CACHE_HOME", "/x/k")]).expect("env");
        assert_eq!(e.repository_config, Path::new("/x/c/helm/repositories.yaml"));
        assert_eq!(e.repository_cache, Path::new("/x/k/helm/repository"));
        let e = env_of(&[("XDG_CONFIG_HOME", "/x/c"), ("HELM_CONFIG_HOME", "/h/c"), ("HELM_CACHE_HOME", "/h/k")])
            .expect("env");
        assert_eq!(e.repository_config, Path::new("/h/c/repositories.yaml"));
        assert_eq!(e.repository_cache, Path::new("/h/k/repository"));
        let e = env_of(&[
            ("HELM_CONFIG_HOME", "/h/c"),
            ("HELM_REPOSITORY_CONFIG", "/r/repos.yaml"),
            ("HELM_REPOSITORY_CACHE", "/r/cache"),
            ("XDG_CACHE_HOME", ""),
        ])
        .expect("env");
        assert_eq!(e.repository_config, Path::new("/r/repos.yaml"));
        assert_eq!(e.repository_cache, Path::new("/r/cache"));
        // An empty variable is unset; no HOME at all is a usage error.
        let err = env_of(&[("HELM_CONFIG_HOME", ""), ("HELM_CACHE_HOME", "/h/k")]).expect_err("no home");
        assert_eq!(err.kind, ErrorKind::Usage);
    }

    #[test]
    fn reads_repositories_yaml() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("repositories.yaml");
        let env = HelmEnv { repository_config: path.clone(), repository_cache: dir.path().join("cache") };
        assert!(env.repositories().expect("missing file").is_empty());
        std::fs::write(&path, "").expect("write");
        assert!(env.repositories().expect("empty file").is_empty());
        std::fs::write(
            &path,
            "apiVersion: \"\"\ngenerated: \"2024-01-01T00:00:00Z\"\nrepositories:\n- caFile: \"\"\n  certFile: \"\"\n  \
             insecure_skip_tls_verify: false\n  keyFile: \"\"\n  name: one\n  pass_credentials_all: false\n  \
             password: \"s3cret\"\n  url: http://127.0.0.1:1/a\n  username: alice\n- name: two\n  url: \
             https://h/b/\n  futureField: 1\n",
        )
        .expect("write");
        let repos = env.repositories().expect("parses");
        assert_eq!(repos.len(), 2);
        assert_eq!(repos[0].name, "one");
        assert_eq!(repos[0].username, "alice");
        assert_eq!(repos[0].password, "s3cret");
        assert_eq!(repos[1].url, "https://h/b/");
        assert_eq!(env.repository("two").expect("ok").map(|r| r.name), Some("two".to_owned()));
        assert_eq!(env.repository("three").expect("ok"), None);
        std::fs::write(&path, "repositories: [").expect("write");
        assert_eq!(env.repositories().expect_err("broken").kind, ErrorKind::Usage);
    }
}
