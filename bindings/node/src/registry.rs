//! Registry operations: pulling a saved build or a project tag into the Docker Engine or an OCI
//! image layout, pushing a saved build (or copying any image) to other registries, and listing
//! and deleting a project's images.

use depot_core::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;

use depot_core::DepotClient;
use depot_core::proto::depot::build::v1::DeleteImageRequest;
use depot_registry::client::{
    CopyOptions, Endpoint, ProgressEvent, ProgressSink, PullDestination, RegistryAuth, SavedImage,
    copy_image, destination, list_images, push_build, resolve_build, resolve_tag, single,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
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
    /// The bake target to pull, for a bake build of several targets.
    pub target: Option<String>,
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
    /// The bake target to push, for a bake build of several targets.
    pub target: Option<String>,
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

#[napi]
impl NativeClient {
    /// Pulls a saved build or a project tag into the Docker Engine or an OCI layout.
    #[napi]
    pub async fn pull(
        &self,
        options: PullOptions,
        #[napi(ts_arg_type = "((event: any) => void) | undefined | null")] on_progress: Option<
            ProgressCallback,
        >,
    ) -> napi::Result<PullResult> {
        let image = self.saved_image(&options).await?;
        let destination = match options.oci_layout {
            Some(directory) => PullDestination::Layout(PathBuf::from(directory)),
            None => PullDestination::Docker,
        };
        let digest = image
            .pull(
                &destination,
                &options.tags.unwrap_or_default(),
                options.platform.as_deref(),
                &progress_sink(on_progress),
            )
            .await
            .map_err(fail)?;
        Ok(PullResult {
            reference: image.reference,
            digest,
        })
    }

    /// Pushes a saved build to other registries, recording the push with the server.
    #[napi]
    pub async fn push(
        &self,
        options: PushOptions,
        #[napi(ts_arg_type = "((event: any) => void) | undefined | null")] on_progress: Option<
            ProgressCallback,
        >,
    ) -> napi::Result<PushResult> {
        let pushed = push_build(
            &self.client,
            &options.build_id,
            options.target.as_deref(),
            &options.tags,
            options.credentials.map(basic),
            &CopyOptions::default(),
            &progress_sink(on_progress),
        )
        .await
        .map_err(fail)?;
        Ok(PushResult {
            digest: pushed.digest,
        })
    }

    /// Copies any image to other registries.
    #[napi]
    pub async fn copy(
        &self,
        options: CopyImageOptions,
        #[napi(ts_arg_type = "((event: any) => void) | undefined | null")] on_progress: Option<
            ProgressCallback,
        >,
    ) -> napi::Result<PushResult> {
        let auth = options
            .source_credentials
            .map_or(RegistryAuth::Anonymous, basic);
        let source = Endpoint::parse(&options.source, auth).map_err(fail)?;
        if options.destinations.is_empty() {
            return Err(fail(Failure::message(
                ErrorKind::InvalidArgument,
                "name at least one destination",
            )));
        }
        let auth = options.credentials.map(basic);
        let destinations = options
            .destinations
            .iter()
            .map(|tag| destination(tag, auth.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let sink = progress_sink(on_progress);
        let digest = copy_image(&source, &destinations, &CopyOptions::default(), &sink)
            .await
            .map_err(fail)?;
        Ok(PushResult { digest })
    }

    /// The images in the project's registry.
    #[napi]
    pub async fn list_images(&self, options: Option<ImagesOptions>) -> napi::Result<Vec<Image>> {
        let project_id = self.require_project(options.unwrap_or_default().project)?;
        let images = list_images(&self.client, &project_id).await.map_err(fail)?;
        Ok(images
            .into_iter()
            .map(|image| Image {
                tag: image.tag,
                digest: image.digest,
                size_bytes: image.size_bytes as f64,
                pushed_at: image
                    .pushed_at
                    .map(|t| t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6),
            })
            .collect())
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
    /// The image `options` pulls: a saved build's (one bake target of it), else a tag of the
    /// project's registry.
    async fn saved_image(&self, options: &PullOptions) -> napi::Result<SavedImage> {
        if let Some(build_id) = &options.build_id {
            let images = resolve_build(&self.client, build_id, options.target.as_deref())
                .await
                .map_err(fail)?;
            return single(build_id, images).map_err(fail);
        }
        let Some(tag) = &options.tag else {
            return Err(fail(Failure::message(
                ErrorKind::InvalidArgument,
                "pull needs a buildId or a tag",
            )));
        };
        let project = self.require_project(options.project.clone())?;
        resolve_tag(&self.client, &project, tag).await.map_err(fail)
    }
}

/// A build's `load`: its saved image pulled into the Docker Engine, named `tags`.
pub(crate) async fn load_build(
    client: &DepotClient,
    build_id: &str,
    tags: &[String],
) -> napi::Result<()> {
    depot_registry::client::load_build(client, build_id, tags, &progress_sink(None))
        .await
        .map(drop)
        .map_err(fail)
}

/// Basic authentication with `credentials`.
fn basic(credentials: Credentials) -> RegistryAuth {
    RegistryAuth::Basic(credentials.username, credentials.password)
}

/// A JavaScript function called with each progress event (`depot_registry`'s
/// `ProgressEvent` as JSON, tagged by `type`).
pub type ProgressCallback =
    ThreadsafeFunction<serde_json::Value, (), serde_json::Value, napi::Status, false>;

/// Progress events, to the callback if there is one.
struct Progress(Option<ProgressCallback>);

impl ProgressSink for Progress {
    fn report(&self, event: ProgressEvent<'_>) {
        if let (Some(callback), Ok(value)) = (&self.0, serde_json::to_value(event)) {
            // Queued for Node's thread; the transfer never waits on JavaScript.
            callback.call(value, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

fn progress_sink(callback: Option<ProgressCallback>) -> Arc<dyn ProgressSink> {
    Arc::new(Progress(callback))
}
