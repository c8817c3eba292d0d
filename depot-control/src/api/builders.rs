//! A project's builders: `depotrs.v1.CacheService` (what their build cache holds) and
//! `depotrs.v1.BuilderSettingsService` (how many builds each runs, how many there may be); and
//! what builders are told of the project with every build.

use std::time::UNIX_EPOCH;

use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depotrs::v1 as ours;

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal};
use crate::builders::CachePolicy;
use crate::store::Project;

/// What builders need to know of a project.
pub(super) struct ProjectBuilders {
    /// Its cache policy.
    pub cache_policy: CachePolicy,
    /// Its organization (a builder may belong to it).
    pub org_id: String,
    /// Builds one of its builders runs at once.
    pub builds_per_builder: usize,
    /// Builders it may have per architecture.
    pub max_builders: usize,
}

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
                    index: i32::from(builder.index),
                })
                .collect(),
            keep_bytes: project.keep_bytes,
            keep_days: i32::try_from(project.keep_days).unwrap_or(i32::MAX),
        })
    }

    pub(super) async fn get_builder_settings(
        &self,
        principal: Principal,
        request: ours::GetBuilderSettingsRequest,
    ) -> Result<ours::BuilderSettings, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Read)
            .await?;
        Ok(self.settings_message(&project))
    }

    pub(super) async fn update_builder_settings(
        &self,
        principal: Principal,
        request: ours::UpdateBuilderSettingsRequest,
    ) -> Result<ours::BuilderSettings, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        for (name, value, most) in [
            ("builds_per_builder", request.builds_per_builder, 64),
            ("max_builders", request.max_builders, 16),
        ] {
            if value.is_some_and(|v| !(0..=most).contains(&v)) {
                return Err(ConnectError::invalid_argument(format!(
                    "{name} must be between 1 and {most} (0 restores the server's default)"
                )));
            }
        }
        let updated = self
            .store
            .update_builder_settings(
                &project.id,
                request.builds_per_builder.map(i64::from),
                request.max_builders.map(i64::from),
            )
            .await?
            .ok_or_else(|| ConnectError::not_found(format!("project {} not found", project.id)))?;
        Ok(self.settings_message(&updated))
    }

    fn settings_message(&self, project: &Project) -> ours::BuilderSettings {
        let value = |set: Option<i64>, default: u32| match set {
            Some(set) => i32::try_from(set).unwrap_or(i32::MAX),
            None => i32::try_from(default).unwrap_or(i32::MAX),
        };
        ours::BuilderSettings {
            builds_per_builder: value(project.builds_per_builder, self.config.builds_per_builder),
            max_builders: value(project.max_builders, self.config.max_builders_per_project),
            builds_per_builder_is_default: project.builds_per_builder.is_none(),
            max_builders_is_default: project.max_builders.is_none(),
        }
    }

    /// What builders need to know of `project_id`.
    pub(super) async fn builder_settings(
        &self,
        project_id: &str,
    ) -> Result<ProjectBuilders, ConnectError> {
        let project =
            self.store.get_project(project_id).await?.ok_or_else(|| {
                ConnectError::not_found(format!("project {project_id} not found"))
            })?;
        let settings = self.settings_message(&project);
        Ok(ProjectBuilders {
            cache_policy: CachePolicy {
                keep_bytes: u64::try_from(project.keep_bytes).unwrap_or(0),
                keep_days: u32::try_from(project.keep_days).unwrap_or(0),
            },
            org_id: project.org_id,
            builds_per_builder: usize::try_from(settings.builds_per_builder)
                .unwrap_or(1)
                .max(1),
            max_builders: usize::try_from(settings.max_builders).unwrap_or(1).max(1),
        })
    }
}
