//! What Depot's public API (v1) tells about builds, usage and project tokens, as plain async
//! calls with serializable answers: build summaries, a build's steps and a step's log (every
//! page followed), share links, usage for a period, and project tokens. The Node and Python
//! packages expose these calls as they are (their JSON shapes, keys camelCased for
//! JavaScript), so the three languages see the same data.
//!
//! Times are milliseconds since the Unix epoch.

use serde::Serialize;

use crate::DepotClient;
use crate::Error;
use crate::proto::depot::build::v1 as build_api;
use crate::proto::depot::core::v1 as core_api;

/// Most pages followed by one call (a guard against a server that never ends its paging).
const MAX_PAGES: usize = 10_000;
/// Page size asked for when following pages.
const PAGE_SIZE: i32 = 100;

/// A build as the public API summarizes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildSummary {
    /// Its id.
    pub build_id: String,
    /// `running`, `success`, `failed`, `error`, `canceled` or `unknown`.
    pub status: String,
    /// When it was created.
    pub created_at: Option<i64>,
    /// When its first step started.
    pub started_at: Option<i64>,
    /// When it finished.
    pub finished_at: Option<i64>,
    /// How long it took, once finished.
    pub build_duration_seconds: Option<i32>,
    /// What its cached steps took when they last ran.
    pub saved_duration_seconds: Option<i32>,
    /// Steps that came from the cache.
    pub cached_steps: Option<i32>,
    /// Steps it reported.
    pub total_steps: Option<i32>,
}

/// One step of a build.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildStep {
    /// Its name (`[2/3] RUN make`).
    pub name: String,
    /// Its vertex digest (the key of its log).
    pub digest: String,
    /// When it started.
    pub started_at: Option<i64>,
    /// When it completed.
    pub completed_at: Option<i64>,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether it has a log.
    pub has_logs: bool,
}

/// One line a step printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogLine {
    /// The text.
    pub message: String,
    /// When it was printed.
    pub timestamp: Option<i64>,
}

/// A period of time, `[start, end)`; either end defaults to the server's current month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// Its start.
    pub start: Option<i64>,
    /// Its end.
    pub end: Option<i64>,
}

/// Builds of one project in a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectUsage {
    /// The project.
    pub project_id: String,
    /// Builds created in the period.
    pub build_count: i32,
    /// Their total duration.
    pub build_duration_seconds: i32,
    /// The project's layer cache, rounded to whole GB.
    pub layer_cache_size_gb: i32,
}

/// Usage of every project the token administers, in a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Usage {
    /// The period's start.
    pub period_start: Option<i64>,
    /// The period's end.
    pub period_end: Option<i64>,
    /// Builds per project.
    pub container_builds: Vec<ContainerBuildUsage>,
    /// Storage by kind (`layer_cache`).
    pub storage: Vec<StorageUsage>,
}

/// Builds of one project in a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContainerBuildUsage {
    /// The project's name.
    pub project_name: String,
    /// Builds created in the period.
    pub build_count: i32,
    /// Minutes the cache saved.
    pub minutes_saved: f32,
    /// Build minutes.
    pub minutes_billed: f32,
}

/// Storage of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StorageUsage {
    /// What is stored (`layer_cache`).
    pub storage_type: String,
    /// How much, in GB.
    pub total_gb: f32,
}

/// A project token (its secret is shown only when it is created).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectToken {
    /// Its id.
    pub token_id: String,
    /// What it is for.
    pub description: String,
}

/// A new project token and its secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreatedToken {
    /// Its id.
    pub token_id: String,
    /// The token itself (usable as `DEPOT_TOKEN`); it is not shown again.
    pub secret: String,
}

/// A build's summary.
pub async fn get_build(client: &DepotClient, build_id: &str) -> Result<BuildSummary, Error> {
    let response = client
        .build_summaries()
        .get_build(core_api::GetBuildRequest {
            build_id: build_id.into(),
        })
        .await?;
    response.build.map(summary).ok_or_else(|| {
        Error::Api(crate::connect::ConnectError::internal(format!(
            "the server answered GetBuild for {build_id} without a build"
        )))
    })
}

/// A project's builds, newest first, up to `limit` (default: one page of 100).
pub async fn list_builds(
    client: &DepotClient,
    project_id: &str,
    limit: Option<usize>,
) -> Result<Vec<BuildSummary>, Error> {
    let limit = limit.unwrap_or(PAGE_SIZE as usize);
    let service = client.build_summaries();
    let mut builds = Vec::new();
    let mut page_token = None;
    for _ in 0..MAX_PAGES {
        let remaining = limit - builds.len();
        if remaining == 0 {
            break;
        }
        let page = service
            .list_builds(core_api::ListBuildsRequest {
                project_id: project_id.into(),
                page_size: Some(remaining.min(PAGE_SIZE as usize) as i32),
                page_token: page_token.take(),
            })
            .await?;
        builds.extend(page.builds.into_iter().map(summary).take(remaining));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = Some(page.next_page_token);
    }
    Ok(builds)
}

/// Every step of a build, in the order they started.
pub async fn build_steps(client: &DepotClient, build_id: &str) -> Result<Vec<BuildStep>, Error> {
    let service = client.public_builds();
    let mut steps = Vec::new();
    let mut page_token = None;
    for _ in 0..MAX_PAGES {
        let page = service
            .get_build_steps(build_api::GetBuildStepsRequest {
                build_id: build_id.into(),
                page_size: Some(PAGE_SIZE),
                page_token: page_token.take(),
                ..Default::default()
            })
            .await?;
        steps.extend(page.build_steps.into_iter().map(|step| {
            use build_api::get_build_steps_response::build_step::CacheState;
            BuildStep {
                cached: step.cache_state() == CacheState::Cached,
                started_at: step.started_at.as_ref().map(millis),
                completed_at: step.completed_at.as_ref().map(millis),
                name: step.name,
                digest: step.digest,
                error: step.error,
                has_logs: step.has_logs,
            }
        }));
        match page.next_page_token {
            Some(next) if !next.is_empty() => page_token = Some(next),
            _ => break,
        }
    }
    Ok(steps)
}

/// Every kept line of one step of a build (`digest` from [`build_steps`]).
pub async fn build_step_logs(
    client: &DepotClient,
    build_id: &str,
    digest: &str,
) -> Result<Vec<LogLine>, Error> {
    let service = client.public_builds();
    let mut lines = Vec::new();
    let mut page_token = None;
    for _ in 0..MAX_PAGES {
        let page = service
            .get_build_step_logs(build_api::GetBuildStepLogsRequest {
                build_id: build_id.into(),
                build_step_digest: digest.into(),
                page_size: Some(1000),
                page_token: page_token.take(),
                ..Default::default()
            })
            .await?;
        lines.extend(page.logs.into_iter().map(|line| LogLine {
            timestamp: line.timestamp.as_ref().map(millis),
            message: line.message,
        }));
        match page.next_page_token {
            Some(next) if !next.is_empty() => page_token = Some(next),
            _ => break,
        }
    }
    Ok(lines)
}

/// Shares a build: a link that shows it without a token (the same link until sharing stops).
pub async fn share_build(client: &DepotClient, build_id: &str) -> Result<String, Error> {
    Ok(client
        .build_summaries()
        .share_build(core_api::ShareBuildRequest {
            build_id: build_id.into(),
        })
        .await?
        .share_url)
}

/// Stops sharing a build: its link stops working.
pub async fn stop_sharing_build(client: &DepotClient, build_id: &str) -> Result<(), Error> {
    client
        .build_summaries()
        .stop_sharing_build(core_api::StopSharingBuildRequest {
            build_id: build_id.into(),
        })
        .await?;
    Ok(())
}

/// One project's builds in `period`.
pub async fn project_usage(
    client: &DepotClient,
    project_id: &str,
    period: Period,
) -> Result<ProjectUsage, Error> {
    let usage = client
        .usage()
        .get_project_usage(core_api::GetProjectUsageRequest {
            project_id: project_id.into(),
            start_at: period.start.map(timestamp),
            end_at: period.end.map(timestamp),
        })
        .await?
        .usage
        .unwrap_or_default();
    Ok(ProjectUsage {
        project_id: if usage.project_id.is_empty() {
            project_id.into()
        } else {
            usage.project_id
        },
        build_count: usage.build_count,
        build_duration_seconds: usage.build_duration_seconds,
        layer_cache_size_gb: usage.layer_cache_size_gb,
    })
}

/// Usage of every project the token administers, in `period`.
pub async fn usage(client: &DepotClient, period: Period) -> Result<Usage, Error> {
    let usage = client
        .usage()
        .get_usage(core_api::GetUsageRequest {
            start_at: period.start.map(timestamp),
            end_at: period.end.map(timestamp),
        })
        .await?;
    Ok(Usage {
        period_start: usage.period_start.as_ref().map(millis),
        period_end: usage.period_end.as_ref().map(millis),
        container_builds: usage
            .container_build
            .into_iter()
            .map(|u| ContainerBuildUsage {
                project_name: u.project_name,
                build_count: u.build_count,
                minutes_saved: u.minutes_saved,
                minutes_billed: u.minutes_billed,
            })
            .collect(),
        storage: usage
            .storage
            .into_iter()
            .map(|s| StorageUsage {
                storage_type: s.storage_type,
                total_gb: s.total_gb,
            })
            .collect(),
    })
}

/// A project's tokens.
pub async fn list_tokens(
    client: &DepotClient,
    project_id: &str,
) -> Result<Vec<ProjectToken>, Error> {
    Ok(client
        .project_admin()
        .list_tokens(core_api::ListTokensRequest {
            project_id: project_id.into(),
        })
        .await?
        .tokens
        .into_iter()
        .map(|t| ProjectToken {
            token_id: t.token_id,
            description: t.description,
        })
        .collect())
}

/// Creates a project token.
pub async fn create_token(
    client: &DepotClient,
    project_id: &str,
    description: &str,
) -> Result<CreatedToken, Error> {
    let created = client
        .project_admin()
        .create_token(core_api::CreateTokenRequest {
            project_id: project_id.into(),
            description: description.into(),
        })
        .await?;
    Ok(CreatedToken {
        token_id: created.token_id,
        secret: created.secret,
    })
}

/// Changes a project token's description.
pub async fn update_token(
    client: &DepotClient,
    token_id: &str,
    description: &str,
) -> Result<(), Error> {
    client
        .project_admin()
        .update_token(core_api::UpdateTokenRequest {
            token_id: token_id.into(),
            description: description.into(),
        })
        .await?;
    Ok(())
}

/// Deletes a project token: it stops working at once.
pub async fn delete_token(client: &DepotClient, token_id: &str) -> Result<(), Error> {
    client
        .project_admin()
        .delete_token(core_api::DeleteTokenRequest {
            token_id: token_id.into(),
        })
        .await?;
    Ok(())
}

fn summary(build: core_api::Build) -> BuildSummary {
    use core_api::build::Status;
    let status = match build.status() {
        Status::Running => "running",
        Status::Success => "success",
        Status::Failed => "failed",
        Status::Error => "error",
        Status::Canceled => "canceled",
        Status::Unspecified => "unknown",
    };
    BuildSummary {
        status: status.into(),
        created_at: build.created_at.as_ref().map(millis),
        started_at: build.started_at.as_ref().map(millis),
        finished_at: build.finished_at.as_ref().map(millis),
        build_duration_seconds: build.build_duration_seconds,
        saved_duration_seconds: build.saved_duration_seconds,
        cached_steps: build.cached_steps,
        total_steps: build.total_steps,
        build_id: build.build_id,
    }
}

fn millis(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos) / 1_000_000)
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_their_status_and_times_in_milliseconds() {
        let built = summary(core_api::Build {
            build_id: "b1".into(),
            status: core_api::build::Status::Success as i32,
            created_at: Some(timestamp(1_500)),
            cached_steps: Some(2),
            ..Default::default()
        });
        assert_eq!(built.status, "success");
        assert_eq!(built.created_at, Some(1_500));
        assert_eq!(built.cached_steps, Some(2));
        assert_eq!(millis(&timestamp(-1_250)), -1_250);
    }
}
