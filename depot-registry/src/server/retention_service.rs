//! `depotrs.v1.RegistryRetentionService`: reading and setting a repository's retention policy
//! over Connect, next to `depot.build.v1.RegistryService`.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use depot_control::auth::{Access, Principal};
use depot_core::connect::ConnectError;
use depot_core::proto::depotrs::v1::{
    GetRetentionPolicyRequest, GetRetentionPolicyResponse, RetentionPolicy,
    SetRetentionPolicyRequest, SetRetentionPolicyResponse, retention_policy::Rule,
};

use super::Registry;
use super::images::{connect_call, internal};
use super::retention::Retention;
use crate::reference::Name;

pub(super) async fn get_endpoint(
    State(registry): State<Registry>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    connect_call(&registry, &headers, body, Registry::get_retention_policy).await
}

pub(super) async fn set_endpoint(
    State(registry): State<Registry>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    connect_call(&registry, &headers, body, Registry::set_retention_policy).await
}

impl Registry {
    async fn get_retention_policy(
        &self,
        principal: Principal,
        request: GetRetentionPolicyRequest,
    ) -> Result<GetRetentionPolicyResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.inner.store, &request.project_id, Access::Read)
            .await?;
        let repository = repository_in(&project.id, &request.repository)?;
        let policy = self.retention(&repository).await.map_err(internal)?;
        Ok(GetRetentionPolicyResponse {
            policy: Some(to_proto(policy.unwrap_or(Retention::DEFAULT))),
            is_default: policy.is_none(),
        })
    }

    async fn set_retention_policy(
        &self,
        principal: Principal,
        request: SetRetentionPolicyRequest,
    ) -> Result<SetRetentionPolicyResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.inner.store, &request.project_id, Access::Write)
            .await?;
        let repository = repository_in(&project.id, &request.repository)?;
        let policy = match request.policy.and_then(|p| p.rule) {
            None => None,
            Some(Rule::MaxAgeDays(days)) => Some(Retention::MaxAgeDays(days)),
            Some(Rule::KeepTags(count)) => Some(Retention::KeepTags(count)),
        };
        let policy = policy
            .map(Retention::validate)
            .transpose()
            .map_err(ConnectError::invalid_argument)?;
        self.set_retention(&repository, policy)
            .await
            .map_err(internal)?;
        Ok(SetRetentionPolicyResponse {
            policy: Some(to_proto(policy.unwrap_or(Retention::DEFAULT))),
            is_default: policy.is_none(),
        })
    }
}

fn to_proto(policy: Retention) -> RetentionPolicy {
    RetentionPolicy {
        rule: Some(match policy {
            Retention::MaxAgeDays(days) => Rule::MaxAgeDays(days),
            Retention::KeepTags(count) => Rule::KeepTags(count),
        }),
    }
}

/// `<project>` for `""`, `<project>/<path>` for a path, validated against the name grammar.
fn repository_in(project: &str, relative: &str) -> Result<Name, ConnectError> {
    let full = match relative.trim_matches('/') {
        "" => project.to_owned(),
        path => format!("{project}/{path}"),
    };
    full.parse().map_err(|()| {
        ConnectError::invalid_argument(format!(
            "invalid repository {relative:?}: use a path like `web` or `team/app` (lowercase \
             letters, digits, and . _ - / separators), or nothing for the project's own repository"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::repository_in;

    #[test]
    fn repositories_are_relative_to_the_project() {
        assert_eq!(repository_in("p1", "").unwrap().as_str(), "p1");
        assert_eq!(
            repository_in("p1", "web/app").unwrap().as_str(),
            "p1/web/app"
        );
        assert!(repository_in("p1", "../p2").is_err());
        assert!(repository_in("p1", "Web").is_err());
    }
}
