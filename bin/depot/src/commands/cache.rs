//! `depot cache reset|show`.

use clap::Subcommand;
use depot_core::proto::depot::cli::v1beta1::ResetProjectCacheRequest;
use depot_core::proto::depotrs::v1::GetCacheUsageRequest;
use serde_json::json;

use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

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
    /// Show what the project's build cache holds, per builder (depot-server only).
    Show {
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
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
        CacheCommand::Show {
            token,
            project,
            output,
        } => {
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            let usage = api
                .client
                .cache()
                .get_cache_usage(GetCacheUsageRequest { project_id })
                .await?;
            let rows: Vec<_> = usage
                .builders
                .iter()
                .map(|builder| {
                    json!({
                        "arch": builder.arch,
                        "index": builder.index,
                        "state": builder.state,
                        "bytes": builder.bytes,
                        "entries": builder.entries,
                        "last_used_at": builder.last_used_at.as_ref().map(|t| {
                            humantime::format_rfc3339_seconds(
                                std::time::UNIX_EPOCH
                                    + std::time::Duration::from_secs(t.seconds.max(0) as u64),
                            )
                            .to_string()
                        }),
                        "running_builds": builder.running_builds,
                        "keep_bytes": usage.keep_bytes,
                        "keep_days": usage.keep_days,
                    })
                })
                .collect();
            let column = |header, key| Column { header, key };
            print_rows(
                Format::or_default(output),
                &[
                    column("ARCH", "arch"),
                    column("BUILDER", "index"),
                    column("STATE", "state"),
                    column("BYTES", "bytes"),
                    column("ENTRIES", "entries"),
                    column("LAST USED", "last_used_at"),
                    column("BUILDS", "running_builds"),
                    column("KEEP BYTES", "keep_bytes"),
                    column("KEEP DAYS", "keep_days"),
                ],
                &rows,
            )
        }
    }
}
