//! Registry operations in the shape the language packages offer them, one call each, so that
//! every package resolves, checks and reports alike: [`pull_reference`] (a saved build, one of
//! its bake targets, or a project tag, into the Docker Engine or an OCI layout) and
//! [`copy_references`] (any image to other registries).

use std::sync::Arc;

use depot_core::DepotClient;

use super::{
    ClientError, CopyOptions, Endpoint, ProgressSink, PullDestination, RegistryAuth, SavedError,
    copy_image, destination, resolve, single,
};

/// What a pull fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The image pulled, `host/repository:tag`.
    pub reference: String,
    /// Its manifest (or index) digest, for pulls into an OCI layout.
    pub digest: Option<String>,
}

/// What a pull asks for besides the reference.
#[derive(Clone, Debug)]
pub struct PullRequest<'a> {
    /// The project to look `reference` up in as a tag, when it is not a build ID.
    pub project: Option<&'a str>,
    /// The bake target to pull, for a build of several targets.
    pub target: Option<&'a str>,
    /// Where the image goes.
    pub destination: PullDestination,
    /// Names for the pulled image: Docker tags (default: the build's tags), or `ref.name`s in
    /// the layout (default: the pulled tag).
    pub names: &'a [String],
    /// The platform to take from a multi-platform image.
    pub platform: Option<&'a str>,
}

/// Pulls `reference`: a saved build's image (the one bake target `request.target` names, for a
/// build of several), else a tag of `request.project`'s repository.
pub async fn pull_reference(
    client: &DepotClient,
    reference: &str,
    request: &PullRequest<'_>,
    progress: &Arc<dyn ProgressSink>,
) -> Result<Pulled, SavedError> {
    let images = resolve(client, reference, request.project, request.target).await?;
    let image = single(reference, images)?;
    let digest = image
        .pull(
            &request.destination,
            request.names,
            request.platform,
            progress,
        )
        .await?;
    Ok(Pulled {
        reference: image.reference,
        digest,
    })
}

/// Copies the image `source` (read with `source_auth`) to every one of `destinations` (written
/// with `auth`, or when `None` each registry's configured credentials); returns its digest.
pub async fn copy_references(
    source: &str,
    source_auth: RegistryAuth,
    destinations: &[String],
    auth: Option<RegistryAuth>,
    options: &CopyOptions,
    progress: &Arc<dyn ProgressSink>,
) -> Result<String, ClientError> {
    let source = Endpoint::parse(source, source_auth)?;
    if destinations.is_empty() {
        return Err(ClientError::NoDestination);
    }
    let destinations = destinations
        .iter()
        .map(|tag| destination(tag, auth.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    copy_image(&source, &destinations, options, progress).await
}
