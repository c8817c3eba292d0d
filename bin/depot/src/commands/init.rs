//! `depot init`: link a directory to a project.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use depot_core::config::{PROJECT_FILES, write_project_config};

use super::list::print_projects;
use super::login::prompt_number;
use crate::context::{Api, TokenArg};
use crate::output::Format;

/// `depot init` arguments.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    token: TokenArg,
    /// Project ID to link (default: choose interactively).
    #[arg(long)]
    project: Option<String>,
    /// Overwrite an existing project config.
    #[arg(long)]
    force: bool,
    /// Directory to write depot.json into.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

/// Writes `<dir>/depot.json` for the chosen project.
pub async fn run(args: InitArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        bail!("{} is not a directory", args.dir.display());
    }
    if let Some(existing) = PROJECT_FILES
        .iter()
        .map(|name| args.dir.join(name))
        .find(|p| p.is_file())
        && !args.force
    {
        bail!(
            "{} already exists; pass --force to overwrite it",
            existing.display()
        );
    }
    let api = Api::connect(&args.token, None).await?;
    let projects = api.projects().await?;
    let project = match &args.project {
        Some(id) => projects
            .iter()
            .find(|p| p.id == *id)
            .with_context(|| format!("project {id} is not among the projects your token can see (see `depot list projects`)"))?,
        None if projects.is_empty() => {
            bail!("no projects yet: create one with `depot projects create <name>`")
        }
        None if std::io::stdin().is_terminal() => {
            eprintln!("Choose a project:");
            for (i, p) in projects.iter().enumerate() {
                eprintln!("  {}) {} ({})", i + 1, p.name, p.id);
            }
            &projects[prompt_number(projects.len())?]
        }
        None => {
            print_projects(Format::Csv, &projects)?;
            bail!("choose a project with --project <id>");
        }
    };
    let path = write_project_config(&args.dir, &project.id)?;
    println!(
        "Project {} ({}) is linked in {}",
        project.name,
        project.id,
        path.display()
    );
    Ok(())
}
