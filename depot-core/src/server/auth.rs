//! Who is calling (the bearer token's [`Principal`]) and what it may touch.
//!
//! | token        | projects it sees                  | may change projects | may administer |
//! |--------------|-----------------------------------|---------------------|----------------|
//! | user         | those of its organizations        | yes                 | yes            |
//! | organization | those of its organization         | yes                 | yes            |
//! | project      | its own                           | its own             | no             |
//! | build        | none (only its build's RPCs)      | no                  | no             |
//! | pull         | none (registry pulls only)        | no                  | no             |

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::store::{Organization, Project, Store, StoreError, Token};
use super::tokens::{TokenKind, hash_secret};
use crate::connect::ConnectError;

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
    },
    /// A pull token.
    Pull {
        /// The project it may pull from.
        project_id: String,
        /// The one build it may pull, if restricted to one.
        build_id: Option<String>,
    },
}

/// How much a call needs from a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// See the project, its builds, and get pull tokens.
    Read,
    /// Start builds, reset the cache.
    Write,
    /// Rename, delete, manage trust policies.
    Admin,
}

/// Maps a storage failure to an `internal` error, logging the detail server-side.
pub fn storage_failed(err: StoreError) -> ConnectError {
    tracing::error!(%err, "storage failure");
    ConnectError::internal("the server's database failed; try again, and see the server log")
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Resolves the request's bearer token to a principal.
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Principal, ConnectError> {
    let secret = bearer_token(headers).ok_or_else(|| {
        ConnectError::unauthenticated(
            "missing API token: run `depot login`, pass --token, or set DEPOT_TOKEN",
        )
    })?;
    authenticate_secret(store, secret).await
}

/// Resolves a presented token secret to a principal.
pub async fn authenticate_secret(store: &Store, secret: &str) -> Result<Principal, ConnectError> {
    let token = store
        .find_live_token(&hash_secret(secret))
        .await
        .map_err(storage_failed)?
        .ok_or_else(|| {
            ConnectError::unauthenticated(
                "invalid, expired or revoked API token: run `depot login` or create a new token",
            )
        })?;
    principal_of(&token).ok_or_else(|| {
        tracing::error!(token_id = %token.id, "token row has an unknown kind or missing scope");
        ConnectError::internal("the token's stored scope is invalid")
    })
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
        TokenKind::Build => Principal::Build {
            project_id: token.project_id.clone()?,
            build_id: token.build_id.clone()?,
        },
        TokenKind::Pull => Principal::Pull {
            project_id: token.project_id.clone()?,
            build_id: token.build_id.clone(),
        },
    })
}

impl Principal {
    /// The project a project, build or pull token is bound to.
    pub fn bound_project(&self) -> Option<&str> {
        match self {
            Principal::Project { project_id }
            | Principal::Build { project_id, .. }
            | Principal::Pull { project_id, .. } => Some(project_id),
            Principal::User { .. } | Principal::Organization { .. } => None,
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
            .await
            .map_err(storage_failed)?
            .ok_or_else(|| ConnectError::not_found(format!("project {project_id} not found")))?;
        let allowed = match self {
            Principal::User { user_id } => store
                .is_member(&project.org_id, user_id)
                .await
                .map_err(storage_failed)?,
            Principal::Organization { org_id } => *org_id == project.org_id,
            Principal::Project { project_id: own } => *own == project.id && access != Access::Admin,
            Principal::Build { .. } | Principal::Pull { .. } => false,
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
        }
        .map_err(storage_failed)
    }

    /// The organizations this principal acts within.
    pub async fn organizations(&self, store: &Store) -> Result<Vec<Organization>, ConnectError> {
        let orgs = match self {
            Principal::User { user_id } => store.orgs_of_user(user_id).await,
            Principal::Organization { org_id } => {
                store.get_org(org_id).await.map(|o| o.into_iter().collect())
            }
            _ => {
                let project = self
                    .bound_project()
                    .expect("other tokens are project-bound");
                match store.get_project(project).await.map_err(storage_failed)? {
                    Some(p) => store
                        .get_org(&p.org_id)
                        .await
                        .map(|o| o.into_iter().collect()),
                    None => Ok(Vec::new()),
                }
            }
        };
        orgs.map_err(storage_failed)
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
        };
        ConnectError::permission_denied(format!("this token cannot access {what}: {why}"))
    }
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
