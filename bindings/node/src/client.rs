//! The client: configuration resolved like the CLI's, projects, pull tokens and the OIDC
//! exchange.

use std::path::PathBuf;

use depot_core::config::{Environment, ResolvedConfig};
use depot_core::proto::depot::cli::v1::GetPullTokenRequest;
use depot_core::proto::depot::cli::v1beta1::ListProjectsRequest;
use depot_core::proto::depot::core::v1::CreateProjectRequest;
use depot_core::proto::depotrs::v1::{ExchangeTokenRequest, OidcServiceClient};
use depot_core::{DepotClient, ErrorKind, ErrorReport};
use napi_derive::napi;

use crate::error::fail;

/// How to connect; every field falls back like the CLI's flags do.
#[napi(object)]
#[derive(Default)]
pub struct ConnectOptions {
    /// The API token (default: `DEPOT_TOKEN`, the stored login, then the CI job's OIDC token).
    pub token: Option<String>,
    /// The API's URL (default: `DEPOT_API_URL`, then Depot's).
    pub api_url: Option<String>,
    /// The project ID (default: `DEPOT_PROJECT_ID`, then the nearest `depot.json`).
    pub project: Option<String>,
    /// Where to look for `depot.json` (default: the current directory).
    pub cwd: Option<String>,
}

/// A project the token can see.
#[napi(object)]
pub struct Project {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its organization's ID.
    pub org_id: String,
    /// Its organization's name, when the server says (not on creation).
    pub org_name: Option<String>,
}

/// What `createProject` takes besides the name.
#[napi(object)]
#[derive(Default)]
pub struct CreateProjectOptions {
    /// The organization (default: the token's).
    pub org_id: Option<String>,
    /// A region label.
    pub region_id: Option<String>,
}

/// A short-lived, read-only registry token.
#[napi(object)]
pub struct PullToken {
    /// The token, the password for the user `x-token`.
    pub token: String,
    /// The registry it is for.
    pub registry_host: String,
}

/// What `pullToken` takes.
#[napi(object)]
#[derive(Default)]
pub struct PullTokenOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
    /// Limit the token to one build's image.
    pub build_id: Option<String>,
}

/// What `exchangeCiToken` takes.
#[napi(object)]
#[derive(Default)]
pub struct ExchangeOptions {
    /// The project the token is for (default: the client's).
    pub project: Option<String>,
    /// The CI job's OIDC token (default: the one detected in the environment).
    pub token: Option<String>,
}

/// A short-lived project token from the OIDC exchange.
#[napi(object)]
pub struct ExchangedToken {
    /// The project token, usable as `DEPOT_TOKEN` or as the registry password.
    pub token: String,
    /// When it expires, in milliseconds since the Unix epoch.
    pub expires_at: f64,
    /// Its project.
    pub project_id: String,
}

/// An API client with resolved configuration.
#[napi]
pub struct NativeClient {
    pub(crate) config: ResolvedConfig,
    pub(crate) client: DepotClient,
}

/// Resolves configuration like the CLI (flags, environment, config file, `depot.json`, OIDC)
/// and makes a client.
#[napi]
pub async fn connect(options: Option<ConnectOptions>) -> napi::Result<NativeClient> {
    let options = options.unwrap_or_default();
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    if let Some(url) = options.api_url {
        vars.push(("DEPOT_API_URL".into(), url));
    }
    let environment = Environment::from_vars(vars);
    let dir = match options.cwd {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().map_err(|err| {
            fail(ErrorReport::new(
                ErrorKind::Config,
                format!("no current directory: {err}"),
            ))
        })?,
    };
    let config = ResolvedConfig::resolve_in(
        &environment,
        options.token.as_deref(),
        options.project.as_deref(),
        &dir,
    )
    .await
    .map_err(fail)?;
    config.require_token().map_err(fail)?;
    let client = DepotClient::new(config.client_options()).map_err(fail)?;
    Ok(NativeClient { config, client })
}

#[napi]
impl NativeClient {
    /// The resolved project ID, if any.
    #[napi(getter)]
    pub fn project(&self) -> Option<String> {
        self.project_id()
    }

    /// The API's URL.
    #[napi(getter)]
    pub fn api_url(&self) -> String {
        self.config.api_url.clone()
    }

    /// The projects the token can see.
    #[napi]
    pub async fn list_projects(&self) -> napi::Result<Vec<Project>> {
        let response = self
            .client
            .projects()
            .list_projects(ListProjectsRequest {})
            .await
            .map_err(fail)?;
        Ok(response
            .projects
            .into_iter()
            .map(|p| Project {
                id: p.id,
                name: p.name,
                org_id: p.org_id,
                org_name: Some(p.org_name).filter(|name| !name.is_empty()),
            })
            .collect())
    }

    /// Creates a project.
    #[napi]
    pub async fn create_project(
        &self,
        name: String,
        options: Option<CreateProjectOptions>,
    ) -> napi::Result<Project> {
        let options = options.unwrap_or_default();
        let project = self
            .client
            .project_admin()
            .create_project(CreateProjectRequest {
                name,
                organization_id: options.org_id.or_else(|| self.config.org_id.clone()),
                region_id: options.region_id.unwrap_or_default(),
                cache_policy: None,
            })
            .await
            .map_err(fail)?
            .project
            .ok_or_else(|| {
                fail(ErrorReport::new(
                    ErrorKind::Internal,
                    "the server returned no project",
                ))
            })?;
        Ok(Project {
            id: project.project_id,
            name: project.name,
            org_id: project.organization_id,
            org_name: None,
        })
    }

    /// A read-only registry token for a project (or one build's image).
    #[napi]
    pub async fn pull_token(&self, options: Option<PullTokenOptions>) -> napi::Result<PullToken> {
        let options = options.unwrap_or_default();
        let project_id = options.project.or_else(|| self.project_id());
        if project_id.is_none() && options.build_id.is_none() {
            return Err(fail(depot_core::Error::MissingProject));
        }
        let response = self
            .client
            .builds()
            .get_pull_token(GetPullTokenRequest {
                project_id,
                build_id: options.build_id,
            })
            .await
            .map_err(fail)?;
        Ok(PullToken {
            token: response.token,
            registry_host: response.registry_host,
        })
    }

    /// Exchanges the CI job's OIDC token for a short-lived project token
    /// (`depotrs.v1.OidcService/ExchangeToken`).
    #[napi]
    pub async fn exchange_ci_token(
        &self,
        options: Option<ExchangeOptions>,
    ) -> napi::Result<ExchangedToken> {
        let options = options.unwrap_or_default();
        let project_id = options
            .project
            .or_else(|| self.project_id())
            .ok_or_else(|| fail(depot_core::Error::MissingProject))?;
        let token = match options.token {
            Some(token) => token,
            None => crate::oidc::detect_token(None)
                .await
                .map(|found| found.token)
                .ok_or_else(|| {
                    fail(ErrorReport::new(
                        ErrorKind::Unauthenticated,
                        "no CI OIDC token found in this environment",
                    ))
                })?,
        };
        let oidc = OidcServiceClient::new(self.client.with_token(token).connect().clone());
        let response = oidc
            .exchange_token(ExchangeTokenRequest {
                project_id: project_id.clone(),
            })
            .await
            .map_err(fail)?;
        let expires_at = response.expires_at.map_or(0.0, |t| {
            t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6
        });
        Ok(ExchangedToken {
            token: response.token,
            expires_at,
            project_id: if response.project_id.is_empty() {
                project_id
            } else {
                response.project_id
            },
        })
    }
}

impl NativeClient {
    /// The resolved project ID.
    pub(crate) fn project_id(&self) -> Option<String> {
        self.config.project.as_ref().map(|(id, _)| id.clone())
    }

    /// The project ID from `explicit`, else the resolved one, else a `config` error.
    pub(crate) fn require_project(&self, explicit: Option<String>) -> napi::Result<String> {
        explicit
            .or_else(|| self.project_id())
            .ok_or_else(|| fail(depot_core::Error::MissingProject))
    }
}
