//! Images saved in a build's registry, reached through the Depot API: a build ID or a project
//! tag resolved to the image and the credentials for it (`GetPullInfo`, `GetPullToken`), a
//! saved image pulled into the Docker Engine or an OCI layout, and a saved build pushed to other
//! registries with the push recorded (`StartPush`, `FinishPush`). The `depot` CLI and the Node
//! and Python packages all go through here.

use std::path::PathBuf;
use std::sync::Arc;

use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depot::build::v1::{Image, ListImagesRequest};
use depot_core::proto::depot::cli::v1::{
    Command, FinishPushRequest, GetPullInfoRequest, GetPullInfoResponse, GetPullTokenRequest,
    StartPushRequest,
};
use depot_core::{Classify, DepotClient, ErrorKind};

use super::{
    ClientError, CopyOptions, DockerPull, Endpoint, LayoutPull, ProgressSink, RegistryAuth,
    copy_image, pull_into_docker, pull_into_layout, push_credentials,
};

/// What resolving, pulling or pushing a saved image can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// An API call failed (the Connect code says how; `not_found` for an unknown build).
    #[error(transparent)]
    Api(#[from] ConnectError),
    /// The build ran without saving its image.
    #[error("build {build_id} was not saved: build it with --save (`save` in the SDKs) to pull it")]
    NotSaved {
        /// The build.
        build_id: String,
    },
    /// The reference is not a build ID, and no project was given to look it up as a tag in.
    #[error(
        "{reference:?} is not the ID of a saved build; to pull a tag, name the project (--project, DEPOT_PROJECT_ID or a depot.json)"
    )]
    NoProject {
        /// The reference.
        reference: String,
    },
    /// A bake target was asked for that the build does not have.
    #[error("build {build_id} has no bake target {target:?}{}", listed(targets))]
    UnknownTarget {
        /// The build.
        build_id: String,
        /// The target asked for.
        target: String,
        /// The targets it has.
        targets: Vec<String>,
    },
    /// One image was wanted from a bake build of several targets.
    #[error(
        "build {build_id} is a bake of several targets{}: choose one",
        listed(targets)
    )]
    ChooseTarget {
        /// The build.
        build_id: String,
        /// Its targets.
        targets: Vec<String>,
    },
    /// The registry transfer failed.
    #[error(transparent)]
    Registry(#[from] ClientError),
}

impl Classify for SavedError {
    fn kind(&self) -> ErrorKind {
        match self {
            SavedError::Api(err) => err.kind(),
            SavedError::NotSaved { .. } => ErrorKind::FailedPrecondition,
            SavedError::NoProject { .. } => ErrorKind::Config,
            SavedError::UnknownTarget { .. } | SavedError::ChooseTarget { .. } => {
                ErrorKind::InvalidArgument
            }
            SavedError::Registry(err) => err.kind(),
        }
    }
}

/// `" (targets: a, b)"`, or nothing for no targets.
fn listed(targets: &[String]) -> String {
    if targets.is_empty() {
        " (it is not a bake build)".to_owned()
    } else {
        format!(" (targets: {})", targets.join(", "))
    }
}

/// A saved image and the credentials to pull it.
#[derive(Clone, Debug)]
pub struct SavedImage {
    /// `host/repository:tag`.
    pub reference: String,
    /// Registry user (`x-token`).
    pub username: String,
    /// Registry password: a short-lived pull token.
    pub password: String,
    /// The registry host the credentials are for.
    pub registry_host: String,
    /// The tags the build was run with (none for a project tag).
    pub build_tags: Vec<String>,
    /// The bake target the image was built for.
    pub target: Option<String>,
}

/// Where a pull puts the image.
#[derive(Clone, Debug)]
pub enum PullDestination {
    /// The Docker Engine at `DOCKER_HOST`.
    Docker,
    /// An OCI image layout directory, created if missing.
    Layout(PathBuf),
}

impl SavedImage {
    /// The image as a registry endpoint with its credentials.
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        Endpoint::parse(
            &self.reference,
            RegistryAuth::Basic(self.username.clone(), self.password.clone()),
        )
    }

    /// Pulls the image into `destination`, named `names` (Docker tags, default: the build's
    /// tags; or `ref.name`s in a layout, default: the pulled tag), only `platform` of an index
    /// if given. Returns the manifest (or index) digest for layouts.
    pub async fn pull(
        &self,
        destination: &PullDestination,
        names: &[String],
        platform: Option<&str>,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<Option<String>, ClientError> {
        match destination {
            PullDestination::Layout(directory) => {
                let pull = LayoutPull {
                    ref_names: names.to_vec(),
                    platform: platform.map(str::to_owned),
                    ..LayoutPull::new(self.endpoint()?, directory.clone())
                };
                pull_into_layout(&pull, progress).await.map(Some)
            }
            PullDestination::Docker => {
                let pull = DockerPull {
                    reference: self.reference.clone(),
                    username: self.username.clone(),
                    password: self.password.clone(),
                    server_address: self.registry_host.clone(),
                    tags: if names.is_empty() {
                        self.build_tags.clone()
                    } else {
                        names.to_vec()
                    },
                    platform: platform.map(str::to_owned),
                };
                pull_into_docker(&pull, progress).await.map(|()| None)
            }
        }
    }
}

/// The images of a saved build: its image, or one per bake target (only `target` if given).
pub async fn resolve_build(
    client: &DepotClient,
    build_id: &str,
    target: Option<&str>,
) -> Result<Vec<SavedImage>, SavedError> {
    let info = pull_info(client, build_id).await?;
    saved_images(info, build_id, target)
}

/// A tag of `project`'s repository.
pub async fn resolve_tag(
    client: &DepotClient,
    project: &str,
    tag: &str,
) -> Result<SavedImage, SavedError> {
    let token = client
        .builds()
        .get_pull_token(GetPullTokenRequest {
            project_id: Some(project.to_owned()),
            build_id: None,
        })
        .await?;
    Ok(SavedImage {
        reference: format!("{}/{project}:{tag}", token.registry_host),
        username: "x-token".into(),
        password: token.token,
        registry_host: token.registry_host,
        build_tags: Vec::new(),
        target: None,
    })
}

/// What `reference` names: a saved build's images (as [`resolve_build`]), else a tag of
/// `project`'s repository.
pub async fn resolve(
    client: &DepotClient,
    reference: &str,
    project: Option<&str>,
    target: Option<&str>,
) -> Result<Vec<SavedImage>, SavedError> {
    match resolve_build(client, reference, target).await {
        Err(SavedError::Api(err))
            if matches!(err.code(), Code::NotFound | Code::InvalidArgument) =>
        {
            let project = project.ok_or_else(|| SavedError::NoProject {
                reference: reference.to_owned(),
            })?;
            Ok(vec![resolve_tag(client, project, reference).await?])
        }
        resolved => resolved,
    }
}

/// The one image wanted of `images` (a build's): the only one, or an error naming the targets.
pub fn single(build_id: &str, mut images: Vec<SavedImage>) -> Result<SavedImage, SavedError> {
    if images.len() == 1 {
        return Ok(images.remove(0));
    }
    Err(SavedError::ChooseTarget {
        build_id: build_id.to_owned(),
        targets: images.into_iter().filter_map(|i| i.target).collect(),
    })
}

/// A saved build's image (or one target's, for a bake) pulled into the Docker Engine as
/// `tags` (`build --load` through the registry: only the layers the Engine lacks travel).
/// Returns the image.
pub async fn load_build(
    client: &DepotClient,
    build_id: &str,
    target: Option<&str>,
    tags: &[String],
    progress: &Arc<dyn ProgressSink>,
) -> Result<SavedImage, SavedError> {
    let image = single(build_id, resolve_build(client, build_id, target).await?)?;
    image
        .pull(&PullDestination::Docker, tags, None, progress)
        .await?;
    Ok(image)
}

/// A destination of a push: `tag` with `auth`, or when `None` the credentials configured for
/// its registry (`DEPOT_PUSH_REGISTRY_*`, the Docker config and its helpers).
pub fn destination(tag: &str, auth: Option<RegistryAuth>) -> Result<Endpoint, ClientError> {
    let parsed = Endpoint::parse(tag, RegistryAuth::Anonymous)?;
    let auth = match auth {
        Some(auth) => auth,
        None => push_credentials(parsed.reference.resolve_registry())?,
    };
    Ok(Endpoint { auth, ..parsed })
}

/// A finished push.
#[derive(Debug)]
pub struct Pushed {
    /// The image pushed (the saved one).
    pub source: String,
    /// Its manifest (or index) digest, the same at every destination.
    pub digest: String,
    /// Failures to record the push's outcome with `FinishPush`; like the official CLI, they do
    /// not fail the push.
    pub unrecorded: Vec<ConnectError>,
}

/// Pushes a saved build (one bake `target` of it, for bake builds) to `tags`, with `auth` for
/// every destination or each one's configured credentials, recording the push with the API
/// before and after copying.
pub async fn push_build(
    client: &DepotClient,
    build_id: &str,
    target: Option<&str>,
    tags: &[String],
    auth: Option<RegistryAuth>,
    options: &CopyOptions,
    progress: &Arc<dyn ProgressSink>,
) -> Result<Pushed, SavedError> {
    if tags.is_empty() {
        return Err(
            ConnectError::invalid_argument("name at least one destination to push to").into(),
        );
    }
    let image = single(build_id, resolve_build(client, build_id, target).await?)?;
    let source = image.endpoint()?;
    let destinations = tags
        .iter()
        .map(|tag| destination(tag, auth.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut push_ids = Vec::new();
    for tag in tags {
        let started = client
            .pushes()
            .start_push(StartPushRequest {
                tag: tag.clone(),
                build_id: build_id.to_owned(),
            })
            .await?;
        push_ids.push(started.push_id);
    }
    let copied = copy_image(&source, &destinations, options, progress).await;
    let error = copied.as_ref().err().map(ToString::to_string);
    let mut unrecorded = Vec::new();
    for push_id in push_ids {
        let finished = client
            .pushes()
            .finish_push(FinishPushRequest {
                push_id,
                build_id: build_id.to_owned(),
                error: error.clone(),
            })
            .await;
        unrecorded.extend(finished.err());
    }
    Ok(Pushed {
        source: image.reference,
        digest: copied?,
        unrecorded,
    })
}

/// Every image of `project`'s repository, newest first (all pages of `ListImages`).
pub async fn list_images(client: &DepotClient, project: &str) -> Result<Vec<Image>, ConnectError> {
    let mut images = Vec::new();
    let mut page_token = None;
    loop {
        let page = client
            .registry()
            .list_images(ListImagesRequest {
                project_id: project.to_owned(),
                page_size: None,
                page_token,
            })
            .await?;
        images.extend(page.images);
        page_token = page.next_page_token.filter(|t| !t.is_empty());
        if page_token.is_none() {
            return Ok(images);
        }
    }
}

async fn pull_info(
    client: &DepotClient,
    build_id: &str,
) -> Result<GetPullInfoResponse, ConnectError> {
    client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: build_id.to_owned(),
        })
        .await
}

/// The images `info` (GetPullInfo of `build_id`) describes: a bake build's targets are saved
/// as `<reference>-<target>`.
fn saved_images(
    info: GetPullInfoResponse,
    build_id: &str,
    target: Option<&str>,
) -> Result<Vec<SavedImage>, SavedError> {
    // Builds recorded without options (older servers) are taken as saved.
    if !info.options.is_empty() && !info.save_for_load && !info.options.iter().any(|o| o.save) {
        return Err(SavedError::NotSaved {
            build_id: build_id.to_owned(),
        });
    }
    let targets: Vec<String> = info
        .options
        .iter()
        .filter(|o| o.command == Command::Bake as i32)
        .filter_map(|o| o.target_name.clone())
        .collect();
    let wanted: Vec<Option<String>> = match target {
        Some(target) if targets.iter().any(|t| t == target) => vec![Some(target.to_owned())],
        Some(target) => {
            return Err(SavedError::UnknownTarget {
                build_id: build_id.to_owned(),
                target: target.to_owned(),
                targets,
            });
        }
        None if targets.is_empty() => vec![None],
        None => targets.into_iter().map(Some).collect(),
    };
    let build_tags = info
        .options
        .first()
        .map(|o| o.tags.clone())
        .unwrap_or_default();
    Ok(wanted
        .into_iter()
        .map(|target| SavedImage {
            reference: match &target {
                Some(target) => format!("{}-{target}", info.reference),
                None => info.reference.clone(),
            },
            username: info.username.clone(),
            password: info.password.clone(),
            registry_host: info.registry_host.clone(),
            build_tags: build_tags.clone(),
            target,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use depot_core::proto::depot::cli::v1::BuildOptions;

    use super::*;

    fn info(options: Vec<BuildOptions>) -> GetPullInfoResponse {
        GetPullInfoResponse {
            reference: "registry.test/p1:b1".into(),
            username: "x-token".into(),
            password: "secret".into(),
            save_for_load: false,
            options,
            registry_host: "registry.test".into(),
        }
    }

    fn options(command: Command, target: Option<&str>, save: bool) -> BuildOptions {
        BuildOptions {
            command: command as i32,
            target_name: target.map(str::to_owned),
            save,
            tags: vec!["app:dev".into()],
            ..Default::default()
        }
    }

    fn references(images: &[SavedImage]) -> Vec<&str> {
        images.iter().map(|i| i.reference.as_str()).collect()
    }

    #[test]
    fn a_saved_build_is_its_image_with_the_build_tags() {
        let images =
            saved_images(info(vec![options(Command::Build, None, true)]), "b1", None).unwrap();
        assert_eq!(references(&images), ["registry.test/p1:b1"]);
        assert_eq!(images[0].build_tags, ["app:dev"]);
        assert_eq!(images[0].target, None);
        assert!(saved_images(info(Vec::new()), "b1", None).is_ok());
    }

    #[test]
    fn a_build_neither_saved_nor_loaded_is_refused() {
        let err =
            saved_images(info(vec![options(Command::Build, None, false)]), "b1", None).unwrap_err();
        assert!(matches!(err, SavedError::NotSaved { .. }), "{err}");
        assert!(err.to_string().contains("--save"), "{err}");
        let loaded = GetPullInfoResponse {
            save_for_load: true,
            ..info(vec![options(Command::Build, None, false)])
        };
        assert!(saved_images(loaded, "b1", None).is_ok());
    }

    #[test]
    fn bake_targets_are_images_of_their_own() {
        let bake = || {
            info(vec![
                options(Command::Bake, Some("web"), true),
                options(Command::Bake, Some("api"), true),
            ])
        };
        let all = saved_images(bake(), "b1", None).unwrap();
        assert_eq!(
            references(&all),
            ["registry.test/p1:b1-web", "registry.test/p1:b1-api"]
        );
        let api = saved_images(bake(), "b1", Some("api")).unwrap();
        assert_eq!(references(&api), ["registry.test/p1:b1-api"]);
        assert_eq!(api[0].target.as_deref(), Some("api"));

        let err = saved_images(bake(), "b1", Some("db")).unwrap_err();
        assert!(err.to_string().contains("targets: web, api"), "{err}");
        let err = single("b1", all).unwrap_err();
        assert!(matches!(err, SavedError::ChooseTarget { .. }), "{err}");
        assert!(err.to_string().contains("targets: web, api"), "{err}");
    }

    #[test]
    fn a_target_of_a_plain_build_is_refused() {
        let err = saved_images(
            info(vec![options(Command::Build, None, true)]),
            "b1",
            Some("web"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a bake build"), "{err}");
    }
}
