//! `depot-server`: a self-hosted, Depot-compatible build platform.
//!
//! With no subcommand it serves Depot's Connect API on one port (HTTP/1.1 and h2c, or TLS).
//! Admin subcommands (`org`, `user`, `project`, `token`, `login`, `bootstrap`, `status`) act on
//! the same database directly, so a fresh install is usable without a web UI; `builder-ca`
//! manages the CA builders' certificates come from.

mod admin;
mod builder_ca;
mod builders;
mod cli;
mod serve;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEPOT_SERVER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match args.command {
        None => {
            raise_open_files_limit();
            serve::run(&args.store, &args.serve).await
        }
        Some(cli::TopCommand::Admin(command)) => admin::run(&args.store, command).await,
        Some(cli::TopCommand::BuilderCa(command)) => builder_ca::run(&args.store, &command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Raises the limit of open files to its hard maximum: every connection is one, and
/// `--max-connections` is meant to be the limit that applies, not the default soft limit (often
/// 1024).
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(err) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%err, "raising the open files limit failed");
        }
    }
}
