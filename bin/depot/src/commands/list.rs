//! `depot list projects|builds`.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Subcommand;
use depot_core::proto::depot::cli::v1::{BuildStatus, ListBuildsRequest};
use depot_core::proto::depot::cli::v1beta1::list_projects_response::Project;
use serde_json::{Value, json};

use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

/// `depot list` subcommands.
#[derive(Subcommand, Debug)]
pub enum ListCommand {
    /// List the projects your token can see.
    Projects {
        #[command(flatten)]
        token: TokenArg,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// List a project's builds, newest first.
    Builds {
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
}

/// Runs a list command.
pub async fn run(command: ListCommand) -> anyhow::Result<()> {
    match command {
        ListCommand::Projects { token, output } => list_projects(&token, output).await,
        ListCommand::Builds {
            token,
            project,
            output,
        } => {
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            let mut rows = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = api
                    .client
                    .builds()
                    .list_builds(ListBuildsRequest {
                        project_id: project_id.clone(),
                        page_size: 0,
                        page_token,
                    })
                    .await?;
                rows.extend(page.builds.iter().map(build_row));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            print_rows(
                Format::or_default(output),
                &[
                    Column {
                        header: "Build ID",
                        key: "id",
                    },
                    Column {
                        header: "Status",
                        key: "status",
                    },
                    Column {
                        header: "Started",
                        key: "startTime",
                    },
                    Column {
                        header: "Duration (s)",
                        key: "duration",
                    },
                ],
                &rows,
            )
        }
    }
}

/// `depot list projects` (also `depot projects list`).
pub async fn list_projects(token: &TokenArg, output: Option<Format>) -> anyhow::Result<()> {
    let api = Api::connect(token, None).await?;
    print_projects(Format::or_default(output), &api.projects().await?)
}

/// Prints projects as the official CLI does: `Project ID,Name` / `[{"id","name"}]`.
pub fn print_projects(format: Format, projects: &[Project]) -> anyhow::Result<()> {
    let rows: Vec<Value> = projects
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name}))
        .collect();
    print_rows(
        format,
        &[
            Column {
                header: "Project ID",
                key: "id",
            },
            Column {
                header: "Name",
                key: "name",
            },
        ],
        &rows,
    )
}

/// `{"id","status","startTime","duration"}`, the official CLI's JSON shape: status in lower
/// case, start as RFC 3339, duration in whole seconds until finish (or now).
fn build_row(build: &depot_core::proto::depot::cli::v1::Build) -> Value {
    let status = BuildStatus::try_from(build.status)
        .unwrap_or(BuildStatus::Unspecified)
        .as_str_name()
        .trim_start_matches("BUILD_STATUS_")
        .to_lowercase();
    let started = build.created_at.map(to_system_time);
    let ended = build
        .finished_at
        .map(to_system_time)
        .unwrap_or_else(SystemTime::now);
    let duration = started
        .and_then(|s| ended.duration_since(s).ok())
        .map_or(0, |d| d.as_secs());
    json!({
        "id": build.id,
        "status": status,
        "startTime": started.map(|s| humantime::format_rfc3339_seconds(s).to_string()).unwrap_or_default(),
        "duration": duration,
    })
}

fn to_system_time(ts: prost_types::Timestamp) -> SystemTime {
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    let nanos = u64::try_from(nanos.max(0)).unwrap_or(u64::MAX);
    UNIX_EPOCH + std::time::Duration::from_nanos(nanos)
}
