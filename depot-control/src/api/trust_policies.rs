//! Trust policies, which let CI jobs act on a project with their OIDC token: Depot's
//! `depot.core.v1.ProjectService` RPCs (GitHub, CircleCI, Buildkite) and depot-rs's
//! `depotrs.v1.TrustPolicyService`, which adds GitLab.

use depot_oidc::TrustPolicy as Rule;

use super::ControlPlane;
use crate::auth::{Access, Principal, policy_rule};
use crate::store;
use depot_core::connect::ConnectError;
use depot_core::proto::depot::core::v1 as core;
use depot_core::proto::depot::core::v1::trust_policy::{Buildkite, CircleCi, GitHub};
use depot_core::proto::depotrs::v1 as ours;

impl ControlPlane {
    pub(super) async fn list_trust_policies(
        &self,
        principal: Principal,
        request: core::ListTrustPoliciesRequest,
    ) -> Result<core::ListTrustPoliciesResponse, ConnectError> {
        let policies = self
            .project_trust_policies(&principal, &request.project_id)
            .await?;
        Ok(core::ListTrustPoliciesResponse {
            trust_policies: policies.iter().filter_map(core_message).collect(),
        })
    }

    pub(super) async fn add_trust_policy(
        &self,
        principal: Principal,
        request: core::AddTrustPolicyRequest,
    ) -> Result<core::AddTrustPolicyResponse, ConnectError> {
        use core::add_trust_policy_request::Provider as Theirs;
        use ours::trust_policy::Provider as Ours;
        let provider = request.provider.map(|p| match p {
            Theirs::Github(p) => Ours::Github(p),
            Theirs::Circleci(p) => Ours::Circleci(p),
            Theirs::Buildkite(p) => Ours::Buildkite(p),
        });
        let rule = rule_of(provider, "github, circleci or buildkite")?;
        let policy = self
            .add_policy(&principal, &request.project_id, rule)
            .await?;
        Ok(core::AddTrustPolicyResponse {
            trust_policy: core_message(&policy),
        })
    }

    pub(super) async fn remove_trust_policy(
        &self,
        principal: Principal,
        request: core::RemoveTrustPolicyRequest,
    ) -> Result<core::RemoveTrustPolicyResponse, ConnectError> {
        let project = principal
            .authorize_project(&self.store, &request.project_id, Access::Admin)
            .await?;
        if !self
            .store
            .remove_trust_policy(&project.id, &request.trust_policy_id)
            .await?
        {
            return Err(ConnectError::not_found(format!(
                "trust policy {} not found in project {}",
                request.trust_policy_id, project.id
            )));
        }
        Ok(core::RemoveTrustPolicyResponse {})
    }

    pub(super) async fn list_all_trust_policies(
        &self,
        principal: Principal,
        request: ours::ListTrustPoliciesRequest,
    ) -> Result<ours::ListTrustPoliciesResponse, ConnectError> {
        let policies = self
            .project_trust_policies(&principal, &request.project_id)
            .await?;
        Ok(ours::ListTrustPoliciesResponse {
            trust_policies: policies.iter().filter_map(our_message).collect(),
        })
    }

    pub(super) async fn add_any_trust_policy(
        &self,
        principal: Principal,
        request: ours::AddTrustPolicyRequest,
    ) -> Result<ours::AddTrustPolicyResponse, ConnectError> {
        let provider = request.trust_policy.and_then(|p| p.provider);
        let rule = rule_of(provider, "github, gitlab, circleci or buildkite")?;
        let policy = self
            .add_policy(&principal, &request.project_id, rule)
            .await?;
        Ok(ours::AddTrustPolicyResponse {
            trust_policy: our_message(&policy),
        })
    }

    async fn project_trust_policies(
        &self,
        principal: &Principal,
        project_id: &str,
    ) -> Result<Vec<store::TrustPolicy>, ConnectError> {
        let project = principal
            .authorize_project(&self.store, project_id, Access::Read)
            .await?;
        self.store
            .trust_policies(&project.id)
            .await
            .map_err(ConnectError::from)
    }

    async fn add_policy(
        &self,
        principal: &Principal,
        project_id: &str,
        rule: Rule,
    ) -> Result<store::TrustPolicy, ConnectError> {
        let (provider, first, second) = rule.parts();
        for value in [first, second] {
            if value.trim().is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
                return Err(ConnectError::invalid_argument(format!(
                    "every field of a {provider} trust policy must be set (1-255 printable characters)"
                )));
            }
        }
        let project = principal
            .authorize_project(&self.store, project_id, Access::Admin)
            .await?;
        self.store
            .add_trust_policy(&project.id, provider.as_str(), first.trim(), second.trim())
            .await
            .map_err(ConnectError::from)
    }
}

/// The rule a requested policy expresses; `invalid_argument` naming `known` providers when the
/// request has none.
fn rule_of(
    provider: Option<ours::trust_policy::Provider>,
    known: &str,
) -> Result<Rule, ConnectError> {
    use ours::trust_policy::Provider as Requested;
    Ok(match provider {
        Some(Requested::Github(p)) => Rule::GitHub {
            repository_owner: p.repository_owner,
            repository: p.repository,
        },
        Some(Requested::Gitlab(p)) => Rule::GitLab {
            namespace_path: p.namespace_path,
            project_path: p.project_path,
        },
        Some(Requested::Circleci(p)) => Rule::CircleCi {
            organization_uuid: p.organization_uuid,
            project_uuid: p.project_uuid,
        },
        Some(Requested::Buildkite(p)) => Rule::Buildkite {
            organization_slug: p.organization_slug,
            pipeline_slug: p.pipeline_slug,
        },
        None => {
            return Err(ConnectError::invalid_argument(format!(
                "a trust policy needs a provider: {known}"
            )));
        }
    })
}

/// Depot's message for a policy; `None` for GitLab ones, which it cannot express.
fn core_message(policy: &store::TrustPolicy) -> Option<core::TrustPolicy> {
    use core::trust_policy::Provider as Message;
    let provider = match policy_rule(policy)? {
        Rule::GitHub {
            repository_owner,
            repository,
        } => Message::Github(GitHub {
            repository_owner,
            repository,
        }),
        Rule::CircleCi {
            organization_uuid,
            project_uuid,
        } => Message::Circleci(CircleCi {
            organization_uuid,
            project_uuid,
        }),
        Rule::Buildkite {
            organization_slug,
            pipeline_slug,
        } => Message::Buildkite(Buildkite {
            organization_slug,
            pipeline_slug,
        }),
        Rule::GitLab { .. } => return None,
    };
    Some(core::TrustPolicy {
        trust_policy_id: policy.id.clone(),
        provider: Some(provider),
    })
}

/// depot-rs's message for a policy of any provider.
fn our_message(policy: &store::TrustPolicy) -> Option<ours::TrustPolicy> {
    use core::trust_policy::Provider as Theirs;
    use ours::trust_policy::Provider as Message;
    let provider = match core_message(policy).and_then(|m| m.provider) {
        Some(Theirs::Github(p)) => Message::Github(p),
        Some(Theirs::Circleci(p)) => Message::Circleci(p),
        Some(Theirs::Buildkite(p)) => Message::Buildkite(p),
        None => match policy_rule(policy)? {
            Rule::GitLab {
                namespace_path,
                project_path,
            } => Message::Gitlab(ours::trust_policy::GitLab {
                namespace_path,
                project_path,
            }),
            _ => return None,
        },
    };
    Some(ours::TrustPolicy {
        trust_policy_id: policy.id.clone(),
        provider: Some(provider),
    })
}
