//! Registry authentication and authorization.
//!
//! Clients authenticate with HTTP Basic (`x-token` and any depot-rs token as the password, as
//! `docker login -u x-token -p <token>` sends) or with a Bearer token from the token endpoint
//! (`GET /auth/token`), which returns the presented depot-rs token itself.
//!
//! Repositories belong to the project named by their first path component
//! (`<project-id>` or `<project-id>/<anything>`). User and organization tokens reach the
//! repositories of their projects; project and build tokens their own project's (push and
//! pull); pull tokens their project's, read-only. A CI job's OIDC token (as the password, or as
//! the Bearer token) reaches the repositories of the projects whose trust policies match it.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use depot_control::Store;
use depot_control::auth::{Access, Authenticator, Principal};

use super::error::{ErrorCode, RegistryError, Result};
use crate::reference::Name;

/// What a request does to a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read manifests, blobs, tags.
    Pull,
    /// Upload and tag (and delete).
    Push,
}

impl Action {
    fn scope_actions(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "pull,push",
        }
    }
}

/// Builds `WWW-Authenticate` challenges.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// Token endpoint URL.
    pub realm: String,
    /// Service name (the registry host).
    pub service: String,
}

impl Challenge {
    /// The challenge for `repository` and `action` (or for `/v2/` itself).
    pub fn header(&self, scope: Option<(&Name, Action)>) -> String {
        let mut header = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm, self.service
        );
        if let Some((name, action)) = scope {
            header.push_str(&format!(
                ",scope=\"repository:{name}:{}\"",
                action.scope_actions()
            ));
        }
        header
    }
}

/// The depot-rs token a request carries, from Basic or Bearer credentials.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
        let (_user, password) = decoded.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

/// Resolves the request's credentials; `UNAUTHORIZED` with a challenge when there are none or
/// they are not valid.
pub async fn authenticate(
    auth: &Authenticator,
    headers: &HeaderMap,
    challenge: &Challenge,
    scope: Option<(&Name, Action)>,
) -> Result<Principal> {
    let Some(token) = presented_token(headers) else {
        return Err(RegistryError::unauthorized(
            "authentication required: docker login -u x-token -p <depot token>",
            challenge.header(scope),
        ));
    };
    auth.authenticate_secret(&token).await.map_err(|err| {
        RegistryError::unauthorized(err.message().to_owned(), challenge.header(scope))
    })
}

/// Why isolated builds and their CI tokens get no registry access.
const ISOLATED: &str = "isolated builds (pull requests from forks) cannot use the project's \
                        registry: their code is not trusted with the project's images";

/// Authenticates a login (`GET /v2/`, the token endpoint). A CI token that no project trusts is
/// refused here, so `docker login` says so instead of succeeding uselessly.
pub async fn login(
    auth: &Authenticator,
    headers: &HeaderMap,
    challenge: &Challenge,
) -> Result<Principal> {
    let principal = authenticate(auth, headers, challenge, None).await?;
    if principal.is_isolated() {
        return Err(RegistryError::unauthorized(
            ISOLATED.to_owned(),
            challenge.header(None),
        ));
    }
    if let Principal::Ci { identity } = &principal {
        let trusted = principal
            .visible_projects(auth.store())
            .await
            .map_err(RegistryError::internal)?;
        if trusted.is_empty() {
            return Err(RegistryError::unauthorized(
                format!(
                    "no project has a trust policy matching this CI token ({identity}): add one \
                     with `depot projects trust-policies add`"
                ),
                challenge.header(None),
            ));
        }
    }
    Ok(principal)
}

/// Checks `principal` may perform `action` on `repository`.
pub async fn authorize(
    store: &Store,
    principal: &Principal,
    repository: &Name,
    action: Action,
) -> Result<()> {
    if principal.is_isolated() {
        return Err(RegistryError::new(ErrorCode::Denied, ISOLATED));
    }
    let project = repository.project();
    let allowed = match principal {
        Principal::User { .. } | Principal::Organization { .. } | Principal::Ci { .. } => {
            let access = match action {
                Action::Pull => Access::Read,
                Action::Push => Access::Write,
            };
            match principal.authorize_project(store, project, access).await {
                Ok(_) => true,
                Err(err) if err.code() == depot_core::connect::Code::NotFound => {
                    return Err(RegistryError::new(
                        ErrorCode::NameUnknown,
                        format!("no project {project}: repository names start with a project ID"),
                    ));
                }
                Err(_) => false,
            }
        }
        Principal::Project { project_id } | Principal::Build { project_id, .. } => {
            project_id == project
        }
        Principal::Pull { project_id, .. } => project_id == project && action == Action::Pull,
    };
    if allowed {
        Ok(())
    } else {
        let what = match action {
            Action::Pull => "pull from",
            Action::Push => "push to",
        };
        Err(RegistryError::new(
            ErrorCode::Denied,
            format!("this token cannot {what} {repository}"),
        ))
    }
}

/// The projects whose repositories `principal` may list in the catalog.
pub async fn visible_projects(store: &Store, principal: &Principal) -> Result<Vec<String>> {
    if let Some(project) = principal.bound_project() {
        return Ok(vec![project.to_owned()]);
    }
    principal
        .visible_projects(store)
        .await
        .map(|projects| projects.into_iter().map(|p| p.id).collect())
        .map_err(RegistryError::internal)
}
