//! `chartroom package`: walk the folder (following symbolic links, honouring `.helmignore`
//! like Helm's directory loader), package it with `chartroom_chart::package`, and write
//! `<name>-<version>.tgz` atomically; with `--sign`, `<name>-<version>.tgz.prov` beside it.

use anyhow::Context;

use chartroom_client::sign::SignOptions;

use super::client::dependency;
use crate::cli::{DependencyCommand, PackageArgs};

pub async fn run(args: PackageArgs) -> anyhow::Result<()> {
    if args.dependency_update {
        dependency(DependencyCommand::Update { chart_dir: args.chart_dir.clone() }, Default::default()).await?;
    }
    let options = chartroom_chart::package::PackageOptions { version: args.version, app_version: args.app_version };
    let dest = match args.destination {
        Some(d) => d,
        None => std::env::current_dir().context("reading the current folder")?,
    };
    let path = chartroom_client::package::package_to(&args.chart_dir, &options, &dest)?;
    println!("Successfully packaged chart and saved it to: {}", path.display());
    if let (true, Some(key), Some(keyring)) = (args.sign, args.key, args.keyring) {
        let sign = SignOptions { key, keyring, passphrase_file: args.passphrase_file };
        let prov = chartroom_client::sign::sign_file(&path, &sign)?;
        println!("Signed it: {}", prov.display());
    }
    Ok(())
}
