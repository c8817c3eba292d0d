//! Who is calling (the bearer token's [`Principal`]) and what it may touch.
//!
//! | token        | projects it sees                  | may change projects | may administer |
//! |--------------|-----------------------------------|---------------------|----------------|
//! | user         | those of its organizations        | yes                 | yes            |
//! | organization | those of its organization         | yes                 | yes            |
//! | project      | its own                           | its own             | no             |
//! | build        | none (only its build's RPCs)      | no                  | no             |
//! | pull         | none (registry pulls only)        | no                  | no             |
//! | CI (OIDC JWT)| those whose trust policies match  | those it sees       | no             |
//! | CI, fork PR  | those whose trust policies match  | start builds only   | no             |
//!
//! A CI provider's OIDC token is accepted wherever an API token is, when the server trusts its
//! issuer ([`Authenticator::with_oidc`]); tokens are told apart by shape (a JWT vs. `dp?_…`).
//!
//! A CI token of a pull request from a fork ([`CiIdentity::is_fork_pull_request`]) is
//! *isolated*: its code is untrusted, so it may start builds ([`Access::Build`]) — which run on
//! an isolated builder with a throwaway cache — but not read the project's builds, pull, push
//! or save; its builds' tokens cannot use the project's registry either.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use depot_oidc::server::{OidcVerifier, VerifyError, looks_like_jwt};
use depot_oidc::{CiIdentity, Provider, TrustPolicy as PolicyRule};

use super::store::{Organization, Project, Store, Token, TrustPolicy};
use super::tokens::{TokenKind, hash_secret};
use depot_core::connect::ConnectError;

/// The identity behind a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A user token.
    User {
        /// The user.
        user_id: String,
    },
    /// An organization token.
    Organization {
        /// The organization.
        org_id: String,
    },
    /// A project token.
    Project {
        /// The project.
        project_id: String,
    },
    /// A build token.
    Build {
        /// The build's project.
        project_id: String,
        /// The build.
        build_id: String,
        /// The build is isolated (a fork's pull request): its token cannot use the project's
        /// registry.
        isolated: bool,
    },
    /// A pull token.
    Pull {
        /// The project it may pull from.
        project_id: String,
        /// The one build it may pull, if restricted to one.
        build_id: Option<String>,
    },
    /// A CI job's verified OIDC token: it reaches the projects whose trust policies match.
    Ci {
        /// Who the token says the job is.
        identity: Arc<CiIdentity>,
    },
}

/// How much a call needs from a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Start builds, and nothing else: all an isolated CI token (a fork's pull request) gets.
    /// Every principal that may write a project may also build in it.
    Build,
    /// See the project, its builds, and get pull tokens.
    Read,
    /// Push, reset the cache, exchange CI tokens for project tokens (and all Build and Read
    /// allow).
    Write,
    /// Rename, delete, manage trust policies.
    Admin,
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Turns presented credentials into a [`Principal`]: API tokens from the store, CI tokens
/// through the OIDC verifier (when the server trusts any issuer). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Authenticator {
    store: Store,
    oidc: Option<Arc<OidcVerifier>>,
}

impl Authenticator {
    /// Accepts API tokens stored in `store` (and no CI tokens).
    pub fn new(store: Store) -> Self {
        Self { store, oidc: None }
    }

    /// Also accepts CI tokens that `verifier` verifies.
    pub fn with_oidc(mut self, verifier: Arc<OidcVerifier>) -> Self {
        self.oidc = Some(verifier);
        self
    }

    /// The store tokens are looked up in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Resolves the request's bearer token to a principal.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ConnectError> {
        let secret = bearer_token(headers).ok_or_else(|| {
            ConnectError::unauthenticated(
                "missing API token: run `depot login`, pass --token, or set DEPOT_TOKEN",
            )
        })?;
        self.authenticate_secret(secret).await
    }

    /// Resolves a presented secret (an API token or a CI job's OIDC token) to a principal.
    pub async fn authenticate_secret(&self, secret: &str) -> Result<Principal, ConnectError> {
        if looks_like_jwt(secret) {
            return Ok(Principal::Ci {
                identity: Arc::new(self.verify_ci_token(secret).await?),
            });
        }
        authenticate_secret(&self.store, secret).await
    }

    /// Verifies a CI job's OIDC token.
    pub async fn verify_ci_token(&self, token: &str) -> Result<CiIdentity, ConnectError> {
        let verifier = self.oidc.as_ref().ok_or_else(|| {
            ConnectError::unauthenticated(
                "this server does not accept CI (OIDC) tokens: an operator enables them with \
                 depot-server --oidc-issuer",
            )
        })?;
        verifier.verify(token).await.map_err(ci_token_refused)
    }
}

/// The API error for a refused CI token: `unavailable` when the issuer could not be reached,
/// `unauthenticated` otherwise, with the verifier's code in the message.
fn ci_token_refused(err: VerifyError) -> ConnectError {
    let message = format!("CI token refused ({}): {err}", err.code());
    if err.is_server_side() {
        ConnectError::new(depot_core::connect::Code::Unavailable, message)
    } else {
        ConnectError::unauthenticated(message)
    }
}

/// Resolves a presented API token secret (not a CI token) to a principal.
pub async fn authenticate_secret(store: &Store, secret: &str) -> Result<Principal, ConnectError> {
    authenticate_hash(store, &hash_secret(secret)).await
}

/// Resolves a live API token, by the hash of its secret, to a principal (a dashboard session
/// keeps the hash of the token it was opened with).
pub async fn authenticate_hash(store: &Store, hash: &str) -> Result<Principal, ConnectError> {
    let token = store.find_live_token(hash).await?.ok_or_else(|| {
        ConnectError::unauthenticated(
            "invalid, expired or revoked API token: run `depot login` or create a new token",
        )
    })?;
    principal_of(&token).ok_or_else(|| {
        tracing::error!(token_id = %token.id, "token row has an unknown kind or missing scope");
        ConnectError::internal("the token's stored scope is invalid")
    })
}

/// The rule a stored trust policy expresses, if its provider is known.
pub fn policy_rule(policy: &TrustPolicy) -> Option<PolicyRule> {
    Provider::from_name(&policy.provider)
        .map(|provider| PolicyRule::from_parts(provider, &policy.claim_a, &policy.claim_b))
}

/// The first of `project_id`'s trust policies that trusts `identity`.
pub async fn matching_policy(
    store: &Store,
    project_id: &str,
    identity: &CiIdentity,
) -> Result<Option<TrustPolicy>, ConnectError> {
    let policies = store.trust_policies(project_id).await?;
    Ok(policies
        .into_iter()
        .find(|p| policy_rule(p).is_some_and(|rule| rule.matches(identity))))
}

fn principal_of(token: &Token) -> Option<Principal> {
    Some(match TokenKind::from_name(&token.kind)? {
        TokenKind::User => Principal::User {
            user_id: token.user_id.clone()?,
        },
        TokenKind::Organization => Principal::Organization {
            org_id: token.org_id.clone()?,
        },
        TokenKind::Project => Principal::Project {
            project_id: token.project_id.clone()?,
        },
        kind @ (TokenKind::Build | TokenKind::IsolatedBuild) => Principal::Build {
            project_id: token.project_id.clone()?,
            build_id: token.build_id.clone()?,
            isolated: kind == TokenKind::IsolatedBuild,
        },
        TokenKind::Pull => Principal::Pull {
            project_id: token.project_id.clone()?,
            build_id: token.build_id.clone(),
        },
    })
}

impl Principal {
    /// Whether this is an isolated CI token (a pull request from a fork: it may only start
    /// builds, and they run isolated) or an isolated build's token.
    pub fn is_isolated(&self) -> bool {
        match self {
            Principal::Ci { identity } => identity.is_fork_pull_request(),
            Principal::Build { isolated, .. } => *isolated,
            _ => false,
        }
    }

    /// The project a project, build or pull token is bound to.
    pub fn bound_project(&self) -> Option<&str> {
        match self {
            Principal::Project { project_id }
            | Principal::Build { project_id, .. }
            | Principal::Pull { project_id, .. } => Some(project_id),
            Principal::User { .. } | Principal::Organization { .. } | Principal::Ci { .. } => None,
        }
    }

    /// Loads `project_id` and checks this principal may act on it with `access`:
    /// `not_found` if it does not exist, `permission_denied` if it is out of reach.
    pub async fn authorize_project(
        &self,
        store: &Store,
        project_id: &str,
        access: Access,
    ) -> Result<Project, ConnectError> {
        if project_id.is_empty() {
            return Err(ConnectError::invalid_argument("project_id is required"));
        }
        let project = store
            .get_project(project_id)
            .await?
            .ok_or_else(|| ConnectError::not_found(format!("project {project_id} not found")))?;
        let allowed = match self {
            Principal::User { user_id } => store.is_member(&project.org_id, user_id).await?,
            Principal::Organization { org_id } => *org_id == project.org_id,
            Principal::Project { project_id: own } => *own == project.id && access != Access::Admin,
            Principal::Build { .. } | Principal::Pull { .. } => false,
            Principal::Ci { identity } => {
                if access == Access::Admin {
                    return Err(self.denied(&format!("project {project_id}")));
                }
                if matching_policy(store, &project.id, identity)
                    .await?
                    .is_none()
                {
                    return Err(ConnectError::permission_denied(format!(
                        "no trust policy of project {project_id} matches this CI token \
                         ({identity}): add one with `depot projects trust-policies add`"
                    )));
                }
                if self.is_isolated() && access != Access::Build {
                    return Err(ConnectError::permission_denied(format!(
                        "{identity} is a pull request from a fork: its builds run isolated, and \
                         it cannot read project {project_id}'s builds, pull, push or save"
                    )));
                }
                true
            }
        };
        if allowed {
            Ok(project)
        } else {
            Err(self.denied(&format!("project {project_id}")))
        }
    }

    /// The projects this principal sees.
    pub async fn visible_projects(&self, store: &Store) -> Result<Vec<Project>, ConnectError> {
        match self {
            Principal::User { user_id } => store.projects_of_user(user_id).await,
            Principal::Organization { org_id } => store.projects_of_org(org_id).await,
            Principal::Project { project_id } => store
                .get_project(project_id)
                .await
                .map(|p| p.into_iter().collect()),
            Principal::Build { .. } | Principal::Pull { .. } => {
                return Err(self.denied("projects"));
            }
            Principal::Ci { identity } => return trusted_projects(store, identity).await,
        }
        .map_err(ConnectError::from)
    }

    /// The organizations this principal acts within.
    pub async fn organizations(&self, store: &Store) -> Result<Vec<Organization>, ConnectError> {
        let orgs = match self {
            Principal::User { user_id } => store.orgs_of_user(user_id).await,
            Principal::Organization { org_id } => {
                store.get_org(org_id).await.map(|o| o.into_iter().collect())
            }
            Principal::Ci { .. } => {
                let mut orgs: Vec<Organization> = Vec::new();
                for project in self.visible_projects(store).await? {
                    if orgs.iter().all(|o| o.id != project.org_id)
                        && let Some(org) = store.get_org(&project.org_id).await?
                    {
                        orgs.push(org);
                    }
                }
                Ok(orgs)
            }
            _ => {
                let project = self
                    .bound_project()
                    .expect("other tokens are project-bound");
                match store.get_project(project).await? {
                    Some(p) => store
                        .get_org(&p.org_id)
                        .await
                        .map(|o| o.into_iter().collect()),
                    None => Ok(Vec::new()),
                }
            }
        };
        orgs.map_err(ConnectError::from)
    }

    /// A `permission_denied` error explaining what this kind of token cannot reach.
    pub fn denied(&self, what: &str) -> ConnectError {
        let why = match self {
            Principal::User { .. } => "the token's user is not a member of its organization",
            Principal::Organization { .. } => "it belongs to another organization",
            Principal::Project { .. } => {
                "project tokens only reach their own project and cannot administer it"
            }
            Principal::Build { .. } => "build tokens only reach their own build",
            Principal::Pull { .. } => "pull tokens only allow registry pulls",
            Principal::Ci { .. } if self.is_isolated() => {
                "CI tokens of pull requests from forks may only start isolated builds"
            }
            Principal::Ci { .. } => {
                "CI tokens only reach projects whose trust policies match them, and cannot \
                 administer them"
            }
        };
        ConnectError::permission_denied(format!("this token cannot access {what}: {why}"))
    }
}

/// The projects with a trust policy matching `identity`.
async fn trusted_projects(
    store: &Store,
    identity: &CiIdentity,
) -> Result<Vec<Project>, ConnectError> {
    let policies = store
        .trust_policies_of_provider(identity.provider().as_str())
        .await?;
    let mut projects: Vec<Project> = Vec::new();
    for policy in policies {
        if projects.iter().any(|p| p.id == policy.project_id)
            || !policy_rule(&policy).is_some_and(|rule| rule.matches(identity))
        {
            continue;
        }
        if let Some(project) = store.get_project(&policy.project_id).await? {
            projects.push(project);
        }
    }
    Ok(projects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
