//! Registry operations: pulling a saved build or a project tag into the Docker Engine or an OCI
//! image layout, pushing a saved build (or copying any image) to other registries, and listing
//! and deleting a project's images. Each is one call into `depot_registry::client`.

use std::path::PathBuf;
use std::sync::Arc;

use depot_build::run::LoadAfter;
use depot_core::DepotClient;
use depot_core::naming::camel_case_keys;
use depot_core::proto::depot::build::v1::DeleteImageRequest;
use depot_registry::client::{
    CopyOptions, ProgressEvent, ProgressSink, PullDestination, PullRequest, RegistryAuth,
    copy_references, list_images, pull_reference, push_build,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::client::NativeClient;
use crate::error::fail;

/// A registry user name and password (or token).
#[napi(object)]
pub struct Credentials {
    /// The user name (`x-token` for depot-rs tokens).
    pub username: String,
    /// The password or token.
    pub password: String,
}

/// What `pull` takes besides the reference.
#[napi(object)]
#[derive(Default)]
pub struct PullOptions {
    /// The project to look the reference up in as a tag (default: the client's).
    pub project: Option<String>,
    /// The bake target to pull, for a bake build of several targets.
    pub target: Option<String>,
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

/// What `push` takes besides the build and the tags.
#[napi(object)]
#[derive(Default)]
pub struct PushOptions {
    /// The bake target to push, for a bake build of several targets.
    pub target: Option<String>,
    /// Credentials for the destination registries (default: the Docker config and its
    /// helpers, then `DEPOT_PUSH_REGISTRY_*`).
    pub credentials: Option<Credentials>,
}

/// What `copyImage` takes besides the source and the destinations.
#[napi(object)]
#[derive(Default)]
pub struct CopyImageOptions {
    /// Credentials for the source (default: anonymous).
    pub source_credentials: Option<Credentials>,
    /// Credentials for the destinations (default: as for `push`).
    pub destination_credentials: Option<Credentials>,
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

/// What `listImages` and `deleteImages` take.
#[napi(object)]
#[derive(Default)]
pub struct ProjectOptions {
    /// The project (default: the client's).
    pub project: Option<String>,
}

#[napi]
impl NativeClient {
    /// Pulls `reference` — a saved build's ID, else a tag of the project's registry — into the
    /// Docker Engine or an OCI layout.
    #[napi]
    pub async fn pull(
        &self,
        reference: String,
        options: Option<PullOptions>,
        #[napi(ts_arg_type = "((event: any) => void) | undefined | null")] on_progress: Option<
            ProgressCallback,
        >,
    ) -> napi::Result<PullResult> {
        let options = options.unwrap_or_default();
        let project = options.project.or_else(|| self.project_id());
        let names = options.tags.unwrap_or_default();
        let request = PullRequest {
            project: project.as_deref(),
            target: options.target.as_deref(),
            destination: options.oci_layout.map_or(PullDestination::Docker, |dir| {
                PullDestination::Layout(PathBuf::from(dir))
            }),
            names: &names,
            platform: options.platform.as_deref(),
        };
        let pulled = pull_reference(
            &self.client,
            &reference,
            &request,
            &progress_sink(on_progress),
        )
        .await
        .map_err(fail)?;
        Ok(PullResult {
            reference: pulled.reference,
            digest: pulled.digest,
        })
    }

    /// Pushes a saved build to other registries, recording the push with the server.
    #[napi]
    pub async fn push(
        &self,
        build_id: String,
        tags: Vec<String>,
        options: Option<PushOptions>,
        #[napi(ts_arg_type = "((event: any) => void) | undefined | null")] on_progress: Option<
            ProgressCallback,
        >,
    ) -> napi::Result<PushResult> {
        let options = options.unwrap_or_default();
        let pushed = push_build(
            &self.client,
            &build_id,
            options.target.as_deref(),
            &tags,
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

    /// The images in the project's registry.
    #[napi]
    pub async fn list_images(&self, options: Option<ProjectOptions>) -> napi::Result<Vec<Image>> {
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
    pub async fn delete_images(
        &self,
        tags: Vec<String>,
        options: Option<ProjectOptions>,
    ) -> napi::Result<()> {
        let project_id = self.require_project(options.unwrap_or_default().project)?;
        self.client
            .registry()
            .delete_image(DeleteImageRequest {
                project_id,
                image_tags: tags,
            })
            .await
            .map_err(fail)?;
        Ok(())
    }
}

/// Copies any image (or index) to other registries; resolves to its digest.
#[napi]
pub async fn copy_image(
    source: String,
    destinations: Vec<String>,
    options: Option<CopyImageOptions>,
    #[napi(ts_arg_type = "((event: any) => void) | undefined | null")] on_progress: Option<
        ProgressCallback,
    >,
) -> napi::Result<PushResult> {
    let options = options.unwrap_or_default();
    let digest = copy_references(
        &source,
        options
            .source_credentials
            .map_or(RegistryAuth::Anonymous, basic),
        &destinations,
        options.destination_credentials.map(basic),
        &CopyOptions::default(),
        &progress_sink(on_progress),
    )
    .await
    .map_err(fail)?;
    Ok(PushResult { digest })
}

/// A build's `load`: its saved images pulled into the Docker Engine, named with their tags.
pub(crate) async fn load(
    client: &DepotClient,
    build_id: &str,
    load: &LoadAfter,
) -> napi::Result<()> {
    load.load(client, build_id, &progress_sink(None))
        .await
        .map_err(fail)
}

/// Basic authentication with `credentials`.
fn basic(credentials: Credentials) -> RegistryAuth {
    RegistryAuth::Basic(credentials.username, credentials.password)
}

/// A JavaScript function called with each progress event (`depot_registry`'s
/// `ProgressEvent` as JSON, tagged by `type`, keys in camelCase).
pub type ProgressCallback =
    ThreadsafeFunction<serde_json::Value, (), serde_json::Value, napi::Status, false>;

/// Progress events, to the callback if there is one.
struct Progress(Option<ProgressCallback>);

impl ProgressSink for Progress {
    fn report(&self, event: ProgressEvent<'_>) {
        if let (Some(callback), Ok(value)) = (&self.0, serde_json::to_value(event)) {
            // Queued for Node's thread; the transfer never waits on JavaScript.
            callback.call(
                camel_case_keys(value),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

fn progress_sink(callback: Option<ProgressCallback>) -> Arc<dyn ProgressSink> {
    Arc::new(Progress(callback))
}
