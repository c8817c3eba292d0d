//! Projects (`depot.cli.v1beta1.ProjectsService`, `depot.core.v1.ProjectService`) and
//! organizations (`depot.core.v1.OrganizationService`). Trust policies are in
//! [`trust_policies`](super::trust_policies).

use super::{ControlPlane, timestamp};
use crate::auth::{Access, Principal};
use crate::store::{self, NewProject, ProjectChanges};
use depot_core::connect::ConnectError;
use depot_core::proto::depot::cli::v1beta1 as cli;
use depot_core::proto::depot::core::v1 as core;

impl ControlPlane {
    pub(super) async fn cli_list_projects(
        &self,
        principal: Principal,
        _: cli::ListProjectsRequest,
    ) -> Result<cli::ListProjectsResponse, ConnectError> {
        let projects = principal.visible_projects(&self.store).await?;
        Ok(cli::ListProjectsResponse {
            projects: projects
                .into_iter()
                .map(|p| cli::list_projects_response::Project {
                    id: p.id,
                    name: p.name,
                    org_id: p.org_id,
                    org_name: p.org_name,
                })
                .collect(),
        })
    }

    pub(super) async fn reset_project_cache(
        &self,
        principal: Principal,
        request: cli::ResetProjectCacheRequest,
    ) -> Result<cli::ResetProjectCacheResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Write)
            .await?;
        // The cache is emptied first: the stamp says it happened.
        if let Some(builders) = &self.builders {
            builders.reset_cache(&project.id).await?;
        }
        self.store.reset_project_cache(&project.id).await?;
        Ok(cli::ResetProjectCacheResponse {
            name: project.name,
            org_name: project.org_name,
        })
    }

    pub(super) async fn list_projects(
        &self,
        principal: Principal,
        _: core::ListProjectsRequest,
    ) -> Result<core::ListProjectsResponse, ConnectError> {
        let projects = principal.visible_projects(&self.store).await?;
        Ok(core::ListProjectsResponse {
            projects: projects.into_iter().map(project_message).collect(),
        })
    }

    pub(super) async fn get_project(
        &self,
        principal: Principal,
        request: core::GetProjectRequest,
    ) -> Result<core::GetProjectResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Read)
            .await?;
        Ok(core::GetProjectResponse {
            project: Some(project_message(project)),
        })
    }

    pub(super) async fn create_project(
        &self,
        principal: Principal,
        request: core::CreateProjectRequest,
    ) -> Result<core::CreateProjectResponse, ConnectError> {
        let name = validate_name(&request.name)?;
        let region_id = validate_region(&request.region_id)?;
        let (keep_bytes, keep_days) = match request.cache_policy {
            Some(policy) => validate_cache_policy(&policy)?,
            None => (
                NewProject::DEFAULT_KEEP_BYTES,
                NewProject::DEFAULT_KEEP_DAYS,
            ),
        };
        let org_id = self
            .target_org(
                &principal,
                request.organization_id.filter(|o| !o.is_empty()),
            )
            .await?;
        let project = self
            .store
            .create_project(&NewProject {
                org_id,
                name,
                region_id,
                keep_bytes,
                keep_days,
            })
            .await?;
        Ok(core::CreateProjectResponse {
            project: Some(project_message(project)),
        })
    }

    /// The organization a new project goes to: the one asked for (if the principal may use
    /// it), else the principal's only organization.
    async fn target_org(
        &self,
        principal: &Principal,
        requested: Option<String>,
    ) -> Result<String, ConnectError> {
        if !matches!(
            principal,
            Principal::User { .. } | Principal::Organization { .. }
        ) {
            return Err(principal.denied("project creation"));
        }
        let orgs = principal.organizations(&self.store).await?;
        match requested {
            Some(id) => {
                if orgs.iter().any(|o| o.id == id) {
                    Ok(id)
                } else if self.store.get_org(&id).await?.is_none() {
                    Err(ConnectError::not_found(format!(
                        "organization {id} not found"
                    )))
                } else {
                    Err(principal.denied(&format!("organization {id}")))
                }
            }
            None => match orgs.as_slice() {
                [only] => Ok(only.id.clone()),
                [] => Err(ConnectError::failed_precondition(
                    "the token's user belongs to no organization; ask an admin to add it to one",
                )),
                many => Err(ConnectError::invalid_argument(format!(
                    "organization_id is required: the token reaches {} organizations",
                    many.len()
                ))),
            },
        }
    }

    pub(super) async fn update_project(
        &self,
        principal: Principal,
        request: core::UpdateProjectRequest,
    ) -> Result<core::UpdateProjectResponse, ConnectError> {
        let changes = ProjectChanges {
            name: request.name.as_deref().map(validate_name).transpose()?,
            region_id: request
                .region_id
                .as_deref()
                .map(validate_region)
                .transpose()?,
            cache_policy: request
                .cache_policy
                .as_ref()
                .map(validate_cache_policy)
                .transpose()?,
        };
        principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        let project = self
            .store
            .update_project(&request.project_id, &changes)
            .await?
            .ok_or_else(|| {
                ConnectError::not_found(format!("project {} not found", request.project_id))
            })?;
        Ok(core::UpdateProjectResponse {
            project: Some(project_message(project)),
        })
    }

    pub(super) async fn delete_project(
        &self,
        principal: Principal,
        request: core::DeleteProjectRequest,
    ) -> Result<core::DeleteProjectResponse, ConnectError> {
        principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        if !self.store.delete_project(&request.project_id).await? {
            return Err(ConnectError::not_found(format!(
                "project {} not found",
                request.project_id
            )));
        }
        Ok(core::DeleteProjectResponse {})
    }

    pub(super) async fn list_organizations(
        &self,
        principal: Principal,
        _: core::ListOrganizationsRequest,
    ) -> Result<core::ListOrganizationResponse, ConnectError> {
        let orgs = principal.organizations(&self.store).await?;
        Ok(core::ListOrganizationResponse {
            organizations: orgs
                .into_iter()
                .map(|o| core::list_organization_response::Organization {
                    org_id: o.id,
                    name: o.name,
                    created_at: Some(timestamp(o.created_at)),
                })
                .collect(),
        })
    }
}

fn project_message(p: store::Project) -> core::Project {
    core::Project {
        project_id: p.id,
        organization_id: p.org_id,
        name: p.name,
        region_id: p.region_id,
        created_at: Some(timestamp(p.created_at)),
        cache_policy: Some(core::CachePolicy {
            keep_bytes: p.keep_bytes,
            keep_days: p.keep_days as i32,
        }),
    }
}

fn validate_name(name: &str) -> Result<String, ConnectError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ConnectError::invalid_argument(
            "a project name must be 1-100 printable characters",
        ));
    }
    Ok(name.to_owned())
}

fn validate_region(region: &str) -> Result<String, ConnectError> {
    if region.is_empty() {
        return Ok(NewProject::DEFAULT_REGION.to_owned());
    }
    let valid = region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(region.to_owned())
    } else {
        Err(ConnectError::invalid_argument(format!(
            "invalid region_id {region:?}: use lowercase letters, digits and dashes, e.g. {}",
            NewProject::DEFAULT_REGION
        )))
    }
}

fn validate_cache_policy(policy: &core::CachePolicy) -> Result<(i64, i64), ConnectError> {
    if policy.keep_bytes < 0 || policy.keep_days < 0 {
        return Err(ConnectError::invalid_argument(
            "cache_policy values cannot be negative",
        ));
    }
    Ok((policy.keep_bytes, i64::from(policy.keep_days)))
}
