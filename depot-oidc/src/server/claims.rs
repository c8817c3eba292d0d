//! A token's claims, as each provider names them.

use serde::Deserialize;

use super::error::VerifyError;
use crate::identity::{CiIdentity, Provider, ProviderClaims};

/// Every claim any provider's policies need; each provider fills its own.
#[derive(Deserialize)]
pub(super) struct RawClaims {
    sub: Option<String>,
    jti: Option<String>,
    exp: Option<u64>,
    pub iat: Option<u64>,
    aud: Option<Audience>,
    // GitHub Actions
    repository_owner: Option<String>,
    repository: Option<String>,
    event_name: Option<String>,
    head_repository: Option<String>,
    // GitLab
    namespace_path: Option<String>,
    project_path: Option<String>,
    // CircleCI
    #[serde(rename = "oidc.circleci.com/org-id")]
    circleci_org_id: Option<String>,
    #[serde(rename = "oidc.circleci.com/project-id")]
    circleci_project_id: Option<String>,
    // Buildkite
    organization_slug: Option<String>,
    pipeline_slug: Option<String>,
}

/// `aud`: one string or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl RawClaims {
    /// Whether `aud` lists `expected`, or (CircleCI tokens, whose audience is fixed to their
    /// organization ID) that organization.
    pub fn is_for(&self, provider: Provider, expected: &str) -> bool {
        let audiences: &[String] = match &self.aud {
            None => &[],
            Some(Audience::One(one)) => std::slice::from_ref(one),
            Some(Audience::Many(many)) => many,
        };
        let organization = (provider == Provider::CircleCi)
            .then_some(self.circleci_org_id.as_deref())
            .flatten();
        audiences.iter().any(|aud| {
            aud == expected || organization.is_some_and(|org| aud.eq_ignore_ascii_case(org))
        })
    }

    /// The identity of a `provider` token issued by `issuer`.
    pub fn into_identity(
        self,
        provider: Provider,
        issuer: &str,
    ) -> Result<CiIdentity, VerifyError> {
        fn required(value: Option<String>, name: &'static str) -> Result<String, VerifyError> {
            value
                .filter(|v| !v.is_empty())
                .ok_or(VerifyError::MissingClaim(name))
        }
        let expires_at = self.exp.ok_or(VerifyError::MissingClaim("exp"))?;
        let claims = match provider {
            Provider::GitHub => ProviderClaims::GitHub {
                repository_owner: required(self.repository_owner, "repository_owner")?,
                repository: required(self.repository, "repository")?,
                event_name: self.event_name,
                head_repository: self.head_repository,
            },
            Provider::GitLab => ProviderClaims::GitLab {
                namespace_path: required(self.namespace_path, "namespace_path")?,
                project_path: required(self.project_path, "project_path")?,
            },
            Provider::CircleCi => ProviderClaims::CircleCi {
                organization_uuid: required(self.circleci_org_id, "oidc.circleci.com/org-id")?,
                project_uuid: required(self.circleci_project_id, "oidc.circleci.com/project-id")?,
            },
            Provider::Buildkite => ProviderClaims::Buildkite {
                organization_slug: required(self.organization_slug, "organization_slug")?,
                pipeline_slug: required(self.pipeline_slug, "pipeline_slug")?,
            },
        };
        Ok(CiIdentity {
            issuer: issuer.to_owned(),
            subject: self.sub.unwrap_or_default(),
            jti: self.jti.filter(|j| !j.is_empty()),
            expires_at,
            claims,
        })
    }
}
