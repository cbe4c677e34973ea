//! `chartroom push`: package a folder in memory (or read a `.tgz`), then upload it with
//! `chartroom_client::push`, with its provenance file (`--prov`, or `<chart>.tgz.prov` beside a
//! `.tgz`). A failure is a `ClientError`, whose kind gives the exit code.

use chartroom_client::ClientError;
use chartroom_client::push::{PushOptions, client_with_tls, push};

use crate::cli::PushArgs;

pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let tgz = chartroom_client::package::chart_bytes(&args.chart)?;
    // `helm cm-push` sends the provenance file lying beside the archive; so does this.
    let beside = (!args.chart.is_dir()).then(|| chartroom_client::sign::prov_path(&args.chart)).filter(|p| p.is_file());
    let prov = match args.prov.as_ref().or(beside.as_ref()) {
        Some(p) => Some(std::fs::read(p).map_err(|e| ClientError::usage(format!("cannot read {}: {e}", p.display())))?),
        None => None,
    };
    let prov_sent = prov.is_some();
    let options = PushOptions {
        force: args.force,
        prov,
        username: args.username,
        password: args.password,
        token: args.token,
        auth_header: args.auth_header,
        context_path: args.context_path,
    };
    // The repository's own TLS options (a `helm repo add` name) win over the command line's.
    let tls = match chartroom_client::helm_env::HelmEnv::from_env()
        .ok()
        .and_then(|env| chartroom_client::repo::Repository::resolve(&args.repo, &env).ok())
    {
        Some(repo) => repo.tls.or(&args.tls.options()),
        None => args.tls.options(),
    };
    let http = client_with_tls(&tls)?;
    if args.repo.starts_with("oci://") {
        use chartroom_client::oci::{OciClient, OciReference};
        let target = OciReference::parse(&args.repo)?;
        let client = OciClient::new(http, args.plain_http, options.username.as_deref(), options.password.as_deref())
            .with_registry_auths(chartroom_client::registry_auth::RegistryAuths::from_env()?);
        let pushed = client.push(&target, tgz, options.prov).await?;
        println!("Pushed: {}", pushed.reference);
        println!("Digest: {}", pushed.manifest_digest);
        return Ok(());
    }
    let outcome = push(&http, &args.repo, tgz, &options).await?;
    for warning in &outcome.warnings {
        eprintln!("Warning: {warning}");
    }
    let with = if prov_sent { " with its provenance file" } else { "" };
    println!("Pushed {}-{}{with} to {}", outcome.name, outcome.version, outcome.url_used);
    Ok(())
}
