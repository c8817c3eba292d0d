//! `depot projects list|create|delete|builders|trust-policies`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use clap::Subcommand;
use depot_core::proto::depot::core::v1::{CreateProjectRequest, DeleteProjectRequest};
use serde_json::json;

use super::builder_settings;
use super::list::list_projects;
use super::trust_policies::{self, TrustPoliciesCommand};
use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

/// `depot projects` subcommands.
#[derive(Subcommand, Debug)]
pub enum ProjectsCommand {
    /// List the projects your token can see.
    List {
        #[command(flatten)]
        token: TokenArg,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// Create a project.
    Create {
        #[command(flatten)]
        token: TokenArg,
        /// Project name.
        name: String,
        /// Organization ID (default: the logged-in organization, or your only one).
        #[arg(long, alias = "organization")]
        org_id: Option<String>,
        /// Region label.
        #[arg(long, default_value = "")]
        region: String,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// Delete a project with its builds and tokens.
    Delete {
        #[command(flatten)]
        token: TokenArg,
        /// The project to delete.
        #[arg(long)]
        project_id: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Show or change how many builds one of the project's builders runs at once before
    /// another is started, and how many builders it may have (depot-server only).
    Builders {
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Builds one builder runs at once (0: the server's default).
        #[arg(long, value_name = "N")]
        builds_per_builder: Option<i32>,
        /// Builders the project may have per architecture (0: the server's default).
        #[arg(long, value_name = "N")]
        max_builders: Option<i32>,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// Manage a project's trust policies: which CI jobs (GitHub Actions, GitLab CI/CD,
    /// CircleCI, Buildkite) may act on it with their OIDC token instead of a stored Depot token.
    #[command(subcommand, visible_alias = "trust-policy")]
    TrustPolicies(TrustPoliciesCommand),
}

/// Runs a projects command.
pub async fn run(command: ProjectsCommand) -> anyhow::Result<()> {
    match command {
        ProjectsCommand::List { token, output } => list_projects(&token, output).await,
        ProjectsCommand::Create {
            token,
            name,
            org_id,
            region,
            output,
        } => {
            let api = Api::connect(&token, None).await?;
            let organization_id = org_id.or_else(|| api.config.org_id.clone());
            let project = api
                .client
                .project_admin()
                .create_project(CreateProjectRequest {
                    name,
                    organization_id,
                    region_id: region,
                    cache_policy: None,
                })
                .await?
                .project
                .ok_or_else(|| anyhow::anyhow!("the server returned no project"))?;
            print_rows(
                Format::or_default(output),
                &[
                    Column {
                        header: "Project ID",
                        key: "id",
                    },
                    Column {
                        header: "Name",
                        key: "name",
                    },
                    Column {
                        header: "Organization ID",
                        key: "org_id",
                    },
                    Column {
                        header: "Region",
                        key: "region",
                    },
                ],
                &[json!({
                    "id": project.project_id,
                    "name": project.name,
                    "org_id": project.organization_id,
                    "region": project.region_id,
                })],
            )
        }
        ProjectsCommand::Delete {
            token,
            project_id,
            yes,
        } => {
            let api = Api::connect(&token, None).await?;
            if !yes && !confirm(&format!("Delete project {project_id} and all its builds?"))? {
                bail!("not deleted");
            }
            api.client
                .project_admin()
                .delete_project(DeleteProjectRequest {
                    project_id: project_id.clone(),
                })
                .await?;
            println!("Project {project_id} deleted.");
            Ok(())
        }
        ProjectsCommand::Builders {
            token,
            project,
            builds_per_builder,
            max_builders,
            output,
        } => {
            builder_settings::run(&token, &project, builds_per_builder, max_builders, output).await
        }
        ProjectsCommand::TrustPolicies(command) => trust_policies::run(command).await,
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to delete without confirmation: pass --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
