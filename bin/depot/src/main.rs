//! `depot`: the depot-rs command-line client, a drop-in for the official `depot` CLI.
//!
//! A thin layer over depot-core: argument parsing, prompts and output formats. It works
//! against a self-hosted `depot-server` or Depot's hosted API (set `DEPOT_API_URL`).

mod commands;
mod context;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Remote container builds on depot-rs (self-hosted) or Depot.
#[derive(Parser, Debug)]
#[command(name = "depot", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a Dockerfile on a builder (docker buildx build's flags, plus --save and
    /// --project).
    Build(Box<commands::build::BuildArgs>),
    /// Build the targets of buildx bake files (HCL, JSON, compose) on a builder; `--print`
    /// writes them as JSON.
    Bake(commands::bake::BakeArgs),
    /// Log in through the browser (device flow) and store the token in the user config.
    Login(commands::login::LoginArgs),
    /// Forget the stored token and organization.
    Logout,
    /// Create a depot.json that links this directory to a project.
    Init(commands::init::InitArgs),
    /// Manage projects.
    #[command(subcommand)]
    Projects(commands::projects::ProjectsCommand),
    /// List projects or builds.
    #[command(subcommand)]
    List(commands::list::ListCommand),
    /// Print a short-lived, read-only token for pulling a project's images.
    PullToken(commands::pull_token::PullTokenArgs),
    /// Manage a project's build cache.
    #[command(subcommand)]
    Cache(commands::cache::CacheCommand),
    /// Pull a saved build (by build ID) or a project's tag into the local Docker Engine or an
    /// OCI image layout directory.
    Pull(commands::pull::PullArgs),
    /// Push a saved build to other registries.
    Push(commands::push::PushArgs),
    /// Manage the project's images in the registry.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Registry settings of a project's repositories (depot-rs servers).
    #[command(subcommand)]
    Registry(commands::registry::RegistryCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => commands::build::run(*args).await,
        Command::Bake(args) => commands::bake::run(args).await,
        Command::Login(args) => commands::login::run(args).await,
        Command::Logout => commands::login::logout(),
        Command::Init(args) => commands::init::run(args).await,
        Command::Projects(command) => commands::projects::run(command).await,
        Command::List(command) => commands::list::run(command).await,
        Command::PullToken(args) => commands::pull_token::run(args).await,
        Command::Cache(command) => commands::cache::run(command).await,
        Command::Pull(args) => commands::pull::run(args).await,
        Command::Push(args) => commands::push::run(args).await,
        Command::Image(command) => commands::image::run(command).await,
        Command::Registry(command) => commands::registry::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<exit::Exit>() {
            // Already shown (a failed build's log, a cancellation).
            Some(exit) => ExitCode::from(exit.code),
            None => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}
