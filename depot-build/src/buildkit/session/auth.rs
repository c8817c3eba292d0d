//! `moby.filesync.v1.Auth`: registry credentials for the daemon (base-image pulls, pushes,
//! registry cache), from a [`CredentialsProvider`] the caller chooses.
//!
//! Only `Credentials` is served. The token-authority methods answer `Unimplemented`, and the
//! daemon then fetches registry tokens itself with the credentials it was given.

use std::collections::HashMap;
use std::sync::Arc;

use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse, auth_server,
};
use docker_credential::{CredentialRetrievalError, DockerCredential};
use tonic::{Request, Response, Status};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and a password or access token.
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        secret: String,
    },
    /// An identity (refresh) token, exchanged by the daemon for access tokens.
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <secret>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<secret>)"),
        }
    }
}

/// Supplies registry credentials by host (`registry-1.docker.io`, `ghcr.io`, `127.0.0.1:5000`).
pub trait CredentialsProvider: Send + Sync {
    /// The credentials for `host`, `Ok(None)` for anonymous access, or an error message that
    /// the build reports.
    fn credentials(&self, host: &str) -> Result<Option<Credentials>, String>;
}

/// Credentials from the Docker config (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`), credential helpers included, as `docker login` stored them.
#[derive(Clone, Copy, Debug, Default)]
pub struct DockerConfigCredentials;

impl CredentialsProvider for DockerConfigCredentials {
    fn credentials(&self, host: &str) -> Result<Option<Credentials>, String> {
        // Docker Hub's credentials are kept under its legacy index URL.
        let server = match host {
            "registry-1.docker.io" | "docker.io" | "index.docker.io" => {
                "https://index.docker.io/v1/"
            }
            other => other,
        };
        // Without a config file there is nothing to read (the library calls that an error).
        if !docker_config_exists() {
            return Ok(None);
        }
        match docker_credential::get_credential(server) {
            Ok(DockerCredential::UsernamePassword(username, secret)) => {
                Ok(Some(Credentials::Basic { username, secret }))
            }
            Ok(DockerCredential::IdentityToken(token)) => {
                Ok(Some(Credentials::IdentityToken(token)))
            }
            Err(
                CredentialRetrievalError::ConfigNotFound
                | CredentialRetrievalError::NoCredentialConfigured,
            ) => Ok(None),
            // Helpers answer "credentials not found" for servers they hold nothing for.
            Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
                if format!("{stdout}{stderr}")
                    .to_lowercase()
                    .contains("not found") =>
            {
                Ok(None)
            }
            Err(err) => Err(format!(
                "cannot read credentials for {host} from the Docker config: {err}"
            )),
        }
    }
}

/// Whether the Docker config file (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`) exists.
fn docker_config_exists() -> bool {
    std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))
        .is_some_and(|dir| dir.join("config.json").is_file())
}

/// Fixed credentials by host; hosts not listed are anonymous.
#[derive(Clone, Debug, Default)]
pub struct StaticCredentials {
    hosts: HashMap<String, Credentials>,
}

impl StaticCredentials {
    /// Adds (or replaces) the credentials for `host`.
    pub fn with(mut self, host: impl Into<String>, credentials: Credentials) -> Self {
        self.hosts.insert(host.into(), credentials);
        self
    }
}

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self, host: &str) -> Result<Option<Credentials>, String> {
        Ok(self.hosts.get(host).cloned())
    }
}

/// The session's Auth service.
pub(super) struct Auth {
    pub(super) provider: Arc<dyn CredentialsProvider>,
}

#[tonic::async_trait]
impl auth_server::Auth for Auth {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let provider = self.provider.clone();
        // Credential helpers are programs: keep them off the async threads.
        let found = tokio::task::spawn_blocking(move || provider.credentials(&host))
            .await
            .map_err(|err| Status::internal(format!("credentials lookup failed: {err}")))?
            .map_err(Status::unavailable)?;
        let response = match found {
            None => CredentialsResponse::default(),
            Some(Credentials::Basic { username, secret }) => {
                CredentialsResponse { username, secret }
            }
            Some(Credentials::IdentityToken(secret)) => CredentialsResponse {
                username: String::new(),
                secret,
            },
        };
        Ok(Response::new(response))
    }

    async fn fetch_token(
        &self,
        _request: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented(
            "client-side registry tokens are not offered",
        ))
    }

    async fn get_token_authority(
        &self,
        _request: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented(
            "client-side registry tokens are not offered",
        ))
    }

    async fn verify_token_authority(
        &self,
        _request: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented(
            "client-side registry tokens are not offered",
        ))
    }
}
