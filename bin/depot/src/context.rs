//! Turning flags and the environment into an API client.

use clap::Args;
use depot_core::DepotClient;
use depot_core::config::{Environment, ResolvedConfig};
use depot_core::proto::depot::cli::v1beta1::ListProjectsRequest;
use depot_core::proto::depot::cli::v1beta1::list_projects_response::Project;

/// `--token`, accepted by every command that calls the API.
#[derive(Args, Debug, Clone, Default)]
pub struct TokenArg {
    /// Depot API token (default: DEPOT_TOKEN, the token stored by `depot login`, then the CI
    /// job's OIDC token).
    ///
    /// OIDC tokens come from GitHub Actions (with `permissions: id-token: write`), GitLab
    /// (DEPOT_OIDC_TOKEN under `id_tokens:`), CircleCI or Buildkite, tried in that order before
    /// DEPOT_JIT_TOKEN and DEPOT_CACHE_TOKEN. DEPOT_OIDC_AUDIENCE changes the audience requested
    /// (default https://depot.dev); DEPOT_DEBUG_OIDC=1 explains the search on stderr.
    #[arg(long)]
    pub token: Option<String>,
}

/// `--project`, accepted by every command that acts on one project.
#[derive(Args, Debug, Clone, Default)]
pub struct ProjectArg {
    /// Project ID (default: DEPOT_PROJECT_ID, then the nearest depot.json).
    #[arg(long)]
    pub project: Option<String>,
}

/// The resolved configuration and a client authenticated with its token.
pub struct Api {
    /// What was resolved.
    pub config: ResolvedConfig,
    /// The client.
    pub client: DepotClient,
}

impl Api {
    /// Resolves configuration; fails with a hint if no token is available.
    pub async fn connect(token: &TokenArg, project: Option<&ProjectArg>) -> anyhow::Result<Self> {
        let config = ResolvedConfig::resolve(
            &Environment::from_process(),
            token.token.as_deref(),
            project.and_then(|p| p.project.as_deref()),
        )
        .await?;
        config.require_token()?;
        let client = DepotClient::new(config.client_options())?;
        Ok(Self { config, client })
    }

    /// Like [`Api::connect`], with the project file searched upward from `dir` (a build's
    /// context) instead of the current directory.
    pub async fn connect_in(
        token: &TokenArg,
        project: &ProjectArg,
        dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let config = ResolvedConfig::resolve_in(
            &Environment::from_process(),
            token.token.as_deref(),
            project.project.as_deref(),
            dir,
        )
        .await?;
        config.require_token()?;
        let client = DepotClient::new(config.client_options())?;
        Ok(Self { config, client })
    }

    /// The projects the token can see.
    pub async fn projects(&self) -> anyhow::Result<Vec<Project>> {
        Ok(self
            .client
            .projects()
            .list_projects(ListProjectsRequest {})
            .await?
            .projects)
    }

    /// The resolved project, or an error saying how to give one.
    pub fn project(&self) -> anyhow::Result<&str> {
        Ok(self.config.require_project()?)
    }
}
