//! Who a verified CI token says the job is.

use std::fmt;

/// A CI provider whose OIDC tokens depot-rs understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// GitHub Actions.
    GitHub,
    /// GitLab CI/CD.
    GitLab,
    /// CircleCI.
    CircleCi,
    /// Buildkite.
    Buildkite,
}

impl Provider {
    /// Every provider, in the order the official CLI tries them.
    pub const ALL: [Provider; 4] = [
        Provider::GitHub,
        Provider::GitLab,
        Provider::CircleCi,
        Provider::Buildkite,
    ];

    /// The lowercase name used in flags, storage and messages (`github`, `gitlab`, `circleci`,
    /// `buildkite`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::CircleCi => "circleci",
            Provider::Buildkite => "buildkite",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider-specific claims trust policies are matched against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderClaims {
    /// GitHub Actions (`repository_owner`, `repository`, `event_name`).
    GitHub {
        /// The repository's owner (`acme`).
        repository_owner: String,
        /// The repository the workflow runs in, `owner/name`.
        repository: String,
        /// The event that started the workflow (`push`, `pull_request`, …).
        event_name: Option<String>,
        /// For pull requests, the repository the change comes from (`owner/name`), when the
        /// token carries it as `head_repository`.
        head_repository: Option<String>,
    },
    /// GitLab CI/CD (`namespace_path`, `project_path`).
    GitLab {
        /// The group path (`group/subgroup`).
        namespace_path: String,
        /// The project's full path (`group/subgroup/project`).
        project_path: String,
    },
    /// CircleCI (`oidc.circleci.com/org-id`, `oidc.circleci.com/project-id`).
    CircleCi {
        /// The organization UUID.
        organization_uuid: String,
        /// The project UUID.
        project_uuid: String,
    },
    /// Buildkite (`organization_slug`, `pipeline_slug`).
    Buildkite {
        /// The organization slug.
        organization_slug: String,
        /// The pipeline slug.
        pipeline_slug: String,
    },
}

impl ProviderClaims {
    /// The provider these claims come from.
    pub fn provider(&self) -> Provider {
        match self {
            ProviderClaims::GitHub { .. } => Provider::GitHub,
            ProviderClaims::GitLab { .. } => Provider::GitLab,
            ProviderClaims::CircleCi { .. } => Provider::CircleCi,
            ProviderClaims::Buildkite { .. } => Provider::Buildkite,
        }
    }
}

/// A verified CI token: its issuer, subject and the claims policies match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiIdentity {
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `jti`, if it has one.
    pub jti: Option<String>,
    /// The token's `exp` (seconds since the Unix epoch).
    pub expires_at: u64,
    /// What policies match.
    pub claims: ProviderClaims,
}

impl CiIdentity {
    /// The provider that issued the token.
    pub fn provider(&self) -> Provider {
        self.claims.provider()
    }

    /// Whether this is a GitHub `pull_request` run whose change comes from another repository
    /// (a fork): its `head_repository` claim differs from `repository`. Such runs are untrusted.
    pub fn is_fork_pull_request(&self) -> bool {
        match &self.claims {
            ProviderClaims::GitHub {
                repository,
                event_name,
                head_repository,
                ..
            } => {
                event_name.as_deref() == Some("pull_request")
                    && head_repository
                        .as_deref()
                        .is_some_and(|head| !head.eq_ignore_ascii_case(repository))
            }
            _ => false,
        }
    }
}

impl fmt::Display for CiIdentity {
    /// A short description for messages and logs, e.g. `github repository acme/app`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.claims {
            ProviderClaims::GitHub { repository, .. } => {
                write!(f, "github repository {repository}")
            }
            ProviderClaims::GitLab { project_path, .. } => {
                write!(f, "gitlab project {project_path}")
            }
            ProviderClaims::CircleCi {
                organization_uuid,
                project_uuid,
            } => write!(
                f,
                "circleci project {project_uuid} (organization {organization_uuid})"
            ),
            ProviderClaims::Buildkite {
                organization_slug,
                pipeline_slug,
            } => write!(f, "buildkite pipeline {organization_slug}/{pipeline_slug}"),
        }
    }
}
