//! Registry operations over `depot_registry::client`: progress reported to Python callables,
//! loading a build into the Docker Engine, copying between any registries, and listing or
//! deleting a project's images. (`Client.pull` and `Client.push` are in `client.rs`.)

use std::sync::Arc;

use depot_build::run::LoadAfter;
use depot_core::DepotClient;
use depot_core::proto::depot::build::v1::DeleteImageRequest;
use depot_registry::client::{
    CopyOptions, ProgressEvent, ProgressSink, RegistryAuth, copy_references,
    list_images as all_images,
};
use pyo3::prelude::*;
use serde_json::json;

use crate::convert::{Json, to_py};
use crate::errors::Failure;
use crate::runtime::awaitable;

/// Progress events, to a Python callable if there is one, called with each event as a `dict`
/// (`depot_registry`'s `ProgressEvent`, tagged by `type`) on the runtime's thread; the Python
/// layer hands them over to the event loop.
struct Progress(Option<Py<PyAny>>);

impl ProgressSink for Progress {
    fn report(&self, event: ProgressEvent<'_>) {
        let (Some(callback), Ok(value)) = (&self.0, serde_json::to_value(event)) else {
            return;
        };
        Python::attach(|py| {
            if let Err(err) = to_py(py, &value).and_then(|event| callback.call1(py, (event,))) {
                err.write_unraisable(py, None);
            }
        });
    }
}

pub fn progress_sink(callback: Option<Py<PyAny>>) -> Arc<dyn ProgressSink> {
    Arc::new(Progress(callback))
}

/// Basic authentication from a `(username, password)` pair.
pub fn basic((user, password): (String, String)) -> RegistryAuth {
    RegistryAuth::Basic(user, password)
}

/// Loads a saved build (or a bake's targets) into the Docker Engine under their tags
/// (`build(load=True)`), like `depot build --load`: only the layers the Engine lacks travel.
pub async fn load(api: &DepotClient, build_id: &str, load: &LoadAfter) -> Result<(), Failure> {
    load.load(api, build_id, &progress_sink(None)).await?;
    Ok(())
}

/// Copies an image (or index) between any registries; returns `{"digest"}`.
#[pyfunction]
#[pyo3(signature = (source, destinations, *, source_credentials=None, destination_credentials=None, progress=None))]
pub fn copy_image<'py>(
    py: Python<'py>,
    source: String,
    destinations: Vec<String>,
    source_credentials: Option<(String, String)>,
    destination_credentials: Option<(String, String)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, async move {
        let digest = copy_references(
            &source,
            source_credentials.map_or(RegistryAuth::Anonymous, basic),
            &destinations,
            destination_credentials.map(basic),
            &CopyOptions::default(),
            &progress_sink(progress),
        )
        .await?;
        Ok(Json(json!({"digest": digest})))
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
        let images: Vec<_> = all_images(&api, &project_id)
            .await?
            .into_iter()
            .map(|image| {
                json!({
                    "tag": image.tag,
                    "digest": image.digest,
                    "pushed_at": image.pushed_at.map(|t| t.seconds),
                    "size_bytes": image.size_bytes,
                })
            })
            .collect();
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
