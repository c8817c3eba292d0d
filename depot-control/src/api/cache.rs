//! `depotrs.v1.CacheService`: what a project's build cache holds, from its builders; and the
//! cache policy handed to them with every build.

use std::time::UNIX_EPOCH;

use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depotrs::v1 as ours;

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal};
use crate::builders::CachePolicy;

impl ControlPlane {
    pub(super) async fn get_cache_usage(
        &self,
        principal: Principal,
        request: ours::GetCacheUsageRequest,
    ) -> Result<ours::GetCacheUsageResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Read)
            .await?;
        let builders = self.builders.as_ref().ok_or_else(|| {
            ConnectError::new(
                Code::FailedPrecondition,
                "this depot-server has no builders",
            )
        })?;
        let usage = builders.cache_usage(&project.id).await?;
        Ok(ours::GetCacheUsageResponse {
            builders: usage
                .into_iter()
                .map(|builder| ours::BuilderCache {
                    arch: builder.arch.as_str().to_owned(),
                    bytes: i64::try_from(builder.bytes).unwrap_or(i64::MAX),
                    entries: i64::try_from(builder.entries).unwrap_or(i64::MAX),
                    last_used_at: builder.last_used.and_then(|at| {
                        let ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
                        Some(timestamp(i64::try_from(ms).ok()?))
                    }),
                    state: builder.state.to_owned(),
                    running_builds: i32::try_from(builder.running_builds).unwrap_or(i32::MAX),
                })
                .collect(),
            keep_bytes: project.keep_bytes,
            keep_days: i32::try_from(project.keep_days).unwrap_or(i32::MAX),
        })
    }

    /// What builders need to know of `project_id`: its cache policy, and its organization (a
    /// builder may belong to it).
    pub(super) async fn builder_settings(
        &self,
        project_id: &str,
    ) -> Result<(CachePolicy, String), ConnectError> {
        let project =
            self.store.get_project(project_id).await?.ok_or_else(|| {
                ConnectError::not_found(format!("project {project_id} not found"))
            })?;
        let policy = CachePolicy {
            keep_bytes: u64::try_from(project.keep_bytes).unwrap_or(0),
            keep_days: u32::try_from(project.keep_days).unwrap_or(0),
        };
        Ok((policy, project.org_id))
    }
}
