//! The `chartroom` binary run as a client (`push`, `pull`, `search`, `package`, `dependency`,
//! `install`): the one runner of every test that runs the CLI.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::helm::{Helm, HelmVersion};
use crate::tools::chartroom_binary;

/// Variables of the developer's environment that would change what the client does: proxies,
/// the `helm cm-push` variables and Helm's repository configuration. Every run removes them;
/// a test that wants one sets it with [`Cli::output_with`] or [`Cli::run_with`].
const REMOVED: [&str; 12] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "HELM_REPO_USERNAME",
    "HELM_REPO_PASSWORD",
    "HELM_REPO_ACCESS_TOKEN",
    "HELM_REPO_AUTH_HEADER",
    "HELM_REPO_CONTEXT_PATH",
    "HELM_REPOSITORY_CONFIG",
    "HELM_CONFIG_HOME",
];

/// Runs the `chartroom` binary as a client with a Helm instance's environment (its HELM_* homes,
/// so repositories added with `helm repo add` are visible), with fresh empty homes, or with
/// neither.
pub struct Cli {
    /// Applied in order: `None` removes the variable.
    vars: Vec<(OsString, Option<OsString>)>,
    /// Keeps the empty homes alive for [`Cli::empty`].
    _homes: Option<Helm>,
}

/// What one `chartroom` run printed and how it exited (-1: killed by a signal).
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Default for Cli {
    fn default() -> Self {
        Cli::new()
    }
}

impl Cli {
    /// The test's environment without the variables in [`REMOVED`]; `HOME` is kept, so Helm's
    /// default configuration folder is the developer's (harmless for commands given URLs or
    /// folders).
    pub fn new() -> Cli {
        Cli { vars: REMOVED.iter().map(|k| (OsString::from(k), None)).collect(), _homes: None }
    }

    /// The environment `helm` runs with: its homes, `HOME`, no proxies.
    pub fn like(helm: &Helm) -> Cli {
        let template = helm.command(&[]);
        let mut cli = Cli::new();
        cli.vars.extend(template.get_envs().map(|(k, v)| (k.to_owned(), v.map(OsStr::to_owned))));
        cli
    }

    /// Empty Helm homes (no configured repositories), isolated like a fresh Helm's.
    pub fn empty() -> Cli {
        let helm = Helm::new(HelmVersion::V4);
        let cli = Cli::like(&helm);
        Cli { _homes: Some(helm), ..cli }
    }

    /// Helm's repository cache folder of these homes.
    pub fn cache_dir(&self) -> PathBuf {
        let cache = self.vars.iter().rev().find(|(k, _)| k == "HELM_CACHE_HOME").and_then(|(_, v)| v.clone());
        Path::new(&cache.expect("HELM_CACHE_HOME: use Cli::like or Cli::empty")).join("repository")
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.output_with(args, &[])
    }

    /// Runs chartroom with `extra_env` added to its environment.
    pub fn output_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(chartroom_binary());
        for (k, v) in &self.vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run chartroom {args:?}: {e}"))
    }

    /// Runs chartroom; its exit code and output as text.
    pub fn run(&self, args: &[&str]) -> Run {
        self.output(args).into()
    }

    pub fn run_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        self.output_with(args, extra_env).into()
    }

    /// Runs chartroom, asserts success, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(out.status.success(), "chartroom {args:?} failed: {}", describe_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs chartroom, asserts the exit code and an `Error: ` message with nothing on stdout;
    /// returns stderr.
    #[track_caller]
    pub fn fail(&self, args: &[&str], code: i32) -> String {
        let out = self.output(args);
        assert_eq!(out.status.code(), Some(code), "chartroom {args:?}: {}", describe_output(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.starts_with("Error: "), "chartroom {args:?}: stderr should start with Error: {err:?}");
        assert!(out.stdout.is_empty(), "chartroom {args:?}: nothing on stdout on failure: {}", describe_output(&out));
        err
    }
}

/// A subprocess's exit status and output, for assertion messages.
pub fn describe_output(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
