//! Usage (`depot.core.v1.UsageService`, Depot's public API): builds and build minutes per
//! project from the build records, and the layer cache the builder fleet holds. For user and
//! organization tokens. A period without a start begins 30 days before its end; without an
//! end, it ends now. Depot-rs runs no GitHub Actions jobs or agent sandboxes: those lists are
//! empty.

use std::time::Duration;

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal};
use crate::store::{self, now_ms};
use depot_core::connect::ConnectError;
use depot_core::proto::depot::core::v1 as core;

/// Length of a period given without a start.
const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);
/// Projects per `ListProjectUsage` page when the request does not say.
const DEFAULT_PAGE_SIZE: i32 = 100;
const GB: f64 = 1e9;

impl ControlPlane {
    /// `GetProjectUsage`.
    pub(super) async fn get_project_usage(
        &self,
        principal: Principal,
        request: core::GetProjectUsageRequest,
    ) -> Result<core::GetProjectUsageResponse, ConnectError> {
        let period = period(request.start_at, request.end_at)?;
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        Ok(core::GetProjectUsageResponse {
            usage: Some(self.project_usage(&project, period).await?.0),
        })
    }

    /// `ListProjectUsage`: every project the caller manages, by id, paged.
    pub(super) async fn list_project_usage(
        &self,
        principal: Principal,
        request: core::ListProjectUsageRequest,
    ) -> Result<core::ListProjectUsageResponse, ConnectError> {
        let period = period(request.start_at, request.end_at)?;
        let page_size = match request.page_size.unwrap_or(DEFAULT_PAGE_SIZE) {
            n if (1..=1000).contains(&n) => n as usize,
            n => {
                return Err(ConnectError::invalid_argument(format!(
                    "page_size {n} is out of range 1-1000"
                )));
            }
        };
        let offset = match request.page_token.as_deref() {
            None | Some("") => 0,
            Some(token) => token
                .parse::<usize>()
                .map_err(|_| ConnectError::invalid_argument("invalid page_token"))?,
        };
        let mut projects = self.managed_projects(&principal).await?;
        projects.sort_by(|a, b| a.id.cmp(&b.id));
        let next_page_token = if projects.len() > offset + page_size {
            (offset + page_size).to_string()
        } else {
            String::new()
        };
        let mut usage = Vec::new();
        for project in projects.iter().skip(offset).take(page_size) {
            usage.push(self.project_usage(project, period).await?.0);
        }
        Ok(core::ListProjectUsageResponse {
            usage,
            next_page_token,
        })
    }

    /// `GetUsage`: container builds per project, and the layer cache stored.
    pub(super) async fn get_usage(
        &self,
        principal: Principal,
        request: core::GetUsageRequest,
    ) -> Result<core::GetUsageResponse, ConnectError> {
        let period = period(request.start_at, request.end_at)?;
        let mut container_build = Vec::new();
        let mut cache_bytes = 0u64;
        for project in self.managed_projects(&principal).await? {
            let (usage, bytes, build_ms) = self.project_usage(&project, period).await?;
            let saved_ms = self
                .store
                .project_time_saved(&project.id, period.0, period.1)
                .await?;
            cache_bytes += bytes;
            container_build.push(core::ContainerBuildUsage {
                project_name: project.name,
                build_count: usage.build_count,
                minutes_saved: (saved_ms as f64 / 60_000.0) as f32,
                minutes_billed: (build_ms as f64 / 60_000.0) as f32,
            });
        }
        Ok(core::GetUsageResponse {
            period_start: Some(timestamp(period.0)),
            period_end: Some(timestamp(period.1)),
            container_build,
            github_actions_jobs: Vec::new(),
            storage: vec![core::StorageUsage {
                storage_type: "layer_cache".into(),
                total_gb: (cache_bytes as f64 / GB) as f32,
            }],
            agent_sandbox: Vec::new(),
        })
    }

    /// The projects whose usage `principal` may see: those it administers.
    async fn managed_projects(
        &self,
        principal: &Principal,
    ) -> Result<Vec<store::Project>, ConnectError> {
        match principal {
            Principal::User { .. } | Principal::Organization { .. } => {
                principal.visible_projects(&self.store).await
            }
            _ => Err(principal.denied("usage")),
        }
    }

    /// A project's usage in `period`, its cache bytes, and its build time in ms.
    async fn project_usage(
        &self,
        project: &store::Project,
        (start, end): (i64, i64),
    ) -> Result<(core::ProjectUsage, u64, i64), ConnectError> {
        let (count, build_ms) = self.store.build_usage(&project.id, start, end).await?;
        // A shared builder (the local one) cannot tell one project's cache: none counted.
        let cache_bytes = match &self.builders {
            Some(builders) => builders
                .cache_usage(&project.id)
                .await
                .map(|usage| usage.iter().map(|u| u.bytes).sum())
                .unwrap_or(0),
            None => 0,
        };
        let clamp = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        let usage = core::ProjectUsage {
            project_id: project.id.clone(),
            build_count: clamp(count),
            build_duration_seconds: clamp(build_ms / 1000),
            layer_cache_size_gb: clamp((cache_bytes as f64 / GB).round() as i64),
        };
        Ok((usage, cache_bytes, build_ms))
    }
}

/// The period asked for, in ms since the epoch.
fn period(
    start: Option<prost_types::Timestamp>,
    end: Option<prost_types::Timestamp>,
) -> Result<(i64, i64), ConnectError> {
    let ms = |t: prost_types::Timestamp| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000;
    let end = end.map_or_else(now_ms, ms);
    let start = start.map_or(end - DEFAULT_PERIOD.as_millis() as i64, ms);
    if start > end {
        return Err(ConnectError::invalid_argument("start_at is after end_at"));
    }
    Ok((start, end))
}
