//! Registry operations over `depot_registry::client`: pulling a saved build or a project tag
//! into the Docker Engine or an OCI image layout, pushing a saved build to other registries,
//! copying between any registries, and listing or deleting a project's images.

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
use pyo3::prelude::*;
use serde_json::json;

use crate::convert::Json;
use crate::errors::Failure;
use crate::runtime::awaitable;

/// Progress is not reported to Python (yet): the calls return when the transfer is complete.
struct Silent;

impl ProgressSink for Silent {
    fn report(&self, _event: ProgressEvent<'_>) {}
}

fn silent() -> Arc<dyn ProgressSink> {
    Arc::new(Silent)
}

/// Registry credentials from an optional `(username, password)` pair.
fn auth(credentials: Option<(String, String)>) -> RegistryAuth {
    match credentials {
        Some((user, password)) => RegistryAuth::Basic(user, password),
        None => RegistryAuth::Anonymous,
    }
}

/// An image to pull and what to reach it with.
struct Source {
    reference: String,
    username: String,
    password: String,
    registry_host: String,
    build_tags: Vec<String>,
}

/// A saved build's image (by build ID), else a tag of `project`'s repository.
async fn resolve(
    api: &DepotClient,
    reference: &str,
    project: Option<String>,
) -> Result<Source, Failure> {
    match api
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: reference.to_owned(),
        })
        .await
    {
        Ok(info) => Ok(Source {
            reference: info.reference,
            username: info.username,
            password: info.password,
            registry_host: info.registry_host,
            build_tags: info
                .options
                .first()
                .map(|o| o.tags.clone())
                .unwrap_or_default(),
        }),
        Err(err) if matches!(err.code(), Code::NotFound | Code::InvalidArgument) => {
            let Some(project) = project else {
                return Err(err.into());
            };
            let token = api
                .builds()
                .get_pull_token(GetPullTokenRequest {
                    project_id: Some(project.clone()),
                    build_id: None,
                })
                .await?;
            Ok(Source {
                reference: format!("{}/{project}:{reference}", token.registry_host),
                username: "x-token".into(),
                password: token.token,
                registry_host: token.registry_host,
                build_tags: Vec::new(),
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// Pulls `reference` (a build ID or a project tag) into the Docker Engine, or into the OCI
/// layout directory `oci_layout`; returns `{"reference", "digest"}` (digest only for layouts).
pub fn pull<'py>(
    py: Python<'py>,
    api: &DepotClient,
    reference: String,
    project: Option<String>,
    oci_layout: Option<PathBuf>,
    tags: Vec<String>,
    platform: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        let source = resolve(&api, &reference, project).await?;
        let digest = match oci_layout {
            Some(directory) => {
                let endpoint = Endpoint::parse(
                    &source.reference,
                    auth(Some((source.username, source.password))),
                )?;
                let pull = LayoutPull {
                    ref_names: tags,
                    platform,
                    ..LayoutPull::new(endpoint, directory)
                };
                Some(pull_into_layout(&pull, &silent()).await?)
            }
            None => {
                let pull = DockerPull {
                    reference: source.reference.clone(),
                    username: source.username,
                    password: source.password,
                    server_address: source.registry_host,
                    tags: if tags.is_empty() {
                        source.build_tags
                    } else {
                        tags
                    },
                    platform,
                };
                pull_into_docker(&pull, &silent()).await?;
                None
            }
        };
        Ok(Json(
            json!({"reference": source.reference, "digest": digest}),
        ))
    })
}

/// Loads a saved build into the Docker Engine as `tags` (`build(load=True)`), like
/// `depot build --load`: only the layers the Engine lacks travel.
pub async fn load(api: &DepotClient, build_id: &str, tags: Vec<String>) -> Result<(), Failure> {
    let source = resolve(api, build_id, None).await?;
    let pull = DockerPull {
        reference: source.reference,
        username: source.username,
        password: source.password,
        server_address: source.registry_host,
        tags,
        platform: None,
    };
    Ok(pull_into_docker(&pull, &silent()).await?)
}

/// Pushes a saved build to every tag of `tags` (recorded with StartPush/FinishPush, like
/// `depot push`); returns the manifest digest, the same everywhere.
pub fn push<'py>(
    py: Python<'py>,
    api: &DepotClient,
    build_id: String,
    tags: Vec<String>,
    credentials: Option<(String, String)>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        let info = api
            .builds()
            .get_pull_info(GetPullInfoRequest {
                build_id: build_id.clone(),
            })
            .await?;
        let source = Endpoint::parse(
            &info.reference,
            RegistryAuth::Basic(info.username, info.password),
        )?;
        let destinations = destinations(&tags, credentials)?;
        let mut push_ids = Vec::new();
        for tag in &tags {
            let started = api
                .pushes()
                .start_push(StartPushRequest {
                    tag: tag.clone(),
                    build_id: build_id.clone(),
                })
                .await?;
            push_ids.push(started.push_id);
        }
        let result = copy_image(&source, &destinations, &CopyOptions::default(), &silent()).await;
        let error = result.as_ref().err().map(ToString::to_string);
        for push_id in push_ids {
            // As in the CLI, failing to record the outcome does not fail the push.
            let _ = api
                .pushes()
                .finish_push(FinishPushRequest {
                    push_id,
                    build_id: build_id.clone(),
                    error: error.clone(),
                })
                .await;
        }
        Ok(result?)
    })
}

/// Destinations for `tags`: `credentials` when given, else those of `DEPOT_PUSH_REGISTRY_*` or
/// the Docker config.
fn destinations(
    tags: &[String],
    credentials: Option<(String, String)>,
) -> Result<Vec<Endpoint>, Failure> {
    let mut destinations = Vec::new();
    for tag in tags {
        let parsed = Endpoint::parse(tag, RegistryAuth::Anonymous)?;
        let auth = match &credentials {
            Some(pair) => auth(Some(pair.clone())),
            None => push_credentials(parsed.reference.resolve_registry())?,
        };
        destinations.push(Endpoint { auth, ..parsed });
    }
    Ok(destinations)
}

/// Copies an image (or index) between any registries; returns its digest.
pub fn copy<'py>(
    py: Python<'py>,
    source: String,
    destinations: Vec<String>,
    source_credentials: Option<(String, String)>,
    destination_credentials: Option<(String, String)>,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, async move {
        let source = Endpoint::parse(&source, auth(source_credentials))?;
        let destinations = self::destinations(&destinations, destination_credentials)?;
        Ok(copy_image(&source, &destinations, &CopyOptions::default(), &silent()).await?)
    })
}

/// The project's images: `[{"tag", "digest", "pushed_at", "size_bytes"}]`, every page.
pub fn list_images<'py>(
    py: Python<'py>,
    api: &DepotClient,
    project_id: String,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        let mut images = Vec::new();
        let mut page_token = None;
        loop {
            let page = api
                .registry()
                .list_images(ListImagesRequest {
                    project_id: project_id.clone(),
                    page_size: None,
                    page_token,
                })
                .await?;
            images.extend(page.images.into_iter().map(|image| {
                json!({
                    "tag": image.tag,
                    "digest": image.digest,
                    "pushed_at": image.pushed_at.map(|t| t.seconds),
                    "size_bytes": image.size_bytes,
                })
            }));
            page_token = page.next_page_token.filter(|t| !t.is_empty());
            if page_token.is_none() {
                break;
            }
        }
        Ok(Json(images.into()))
    })
}

/// Deletes tags of the project's repository (`v1`, `web:v2`).
pub fn delete_images<'py>(
    py: Python<'py>,
    api: &DepotClient,
    project_id: String,
    tags: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api.clone();
    awaitable(py, async move {
        api.registry()
            .delete_image(DeleteImageRequest {
                project_id,
                image_tags: tags,
            })
            .await?;
        Ok(())
    })
}
