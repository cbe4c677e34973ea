//! The command line: every `chartroom` subcommand and its arguments. `serve`'s arguments come
//! from the server's option table ([`chartroom_server::config::options`]), so each server option
//! is declared once, there.

use std::path::PathBuf;

use chartroom_server::config::{ArgValues, Kind, OPTIONS, OptionSpec};
use clap::builder::{PathBufValueParser, ValueParser};
use clap::{Arg, ArgAction, ArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chartroom", version, about = "A Helm chart repository server, compatible with ChartMuseum")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve a chart repository over HTTP (ChartMuseum-compatible API and repository routes).
    Serve(ServeArgs),
    /// Probe a running server's /health (exit 0 when healthy): for container HEALTHCHECKs,
    /// which cannot rely on curl or a shell being present.
    Healthcheck(HealthcheckArgs),
    /// Package a chart folder into a versioned, reproducible chart archive (like `helm package`).
    Package(PackageArgs),
    /// Upload a chart to a ChartMuseum-compatible repository (the protocol of `helm cm-push`).
    Push(PushArgs),
    /// List the charts of a repository (like `helm search repo`), by URL or configured name.
    Search(SearchArgs),
    /// Download a chart from a repository, verifying its digest against the index (and with
    /// --verify its provenance file).
    Pull(PullArgs),
    /// Verify a packaged chart's provenance file (`<chart>.tgz.prov`) with a keyring of trusted
    /// public keys, like `helm verify`.
    Verify(VerifyArgs),
    /// Manage a chart's dependencies (`Chart.yaml` `dependencies`, `charts/`, `Chart.lock`) like
    /// `helm dependency`.
    #[command(alias = "dep", alias = "dependencies")]
    Dependency(DependencyArgs),
    /// Fetch a chart and, recursively, everything it depends on (every digest verified) into a
    /// self-contained folder that `helm install`/`helm template` accept with no network.
    Install(InstallArgs),
}

#[derive(clap::Args)]
pub struct HealthcheckArgs {
    /// Port of the server to probe.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Context path the server runs under.
    #[arg(long, env = "CONTEXT_PATH", default_value = "")]
    pub context_path: String,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
    /// Probe readiness (`/health/ready`: the index is built and storage answers) instead of
    /// liveness (`/health`).
    #[arg(long)]
    pub ready: bool,
    /// The server's certificate (the server's own TLS_CERT): when set, the probe speaks HTTPS.
    /// Without --ca-file the certificate is not verified: the probe talks to its own process on
    /// the loopback interface, whose certificate rarely names 127.0.0.1.
    #[arg(long, env = "TLS_CERT", hide_env_values = true)]
    pub tls_cert: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Helm's TLS flags of the client commands.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// Verify the server's certificate with this PEM CA file (besides the system's roots).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Present this PEM client certificate (servers that require one: mTLS).
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

impl TlsArgs {
    /// The client library's options (a repository's own `repositories.yaml` entry wins).
    pub fn options(&self) -> chartroom_client::tls::TlsOptions {
        chartroom_client::tls::TlsOptions {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
        }
    }
}

#[derive(clap::Args)]
pub struct PackageArgs {
    /// The chart folder (the one holding Chart.yaml).
    pub chart_dir: PathBuf,
    /// Set the chart version (replaces `version` from Chart.yaml).
    #[arg(long)]
    pub version: Option<String>,
    /// Set the appVersion of the chart.
    #[arg(long)]
    pub app_version: Option<String>,
    /// Folder to write the archive to (created when missing; default: the current folder).
    #[arg(short = 'd', long)]
    pub destination: Option<PathBuf>,
    /// Run `chartroom dependency update` on the folder before packaging.
    #[arg(short = 'u', long)]
    pub dependency_update: bool,
    /// Sign the archive: write `<archive>.prov` beside it (needs --key and --keyring).
    #[arg(long, requires_all = ["key", "keyring"])]
    pub sign: bool,
    /// The signing key: a user id (or a unique part of one), a fingerprint or a key id.
    #[arg(long, requires = "sign")]
    pub key: Option<String>,
    /// The secret keyring holding the key (`gpg --export-secret-keys`, armored or binary).
    #[arg(long, requires = "sign")]
    pub keyring: Option<PathBuf>,
    /// A file whose first line is the key's passphrase (`-`: standard input).
    #[arg(long, requires = "sign")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The chart archive; its provenance file is `<chart>.prov` beside it.
    pub chart: PathBuf,
    /// The trusted public keys: ASCII-armored keys or a GnuPG binary keyring (`gpg --export`).
    #[arg(long)]
    pub keyring: PathBuf,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// The chart: a packaged `.tgz`, or a chart folder (packaged first, in memory, like
    /// `chartroom package`).
    pub chart: PathBuf,
    /// The repository: its URL (`https://[user:pass@]host[:port]/path`) or the name given to
    /// `helm repo add` (its credentials are used too).
    pub repo: String,
    /// Replace the version if it already exists (sends `?force`; the server may refuse).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// A provenance file to upload with the chart (default: `<chart>.tgz.prov` beside a `.tgz`
    /// chart, when there is one).
    #[arg(long)]
    pub prov: Option<PathBuf>,
    /// User name for Basic authentication.
    #[arg(short = 'u', long, env = "HELM_REPO_USERNAME")]
    pub username: Option<String>,
    /// Password for Basic authentication.
    #[arg(short = 'p', long, env = "HELM_REPO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Token sent as `Authorization: Bearer <token>` (or raw in --auth-header); ignored when a
    /// user name is given.
    #[arg(long, alias = "access-token", env = "HELM_REPO_ACCESS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Send the raw token in this header instead of `Authorization: Bearer`.
    #[arg(long, env = "HELM_REPO_AUTH_HEADER")]
    pub auth_header: Option<String>,
    /// The server's context path (default: `serverInfo.contextPath` from the repository's index).
    #[arg(long, env = "HELM_REPO_CONTEXT_PATH")]
    pub context_path: Option<String>,
    /// For an `oci://` registry: plain HTTP instead of HTTPS (loopback registries always use it).
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Credentials for the repository named on the command line, instead of the ones
/// `helm repo add` stored for it (the variables are `helm cm-push`'s).
#[derive(clap::Args, Clone, Default)]
pub struct RepoCredentials {
    /// User name for Basic authentication (with --password).
    #[arg(long, env = "HELM_REPO_USERNAME")]
    pub username: Option<String>,
    /// Password (or a Chartroom token, with its name as --username) for Basic authentication.
    #[arg(long, env = "HELM_REPO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Token sent as `Authorization: Bearer <token>` when no user name is given (a Chartroom
    /// token or a JWT).
    #[arg(long, alias = "access-token", env = "HELM_REPO_ACCESS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The repository: its URL (`https://[user:pass@]host[:port]/path`) or the name given to
    /// `helm repo add`.
    pub repo: String,
    /// Only charts whose name or description contains this (case-insensitive).
    pub term: Option<String>,
    /// Show every version, not only the newest.
    #[arg(short = 'l', long)]
    pub versions: bool,
    /// Only versions satisfying this constraint (`^1.2`, `>=2.0.0 <3`, `1.2.3`).
    #[arg(long)]
    pub version: Option<String>,
    /// Include pre-release versions (`>0.0.0-0` when no --version is given).
    #[arg(long)]
    pub devel: bool,
    /// Output format.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
    #[command(flatten)]
    pub credentials: RepoCredentials,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(clap::Args)]
pub struct PullArgs {
    /// `<repo>/<chart>` (repo = a name configured with `helm repo add`), or `<chart>` with
    /// `--repo <url>`.
    pub chart: String,
    /// The repository URL (or configured name) to pull `<chart>` from.
    #[arg(long)]
    pub repo: Option<String>,
    /// A version constraint (`^1.2`, `~1.2.3`) or an exact version; default: the newest stable.
    #[arg(long)]
    pub version: Option<String>,
    /// Include pre-release versions when no --version is given (`>0.0.0-0`).
    #[arg(long)]
    pub devel: bool,
    /// Expand the chart into `<destination>/<chart name>/` instead of keeping the archive.
    #[arg(long)]
    pub untar: bool,
    /// Folder to write into (created when missing; default: the current folder).
    #[arg(short = 'd', long)]
    pub destination: Option<PathBuf>,
    /// Fetch the chart's provenance file and verify it with --keyring before writing anything.
    #[arg(long, requires = "keyring")]
    pub verify: bool,
    /// The trusted public keys for --verify (armored keys or a GnuPG binary keyring).
    #[arg(long, requires = "verify")]
    pub keyring: Option<PathBuf>,
    /// For an `oci://` chart: plain HTTP instead of HTTPS (loopback registries always use it).
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub credentials: RepoCredentials,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// `<repo>/<chart>` (repo = a name configured with `helm repo add`), or `<chart>` with
    /// `--repo <url>`.
    pub chart: String,
    /// Folder to install into: the chart is laid out in `<dest-dir>/<chart name>/`, which must
    /// not exist yet (`<dest-dir>` is created when missing).
    pub dest_dir: PathBuf,
    /// The repository URL (or configured name) to install `<chart>` from.
    #[arg(long)]
    pub repo: Option<String>,
    /// A version constraint (`^1.2`, `~1.2.3`) or an exact version; default: the newest stable.
    #[arg(long)]
    pub version: Option<String>,
    /// Include pre-release versions when no --version is given (`>0.0.0-0`).
    #[arg(long)]
    pub devel: bool,
    #[command(flatten)]
    pub credentials: RepoCredentials,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(clap::Args)]
pub struct DependencyArgs {
    #[command(subcommand)]
    pub command: DependencyCommand,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Subcommand)]
pub enum DependencyCommand {
    /// Resolve the Chart.yaml dependencies against their repositories, download them into
    /// charts/ and write Chart.lock (only when its digest changes), like `helm dependency update`.
    #[command(alias = "up")]
    Update {
        /// The chart folder (the one holding Chart.yaml).
        chart_dir: PathBuf,
    },
    /// Download exactly the versions of Chart.lock into charts/ (refused when Chart.lock is out
    /// of sync with Chart.yaml; without Chart.lock, the same as update), like
    /// `helm dependency build`.
    Build {
        /// The chart folder (the one holding Chart.yaml).
        chart_dir: PathBuf,
    },
}

/// `chartroom serve`'s options, as given on the command line or in the environment (not yet
/// validated). Its clap arguments are built from the server's option table.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    pub values: ArgValues,
}

/// The clap argument of one server option: `--flag <VALUE>` with its environment variable, the
/// help line with its default, and for booleans a bare `--flag` meaning true. Booleans and
/// integers are checked as they are parsed (clap's usage error names the flag); everything is
/// resolved and validated again by the server.
fn server_arg(option: &'static OptionSpec) -> Arg {
    let long = option.flag.strip_prefix("--").unwrap_or(option.flag);
    let arg = Arg::new(option.key)
        .long(long)
        .env(option.env)
        .value_name(option.value_name)
        .help(option.help_line())
        .hide_env_values(option.secret)
        .action(ArgAction::Set);
    let arg = match option.short {
        Some(short) => arg.short(short),
        None => arg,
    };
    let env = option.env;
    let checked = move |raw: &str| -> Result<String, String> {
        option.check_arg(raw).map(|()| raw.to_owned()).map_err(|e| format!("{e} (env {env})"))
    };
    match option.kind {
        Kind::Bool => arg.num_args(0..=1).default_missing_value("true").value_parser(ValueParser::new(checked)),
        Kind::UInt { .. } => arg.value_parser(ValueParser::new(checked)),
        Kind::Path => arg.value_parser(PathBufValueParser::new()),
        // Repeatable; each value (and the variable's list) is checked as it is parsed.
        Kind::Pairs | Kind::Items => arg.action(ArgAction::Append).value_parser(ValueParser::new(checked)),
        Kind::Text | Kind::Duration => arg.value_parser(ValueParser::string()),
    }
}

impl clap::Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        OPTIONS.iter().fold(cmd, |cmd, option| cmd.arg(server_arg(option)))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ServeArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for option in OPTIONS {
            match option.kind {
                Kind::Path => {
                    if let Some(path) = matches.get_one::<PathBuf>(option.key) {
                        self.values.set(option, path.clone());
                    }
                }
                // Repeated flags are one list for the server, as the variable is.
                Kind::Pairs | Kind::Items => {
                    if let Some(values) = matches.get_many::<String>(option.key) {
                        self.values.set(option, values.map(String::as_str).collect::<Vec<_>>().join(","));
                    }
                }
                _ => {
                    if let Some(text) = matches.get_one::<String>(option.key) {
                        self.values.set(option, text.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
