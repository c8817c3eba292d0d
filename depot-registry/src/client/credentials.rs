//! Credentials for destination registries, resolved like the official CLI: explicit
//! `DEPOT_PUSH_REGISTRY_AUTH` (base64 `user:password`) or `DEPOT_PUSH_REGISTRY_USERNAME` and
//! `DEPOT_PUSH_REGISTRY_PASSWORD`, else the Docker config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, including credential helpers), else anonymous.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use docker_credential::{CredentialRetrievalError, DockerCredential};

use super::{ClientError, RegistryAuth};

/// Credentials for pushing to `host`.
pub fn push_credentials(host: &str) -> Result<RegistryAuth, ClientError> {
    let invalid = |message: String| ClientError::Credentials {
        host: host.to_owned(),
        message,
    };
    if let Some(encoded) = env("DEPOT_PUSH_REGISTRY_AUTH") {
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| {
                invalid("DEPOT_PUSH_REGISTRY_AUTH is not base64 of user:password".into())
            })?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            invalid("DEPOT_PUSH_REGISTRY_AUTH is not base64 of user:password".into())
        })?;
        return Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
    }
    if let (Some(user), Some(password)) = (
        env("DEPOT_PUSH_REGISTRY_USERNAME"),
        env("DEPOT_PUSH_REGISTRY_PASSWORD"),
    ) {
        return Ok(RegistryAuth::Basic(user, password));
    }
    // Docker Hub's credentials are stored under its legacy index URL.
    let server = if host == "docker.io" || host == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    // Without a config file there is nothing to read (the library calls that an error).
    if !docker_config_exists() {
        return Ok(RegistryAuth::Anonymous);
    }
    match docker_credential::get_credential(server) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
        Err(
            CredentialRetrievalError::ConfigNotFound
            | CredentialRetrievalError::NoCredentialConfigured,
        ) => Ok(RegistryAuth::Anonymous),
        // Helpers answer "credentials not found" for servers they hold nothing for.
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
            if format!("{stdout}{stderr}")
                .to_lowercase()
                .contains("not found") =>
        {
            Ok(RegistryAuth::Anonymous)
        }
        Err(err) => Err(invalid(format!("{err}: check your Docker config"))),
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
