//! Pulling an image into the local Docker Engine (which fetches only the layers it lacks) and
//! tagging it, through the Engine API (`POST /images/create` with `X-Registry-Auth`, then
//! `POST /images/{name}/tag`).

use std::sync::Arc;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptions, TagImageOptions};
use futures_util::StreamExt;

use super::ClientError;
use super::engine_progress::EngineProgress;
use super::progress::{ProgressEvent, ProgressSink};

/// One pull into Docker.
#[derive(Clone, Debug)]
pub struct DockerPull {
    /// The image to pull, `host[:port]/repository:tag`.
    pub reference: String,
    /// Registry user.
    pub username: String,
    /// Registry password or token.
    pub password: String,
    /// The registry host the credentials are for.
    pub server_address: String,
    /// Extra names to give the pulled image (`repository:tag`).
    pub tags: Vec<String>,
    /// `os/arch[/variant]` to pull from an index, if not the daemon's own.
    pub platform: Option<String>,
}

/// Pulls into the Docker Engine at `DOCKER_HOST` (default: the local socket), reporting the
/// Engine's progress per layer to `progress` (the target is `pull.reference`).
pub async fn pull_into_docker(
    pull: &DockerPull,
    progress: &Arc<dyn ProgressSink>,
) -> Result<(), ClientError> {
    let docker = Docker::connect_with_local_defaults()?;
    let (repository, tag) = split_tag(&pull.reference);
    let options = CreateImageOptions {
        from_image: Some(repository.to_owned()),
        tag: Some(tag.to_owned()),
        platform: pull.platform.clone().unwrap_or_default(),
        ..Default::default()
    };
    let credentials = DockerCredentials {
        username: Some(pull.username.clone()),
        password: Some(pull.password.clone()),
        serveraddress: Some(pull.server_address.clone()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, Some(credentials));
    let mut layers = EngineProgress::new(&pull.reference, progress.as_ref());
    while let Some(info) = stream.next().await {
        let info = info?;
        if let Some(message) = info.error_detail.and_then(|e| e.message) {
            return Err(ClientError::DockerPull {
                reference: pull.reference.clone(),
                message,
            });
        }
        let detail = info
            .progress_detail
            .map(|p| (p.current, p.total))
            .unwrap_or_default();
        layers.update(info.id.as_deref(), info.status.as_deref(), detail);
    }
    for name in &pull.tags {
        let (repo, tag) = split_tag(name);
        docker
            .tag_image(
                &pull.reference,
                Some(TagImageOptions {
                    repo: Some(repo.to_owned()),
                    tag: Some(tag.to_owned()),
                }),
            )
            .await?;
        progress.report(ProgressEvent::Message {
            target: &pull.reference,
            text: &format!("tagged {name}"),
        });
    }
    Ok(())
}

/// Splits `name[:tag]` (a registry port is not a tag); the tag defaults to `latest`.
fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_split_from_names_not_ports() {
        assert_eq!(
            split_tag("127.0.0.1:5000/p/app:v1"),
            ("127.0.0.1:5000/p/app", "v1")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/p/app"),
            ("127.0.0.1:5000/p/app", "latest")
        );
        assert_eq!(split_tag("app"), ("app", "latest"));
    }
}
