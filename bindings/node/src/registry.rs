//! Registry operations: pulling a saved build or a project tag into the Docker Engine or an OCI
//! image layout, pushing a saved build (or copying any image) to other registries, and listing
//! and deleting a project's images.

use std::path::PathBuf;
use std::sync::Arc;

use depot_core::DepotClient;
use depot_core::connect::Code;
use depot_core::proto::depot::build::v1::{DeleteImageRequest, ListImagesRequest};
use depot_core::proto::depot::cli::v1::{
    FinishPushRequest, GetPullInfoRequest, GetPullTokenRequest, StartPushRequest,
};
use depot_registry::client::{
    CopyOptions, DockerPull, Endpoint, LayoutPull, ProgressEvent, ProgressSink, RegistryAuth,
    copy_image, pull_into_docker, pull_into_layout, push_credentials,
};
use napi_derive::napi;

use crate::client::NativeClient;
use crate::error::{Failure, fail};

/// A registry user name and password (or token).
#[napi(object)]
pub struct Credentials {
    /// The user name (`x-token` for depot-rs tokens).
    pub username: String,
    /// The password or token.
    pub password: String,
}

/// What `pull` takes: a saved build or a tag of the project's registry.
#[napi(object)]
#[derive(Default)]
pub struct PullOptions {
    /// A saved build's ID.
    pub build_id: Option<String>,
    /// A tag in the project's registry (used when `buildId` is not given).
    pub tag: Option<String>,
    /// The project of `tag` (default: the client's).
    pub project: Option<String>,
    /// An OCI image layout directory to pull into; without it the image goes into the local
    /// Docker Engine.
    pub oci_layout: Option<String>,
    /// Names for the pulled image: Docker tags, or `ref.name`s in the layout.
    pub tags: Option<Vec<String>>,
    /// The platform to pull from a multi-platform image.
    pub platform: Option<String>,
}

/// What a pull fetched.
#[napi(object)]
pub struct PullResult {
    /// The image pulled.
    pub reference: String,
    /// Its manifest (or index) digest, for OCI layout pulls.
    pub digest: Option<String>,
}

/// What `push` takes.
#[napi(object)]
pub struct PushOptions {
    /// The saved build.
    pub build_id: String,
    /// Where to push it: `registry/repository:tag` (at least one).
    pub tags: Vec<String>,
    /// Credentials for the destination registries (default: the Docker config and its
    /// helpers, then `DEPOT_PUSH_REGISTRY_*`).
    pub credentials: Option<Credentials>,
}

/// What `copy` takes: any image to other registries.
#[napi(object)]
pub struct CopyImageOptions {
    /// The image to copy.
    pub source: String,
    /// Credentials for the source (default: anonymous).
    pub source_credentials: Option<Credentials>,
    /// Where to copy it.
    pub destinations: Vec<String>,
    /// Credentials for the destinations (default: as for `push`).
    pub credentials: Option<Credentials>,
}

/// A pushed or copied image.
#[napi(object)]
pub struct PushResult {
    /// The manifest (or index) digest written to every destination.
    pub digest: String,
}

/// An image in the project's registry.
#[napi(object)]
pub struct Image {
    /// Its tag.
    pub tag: String,
    /// Its manifest digest.
    pub digest: String,
    /// Its size in bytes.
    pub size_bytes: f64,
    /// When it was pushed, in milliseconds since the Unix epoch.
    pub pushed_at: Option<f64>,
}

/// What `listImages` and `deleteImage` take.
#[napi(object)]
#[derive(Default)]
pub struct ImagesOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
    /// The tags to delete (`deleteImage` only).
    pub tags: Option<Vec<String>>,
}

/// Where a pull comes from.
struct Source {
    reference: String,
    username: String,
    password: String,
    registry_host: String,
    build_tags: Vec<String>,
}

#[napi]
impl NativeClient {
    /// Pulls a saved build or a project tag into the Docker Engine or an OCI layout.
    #[napi]
    pub async fn pull(&self, options: PullOptions) -> napi::Result<PullResult> {
        let source = self.source(&options).await?;
        let sink = quiet();
        match options.oci_layout {
            Some(directory) => {
                let endpoint = Endpoint::parse(
                    &source.reference,
                    RegistryAuth::Basic(source.username, source.password),
                )
                .map_err(fail)?;
                let pull = LayoutPull {
                    ref_names: options.tags.unwrap_or_default(),
                    platform: options.platform,
                    ..LayoutPull::new(endpoint, PathBuf::from(directory))
                };
                let digest = pull_into_layout(&pull, &sink).await.map_err(fail)?;
                Ok(PullResult {
                    reference: source.reference,
                    digest: Some(digest),
                })
            }
            None => {
                let tags = options.tags.unwrap_or(source.build_tags);
                let pull = DockerPull {
                    reference: source.reference.clone(),
                    username: source.username,
                    password: source.password,
                    server_address: source.registry_host,
                    tags,
                    platform: options.platform,
                };
                pull_into_docker(&pull, &sink).await.map_err(fail)?;
                Ok(PullResult {
                    reference: source.reference,
                    digest: None,
                })
            }
        }
    }

    /// Pushes a saved build to other registries, recording the push with the server.
    #[napi]
    pub async fn push(&self, options: PushOptions) -> napi::Result<PushResult> {
        let info = self
            .client
            .builds()
            .get_pull_info(GetPullInfoRequest {
                build_id: options.build_id.clone(),
            })
            .await
            .map_err(fail)?;
        let source = Endpoint::parse(
            &info.reference,
            RegistryAuth::Basic(info.username, info.password),
        )
        .map_err(fail)?;
        let destinations = destinations(&options.tags, options.credentials)?;
        let mut push_ids = Vec::new();
        for tag in &options.tags {
            let started = self
                .client
                .pushes()
                .start_push(StartPushRequest {
                    tag: tag.clone(),
                    build_id: options.build_id.clone(),
                })
                .await
                .map_err(fail)?;
            push_ids.push(started.push_id);
        }
        let copied = copy_image(&source, &destinations, &CopyOptions::default(), &quiet()).await;
        let error = copied.as_ref().err().map(ToString::to_string);
        for push_id in push_ids {
            // As in the CLI, failing to record the outcome does not fail the push.
            let _ = self
                .client
                .pushes()
                .finish_push(FinishPushRequest {
                    push_id,
                    build_id: options.build_id.clone(),
                    error: error.clone(),
                })
                .await;
        }
        Ok(PushResult {
            digest: copied.map_err(fail)?,
        })
    }

    /// Copies any image to other registries.
    #[napi]
    pub async fn copy(&self, options: CopyImageOptions) -> napi::Result<PushResult> {
        let auth = options
            .source_credentials
            .map_or(RegistryAuth::Anonymous, |c| {
                RegistryAuth::Basic(c.username, c.password)
            });
        let source = Endpoint::parse(&options.source, auth).map_err(fail)?;
        let destinations = destinations(&options.destinations, options.credentials)?;
        let digest = copy_image(&source, &destinations, &CopyOptions::default(), &quiet())
            .await
            .map_err(fail)?;
        Ok(PushResult { digest })
    }

    /// The images in the project's registry.
    #[napi]
    pub async fn list_images(&self, options: Option<ImagesOptions>) -> napi::Result<Vec<Image>> {
        let project_id = self.require_project(options.unwrap_or_default().project)?;
        let mut images = Vec::new();
        let mut page_token = None;
        loop {
            let page = self
                .client
                .registry()
                .list_images(ListImagesRequest {
                    project_id: project_id.clone(),
                    page_size: None,
                    page_token,
                })
                .await
                .map_err(fail)?;
            images.extend(page.images.into_iter().map(|image| {
                Image {
                    tag: image.tag,
                    digest: image.digest,
                    size_bytes: image.size_bytes as f64,
                    pushed_at: image
                        .pushed_at
                        .map(|t| t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6),
                }
            }));
            match page.next_page_token {
                Some(next) if !next.is_empty() => page_token = Some(next),
                _ => break,
            }
        }
        Ok(images)
    }

    /// Deletes tags from the project's registry.
    #[napi]
    pub async fn delete_image(&self, options: ImagesOptions) -> napi::Result<()> {
        let project_id = self.require_project(options.project)?;
        self.client
            .registry()
            .delete_image(DeleteImageRequest {
                project_id,
                image_tags: options.tags.unwrap_or_default(),
            })
            .await
            .map_err(fail)?;
        Ok(())
    }
}

impl NativeClient {
    /// Where `options` pulls from: a saved build, else a tag of the project's registry.
    async fn source(&self, options: &PullOptions) -> napi::Result<Source> {
        if let Some(build_id) = &options.build_id {
            return build_source(&self.client, build_id).await;
        }
        let Some(tag) = &options.tag else {
            return Err(fail(Failure::message(
                "invalid_argument",
                "pull needs a buildId or a tag",
            )));
        };
        let project = self.require_project(options.project.clone())?;
        let token = self
            .client
            .builds()
            .get_pull_token(GetPullTokenRequest {
                project_id: Some(project.clone()),
                build_id: None,
            })
            .await
            .map_err(fail)?;
        Ok(Source {
            reference: format!("{}/{project}:{tag}", token.registry_host),
            username: "x-token".into(),
            password: token.token,
            registry_host: token.registry_host,
            build_tags: Vec::new(),
        })
    }
}

/// A saved build's image and the credentials to pull it.
async fn build_source(client: &DepotClient, build_id: &str) -> napi::Result<Source> {
    let info = client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: build_id.to_owned(),
        })
        .await
        .map_err(|err| match err.code() {
            Code::NotFound | Code::InvalidArgument => fail(Failure::message(
                "not_found",
                format!("no saved build {build_id}: build with save to pull it"),
            )),
            _ => fail(err),
        })?;
    if !info.options.is_empty() && !info.save_for_load && !info.options.iter().any(|o| o.save) {
        return Err(fail(Failure::message(
            "invalid_argument",
            format!("build {build_id} was not saved: build with save to pull it"),
        )));
    }
    Ok(Source {
        build_tags: info
            .options
            .first()
            .map(|o| o.tags.clone())
            .unwrap_or_default(),
        reference: info.reference,
        username: info.username,
        password: info.password,
        registry_host: info.registry_host,
    })
}

/// A build's `load`: its saved image pulled into the Docker Engine, named `tags`.
pub(crate) async fn load_build(
    client: &DepotClient,
    build_id: &str,
    tags: &[String],
) -> napi::Result<()> {
    let source = build_source(client, build_id).await?;
    let pull = DockerPull {
        reference: source.reference,
        username: source.username,
        password: source.password,
        server_address: source.registry_host,
        tags: tags.to_vec(),
        platform: None,
    };
    pull_into_docker(&pull, &quiet()).await.map_err(fail)
}

/// The destinations `tags`, with `credentials` or each registry's configured ones.
fn destinations(tags: &[String], credentials: Option<Credentials>) -> napi::Result<Vec<Endpoint>> {
    if tags.is_empty() {
        return Err(fail(Failure::message(
            "invalid_argument",
            "name at least one destination",
        )));
    }
    tags.iter()
        .map(|tag| {
            let parsed = Endpoint::parse(tag, RegistryAuth::Anonymous).map_err(fail)?;
            let auth = match &credentials {
                Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                None => push_credentials(parsed.reference.resolve_registry()).map_err(fail)?,
            };
            Ok(Endpoint { auth, ..parsed })
        })
        .collect()
}

/// Progress nobody watches.
struct Quiet;

impl ProgressSink for Quiet {
    fn report(&self, _event: ProgressEvent<'_>) {}
}

fn quiet() -> Arc<dyn ProgressSink> {
    Arc::new(Quiet)
}
