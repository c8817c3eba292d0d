//! Trust policies: which CI identities may act on a project.

use crate::identity::{CiIdentity, Provider, ProviderClaims};

/// One trust relationship of a project. A token whose claims match any of a project's policies
/// gets that project's build, pull and push access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustPolicy {
    /// GitHub Actions runs in one repository.
    GitHub {
        /// The owner (`acme`), compared case-insensitively, as GitHub names are.
        repository_owner: String,
        /// The repository name (`app`) or full name (`acme/app`).
        repository: String,
    },
    /// GitLab CI/CD jobs of one project (depot-rs's own policy kind).
    GitLab {
        /// The group path (`group/subgroup`).
        namespace_path: String,
        /// The project path inside the group (`project`) or its full path
        /// (`group/subgroup/project`).
        project_path: String,
    },
    /// CircleCI jobs of one project.
    CircleCi {
        /// The organization UUID.
        organization_uuid: String,
        /// The project UUID.
        project_uuid: String,
    },
    /// Buildkite jobs of one pipeline.
    Buildkite {
        /// The organization slug.
        organization_slug: String,
        /// The pipeline slug.
        pipeline_slug: String,
    },
}

impl TrustPolicy {
    /// A policy of `provider` from its two fields, in the order of the API messages.
    pub fn from_parts(provider: Provider, first: &str, second: &str) -> Self {
        let (a, b) = (first.to_owned(), second.to_owned());
        match provider {
            Provider::GitHub => TrustPolicy::GitHub {
                repository_owner: a,
                repository: b,
            },
            Provider::GitLab => TrustPolicy::GitLab {
                namespace_path: a,
                project_path: b,
            },
            Provider::CircleCi => TrustPolicy::CircleCi {
                organization_uuid: a,
                project_uuid: b,
            },
            Provider::Buildkite => TrustPolicy::Buildkite {
                organization_slug: a,
                pipeline_slug: b,
            },
        }
    }

    /// The provider and the two fields, the inverse of [`from_parts`](Self::from_parts).
    pub fn parts(&self) -> (Provider, &str, &str) {
        match self {
            TrustPolicy::GitHub {
                repository_owner,
                repository,
            } => (Provider::GitHub, repository_owner, repository),
            TrustPolicy::GitLab {
                namespace_path,
                project_path,
            } => (Provider::GitLab, namespace_path, project_path),
            TrustPolicy::CircleCi {
                organization_uuid,
                project_uuid,
            } => (Provider::CircleCi, organization_uuid, project_uuid),
            TrustPolicy::Buildkite {
                organization_slug,
                pipeline_slug,
            } => (Provider::Buildkite, organization_slug, pipeline_slug),
        }
    }

    /// Whether `identity` is one this policy trusts.
    pub fn matches(&self, identity: &CiIdentity) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match (self, &identity.claims) {
            (
                TrustPolicy::GitHub {
                    repository_owner,
                    repository,
                },
                ProviderClaims::GitHub {
                    repository_owner: owner,
                    repository: full_name,
                    ..
                },
            ) => {
                eq(repository_owner, owner)
                    && (eq(repository, full_name)
                        || eq(&format!("{repository_owner}/{repository}"), full_name))
            }
            (
                TrustPolicy::GitLab {
                    namespace_path,
                    project_path,
                },
                ProviderClaims::GitLab {
                    namespace_path: namespace,
                    project_path: full_path,
                },
            ) => {
                eq(namespace_path, namespace)
                    && (eq(project_path, full_path)
                        || eq(&format!("{namespace_path}/{project_path}"), full_path))
            }
            (
                TrustPolicy::CircleCi {
                    organization_uuid,
                    project_uuid,
                },
                ProviderClaims::CircleCi {
                    organization_uuid: org,
                    project_uuid: project,
                },
            ) => eq(organization_uuid, org) && eq(project_uuid, project),
            (
                TrustPolicy::Buildkite {
                    organization_slug,
                    pipeline_slug,
                },
                ProviderClaims::Buildkite {
                    organization_slug: org,
                    pipeline_slug: pipeline,
                },
            ) => organization_slug == org && pipeline_slug == pipeline,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(claims: ProviderClaims) -> CiIdentity {
        CiIdentity {
            issuer: "https://issuer".into(),
            subject: "sub".into(),
            jti: None,
            expires_at: 0,
            claims,
        }
    }

    fn github(owner: &str, repository: &str) -> CiIdentity {
        identity(ProviderClaims::GitHub {
            repository_owner: owner.into(),
            repository: repository.into(),
            event_name: Some("push".into()),
            head_repository: None,
        })
    }

    #[test]
    fn github_policies_match_owner_and_repository_in_either_form() {
        let short = TrustPolicy::from_parts(Provider::GitHub, "Acme", "app");
        let full = TrustPolicy::from_parts(Provider::GitHub, "acme", "acme/App");
        for policy in [&short, &full] {
            assert!(policy.matches(&github("acme", "acme/app")));
            assert!(!policy.matches(&github("acme", "acme/app2")));
            assert!(!policy.matches(&github("other", "other/app")));
        }
        // The owner must match too, not just the full name's prefix.
        assert!(!short.matches(&github("evil", "acme/app")));
    }

    #[test]
    fn gitlab_policies_match_namespace_and_project() {
        let token = identity(ProviderClaims::GitLab {
            namespace_path: "group/sub".into(),
            project_path: "group/sub/project".into(),
        });
        assert!(TrustPolicy::from_parts(Provider::GitLab, "group/sub", "project").matches(&token));
        assert!(
            TrustPolicy::from_parts(Provider::GitLab, "group/sub", "group/sub/project")
                .matches(&token)
        );
        assert!(!TrustPolicy::from_parts(Provider::GitLab, "group", "sub/project").matches(&token));
    }

    #[test]
    fn providers_never_cross_match() {
        let buildkite = identity(ProviderClaims::Buildkite {
            organization_slug: "acme".into(),
            pipeline_slug: "app".into(),
        });
        assert!(TrustPolicy::from_parts(Provider::Buildkite, "acme", "app").matches(&buildkite));
        assert!(!TrustPolicy::from_parts(Provider::Buildkite, "acme", "App").matches(&buildkite));
        assert!(!TrustPolicy::from_parts(Provider::GitHub, "acme", "app").matches(&buildkite));
        let circle = identity(ProviderClaims::CircleCi {
            organization_uuid: "A-1".into(),
            project_uuid: "b-2".into(),
        });
        assert!(TrustPolicy::from_parts(Provider::CircleCi, "a-1", "B-2").matches(&circle));
        assert!(!TrustPolicy::from_parts(Provider::CircleCi, "a-1", "b-3").matches(&circle));
    }

    #[test]
    fn only_pull_requests_from_other_repositories_are_forks() {
        let pr = |head: Option<&str>| {
            identity(ProviderClaims::GitHub {
                repository_owner: "acme".into(),
                repository: "acme/app".into(),
                event_name: Some("pull_request".into()),
                head_repository: head.map(Into::into),
            })
        };
        assert!(pr(Some("mallory/app")).is_fork_pull_request());
        assert!(!pr(Some("acme/app")).is_fork_pull_request());
        assert!(!pr(None).is_fork_pull_request());
        assert!(!github("acme", "acme/app").is_fork_pull_request());
    }
}
