//! The client commands `search`, `pull`, `install` and `dependency`, over `chartroom_client`.

use crate::cli::{DependencyCommand, InstallArgs, PullArgs, RepoCredentials, SearchArgs};

/// The repository with the command line's credentials, if any, instead of the stored ones.
fn with_credentials(
    repo: chartroom_client::repo::Repository,
    credentials: RepoCredentials,
) -> chartroom_client::repo::Repository {
    repo.with_credentials(credentials.username, credentials.password, credentials.token)
}

/// `chartroom search`: fetch (or revalidate) the index, then print `helm search repo`-style rows.
pub async fn search(args: SearchArgs) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{helm_env::HelmEnv, index, repo::Repository};
    let env = HelmEnv::from_env()?;
    let repo = with_credentials(Repository::resolve(&args.repo, &env)?, args.credentials);
    let client = index::Client::new(env)?.with_tls(args.tls.options())?;
    let idx = client.fetch_index(&repo).await?;
    let hits =
        idx.search(repo.name.as_deref(), args.term.as_deref(), args.versions, args.version.as_deref(), args.devel)?;
    if args.output == "json" {
        println!("{}", index::format_json(&hits));
    } else {
        print!("{}", index::format_table(&hits));
    }
    Ok(())
}

/// `chartroom pull`: select, download, verify and write a chart with `Client::pull`.
pub async fn pull(args: PullArgs) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{ClientError, helm_env::HelmEnv, index::Client};
    let dest = match &args.destination {
        Some(d) => d.clone(),
        None => {
            std::env::current_dir().map_err(|e| ClientError::other(format!("cannot read the current folder: {e}")))?
        }
    };
    if args.chart.starts_with("oci://") {
        return pull_oci(&args, &dest).await;
    }
    let env = HelmEnv::from_env()?;
    let (repository, chart) = chart_argument(&args.chart, args.repo.as_deref(), &env)?;
    let repository = with_credentials(repository, args.credentials);
    let client = Client::new(env)?.with_tls(args.tls.options())?;
    let version = args.version.as_deref();
    let pulled = match (&args.keyring, args.verify) {
        (Some(keyring), true) => {
            let keyring = chartroom_client::verify::read_public_keyring(keyring)?;
            let (pulled, verification) =
                client.pull_verified(&repository, chart, version, args.devel, &dest, args.untar, &keyring).await?;
            print!("{}", verification.summary());
            pulled
        }
        _ => client.pull(&repository, chart, version, args.devel, &dest, args.untar).await?,
    };
    println!("Pulled: {}-{}", pulled.name, pulled.version);
    println!("Digest: {}", pulled.digest);
    Ok(())
}

/// `chartroom pull oci://<host>/<path>/<chart>[:<tag>]`: the chart layer, digest-checked.
async fn pull_oci(args: &PullArgs, dest: &std::path::Path) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::ClientError;
    use chartroom_client::oci::{OciClient, OciReference};
    if args.repo.is_some() || args.untar {
        return Err(ClientError::usage("--repo and --untar do not apply to oci:// charts"));
    }
    let reference = OciReference::parse(&args.chart)?;
    let http = chartroom_client::push::client_with_tls(&args.tls.options())?;
    let creds = &args.credentials;
    let client = OciClient::new(http, args.plain_http, creds.username.as_deref(), creds.password.as_deref())
        .with_registry_auths(chartroom_client::registry_auth::RegistryAuths::from_env()?);
    let pulled = client.pull(&reference, args.version.as_deref(), args.devel, dest).await?;
    println!("Pulled: {}-{}", pulled.name, pulled.version);
    println!("Digest: {}", pulled.manifest_digest);
    Ok(())
}

/// The repository and chart name of a `<repo>/<chart>` argument, or of `<chart>` with `--repo`.
fn chart_argument<'a>(
    chart: &'a str,
    repo: Option<&str>,
    env: &chartroom_client::helm_env::HelmEnv,
) -> Result<(chartroom_client::repo::Repository, &'a str), chartroom_client::ClientError> {
    use chartroom_client::{ClientError, repo::Repository, repo::split_chart_ref};
    match repo {
        Some(r) => {
            if chart.is_empty() || chart.contains('/') {
                return Err(ClientError::usage(format!("with --repo, give the chart name alone (got {chart:?})")));
            }
            Ok((Repository::resolve(r, env)?, chart))
        }
        None => {
            let (name, chart) = split_chart_ref(chart)?;
            Ok((Repository::resolve(name, env)?, chart))
        }
    }
}

/// `chartroom install`: `Client::install`, then the installed folder, its dependencies and the
/// next commands to run.
pub async fn install(args: InstallArgs) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{helm_env::HelmEnv, index::Client};
    let env = HelmEnv::from_env()?;
    let (repository, chart) = chart_argument(&args.chart, args.repo.as_deref(), &env)?;
    let repository = with_credentials(repository, args.credentials);
    let client = Client::new(env)?.with_tls(args.tls.options())?;
    let installed = client.install(&repository, chart, args.version.as_deref(), args.devel, &args.dest_dir).await?;
    let path = shell_quote(&installed.path.display().to_string());
    println!("Installed: {}-{} in {}", installed.name, installed.version, installed.path.display());
    println!("Digest: {}", installed.digest);
    if installed.dependencies.is_empty() {
        println!("Dependencies: none");
    } else {
        println!("Dependencies:");
        for (name, version) in &installed.dependencies {
            println!("  {name} {version}");
        }
    }
    let release = shell_quote(&installed.name);
    println!("Next: helm install {release} {path}");
    println!("Check offline first: helm template {release} {path}");
    Ok(())
}

/// `s` quoted for a POSIX shell when it holds anything but plain path characters.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:@,%".contains(c);
    if !s.is_empty() && s.chars().all(plain) { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

/// `chartroom dependency update|build`: `Client::dependency_update` / `dependency_build`.
pub async fn dependency(
    command: DependencyCommand,
    tls: chartroom_client::tls::TlsOptions,
) -> Result<(), chartroom_client::ClientError> {
    use chartroom_client::{helm_env::HelmEnv, index::Client};
    let client = Client::new(HelmEnv::from_env()?)?.with_tls(tls)?;
    let (report, dir) = match &command {
        DependencyCommand::Update { chart_dir } => (client.dependency_update(chart_dir).await?, chart_dir),
        DependencyCommand::Build { chart_dir } => (client.dependency_build(chart_dir).await?, chart_dir),
    };
    if report.dependencies.is_empty() {
        println!("No dependencies in {}", dir.join("Chart.yaml").display());
        return Ok(());
    }
    println!("Saved {} dependencies into {}:", report.dependencies.len(), dir.join("charts").display());
    for d in &report.dependencies {
        let from = if d.repository.is_empty() { "charts/ (local)" } else { d.repository.as_str() };
        println!("  {} {} from {from}", d.name, d.version);
    }
    let lock = dir.join("Chart.lock");
    match (&command, report.lock_written) {
        (_, true) => println!("Wrote {}", lock.display()),
        (DependencyCommand::Update { .. }, false) => println!("{} is up to date", lock.display()),
        (DependencyCommand::Build { .. }, false) => println!("Built from {}", lock.display()),
    }
    Ok(())
}
