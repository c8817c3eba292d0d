//! `depot cache reset`.

use clap::Subcommand;
use depot_core::proto::depot::cli::v1beta1::ResetProjectCacheRequest;

use crate::context::{Api, ProjectArg, TokenArg};

/// `depot cache` subcommands.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Reset a project's build cache: the next build starts cold.
    Reset {
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
    },
}

/// Runs a cache command.
pub async fn run(command: CacheCommand) -> anyhow::Result<()> {
    match command {
        CacheCommand::Reset { token, project } => {
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            let reset = api
                .client
                .projects()
                .reset_project_cache(ResetProjectCacheRequest { project_id })
                .await?;
            println!("Cache reset for {} ({})", reset.name, reset.org_name);
            Ok(())
        }
    }
}
