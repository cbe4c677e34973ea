//! One module per command. [`run`] dispatches; [`runtime`] is the one async runtime builder.

mod client;
mod healthcheck;
mod package;
mod push;
mod serve;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::Command;

/// Runs `command`. Errors carry a `chartroom_client::ClientError` when the command failed as a
/// client (its kind decides the exit code in `main`), anything else otherwise.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args),
        Command::Healthcheck(args) => healthcheck::run(&args),
        Command::Package(args) => client(package::run(args)),
        Command::Push(args) => runtime(Flavor::Client)?.block_on(push::run(args)),
        Command::Search(args) => client(async { Ok(client::search(args).await?) }),
        Command::Pull(args) => client(async { Ok(client::pull(args).await?) }),
        Command::Dependency(args) => client(async { Ok(client::dependency(args.command, args.tls.options()).await?) }),
        Command::Install(args) => client(async { Ok(client::install(args).await?) }),
    }
}

/// What a runtime is for.
#[derive(Debug, Clone, Copy)]
enum Flavor {
    /// `chartroom serve`: worker threads, and a larger blocking pool (archive reads run there).
    Server,
    /// A client command: everything on the calling thread.
    Client,
}

/// The one async runtime builder.
fn runtime(flavor: Flavor) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match flavor {
        Flavor::Server => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.max_blocking_threads(32);
            builder
        }
        Flavor::Client => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build().context("starting the async runtime")
}

/// Runs a client command on a client runtime, with warnings logged to stderr (`CHARTROOM_LOG`
/// overrides the level).
fn client(work: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("CHARTROOM_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    runtime(Flavor::Client)?.block_on(work)
}
