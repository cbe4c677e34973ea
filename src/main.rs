//! `chartroom`: a Helm chart repository server, and a client for such repositories.
//!
//! `cli.rs` defines the command line, `commands/` holds one module per command, and `main` is
//! the one place where an outcome becomes an exit code.

mod allocator;
mod cli;
mod commands;

use std::process::ExitCode;

use chartroom_client::ClientError;
use clap::Parser;

fn main() -> ExitCode {
    allocator::tune();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with code 0; usage errors to stderr with code 2.
            let _ = err.print();
            return exit_code(err.exit_code());
        }
    };
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints a failed command's error and picks the exit code (README's table): a client error
/// prints `Error: <message>` and exits with its kind's code (`chartroom_client::ErrorKind`);
/// anything else prints the error with its causes and exits with 1.
fn report(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<ClientError>() {
        Some(client) => {
            eprintln!("Error: {client}");
            exit_code(client.exit_code())
        }
        None => {
            eprintln!("Error: {err:?}");
            ExitCode::FAILURE
        }
    }
}

fn exit_code(code: i32) -> ExitCode {
    u8::try_from(code).map_or(ExitCode::FAILURE, ExitCode::from)
}
