//! Real Helm 3 and Helm 4 clients, each with its own isolated homes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use crate::tools::tool;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmVersion {
    V3,
    V4,
}

pub const BOTH_HELMS: [HelmVersion; 2] = [HelmVersion::V3, HelmVersion::V4];

impl HelmVersion {
    pub fn label(self) -> &'static str {
        match self {
            HelmVersion::V3 => "helm3",
            HelmVersion::V4 => "helm4",
        }
    }

    /// The binary: `$CHARTROOM_HELM3`/`$CHARTROOM_HELM4`, else `.tools/bin/helm3|helm4`.
    /// Panics (fails the test) when it does not exist.
    pub fn binary(self) -> PathBuf {
        match self {
            HelmVersion::V3 => tool("CHARTROOM_HELM3", self.label(), "Helm v3.17.x"),
            HelmVersion::V4 => tool("CHARTROOM_HELM4", self.label(), "Helm v4.1.x"),
        }
    }
}

/// A Helm binary with its own isolated HELM_CONFIG_HOME / HELM_CACHE_HOME / HELM_DATA_HOME.
pub struct Helm {
    pub version: HelmVersion,
    bin: PathBuf,
    home: TempDir,
}

impl Helm {
    pub fn new(version: HelmVersion) -> Helm {
        Helm::with_binary(version, version.binary())
    }

    /// The Helm binary `bin` (a benchmark's `--helm`), which must report `version`.
    pub fn with_binary(version: HelmVersion, bin: PathBuf) -> Helm {
        // Absolute, so that runs in another working folder find it too.
        let bin = std::path::absolute(&bin).unwrap_or(bin);
        let home = tempfile::Builder::new()
            .prefix(&format!("chartroom-e2e-{}-", version.label()))
            .tempdir()
            .expect("helm home");
        let h = Helm { version, bin, home };
        let out = h.run(&["version", "--template", "{{.Version}}"]);
        let want = match version {
            HelmVersion::V3 => "v3.",
            HelmVersion::V4 => "v4.",
        };
        assert!(
            out.trim().starts_with(want),
            "{} reports version {out:?}; expected {want}x (run scripts/install-test-tools.sh)",
            h.bin.display()
        );
        h
    }

    pub fn label(&self) -> &'static str {
        self.version.label()
    }

    /// A scratch folder inside this Helm's home.
    pub fn work_dir(&self, name: &str) -> PathBuf {
        let p = self.home.path().join("work").join(name);
        fs::create_dir_all(&p).expect("work dir");
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let h = self.home.path();
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("HOME", h)
            .env("KUBECONFIG", h.join("kubeconfig-absent"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdin(Stdio::null());
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "HELM_REPOSITORY_CONFIG",
            "HELM_REPOSITORY_CACHE",
            "HELM_REGISTRY_CONFIG",
            "HELM_PLUGINS",
        ] {
            cmd.env_remove(k);
        }
        cmd
    }

    fn describe(&self, args: &[&str], out: &Output) -> String {
        format!(
            "{} {:?} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.label(),
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn output_in(&self, cwd: Option<&Path>, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        cmd.output().unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", self.bin.display()))
    }

    /// Runs Helm, asserts success, returns stdout followed by stderr.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> String {
        self.run_in(None, args)
    }

    #[track_caller]
    pub fn run_in(&self, cwd: Option<&Path>, args: &[&str]) -> String {
        let out = self.output_in(cwd, args);
        assert!(out.status.success(), "{}", self.describe(args, &out));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    /// Runs Helm, asserts failure, returns stdout followed by stderr.
    #[track_caller]
    pub fn run_fail(&self, args: &[&str]) -> String {
        let out = self.output_in(None, args);
        assert!(!out.status.success(), "expected failure: {}", self.describe(args, &out));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    #[track_caller]
    pub fn repo_add(&self, name: &str, url: &str) {
        let out = self.run(&["repo", "add", name, url]);
        assert!(out.contains("has been added"), "{} repo add {name} {url}: unexpected output {out:?}", self.label());
    }

    #[track_caller]
    pub fn repo_update(&self) {
        let out = match self.version {
            HelmVersion::V3 => self.run(&["repo", "update", "--fail-on-repo-update-fail"]),
            HelmVersion::V4 => self.run(&["repo", "update"]),
        };
        assert!(out.contains("Successfully got an update"), "{} repo update: unexpected output {out:?}", self.label());
    }

    /// `helm search repo <query> --versions [--devel]` → (name, version) rows.
    #[track_caller]
    pub fn search_versions(&self, query: &str, devel: bool) -> Vec<(String, String)> {
        let mut args = vec!["search", "repo", query, "--versions"];
        if devel {
            args.push("--devel");
        }
        let out = self.run(&args);
        out.lines()
            .filter(|l| !l.starts_with("NAME") && !l.trim().is_empty())
            .filter(|l| !l.starts_with("No results found"))
            .filter_map(|l| {
                let mut cols = l.split('\t').map(str::trim);
                let name = cols.next()?.to_owned();
                let version = cols.next()?.to_owned();
                if name.contains('/') { Some((name, version)) } else { None }
            })
            .collect()
    }

    /// Versions of `repo/chart` listed by `helm search repo <repo>/ --versions [--devel]`.
    #[track_caller]
    pub fn searched_versions(&self, repo: &str, chart: &str, devel: bool) -> Vec<String> {
        let full = format!("{repo}/{chart}");
        self.search_versions(&format!("{repo}/"), devel)
            .into_iter()
            .filter(|(n, _)| *n == full)
            .map(|(_, v)| v)
            .collect()
    }
}
