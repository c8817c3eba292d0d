//! Registry authentication and authorization.
//!
//! Clients authenticate with HTTP Basic (`x-token` and any depot-rs token as the password, as
//! `docker login -u x-token -p <token>` sends), with a depot-rs token as the Bearer token, or
//! with a bearer the token endpoint (`GET /auth/token`) minted: short-lived, and limited to the
//! scopes it was minted for (see [`super::bearer`]).
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

use super::bearer::{Bearers, Claims, looks_like_bearer};
use super::error::{ErrorCode, RegistryError, Result};
use crate::reference::Name;

/// What a request does to a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read manifests, blobs, tags.
    Pull,
    /// Upload and tag.
    Push,
    /// Delete manifests, tags and blobs (allowed with push: a bearer granting `push` may also
    /// delete, as a depot-rs token that may push may).
    Delete,
}

impl Action {
    /// The action's name in scopes and bearers.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn scope_actions(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "pull,push",
            Action::Delete => "delete",
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
        let scope = scope.map(|(name, action)| repository_scope(name, action));
        self.header_for(scope.as_deref(), false)
    }

    /// The challenge naming `scope`; `insufficient` when a bearer was presented that lacks it.
    pub fn header_for(&self, scope: Option<&str>, insufficient: bool) -> String {
        let mut header = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm, self.service
        );
        if let Some(scope) = scope {
            header.push_str(&format!(",scope=\"{scope}\""));
        }
        if insufficient {
            header.push_str(",error=\"insufficient_scope\"");
        }
        header
    }
}

/// The scope a request on `repository` needs.
fn repository_scope(name: &Name, action: Action) -> String {
    format!("repository:{name}:{}", action.scope_actions())
}

/// The scope listing the catalog needs.
pub const CATALOG_SCOPE: &str = "registry:catalog:*";

/// Who is calling, as their credentials say.
pub enum Caller {
    /// A depot-rs token (Basic, or as the Bearer token): each request is authorized against
    /// what it can reach.
    Token(Principal),
    /// A bearer the token endpoint minted: exactly what it grants.
    Bearer(Claims),
}

impl Caller {
    /// Checks the caller may perform `action` on `repository`.
    pub async fn authorize(
        &self,
        store: &Store,
        challenge: &Challenge,
        repository: &Name,
        action: Action,
    ) -> Result<()> {
        match self {
            Caller::Token(principal) => authorize(store, principal, repository, action).await,
            Caller::Bearer(claims) => {
                let allowed = claims.allows(repository, action)
                    || (action == Action::Delete && claims.allows(repository, Action::Push));
                if allowed {
                    return Ok(());
                }
                let scope = repository_scope(repository, action);
                Err(RegistryError::insufficient_scope(
                    format!(
                        "the bearer token does not grant {} on {repository}: request one for \
                         scope {scope} (the depot token it is minted from must allow it)",
                        action.as_str()
                    ),
                    challenge.header_for(Some(&scope), true),
                ))
            }
        }
    }

    /// Whether the caller may perform `action` on `repository`.
    pub async fn may(&self, store: &Store, repository: &Name, action: Action) -> bool {
        match self {
            Caller::Token(principal) => authorize(store, principal, repository, action)
                .await
                .is_ok(),
            Caller::Bearer(claims) => claims.allows(repository, action),
        }
    }

    /// The projects whose repositories the caller may list in the catalog.
    pub async fn catalog_projects(
        &self,
        store: &Store,
        challenge: &Challenge,
    ) -> Result<Vec<String>> {
        match self {
            Caller::Token(principal) => visible_projects(store, principal).await,
            Caller::Bearer(claims) => claims.catalog.clone().ok_or_else(|| {
                RegistryError::insufficient_scope(
                    format!("the bearer token does not grant the catalog: request one for scope {CATALOG_SCOPE}"),
                    challenge.header_for(Some(CATALOG_SCOPE), true),
                )
            }),
        }
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

/// Resolves the request's credentials: a bearer the token endpoint minted, or a depot-rs
/// token; `UNAUTHORIZED` with a challenge when there are none or they are not valid.
pub async fn identify(
    auth: &Authenticator,
    bearers: &Bearers,
    headers: &HeaderMap,
    challenge: &Challenge,
    scope: Option<(&Name, Action)>,
) -> Result<Caller> {
    if let Some(token) = presented_token(headers)
        && looks_like_bearer(&token)
    {
        return bearers
            .verify(&token)
            .map(Caller::Bearer)
            .map_err(|err| RegistryError::unauthorized(err.to_string(), challenge.header(scope)));
    }
    authenticate(auth, headers, challenge, scope)
        .await
        .map(Caller::Token)
}

/// Resolves the request's depot-rs token; `UNAUTHORIZED` with a challenge when there is none
/// or it is not valid.
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
                Action::Push | Action::Delete => Access::Write,
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
            Action::Delete => "delete from",
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
