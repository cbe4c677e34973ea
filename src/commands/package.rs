//! `chartroom package`: walk the folder (following symbolic links, honouring `.helmignore`
//! like Helm's directory loader), package it with `chartroom_chart::package`, and write
//! `<name>-<version>.tgz` atomically.

use anyhow::Context;

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
    Ok(())
}
